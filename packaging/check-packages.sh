#!/bin/bash
# Checks the three .debs the build made (run by `mvn verify`, see packaging/pom.xml), without installing them:
#  1. layout: each package unpacked with dpkg-deb -x holds its launcher, jars, unit, conffiles, man pages,
#     copyright and changelog where deploy/README.md says; the CLI's jars leave out the server's libraries;
#     every command of the bash completion has its man page;
#  2. the three packages together, each run by its own launcher from its own jars: the controller starts, the
#     CLI (`hosts`, `agent token create`) talks to it, the agent (libvirt's test driver) enrolls with the token
#     and `virtfleet hosts` shows it ready; then agent and controller, stopped with SIGTERM as systemd stops
#     them, exit with 143, the status their units count as success (SuccessExitStatus=143);
#  3. lintian (packaging/lintian.sh).
#
# Usage: check-packages.sh [TARGET_DIR]   (default: packaging/target)
# Exit status: 0 all good; 1 a check failed (named on stderr); 2 a tool is missing.
set -euo pipefail

here=$(dirname -- "$(readlink -f -- "${BASH_SOURCE[0]}")")
target=${1:-$here/target}
work=$(mktemp -d "${TMPDIR:-/tmp}/virtfleet-check-packages.XXXXXX")
controller_pid=
agent_pid=
cleanup() {
    if [[ -n $agent_pid ]]; then kill -KILL "$agent_pid" 2>/dev/null || true; fi
    if [[ -n $controller_pid ]]; then kill -KILL "$controller_pid" 2>/dev/null || true; fi
    rm -rf -- "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP PIPE

fail() {
    echo "check-packages.sh: $*" >&2
    exit 1
}

for tool in dpkg-deb java timeout unshare; do
    command -v "$tool" >/dev/null 2>&1 || { echo "check-packages.sh: $tool not found" >&2; exit 2; }
done

# --- 1. layout ---
for package in virtfleet-agent virtfleet-controller virtfleet; do
    deb=$target/$package.deb
    [[ -f $deb ]] || fail "$deb not found; build it with 'mvn -B package -DskipTests'"
    mkdir -p -- "$work/$package/DEBIAN"
    dpkg-deb -x "$deb" "$work/$package"
    dpkg-deb -e "$deb" "$work/$package/DEBIAN"
    [[ $(dpkg-deb -f "$deb" Package) == "$package" ]] || fail "$deb: Package is not $package"
    for f in "usr/share/doc/$package/copyright" "usr/share/doc/$package/changelog.gz" \
            "usr/share/lintian/overrides/$package"; do
        [[ -f $work/$package/$f ]] || fail "$package: /$f missing"
    done
done

expect_file() { # package path [mode]
    local f=$work/$1/$2
    [[ -f $f ]] || fail "$1: /$2 missing"
    if [[ -n ${3-} && $(stat -c %a -- "$f") != "$3" ]]; then
        fail "$1: /$2 has mode $(stat -c %a -- "$f"), not $3"
    fi
}
expect_conffiles() { # package conffile...
    local expected actual
    expected=$(printf '%s\n' "${@:2}" | sort)
    actual=$(sort -- "$work/$1/DEBIAN/conffiles" 2>/dev/null || true)
    [[ $expected == "$actual" ]] || fail "$1: conffiles are [$actual], expected [$expected]"
}

expect_file virtfleet-agent usr/bin/virtfleet-agent 755
expect_file virtfleet-agent lib/systemd/system/virtfleet-agent.service 644
expect_file virtfleet-agent etc/virtfleet/agent.conf 644
expect_file virtfleet-agent usr/share/man/man8/virtfleet-agent.8.gz
expect_conffiles virtfleet-agent /etc/virtfleet/agent.conf

expect_file virtfleet-controller usr/bin/virtfleet-controller 755
expect_file virtfleet-controller lib/systemd/system/virtfleet-controller.service 644
expect_file virtfleet-controller usr/lib/sysusers.d/virtfleet.conf 644
expect_file virtfleet-controller etc/virtfleet/controller.conf 644
expect_file virtfleet-controller usr/share/man/man8/virtfleet-controller.8.gz
expect_file virtfleet-controller usr/share/man/man8/virtfleet-controller-reissue-admin.8.gz
expect_file virtfleet-controller usr/share/man/man8/virtfleet-controller-backup.8.gz
expect_file virtfleet-controller usr/share/man/man8/virtfleet-controller-restore.8.gz
profiles=$(cd "$work/virtfleet-controller" && find etc/virtfleet/profiles -type f | sed 's|^|/|')
[[ -n $profiles ]] || fail "virtfleet-controller: no install profiles under /etc/virtfleet/profiles"
# shellcheck disable=SC2086 # one path per line, none with spaces
expect_conffiles virtfleet-controller /etc/virtfleet/controller.conf $profiles

expect_file virtfleet usr/bin/virtfleet 755
expect_file virtfleet usr/share/bash-completion/completions/virtfleet 644
expect_file virtfleet usr/share/man/man1/virtfleet.1.gz
[[ ! -e $work/virtfleet/DEBIAN/conffiles ]] || fail "virtfleet: has conffiles, expected none"

for package in virtfleet-agent virtfleet-controller; do
    lib=$work/$package/usr/share/virtfleet/${package#virtfleet-}/lib
    compgen -G "$lib/$package-*.jar" >/dev/null || fail "$package: its own jar is missing from ${lib#"$work/$package"}"
done
cli_lib=$work/virtfleet/usr/share/virtfleet/cli/lib
ls "$cli_lib"/virtfleet-controller-*.jar >/dev/null 2>&1 || fail "virtfleet: the controller jar (the CLI's classes) is missing"
for jar in virtfleet-agent org.eclipse.jgit libvirt jna oshi-core guice netty-tcnative-boringssl-static; do
    if compgen -G "$cli_lib/$jar-*.jar" >/dev/null; then fail "virtfleet: ships $jar, which only the servers need"; fi
done

# Each command the completion knows has its man page: the completion's function _picocli_virtfleet_agent_token
# is virtfleet-agent-token.1 (picocli drops the hyphens inside a name: _picocli_virtfleet_cpumodel is
# virtfleet-cpu-model.1, hence the comparison without them).
commands=$(sed -n 's/^function _picocli_\(virtfleet[a-z0-9_]*\)().*/\1/p' \
    "$work/virtfleet/usr/share/bash-completion/completions/virtfleet" | tr -d _ | sort)
[[ -n $commands ]] || fail "virtfleet: the bash completion defines no command"
pages=$(cd "$work/virtfleet/usr/share/man/man1" && ls -- *.1.gz | sed 's/\.1\.gz$//' | tr -d - | sort)
[[ $commands == "$pages" ]] || fail "virtfleet: man pages and completion differ (< completion, > man pages):
$(diff <(echo "$commands") <(echo "$pages") || true)"
echo "check-packages.sh: layout OK ($(wc -l <<< "$pages") CLI man pages)"

# --- 2. the three packages together ---
# Each runs through its package's launcher, in a mount namespace of its own where the package's /usr/share is
# laid over the host's (read-only overlay): the launcher finds /usr/share/virtfleet/<dir>/lib as installed,
# and nothing is installed on this machine. Needs root (unshare, mount).
# packaged PACKAGE COMMAND [ARG...] sets the array `run` to that command line. Started as `"${run[@]}" &`, $! is
# the JVM's pid: unshare, sh and the launcher each exec the next (a shell function run with & would be a subshell
# of its own, whose pid is not the JVM's).
packaged() {
    local root=$work/$1
    run=(unshare --mount --propagation private sh -c \
        'mount -t overlay overlay -o "lowerdir=$1/usr/share:/usr/share" /usr/share && shift && exec "$@"' \
        sh "$root" "$root/usr/bin/$2" "${@:3}")
}
[[ $(id -u) -eq 0 ]] || { echo "check-packages.sh: run as root (it runs the packages in mount namespaces)" >&2; exit 2; }

# Waits until the process PID writes a line matching PATTERN to LOG, and prints that line; fails if the process
# ends first (tail --pid) or after 300 s (a hang). grep ends the pipeline at the first match.
wait_for_line() { # pid log pattern
    (set +o pipefail; timeout 300 tail -n +1 -f --pid="$1" -- "$2" | grep -m1 -- "$3")
}
stop_with_sigterm() { # pid what: SIGTERM, as systemctl stop sends it; the exit status must be 143
    local status=0
    # The signal must reach the JVM itself, as systemd's does (a wrapping shell would answer 143 by itself).
    [[ $(readlink -- "/proc/$1/exe") == */java ]] || fail "$2: process $1 is $(readlink -- "/proc/$1/exe"), not java"
    kill -TERM "$1"
    wait "$1" || status=$?
    [[ $status -eq 143 ]] || fail "$2 stopped by SIGTERM exited with $status, not 143 (the units' SuccessExitStatus)"
}

data=$work/controller-data
mkdir -p -- "$data"
: > "$work/controller.conf"
log=$work/controller.log
: > "$log"   # before the process starts: wait_for_line's tail must find it
packaged virtfleet-controller virtfleet-controller --config "$work/controller.conf" --data-dir "$data" \
    --listen 127.0.0.1:0 --git-listen 127.0.0.1:0 --profiles-dir "$work/virtfleet-controller/etc/virtfleet/profiles"
"${run[@]}" >> "$log" 2>&1 &
controller_pid=$!
# The controller logs its address once it serves (port 0: the kernel chose one).
if ! line=$(wait_for_line "$controller_pid" "$log" 'controller listening on'); then
    cat -- "$log" >&2
    fail "the controller from virtfleet-controller did not start"
fi
port=$(sed -n 's/.*controller listening on [^ ]*:\([0-9][0-9]*\) .*/\1/p' <<< "$line")
[[ -n $port ]] || fail "no port in the controller's line: $line"

cli() {
    packaged virtfleet virtfleet --controller "127.0.0.1:$port" --credentials "$data/pki/admin.pem" "$@"
    "${run[@]}"
}
cli hosts -o json > "$work/hosts.json" 2> "$work/cli.err" \
    || fail "virtfleet hosts (package virtfleet) failed: $(cat -- "$work/cli.err")"
# Nothing on stderr either: a missing library (e.g. slf4j's binding) shows there first.
if [[ -s $work/cli.err ]]; then fail "virtfleet hosts wrote to stderr: $(cat -- "$work/cli.err")"; fi
cli agent token create --host hv1 > "$work/token" 2> "$work/cli.err" \
    || fail "virtfleet agent token create (package virtfleet) failed: $(cat -- "$work/cli.err")"
[[ -s $work/token ]] || fail "virtfleet agent token create printed no token"
echo "check-packages.sh: the virtfleet package's CLI talks to the virtfleet-controller package's controller"

mkdir -p -- "$work/agent-state" "$work/agent-definitions" "$work/agent-images" "$work/agent-cache"
: > "$work/agent.conf"
agent_log=$work/agent.log
: > "$agent_log"
packaged virtfleet-agent virtfleet-agent --config "$work/agent.conf" \
    --host-name hv1 --controller "127.0.0.1:$port" --listen 127.0.0.1:0 --libvirt-uri test:///default \
    --state-dir "$work/agent-state" --definitions-dir "$work/agent-definitions" --images-dir "$work/agent-images" \
    --join-token-file "$work/token"
XDG_CACHE_HOME=$work/agent-cache "${run[@]}" >> "$agent_log" 2>&1 &
agent_pid=$!
# Registered: the controller has the host's report, so it shows the host ready until heartbeats lapse (15 s).
if ! wait_for_line "$agent_pid" "$agent_log" 'registered with controller' > /dev/null; then
    cat -- "$agent_log" >&2
    fail "the agent from virtfleet-agent did not enroll and register"
fi
cli hosts > "$work/hosts.txt" 2> "$work/cli.err" || fail "virtfleet hosts failed: $(cat -- "$work/cli.err")"
grep -Eq '^hv1 +ready ' "$work/hosts.txt" || fail "virtfleet hosts does not show hv1 ready:
$(cat -- "$work/hosts.txt")"
echo "check-packages.sh: the virtfleet-agent package's agent enrolled with a token and is ready"

stop_with_sigterm "$agent_pid" "the agent"
agent_pid=
stop_with_sigterm "$controller_pid" "the controller"
controller_pid=
echo "check-packages.sh: agent and controller stopped by SIGTERM exit with 143 (SuccessExitStatus=143)"

# --- 3. lintian ---
"$here/lintian.sh" "$target"
