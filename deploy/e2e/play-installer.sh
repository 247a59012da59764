#!/usr/bin/env bash
# Plays the Debian installer for one VM, from the preseed virtfleet's controller serves that VM, up to and including
# the end of the install, and leaves the installed system in WORK/root (deploy/e2e/disk-image.sh makes the VM's disk
# of it). Run it inside the VM's network: a network namespace plugged into the VM's bridge, whose one interface has
# the VM's NIC's name and the address the installer would have there (the harness makes it).
#
# Why: the netboot installer cannot get past "Loading additional components" where Debian's registry serves no
# .udeb files, so what the installer itself would do up to the end of its package selection is done here instead,
# from the same answers, by these steps (each its own function below, named after the installer's component):
#   preseed         fetches the preseed from the URL on the domain's kernel command line, as the installer does;
#   early_command   runs the preseed's preseed/early_command with busybox's sh -c, as the installer does (it stages
#                   the profiles' scripts in /var/lib/virtfleet, the installer's RAM disk: here a private mount of
#                   WORK/installer/ramdisk);
#   base-installer  copies the cached base system (deploy/e2e/base-system.sh: debootstrap, kernel, grub-pc);
#   netcfg, apt-setup, clock-setup, localechooser, user-setup, partman, grub-installer: what they write into
#                   /target from the preseed's answers (network, hostname, apt sources and proxy, time zone, locale,
#                   the user, fstab, the kernel's options in /etc/default/grub);
#   pkgsel          the preseed's pkgsel/upgrade, tasksel/first tasks, pkgsel/include and pkgsel/update-policy;
#   late_command    runs the preseed's preseed/late_command exactly as served, with busybox's sh -c as the installer
#                   does, with /target the installed system. It is not interpreted here. Both preseed commands find
#                   busybox's applets first on their PATH (WORK/installer/busybox: ip, wget, mkdir, cp, chmod, cat,
#                   [ ... are busybox's, as in the installer, not this machine's GNU tools and iproute2), then
#                   in-target, the one tool of the installer's that busybox lacks, provided by a shim
#                   (WORK/installer/bin/in-target: chroot /target with /proc, /sys and /dev mounted and no service
#                   started, as the installer's chroot_setup does).
# Not played: partitioning and formatting (disk-image.sh makes the disk), the boot loader's installation (idem),
# swap (the atomic recipe's swap partition is left out), keyboard and console setup.
#
# usage: play-installer.sh PRESEED-URL KERNEL-COMMAND-LINE BASE-SYSTEM WORK    (root)
#   prints one line per step with its time; the installer's logs are in WORK/*.log
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$here/chroot.sh"
source "$here/phases.sh"

URL=${1:?usage: play-installer.sh PRESEED-URL KERNEL-COMMAND-LINE BASE-SYSTEM WORK}
CMDLINE=${2:?}
BASE=${3:?}
WORK=${4:?}
target=/target
staged=/var/lib/virtfleet # where the early command leaves the scripts (PreseedRenderer.STAGED)

if [[ ${VIRTFLEET_E2E_PRIVATE_MOUNTS:-} != 1 ]]; then
  # The installer's /target and RAM disk exist only in a mount namespace of this run; their mount points are made
  # (and removed again) when this machine has none.
  made=()
  for dir in "$target" "$staged"; do
    if [[ ! -e $dir ]]; then
      mkdir -p "$dir"
      made+=("$dir")
    fi
  done
  status=0
  VIRTFLEET_E2E_PRIVATE_MOUNTS=1 unshare --mount --propagation private -- "${BASH_SOURCE[0]}" "$@" || status=$?
  for dir in ${made[@]+"${made[@]}"}; do rmdir "$dir" 2>/dev/null || true; done
  exit "$status"
fi

mkdir -p "$WORK/root" "$WORK/installer/ramdisk" "$WORK/installer/bin"
mount --bind "$WORK/root" "$target"
mount --bind "$WORK/installer/ramdisk" "$staged"
preseed=$WORK/preseed.cfg

