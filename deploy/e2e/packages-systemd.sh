#!/usr/bin/env bash
# The Debian packages under a real systemd: README.md's production quick start, run as written, in a Debian
# bookworm container booted with systemd-nspawn (PID 1 of this machine need not be systemd; the container's is).
#
#   1. a bookworm root from Debian's packages (deploy/e2e/base-system.sh with PACKAGES="": debootstrap, updates;
#      cached between runs in $CACHE, default /var/cache/virtfleet-e2e), through the local package proxy (deploy/e2e/apt-proxy.sh,
#      port 3144 of 127.0.0.1 and 10.249.34.1), under a writable overlay of this run's own: the cache is never
#      changed;
#   2. booted with `systemd-nspawn --boot --register=no --keep-unit` in a network namespace of this run's own
#      (10.249.34.2/24 on its interface vrack0, the veth peer of this machine's vfsd0, 10.249.34.1/24); every
#      command runs in it through `nsenter -t <its PID 1> -a` (no machined needed);
#   3. `apt-get install ./virtfleet-controller.deb ./virtfleet.deb ./virtfleet-agent.deb`: the Depends come from
#      Debian through the proxy; the controller is started by its package, the first admin's credentials copied,
#      a join token made with the CLI, agent.conf edited (controller, advertise, vxlan-device, public-address),
#      the agent enabled against the container's own libvirtd (qemu:///system, from libvirt-daemon-system), and
#      `virtfleet hosts` must show the host ready;
#   4. `systemctl stop` of each service leaves it inactive with result success (not failed), and both start again;
#   5. (full run only) the upgrade to a newer build (NEWER-DEBS-DIR): an edited conffile of each package keeps the
#      operator's edit, both services are restarted by it (new main PIDs), and the host is ready again;
#   6. apt-get remove: services stopped and not failed, conffiles and state (CA, agent identity) kept;
#      apt-get purge: conffiles, the controller's state (its CA included), the agent's identity and the join
#      token gone; the system user virtfleet stays (files elsewhere may be its).
#
# --reduced (what `mvn verify` runs, packaging's PackagesSystemdTest): no upgrade, the packages without their
# Recommends (apt-get --no-install-recommends), and no debootstrap: the container's root is THIS machine's own
# root (a Debian of the same release, with the packages of deploy/dev/install-deps.sh: Java, libvirt0, QEMU,
# systemd) seen through an overlay whose writable layer is a tmpfs of the run's own, so the host's files are never
# changed and nothing is left when the run ends. In it: a fresh machine id, the host's enabled services masked
# (those in /etc/systemd/system/*.wants: ceph, postgresql, apt-cacher-ng... but not libvirt's or D-Bus), apt's
# sources reduced to Debian's, and the host's big trees hidden (--tmpfs: /work, /tmp, /var/tmp, /root/.m2...).
# apt then fetches through the proxy only the Depends this machine lacks (libvirt-daemon-system and its few
# packages). Every other step is the same. It needs a host without any virtfleet package or /etc/virtfleet.
#
# Prints each step with its time (deploy/e2e/phases.sh) and, at the end, the total; exits non-zero at the first
# failed check, naming it, with the container's journal of the unit concerned. Needs root and the packages of
# deploy/dev/install-deps.sh (systemd-container, debootstrap, apt-cacher-ng). One run at a time (a lock).
#
# usage: sudo deploy/e2e/packages-systemd.sh [--keep] --reduced DEBS-DIR
#        sudo deploy/e2e/packages-systemd.sh [--keep] DEBS-DIR NEWER-DEBS-DIR
#   DEBS-DIR: virtfleet-agent.deb, virtfleet-controller.deb and virtfleet.deb (packaging/target after
#   `mvn -B -ntp -DskipTests package`); NEWER-DEBS-DIR: the same from a later build (a higher Debian version:
#   each -SNAPSHOT build is 0.1.0~<build time>). --keep: leave the work directory (overlay, logs) behind.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$here/phases.sh"

usage() { sed -n '/^# usage:/,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//' >&2; exit 2; }
keep=false
reduced=false
while [[ $# -gt 0 && $1 == --* ]]; do
  case $1 in
    --keep) keep=true ;;
    --reduced) reduced=true ;;
    --help) usage ;;
    *) echo "packages-systemd: unknown option $1" >&2; usage ;;
  esac
  shift
