package io.virtfleet.controller.embedded;

import com.google.gson.JsonParser;
import io.virtfleet.common.process.Command;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

/**
 * A real single-node Ceph cluster for the embedded fleet, its tests and benchmarks: one monitor and one OSD (memstore: objects in the OSD's memory),
 * on loopback (or another address of this machine), on two free ports found at start (never Ceph's defaults,
 * so clusters of parallel runs and a real one coexist), every file under one directory. No manager: RBD does not need one. Pools
 * {@value #SSD_POOL} and {@value #SATA_POOL} are ready for RBD, and the cephx user {@code client.}{@value #CLIENT}
 * has the rbd profile on both, its key in {@link #clientKeyring()}, as on a hypervisor.
 *
 * <p>Needs the Debian packages {@value #PACKAGES}; {@link #start} fails with the command to install them when
 * they are missing. Daemons run in the foreground as children of this JVM: {@link #close()} (or a shutdown
 * hook) stops them, so none outlives the test run. About 12 s to start on 2 cores.
 */
public final class CephCluster implements AutoCloseable {
    public static final String PACKAGES = "ceph-mon ceph-osd ceph-common";
    public static final String SSD_POOL = "libvirt-ssd";
    public static final String SATA_POOL = "libvirt-sata";
    public static final String CLIENT = "libvirt";
    private static final Duration WAIT = Duration.ofSeconds(90);
    private static final Set<CephCluster> OPEN = ConcurrentHashMap.newKeySet();

    static {
        Runtime.getRuntime().addShutdownHook(new Thread(() -> List.copyOf(OPEN).forEach(CephCluster::close),
                "ceph-cluster-cleanup"));
    }

    private final Path dir;
    /** IPv4 address the daemons listen on: loopback, or an underlay address the hosts of a test reach. */
    private final String address;
    private final Map<String, Process> daemons = new LinkedHashMap<>();
    private int monPort;
    private int osdId = -1;

    private CephCluster(Path dir, String address) {
        this.dir = dir.toAbsolutePath().normalize();
        this.address = address;
    }

    /** Creates a new cluster in {@code dir} (which must not hold one yet) on loopback and waits until RBD works. */
    public static CephCluster start(Path dir) throws IOException {
        return start(dir, "127.0.0.1");
    }

    /**
     * Like {@link #start(Path)}, with the monitor and the OSD on {@code address}, an IPv4 address of this
     * machine (e.g. the root namespace's end of a test's underlay), so that clients in other network namespaces
     * (QEMU of a libvirtd in a host's namespace) reach them.
     */
    public static CephCluster start(Path dir, String address) throws IOException {
        CephCluster cluster = new CephCluster(dir, address);
        OPEN.add(cluster);
        try {
            cluster.create();
        } catch (IOException | RuntimeException e) {
            cluster.close();
            throw e;
        }
        return cluster;
    }

    /** ceph.conf for clients: monitor address and timeouts; pass the user and keyring explicitly. */
    public Path conf() {
        return dir.resolve("ceph.conf");
    }

    /** Keyring of {@code client.libvirt}. */
    public Path clientKeyring() {
        return dir.resolve("ceph.client." + CLIENT + ".keyring");
    }

    /** How an agent reaches this cluster for the ssd and sata tiers: its conf, the client's keyring, the two pools. */
    public io.virtfleet.agent.storage.CephSettings agentSettings() {
        return new io.virtfleet.agent.storage.CephSettings(conf(), CLIENT, clientKeyring(), SSD_POOL, SATA_POOL,
                Duration.ofSeconds(10));
    }

    /** The monitor's msgr2 address, {@code host:port}: for messages, and for clients given monitors by address. */
    public String monitor() {
        return address + ":" + monPort;
    }

    /** Runs {@code rbd} as the cluster's admin (for checking what the code under test did). */
    public Command.Result rbd(String... args) {
        return admin("rbd", args);
    }

