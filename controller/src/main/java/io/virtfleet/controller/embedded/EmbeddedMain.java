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
    "(libvirt's test driver: a node file with its own size and domains), shows the fleet as an operator sees",
    "it with 'virtfleet hosts', then creates a VM end to end: where it goes and why, its raw disk (real",
    "qemu-img), its LAN (real VXLAN in a network namespace per host: needs root; without it, placement",
    "explains that no host carries the LAN), its",
    "definition and its start. With root and Ceph installed (deploy/dev/install-deps.sh) it also starts a",
    "single-node Ceph and creates a replicated VM on it, defined on every host and running on one.",
    "Each host's CPUs and memory are its simulated node's (8, 16, 32 CPUs...); load and CPU model are this",
    "machine's, read by OSHI."
})
public final class EmbeddedMain implements Callable<Integer> {
    @Option(names = "--agents", defaultValue = "3", description = "Number of hypervisors (default: ${DEFAULT-VALUE}).")
    int agents;

    @Option(names = "--port", defaultValue = "7440",
            description = "Controller port on 127.0.0.1 (default: ${DEFAULT-VALUE}; 0 picks a free one).")
    int port;

    @Option(names = "--once", description = "Show the fleet, then stop (instead of running until Ctrl-C).")
    boolean once;

    @Option(names = "--profiles-dir", paramLabel = "DIR",
            description = "The controller's install profiles (default: deploy/profiles of this checkout).")
    Path profilesDir;

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
        boolean network = SimulatedNetwork.available();
        CephCluster ceph = network ? startCeph(work, out) : null;
        try (ceph; EmbeddedFleet fleet = EmbeddedFleet.builder(work.resolve("fleet")).ceph(ceph)
                .profiles(profilesDir != null ? profilesDir : EmbeddedFleet.shippedProfiles())
                .nodes(EmbeddedFleet.defaultNodes(agents)).controllerPort(port).simulatedNetwork(network)
                .dashboard(io.virtfleet.controller.dashboard.DashboardSettings.localhost()).build()) {
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
            code = Math.max(code, createVm(out, controller, credentials, network));
            if (ceph != null) {
                code = Math.max(code, createReplicatedVm(out, controller, credentials, fleet));
            }
            if (once) {
                return code;
            }
            out.println();
            out.println("$ virtfleet dashboard      # the web dashboard, as the admin");
            VirtfleetCli.run(out, new PrintWriter(System.err, true), "--controller", controller, "--credentials",
                    credentials, "dashboard");
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

    /** The main job: a VM placed, its disk, LAN and definition made, started; then where the next would go. */
    private static int createVm(PrintWriter out, String controller, String credentials, boolean network) {
        PrintWriter err = new PrintWriter(System.err, true);
        String[] spec = {"--storage", "raw", "--size", "10G", "--lan", "10", "--memory", "1G", "--profile", "base"};
        String[] as = {"--controller", controller, "--credentials", credentials};
        out.println();
        if (!network) {
            // Placement takes a LAN VM only to a host that carries VXLAN, and without namespaces none does: the
            // demo shows placement saying so for each host, which is what an operator would see.
            out.println("(Not root: the simulated hosts get no network namespaces, so none carries LAN 10;"
                    + " placement says so for each host. Run as root for the whole demo.)");
            out.println("$ virtfleet place --explain " + String.join(" ", spec));
            int code = VirtfleetCli.run(out, err, concat(concat(as, new String[] {"place", "--explain"}), spec));
            return code == ExitCode.NO_HOST_FITS ? ExitCode.OK : code;
        }
        out.println("$ virtfleet vm create demo " + String.join(" ", spec));
        int code = VirtfleetCli.run(out, err, concat(concat(as, new String[] {"vm", "create", "demo"}), spec));
        out.println();
        out.println("$ virtfleet place --explain " + String.join(" ", spec) + "      # where would the next one go?");
        code = Math.max(code, VirtfleetCli.run(out, err, concat(concat(as, new String[] {"place", "--explain"}), spec)));
        out.println();
        out.println("$ virtfleet vm list");
        return Math.max(code, VirtfleetCli.run(out, err, concat(as, new String[] {"vm", "list"})));
    }

    /**
     * A single-node Ceph for the ssd and sata tiers, when this machine has it; without one the demo shows only raw
     * disks, which are never replicated (a local disk cannot move with its VM).
     */
    private static CephCluster startCeph(Path work, PrintWriter out) {
        if (!CephCluster.installed()) {
            out.println("(Ceph is not installed: no ssd/sata tier, so no replicated VM in this demo; install it with"
                    + " deploy/dev/install-deps.sh.)");
            return null;
        }
        out.println("Starting a single-node Ceph for the ssd and sata tiers (about 15 s)...");
        try {
            return CephCluster.start(work.resolve("ceph"));
        } catch (IOException e) {
            out.println("(Ceph did not start: " + e.getMessage() + "; going on without the ssd and sata tiers.)");
            return null;
        }
    }

    /** A Ceph-backed VM: replicated by default, so its definition reaches every host while one host runs it. */
    private static int createReplicatedVm(PrintWriter out, String controller, String credentials, EmbeddedFleet fleet)
            throws InterruptedException {
        PrintWriter err = new PrintWriter(System.err, true);
        String[] as = {"--controller", controller, "--credentials", credentials};
        String[] spec = {"--storage", "sata", "--size", "10G", "--lan", "10", "--memory", "1G", "--profile", "api"};
        out.println();
        out.println("$ virtfleet vm create web " + String.join(" ", spec) + "      # Ceph-backed: replicated");
        int code = VirtfleetCli.run(out, err, concat(concat(as, new String[] {"vm", "create", "web"}), spec));
        // Hosts report what they hold with their next heartbeat: show the fleet once every host has said so.
        long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
        while (System.nanoTime() < deadline && !fleet.controller().replication().drift().getHostsList().stream()
                .allMatch(h -> !h.getBehind())) {
            Thread.sleep(100);
        }
        out.println();
        out.println("$ virtfleet vm show web");
        code = Math.max(code, VirtfleetCli.run(out, err, concat(as, new String[] {"vm", "show", "web"})));
        out.println();
        out.println("$ virtfleet drift");
        return Math.max(code, VirtfleetCli.run(out, err, concat(as, new String[] {"drift"})));
    }

    private static String[] concat(String[] a, String[] b) {
        String[] out = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
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
