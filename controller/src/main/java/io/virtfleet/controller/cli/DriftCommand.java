package io.virtfleet.controller.cli;

import io.virtfleet.common.cli.ExitCode;
import io.virtfleet.proto.v1.Drift;
import io.virtfleet.proto.v1.DriftReport;
import io.virtfleet.proto.v1.GetDriftRequest;
import io.virtfleet.proto.v1.HostState;
import io.virtfleet.proto.v1.HostSync;
import java.io.PrintWriter;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;

/** {@code virtfleet drift}: where the hosts differ from the definitions repository. */
@Command(name = "drift", description = {
    "List hosts and domains that differ from the definitions repository:",
    "  missing          a host lacks a definition it should hold (its VMs, and every replicated VM)",
    "  extra            a host holds a domain the repository does not want there",
    "  stale            a host holds an older definition than the repository's",
    "  changed-by-hand  the definition was changed on the host (virsh edit) since virtfleet defined it",
    "The reconciler repairs what it can by itself (REPAIR yes); a running domain changed by hand is",
    "reported, not overwritten (REPAIR no). Domains virtfleet never defined and no VM is named after",
    "(made by hand before virtfleet) are left alone and only counted; --all lists them.",
    "Hosts behind the repository's commit are listed first; unreachable hosts are listed, not judged.",
    "A controller restored from a backup says first that it holds, and lists each VM that does not run on",
    "exactly its recorded home (virtfleet restore-hold release --help).",
    "",
    "Examples:",
    "  virtfleet drift",
    "  virtfleet drift --exit-code && echo 'every host in step'",
    "  virtfleet drift --all                 also the domains virtfleet does not manage",
    "  virtfleet drift -o json"})
final class DriftCommand implements Callable<Integer> {
    @ParentCommand
    VirtfleetCli root;

    @Spec
    CommandSpec spec;

    @Option(names = "--exit-code", description = "Exit with 7 when any drift or host behind is found (0 otherwise), as git diff --exit-code.")
    boolean exitCode;

    @Option(names = "--all", description = "Also list domains virtfleet does not manage (never defined by it, named after no VM).")
    boolean all;

    @Override
    public Integer call() {
        DriftReport report;
        try (ControllerClient client = root.connect()) {
            report = client.fleet().getDrift(GetDriftRequest.getDefaultInstance());
        }
        PrintWriter out = spec.commandLine().getOut();
        if (root.output == Output.json) {
            out.println(Json.of(report));
        } else {
            print(report, out, all);
        }
        out.flush();
        boolean differs = report.getRestoreHold().getHolding()
                || report.getDriftsList().stream().anyMatch(d -> !d.getForeign())
                || report.getHostsList().stream().anyMatch(HostSync::getBehind);
        return exitCode && differs ? ExitCode.DRIFT : ExitCode.OK;
    }

    private static void print(DriftReport report, PrintWriter out, boolean all) {
        if (report.getRestoreHold().getHolding()) {
            io.virtfleet.proto.v1.RestoreHoldReport hold = report.getRestoreHold();
            out.println("HOLDING after a restore from a backup taken at " + hold.getBackupTakenAt()
                    + ": no domain is changed on any host until an admin releases the hold (virtfleet restore-hold release --help).");
            if (hold.getMisplacedCount() == 0) {
                out.println("Every VM runs on exactly its recorded home.");
            } else {
                Table t = new Table("VM", "RECORDED HOME", "RUNNING ON", "FOLLOWABLE", "DETAIL");
                for (io.virtfleet.proto.v1.MisplacedVm m : hold.getMisplacedList()) {
                    t.row(m.getVm(), m.getRecordedHome(), m.getRunningOnCount() == 0 ? "-" : String.join(",", m.getRunningOnList()),
                            m.getFollowable() ? "yes" : "no", m.getDetail());
                }
                t.print(out);
            }
            out.println();
        }
        String head = abbreviate(report.getHeadCommit());
        long behind = report.getHostsList().stream().filter(HostSync::getBehind).count();
        out.printf(Locale.ROOT, "Definitions at %s; %d of %d hosts in step.%n", head,
                report.getHostsCount() - behind, report.getHostsCount());
        if (behind > 0) {
            Table t = new Table("HOST", "STATE", "SYNCED", "LAST ERROR");
            for (HostSync h : report.getHostsList()) {
                if (h.getBehind()) {
                    t.row(h.getHost(), state(h.getState()), h.getSyncedCommit().isEmpty() ? "never" : abbreviate(h.getSyncedCommit()),
                            h.getSyncError().isEmpty() ? "-" : h.getSyncError());
                }
            }
            t.print(out);
        }
        java.util.List<Drift> shown = report.getDriftsList().stream().filter(d -> all || !d.getForeign()).toList();
        long foreign = report.getDriftsList().stream().filter(Drift::getForeign).count();
        if (shown.isEmpty()) {
            out.println("No domain differs from the repository.");
        } else {
            out.println();
            Table t = new Table("HOST", "VM", "DRIFT", "RUNNING", "REPAIR", "DETAIL");
            for (Drift d : shown) {
                t.row(d.getHost(), d.getVm(), kind(d), d.getRunning() ? "yes" : "no", d.getRepairable() ? "yes" : "no", d.getDetail());
            }
            t.print(out);
        }
        if (foreign > 0 && !all) {
            out.println(foreign + " domain" + (foreign == 1 ? "" : "s") + " not managed by virtfleet left alone (--all lists them).");
        }
    }

    static String kind(Drift d) {
        return d.getKind().name().substring("DRIFT_KIND_".length()).toLowerCase(Locale.ROOT).replace('_', '-');
    }

    private static String state(HostState s) {
        return s.name().substring("HOST_STATE_".length()).toLowerCase(Locale.ROOT);
    }

    private static String abbreviate(String commit) {
        return commit.substring(0, Math.min(12, commit.length()));
    }
}