done
debs=${1:-}
newer=${2:-}
[[ -n $debs ]] || usage
if [[ $reduced == true && -n $newer ]]; then echo "packages-systemd: --reduced takes no NEWER-DEBS-DIR" >&2; usage; fi
if [[ $reduced == false && -z $newer ]]; then echo "packages-systemd: the full run needs NEWER-DEBS-DIR (or --reduced)" >&2; usage; fi
packages=(virtfleet-controller virtfleet virtfleet-agent)
for dir in "$debs" ${newer:+"$newer"}; do
  for p in "${packages[@]}"; do
    [[ -f $dir/$p.deb ]] || { echo "packages-systemd: $dir/$p.deb not found (mvn -B -ntp -DskipTests package)" >&2; exit 2; }
  done
done
debs=$(cd "$debs" && pwd)
newer=${newer:+$(cd "$newer" && pwd)}

if [[ $(id -u) -ne 0 ]]; then
  echo "packages-systemd: run as root (network namespace, overlay mount, systemd-nspawn)" >&2
  exit 2
fi
tools=(systemd-nspawn /usr/sbin/apt-cacher-ng nsenter unshare dpkg-deb systemd-id128)
[[ $reduced == true ]] || tools+=(debootstrap)
for tool in "${tools[@]}"; do
  command -v "$tool" >/dev/null || { echo "packages-systemd: $tool missing: run deploy/dev/install-deps.sh" >&2; exit 2; }
done

# In a mount namespace of its own: the overlay ends with this run even when it is killed.
if [[ -z ${VIRTFLEET_PACKAGES_SYSTEMD_NS:-} ]]; then
  args=()
  [[ $keep == false ]] || args+=(--keep)
  [[ $reduced == false ]] || args+=(--reduced)
  VIRTFLEET_PACKAGES_SYSTEMD_NS=1 exec unshare --mount --propagation private -- "$0" ${args[@]+"${args[@]}"} \
    "$debs" ${newer:+"$newer"}
fi

CACHE=${CACHE:-/var/cache/virtfleet-e2e}
PROXY_PORT=3144
NETNS=virtfleet-nspawn
HOST_IF=vfsd0
HOST_ADDR=10.249.34.1
CT_IF=vrack0
CT_ADDR=10.249.34.2
MIRROR=http://deb.debian.org/debian/

mkdir -p "$CACHE"
exec 8> "$CACHE/packages-systemd.lock"
if ! flock -n 8; then
  echo "packages-systemd: waiting for another run's lock on $CACHE/packages-systemd.lock" >&2
  flock 8
fi