# The value of QUESTION in the fetched preseed (debconf's format: owner question type value); fails when unanswered.
answer() {
  awk -v q="$1" '!/^#/ && $2 == q { sub(/^[^ \t]+[ \t]+[^ \t]+[ \t]+[^ \t]+[ \t]?/, ""); print; found = 1; exit }
                 END { exit !found }' "$preseed"
}
# As answer, with a default for a question the preseed leaves unanswered.
answer_or() { answer "$1" || echo "$2"; }

in_target() { chroot_run "$target" "$@"; }

fetch_preseed() {
  # The installer's preseed/url fetch: one GET through the VM's network to the controller's install server.
  wget -q -O "$preseed" "$URL"
  local late
  late=$(answer preseed/late_command) || { echo "the preseed has no preseed/late_command" >&2; return 1; }
  echo "$late" > "$WORK/late_command.sh"
  answer preseed/early_command > "$WORK/early_command.sh" || true
}

# The installer's way of running a preseed command: busybox's sh -c, in its own environment (nothing of this
# script's), with busybox's applets first on its PATH, then in-target.
installer_sh() {
  local busybox applet
  busybox=$(command -v busybox) || { echo "busybox is not installed (deploy/dev/install-deps.sh)" >&2; return 1; }
  if [[ ! -d $WORK/installer/busybox ]]; then
    mkdir -p "$WORK/installer/busybox"
    for applet in $("$busybox" --list); do ln -s "$busybox" "$WORK/installer/busybox/$applet"; done
  fi
  env -i PATH="$WORK/installer/busybox:$WORK/installer/bin:/usr/sbin:/usr/bin:/sbin:/bin" HOME=/root TERM=dumb \
    "$busybox" sh -c "$1"
}

early_command() {
  [[ -s $WORK/early_command.sh ]] || return 0
  installer_sh "$(cat "$WORK/early_command.sh")" > "$WORK/early_command.log" 2>&1 \
    || { cat "$WORK/early_command.log" >&2; echo "preseed/early_command failed" >&2; return 1; }
}

base_installer() {
  cp -a "$BASE/." "$target/"
}

# netcfg: the installed system's interfaces file, hostname and hosts, from the network the installer was given.
netcfg() {
  local iface host domain fqdn
  iface=$(ip -o link show | awk -F': ' '$2 != "lo" { sub(/@.*/, "", $2); print $2; exit }')
  host=$(answer_or netcfg/get_hostname debian)
  domain=$(answer_or netcfg/get_domain "")
  fqdn=$host${domain:+.$domain}
  {
    echo "# This file describes the network interfaces available on your system"
    echo "# and how to activate them. For more information, see interfaces(5)."
    echo
    echo "source /etc/network/interfaces.d/*"
    echo
    echo "# The loopback network interface"
    echo "auto lo"
    echo "iface lo inet loopback"
    echo
    echo "# The primary network interface"
    echo "allow-hotplug $iface"
    if [[ $(answer_or netcfg/disable_autoconfig false) == true ]]; then
      local address netmask bits=0 octet octets nameservers
      address=$(answer netcfg/get_ipaddress)
      netmask=$(answer netcfg/get_netmask)
      IFS=. read -ra octets <<< "$netmask"
      for octet in ${octets[@]+"${octets[@]}"}; do
        [[ $octet =~ ^[0-9]{1,3}$ ]] || { echo "netcfg/get_netmask: not a dotted netmask: $netmask" >&2; return 1; }
        while (( octet > 0 )); do bits=$(( bits + (octet & 1) )); octet=$(( octet >> 1 )); done
      done
      echo "iface $iface inet static"
      echo "	address $address/$bits"
      local gateway
      gateway=$(answer_or netcfg/get_gateway none)
      [[ $gateway == none || -z $gateway ]] || echo "	gateway $gateway"
      read -ra nameservers <<< "$(answer_or netcfg/get_nameservers "")"
      echo "	dns-nameservers ${nameservers[*]}"
      printf 'nameserver %s\n' ${nameservers[@]+"${nameservers[@]}"} > "$target/etc/resolv.conf"
      printf '127.0.0.1\tlocalhost\n%s\t%s\t%s\n' "$address" "$fqdn" "$host" > "$target/etc/hosts"
    else
      echo "iface $iface inet dhcp"
      printf '127.0.0.1\tlocalhost\n127.0.1.1\t%s\t%s\n' "$fqdn" "$host" > "$target/etc/hosts"
    fi
  } > "$target/etc/network/interfaces"
  printf '\n# The following lines are desirable for IPv6 capable hosts\n::1     localhost ip6-localhost ip6-loopback\nff02::1 ip6-allnodes\nff02::2 ip6-allrouters\n' \
    >> "$target/etc/hosts"
  echo "$host" > "$target/etc/hostname"
}

