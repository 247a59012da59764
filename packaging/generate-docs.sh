#!/bin/bash
# Writes, from the picocli definitions of the commands, the AsciiDoc man pages (target/man-adoc, turned into
# troff by the asciidoctor plugin): man1/ virtfleet and each of its subcommands; man8/ the daemons
# virtfleet-controller (and its subcommands) and virtfleet-agent, in the daemons' section 8, which also keeps
# virtfleet-agent(8) apart from the CLI's `virtfleet agent`, virtfleet-agent(1). And the bash completion of
# virtfleet (target/virtfleet.bash).
# Run by the build (packaging/pom.xml) with the class path of the controller and the agent.
#
# Usage: generate-docs.sh CLASSPATH TARGET_DIR
# picocli's generators report a failure on stderr yet exit 0: any output there fails this script.
set -euo pipefail

classpath=$1
target=$2

run() {
    local err=$target/generate-docs.err
    if ! java -cp "$classpath" "$@" >/dev/null 2>"$err" || [[ -s $err ]]; then
        cat -- "$err" >&2
        echo "generate-docs.sh: $1 failed" >&2
        exit 1
    fi
    rm -f -- "$err"
}

rm -rf -- "$target/man-adoc" "$target/virtfleet.bash"
mkdir -p -- "$target/man-adoc"
run picocli.codegen.docgen.manpage.ManPageGenerator --outdir="$target/man-adoc/man1" \
    io.virtfleet.controller.cli.VirtfleetCli
run picocli.codegen.docgen.manpage.ManPageGenerator --outdir="$target/man-adoc/man8" \
    io.virtfleet.controller.ControllerMain io.virtfleet.agent.AgentMain
# picocli titles every page "= name(1)"; asciidoctor takes the section from that title.
for page in "$target"/man-adoc/man8/*.adoc; do
    sed -i -e 's/^\(= [a-z0-9-]*\)(1)$/\1(8)/' -- "$page"
    grep -q '^= [a-z0-9-]*(8)$' -- "$page" || { echo "generate-docs.sh: no title in $page" >&2; exit 1; }
done
run picocli.AutoComplete --force --name=virtfleet --completionScript="$target/virtfleet.bash" \
    io.virtfleet.controller.cli.VirtfleetCli
