#!/bin/bash
# Checks virtfleet's systemd units with 'systemd-analyze verify', without a running systemd and
# without installing anything: the units, the launchers they start (deploy/bin) and the host's
# stock units (sysinit.target, network-online.target, ...) are copied into a temporary directory
# that is passed as --root, laid out as installed (units in /etc/systemd/system, launchers in
# /usr/bin). systemd-analyze then also checks that every ExecStart= program exists and is
# executable.
#
# Usage: verify-units.sh [UNIT_DIR]   (default UNIT_DIR: the directory of this script)
# Exit status: 0 if every *.service in UNIT_DIR is accepted with no message at all; 1 if
# systemd-analyze reports any error or warning (printed on stderr); 2 if it cannot run.
# Needs systemd-analyze (Debian package 'systemd'); does not need root.
set -euo pipefail

here=$(dirname -- "$(readlink -f -- "${BASH_SOURCE[0]}")")
unit_dir=${1:-$here}
bin_dir=$(dirname -- "$here")/bin

if ! command -v systemd-analyze >/dev/null 2>&1; then
    echo "verify-units.sh: systemd-analyze not found; install the 'systemd' package" >&2
    exit 2
fi
shopt -s nullglob
unit_files=("$unit_dir"/*.service)
launchers=("$bin_dir"/*)
shopt -u nullglob
if [[ ${#unit_files[@]} -eq 0 ]]; then
    echo "verify-units.sh: no *.service files in $unit_dir" >&2
    exit 2
fi

root=$(mktemp -d "${TMPDIR:-/tmp}/virtfleet-verify-units.XXXXXX")
trap 'rm -rf -- "$root"' EXIT

# Stock units from the host, where distributions install them (/lib is /usr/lib on merged-/usr).
stock_found=no
for dir in /usr/lib/systemd/system /lib/systemd/system; do
    if [[ -d $dir && ! -e $root$dir ]]; then
        real=$(readlink -f -- "$dir")
        if [[ $real != "$dir" && -e $root$real ]]; then
            continue
        fi
        mkdir -p -- "$root$(dirname -- "$dir")"
        cp -a -- "$real" "$root$dir"
        stock_found=yes
    fi
done
if [[ $stock_found != yes ]]; then
    echo "verify-units.sh: no stock systemd units found in /usr/lib/systemd/system;" \
        "install the 'systemd' package" >&2
    exit 2
fi

mkdir -p -- "$root/etc/systemd/system" "$root/usr/bin"
cp -- "${unit_files[@]}" "$root/etc/systemd/system/"
if [[ ${#launchers[@]} -gt 0 ]]; then
    cp -p -- "${launchers[@]}" "$root/usr/bin/"
fi

names=()
for f in "${unit_files[@]}"; do
    names+=("$(basename -- "$f")")
done

status=0
output=$(SYSTEMD_COLORS=0 SYSTEMD_PAGER=cat systemd-analyze verify --root="$root" --man=no \
    --generators=no --recursive-errors=no "${names[@]}" 2>&1) || status=$?
# Show the units' own paths, not the temporary copies.
output=${output//"$root/etc/systemd/system/"/"$unit_dir/"}

if [[ $status -ne 0 || -n $output ]]; then
    [[ -n $output ]] && printf '%s\n' "$output" >&2
    echo "verify-units.sh: systemd-analyze verify rejected ${names[*]} (exit $status)" >&2
    exit 1
fi
echo "verify-units.sh: ${names[*]} OK"
