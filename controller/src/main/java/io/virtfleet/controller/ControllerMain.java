package io.virtfleet.controller;

import io.virtfleet.common.cli.ExitCode;
import io.virtfleet.common.cli.VersionProvider;
import io.virtfleet.common.config.ConfiguredCommand;
import io.virtfleet.common.logging.Logging;
import io.virtfleet.common.validation.Endpoint;
import io.virtfleet.common.validation.InvalidInputException;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code virtfleet-controller}: the central service. Runs until stopped. */
@Command(name = "virtfleet-controller", mixinStandardHelpOptions = true, sortOptions = false,
        versionProvider = VersionProvider.class,
        description = {
            "Keeps the fleet's host inventory from agent heartbeats and serves operators (the virtfleet CLI).",
            "Every option can also be set in the configuration file as 'name = value'; options on the",
            "command line win."
        },
        exitCodeListHeading = "%nExit codes:%n",
        exitCodeList = {"1:failed to start (the message says why)",
            "2:bad option or configuration file (file, line and key are named)",
            "143:stopped by SIGTERM (systemctl stop): a clean stop"})
public final class ControllerMain implements Callable<Integer> {
    static final Path DEFAULT_CONFIG = Path.of("/etc/virtfleet/controller.conf");

    @Option(names = "--config", paramLabel = "FILE", defaultValue = "/etc/virtfleet/controller.conf",
            description = "Configuration file (default: ${DEFAULT-VALUE}; ignored when absent).")
    Path configFile;

    @Option(names = "--listen", paramLabel = "HOST:PORT", defaultValue = "0.0.0.0:7440",
            description = "Where agents and operators reach the controller (default: ${DEFAULT-VALUE}).")
    String listen;

    @Option(names = "--heartbeat-interval", paramLabel = "DURATION", defaultValue = "5s",
            description = "Interval agents are asked to heartbeat at (default: ${DEFAULT-VALUE}).")
    Duration heartbeatInterval;

    @Option(names = "--unreachable-after", paramLabel = "DURATION", defaultValue = "15s",
            description = "Time without a heartbeat before a host is marked unreachable (default: ${DEFAULT-VALUE}).")
    Duration unreachableAfter;

    @Option(names = "--data-dir", paramLabel = "DIR", defaultValue = "/var/lib/virtfleet/controller",
            description = "Where the controller keeps its state (default: ${DEFAULT-VALUE}).")
    Path dataDir;

    @Option(names = "--agent-certificate-lifetime", paramLabel = "DURATION", defaultValue = "30d",
            description = "Validity of agent certificates; agents renew them at two thirds (default: ${DEFAULT-VALUE}).")
    Duration agentCertificateLifetime;

    @Option(names = "--certificate-lifetime", paramLabel = "DURATION", defaultValue = "90d",
            description = "Validity of the controller's own certificate, renewed at two thirds (default: ${DEFAULT-VALUE}).")
    Duration certificateLifetime;

    @Option(names = {"-v", "--verbose"}, description = "Log debugging detail.")
    boolean verbose;

    public static void main(String[] args) {
        int code = ConfiguredCommand.run(new ControllerMain(), DEFAULT_CONFIG, args);
        if (code != ExitCode.OK) {
            System.exit(code);
        }
    }

    @Override
    public Integer call() throws Exception {
        Logging.configure(verbose);
        ControllerConfig config;
        try {
            config = config();
        } catch (InvalidInputException e) {
            System.err.println("virtfleet-controller: " + e.getMessage());
            return ExitCode.USAGE;
        }
        Controller controller = Controller.create(config);
        Runtime.getRuntime().addShutdownHook(new Thread(controller::close, "vf-controller-shutdown"));
        try {
            controller.start();
        } catch (Exception e) {
            System.err.println("virtfleet-controller: cannot start on " + listen + ": " + e.getMessage());
            controller.close();
            return ExitCode.FAILURE;
        }
        controller.blockUntilShutdown();
        return ExitCode.OK;
    }

    ControllerConfig config() {
        Endpoint at = Endpoint.parse("listen", listen);
        if (unreachableAfter.compareTo(heartbeatInterval) <= 0) {
            throw new InvalidInputException("unreachable-after", unreachableAfter.toString(),
                    "a duration longer than heartbeat-interval (" + heartbeatInterval + "), ideally 3x");
        }
        atLeastTenMinutes("agent-certificate-lifetime", agentCertificateLifetime);
        atLeastTenMinutes("certificate-lifetime", certificateLifetime);
        return ControllerConfig.of(new InetSocketAddress(at.bareHost(), at.port()), heartbeatInterval,
                unreachableAfter, dataDir).withCertificateLifetimes(agentCertificateLifetime, certificateLifetime);
    }

    /** Shorter lives would have hosts renewing all the time; tests set lifetimes directly instead. */
    private static void atLeastTenMinutes(String key, Duration lifetime) {
        if (lifetime.compareTo(Duration.ofMinutes(10)) < 0) {
            throw new InvalidInputException(key, lifetime.toString(), "at least 10m");
        }
    }
}
