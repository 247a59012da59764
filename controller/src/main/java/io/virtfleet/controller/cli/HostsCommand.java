package io.virtfleet.controller.cli;

import io.virtfleet.common.units.Bytes;
import io.virtfleet.common.units.Durations;
import io.virtfleet.controller.registry.Domains;
import io.virtfleet.controller.registry.HostStates;
import io.virtfleet.proto.v1.DomainInfo;
import io.virtfleet.proto.v1.Host;
import io.virtfleet.proto.v1.HostResources;
import io.virtfleet.proto.v1.ListHostsRequest;
import io.virtfleet.proto.v1.ListHostsResponse;
import java.io.PrintWriter;
import java.time.Duration;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

/** {@code virtfleet hosts}: the table the runbook's operator built from virsh list and htop on every host. */
@Command(name = "hosts", description = {
    "List every host, least loaded first (1-minute load per hardware thread); hosts that are not ready last.",
    "",
    "Columns: CORES physical/threads; LOAD 1/5/15-minute load average; CPU%% busy since the previous",
    "heartbeat; MEMORY used/total (used = total - available); VMS running/defined libvirt domains;",
    "SEEN time since the last heartbeat."
})
final class HostsCommand implements Callable<Integer> {
    @ParentCommand
    VirtfleetCli root;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() {
        ListHostsResponse hosts;
        try (ControllerClient client = root.connect()) {
            hosts = client.fleet().listHosts(ListHostsRequest.getDefaultInstance());
        }
        PrintWriter out = spec.commandLine().getOut();
        if (root.output == Output.json) {
            out.println(Json.of(hosts));
            out.flush();
            return 0;
        }
        if (!hosts.getRestoreHoldBackupTakenAt().isEmpty()) {
            out.println("HOLDING after a restore from a backup taken at " + hosts.getRestoreHoldBackupTakenAt()
                    + ": no domain is changed on any host (virtfleet drift; virtfleet restore-hold release --help).");
        }
        if (hosts.getHostsCount() == 0) {
            out.println("No hosts have registered yet. Start virtfleet-agent on a hypervisor with --controller pointing here.");
            out.flush();
            return 0;
        }
        Table table = new Table("HOST", "STATE", "CORES", "LOAD 1/5/15", "CPU%", "MEMORY", "VMS", "SEEN");
        for (Host h : hosts.getHostsList()) {
            HostResources r = h.getReport().getResources();
            table.row(h.getName(),
                    HostStates.label(h.getState()),
                    r.getPhysicalCores() + "/" + r.getLogicalThreads(),
                    String.format(Locale.ROOT, "%.2f %.2f %.2f", r.getLoadAverage1M(), r.getLoadAverage5M(), r.getLoadAverage15M()),
                    String.format(Locale.ROOT, "%.1f", r.getCpuUtilisationPercent()),
                    memory(r),
                    running(h) + "/" + h.getReport().getDomainsCount(),
                    Durations.shortText(Duration.ofMillis(h.getLastSeenAgeMs())) + " ago");
        }
        table.print(out);
        return 0;
    }

    static String memory(HostResources r) {
        return Bytes.human(r.getMemoryTotalBytes() - r.getMemoryAvailableBytes()) + " / " + Bytes.human(r.getMemoryTotalBytes());
    }

    static long running(Host h) {
        return h.getReport().getDomainsList().stream().map(DomainInfo::getState).filter(Domains::active).count();
    }
}
