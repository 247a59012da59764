package io.virtfleet.controller.cli;

import io.virtfleet.common.security.CredentialsBundle;
import io.virtfleet.common.security.Keys;
import io.virtfleet.common.security.Pem;
import io.virtfleet.common.files.StateFiles;
import io.virtfleet.proto.v1.AddOperatorRequest;
import io.virtfleet.proto.v1.CertificateResponse;
import io.virtfleet.proto.v1.RevokeOperatorRequest;
import io.virtfleet.proto.v1.RevokeOperatorResponse;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyPair;
import java.time.Instant;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

/** {@code virtfleet operator add|revoke}: credentials for another operator, or taking them back. */
@Command(name = "operator", description = "Operator credentials.", subcommands = {OperatorCommand.Add.class,
        OperatorCommand.Revoke.class})
final class OperatorCommand {
    @Command(name = "add", description = {
        "Create credentials for an operator: a key made here (it never leaves this machine), a certificate",
        "signed by the controller naming the operator and role, and the fleet CA, written to one owner-only",
        "file. Viewers can list and show; admins can also change things. Every change is logged with the",
        "operator's name.",
        "",
        "Example: virtfleet operator add alice --role viewer --out alice.pem"})
    static final class Add implements Callable<Integer> {
        @Spec
        CommandSpec spec;

        @Parameters(paramLabel = "NAME", description = "Operator name (a-z, 0-9, '-').")
        String name;

        @Option(names = "--role", required = true, paramLabel = "ROLE", description = "viewer or admin.")
        String role;

        @Option(names = "--out", paramLabel = "FILE", description = "Where to write the credentials (default: NAME.pem).")
        Path out;

        @Option(names = "--days", defaultValue = "365", description = "Validity in days (default: ${DEFAULT-VALUE}).")
        int days;

        @Override
        public Integer call() throws IOException {
            VirtfleetCli root = (VirtfleetCli) spec.root().userObject();
            Path file = out != null ? out : Path.of(name + ".pem");
            if (Files.exists(file)) {
                throw new io.virtfleet.common.validation.InvalidInputException("--out", file.toString(),
                        "a file that does not exist yet (credentials are never overwritten)");
            }
            KeyPair keys = Keys.generate();
            CertificateResponse signed;
            try (ControllerClient client = root.connect()) {
                signed = client.fleet().addOperator(AddOperatorRequest.newBuilder()
                        .setName(name).setRole(role).setValidDays(days)
                        .setCsrPem(Pem.of(Keys.signingRequest(keys, name))).build());
            }
            StateFiles.writePrivate(file, Pem.of(keys.getPrivate()) + signed.getCertificatePem() + signed.getCaPem());
            CredentialsBundle.read(file); // proves the bundle works before we say so
            PrintWriter o = spec.commandLine().getOut();
            if (root.output == Output.json) {
                o.println(Json.of(com.google.protobuf.Struct.newBuilder()
                        .putFields("file", com.google.protobuf.Value.newBuilder().setStringValue(file.toString()).build())
                        .putFields("not_after_unix_ms", com.google.protobuf.Value.newBuilder()
                                .setNumberValue(signed.getNotAfterUnixMs()).build())
                        .build()));
            } else {
                o.printf("Wrote credentials of %s (%s) to %s, valid until %s.%n", name, role, file,
                        Instant.ofEpochMilli(signed.getNotAfterUnixMs()));
            }
            o.flush();
            return 0;
        }
    }

    @Command(name = "revoke", description = {
        "Revoke every certificate issued to an operator so far (admin only). The controller refuses them from",
        "their next call on, also on connections already open. Credentials issued to the name later work.",
        "Revoking the last admin locks everyone out of changes: new admin credentials are then made on the",
        "controller's host with 'virtfleet-controller reissue-admin --name NAME --out FILE'.",
        "",
        "Example: virtfleet operator revoke alice"})
    static final class Revoke implements Callable<Integer> {
        @Spec
        CommandSpec spec;

        @Parameters(paramLabel = "NAME", description = "Operator name, as in their certificate.")
        String name;

        @Override
        public Integer call() {
            VirtfleetCli root = (VirtfleetCli) spec.root().userObject();
            RevokeOperatorResponse revoked;
            try (ControllerClient client = root.connect()) {
                revoked = client.fleet().revokeOperator(RevokeOperatorRequest.newBuilder().setName(name).build());
            }
            PrintWriter o = spec.commandLine().getOut();
            if (root.output == Output.json) {
                o.println(Json.of(revoked));
            } else {
                o.printf("Revoked the certificates of operator %s issued before %s.%n", name,
                        Instant.ofEpochMilli(revoked.getIssuedBeforeUnixMs()));
            }
            o.flush();
            return 0;
        }
    }
}
