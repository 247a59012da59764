package io.virtfleet.controller.cli;

import io.virtfleet.common.cli.ExitCode;
import io.virtfleet.proto.v1.SyncHostsRequest;
import io.virtfleet.proto.v1.VmProgress;
import java.util.Iterator;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;

/** {@code virtfleet sync}: the runbook's "git pull + virsh define on every hypervisor", all hosts at once. */
@Command(name = "sync", description = {
    "Tell every host to pull the definitions repository now and define what changed: each host's",
    "replicas (VMs homed elsewhere, defined with autostart off, never started) are brought in step, and",
    "replicas changed by hand are defined again unless they run. One line per host as it answers;",
    "an unreachable host is reported and catches up by itself when it is back. Hosts also sync by",
    "themselves after every change: this is for seeing it happen, or after fixing a host.",
    "",
    "Example: virtfleet sync"})
final class SyncCommand implements Callable<Integer> {
    @ParentCommand
    VirtfleetCli root;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() {
        try (ControllerClient client = root.connect()) {
            Iterator<VmProgress> steps = client.fleetLong().syncHosts(SyncHostsRequest.getDefaultInstance());
            Progress.print(steps, spec.commandLine().getOut(), root.output);
        }
        return ExitCode.OK;
    }
}
