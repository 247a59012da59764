package io.virtfleet.controller.testkit;

import io.virtfleet.common.logging.Logging;
import io.virtfleet.common.validation.Endpoint;
import io.virtfleet.controller.Controller;
import io.virtfleet.controller.ControllerConfig;
import io.virtfleet.controller.definitions.DomainSettings;
import io.virtfleet.controller.embedded.EmbeddedFleet;
import io.virtfleet.controller.install.BootMode;
import io.virtfleet.controller.install.BootSettings;
import io.virtfleet.controller.install.InstallSettings;
import io.virtfleet.controller.ovh.FakeOvhApi;
import io.virtfleet.controller.ovh.OvhAccount;
import io.virtfleet.controller.ovh.OvhSettings;
import io.virtfleet.controller.vm.Provisioning;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * A secure controller in a JVM of its own, so a test can SIGKILL it and start another on the same port and data
 * directory, as after a crash. It is configured as the embedded fleet's (TCG domains, short reconcile interval,
 * the shipped profiles), writes the first admin's bundle to {@code <data-dir>/pki/admin.pem} on its first start,
 * and logs to a file shown when a test fails. Agents and operators reach it over mutual TLS like any controller.
 *
 * <p>A JVM, not a {@code Command}: a {@code Command} runs a program to its end, and this one must be killed
 * while it serves.
 */
public final class ControllerJvm implements AutoCloseable {
    /** Held for the process's life; a lock whose channel were collected would be released by the collector. */
    private static io.virtfleet.controller.DataDirectoryLock dataDirectoryLock;
    private static final Duration START_TIMEOUT = Duration.ofSeconds(60);
    /** System property: arm direct kernel boot installs, the install server at this URL (its port on the listen host). */
    public static final String KERNEL_BOOT_URL = "virtfleet.test.kernel-boot-url";
    /** System property (with {@link #KERNEL_BOOT_URL}): arm PXE installs instead, writing into this TFTP root. */
    public static final String PXE_TFTP_ROOT = "virtfleet.test.pxe-tftp-root";
    /** System property: the controller's failover-routes, {@code IP=host} pairs separated by commas. */
    public static final String FAILOVER_ROUTES = "virtfleet.test.failover-routes";
    /**
     * System property: OVH's API, {@code ENDPOINT HOST=SERVICE,...}: the endpoint of a {@code FakeOvhApi} (its keys)
     * and the hosts' service names.
     */
    public static final String OVH = "virtfleet.test.ovh";
    /**
     * System property: hosts (comma-separated) the controller holds as confirmed down from its start, as an operator's
     * {@code host fence NAME --confirm-down} would record them.
     */
    public static final String CONFIRMED_DOWN = "virtfleet.test.confirmed-down";
    /** System property: the controller's Ceph admin for fencing, {@code conf|id|keyring} (absolute paths). */
    public static final String FENCING = "virtfleet.test.fencing";
    /**
     * System property: {@code MODE|DURATION}: the failover mode ({@code automatic} or {@code manual}, as the
     * controller's failover setting) and host-lost-after DURATION (ISO-8601).
     */
    public static final String AUTOMATIC_FAILOVER = "virtfleet.test.automatic-failover";
    /** System property: the operators' SSH keys file the preseeds give the VMs (with {@link #KERNEL_BOOT_URL}). */
    public static final String INSTALL_KEYS = "virtfleet.test.install-keys";
    /** System property: the controller's install-proxy, the installers' HTTP proxy (with {@link #KERNEL_BOOT_URL}). */
    public static final String INSTALL_PROXY = "virtfleet.test.install-proxy";