# apt-setup: the mirror and its proxy, as the installed system keeps them.
apt_setup() {
  local mirror proxy suite
  mirror=http://$(answer mirror/http/hostname)$(answer mirror/http/directory)
  proxy=$(answer_or mirror/http/proxy "")
  # os-release is a file of the VM's: read, not sourced.
  suite=$(awk -F= '$1 == "VERSION_CODENAME" { gsub(/"/, "", $2); print $2 }' "$target/etc/os-release")
  {
    echo "deb ${mirror%/}/ $suite main"
    echo "deb http://security.debian.org/debian-security $suite-security main"
    echo "deb ${mirror%/}/ $suite-updates main"
  } > "$target/etc/apt/sources.list"
  if [[ -n $proxy ]]; then
    echo "Acquire::http::Proxy \"$proxy\";" > "$target/etc/apt/apt.conf"
  fi
}

clock_setup() {
  local zone
  zone=$(answer_or time/zone Etc/UTC)
  ln -sfn "/usr/share/zoneinfo/$zone" "$target/etc/localtime"
  echo "$zone" > "$target/etc/timezone"
}

localechooser() {
  local locale
  locale=$(answer_or debian-installer/locale C.UTF-8)
  [[ $locale == C* ]] && return 0
  in_target debconf-set-selections <<ANSWERS
locales locales/locales_to_be_generated multiselect $locale ${locale#*.}
locales locales/default_environment_locale select $locale
ANSWERS
  in_target apt-get install -y -q locales >> "$WORK/pkgsel.log" 2>&1
}

# user-setup: the operators' user (no password when the answer is '*'), in the installer's groups; with root login
# off, root keeps no password and the user gets sudo, as the installer does.
user_setup() {
  local user fullname crypted groups=(audio cdrom dip floppy video plugdev netdev)
  if [[ $(answer_or passwd/root-login true) == false ]]; then
    in_target passwd --lock root > /dev/null
    in_target apt-get install -y -q sudo >> "$WORK/pkgsel.log" 2>&1
    groups+=(sudo)
  fi
  [[ $(answer_or passwd/make-user true) == true ]] || return 0
  user=$(answer passwd/username)
  fullname=$(answer_or passwd/user-fullname "")
  crypted=$(answer_or passwd/user-password-crypted "!")
  in_target adduser --disabled-password --gecos "$fullname" "$user" > /dev/null
  in_target usermod -p "$crypted" "$user"
  local g
  for g in "${groups[@]}"; do
    if in_target getent group "$g" > /dev/null; then in_target adduser "$user" "$g" > /dev/null; fi
  done
}

# partman: the root file system, by UUID (disk-image.sh formats it with this UUID).
partman() {
  cat /proc/sys/kernel/random/uuid > "$WORK/root-uuid"
  echo "UUID=$(cat "$WORK/root-uuid") / ext4 errors=remount-ro 0 1" > "$target/etc/fstab"
}

# grub-installer's configuration: the kernel options of the preseed (debian-installer/add-kernel-opts) and those
# after "---" on the installer's command line, as the installer passes them on to the installed system.
# The options are split into words and written as text: none is expanded or evaluated by this machine's shell.
grub_config() {
  local opts words after=${CMDLINE#*---}
  [[ $after == "$CMDLINE" ]] && after=""
  read -ra words <<< "$(answer_or debian-installer/add-kernel-opts "") $after"
  opts=$(printf '%s\n' ${words[@]+"${words[@]}"} | awk '!seen[$0]++' | paste -sd' ')
  OPTS=$opts awk '/^GRUB_CMDLINE_LINUX=/ { print "GRUB_CMDLINE_LINUX=\"" ENVIRON["OPTS"] "\""; next } { print }' \
    "$target/etc/default/grub" > "$WORK/grub.default"
  cat "$WORK/grub.default" > "$target/etc/default/grub"
}

pkgsel() {
  local upgrade tasks include policy task list packages=()
  upgrade=$(answer_or pkgsel/upgrade safe-upgrade)
  tasks=$(answer_or tasksel/first "")
  include=$(answer_or pkgsel/include "")
  policy=$(answer_or pkgsel/update-policy none)
  # Lists of words, split without pathname expansion.
  IFS=', ' read -ra list <<< "$tasks"
  for task in ${list[@]+"${list[@]}"}; do packages+=("task-$task"); done
  read -ra list <<< "$include"
  packages+=(${list[@]+"${list[@]}"})
  [[ $policy == unattended-upgrades ]] && packages+=(unattended-upgrades)
  echo "pkgsel: upgrade $upgrade, then ${packages[*]}" >> "$WORK/pkgsel.log"
  in_target apt-get update -q >> "$WORK/pkgsel.log" 2>&1
  case $upgrade in
    full-upgrade) in_target apt-get dist-upgrade -y -q >> "$WORK/pkgsel.log" 2>&1 ;;
    safe-upgrade) in_target apt-get upgrade -y -q >> "$WORK/pkgsel.log" 2>&1 ;;
  esac
  if [[ $policy == unattended-upgrades ]]; then
    echo "unattended-upgrades unattended-upgrades/enable_auto_updates boolean true" | in_target debconf-set-selections
  fi
  if [[ ${#packages[@]} -gt 0 ]]; then
    in_target apt-get install -y -q "${packages[@]}" >> "$WORK/pkgsel.log" 2>&1
  fi
}

# The installer's in-target, for the late command: see the header.
in_target_shim() {
  cat > "$WORK/installer/bin/in-target" <<SHIM
#!/usr/bin/env bash
# The Debian installer's in-target, as virtfleet's e2e plays it: the program runs in /target with /proc, /sys and
# /dev mounted, no service started (policy-rc.d), the mirror's proxy in http_proxy, as chroot_setup does.
set -euo pipefail
# This machine's tools for the chroot (not the late command's busybox applets).
PATH=/usr/sbin:/usr/bin:/sbin:/bin
source '$here/chroot.sh'
proxy=\$(awk '!/^#/ && \$2 == "mirror/http/proxy" { print \$4; exit }' '$preseed')
export http_proxy=\$proxy
chroot_setup /target
trap 'chroot_cleanup /target' EXIT
chroot_run /target "\$@"
SHIM
  chmod 0755 "$WORK/installer/bin/in-target"
}

late_command() {
  in_target_shim
  # finish-install's preseed step: the command as served.
  installer_sh "$(cat "$WORK/late_command.sh")" \
    > "$WORK/late_command.log" 2>&1 \
    || { tail -n 40 "$WORK/late_command.log" >&2; echo "preseed/late_command failed (log: $WORK/late_command.log)" >&2; return 1; }
  in_target apt-get clean
}

# Runs each step in turn (under phase's errexit, the first failure stops them).
steps() {
  local step
  for step in "$@"; do "$step"; done
}

phase "installer: preseed fetched" fetch_preseed
phase "installer: early command (scripts)" early_command
phase "installer: base system copied" base_installer
chroot_setup "$target"
phase "installer: network, apt, clock, fstab" steps netcfg apt_setup clock_setup partman grub_config
phase "installer: locale and user" steps localechooser user_setup
phase "installer: packages (pkgsel)" pkgsel
chroot_cleanup "$target"
phase "installer: late command" late_command