work=$(mktemp -d /var/tmp/virtfleet-packages-systemd.XXXXXX)
nspawn_pid=
status=1
started_proxy=false
ss -Htln "sport = :$PROXY_PORT" | grep -q . || started_proxy=true
cleanup() {
  trap '' INT TERM
  if [[ -n $nspawn_pid ]] && kill -0 "$nspawn_pid" 2>/dev/null; then
    # SIGTERM to nspawn asks the container's systemd to shut down (as `poweroff`); KILL after 60 s.
    kill -TERM "$nspawn_pid" 2>/dev/null || true
    for _ in $(seq 1 120); do kill -0 "$nspawn_pid" 2>/dev/null || break; sleep 0.5; done
    kill -KILL "$nspawn_pid" 2>/dev/null || true
    wait "$nspawn_pid" 2>/dev/null || true
  fi
  ip netns del "$NETNS" 2>/dev/null || true
  ip link del "$HOST_IF" 2>/dev/null || true
  umount "$work/root" 2>/dev/null || true
  umount "$work/layer" 2>/dev/null || true
  if [[ $started_proxy == true ]]; then STATE=$CACHE/apt-proxy PORT=$PROXY_PORT "$here/apt-proxy.sh" --stop || true; fi
  if [[ $keep == true || $status -ne 0 ]]; then
    echo "packages-systemd: work directory kept: $work" >&2
  else
    rm -rf --one-file-system "$work"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail() {
  echo "packages-systemd: FAILED: $*" >&2
  exit 1
}

run_start=$(date +%s)
E2E_LABEL=packages
echo "== packages-systemd ($([[ $reduced == true ]] && echo reduced || echo full)): $(nproc) vCPU, load $(cut -d' ' -f1-3 /proc/loadavg), work directory $work"
echo "   packages: $(for p in "${packages[@]}"; do printf '%s %s  ' "$p" "$(dpkg-deb -f "$debs/$p.deb" Version)"; done)"

# --- the network: this machine's end of the veth is the proxy's address the container reaches ---
network() {
  ip netns del "$NETNS" 2>/dev/null || true
  ip link del "$HOST_IF" 2>/dev/null || true
  ip netns add "$NETNS"
  ip link add "$HOST_IF" type veth peer name "$CT_IF" netns "$NETNS"
  ip addr add "$HOST_ADDR/24" dev "$HOST_IF"
  ip link set "$HOST_IF" up
  ip -n "$NETNS" link set lo up
  ip -n "$NETNS" addr add "$CT_ADDR/24" dev "$CT_IF"
  ip -n "$NETNS" link set "$CT_IF" up
}
phase "network namespace ($CT_ADDR on $CT_IF)" network
# The proxy's daemon outlives this run: it must not inherit the run's lock (fd 8).
phase "package proxy (apt-cacher-ng, 127.0.0.1 and $HOST_ADDR)" bash -c \
  'STATE=$5/apt-proxy PORT=$2 BIND="127.0.0.1 $3" "$4/apt-proxy.sh" > "$1/proxy-url" 8>&-' _ "$work" "$PROXY_PORT" "$HOST_ADDR" "$here" "$CACHE"
if [[ $reduced == false ]]; then
  phase "bookworm root (debootstrap, cached)" bash -c \
    'PACKAGES="" CACHE=$3 "$4/base-system.sh" "$2" "$5" > "$1/base-dir"' _ "$work" "$(cat "$work/proxy-url")" "$CACHE" "$here" "$MIRROR"
  lower=$(cat "$work/base-dir")
fi

# --- the container's root: the cached base (--reduced: this machine's root) under a writable layer of this run's ---
nspawn_extra=()
prepare_root() {
  if [[ $reduced == true ]]; then
    host_root
    return 0
  fi
  mkdir -p "$work/upper" "$work/overlay-work" "$work/root"
  mount -t overlay overlay -o "lowerdir=$lower,upperdir=$work/upper,workdir=$work/overlay-work" "$work/root"
  common_root
}
# host_root: / (its own file system only: /proc, /sys, /dev... are not in it) under a tmpfs upper layer.
host_root() {
  local os_id codename link unit dir
  os_id=$(. /etc/os-release && echo "${ID:-}")
  codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
  [[ $os_id == debian && -n $codename ]] || fail "--reduced boots this machine's root: it must be Debian (it is '$os_id')"
  if dpkg-query -W -f '${Package} ${db:Status-Abbrev}\n' 'virtfleet*' 2>/dev/null | grep -q ' [ihr]'; then
    fail "--reduced boots this machine's root: it must have no virtfleet package ($(dpkg-query -W 'virtfleet*' | tr '\n' ' '))"
  fi
  [[ ! -e /etc/virtfleet ]] || fail "--reduced boots this machine's root: it must have no /etc/virtfleet"
  mkdir -p "$work/layer" "$work/root"
  mount -t tmpfs -o mode=0755 virtfleet-packages-systemd "$work/layer"
  mkdir -p "$work/layer/upper" "$work/layer/work"
  mount -t overlay overlay -o "lowerdir=/,upperdir=$work/layer/upper,workdir=$work/layer/work" "$work/root"
  # A machine of its own: nspawn refuses a container whose machine id is the host's.
  systemd-id128 new > "$work/root/etc/machine-id"
  rm -f "$work/root/var/lib/dbus/machine-id"
  # The host's own services (databases, storage daemons, proxies...) are not this test's: masked.
  for link in /etc/systemd/system/*.wants/*; do
    [[ -e $link || -L $link ]] || continue
    unit=${link##*/}
    case $unit in libvirt*|virt*|dbus*) continue ;; esac
    ln -sfn /dev/null "$work/root/etc/systemd/system/$unit"
  done
  # A build image's "start no service" policy (Docker's policy-rc.d, exit 101): a Debian host has none.
  rm -f "$work/root/usr/sbin/policy-rc.d"
  # apt: Debian's archive only (a host's other sources may need https, which the proxy does not carry).
  rm -f "$work/root/etc/apt/sources.list.d/"*
  printf 'deb %s %s main\ndeb %s %s-updates main\ndeb http://deb.debian.org/debian-security %s-security main\n' \
    "$MIRROR" "$codename" "$MIRROR" "$codename" "$codename" > "$work/root/etc/apt/sources.list"
  # The host's big or private trees stay out of sight (and out of the copy-on-write layer).
  for dir in /work /tmp /var/tmp /home /root/.m2 /root/.cache "$CACHE"; do
    if [[ -d $dir ]]; then nspawn_extra+=("--tmpfs=$dir"); fi
  done
  nspawn_extra+=(--link-journal=no)
  printf '%s\n' "${nspawn_extra[@]}" > "$work/nspawn-extra"  # phase runs this in a subshell
  common_root
}
common_root() {
  echo hv1 > "$work/root/etc/hostname"
  printf '127.0.0.1\tlocalhost\n%s\thv1\n' "$CT_ADDR" > "$work/root/etc/hosts"
  echo "Acquire::http::Proxy \"http://$HOST_ADDR:$PROXY_PORT/\";" > "$work/root/etc/apt/apt.conf.d/00proxy"
  mkdir -p "$work/root/root/debs" "$work/root/root/debs-newer"
  cp "$debs"/virtfleet*.deb "$work/root/root/debs/"
  if [[ -n $newer ]]; then cp "$newer"/virtfleet*.deb "$work/root/root/debs-newer/"; fi
}
phase "container root (overlay on $([[ $reduced == true ]] && echo "this machine's root, tmpfs layer" || echo "the cached root"))" prepare_root
nspawn_extra=()
if [[ -f $work/nspawn-extra ]]; then mapfile -t nspawn_extra < "$work/nspawn-extra"; fi

