# Sourced: phase NAME COMMAND [ARG...] runs the command in a subshell with errexit (so a failing step inside a
# function stops it) and prints NAME with its time in seconds, the format of every phase line of the e2e scripts
# (E2E_LABEL, when set, comes first: which VM it is for). A failing command's phase says FAILED; its status is
# returned. Call it as a plain command, never in a condition (&&, ||, if): bash ignores errexit inside those.
phase() {
  local name=$1 start end status
  shift
  start=$(date +%s%N)
  set +e
  (set -e; "$@")
  status=$?
  set -e
  end=$(date +%s%N)
  LC_ALL=C printf '%-12s %-50s %6.1f s%s\n' "${E2E_LABEL:-e2e}" "$name" "$(( (end - start) / 1000000 ))e-3" \
    "$([[ $status -eq 0 ]] || echo "  FAILED (exit $status)")"
  return "$status"
}
