#!/usr/bin/env bash
# Installs, from Debian's packages, what building and testing virtfleet needs on a fresh Debian 12
# machine: a JDK and Maven (only when missing), libvirt's library and daemon with the QEMU driver,
# QEMU itself (the tests run real TCG guests), Ceph's monitor, OSD and client tools (the RBD tests
# start a single-node cluster of their own), and the tools the tests call. Run as root.
# Deliberately not libvirt-daemon-system: it pulls in polkit and iptables, and the tests start their
# own libvirtd instances in private mount namespaces instead.
set -euo pipefail

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: run as root (apt-get install)" >&2
  exit 2
fi

packages=(
  libvirt0 libvirt-clients libvirt-daemon libvirt-daemon-driver-qemu   # libvirt: library, virsh, libvirtd + QEMU driver
  qemu-system-x86 qemu-utils qemu-block-extra                          # QEMU/TCG guests, qemu-img (rbd support)
  libxml2-utils                                                        # xmllint: virt-xml-validate, DomainXmlTest
  ceph-mon ceph-osd ceph-common                                        # a single-node Ceph for the RBD tests; rbd
  iproute2 util-linux procps                                           # ip, bridge, unshare, ps
  iputils-ping                                                         # ping between test VMs across a VXLAN LAN
  nftables                                                             # nft: a host cut off from the controller only (partition test)
  systemd                                                              # systemd-analyze, to verify the units
  git                                                                  # the git CLI, a client of the controller's git server in tests
  debian-installer-12-netboot-amd64                                    # pxelinux.0 + the installer's kernel/initrd: the install tests
  dnsmasq-base curl                                                    # a site's DHCP for the kernel boot install test; its probe
  busybox                                                              # the shell the installer hook's scripts run in (their test)
  python3                                                              # deploy/bench/run-placement-bench.sh's summary table
  # prometheus: where systemd runs, installing it also starts Prometheus's own server on port 9090 of every
  # address: `systemctl disable --now prometheus` stops it (only its promtool is used).
  prometheus                                                           # promtool: FleetMetricsTest checks the scraped metrics
  python3-grpcio python3-grpc-tools grpc-proto                         # HealthInteropTest: health and reflection from Python's gRPC
  # apt-cacher-ng: deploy/e2e/apt-proxy.sh runs its own instance. Where systemd runs, installing the package also
  # starts the package's service on port 3142 of every address: `systemctl disable --now apt-cacher-ng` stops it.
  debootstrap apt-cacher-ng wget                                       # deploy/e2e: a Debian root through a package proxy
  fdisk e2fsprogs                                                      # deploy/e2e: sfdisk, mkfs.ext4 -d (GRUB: the VM's own)
  openssh-client                                                       # deploy/e2e: SSH into the installed VMs
  lintian                                                              # packaging/lintian.sh: mvn verify checks the .debs
  systemd-container                                                    # systemd-nspawn: the .debs under a real systemd (deploy/e2e/packages-systemd.sh)
  chromium chromium-driver                                             # headless Chromium + chromedriver: the dashboard's browser tests
  libnss3-tools                                                        # certutil: the browser tests import the dashboard CA as an operator does
)
command -v java >/dev/null || packages+=(openjdk-17-jdk-headless)
command -v mvn >/dev/null || packages+=(maven)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
echo "install-deps: all packages present"