# --- boot ---
: > "$work/boot.log"
systemd-nspawn --quiet --boot --register=no --keep-unit --machine=hv1 --directory="$work/root" \
  --network-namespace-path="/run/netns/$NETNS" --console=read-only --resolv-conf=off --timezone=off \
  ${nspawn_extra[@]+"${nspawn_extra[@]}"} > "$work/boot.log" 2>&1 < /dev/null &
nspawn_pid=$!

# The container's PID 1: a descendant of systemd-nspawn whose pid is 1 in its own pid namespace.
leader=
find_leader() {
  local deadline=$(( $(date +%s) + 60 )) p
  while (( $(date +%s) < deadline )); do
    kill -0 "$nspawn_pid" 2>/dev/null || { cat "$work/boot.log" >&2; fail "systemd-nspawn ended during boot"; }
    for p in $(pgrep -P "$nspawn_pid") $(for c in $(pgrep -P "$nspawn_pid"); do pgrep -P "$c"; done); do
      if awk '/^NSpid:/ { exit !($NF == 1 && NF > 2) }' "/proc/$p/status" 2>/dev/null; then
        echo "$p" > "$work/leader"
        return 0
      fi
    done
    sleep 0.2
  done
  fail "no PID 1 under systemd-nspawn after 60 s"
}

# ct COMMAND...: runs in the container, as root, in a clean environment (as a login's, with the proxy of apt).
ct() {
  nsenter -t "$leader" -a -- /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
    DEBIAN_FRONTEND=noninteractive "$@"
}
# ct_sh SCRIPT: a shell command line in the container (the commands of the quick start, as an operator types them).
ct_sh() { ct /bin/sh -ec "$1"; }

# cli ARG...: virtfleet in the container. The CLI gives up on a call after 10 s (exit 3); on a loaded machine a
# JVM's first TLS call can take that long, so such a call is tried again, up to 5 times.
cli() {
  local try status
  for try in 1 2 3 4 5; do
    status=0
    ct virtfleet "$@" || status=$?
    [[ $status -eq 3 ]] || return "$status"
    echo "   (virtfleet $1: controller not answering within the CLI's deadline, try $try of 5)" >&2
  done
  return 3
}

journal() { # unit: its journal in the container, to stderr
  echo "--- journal of $1 in the container:" >&2
  ct journalctl --no-pager -n 60 -u "$1" >&2 || true
}

