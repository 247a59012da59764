package io.virtfleet.controller.cli;

import io.virtfleet.common.cli.ExitCode;
import io.virtfleet.common.units.Bytes;
import io.virtfleet.common.validation.Names;
import io.virtfleet.proto.v1.CapacityReport;
import io.virtfleet.proto.v1.CapacityRequest;
import io.virtfleet.proto.v1.HostCapacity;
import io.virtfleet.proto.v1.VmSpec;
import java.io.PrintWriter;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;

/** {@code virtfleet capacity}: how many more VMs of a spec fit, host by host, and what runs out first. */
@Command(name = "capacity", description = {
    "Count how many more VMs with these flags fit, per host and in total, as placement would put them one",
    "after another: what is claimed for VMs and what the hosts report are counted, with the same filters",
    "and limits (memory-ratio, vcpu-overcommit). Each host shows what stops the next VM there: the resource",
    "that runs out first (memory, vcpus, raw-space), spread-group, n-plus-one, or why it takes none (state:",
    "draining or unreachable, storage: tier not served, lan...). Changes nothing.",
    "",
    "With --n-plus-one the count keeps the N+1 reserve: it stops before some host's Ceph-backed VMs (ssd,",
    "sata) could no longer all be restarted on the other ready hosts should that host be lost (first fit,",
    "largest first: a conservative estimate). Without the flag it counts as the controller's placement",
    "does (its n-plus-one setting); --no-n-plus-one counts without the reserve. Keeping the reserve, the",
    "count plays placement's decisions, many at once while the reserve has room to spare and one by one",
    "near its limit: the smaller the VM, the more fit and the longer it takes (at 10,000 hosts about 20 ms",
    "for 8 GiB, 50 ms for 1 GiB and smaller, more for the first counts after the controller starts).",
    "",
    "Examples:",
    "  virtfleet capacity --storage ssd --size 20G --lan 10 --memory 4G --vcpus 2",
    "  virtfleet capacity --storage ssd --size 20G --lan 10 --memory 4G --n-plus-one",
    "  virtfleet capacity --storage raw --size 100G --lan 10 -o json"},
        exitCodeListHeading = "%nExit codes:%n",
        exitCodeList = {"0:at least one VM fits", "2:bad flags",
            "3:the controller could not be reached, or is counting with the N+1 reserve for another caller (one count"
                + " at a time: try again)",
            "5:not allowed", "6:not one VM fits (each host's reason is printed)"})
final class CapacityCommand implements Callable<Integer> {
    @ParentCommand
    VirtfleetCli root;

    @Spec
    CommandSpec spec;

    @Mixin
    SpecOptions options;

    @Option(names = "--n-plus-one", negatable = true,
            description = {"Keep the N+1 reserve (--no-n-plus-one: do not); default: as the controller's placement",
                "(its n-plus-one setting)."})
    Boolean nPlusOne;

    @Option(names = "--name", paramLabel = "NAME", defaultValue = "probe",
            description = "VM name to count with (matters only with spread groups; default: ${DEFAULT-VALUE}).")
    String name;

    @Override
    public Integer call() {
        VmSpec vm = options.spec(Names.vmName("--name", name));
        CapacityRequest.Builder request = CapacityRequest.newBuilder().setSpec(vm);
        if (nPlusOne != null) {
            request.setNPlusOne(nPlusOne);
        }
        CapacityReport report;
        try (ControllerClient client = root.connect()) {
            // Keeping the reserve, a count can take a fraction of a second at thousands of hosts (the first ones
            // after a controller start, or on a slow machine): the long deadline.
            report = client.fleetLong().capacity(request.build());
        }
        PrintWriter out = spec.commandLine().getOut();
        if (root.output == Output.json) {
            out.println(Json.of(report));
        } else {
            print(report, vm, out);
        }
        out.flush();
        return report.getTotal() > 0 ? ExitCode.OK : ExitCode.NO_HOST_FITS;
    }

    static void print(CapacityReport report, VmSpec vm, PrintWriter out) {
        if (report.getHostsCount() == 0) {
            out.println("No hosts are known to the controller.");
            return;
        }
        Table t = new Table("HOST", "FITS", "RUNS OUT FIRST", "WHY");
        Map<String, Integer> limits = new TreeMap<>();
        for (HostCapacity h : report.getHostsList()) {
            t.row(h.getHost(), Long.toString(h.getFits()), h.getLimit(), h.getReason());
            limits.merge(h.getLimit(), 1, Integer::sum);
        }
        t.print(out);
        String tier = vm.getStorage().name().substring("STORAGE_TIER_".length()).toLowerCase(Locale.ROOT);
        out.printf(Locale.ROOT, "Total: %d more %s of %s, %d vCPU%s, %s disk of %s (%s).%n", report.getTotal(),
                report.getTotal() == 1 ? "VM" : "VMs", Bytes.human(vm.getMemoryBytes()), vm.getVcpus(),
                vm.getVcpus() == 1 ? "" : "s", tier, Bytes.human(vm.getDiskBytes()),
                report.getNPlusOne() ? "keeping the N+1 reserve" : "without the N+1 reserve");
        StringBuilder first = new StringBuilder("Stops first: ");
        limits.entrySet().stream().sorted(Map.Entry.<String, Integer>comparingByValue().reversed()
                        .thenComparing(Map.Entry.comparingByKey()))
                .forEach(e -> first.append(first.length() > 13 ? ", " : "").append(e.getKey()).append(" on ")
                        .append(e.getValue()).append(e.getValue() == 1 ? " host" : " hosts"));
        out.println(first.append('.'));
        if (report.getNPlusOnePolicy() && !report.getNPlusOne()) {
            out.println("The controller's placement keeps the N+1 reserve (n-plus-one = on): creates stop at the count"
                    + " of --n-plus-one.");
        }
    }
}
