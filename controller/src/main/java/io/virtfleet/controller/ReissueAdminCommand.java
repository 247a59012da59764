package io.virtfleet.controller;

import io.virtfleet.common.cli.ExitCode;
import io.virtfleet.common.validation.InvalidInputException;
import io.virtfleet.controller.trust.AdminReissue;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.security.cert.X509Certificate;
import java.time.Clock;
import java.time.Duration;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

/** {@code virtfleet-controller reissue-admin}: admin credentials from the CA on this host, when none are left. */
@Command(name = "reissue-admin", mixinStandardHelpOptions = true, description = {
    "Write new admin credentials, signed by the fleet CA in the controller's data directory: the way back",
    "in when every admin's credentials are lost or revoked. Run it on the controller's host as the user that",
    "can read <data-dir>/pki/ca.key; the controller may be running. The new certificate works even for a",
    "name revoked before.",
    "",
    "Example: virtfleet-controller reissue-admin --name admin --out /root/admin.pem"},
    exitCodeListHeading = "%nExit codes:%n",
    exitCodeList = {"1:the CA cannot be read, or the file cannot be written (the message says why)",
        "2:bad option"})
final class ReissueAdminCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--name", required = true, paramLabel = "NAME", description = "Operator name (a-z, 0-9, '-').")
    String name;

    @Option(names = "--out", required = true, paramLabel = "FILE", description = "Where to write the credentials (a new file).")
    Path out;

    @Option(names = "--data-dir", paramLabel = "DIR",
            description = {"The controller's data directory (default: data-dir of the configuration file, else",
                ConfiguredDataDir.DEFAULT_DATA_DIR_TEXT + ")."})
    Path dataDir;

    @Option(names = "--config", paramLabel = "FILE",
            description = {"The controller's configuration file, read for its data-dir (default: "
                + ConfiguredDataDir.DEFAULT_CONFIG_TEXT + ", ignored", "when absent)."})
    Path config;

    @Option(names = "--days", defaultValue = "365", description = "Validity in days, 1..3650 (default: ${DEFAULT-VALUE}).")
    int days;

    @Override
    public Integer call() {
        PrintWriter err = spec.commandLine().getErr();
        try {
            if (days < 1 || days > 3650) {
                throw new InvalidInputException("days", Integer.toString(days), "1..3650");
            }
            Path target = ConfiguredDataDir.resolve(spec, dataDir, config);
            X509Certificate cert = AdminReissue.write(target, name, out, Duration.ofDays(days), Clock.systemUTC());
            PrintWriter o = spec.commandLine().getOut();
            o.printf("Wrote admin credentials of %s to %s, valid until %s.%n", name, out, cert.getNotAfter().toInstant());
            o.flush();
            return ExitCode.OK;
        } catch (InvalidInputException | io.virtfleet.common.config.ConfigException e) {
            err.println("virtfleet-controller reissue-admin: " + e.getMessage());
            err.flush();
            return ExitCode.USAGE;
        } catch (IOException e) {
            err.println("virtfleet-controller reissue-admin: " + e.getMessage());
            err.flush();
            return ExitCode.FAILURE;
        }
    }
}