booted() {
  find_leader
  leader=$(cat "$work/leader")
  local state deadline=$(( $(date +%s) + 60 ))
  # systemctl answers once PID 1 listens on its private socket.
  until ct test -S /run/systemd/private; do
    (( $(date +%s) < deadline )) || { cat "$work/boot.log" >&2; fail "the container's systemd opened no socket in 60 s"; }
    sleep 0.2
  done
  state=$(ct timeout 120 systemctl is-system-running --wait 2>&1 || true)
  case $state in
    running|degraded) ;;
    *) cat "$work/boot.log" >&2; fail "the container's systemd did not finish booting: is-system-running says '$state'" ;;
  esac
  if [[ $state == degraded ]]; then
    echo "   (degraded: $(ct systemctl --failed --no-legend --plain | awk '{print $1}' | tr '\n' ' '))"
  fi
}
phase "boot (systemd-nspawn --boot, systemd up)" booted
leader=$(cat "$work/leader")
[[ $(ct cat /proc/1/comm) == systemd ]] || fail "PID 1 of the container is $(ct cat /proc/1/comm), not systemd"

# --- the quick start ---
if [[ $reduced == true ]]; then no_recommends=--no-install-recommends; else no_recommends=; fi
# apt_install LOG DIR DEB...: `apt-get install ./DEB...` in DIR of the container; prints what apt fetched.
apt_install() {
  local log=$work/$1 dir=$2
  shift 2
  # shellcheck disable=SC2086 # empty or one option
  ct_sh "cd $dir && apt-get install -y -q $no_recommends $(printf './%s ' "$@")" > "$log" 2>&1 \
    || { tail -n 30 "$log" >&2; fail "apt-get install $*"; }
  local fetched
  fetched=$(sed -n 's/^Fetched \(.*\) in .*/\1/p' "$log" | tail -n 1)
  echo "   $(grep -c '^Unpacking ' "$log") packages unpacked, ${fetched:-nothing} fetched"
}
install_controller() {
  ct apt-get update -q > "$work/apt-update.log" 2>&1 || { tail -n 20 "$work/apt-update.log" >&2; fail "apt-get update"; }
  apt_install apt-controller.log /root/debs virtfleet-controller.deb virtfleet.deb
}
phase "controller host: apt-get install ./virtfleet-controller.deb ./virtfleet.deb" install_controller

# wait_for DESCRIPTION SECONDS COMMAND...: until the command succeeds in the container; fails naming it.
wait_for() {
  local what=$1 seconds=$2 deadline
  shift 2
  deadline=$(( $(date +%s) + seconds ))
  until ct "$@" > /dev/null 2>&1; do
    (( $(date +%s) < deadline )) || return 1
    sleep 0.5
  done
  echo "   $what"
}

controller_up() {
  ct systemctl is-enabled virtfleet-controller > /dev/null || fail "the package did not enable virtfleet-controller"
  wait_for "controller active, serving on 7440" 120 sh -c \
    'systemctl is-active -q virtfleet-controller && journalctl -u virtfleet-controller | grep -q "controller listening on"' \
    || { journal virtfleet-controller; fail "virtfleet-controller did not start serving"; }
  [[ $(ct systemctl show -P User virtfleet-controller) == virtfleet ]] || fail "the controller does not run as virtfleet"
  ct id virtfleet > /dev/null || fail "the package did not create the user virtfleet"
}
phase "controller started by its package" controller_up

# The first admin: the controller wrote its credentials on its first start.
first_admin() {
  ct_sh 'install -d -m 0700 /root/.config/virtfleet
install -m 0600 /var/lib/virtfleet/controller/pki/admin.pem /root/.config/virtfleet/credentials.pem'
  # The CLI gives up after 10 s; a JVM just started on a loaded machine may take longer to answer its first call.
  wait_for "virtfleet hosts answers the first admin" 120 virtfleet hosts \
    || { cli hosts >&2 || true; journal virtfleet-controller; fail "virtfleet hosts as the first admin"; }
}
phase "first admin (credentials.pem, virtfleet hosts)" first_admin

