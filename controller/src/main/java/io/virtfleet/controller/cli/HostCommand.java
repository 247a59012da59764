package io.virtfleet.controller.cli;

import io.virtfleet.common.cli.ExitCode;
import io.virtfleet.common.validation.Names;
import io.virtfleet.controller.registry.HostStates;
import io.virtfleet.proto.v1.Host;
import io.virtfleet.proto.v1.SetHostDrainingRequest;
import java.io.PrintWriter;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;

/** {@code virtfleet host ...}: commands about one host. */
@Command(name = "host", description = "Show, drain, undrain or forget one host.",
        subcommands = {HostShowCommand.class, HostForgetCommand.class})
final class HostCommand {
    @ParentCommand
    VirtfleetCli root;

    @Spec
    CommandSpec spec;

    @Command(name = "drain", description = {"Stop placing new VMs on a host (before maintenance, say). Its VMs keep",
        "running. The drain survives controller restarts; undo it with host undrain."})
    int drain(@Parameters(paramLabel = "NAME", description = "Host name.") String name) {
        return setDraining(name, true);
    }

    @Command(name = "undrain", description = "Let placement use a drained host again.")
    int undrain(@Parameters(paramLabel = "NAME", description = "Host name.") String name) {
        return setDraining(name, false);
    }

    private int setDraining(String name, boolean draining) {
        Host host;
        try (ControllerClient client = root.connect()) {
            host = client.fleet().setHostDraining(SetHostDrainingRequest.newBuilder()
                    .setName(Names.hostName("NAME", name)).setDraining(draining).build());
        }
        PrintWriter out = spec.commandLine().getOut();
        out.println(root.output == Output.json ? Json.of(host)
                : host.getName() + " is " + HostStates.label(host.getState()) + ": " + host.getStateReason());
        out.flush();
        return ExitCode.OK;
    }
}