    /** The size in bytes of RBD image {@code pool/image}; fails when there is no such image. */
    public long imageSize(String pool, String image) {
        Command.Result r = checked(rbd("info", "--format", "json", pool + "/" + image));
        return JsonParser.parseString(r.stdout()).getAsJsonObject().get("size").getAsLong();
    }

    /** The names of the RBD images in {@code pool}, sorted. */
    public List<String> images(String pool) {
        return checked(rbd("ls", pool)).stdout().lines().map(String::strip).filter(l -> !l.isEmpty()).sorted().toList();
    }

    /** Runs {@code ceph} as the cluster's admin. */
    public Command.Result ceph(String... args) {
        return admin("ceph", args);
    }

    /** Stops the monitor (SIGTERM): clients can no longer reach the cluster. */
    public synchronized void stopMonitor() {
        stop("mon");
    }

    /** Starts the monitor again on its state and waits until it answers. */
    public synchronized void startMonitor() throws IOException {
        daemons.put("mon", daemon("ceph-mon", "-f", "-i", "a"));
        awaitAdmin("the monitor answering", () -> ceph("osd", "stat").exitCode() == 0);
    }

    private void create() throws IOException {
        checkTools();
        Files.createDirectories(dir);
        try (var entries = Files.list(dir)) {
            if (entries.findAny().isPresent()) {
                throw new IOException("Ceph test cluster directory " + dir + " is not empty");
            }
        }
        for (String sub : List.of("mon/ceph-a", "osd/ceph-0", "run", "log")) {
            Files.createDirectories(dir.resolve(sub));
        }
        int[] ports = freePorts(2);
        monPort = ports[0];
        String fsid = UUID.randomUUID().toString();
        String mon = "[v2:" + address + ":" + ports[0] + ",v1:" + address + ":" + ports[1] + "]";
        Files.writeString(conf(), conf(fsid, mon), StandardCharsets.UTF_8);

        Path keyring = dir.resolve("keyring");
        tool("ceph-authtool", "--create-keyring", keyring.toString(), "--gen-key", "-n", "mon.", "--cap", "mon", "allow *");
        tool("ceph-authtool", keyring.toString(), "--gen-key", "-n", "client.admin", "--cap", "mon", "allow *",
                "--cap", "osd", "allow *", "--cap", "mgr", "allow *");
        tool("monmaptool", "--create", "--fsid", fsid, "--addv", "a", mon, dir.resolve("monmap").toString());
        tool("ceph-mon", "-c", conf().toString(), "--mkfs", "-i", "a", "--monmap", dir.resolve("monmap").toString(),
                "--keyring", keyring.toString());
        startMonitor();

        // The pools and the client's key need the monitor only: they are made while the OSD is registered, made and
        // booted. Every `ceph` call is a Python program that takes a second or more to start (several on a loaded
        // machine), so running them side by side saves seconds per cluster.
        ExecutorService meanwhile = Executors.newFixedThreadPool(3, r -> {
            Thread t = new Thread(r, "ceph-cluster-setup");
            t.setDaemon(true);
            return t;
        });
        try {
            List<Future<?>> pools = new ArrayList<>();
            for (String pool : List.of(SSD_POOL, SATA_POOL)) {
                pools.add(meanwhile.submit(() -> checked(ceph("osd", "pool", "create", pool, "8", "8"))));
            }
            Future<?> client = meanwhile.submit(() -> checked(ceph("auth", "get-or-create", "client." + CLIENT,
                    "mon", "profile rbd", "osd", "profile rbd pool=" + SSD_POOL + ", profile rbd pool=" + SATA_POOL,
                    "-o", clientKeyring().toString())));

            String osdUuid = UUID.randomUUID().toString();
            String osdKey = tool("ceph-authtool", "--gen-print-key").stdout().strip();
            Path osdSecret = Files.writeString(dir.resolve("osd-secret.json"), "{\"cephx_secret\": \"" + osdKey + "\"}");
            osdId = Integer.parseInt(checked(ceph("osd", "new", osdUuid, "-i", osdSecret.toString())).stdout().strip());
            tool("ceph-authtool", keyring.toString(), "-n", "osd." + osdId, "--add-key", osdKey);
            tool("ceph-osd", "-c", conf().toString(), "-i", Integer.toString(osdId), "--mkfs", "--osd-uuid", osdUuid);
            daemons.put("osd", daemon("ceph-osd", "-f", "-i", Integer.toString(osdId)));

            awaitSteps("the pools created", pools);
            List<Future<?>> ready = new ArrayList<>();
            for (String pool : List.of(SSD_POOL, SATA_POOL)) {
                // Returns once the pool's placement groups are active: the OSD is up and serves them.
                ready.add(meanwhile.submit(() -> checked(rbd("pool", "init", pool))));
            }
            ready.add(client);
            awaitSteps("osd." + osdId + " up and serving the pools", ready);
        } finally {
            meanwhile.shutdownNow();
        }
    }

