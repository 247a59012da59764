package io.virtfleet.controller.cli;

import io.virtfleet.proto.v1.CreateJoinTokenRequest;
import io.virtfleet.proto.v1.JoinToken;
import java.io.PrintWriter;
import java.time.Duration;
import java.time.Instant;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

/** {@code virtfleet agent token create}: a one-time join token for a new (or reinstalled) hypervisor. */
@Command(name = "token", description = "Join tokens.", subcommands = {AgentTokenCommand.Create.class})
final class AgentTokenCommand {
    @Command(name = "create", description = {
        "Create a one-time join token. On the new hypervisor, put it in /etc/virtfleet/join-token (mode 0600)",
        "and start virtfleet-agent: it enrolls once, gets a certificate naming its host, and from then on",
        "authenticates with that certificate only. The token also carries the fleet CA's fingerprint, so the",
        "agent checks it reached this controller before it sends anything.",
        "",
        "Examples:",
        "  virtfleet agent token create                         any new host name, valid 1 hour",
        "  virtfleet agent token create --host hv7 --ttl 1d     only for hv7",
        "  virtfleet agent token create --host hv3 --reenroll   hv3 was reinstalled, or off past its certificate's life"})
    static final class Create implements Callable<Integer> {
        @Spec
        CommandSpec spec;

        @Option(names = "--ttl", paramLabel = "DURATION", defaultValue = "1h",
                description = "How long the token may be used, e.g. 30m, 2h, 1d (at most 7d; default: ${DEFAULT-VALUE}).")
        Duration ttl;

        @Option(names = "--host", paramLabel = "NAME", description = "Limit the token to this host name.")
        String host;

        @Option(names = "--reenroll", description = "Allow replacing the certificate of an already enrolled --host.")
        boolean reenroll;

        @Override
        public Integer call() {
            VirtfleetCli root = (VirtfleetCli) spec.root().userObject();
            CreateJoinTokenRequest.Builder request = CreateJoinTokenRequest.newBuilder()
                    .setTtlSeconds(ttl.toSeconds()).setReenroll(reenroll);
            if (host != null) {
                request.setHostName(host);
            }
            JoinToken token;
            try (ControllerClient client = root.connect()) {
                token = client.fleet().createJoinToken(request.build());
            }
            PrintWriter out = spec.commandLine().getOut();
            if (root.output == Output.json) {
                out.println(Json.of(token));
            } else {
                out.println(token.getToken());
                spec.commandLine().getErr().printf("Valid until %s%s, once. Fleet CA fingerprint (SHA-256): %s%n",
                        Instant.ofEpochMilli(token.getExpiresAtUnixMs()),
                        token.getHostName().isEmpty() ? " for any new host" : " for host " + token.getHostName()
                                + (token.getReenroll() ? " (re-enrollment)" : ""),
                        token.getCaFingerprintSha256());
                spec.commandLine().getErr().flush();
            }
            out.flush();
            return 0;
        }
    }
}
