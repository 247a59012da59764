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
        "Lift the hold (admin): the controller converges every host to the records again, and hosts that booted",
        "during the hold start the VMs their records home there.",
        "So the release is refused (exit 1, nothing changed) while a VM runs on a host other than its recorded",
        "home: its home would start a second copy on the same disk. Look first: 'virtfleet drift' lists them.",
        "Then choose:",
        "  --follow-running  each VM that runs on exactly one ready host gets its record there (one commit each,",
        "                    you as author). One running on several hosts, or on a host that is not ready, is not",
        "                    followed: settle it by hand (stop the extra copy), or add --records-win.",
        "  --records-win     such VMs keep their recorded home; one that does not run there is recorded as not",
        "                    wanted running (one commit each), so no host starts a second copy. Nothing is",
        "                    stopped: stop it where it runs, then 'virtfleet vm start VM' (or move it).",
        "Whatever the flags, the release is also refused while:",
        "  - an enrolled host has not registered since the restart, is silent, or its domain list is stale: a VM",
        "    running there unseen counts as running nowhere and would be started again on its recorded home.",
        "    Wait for it to report ('virtfleet hosts'), or name it with --absent HOST if you know it runs no",
        "    domain (powered off, fenced by hand). Hosts enrolled or re-enrolled after the backup are refused by",
        "    the restored controller: enroll them again first ('virtfleet agent token create --host H --reenroll').",
        "  - a fenced host runs VMs recorded on another host (--records-win included): released, it would stand",
        "    down and destroy them. Check that they run nowhere else, 'virtfleet host unfence HOST' (allowed while",
        "    holding), then release (--follow-running gives their records that host).",
        "VMs that run nowhere are started on their recorded home, as the records say. Recorded in the audit log",
        "with your name.",
        "",
        "Examples:",
        "  virtfleet drift                                  look at what differs",
        "  virtfleet restore-hold release --follow-running  records follow the VMs, then release",
        "  virtfleet restore-hold release                   release when every VM runs on its recorded home",
        "  virtfleet restore-hold release --records-win     keep the records; stop nothing, start no second copy",
        "  virtfleet restore-hold release --absent hv7      hv7 is powered off: release without its report",
        "",
        "Exit codes: 0 released; 1 refused (not holding, VMs run away from their home, hosts unseen or a fenced host",
        "running VMs recorded elsewhere: listed); 2 bad --absent; 3 no controller."})
    static final class Release implements Callable<Integer> {
        @ParentCommand
        RestoreHoldCommand parent;

        @Spec
        CommandSpec spec;

        @Option(names = "--follow-running", description = "Before releasing, move the record of each VM that runs on"
                + " exactly one ready host other than its recorded home to that host.")
        boolean follow;

        @Option(names = "--records-win", description = "Release although VMs run away from their recorded home (those"
                + " --follow-running does not follow): their records keep their home and, where they do not run there,"
                + " no longer want them running. Nothing is stopped.")
        boolean recordsWin;

        @Option(names = "--absent", paramLabel = "HOST", description = "An enrolled host that does not report to the"
                + " restored controller and that you assert runs no domain (powered off, fenced by hand): the release"
                + " goes ahead without its report, and VMs no reporting host runs are started as the records say. Repeatable. Never name a host that may still run VMs.")
        java.util.List<String> absent = new java.util.ArrayList<>();

        @Override
        public Integer call() {
            ReleaseRestoreHoldResponse r;
            try (ControllerClient client = parent.root.connect()) {
                r = client.fleet().releaseRestoreHold(ReleaseRestoreHoldRequest.newBuilder().setFollowRunning(follow)
                        .setRecordsWin(recordsWin).addAllAbsent(absent).build());
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
