package io.virtfleet.controller.cli;

import io.virtfleet.common.cli.ExitCode;
import io.virtfleet.common.files.StateFiles;
import io.virtfleet.proto.v1.CreateLoginRequest;
import io.virtfleet.proto.v1.DashboardLogin;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;

/** {@code virtfleet dashboard}: a one-time login link to the controller's web dashboard, as this operator. */
@Command(name = "dashboard", description = {
    "Print a one-time login link to the controller's web dashboard. Opening it in a browser shows a \"Log in as",
    "NAME\" button; pressing it starts a session as you (opening the link alone spends nothing), with your role:",
    "viewers see the fleet, admins may also drain hosts and start, stop and move VMs (each such",
    "action asks for confirmation and is in the controller's audit log under your name). The link works once and",
    "for 5 minutes; the session lasts as the controller's dashboard-session-lifetime says, and ends when you are",
    "revoked. The dashboard is off unless the controller's dashboard-listen is set.",
    "",
    "The dashboard's certificate is issued by the fleet CA: import the CA into the browser once (--save-ca writes it",
    "to a file; Chromium: Settings > Privacy and security > Security > Manage certificates > Authorities > Import;",
    "Firefox: Settings > Privacy & Security > Certificates > View Certificates > Authorities > Import) and check",
    "that its SHA-256 fingerprint is the one printed here.",
    "",
    "Examples:",
    "  virtfleet dashboard",
    "  virtfleet dashboard --save-ca ~/fleet-ca.crt",
    "  ssh -L 7447:127.0.0.1:7447 controller   # a dashboard on the controller's localhost, then open the link"})
final class DashboardCommand implements Callable<Integer> {
    @ParentCommand
    VirtfleetCli root;

    @Spec
    CommandSpec spec;

    @Option(names = "--save-ca", paramLabel = "FILE", description = "Also write the fleet CA certificate (PEM) to FILE, to import into the browser.")
    Path saveCa;

    @Override
    public Integer call() throws IOException {
        DashboardLogin login;
        try (ControllerClient client = root.connect()) {
            login = client.dashboard().createLogin(CreateLoginRequest.getDefaultInstance());
        }
        if (saveCa != null) {
            StateFiles.write(saveCa, login.getCaPem());
        }
        PrintWriter out = spec.commandLine().getOut();
        if (root.output == Output.json) {
            out.println(Json.of(login));
            out.flush();
            return ExitCode.OK;
        }
        out.println(login.getUrl());
        out.println();
        out.printf("Opens a \"Log in as %s\" page; its button starts a session as %s (%s) for %s. The link works once,"
                + " until %s.%n", login.getOperator(), login.getOperator(),
                login.getRole(), Duration.ofSeconds(login.getSessionSeconds()).toString().substring(2).toLowerCase(),
                Instant.ofEpochMilli(login.getExpiresAtUnixMs()));
        out.println("The dashboard's certificate is issued by the fleet CA, SHA-256 fingerprint:");
        out.println("  " + login.getCaFingerprintSha256());
        out.println(saveCa != null ? "Its certificate is in " + saveCa + ": import it into the browser as an authority once."
                : "Import the CA into the browser once (virtfleet dashboard --save-ca FILE writes it; see --help).");
        out.flush();
        return ExitCode.OK;
    }
}
