package io.virtfleet.controller.cli;

import io.virtfleet.common.cli.ExitCode;
import io.virtfleet.common.files.StateFiles;
import io.virtfleet.common.security.CertificateAuthority;
import io.virtfleet.common.security.Pem;
import io.virtfleet.controller.dashboard.DashboardAuthority;
import io.virtfleet.proto.v1.CreateLoginRequest;
import io.virtfleet.proto.v1.DashboardLogin;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
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
    "The dashboard's certificate is either the site's own (the controller's dashboard-tls-cert: the browser trusts it",
    "through the site's PKI, nothing to import) or issued by the dashboard CA, which the controller made for the",
    "dashboard alone: its certificate allows it to vouch only for the controller's dashboard-names, never for another",
    "site, and it is not the fleet CA. Import that CA into the browser once (--save-ca writes it to a file; Chromium:",
    "Settings > Privacy and security > Security > Manage certificates > Authorities > Import, trust for websites only;",
    "Firefox: Settings > Privacy & Security > Certificates > View Certificates > Authorities > Import) and check that",
    "its SHA-256 fingerprint is the one printed here. When dashboard-names change, the controller makes a new one",
    "(its log says so): import that one too.",
    "",
    "Upgrading from a version whose dashboard used the fleet CA (\"virtfleet fleet CA\"): remove that one from the",
    "browser's authorities (this command prints its SHA-256 fingerprint); it is not needed and is dangerous there.",
    "Upgrade this CLI with the controller: an older one says the dashboard's certificate is the fleet CA's, and with",
    "the site's own certificate its --save-ca writes an empty file.",
    "",
    "Examples:",
    "  virtfleet dashboard",
    "  virtfleet dashboard --save-ca ~/virtfleet-dashboard-ca.crt",
    "  ssh -L 7447:127.0.0.1:7447 controller   # a dashboard on the controller's localhost, then open the link"})
final class DashboardCommand implements Callable<Integer> {
    @ParentCommand
    VirtfleetCli root;

    @Spec
    CommandSpec spec;

    @Option(names = "--save-ca", paramLabel = "FILE", description = {"Also write the dashboard CA's certificate (PEM) to"
        + " FILE, to import into the browser (nothing is written when the dashboard serves the site's own certificate)."})
    Path saveCa;

    /** The day the dashboard CA was made, or "an unknown day" if its PEM does not parse. */
    private static String madeOn(String caPem) {
        try {
            return CertificateAuthority.issuedAt(Pem.certificates(caPem).get(0)).atZone(ZoneOffset.UTC)
                    .toLocalDate().toString();
        } catch (IOException | RuntimeException e) {
            return "an unknown day";
        }
    }

    /** The line asking to remove the fleet CA (known from this operator's credentials) from browsers. */
    private String fleetCaWarning() {
        X509Certificate fleetCa = OperatorBundle.load(root.credentials).ca();
        return DashboardAuthority.fleetCaWarning(fleetCa == null ? null : CertificateAuthority.fingerprint(fleetCa)) + ".";
    }

    @Override
    public Integer call() throws IOException {
        DashboardLogin login;
        try (ControllerClient client = root.connect()) {
            login = client.dashboard().createLogin(CreateLoginRequest.getDefaultInstance());
        }
        if (saveCa != null && !login.getOwnCertificate()) {
            StateFiles.write(saveCa, login.getCaPem());
        }
        PrintWriter out = spec.commandLine().getOut();
        if (saveCa != null && login.getOwnCertificate()) {
            spec.commandLine().getErr().println("virtfleet: nothing written to " + saveCa + ": the dashboard serves the"
                    + " site's own certificate (the controller's dashboard-tls-cert), there is no dashboard CA to import");
        }
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
        if (login.getOwnCertificate()) {
            out.println("The dashboard serves the site's own certificate (dashboard-tls-cert): browsers trust it through"
                    + " the site's PKI.");
            out.println(fleetCaWarning());
            out.flush();
            return ExitCode.OK;
        }
        out.printf("The dashboard's certificate is issued by the dashboard CA (not the fleet CA), made on %s, which can"
                + " vouch only for %s. SHA-256 fingerprint:%n", madeOn(login.getCaPem()), String.join(", ", login.getNamesList()));
        out.println("  " + login.getCaFingerprintSha256());
        out.println(saveCa != null ? "Its certificate is in " + saveCa + ": import it into the browser as an authority once."
                : "Import it into the browser as an authority once (virtfleet dashboard --save-ca FILE writes it; see --help).");
        out.println("A browser that imported an earlier dashboard CA (before dashboard-names changed) needs this one.");
        out.println(fleetCaWarning());
        out.flush();
        return ExitCode.OK;
    }
}
