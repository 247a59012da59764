package io.virtfleet.controller.cli;

import io.virtfleet.common.units.Bytes;
import io.virtfleet.common.units.Durations;
import io.virtfleet.controller.registry.HostStates;
import io.virtfleet.proto.v1.DomainInfo;
import io.virtfleet.proto.v1.GetHostRequest;
import io.virtfleet.proto.v1.Host;
import io.virtfleet.proto.v1.HostResources;
import io.virtfleet.proto.v1.HypervisorInfo;
import io.virtfleet.proto.v1.LibvirtTlsStatus;
import java.io.PrintWriter;
import java.time.Duration;
import java.time.Instant;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

/** {@code virtfleet host show NAME}: everything the controller knows about one host. */
@Command(name = "show", description = {"Show one host: state, resources, hypervisor and every libvirt domain.",
    "Example: virtfleet host show hv2"})
final class HostShowCommand implements Callable<Integer> {
    @ParentCommand
    HostCommand parent;

    @Spec
    CommandSpec spec;

    @Parameters(paramLabel = "NAME", description = "Host name, as listed by 'virtfleet hosts'.")
    String name;

    @Override
    public Integer call() {
        VirtfleetCli root = (VirtfleetCli) spec.root().userObject();
        Host h;
        try (ControllerClient client = root.connect()) {
            h = client.fleet().getHost(GetHostRequest.newBuilder().setName(name).build());
        }
        PrintWriter out = spec.commandLine().getOut();
        if (root.output == Output.json) {
            out.println(Json.of(h));
            out.flush();
            return 0;
        }
        HostResources r = h.getReport().getResources();
        HypervisorInfo hv = h.getReport().getHypervisor();
        field(out, "Host", h.getName());
        field(out, "State", HostStates.label(h.getState()) + " (" + h.getStateReason() + ")");
        field(out, "Fence", fence(h));
        field(out, "Last seen", Durations.shortText(Duration.ofMillis(h.getLastSeenAgeMs())) + " ago ("
                + Instant.ofEpochMilli(h.getLastSeenUnixMs()) + ")");
        field(out, "Agent", h.getAgentId() + " at " + h.getAgentEndpoint() + ", version " + h.getAgentVersion());
        field(out, "Registered", Instant.ofEpochMilli(h.getRegisteredAtUnixMs()).toString());
        field(out, "CPU", r.getCpuModel() + ", " + r.getPhysicalCores() + " cores / " + r.getLogicalThreads() + " threads");
        field(out, "Load 1/5/15", String.format(Locale.ROOT, "%.2f %.2f %.2f, CPU %.1f%% busy",
                r.getLoadAverage1M(), r.getLoadAverage5M(), r.getLoadAverage15M(), r.getCpuUtilisationPercent()));
        field(out, "Memory", HostsCommand.memory(r) + " used (" + Bytes.human(r.getMemoryAvailableBytes()) + " available)");
        field(out, "Images", r.getImagesDirectory() + ": " + Bytes.human(r.getImagesFreeBytes()) + " free of "
                + Bytes.human(r.getImagesTotalBytes()));
        field(out, "Storage tiers", String.join(", ", h.getStorageTiersList()));
        field(out, "Installer", r.getInstallerKernel().isEmpty() ? "none (no direct kernel boot installs here)"
                : r.getInstallerKernel() + ", " + r.getInstallerInitrd());
        field(out, "Guest CPU", hostCpu(h.getReport().getCpu()));
        field(out, "Fleet CPU", fleetCpu(h));
        if (hv.getError().isEmpty()) {
            field(out, "Hypervisor", hv.getType() + " " + hv.getVersion() + ", libvirt " + hv.getLibvirtVersion()
                    + " at " + hv.getUri() + " (node: " + hv.getNodeCpus() + " CPUs, " + Bytes.human(hv.getNodeMemoryBytes()) + ")");
        } else {
            field(out, "Hypervisor", "UNAVAILABLE: " + hv.getError());
        }
        String synced = h.getReport().getSyncedCommit();
        field(out, "Definitions", (synced.isEmpty() ? "never synced" : "synced to " + synced.substring(0, Math.min(12, synced.length())))
                + (h.getReport().getSyncError().isEmpty() ? "" : "; last sync failed: " + h.getReport().getSyncError()));
        field(out, "Migration TLS", migrationTls(h.getReport().getLibvirtTls()));
        field(out, "Ceph clients", h.getReport().getCephClientAddressesCount() == 0 ? "none reported"
                : String.join(", ", h.getReport().getCephClientAddressesList()));
        out.println();
        if (h.getReport().getDomainsCount() == 0) {
            out.println("No libvirt domains.");
        } else {
            Table domains = new Table("DOMAIN", "STATE", "VCPUS", "MEMORY", "AUTOSTART", "ROLE");
            for (DomainInfo d : h.getReport().getDomainsList()) {
                domains.row(d.getName(), io.virtfleet.controller.vm.DomainStates.label(d.getState(), "no state"), Integer.toString(d.getVcpus()),
                        Bytes.human(d.getMaxMemoryBytes()), autostart(d), role(d));
            }
            domains.print(out);
        }
        out.flush();
        return 0;
    }