install_agent() {
  apt_install apt-agent.log /root/debs virtfleet-agent.deb
  ct systemctl is-enabled -q virtfleet-agent 2>/dev/null && fail "the package enabled virtfleet-agent before it was configured"
  ct test -d /srv/common || fail "the package did not create /srv/common"
  ct_sh "sed -i 's/^controller = .*/controller = $CT_ADDR:7440/' /etc/virtfleet/agent.conf
cat >> /etc/virtfleet/agent.conf <<'CONF'
advertise = $CT_ADDR:7441
vxlan-device = $CT_IF
public-address = 203.0.113.7
CONF"
}
phase "hypervisor: apt-get install ./virtfleet-agent.deb, agent.conf" install_agent

enroll() {
  # On the admin's machine (here the same one): a token for hv1; on the hypervisor: the join-token file.
  cli agent token create --host hv1 > "$work/root/root/hv1.token" || fail "virtfleet agent token create --host hv1"
  [[ -s $work/root/root/hv1.token ]] || fail "virtfleet agent token create printed no token"
  ct_sh 'cd /root && install -m 0600 hv1.token /etc/virtfleet/join-token'
  ct_sh 'systemctl enable --now virtfleet-agent' > "$work/enable.log" 2>&1 || { cat "$work/enable.log" >&2; journal virtfleet-agent; fail "systemctl enable --now virtfleet-agent"; }
  wait_for "hv1 ready in virtfleet hosts" 180 sh -c 'virtfleet hosts | grep -Eq "^hv1 +ready "' \
    || { cli hosts >&2 || true; journal virtfleet-agent; journal virtfleet-controller; fail "hv1 is not ready in virtfleet hosts"; }
  cli hosts
  # ready, not degraded: the agent reaches the container's libvirtd and its QEMU (host show says why otherwise).
  cli host show hv1 > "$work/host-show.txt"
}
phase "agent enrolled with a join token, hv1 ready" enroll
[[ $(ct systemctl show -P ActiveState virtfleet-agent) == active ]] || fail "virtfleet-agent is not active"
# The unit's sandbox lets JGit keep its config (XDG_CONFIG_HOME in the cache directory), so pulls log no error.
if ct journalctl -u virtfleet-agent --no-pager | grep -q 'Cannot save config file'; then
  journal virtfleet-agent; fail "the agent's definitions pulls log that JGit cannot save its config"
fi
# JGit writes it in the background after its first pull.
wait_for "JGit's config in the agent's cache directory" 60 test -f /var/cache/virtfleet/agent/jgit/config \
  || fail "no /var/cache/virtfleet/agent/jgit/config (XDG_CONFIG_HOME of the agent's unit)"

# stopped NAME: systemctl stop leaves the unit inactive, its result success: SIGTERM is a clean stop.
stopped() {
  ct systemctl stop "$1"
  local state result
  state=$(ct systemctl show -P ActiveState "$1")
  result=$(ct systemctl show -P Result "$1")
  [[ $state == inactive && $result == success ]] || { journal "$1"; fail "$1 after systemctl stop: $state, result $result (want inactive, success)"; }
  if ct systemctl is-failed -q "$1"; then fail "$1 is failed after systemctl stop"; fi
  echo "   $1: inactive, result success, exit status $(ct systemctl show -P ExecMainStatus "$1")"
}
stop_start() {
  stopped virtfleet-agent
  stopped virtfleet-controller
  ct systemctl start virtfleet-controller virtfleet-agent
  wait_for "hv1 ready again after both started" 180 sh -c 'virtfleet hosts | grep -Eq "^hv1 +ready "' \
    || { journal virtfleet-agent; fail "hv1 not ready after the services were started again"; }
}
phase "systemctl stop: not failed; start again" stop_start

# A boot mode: the install server comes up on 7444 with the edited controller.conf (an edit the upgrade keeps).
boot_mode() {
  ct_sh "cat >> /etc/virtfleet/controller.conf <<'CONF'
boot-mode = kernel
install-url = http://$CT_ADDR:7444
CONF
systemctl restart virtfleet-controller"
  wait_for "install server listening on 7444 (boot-mode kernel)" 120 sh -c 'ss -Htln "sport = :7444" | grep -q .' \
    || { journal virtfleet-controller; fail "the controller with boot-mode kernel does not serve 7444"; }
  wait_for "hv1 ready again" 180 sh -c 'virtfleet hosts | grep -Eq "^hv1 +ready "' \
    || { journal virtfleet-agent; fail "hv1 not ready after the controller's restart"; }
}
phase "boot-mode kernel, install-url (controller.conf)" boot_mode