    /**
     * What the controller is told; {@code systemProperties} go to its JVM (e.g. a crash point).
     *
     * @param listenHost   the address it serves on (gRPC and git): 127.0.0.1, or e.g. the test's address on an
     *                     {@link Underlay} for agents in other network namespaces
     * @param syncDeadline how long one host may take to sync during a fan-out
     * @param cephMonitors monitors written into RBD disks ("10.249.0.1:6789"); empty without a Ceph
     */
    public record Settings(Path dataDir, int port, Duration heartbeat, Duration unreachableAfter,
                           Duration reconcileInterval, Map<String, String> systemProperties, String listenHost,
                           Duration syncDeadline, List<String> cephMonitors) {
        public Settings(Path dataDir, int port, Duration heartbeat, Duration unreachableAfter, Duration reconcileInterval,
                        Map<String, String> systemProperties) {
            this(dataDir, port, heartbeat, unreachableAfter, reconcileInterval, systemProperties, "127.0.0.1",
                    Provisioning.defaults().syncDeadline(), List.of());
        }

        public Settings withPort(int p) {
            return new Settings(dataDir, p, heartbeat, unreachableAfter, reconcileInterval, systemProperties, listenHost,
                    syncDeadline, cephMonitors);
        }

        public Settings withSystemProperties(Map<String, String> properties) {
            return new Settings(dataDir, port, heartbeat, unreachableAfter, reconcileInterval, properties, listenHost,
                    syncDeadline, cephMonitors);
        }

        public Settings withReconcileInterval(Duration interval) {
            return new Settings(dataDir, port, heartbeat, unreachableAfter, interval, systemProperties, listenHost,
                    syncDeadline, cephMonitors);
        }

        public Settings withListenHost(String host) {
            return new Settings(dataDir, port, heartbeat, unreachableAfter, reconcileInterval, systemProperties, host,
                    syncDeadline, cephMonitors);
        }

        public Settings withSyncDeadline(Duration deadline) {
            return new Settings(dataDir, port, heartbeat, unreachableAfter, reconcileInterval, systemProperties, listenHost,
                    deadline, cephMonitors);
        }

        public Settings withCephMonitors(List<String> monitors) {
            return new Settings(dataDir, port, heartbeat, unreachableAfter, reconcileInterval, systemProperties, listenHost,
                    syncDeadline, List.copyOf(monitors));
        }
    }

    private final Process process;
    private final String host;
    private final int port;
    private final Path log;
    private final java.util.concurrent.atomic.AtomicLong passes;

    private ControllerJvm(Process process, String host, int port, Path log, java.util.concurrent.atomic.AtomicLong passes) {
        this.process = process;
        this.host = host;
        this.port = port;
        this.log = log;
        this.passes = passes;
    }

    /** Periodic reconciler passes the controller has finished since it started. */
    public long passesCompleted() {
        return passes.get();
    }

    /** Waits until the controller has finished {@code n} periodic reconciler passes since it started. */
    public void awaitPasses(long n, Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (passes.get() < n) {
            if (System.nanoTime() > deadline || !process.isAlive()) {
                throw new AssertionError(passes.get() + " of " + n + " reconciler passes within " + timeout + ":\n"
                        + logTail(30));
            }
            Thread.sleep(20);
        }
    }

