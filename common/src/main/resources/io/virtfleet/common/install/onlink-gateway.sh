#!/bin/sh
# virtfleet's start-up hook for the Debian installer of a VM with an OVH failover IP: added to the installer's
# initrd by the agent and run by debian-installer-startup before the installer's menu.
#
# netcfg is given the VM's address as a static /32 and no gateway (on the kernel command line), because a
# gateway outside the netmask makes it ask again forever. This keeps the two routes it cannot make, to the
# gateway on the link and the default through it, on every interface that has an IPv4 address, from the moment
# netcfg configured it: netcfg flushes the routes when it (re)configures an interface, so they are put back each
# second (when they are missing), a backstop to virtfleet's /sbin/ip (ip-then-onlink.sh), which adds them the
# moment netcfg adds the address. Without virtfleet/onlink-gateway=A.B.C.D on the command line (every other VM),
# it does nothing.
gateway=""
set -f # the command line's words are not file patterns; the loop below needs patterns again
for arg in $(cat /proc/cmdline); do
  case "$arg" in
    virtfleet/onlink-gateway=*) gateway="${arg#*=}" ;;
  esac
done
set +f
case "$gateway" in
  ""|*[!0-9.]*) exit 0 ;;
esac

# The kernel's IPv4 routes (/proc/net/route) name addresses in hex, in the byte order of this (little-endian)
# machine: 203.0.113.254 is FE7100CB.
set -f
IFS=.
set -- $gateway
IFS=' 	
'
set +f
gateway_hex=$(printf '%02X%02X%02X%02X' "$4" "$3" "$2" "$1")

# True when both routes are there: the host route to the gateway and the default through it. Read with the
# shell's own read, no process started: the check runs each second through the whole install, and a process
# start is what costs there (tens of milliseconds each in an emulated machine).
routes_kept() {
  link="" default=""
  while read -r dev destination via flags refs use metric mask rest; do
    [ "$destination" = "$gateway_hex" ] && [ "$mask" = FFFFFFFF ] && link=yes
    [ "$destination" = 00000000 ] && [ "$via" = "$gateway_hex" ] && default=yes
  done < /proc/net/route
  [ -n "$link" ] && [ -n "$default" ]
}

keep_routes() {
  while :; do
    if ! routes_kept; then
      for path in /sys/class/net/*; do
        dev="${path##*/}"
        [ "$dev" = lo ] && continue
        if ip -4 addr show dev "$dev" 2>/dev/null | grep -q "inet "; then
          ip route replace "$gateway" dev "$dev" scope link 2>/dev/null
          ip route replace default via "$gateway" dev "$dev" 2>/dev/null
        fi
      done
    fi
    sleep 1
  done
}

# In the background, with its descriptors closed: the installer's start-up went no further while a background job
# kept the ones it was started with (seen with the early command; the start-up directory is not different).
keep_routes </dev/null >/dev/null 2>&1 3>&- 4>&- 5>&- 6>&- 7>&- 8>&- 9>&- &
exit 0
