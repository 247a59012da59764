#!/usr/bin/env bash
# Makes a VM's disk from an installed system, as the installer's partitioner and grub-installer leave it, without
# loop devices: an MBR partition table with one bootable Linux partition from 1 MiB to the end of the disk, an ext4
# file system in it made from ROOT with the UUID the system's fstab names (mkfs.ext4 -d, at the partition's offset),
# and GRUB for BIOS: its modules, core image (the system's own grub-mkimage) and configuration in /boot/grub of that
# file system, its boot sector and core image written into the disk's first sectors as grub-bios-setup does.
#
# The image is built beside DISK, then copied over DISK's content (same file, same size; the VM must be off).
#
# usage: disk-image.sh ROOT UUID DISK WORK     (root; needs sfdisk (fdisk) and mkfs.ext4 (e2fsprogs); ROOT has grub-pc
#                                              and a kernel installed)
set -euo pipefail

ROOT=${1:?usage: disk-image.sh ROOT UUID DISK WORK}
UUID=${2:?}
DISK=${3:?}
WORK=${4:?}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$here/chroot.sh"

OFFSET=$((1024 * 1024)) # the partition's start, as the installer aligns it
size=$(stat -c %s "$DISK")
(( size > 2 * OFFSET )) || { echo "disk-image: $DISK is too small ($size bytes)" >&2; exit 1; }
image=$WORK/disk.img
rm -f "$image"
truncate -s "$size" "$image"

printf 'label: dos\nstart=%d, type=83, bootable\n' $((OFFSET / 512)) | sfdisk -q "$image"

# What grub-install puts into /boot/grub: the modules, the boot and core images, and (update-grub's) grub.cfg.
kernel=$(cd "$ROOT/boot" && ls vmlinuz-* | sort -V | tail -n 1)
version=${kernel#vmlinuz-}
[[ -f $ROOT/boot/initrd.img-$version ]] || { echo "disk-image: no initrd.img-$version in $ROOT/boot" >&2; exit 1; }
install -d "$ROOT/boot/grub/i386-pc"
cp "$ROOT"/usr/lib/grub/i386-pc/*.mod "$ROOT"/usr/lib/grub/i386-pc/*.lst "$ROOT"/usr/lib/grub/i386-pc/boot.img \
  "$ROOT/boot/grub/i386-pc/"
chroot_run "$ROOT" grub-mkimage -O i386-pc -d /usr/lib/grub/i386-pc -o /boot/grub/i386-pc/core.img \
  -p '(hd0,msdos1)/boot/grub' biosdisk part_msdos ext2
# The kernel options grub-installer wrote into /etc/default/grub (the preseed's and the installer's). The file is a
# shell script of the VM's: it is read by a shell in the VM's root (as update-grub would), never by this machine's.
cmdline=$(chroot_run "$ROOT" /bin/sh -c \
  '. /etc/default/grub && printf "%s %s" "${GRUB_CMDLINE_LINUX:-}" "${GRUB_CMDLINE_LINUX_DEFAULT:-}"')
cat > "$ROOT/boot/grub/grub.cfg" <<CFG
# Written by virtfleet's deploy/e2e/disk-image.sh, as update-grub would for this one kernel.
serial --unit=0 --speed=115200
terminal_input serial console
terminal_output serial console
set timeout=1
set default=0
insmod part_msdos
insmod ext2
search --no-floppy --fs-uuid --set=root $UUID
menuentry 'Debian GNU/Linux' {
	linux /boot/$kernel root=UUID=$UUID ro $cmdline
	initrd /boot/initrd.img-$version
}
CFG

# The file system of the partition, made from ROOT (no mount, so no loop device).
mkfs.ext4 -q -F -U "$UUID" -E offset=$OFFSET -d "$ROOT" "$image" "$(( (size - OFFSET) / 1024 ))k"

# GRUB's boot sector and core image, written as grub-bios-setup embeds them on a hard disk (it cannot be run on an
# image file that is no mounted disk: it insists on guessing the disk of its -d directory): boot.img's code into the
# MBR before the disk signature and partition table, its boot drive check replaced by two NOPs (grub-bios-setup
# does so for hard disks), and core.img from sector 1 on, in the gap before the partition, where boot.img's
# kernel_sector (1) and core.img's own block list (start 2, its length set by grub-mkimage) look for it.
boot=$ROOT/boot/grub/i386-pc/boot.img
core=$ROOT/boot/grub/i386-pc/core.img
(( $(stat -c %s "$core") <= OFFSET - 512 )) || { echo "disk-image: core.img does not fit before the partition" >&2; exit 1; }
dd if="$boot" of="$image" bs=440 count=1 conv=notrunc status=none
printf '\x90\x90' | dd of="$image" bs=1 seek=$((0x66)) conv=notrunc status=none
dd if="$core" of="$image" bs=512 seek=1 conv=notrunc status=none

# Over the VM's disk: emptied first (same file), then only the image's data blocks written.
truncate -s 0 "$DISK"
truncate -s "$size" "$DISK"
dd if="$image" of="$DISK" bs=4M conv=notrunc,sparse status=none
rm -f "$image"
