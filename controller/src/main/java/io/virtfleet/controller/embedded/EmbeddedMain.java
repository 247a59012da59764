package io.virtfleet.controller.embedded;

import io.virtfleet.common.cli.ExitCode;
import io.virtfleet.common.logging.Logging;
import io.virtfleet.controller.cli.VirtfleetCli;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.attribute.BasicFileAttributes;
import java.time.Duration;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code virtfleet-embedded}: a whole fleet on this machine, to see virtfleet work in a minute. */
@Command(name = "virtfleet-embedded", mixinStandardHelpOptions = true, description = {
    "Starts a controller and several agents in this process, each agent on its own simulated hypervisor",
    "(libvirt's test driver: a node file with its own size and domains), and shows the fleet as an",
    "operator sees it with 'virtfleet hosts'. Host facts (CPU, load, memory) are this machine's, read by OSHI."
})
public final class EmbeddedMain implements Callable<Integer> {
    @Option(names = "--agents", defaultValue = "3", description = "Number of hypervisors (default: ${DEFAULT-VALUE}).")
    int agents;

    @Option(names = "--port", defaultValue = "7440",
            description = "Controller port on 127.0.0.1 (default: ${DEFAULT-VALUE}; 0 picks a free one).")
    int port;

    @Option(names = "--once", description = "Show the fleet, then stop (instead of running until Ctrl-C).")
    boolean once;

    @Option(names = {"-v", "--verbose"}, description = "Show the controller's and agents' logs.")
    boolean verbose;

    public static void main(String[] args) {
        System.exit(new CommandLine(new EmbeddedMain()).execute(args));
    }

    @Override
    public Integer call() throws Exception {
        if (agents < 1 || agents > 50) {
            System.err.println("virtfleet-embedded: --agents: " + agents + " is not accepted; expected 1..50");
            return ExitCode.USAGE;
        }
        Logging.configure(false);
        if (!verbose) {
            java.util.logging.Logger.getLogger("").setLevel(java.util.logging.Level.WARNING);
        }
        Path work = Files.createTempDirectory("virtfleet-embedded-");
        PrintWriter out = new PrintWriter(System.out, true);
        try (EmbeddedFleet fleet = EmbeddedFleet.builder(work.resolve("fleet"))
                .nodes(EmbeddedFleet.defaultNodes(agents)).controllerPort(port).build()) {
            long started = System.nanoTime();
            try {
                fleet.start();
            } catch (IOException e) {
                System.err.println("virtfleet-embedded: cannot start the controller on 127.0.0.1:" + port + ": "
                        + e.getMessage() + " (another one running? try --port 0)");
                return ExitCode.FAILURE;
            }
            fleet.awaitRegistered(Duration.ofSeconds(30));
            // A second heartbeat gives every host a CPU utilisation measured over a real interval.
            Thread.sleep(1200);
            String controller = fleet.controllerEndpoint().toString();
            out.printf("Controller on %s with %d agents, registered in %d ms. Work files in %s%n%n",
                    controller, agents, (System.nanoTime() - started) / 1_000_000, work);
            out.println("$ virtfleet hosts");
            String credentials = fleet.adminCredentials().toString();
            int code = VirtfleetCli.run(out, new PrintWriter(System.err, true), "--controller", controller,
                    "--credentials", credentials, "hosts");
            out.println();
            out.println("$ virtfleet host show hv1");
            code = Math.max(code, VirtfleetCli.run(out, new PrintWriter(System.err, true),
                    "--controller", controller, "--credentials", credentials, "host", "show", "hv1"));
            if (once) {
                return code;
            }
            out.printf("%nThe fleet keeps running. In another terminal:%n  deploy/virtfleet --controller %s"
                    + " --credentials %s hosts%nPress Ctrl-C to stop.%n", controller, credentials);
            CountDownLatch stop = new CountDownLatch(1);
            Runtime.getRuntime().addShutdownHook(new Thread(stop::countDown));
            stop.await();
            return ExitCode.OK;
        } finally {
            deleteTree(work);
        }
    }

    private static void deleteTree(Path root) throws IOException {
        if (!Files.exists(root)) {
            return;
        }
        Files.walkFileTree(root, new SimpleFileVisitor<>() {
            @Override
            public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) throws IOException {
                Files.delete(file);
                return FileVisitResult.CONTINUE;
            }

            @Override
            public FileVisitResult postVisitDirectory(Path dir, IOException exc) throws IOException {
                Files.delete(dir);
                return FileVisitResult.CONTINUE;
            }
        });
    }
}