    /**
     * Waits until every one of {@code steps} is done, failing at once if a daemon exits meanwhile or after {@link #WAIT};
     * the first step's failure is thrown as the step threw it, the others' added to it.
     */
    private void awaitSteps(String what, List<Future<?>> steps) throws IOException {
        awaitAdmin(what, () -> steps.stream().allMatch(Future::isDone), 50);
        Throwable first = null;
        for (Future<?> step : steps) {
            try {
                step.get();
            } catch (ExecutionException e) {
                if (first == null) {
                    first = e.getCause();
                } else {
                    first.addSuppressed(e.getCause());
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IOException("interrupted while waiting for " + what, e);
            }
        }
        if (first instanceof RuntimeException re) {
            throw re;
        } else if (first instanceof Error err) {
            throw err;
        } else if (first != null) {
            throw new IOException(what + ": " + first.getMessage(), first);
        }
    }

    private String conf(String fsid, String mon) {
        // Daemons' sockets, pid files and logs under dir; clients log there too but keep no admin socket,
        // since several rbd commands at once would fight over one.
        return String.join("\n",
                "[global]",
                "fsid = " + fsid,
                "mon host = " + mon,
                "public network = " + (address.equals("127.0.0.1") ? "127.0.0.0/8" : address + "/32"),
                "auth cluster required = cephx",
                "auth service required = cephx",
                "auth client required = cephx",
                "keyring = " + dir.resolve("keyring"),
                "run dir = " + dir.resolve("run"),
                "log file = " + dir.resolve("log") + "/$cluster-$name.log",
                "mon cluster log file = " + dir.resolve("log") + "/$cluster.log",
                "crash dir = " + dir.resolve("crash"),
                "admin socket = ",
                "osd pool default size = 1",
                "osd pool default min size = 1",
                "osd pool default pg autoscale mode = off",
                "osd crush chooseleaf type = 0",
                "mon allow pool size one = true",
                "mon allow pool delete = true",
                "mon warn on pool no redundancy = false",
                "mon warn on insecure global id reclaim allowed = false",
                "ms bind ipv6 = false",
                "[mon]",
                "mon data = " + dir.resolve("mon") + "/$cluster-$id",
                "admin socket = " + dir.resolve("run") + "/$cluster-$name.asok",
                "[osd]",
                "osd data = " + dir.resolve("osd") + "/$cluster-$id",
                "admin socket = " + dir.resolve("run") + "/$cluster-$name.asok",
                "osd objectstore = memstore",
                "memstore device bytes = 1073741824",
                "osd max object name len = 256",
                "osd max object namespace len = 64",
                "");
    }

    private Process daemon(String program, String... args) throws IOException {
        List<String> argv = new ArrayList<>(List.of(program, "-c", conf().toString()));
        argv.addAll(List.of(args));
        return new ProcessBuilder(argv)
                .redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.appendTo(dir.resolve("log").resolve(program + ".out").toFile()))
                .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")))
                .start();
    }

