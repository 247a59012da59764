package io.virtfleet.controller.cli;


import io.grpc.StatusRuntimeException;
import io.virtfleet.common.cli.ExitCode;
import io.virtfleet.common.validation.Names;
import io.virtfleet.proto.v1.CreateVmRequest;
import io.virtfleet.proto.v1.GetVmRequest;
import io.virtfleet.proto.v1.PlacementExplanation;
import io.virtfleet.proto.v1.VmProgress;
import java.io.PrintWriter;
import java.util.Iterator;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;

/**
 * {@code virtfleet vm create}: the runbook's host choice, disk, definition and start as one command, with
 * each step shown as it happens.
 */
@Command(name = "create", description = {
    "Create a VM: place it on the least loaded host that fits, create its disk, define it, start it.",
    "Each step is printed as it happens. If a host refuses a step (a disk of that name exists with another",
    "size, a pool is missing...), everything done so far is undone. --dry-run shows where it would go and why."})
final class VmCreateCommand implements Callable<Integer> {
    @ParentCommand
    VmCommand vm;

    @Spec
    CommandSpec spec;

    @Parameters(paramLabel = "NAME", description = "VM name: lowercase letters, digits and '-', at most 63 characters.")
    String name;

    @Mixin
    SpecOptions options;

    @Option(names = "--dry-run", description = "Show the plan and every host's verdict; change nothing.")
    boolean dryRun;

    @Override
    public Integer call() {
        CreateVmRequest request = CreateVmRequest.newBuilder().setSpec(options.spec(Names.vmName("NAME", name)))
                .setDryRun(dryRun).build();
        PrintWriter out = spec.commandLine().getOut();
        PlacementExplanation[] placement = new PlacementExplanation[1];
        try (ControllerClient client = vm.root.connect()) {
            Iterator<VmProgress> steps = client.fleetLong().createVm(request);
            Iterator<VmProgress> watched = new Iterator<>() {
                @Override
                public boolean hasNext() {
                    return steps.hasNext();
                }

                @Override
                public VmProgress next() {
                    VmProgress p = steps.next();
                    if (p.hasPlacement()) {
                        placement[0] = p.getPlacement();
                    }
                    return p;
                }
            };
            Progress.print(watched, out, vm.root.output);
            if (dryRun && placement[0] != null && vm.root.output != Output.json) {
                PlaceCommand.printVerdicts(placement[0], out);
            }
            if (!dryRun && vm.root.output != Output.json) {
                var created = client.fleet().getVm(GetVmRequest.newBuilder().setName(name).build());
                out.printf(Locale.ROOT, "%s: on %s, %s, disk %s, network %s%n", name, created.getHomeHost(),
                        VmCommand.state(created), io.virtfleet.common.units.Bytes.human(created.getSpec().getDiskBytes()),
                        VmCommand.network(created.getSpec()));
            }
            out.flush();
            return ExitCode.OK;
        } catch (StatusRuntimeException e) {
            // Every host's verdict before the error, when no host fits; the common handler words the error and
            // picks the exit code (6 for no host fits).
            if (placement[0] != null && vm.root.output != Output.json) {
                PlaceCommand.printVerdicts(placement[0], out);
                out.flush();
            }
            throw e;
        }
    }

}
