# Sourced: running programs in a Debian root file system as the installer's in-target does, without leaving mounts
# behind. chroot_setup/chroot_cleanup bracket a series of runs as the installer's chroot_setup/chroot_cleanup do
# (services are not started in the root while it is built: a policy-rc.d refusing them); chroot_run mounts /proc,
# /sys, /dev and a /run of its own in a private mount namespace that ends with the program, so a failure cannot leave
# them mounted.

chroot_setup() {
  local root=$1
  printf '#!/bin/sh\n# virtfleet e2e: no service starts while the system is being installed\nexit 101\n' \
    > "$root/usr/sbin/policy-rc.d"
  chmod 0755 "$root/usr/sbin/policy-rc.d"
}

chroot_cleanup() {
  rm -f "$1/usr/sbin/policy-rc.d"
}

# chroot_run ROOT PROGRAM [ARG...]: standard input, output and exit status are the program's; the environment is
# a fixed one, plus http_proxy when set.
chroot_run() {
  local root=$1
  shift
  unshare --mount --propagation private -- /bin/sh -ec '
    root=$1; shift
    mount -t proc proc "$root/proc"
    mount -t sysfs sysfs "$root/sys"
    mount --rbind /dev "$root/dev"
    mount -t tmpfs -o mode=0755 tmpfs "$root/run"
    exec chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
      DEBIAN_FRONTEND=noninteractive DEBCONF_NONINTERACTIVE_SEEN=true APT_LISTCHANGES_FRONTEND=none \
      ${http_proxy:+http_proxy=$http_proxy} "$@"' chroot_run "$root" "$@"
}