    /**
     * Starts a controller and waits until it listens. Port 0 picks a free one ({@link #port()} says which); its
     * output is appended to {@code log}.
     */
    public static ControllerJvm start(Settings s, Path log) throws IOException {
        List<String> command = new ArrayList<>();
        command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        command.add("-Xmx256m");
        command.add("-XX:TieredStopAtLevel=1"); // starts sooner; it serves a handful of calls
        s.systemProperties().forEach((k, v) -> command.add("-D" + k + "=" + v));
        command.add("-cp");
        // Under Surefire java.class.path may be a manifest-only jar; this property is the real class path.
        command.add(System.getProperty("surefire.test.class.path", System.getProperty("java.class.path")));
        command.add(ControllerJvm.class.getName());
        command.addAll(List.of(Integer.toString(s.port()), s.dataDir().toString(), s.heartbeat().toString(),
                s.unreachableAfter().toString(), s.reconcileInterval().toString(), s.listenHost(),
                s.syncDeadline().toString()));
        command.addAll(s.cephMonitors());
        Files.createDirectories(log.toAbsolutePath().getParent());
        Process p = KilledAtExit.track(new ProcessBuilder(command).redirectError(ProcessBuilder.Redirect.appendTo(log.toFile()))
                .redirectInput(ProcessBuilder.Redirect.PIPE).start());
        BufferedReader out = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
        java.util.concurrent.atomic.AtomicLong passes = new java.util.concurrent.atomic.AtomicLong();
        CompletableFuture<String> listening = new CompletableFuture<>();
        Thread reader = new Thread(() -> {
            try {
                for (String line = out.readLine(); line != null; line = out.readLine()) {
                    if (line.startsWith("LISTENING ")) {
                        listening.complete(line);
                    } else if (line.startsWith("PASSES ")) {
                        passes.set(Long.parseLong(line.substring(7).strip()));
                    } // and keep draining, so the child never blocks on a full pipe
                }
            } catch (IOException e) {
                // the child is gone
            }
            listening.complete(null);
        }, "controller-jvm-stdout");
        reader.setDaemon(true);
        reader.start();
        String line;
        try {
            line = listening.get(START_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
        } catch (InterruptedException | ExecutionException | TimeoutException e) {
            line = null;
        }
        ControllerJvm jvm = new ControllerJvm(p, s.listenHost(), line == null ? -1 : Integer.parseInt(line.substring(10).strip()),
                log, passes);
        if (line == null) {
            jvm.kill();
            throw new IOException("the controller did not start:\n" + jvm.logTail(40));
        }
        return jvm;
    }

    public int port() {
        return port;
    }

    /** Where it serves agents and operators. */
    public Endpoint endpoint() {
        return new Endpoint(host, port);
    }

    public long pid() {
        return process.pid();
    }

    public boolean alive() {
        return process.isAlive();
    }

    /** SIGKILL, and waits until the process is gone: no shutdown hook runs, nothing is closed. */
    public void kill() {
        process.destroyForcibly();
        awaitExit(Duration.ofSeconds(10));
    }

    /** Waits for the process to end by itself (e.g. at a crash point); returns its exit code (137 when killed). */
    public int awaitExit(Duration timeout) {
        try {
            if (!process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
                throw new AssertionError("controller " + pid() + " still runs after " + timeout + ":\n" + logTail(20));
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError("interrupted", e);
        }
        return process.exitValue();
    }

    /** The last lines of the controller's log, to explain a failure. */
    public String logTail(int lines) {
        return Logs.tail(log, lines);
    }

    /** Stops it cleanly (closing stdin asks it to), killing it if it takes longer than 10 s. */
    @Override
    public void close() {
        if (process.isAlive()) {
            try {
                process.getOutputStream().close();
                if (!process.waitFor(10, TimeUnit.SECONDS)) {
                    kill();
                }
            } catch (IOException e) {
                kill();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                kill();
            }
        }
    }

    /**
     * The child: {@code PORT DATA-DIR HEARTBEAT UNREACHABLE-AFTER RECONCILE-INTERVAL LISTEN-HOST SYNC-DEADLINE
     * [CEPH-MONITOR...]} (durations in ISO-8601).
     * Prints {@code LISTENING port} once it serves; stops cleanly at the end of its standard input.
     */
    public static void main(String[] args) throws Exception {
        Logging.configure(false);
        int port = Integer.parseInt(args[0]);
        Path dataDir = Path.of(args[1]);
        List<Endpoint> monitors = new ArrayList<>();
        for (int i = 7; i < args.length; i++) {
            monitors.add(Endpoint.parse("ceph-monitors", args[i]));
        }
        Provisioning provisioning = Provisioning.defaults()
                .withDomain(DomainSettings.defaults().withDomainType(DomainSettings.QEMU).withCephMonitors(monitors))
                .withReconcileInterval(Duration.parse(args[4]))
                .withSyncDeadline(Duration.parse(args[6]))
                .withInstall(InstallSettings.defaults().withProfilesDirectory(EmbeddedFleet.shippedProfiles()));
        String routes = System.getProperty(FAILOVER_ROUTES, "");
        if (!routes.isEmpty()) {
            Map<String, String> byAddress = new java.util.LinkedHashMap<>();
            for (String pair : routes.split(",")) {
                String[] kv = pair.split("=", 2);
                byAddress.put(kv[0], kv[1]);
            }
            provisioning = provisioning.withFailoverRoutes(byAddress);
        }
        String ovh = System.getProperty(OVH);
        if (ovh != null) {
            String[] parts = ovh.split(" ", 2);
            Map<String, String> services = new java.util.LinkedHashMap<>();
            for (String pair : parts[1].split(",")) {
                String[] kv = pair.split("=", 2);
                services.put(kv[0], kv[1]);
            }
            OvhAccount account = new OvhAccount(URI.create(parts[0]), FakeOvhApi.APPLICATION_KEY,
                    FakeOvhApi.APPLICATION_SECRET, FakeOvhApi.CONSUMER_KEY);
            provisioning = provisioning.withOvh(OvhSettings.of(account, services)
                    .withTimings(Duration.ofSeconds(10), Duration.ofSeconds(5), Duration.ofMillis(10)));
        }
        String installUrl = System.getProperty(KERNEL_BOOT_URL);
        if (installUrl != null) { // direct kernel boot (or PXE) installs, served on the listen address
            URI url = URI.create(installUrl);
            InstallSettings install = provisioning.install().withAuthorizedKeysFile(Path.of(System.getProperty(INSTALL_KEYS)));
            install = new InstallSettings(install.profilesDirectory(), install.domain(), install.mirrorHost(),
                    install.mirrorDirectory(), System.getProperty(INSTALL_PROXY, ""), install.user(),
                    install.authorizedKeysFile(), install.nameservers());
            provisioning = provisioning.withInstall(install)
                    .withBoot(System.getProperty(PXE_TFTP_ROOT) == null
                            ? new BootSettings(BootMode.KERNEL, null, new InetSocketAddress(args[5], url.getPort()), installUrl)
                            : new BootSettings(BootMode.PXE, Path.of(System.getProperty(PXE_TFTP_ROOT)),
                                    new InetSocketAddress(args[5], url.getPort()), installUrl));
        }
        ControllerConfig config = ControllerConfig.of(new InetSocketAddress(args[5], port), Duration.parse(args[2]),
                Duration.parse(args[3]), dataDir).withProvisioning(provisioning);
        String fencing = System.getProperty(FENCING);
        if (fencing != null) {
            String[] f = fencing.split("\\|");
            config = config.withFencing(new io.virtfleet.controller.fencing.FenceSettings(Path.of(f[0]), f[1], Path.of(f[2]),
                    Duration.ofHours(1), Duration.ofSeconds(20)));
        }
        String automatic = System.getProperty(AUTOMATIC_FAILOVER);
        if (automatic != null) {
            config = config.withHostLoss(new io.virtfleet.controller.fencing.HostLoss.Settings(
                    Duration.parse(automatic.substring(automatic.indexOf('|') + 1)),
                    io.virtfleet.controller.fencing.HostLoss.Mode.parse(automatic.substring(0, automatic.indexOf('|')))));
        }
        // As virtfleet-controller does: the data directory is this process's while it runs.
        dataDirectoryLock = io.virtfleet.controller.DataDirectoryLock.tryTake(dataDir)
                .orElseThrow(() -> new IllegalStateException("another controller holds " + dataDir));
        Controller controller = Controller.create(config);
        for (String lost : System.getProperty(CONFIRMED_DOWN, "").split(",")) {
            if (!lost.isEmpty()) {
                ((io.virtfleet.controller.fencing.Fences) controller.fences()).record(
                        new io.virtfleet.controller.fencing.Fence(lost, io.virtfleet.controller.fencing.Fence.Kind.CONFIRMED_DOWN,
                                List.of(), java.time.Instant.now(), null, "test"));
            }
        }
        controller.start();
        System.out.println("LISTENING " + controller.port());
        System.out.flush();
        Thread passes = new Thread(() -> {
            long told = 0;
            try {
                while (true) {
                    long now = controller.reconciler().passesCompleted();
                    if (now != told) {
                        System.out.println("PASSES " + now); // so a test waits for passes, not for time
                        System.out.flush();
                        told = now;
                    }
                    Thread.sleep(20);
                }
            } catch (InterruptedException e) {
                // closing
            }
        }, "reconciler-passes");
        passes.setDaemon(true);
        passes.start();
        while (System.in.read() >= 0) {
            // until the test closes our standard input
        }
        controller.close();
        System.exit(0);
    }
}
