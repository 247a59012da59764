package io.virtfleet.controller.cli;

import io.virtfleet.common.cli.ExitCode;
import io.virtfleet.common.validation.Names;
import io.virtfleet.proto.v1.HostVerdict;
import io.virtfleet.proto.v1.PlaceRequest;
import io.virtfleet.proto.v1.PlacementExplanation;
import java.io.PrintWriter;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;

/** {@code virtfleet place --explain}: where a VM would go, and every host's reason, without creating it. */
@Command(name = "place", description = {
    "Show where a VM with these flags would be placed and why: every host with its verdict, the filter",
    "that stopped it and the numbers, and for hosts that fit the score and its parts (free shares of",
    "load, memory and vCPUs; higher is better). Changes nothing.",
    "",
    "Example: virtfleet place --explain --storage raw --size 100G --lan 10 --memory 16G"})
final class PlaceCommand implements Callable<Integer> {
    @ParentCommand
    VirtfleetCli root;

    @Spec
    CommandSpec spec;

    @Mixin
    SpecOptions options;

    @Option(names = "--explain", description = "Print every host's verdict (the default; kept for readability).")
    boolean explain;

    @Option(names = "--name", paramLabel = "NAME", defaultValue = "probe",
            description = "VM name to place (matters only with spread groups; default: ${DEFAULT-VALUE}).")
    String name;

    @Override
    public Integer call() {
        PlacementExplanation e;
        try (ControllerClient client = root.connect()) {
            e = client.fleet().place(PlaceRequest.newBuilder().setSpec(options.spec(Names.vmName("--name", name))).build());
        }
        PrintWriter out = spec.commandLine().getOut();
        if (root.output == Output.json) {
            out.println(Json.of(e));
        } else {
            printVerdicts(e, out);
        }
        out.flush();
        return e.getChosenHost().isEmpty() ? ExitCode.NO_HOST_FITS : ExitCode.OK;
    }

    static void printVerdicts(PlacementExplanation e, PrintWriter out) {
        if (e.getVerdictsCount() == 0) {
            out.println("No hosts are known to the controller.");
            return;
        }
        Table t = new Table("HOST", "VERDICT", "SCORE", "LOAD", "MEMORY", "VCPUS", "WHY");
        for (HostVerdict v : e.getVerdictsList()) {
            boolean chosen = v.getHost().equals(e.getChosenHost());
            t.row(v.getHost(), chosen ? "chosen" : v.getFits() ? "fits" : "no: " + v.getFailedFilter(),
                    v.getFits() ? String.format(Locale.ROOT, "%.3f", v.getScore()) : "-",
                    part(v, "load"), part(v, "memory"), part(v, "vcpus"),
                    v.getFits() ? "" : v.getReason());
        }
        t.print(out);
        out.println(e.getChosenHost().isEmpty() ? "No host fits." : "Chosen: " + e.getChosenHost()
                + " (highest score; parts are free shares, weighted by the controller's placement policy).");
    }

    private static String part(HostVerdict v, String name) {
        Double d = v.getScorePartsMap().get(name);
        return d == null ? "-" : String.format(Locale.ROOT, "%.2f", d);
    }
}
