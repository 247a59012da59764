package io.virtfleet.controller.cli;

import io.virtfleet.common.cli.ExitCode;
import io.virtfleet.proto.v1.MisplacedVm;
import io.virtfleet.proto.v1.ReleaseRestoreHoldRequest;
import io.virtfleet.proto.v1.ReleaseRestoreHoldResponse;
import java.io.PrintWriter;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;

/** {@code virtfleet restore-hold release}: lifts the hold of a controller restored from a backup. */
@Command(name = "restore-hold", description = {
    "A controller restored from a backup (virtfleet-controller restore) starts holding: its records may be",
    "older than what runs (a VM moved or failed over after the backup has its old home in them), so it",
    "changes no domain on any host (no start, stop, define, undefine, move, fence or failover) until an admin",
    "releases the hold. 'virtfleet drift' shows the hold and every VM that does not run on exactly its",
    "recorded home."},
    subcommands = {RestoreHoldCommand.Release.class})
final class RestoreHoldCommand {
    @ParentCommand
    VirtfleetCli root;

    @Command(name = "release", description = {
        "Lift the hold (admin): the controller converges every host to the records again.",
        "RISK: a VM whose record names a home other than where it runs is then stopped where it runs and",
        "started on its recorded home, for a raw disk on that host's copy as it was at the backup: its data since",
        "is lost. Look first: 'virtfleet drift' lists those VMs. With --follow-running, each VM that runs on",
        "exactly one ready host other than its recorded home first gets its record there (one commit each, you",
        "as author); VMs running on no host or on several are listed and left for you to settle by hand (stop",
        "the extra copy; or start it on one host) before you release. Recorded in the audit log with your name.",
        "",
        "Examples:",
        "  virtfleet drift                                  look at what differs",
        "  virtfleet restore-hold release --follow-running  records follow the VMs, then release",
        "  virtfleet restore-hold release                   release, records as restored"})
    static final class Release implements Callable<Integer> {
        @ParentCommand
        RestoreHoldCommand parent;

        @Spec
        CommandSpec spec;

        @Option(names = "--follow-running", description = "Before releasing, move the record of each VM that runs on"
                + " exactly one ready host other than its recorded home to that host.")
        boolean follow;

        @Override
        public Integer call() {
            ReleaseRestoreHoldResponse r;
            try (ControllerClient client = parent.root.connect()) {
                r = client.fleet().releaseRestoreHold(ReleaseRestoreHoldRequest.newBuilder().setFollowRunning(follow).build());
            }
            PrintWriter out = spec.commandLine().getOut();
            if (parent.root.output == Output.json) {
                out.println(Json.of(r));
            } else {
                for (MisplacedVm m : r.getFollowedList()) {
                    out.println("Record of " + m.getVm() + " follows it to " + m.getRunningOn(0) + " (was " + m.getRecordedHome() + ").");
                }
                for (MisplacedVm m : r.getLeftList()) {
                    out.println("Left as recorded: " + m.getVm() + ": " + m.getDetail());
                }
                out.println("Hold released: the controller converges the hosts to the records again.");
            }
            out.flush();
            return ExitCode.OK;
        }
    }
}
