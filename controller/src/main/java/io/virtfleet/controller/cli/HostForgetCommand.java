package io.virtfleet.controller.cli;

import io.virtfleet.proto.v1.ForgetHostRequest;
import io.virtfleet.proto.v1.ForgetHostResponse;
import java.io.PrintWriter;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

/** {@code virtfleet host forget NAME}: release a host name, e.g. after reinstalling the machine. */
@Command(name = "forget", description = {
    "Remove a host from the inventory and release its name, so a new agent identity may register it",
    "(needed after a hypervisor was reinstalled and its agent lost its identity). A still-running agent",
    "of that host registers again on its next heartbeat.",
    "Example: virtfleet host forget hv2"})
final class HostForgetCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Parameters(paramLabel = "NAME", description = "Host name, as listed by 'virtfleet hosts'.")
    String name;

    @Override
    public Integer call() {
        VirtfleetCli root = (VirtfleetCli) spec.root().userObject();
        ForgetHostResponse released;
        try (ControllerClient client = root.connect()) {
            released = client.fleet().forgetHost(ForgetHostRequest.newBuilder().setName(name).build());
        }
        PrintWriter out = spec.commandLine().getOut();
        if (root.output == Output.json) {
            out.println(Json.of(released));
        } else {
            out.println("Forgot host " + name + " (was agent " + released.getReleasedAgentId() + ").");
        }
        out.flush();
        return 0;
    }
}
