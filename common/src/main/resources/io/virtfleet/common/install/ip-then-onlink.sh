#!/bin/sh
# virtfleet's /sbin/ip in the Debian installer of a VM with an OVH failover IP (it replaces busybox's link there).
# Runs busybox's ip as asked; when netcfg has just added an address to an interface ("ip addr add ... dev IF"), it
# adds at once the routes netcfg cannot make: to the gateway named by virtfleet/onlink-gateway=A.B.C.D on the
# kernel command line, on the link, and the default route through it. So they exist before the installer fetches
# its preseed, which it tries once. Without that argument (every other VM) it is busybox's ip and nothing more.
set -f
/bin/busybox ip "$@"
status=$?
if [ "$status" = 0 ] && [ "$1" = addr ] && [ "$2" = add ]; then
  gateway=""
  for arg in $(cat /proc/cmdline); do
    case "$arg" in
      virtfleet/onlink-gateway=*) gateway="${arg#*=}" ;;
    esac
  done
  dev=""
  previous=""
  for arg in "$@"; do
    [ "$previous" = dev ] && dev="$arg"
    previous="$arg"
  done
  case "$gateway" in
    ""|*[!0-9.]*) ;;
    *)
      if [ -n "$dev" ]; then
        /bin/busybox ip route replace "$gateway" dev "$dev" scope link 2>/dev/null
        /bin/busybox ip route replace default via "$gateway" dev "$dev" 2>/dev/null
      fi
      ;;
  esac
fi
exit "$status"
