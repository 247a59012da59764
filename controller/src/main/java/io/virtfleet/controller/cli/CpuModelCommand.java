package io.virtfleet.controller.cli;

import io.virtfleet.common.cli.ExitCode;
import io.virtfleet.proto.v1.FleetCpuModel;
import io.virtfleet.proto.v1.GetCpuModelRequest;
import io.virtfleet.proto.v1.HostCpuVerdict;
import io.virtfleet.proto.v1.RecomputeCpuModelRequest;
import java.io.PrintWriter;
import java.time.Instant;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;

/** {@code virtfleet cpu-model}: the fleet CPU model, each host's verdict on it, and the lever that lowers it. */
@Command(name = "cpu-model", description = {
    "Show the fleet CPU model: the guest CPU every new VM definition names, so a VM runs and moves the same",
    "on hosts of different generations. It is libvirt's baseline of the CPUs of the hosts that were ready when",
    "the first VM was created. A host that cannot run it is refused by placement (and said so by 'host show');",
    "the model is never lowered by itself. --recompute computes it again from the hosts ready now and stores it:",
    "new definitions name the new model, VMs defined before keep theirs until they are defined again.",
    "",
    "Examples:",
    "  virtfleet cpu-model",
    "  virtfleet cpu-model --recompute --dry-run",
    "  virtfleet cpu-model --recompute"})
final class CpuModelCommand implements Callable<Integer> {
    @ParentCommand
    VirtfleetCli root;

    @Spec
    CommandSpec spec;

    @Option(names = "--recompute", description = "Compute the model again from the ready hosts' CPUs and store it (admin).")
    boolean recompute;

    @Option(names = "--dry-run", description = "With --recompute: show the model it would store and each host's verdict, store nothing.")
    boolean dryRun;

    @Override
    public Integer call() {
        if (dryRun && !recompute) {
            spec.commandLine().getErr().println("--dry-run goes with --recompute");
            return ExitCode.USAGE;
        }
        FleetCpuModel model;
        try (ControllerClient client = root.connect()) {
            model = recompute
                    ? client.fleet().recomputeCpuModel(RecomputeCpuModelRequest.newBuilder().setDryRun(dryRun).build())
                    : client.fleet().getCpuModel(GetCpuModelRequest.getDefaultInstance());
        }
        PrintWriter out = spec.commandLine().getOut();
        if (root.output == Output.json) {
            out.println(Json.of(model));
            out.flush();
            return ExitCode.OK;
        }
        if (model.getCpuXml().isEmpty()) {
            out.println("No fleet CPU model yet: definitions name none. The first VM create computes it from the CPUs");
            out.println("the ready hosts report (hosts on libvirt's test driver report none).");
        } else {
            out.printf("%-12s %s%n", "Model:", model.getSummary());
            out.printf("%-12s %s%n", "SHA-256:", model.getSha256());
            if (!model.getCommit().isEmpty()) {
                out.printf("%-12s %s by %s at %s: %s%n", "Stored:", model.getCommit().substring(0, 12),
                        model.getComputedBy(), Instant.ofEpochMilli(model.getComputedAtUnixMs()),
                        model.getMessage().lines().findFirst().orElse(""));
            }
        }
        if (model.getHostsCount() > 0) {
            out.println();
            Table t = new Table("HOST", "RUNS IT", "HOST CPU", "WHY NOT");
            for (HostCpuVerdict h : model.getHostsList()) {
                t.row(h.getHost(), model.getCpuXml().isEmpty() ? "-" : h.getProblem().isEmpty() ? "yes" : "no",
                        h.getHostCpu(), h.getProblem());
            }
            t.print(out);
        }
        if (!model.getNotice().isEmpty()) {
            out.println();
            out.println(model.getNotice());
        }
        out.flush();
        return ExitCode.OK;
    }
}