# Backup while running, then restore into the stopped controller (the commands of README.md's quick start).
backup_restore() {
  ct_sh 'install -d -m 0700 /var/backups/virtfleet
virtfleet-controller backup --out /var/backups/virtfleet/controller.zip' > "$work/backup.log" 2>&1 \
    || { cat "$work/backup.log" >&2; fail "virtfleet-controller backup --out FILE"; }
  # A change made after the backup, which the restore must take back: hv1 drained.
  cli host drain hv1 > /dev/null || fail "virtfleet host drain hv1 (after the backup)"
  wait_for "hv1 draining (a change after the backup)" 60 sh -c 'virtfleet hosts | grep -Eq "^hv1 +draining "' \
    || fail "hv1 not shown draining after host drain"
  ct_sh 'systemctl stop virtfleet-controller
virtfleet-controller restore --from /var/backups/virtfleet/controller.zip --force
systemctl start virtfleet-controller' > "$work/restore.log" 2>&1 \
    || { cat "$work/restore.log" >&2; journal virtfleet-controller; fail "virtfleet-controller restore --from FILE"; }
  grep -q '^Restored ' "$work/restore.log" || { cat "$work/restore.log" >&2; fail "restore did not say Restored"; }
  # --force moved the running state aside, not away; the keys went back owner-only, to the service user.
  ct_sh 'ls -d /var/lib/virtfleet/controller.before-restore-* > /dev/null' \
    || fail "restore --force kept no controller.before-restore-* directory"
  [[ $(ct stat -c '%a %U' /var/lib/virtfleet/controller/pki/ca.key) == "600 virtfleet" ]] \
    || fail "restored pki/ca.key is not 0600 virtfleet: $(ct stat -c '%a %U' /var/lib/virtfleet/controller/pki/ca.key)"
  # ready, not draining: the drain made after the backup is gone with the restore.
  wait_for "hv1 ready with the restored controller (the later drain undone)" 180 \
    sh -c 'virtfleet hosts | grep -Eq "^hv1 +ready "' \
    || { journal virtfleet-controller; journal virtfleet-agent; fail "hv1 not ready after the restore"; }
  # The restored controller holds until an admin compared its records with what runs, then released it.
  cli drift > "$work/drift-holding.log" 2>&1 || { cat "$work/drift-holding.log" >&2; fail "virtfleet drift (holding)"; }
  grep -q '^HOLDING after a restore' "$work/drift-holding.log" \
    || { cat "$work/drift-holding.log" >&2; fail "virtfleet drift does not say the restored controller holds"; }
  cli restore-hold release --follow-running > "$work/release.log" 2>&1 \
    || { cat "$work/release.log" >&2; fail "virtfleet restore-hold release --follow-running"; }
  if cli hosts | grep -q '^HOLDING'; then fail "virtfleet hosts still says HOLDING after the release"; fi
  cli drift --exit-code > "$work/drift.log" 2>&1 || { cat "$work/drift.log" >&2; fail "virtfleet drift --exit-code after the release"; }
  echo "   restored: later drain undone, keys 0600 virtfleet, hold shown by drift and released"
}
phase "virtfleet-controller backup, restore" backup_restore

