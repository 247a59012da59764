#!/bin/bash
# Prepares what the three .debs are made of, under TARGET_DIR/deb, for jdeb (packaging/pom.xml):
#   control/<package>/   control files from packaging/src/deb/<package>, with the Debian version and maintainer
#   doc/                 copyright; changelog.gz (one entry, this build)
#   man/<package>/       its man pages, gzipped as Debian wants them (gzip -9n: no name, no time stamp): the
#                        CLI's section 1, the daemons' section 8
#   completion/virtfleet the bash completion, without its #! line (bash-completion sources it)
# The Debian version of a -SNAPSHOT build is VERSION~TIMESTAMP (0.1.0~20261207093000), which sorts below the
# release 0.1.0 and above every earlier build.
#
# Usage: stage.sh VERSION TIMESTAMP MAINTAINER TARGET_DIR   (TIMESTAMP: yyyyMMddHHmmss, UTC)
set -euo pipefail

version=$1
timestamp=$2
maintainer=$3
target=$4
here=$(dirname -- "$(readlink -f -- "${BASH_SOURCE[0]}")")
src=$here/src/deb
out=$target/deb

if [[ ! $timestamp =~ ^[0-9]{14}$ ]]; then
    echo "stage.sh: TIMESTAMP '$timestamp' is not yyyyMMddHHmmss" >&2
    exit 2
fi
case $version in
    *-SNAPSHOT) deb_version=${version%-SNAPSHOT}~$timestamp ;;
    *) deb_version=$version ;;
esac
date=$(date -u -R -d "${timestamp:0:8} ${timestamp:8:2}:${timestamp:10:2}:${timestamp:12:2}")

substitute() {
    sed -e "s|@VERSION@|$deb_version|g" -e "s|@MAINTAINER@|$maintainer|g" -e "s|@DATE@|$date|g" -- "$1"
}

rm -rf -- "$out"
mkdir -p -- "$out/doc" "$out/completion"
for package in virtfleet-agent virtfleet-controller virtfleet; do
    mkdir -p -- "$out/control/$package" "$out/man/$package"
    for f in "$src/$package"/*; do
        name=$(basename -- "$f")
        [[ $name == lintian-overrides ]] && continue
        substitute "$f" > "$out/control/$package/$name"
        chmod --reference="$f" -- "$out/control/$package/$name"
    done
done
cp -- "$src/copyright" "$out/doc/copyright"
substitute "$src/changelog" | gzip -9n > "$out/doc/changelog.gz"

shopt -s nullglob
pages=("$target"/man/man1/*.1 "$target"/man/man8/*.8)
shopt -u nullglob
if [[ ${#pages[@]} -eq 0 ]]; then
    echo "stage.sh: no man pages in $target/man" >&2
    exit 1
fi
for page in "${pages[@]}"; do
    name=$(basename -- "$page")
    case $name in
        *.1) package=virtfleet ;;
        virtfleet-agent.8) package=virtfleet-agent ;;
        virtfleet-controller.8 | virtfleet-controller-*.8) package=virtfleet-controller ;;
        *) echo "stage.sh: $page belongs to no package" >&2; exit 1 ;;
    esac
    gzip -9n < "$page" > "$out/man/$package/$name.gz"
done

sed -e '1{/^#!/d}' -- "$target/virtfleet.bash" > "$out/completion/virtfleet"
echo "stage.sh: Debian version $deb_version, ${#pages[@]} man pages"