    private Command.Result admin(String program, String... args) {
        // rbd has no --connect-timeout; librados' own limit does the same.
        List<String> argv = new ArrayList<>(List.of(program, "--conf", conf().toString(),
                program.equals("rbd") ? "--client_mount_timeout" : "--connect-timeout", "10"));
        argv.addAll(List.of(args));
        return Command.of(argv).timeout(Duration.ofSeconds(60)).run();
    }

    private Command.Result tool(String... argv) {
        return checked(Command.of(argv).timeout(Duration.ofSeconds(60)).run());
    }

    private Command.Result checked(Command.Result r) {
        if (r.exitCode() != 0) {
            throw new IllegalStateException(r.command() + " failed with exit code " + r.exitCode() + ": " + r.stderr().strip()
                    + "\n(Ceph logs in " + dir.resolve("log") + ")");
        }
        return r;
    }

    private interface Check {
        boolean ok();
    }

    private void awaitAdmin(String what, Check check) throws IOException {
        awaitAdmin(what, check, 250);
    }

    private void awaitAdmin(String what, Check check, long pollMillis) throws IOException {
        long deadline = System.nanoTime() + WAIT.toNanos();
        while (!check.ok()) {
            for (Map.Entry<String, Process> d : daemons.entrySet()) {
                if (!d.getValue().isAlive()) {
                    throw new IOException("ceph " + d.getKey() + " exited with status " + d.getValue().exitValue()
                            + " while waiting for " + what + "; see " + dir.resolve("log"));
                }
            }
            if (System.nanoTime() > deadline) {
                throw new IOException("single-node Ceph: no " + what + " within " + WAIT.toSeconds() + " s; see "
                        + dir.resolve("log"));
            }
            sleep(pollMillis);
        }
    }

    /** Whether this machine has the programs a cluster needs (the packages {@value #PACKAGES}). */
    public static boolean installed() {
        try {
            checkTools();
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    private static void checkTools() throws IOException {
        List<String> missing = new ArrayList<>();
        for (String tool : List.of("ceph-mon", "ceph-osd", "ceph-authtool", "monmaptool", "ceph", "rbd")) {
            boolean found = false;
            for (String p : System.getenv().getOrDefault("PATH", "/usr/bin:/bin").split(":")) {
                if (Files.isExecutable(Path.of(p, tool))) {
                    found = true;
                    break;
                }
            }
            if (!found) {
                missing.add(tool);
            }
        }
        if (!missing.isEmpty()) {
            throw new IOException("single-node Ceph: " + missing + " not found; install them with: apt-get install -y "
                    + "--no-install-recommends " + PACKAGES + " (deploy/dev/install-deps.sh does)");
        }
    }

    /** Ports free now on the cluster's address; a daemon binding them a moment later is the usual small race of tests. */
    private int[] freePorts(int count) throws IOException {
        int[] ports = new int[count];
        List<ServerSocket> held = new ArrayList<>();
        try {
            for (int i = 0; i < count; i++) {
                ServerSocket s = new ServerSocket();
                s.bind(new InetSocketAddress(address, 0));
                held.add(s);
                ports[i] = s.getLocalPort();
            }
        } finally {
            for (ServerSocket s : held) {
                s.close();
            }
        }
        return ports;
    }

    /** Whether something accepts connections on the monitor's port. */
    public boolean monitorListening() {
        try (Socket s = new Socket()) {
            s.connect(new InetSocketAddress(address, monPort), 500);
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    private void stop(String which) {
        Process p = daemons.remove(which);
        if (p == null) {
            return;
        }
        p.destroy();
        try {
            if (!p.waitFor(10, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                p.waitFor(5, TimeUnit.SECONDS);
            }
        } catch (InterruptedException e) {
            p.destroyForcibly();
            Thread.currentThread().interrupt();
        }
    }

    private static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted", e);
        }
    }

    /** Stops the OSD, then the monitor; the directory stays for a look at the logs. Safe to call twice. */
    @Override
    public synchronized void close() {
        try {
            stop("osd");
            stop("mon");
        } finally {
            OPEN.remove(this);
        }
    }
}
