#!/usr/bin/env bash
# The part of a Debian install that does not depend on a VM's preseed, as the installer would leave it before its
# package selection: debootstrap's base system (priorities required and important, as the installer's
# base-installer), upgraded from the suite's updates and security updates, the kernel (linux-image-amd64) and GRUB
# for BIOS (grub-pc, as grub-installer installs it, told to write no boot sector: the disk is made later, see
# disk-image.sh). Unlike the installer, the kernel and GRUB come without the packages they only recommend (so the
# initramfs is gzip's, not zstd's); a VM's own packages (play-installer.sh's pkgsel) come with them, as the
# installer gives them. Packages come through the proxy PROXY.
#
# PACKAGES (space-separated) replaces the kernel and GRUB with other packages, or with none (PACKAGES=""): the root
# of a container (deploy/e2e/packages-systemd.sh boots one with systemd-nspawn; debootstrap's base system already
# holds systemd, as its init).
#
# The result is kept in $CACHE/base-<suite>-<key> and reused while the mirror, the suite, this script and chroot.sh
# are the same (their sha256 is part of the key); the script prints whether it built it or found it, and how old
# it is (Debian's updates since then are installed by each VM's pkgsel). A build that fails leaves nothing in the
# cache; runs at the same time wait for each other (a lock on $CACHE/lock). The base has no machine identity: an
# empty /etc/machine-id (each VM makes its own at its first boot), no hostname and no resolv.conf of this machine's.
#
# usage: deploy/e2e/base-system.sh PROXY MIRROR-URL     (root; env: CACHE, SUITE, PACKAGES)
#        prints, last, the directory of the base system
set -euo pipefail

PROXY=${1:?usage: base-system.sh PROXY MIRROR-URL}
MIRROR=${2:?usage: base-system.sh PROXY MIRROR-URL}
CACHE=${CACHE:-/var/cache/virtfleet-e2e}
SUITE=${SUITE:-bookworm}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$here/chroot.sh"

# What the result depends on: the suite, the mirror, the packages and the code that builds it.
read -r -a packages <<< "${PACKAGES-linux-image-amd64 grub-pc}"
key=$({ echo "$SUITE $MIRROR ${packages[*]}"; cat "$here/base-system.sh" "$here/chroot.sh"; } | sha256sum | cut -c1-12)
base=$CACHE/base-$SUITE-$key
mkdir -p "$CACHE"
# One build at a time, and no run reads a base another is replacing.
exec 9> "$CACHE/lock"
if ! flock -n 9; then
  echo "base system: waiting for another run's lock on $CACHE/lock" >&2
  flock 9
fi
if [[ -f $base.complete ]]; then
  built=$(stat -c %Y "$base.complete")
  echo "base system: cached, $base (built $(date -u -d "@$built" +%FT%TZ), $(( ($(date +%s) - built) / 86400 )) days ago)" >&2
  echo "$base"
  exit 0
fi

building=$(mktemp -d "$CACHE/building.XXXXXX")
cleanup() {
  rm -rf --one-file-system "$building"
}
trap cleanup EXIT

echo "base system: not cached, building with debootstrap ($SUITE from $MIRROR through $PROXY)" >&2
start=$(date +%s)
# In a mount namespace of its own: its /proc and /sys mounts end with it, even when it is killed.
http_proxy=$PROXY unshare --mount --propagation private -- debootstrap --components=main "$SUITE" "$building/root" "$MIRROR" > "$building/debootstrap.log" 2>&1 \
  || { tail -n 30 "$building/debootstrap.log" >&2; echo "base system: debootstrap failed" >&2; exit 1; }
echo "base system: debootstrap $(( $(date +%s) - start )) s" >&2

start=$(date +%s)
echo "Acquire::http::Proxy \"$PROXY\";" > "$building/root/etc/apt/apt.conf.d/00virtfleet-e2e-build-proxy"
chroot_setup "$building/root"
# The suite's updates and security updates too, as the installer's apt-setup adds them before its package selection:
# a VM's upgrade then finds nothing to do (not a second kernel and initramfs per VM).
cat > "$building/root/etc/apt/sources.list" <<SOURCES
deb ${MIRROR%/}/ $SUITE main
deb http://security.debian.org/debian-security $SUITE-security main
deb ${MIRROR%/}/ $SUITE-updates main
SOURCES
{ chroot_run "$building/root" apt-get update -q && chroot_run "$building/root" apt-get dist-upgrade -y -q; } \
  >> "$building/apt.log" 2>&1 || { tail -n 30 "$building/apt.log" >&2; echo "base system: upgrade failed" >&2; exit 1; }
# grub-installer installs grub-pc and then writes the boot sector itself: the package must not try to.
if [[ " ${packages[*]} " == *" grub-pc "* ]]; then
  chroot_run "$building/root" debconf-set-selections <<'ANSWERS'
grub-pc grub-pc/install_devices multiselect
grub-pc grub-pc/install_devices_empty boolean true
ANSWERS
fi
for p in ${packages[@]+"${packages[@]}"}; do # the kernel first: GRUB's hooks then find it
  chroot_run "$building/root" apt-get install -y -q --no-install-recommends "$p" >> "$building/apt.log" 2>&1 \
    || { tail -n 30 "$building/apt.log" >&2; echo "base system: installing $p failed" >&2; exit 1; }
done
chroot_run "$building/root" apt-get clean
chroot_cleanup "$building/root"
rm -f "$building/root/etc/apt/apt.conf.d/00virtfleet-e2e-build-proxy"
# No identity of this machine's (debootstrap copies its hostname and resolv.conf) and none shared by the VMs.
rm -f "$building/root/etc/hostname" "$building/root/etc/resolv.conf"
: > "$building/root/etc/machine-id"
echo "base system: updates and ${packages[*]:-no more packages} $(( $(date +%s) - start )) s" >&2

rm -rf --one-file-system "$base"
mv "$building/root" "$base"
touch "$base.complete"
echo "$base"
