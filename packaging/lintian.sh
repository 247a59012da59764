#!/bin/bash
# Runs lintian on virtfleet's three packages and fails on any error or warning that the package does not
# override (each override, in packaging/src/deb/<package>/lintian-overrides, says why). Informational tags
# and pedantic ones are printed but do not fail.
#
# Usage: lintian.sh [DEB_DIR]   (default: packaging/target, where the build writes them)
# Exit status: 0 clean; 1 lintian found an error or an unjustified warning; 2 it cannot run.
# Needs lintian (Debian package 'lintian').
set -euo pipefail

here=$(dirname -- "$(readlink -f -- "${BASH_SOURCE[0]}")")
dir=${1:-$here/target}

if ! command -v lintian >/dev/null 2>&1; then
    echo "lintian.sh: lintian not found; install the 'lintian' package" >&2
    exit 2
fi
debs=()
for package in virtfleet-agent virtfleet-controller virtfleet; do
    if [[ ! -f $dir/$package.deb ]]; then
        echo "lintian.sh: $dir/$package.deb not found; build it with 'mvn -B package -DskipTests'" >&2
        exit 2
    fi
    debs+=("$dir/$package.deb")
done

status=0
lintian --fail-on error,warning --display-info --show-overrides --tag-display-limit 0 "${debs[@]}" || status=$?
if [[ $status -ne 0 ]]; then
    echo "lintian.sh: lintian rejected the packages (exit $status)" >&2
    exit 1
fi
echo "lintian.sh: virtfleet-agent, virtfleet-controller, virtfleet: no error, no unjustified warning"
