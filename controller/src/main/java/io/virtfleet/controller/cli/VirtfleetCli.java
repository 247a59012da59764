package io.virtfleet.controller.cli;

import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.virtfleet.common.cli.ExitCode;
import io.virtfleet.common.cli.VersionProvider;
import io.virtfleet.common.validation.Endpoint;
import io.virtfleet.common.validation.InvalidInputException;
import java.io.PrintWriter;
import java.nio.file.Path;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ScopeType;

/** {@code virtfleet}: the operator's command line. */
@Command(name = "virtfleet", mixinStandardHelpOptions = true, versionProvider = VersionProvider.class,
        scope = ScopeType.INHERIT,
        description = {
            "Operate a fleet of libvirt hypervisors: see every host's load, create and manage VMs.",
            "",
            "Examples:",
            "  virtfleet hosts                    hosts sorted by load, least loaded first",
            "  virtfleet hosts -o json            the same for scripts (fields as in proto/virtfleet/v1)",
            "  virtfleet host show hv2            one host in detail, with its domains",
            "  virtfleet vm create git --storage sata --size 20G --lan 10 --profile api",
            "  virtfleet place --explain --storage raw --size 100G --lan 10   where would it go, and why",
            "  virtfleet capacity --storage ssd --size 20G --lan 10 --memory 4G   how many more fit, host by host",
            "  virtfleet drift                    hosts and domains that differ from the definitions repository",
            "  virtfleet health --agents          is the controller serving, and each agent (exit 0 when all are)",
            "  virtfleet sync                     every host pulls the definitions and defines its replicas now",
            "  virtfleet adopt --dry-run          what taking over the domains made by hand would do",
            "  virtfleet profiles                 the install profiles vm create --profile accepts",
            "  virtfleet agent token create --ttl 2h   a one-time token for enrolling a new hypervisor",
            "  virtfleet operator add alice --role viewer --out alice.pem",
            "  virtfleet --controller cp1:7440 --credentials ~/alice.pem hosts"
        },
        subcommands = {HostsCommand.class, HostCommand.class, VmCommand.class, PlaceCommand.class, CapacityCommand.class,
            DriftCommand.class, HealthCommand.class, RestoreHoldCommand.class, SyncCommand.class, AdoptCommand.class, ProfilesCommand.class, CpuModelCommand.class, DashboardCommand.class, AgentCommand.class,
            OperatorCommand.class, CommandLine.HelpCommand.class},
        exitCodeListHeading = "%nExit codes:%n",
        exitCodeList = {"0:done", "1:the controller refused or failed the operation",
            "2:bad flags or arguments", "3:the controller (or the VM's host) could not be reached",
            "4:no such host or VM", "5:not allowed: no or unusable credentials, or a role without the right",
            "6:no host can take the VM (every host's reason is printed; capacity: not one fits)",
            "7:drift --exit-code: some host or domain differs from the definitions repository",
            "8:host recover: some VMs of the lost host were left (each is listed with why)",
            "9:adopt: some domains were refused (each is listed with why), the others adopted",
            "10:health: the controller, or with --agents an agent, is not serving"})
public final class VirtfleetCli {
    @Option(names = "--controller", paramLabel = "HOST:PORT", scope = ScopeType.INHERIT,
            defaultValue = "${env:VIRTFLEET_CONTROLLER:-127.0.0.1:7440}",
            description = "Controller address (default: $VIRTFLEET_CONTROLLER, else 127.0.0.1:7440).")
    String controller;

    @Option(names = "--credentials", paramLabel = "FILE", scope = ScopeType.INHERIT,
            defaultValue = "${env:VIRTFLEET_CREDENTIALS:-${sys:user.home}/.config/virtfleet/credentials.pem}",
            description = {"Operator credentials: key, certificate and fleet CA in one PEM file",
                "(default: $VIRTFLEET_CREDENTIALS, else ~/.config/virtfleet/credentials.pem)."})
    Path credentials;

    @Option(names = {"-o", "--output"}, paramLabel = "FORMAT", scope = ScopeType.INHERIT, defaultValue = "table",
            description = "Output format: ${COMPLETION-CANDIDATES} (default: ${DEFAULT-VALUE}).")
    Output output;

    public static void main(String[] args) {
        System.exit(run(new PrintWriter(System.out, true), new PrintWriter(System.err, true), args));
    }

    /** Runs the CLI with the given streams; returns the exit code. */
    public static int run(PrintWriter out, PrintWriter err, String... args) {
        CommandLine cli = new CommandLine(new VirtfleetCli());
        cli.setOut(out).setErr(err);
        cli.registerConverter(java.time.Duration.class, io.virtfleet.common.units.Durations::parse);
        cli.setExecutionExceptionHandler((ex, cmd, parsed) -> report(ex, cmd.getErr(), (VirtfleetCli) cli.getCommand()));
        return cli.execute(args);
    }

    ControllerClient connect() {
        Endpoint endpoint = Endpoint.parse("--controller", controller);
        return new ControllerClient(endpoint, OperatorBundle.load(credentials));
    }

    private static Throwable rootCause(Throwable t) {
        while (t.getCause() != null && t.getCause() != t) {
            t = t.getCause();
        }
        return t;
    }

    private static int report(Exception ex, PrintWriter err, VirtfleetCli root) {
        if (ex instanceof OperatorBundle.CredentialsException) {
            err.println("virtfleet: " + ex.getMessage());
            return ExitCode.DENIED;
        }
        if (ex instanceof InvalidInputException) {
            err.println("virtfleet: " + ex.getMessage());
            return ExitCode.USAGE;
        }
        if (!(ex instanceof StatusRuntimeException sre)) {
            err.println("virtfleet: " + ex);
            return ExitCode.FAILURE;
        }
        Status status = sre.getStatus();
        String detail = status.getDescription() != null ? status.getDescription() : status.getCode().toString();
        if (status.getCause() != null && status.getCause().getMessage() != null) {
            detail += " (" + rootCause(status.getCause()).getMessage() + ")"; // e.g. "Connection refused"
        }
        switch (status.getCode()) {
            case UNAVAILABLE, DEADLINE_EXCEEDED -> {
                if (status.getCode() == Status.Code.UNAVAILABLE && status.getCause() == null && status.getDescription() != null
                        && !status.getDescription().startsWith("io exception")) {
                    err.println("virtfleet: " + detail); // sent by the controller: a host it needs is unreachable
                    return ExitCode.UNAVAILABLE;
                }
                err.println("virtfleet: cannot reach the controller at " + root.controller + ": " + detail);
                err.println("Is virtfleet-controller running there? Choose another with --controller HOST:PORT"
                        + " or VIRTFLEET_CONTROLLER.");
                return ExitCode.UNAVAILABLE;
            }
            case NOT_FOUND -> {
                err.println("virtfleet: " + detail);
                return ExitCode.NOT_FOUND;
            }
            case PERMISSION_DENIED, UNAUTHENTICATED -> {
                err.println("virtfleet: not allowed: " + detail);
                return ExitCode.DENIED;
            }
            case INVALID_ARGUMENT -> {
                err.println("virtfleet: " + detail);
                return ExitCode.USAGE;
            }
            case RESOURCE_EXHAUSTED -> {
                err.println("virtfleet: " + detail);
                return ExitCode.NO_HOST_FITS;
            }
            default -> {
                err.println("virtfleet: controller answered " + status.getCode() + ": " + detail);
                return ExitCode.FAILURE;
            }
        }
    }

}
