#!/usr/bin/env bash
# The part of a Debian install that does not depend on a VM's preseed, as the installer would leave it before its
# package selection: debootstrap's base system (priorities required and important, as the installer's
# base-installer), upgraded from the suite's updates and security updates, the kernel (linux-image-amd64) and GRUB
# for BIOS (grub-pc, as grub-installer installs it, told to write no boot sector: the disk is made later, see
# disk-image.sh). Unlike the installer, the kernel and GRUB come without the packages they only recommend (so the
# initramfs is gzip's, not zstd's); a VM's own packages (play-installer.sh's pkgsel) come with them, as the
# installer gives them. Packages come through the proxy PROXY.
#
# The result is kept in $CACHE/base-<suite>-<key> and reused while the mirror, the suite and this script are the same;
# the script prints whether it built it or found it. A build that fails leaves nothing in the cache.
#
# usage: deploy/e2e/base-system.sh PROXY MIRROR-URL     (root; env: CACHE, SUITE)
#        prints, last, the directory of the base system
set -euo pipefail

PROXY=${1:?usage: base-system.sh PROXY MIRROR-URL}
MIRROR=${2:?usage: base-system.sh PROXY MIRROR-URL}
CACHE=${CACHE:-/var/cache/virtfleet-e2e}
SUITE=${SUITE:-bookworm}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$here/chroot.sh"

# What the result depends on; RECIPE changes whenever what is built here does.
RECIPE=2
packages=(linux-image-amd64 grub-pc)
key=$(echo "$RECIPE $SUITE $MIRROR ${packages[*]}" | sha256sum | cut -c1-12)
base=$CACHE/base-$SUITE-$key
if [[ -f $base.complete ]]; then
  echo "base system: cached, $base (built $(date -u -r "$base.complete" +%FT%TZ))" >&2
  echo "$base"
  exit 0
fi

mkdir -p "$CACHE"
building=$(mktemp -d "$CACHE/building.XXXXXX")
cleanup() {
  rm -rf --one-file-system "$building"
}
trap cleanup EXIT

echo "base system: not cached, building with debootstrap ($SUITE from $MIRROR through $PROXY)" >&2
start=$(date +%s)
http_proxy=$PROXY debootstrap --components=main "$SUITE" "$building/root" "$MIRROR" > "$building/debootstrap.log" 2>&1 \
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
chroot_run "$building/root" debconf-set-selections <<'ANSWERS'
grub-pc grub-pc/install_devices multiselect
grub-pc grub-pc/install_devices_empty boolean true
ANSWERS
for p in "${packages[@]}"; do # the kernel first: GRUB's hooks then find it
  chroot_run "$building/root" apt-get install -y -q --no-install-recommends "$p" >> "$building/apt.log" 2>&1 \
    || { tail -n 30 "$building/apt.log" >&2; echo "base system: installing $p failed" >&2; exit 1; }
done
chroot_run "$building/root" apt-get clean
chroot_cleanup "$building/root"
rm -f "$building/root/etc/apt/apt.conf.d/00virtfleet-e2e-build-proxy"
echo "base system: kernel and GRUB $(( $(date +%s) - start )) s" >&2

rm -rf --one-file-system "$base"
mv "$building/root" "$base"
touch "$base.complete"
echo "$base"