    /**
     * Whether the domain starts with the host: "yes" by the agent once the controller has answered it, "yes (libvirt)"
     * when libvirt's own flag is on (libvirtd starts it at boot, before the agent can stand down), else "no".
     */
    static String autostart(DomainInfo d) {
        if (d.getLibvirtAutostart()) {
            return "yes (libvirt)";
        }
        return d.getAutostart() ? "yes" : "no";
    }

    /** The verdict that the host is lost, in words, or "none". */
    static String fence(Host h) {
        if (!h.hasFence()) {
            return "none";
        }
        io.virtfleet.proto.v1.HostFence f = h.getFence();
        String how = f.getKind() == io.virtfleet.proto.v1.FenceKind.FENCE_KIND_CEPH ? "fenced in Ceph" : "confirmed down";
        String blocklist = f.getAddressesCount() == 0 ? "nothing on Ceph's blocklist"
                : String.join(", ", f.getAddressesList()) + " on Ceph's blocklist until "
                + Instant.ofEpochMilli(f.getExpiresUnixMs());
        return how + " by " + f.getBy() + " at " + Instant.ofEpochMilli(f.getFencedAtUnixMs()) + "; " + blocklist;
    }

    /** The host's libvirt TLS certificate as its agent installed it, and what is wrong with it. */
    static String migrationTls(LibvirtTlsStatus tls) {
        String installed = tls.getAddress().isEmpty() ? "no certificate"
                : "certificate for " + tls.getAddress() + ", valid until " + Instant.ofEpochMilli(tls.getNotAfterUnixMs());
        return tls.getProblem().isEmpty() ? installed : installed + "; " + tls.getProblem();
    }

    /** The host-model CPU libvirt offers guests here, in words, or why it is unknown. */
    private static String hostCpu(io.virtfleet.proto.v1.HostCpu cpu) {
        if (cpu.getHostModelXml().isEmpty()) {
            return "unknown (" + (cpu.getError().isEmpty() ? "not reported" : cpu.getError()) + ")";
        }
        try {
            return io.virtfleet.controller.cpu.CpuModel.parse("host_model_xml", cpu.getHostModelXml()).summary()
                    + " (libvirt's host-model)";
        } catch (IllegalArgumentException e) {
            return "not understood: " + e.getMessage();
        }
    }

    /** Whether the host can run the fleet CPU model, which every new VM's definition names. */
    private static String fleetCpu(Host h) {
        if (h.getFleetCpuModel().isEmpty()) {
            return "no fleet CPU model yet (the first VM create computes it)";
        }
        return h.getFleetCpuProblem().isEmpty() ? "runs the fleet CPU model " + h.getFleetCpuModel()
                : "REFUSED by placement: " + h.getFleetCpuProblem();
    }

    /** Who defined the domain here: virtfleet as a replica or for a VM homed here, or someone else. */
    private static String role(DomainInfo d) {
        if (d.getReplica()) {
            return "replica";
        }
        return d.getSourceSha256().isEmpty() ? "-" : "home";
    }

    private static void field(PrintWriter out, String label, String value) {
        out.printf("%-14s %s%n", label + ":", value);
    }
}