if [[ $reduced == false ]]; then
  upgrade() {
    local old_ctl old_agent new_ctl new_agent v
    # The operator's edits: agent.conf (controller, vxlan-device...) and controller.conf (boot-mode) above.
    old_ctl=$(ct systemctl show -P MainPID virtfleet-controller)
    old_agent=$(ct systemctl show -P MainPID virtfleet-agent)
    ct_sh 'cd /root/debs-newer && apt-get install -y -q ./virtfleet-controller.deb ./virtfleet.deb ./virtfleet-agent.deb' \
      > "$work/upgrade.log" 2>&1 || { tail -n 30 "$work/upgrade.log" >&2; fail "apt-get install of the newer build"; }
    for p in "${packages[@]}"; do
      v=$(ct dpkg-query -W -f '${Version}' "$p")
      [[ $v == "$(dpkg-deb -f "$newer/$p.deb" Version)" ]] || fail "$p is at $v after the upgrade"
    done
    echo "   upgraded to $v"
    ct grep -qx 'boot-mode = kernel' /etc/virtfleet/controller.conf || fail "the upgrade lost the edit of controller.conf"
    ct grep -qx "vxlan-device = $CT_IF" /etc/virtfleet/agent.conf || fail "the upgrade lost the edit of agent.conf"
    ct grep -q "^controller = $CT_ADDR:7440" /etc/virtfleet/agent.conf || fail "the upgrade lost the controller address in agent.conf"
    echo "   edited conffiles kept: controller.conf (boot-mode), agent.conf (controller, vxlan-device...)"
    new_ctl=$(ct systemctl show -P MainPID virtfleet-controller)
    new_agent=$(ct systemctl show -P MainPID virtfleet-agent)
    [[ $new_ctl != 0 && $new_ctl != "$old_ctl" ]] || { journal virtfleet-controller; fail "the upgrade did not restart the controller (MainPID $old_ctl, now $new_ctl)"; }
    [[ $new_agent != 0 && $new_agent != "$old_agent" ]] || { journal virtfleet-agent; fail "the upgrade did not restart the agent (MainPID $old_agent, now $new_agent)"; }
    echo "   restarted: controller $old_ctl -> $new_ctl, agent $old_agent -> $new_agent"
    wait_for "hv1 ready after the upgrade" 180 sh -c 'virtfleet hosts | grep -Eq "^hv1 +ready "' \
      || { journal virtfleet-agent; fail "hv1 not ready after the upgrade"; }
    return 0
  }
  phase "upgrade to the newer build" upgrade
fi

remove() {
  ct_sh 'apt-get remove -y -q virtfleet-agent virtfleet-controller virtfleet' > "$work/remove.log" 2>&1 \
    || { tail -n 30 "$work/remove.log" >&2; fail "apt-get remove"; }
  local u
  for u in virtfleet-agent virtfleet-controller; do
    [[ $(ct systemctl show -P ActiveState "$u") == inactive ]] || fail "$u still $(ct systemctl show -P ActiveState "$u") after remove"
    if ct systemctl is-failed -q "$u"; then fail "$u is failed after apt-get remove"; fi
  done
  for f in /etc/virtfleet/agent.conf /etc/virtfleet/controller.conf /etc/virtfleet/join-token \
      /var/lib/virtfleet/controller/pki/ca.key /var/lib/virtfleet/agent/agent.pem; do
    ct test -e "$f" || fail "$f is gone after apt-get remove (remove keeps configuration and state)"
  done
  ct grep -qx "vxlan-device = $CT_IF" /etc/virtfleet/agent.conf || fail "agent.conf lost its edit at remove"
  [[ $(ct dpkg-query -W -f '${db:Status-Abbrev}' virtfleet-agent) == "rc " ]] || fail "virtfleet-agent is not in state rc after remove"
  echo "   services stopped, not failed; conffiles, CA and agent identity kept; packages in state rc"
}
phase "apt-get remove" remove

purge() {
  ct_sh 'apt-get purge -y -q virtfleet-agent virtfleet-controller virtfleet' > "$work/purge.log" 2>&1 \
    || { tail -n 30 "$work/purge.log" >&2; fail "apt-get purge"; }
  local f
  for f in /etc/virtfleet /var/lib/virtfleet/controller /var/lib/virtfleet/agent /var/cache/virtfleet/agent; do
    if ct test -e "$f"; then fail "$f is still there after apt-get purge: $(ct find "$f" | head -n 5 | tr '\n' ' ')"; fi
  done
  if ct dpkg-query -W virtfleet-agent > /dev/null 2>&1; then fail "dpkg still knows virtfleet-agent after purge"; fi
  ct id virtfleet > /dev/null || fail "the user virtfleet was removed by purge (it is kept on purpose)"
  ct test -d /srv/common || fail "/srv/common was removed by purge (it may be a runbook's clone: kept)"
  echo "   /etc/virtfleet, the controller's state (CA), the agent's identity gone; user virtfleet and /srv/common kept"
}
phase "apt-get purge" purge

status=0
echo "== packages-systemd: all checks passed in $(( $(date +%s) - run_start )) s"
