package io.virtfleet.controller.testkit;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.libvirt.Connect;
import org.libvirt.Domain;
import org.libvirt.LibvirtException;

/**
 * A real, systemd-less libvirtd (QEMU driver) whose whole state lives under one directory, so a test can
 * run several independent "hypervisors" on one machine.
 *
 * <p>The daemon runs in a private mount namespace ({@code unshare -m --propagation private}) in which
 * {@code /etc/libvirt}, {@code /run/libvirt}, {@code /var/lib/libvirt}, {@code /var/log/libvirt} and
 * {@code /var/cache/libvirt} are bind mounts of the node's {@code etc}, {@code run}, {@code lib}, {@code log}
 * and {@code cache} directories. Clients in the root namespace reach it through its socket file with
 * {@link #uri()}. Optionally the daemon also runs inside a network namespace (created beforehand, e.g. with
 * {@code ip netns add}).
 *
 * <p>For live migration a node can also listen on the network ({@link Listen}): libvirt's TLS port with the node's
 * certificates ({@link #pkiDir()}, written beforehand, e.g. by {@link LibvirtPki}) and QEMU's migration stream in TLS
 * ({@link #qemuPkiDir()}). Every node has a host UUID of its own, as distinct hypervisors do.
 *
 * <p>Needs root (mount namespaces), {@code unshare} and {@code taskset} (util-linux), and the Debian packages
 * {@value #PACKAGES}. No shell ever sees a path as code: the namespace setup script is a constant and the
 * node's paths reach it as positional parameters.
 *
 * <p>{@link #close()} destroys the node's running domains and stops the daemon; nodes still open when the
 * JVM exits are closed by a shutdown hook, so no libvirtd or qemu outlives the test run.
 */
public final class LibvirtdNode implements AutoCloseable {
    /** What to install on Debian 12 for this to work (libvirt-daemon-system is not needed: it pulls systemd). */
    public static final String PACKAGES =
            "libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients qemu-system-x86 qemu-utils";
    private static final String INSTALL_HINT = "install them with: apt-get install -y --no-install-recommends "
            + PACKAGES;

    /** The user libvirt 9.0 looks up (compiled-in default) before it reads qemu.conf's user = "root". */
    static final String QEMU_USER = "libvirt-qemu";

    /**
     * Runs in the new mount namespace. $1..$5: node dirs for /etc/libvirt, /run/libvirt, /var/lib/libvirt,
     * /var/log/libvirt, /var/cache/libvirt; $6: pid file; $7: "listen" for a daemon that also listens on the
     * network ({@link Listen}), else "unix"; $8 and $9 (optional): passwd and group files to bind over /etc/passwd
     * and /etc/group. A constant: values are never interpolated into it.
     */
    private static final String NAMESPACE_SCRIPT = String.join("\n",
            "set -e",
            "mount --bind \"$1\" /etc/libvirt",
            "mount --bind \"$2\" /run/libvirt",
            "mount --bind \"$3\" /var/lib/libvirt",
            "mount --bind \"$4\" /var/log/libvirt",
            "mount --bind \"$5\" /var/cache/libvirt",
            "if [ \"$#\" -ge 9 ]; then",
            "  mount --bind \"$8\" /etc/passwd",
            "  mount --bind \"$9\" /etc/group",
            "fi",
            "if [ \"$7\" = listen ]; then",
            "  exec libvirtd --listen --pid-file \"$6\"",
            "fi",
            "exec libvirtd --pid-file \"$6\"");

    /** What the node's libvirtd TLS server needs in {@link #pkiDir()} (libvirtd.conf's ca_file, cert_file, key_file). */
    public static final List<String> SERVER_FILES = List.of("cacert.pem", "servercert.pem", "serverkey.pem");
    /**
     * What QEMU's migration TLS needs in {@link #qemuPkiDir()} (qemu.conf's migrate_tls_x509_cert_dir): QEMU is the
     * server on the target, the client on the source.
     */
    public static final List<String> QEMU_FILES = List.of("ca-cert.pem", "server-cert.pem", "server-key.pem",
            "client-cert.pem", "client-key.pem");

    /** Mount points that must exist in the root namespace before they can be bind-mounted over. */
    private static final List<Path> MOUNT_POINTS = List.of(Path.of("/etc/libvirt"), Path.of("/run/libvirt"),
            Path.of("/var/lib/libvirt"), Path.of("/var/log/libvirt"), Path.of("/var/cache/libvirt"));

    /** sun_path is 108 bytes including the terminating NUL. */
    private static final int MAX_SOCKET_PATH = 107;

    private static final Set<LibvirtdNode> OPEN = ConcurrentHashMap.newKeySet();

    /**
     * The QEMU capabilities the first node of this JVM probed by itself (not seeded), kept when it closed: nodes
     * started later without a seed of their own start with them instead of probing each qemu-system binary again
     * (~8 s under TCG per node, more on a loaded machine). libvirt checks a cache against QEMU's binaries, itself
     * and the host's CPUID before using it and probes again if it does not match, so a node answers the same either
     * way. Null until such a node has closed.
     */
    private static Path probedCapabilities;

    static {
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            for (LibvirtdNode node : List.copyOf(OPEN)) {
                node.close();
            }
            Path probed = probedCapabilities();
            if (probed != null) {
                deleteTree(probed.getParent());
            }
        }, "libvirtd-node-cleanup"));
    }

    /**
     * How a node is started.
     *
     * @param networkNamespace name of an existing network namespace ({@code ip netns}) to run the daemon in,
     *                         or null for the root network namespace
     * @param seedCache        another node's {@code cache} directory whose QEMU capabilities to copy in before
     *                         start, or null: then those a node of this JVM probed by itself, once one has closed.
     *                         The first call that needs them (domain start, getVersion) otherwise probes each
     *                         qemu-system binary: 4 s each under TCG, ~8 s here for x86_64 + i386; seeded, a new
     *                         node answers in ~0.1 s
     * @param startTimeout     how long to wait for the daemon to answer on its socket
     * @param pinCpu           run libvirtd on one fixed CPU. libvirt keys its QEMU capabilities cache on the
     *                         CPUID of the CPU it happens to run on; on VMs whose vCPUs report different CPUID
     *                         values (APIC ids) an unpinned daemon finds the cache "outdated: host cpuid changed"
     *                         about every other start and probes every qemu-system binary again (4 s each under
     *                         TCG), during which API calls stall. Pinning keeps the cache valid across restarts
     *                         and nodes. QEMU processes are not confined by this: libvirt resets their affinity.
     */
    public record Options(String networkNamespace, Path seedCache, Duration startTimeout, boolean pinCpu, Listen listen) {
        public static Options defaults() {
            return new Options(null, null, Duration.ofSeconds(60), true, null);
        }

        public Options inNetworkNamespace(String name) {
            return new Options(name, seedCache, startTimeout, pinCpu, listen);
        }

        public Options seedCacheFrom(Path otherNodeCache) {
            return new Options(networkNamespace, otherNodeCache, startTimeout, pinCpu, listen);
        }

        public Options startTimeout(Duration timeout) {
            return new Options(networkNamespace, seedCache, timeout, pinCpu, listen);
        }

        public Options pinCpu(boolean pin) {
            return new Options(networkNamespace, seedCache, startTimeout, pin, listen);
        }

        /** The daemon also listens on the network, as {@code how} says (default: its unix socket only). */
        public Options listening(Listen how) {
            return new Options(networkNamespace, seedCache, startTimeout, pinCpu, how);
        }
    }

    /**
     * libvirtd listening on the network ({@code libvirtd --listen}), as hypervisors that migrate VMs to each other do.
     *
     * @param address        the one address it listens on (the node's own, e.g. on the rack's underlay)
     * @param tls            libvirt's TLS port 16514 with the node's certificates ({@link #SERVER_FILES} in
     *                       {@link #pkiDir()}), clients' certificates required and checked against the CA there and
     *                       {@code allowedClients}; and QEMU's migration stream in TLS too ({@link #QEMU_FILES} in
     *                       {@link #qemuPkiDir()}, clients verified)
     * @param plainTcp       libvirt's plaintext TCP port 16509 as well, without authentication: what a fleet must
     *                       never migrate over (a test's decoy)
     * @param allowedClients the distinguished names of the client certificates admitted (libvirt's
     *                       tls_allowed_dn_list, as GnuTLS prints a subject, e.g. {@code CN=hv1}); the CA alone admits
     *                       nobody else
     */
    public record Listen(String address, boolean tls, boolean plainTcp, List<String> allowedClients) {
        public Listen {
            allowedClients = List.copyOf(allowedClients);
            if (tls && allowedClients.isEmpty()) {
                throw new IllegalArgumentException("a TLS libvirtd admits the fleet's hosts only: name their certificates'"
                        + " distinguished names");
            }
        }
    }

    private final String name;
    private final Path dir;
    private final Options options;
    private Process daemon;
    /** libvirtd itself, from its pid file: normally the process we started, which exec()s into it. */
    private ProcessHandle libvirtd;
    /**
     * The mount namespaces our daemons ran in (one per start). Every qemu a daemon spawns stays in its
     * namespace, so they identify this node's qemu processes even after the node directory is gone.
     */
    private final Set<String> mountNamespaces = ConcurrentHashMap.newKeySet();

    private LibvirtdNode(Path dir, String name, Options options) {
        this.dir = dir.toAbsolutePath().normalize();
        this.name = name;
        this.options = options;
    }

    /** Creates (or reuses) the node directory {@code dir} and starts its libvirtd. */
    public static LibvirtdNode start(Path dir, String name) throws IOException {
        return start(dir, name, Options.defaults());
    }

    public static LibvirtdNode start(Path dir, String name, Options options) throws IOException {
        LibvirtdNode node = new LibvirtdNode(dir, name, options);
        node.prepare();
        node.startDaemon();
        return node;
    }

    public String name() {
        return name;
    }

    public Path dir() {
        return dir;
    }

    public Path socket() {
        return dir.resolve("run").resolve("libvirt-sock");
    }

    /**
     * The node's libvirt TLS server files ({@link #SERVER_FILES}), with QEMU's in {@link #qemuPkiDir()}; written before
     * a {@link Listen#tls} node starts.
     */
    public Path pkiDir() {
        return dir.resolve("pki");
    }

    /** QEMU's migration TLS files of the node ({@link #QEMU_FILES}). */
    public Path qemuPkiDir() {
        return pkiDir().resolve("qemu");
    }

    /** The node directory's {@link #pkiDir()}, for writing certificates before the node exists. */
    public static Path pkiDir(Path nodeDir) {
        return nodeDir.toAbsolutePath().normalize().resolve("pki");
    }

    /** libvirtd's own log ({@code log_outputs}). */
    public Path logFile() {
        return dir.resolve("log").resolve("libvirtd.log");
    }

    /** The cache directory, to seed other nodes with ({@link Options#seedCacheFrom}). */
    public Path cacheDir() {
        return dir.resolve("cache");
    }

    /**
     * Copies this node's cache (QEMU capabilities probed so far) to {@code target}, to seed later nodes with
     * {@link Options#seedCacheFrom}.
     */
    public void exportCache(Path target) throws IOException {
        copyTree(cacheDir(), target);
    }

    /** The client URI, usable from the root namespace (unix sockets are not scoped by network namespace). */
    public String uri() {
        return "qemu:///system?socket=" + socket();
    }

    /** Pid of the running libvirtd, if any. */
    public synchronized Optional<Long> pid() {
        return running() ? Optional.of(libvirtd.pid()) : Optional.empty();
    }

    public synchronized boolean running() {
        return libvirtd != null && libvirtd.isAlive();
    }

    private void prepare() throws IOException {
        checkTools();
        if (socket().toString().getBytes(StandardCharsets.UTF_8).length > MAX_SOCKET_PATH) {
            throw new IllegalArgumentException("node directory " + dir + " is too deep: the socket path " + socket()
                    + " exceeds the " + MAX_SOCKET_PATH + "-byte limit of unix sockets");
        }
        for (String sub : List.of("etc", "run", "lib", "log", "cache")) {
            Files.createDirectories(dir.resolve(sub));
        }
        for (Path mountPoint : MOUNT_POINTS) {
            Files.createDirectories(mountPoint);
        }
        Listen listen = options.listen();
        List<String> daemon = new ArrayList<>(List.of(
                "# written by the virtfleet test kit: unix socket, root only, no polkit, no systemd",
                "listen_tls = " + (listen != null && listen.tls() ? 1 : 0),
                "listen_tcp = " + (listen != null && listen.plainTcp() ? 1 : 0),
                "unix_sock_group = \"root\"",
                "unix_sock_rw_perms = \"0700\"",
                "unix_sock_ro_perms = \"0700\"",
                "auth_unix_rw = \"none\"",
                "auth_unix_ro = \"none\"",
                // Each node a host of its own: libvirt refuses a migration between hosts of the same UUID.
                "host_uuid = \"" + UUID.nameUUIDFromBytes(dir.toString().getBytes(StandardCharsets.UTF_8)) + "\"",
                "log_outputs = \"3:file:/var/log/libvirt/libvirtd.log\""));
        if (listen != null) {
            daemon.add("listen_addr = " + quoted(listen.address()));
            daemon.add("auth_tcp = \"none\"");
            // The client certificate is the authentication: signed by the CA and named in the list.
            daemon.add("auth_tls = \"none\"");
            daemon.add("ca_file = " + quoted(pkiDir().resolve(SERVER_FILES.get(0)).toString()));
            daemon.add("cert_file = " + quoted(pkiDir().resolve(SERVER_FILES.get(1)).toString()));
            daemon.add("key_file = " + quoted(pkiDir().resolve(SERVER_FILES.get(2)).toString()));
            daemon.add("tls_no_verify_certificate = 0");
            daemon.add("tls_allowed_dn_list = [" + String.join(", ", listen.allowedClients().stream()
                    .map(LibvirtdNode::quoted).toList()) + "]");
        }
        daemon.add("");
        Files.writeString(dir.resolve("etc").resolve("libvirtd.conf"), String.join("\n", daemon));
        List<String> qemu = new ArrayList<>(List.of(
                "# written by the virtfleet test kit: qemu as root, no cgroups, namespaces, virtlogd or labels",
                "user = \"root\"",
                "group = \"root\"",
                "dynamic_ownership = 0",
                "remember_owner = 0",
                "security_driver = \"none\"",
                "cgroup_controllers = [ ]",
                "namespaces = [ ]",
                "stdio_handler = \"file\""));
        if (listen != null && listen.tls()) {
            qemu.add("migrate_tls_x509_cert_dir = " + quoted(qemuPkiDir().toString()));
            qemu.add("migrate_tls_x509_verify = 1");
            checkCertificates();
        }
        qemu.add("");
        Files.writeString(dir.resolve("etc").resolve("qemu.conf"), String.join("\n", qemu));
        if (!qemuUserExists()) {
            writePatchedAccounts();
        }
        if (options.seedCache() != null) {
            copyTree(options.seedCache(), cacheDir());
        } else if (probedCapabilities() != null) {
            copyTree(probedCapabilities(), cacheDir());
        }
    }

    private static synchronized Path probedCapabilities() {
        return probedCapabilities;
    }

    /**
     * Keeps this node's cache as the JVM's {@link #probedCapabilities} if there are none yet and libvirt probed it
     * here, from QEMU itself: a seeded cache may be altered on purpose ({@link OlderCpu}).
     */
    private void keepProbedCapabilities() {
        if (options.seedCache() != null) {
            return;
        }
        synchronized (LibvirtdNode.class) {
            if (probedCapabilities != null) {
                return;
            }
            try (Stream<Path> files = Files.list(cacheDir().resolve("qemu").resolve("capabilities"))) {
                if (files.noneMatch(f -> f.toString().endsWith(".xml"))) {
                    return;
                }
            } catch (IOException e) {
                return; // never probed: nothing to keep
            }
            Path kept = null;
            try {
                kept = Files.createTempDirectory("virtfleet-libvirt-capabilities-").resolve("cache");
                copyTree(cacheDir(), kept);
                probedCapabilities = kept;
            } catch (IOException e) {
                if (kept != null) {
                    deleteTree(kept.getParent()); // a partial copy: later nodes probe for themselves
                }
            }
        }
    }

    private static void deleteTree(Path root) {
        try (Stream<Path> all = Files.walk(root)) {
            for (Path p : all.sorted(java.util.Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        } catch (IOException e) {
            // a temporary directory: left for the system's cleaning
        }
    }

    /** The TLS files must be in place before libvirtd starts: it refuses to start without them, less clearly. */
    private void checkCertificates() throws IOException {
        List<Path> missing = new ArrayList<>();
        SERVER_FILES.stream().map(pkiDir()::resolve).filter(f -> !Files.isReadable(f)).forEach(missing::add);
        QEMU_FILES.stream().map(qemuPkiDir()::resolve).filter(f -> !Files.isReadable(f)).forEach(missing::add);
        if (!missing.isEmpty()) {
            throw new IOException("libvirtd of node " + name + " is to listen on TLS but lacks its certificates: "
                    + missing);
        }
    }

    /** A string in libvirt's configuration syntax; node paths and names never hold quotes or backslashes. */
    private static String quoted(String value) {
        if (value.contains("\"") || value.contains("\\") || value.contains("\n")) {
            throw new IllegalArgumentException("not for a libvirt configuration string: " + value);
        }
        return "\"" + value + "\"";
    }

    /** Starts libvirtd on this node's directory; also used to start it again after {@link #stopDaemon()}. */
    public synchronized void startDaemon() throws IOException {
        if (running()) {
            throw new IllegalStateException("libvirtd of node " + name + " is already running (pid " + daemon.pid() + ")");
        }
        Files.deleteIfExists(socket());
        Files.deleteIfExists(pidFile());
        List<String> command = new ArrayList<>();
        if (options.networkNamespace() != null) {
            command.addAll(List.of("ip", "netns", "exec", options.networkNamespace()));
        }
        if (options.pinCpu()) {
            command.addAll(List.of("taskset", "--cpu-list", Integer.toString(firstAllowedCpu())));
        }
        // ip netns exec, taskset and unshare all exec() their command: the process we start becomes libvirtd.
        command.addAll(List.of("unshare", "--mount", "--propagation", "private", "sh", "-c", NAMESPACE_SCRIPT, "sh",
                dir.resolve("etc").toString(), dir.resolve("run").toString(), dir.resolve("lib").toString(),
                dir.resolve("log").toString(), dir.resolve("cache").toString(), pidFile().toString(),
                options.listen() != null ? "listen" : "unix"));
        if (Files.exists(passwdCopy())) {
            command.add(passwdCopy().toString());
            command.add(groupCopy().toString());
        }
        Path stdout = dir.resolve("log").resolve("stdout.log");
        daemon = new ProcessBuilder(command)
                .redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.appendTo(stdout.toFile()))
                .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")))
                .start();
        libvirtd = daemon.toHandle();
        OPEN.add(this);
        try {
            awaitReady();
            libvirtd = recordedDaemon();
            String ns = mountNamespace(libvirtd.pid()).orElseThrow(() -> new IOException("libvirtd exited"));
            if (ns.equals(mountNamespace(ProcessHandle.current().pid()).orElse(""))) {
                throw new IOException("libvirtd of node " + name + " runs in the test's own mount namespace");
            }
            mountNamespaces.add(ns);
        } catch (IOException | RuntimeException e) {
            stopDaemon();
            throw e;
        }
    }

    /** Waits until the daemon accepts a libvirt connection; fails with its log if it dies or times out. */
    private void awaitReady() throws IOException {
        long deadline = System.nanoTime() + options.startTimeout().toNanos();
        while (!Files.exists(socket())) {
            if (!daemon.isAlive()) {
                throw new IOException("libvirtd of node " + name + " exited with status " + daemon.exitValue()
                        + " before creating its socket " + socket() + ".\n" + diagnostics());
            }
            if (System.nanoTime() > deadline) {
                throw new IOException("libvirtd of node " + name + " did not create its socket " + socket()
                        + " within " + options.startTimeout().toSeconds() + " s.\n" + diagnostics());
            }
            sleep(20);
        }
        // The socket exists once the daemon listens; a connection proves the QEMU driver is loaded too.
        LibvirtException last = null;
        while (System.nanoTime() < deadline && daemon.isAlive()) {
            try {
                Connect conn = new Connect(uri(), false);
                try {
                    conn.getLibVersion();
                    return;
                } finally {
                    conn.close();
                }
            } catch (LibvirtException e) {
                if (message(e).contains("no connection driver available")) {
                    throw new IOException("libvirtd of node " + name + " runs but has no QEMU driver (" + message(e)
                            + "): install the Debian package libvirt-daemon-driver-qemu.\n" + diagnostics());
                }
                last = e;
                sleep(100);
            }
        }
        throw new IOException("libvirtd of node " + name + " does not accept connections at " + uri()
                + (last == null ? "" : ": " + message(last)) + ".\n" + diagnostics());
    }

    /** The process named in libvirtd's pid file; it must be ours (the one we started or a descendant). */
    private ProcessHandle recordedDaemon() throws IOException {
        long recorded = Long.parseLong(Files.readString(pidFile()).strip());
        if (recorded == daemon.pid()) {
            return daemon.toHandle();
        }
        return daemon.descendants().filter(p -> p.pid() == recorded).findFirst()
                .orElseThrow(() -> new IOException("pid file " + pidFile() + " names " + recorded
                        + ", which is not the libvirtd this node started (pid " + daemon.pid() + ")"));
    }

    /**
     * Stops libvirtd (SIGTERM, then SIGKILL after 10 s) but leaves running domains alone, as a crashed or
     * restarted daemon would; {@link #startDaemon()} brings it back on the same state.
     */
    public synchronized void stopDaemon() {
        if (daemon == null) {
            return;
        }
        for (ProcessHandle p : List.of(libvirtd, daemon.toHandle())) {
            p.destroy();
            try {
                p.onExit().get(10, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                p.destroyForcibly();
            } catch (Exception e) {
                p.destroyForcibly();
                try {
                    p.onExit().get(5, TimeUnit.SECONDS);
                } catch (Exception ignored) {
                    // reported by the caller's leftover-process check, if any
                }
            }
        }
        daemon = null;
        libvirtd = null;
    }

    /**
     * Kills libvirtd at once (SIGKILL), as a crash would: clients see their connections drop, running domains are left
     * alone. {@link #startDaemon()} brings it back on the same state.
     */
    public synchronized void killDaemon() {
        if (daemon == null) {
            return;
        }
        for (ProcessHandle p : List.of(libvirtd, daemon.toHandle())) {
            p.destroyForcibly();
            try {
                p.onExit().get(10, TimeUnit.SECONDS);
            } catch (Exception e) {
                // reported by the caller's leftover-process check, if any
            }
        }
        daemon = null;
        libvirtd = null;
    }

    /**
     * The node's host boots again, as after a power loss: libvirtd and every QEMU of the node are killed, the node's
     * /run/libvirt is emptied (a boot empties that tmpfs, and with it libvirt's mark that it already autostarted its
     * domains since the boot), and libvirtd starts: it autostarts the domains whose libvirt autostart flag is on, as at
     * a host's boot, before it accepts connections.
     */
    public synchronized void boot() throws IOException {
        killDaemon();
        for (ProcessHandle qemu : qemuProcesses()) {
            qemu.destroyForcibly();
            try {
                qemu.onExit().get(10, TimeUnit.SECONDS);
            } catch (Exception e) {
                throw new IOException("QEMU process " + qemu.pid() + " of node " + name + " did not end", e);
            }
        }
        Path run = dir.resolve("run");
        try (var walk = Files.walk(run)) { // does not follow symbolic links: only the node's own files go
            for (Path p : walk.sorted(java.util.Comparator.reverseOrder()).toList()) {
                if (!p.equals(run)) {
                    Files.delete(p);
                }
            }
        }
        startDaemon();
    }

    /**
     * The QEMU processes of this node, by pid: those in one of the mount namespaces its daemons ran in, found from the
     * processes themselves, so also while libvirtd is down.
     */
    public List<ProcessHandle> qemuProcesses() {
        if (mountNamespaces.isEmpty()) {
            return List.of();
        }
        return ProcessHandle.allProcesses()
                .filter(p -> p.info().command().map(c -> c.contains("qemu-system")).orElse(false))
                .filter(p -> mountNamespace(p.pid()).map(mountNamespaces::contains).orElse(false))
                .toList();
    }

    /**
     * Destroys the node's running domains (through libvirt while it answers), stops the daemon, then kills
     * any qemu left in the node's mount namespaces (daemon down, or libvirt failed to destroy). Safe to call
     * twice.
     */
    @Override
    public synchronized void close() {
        try {
            if (running()) {
                destroyDomainsThroughLibvirt();
            }
            stopDaemon();
            killLeftoverQemus();
            keepProbedCapabilities();
        } finally {
            OPEN.remove(this);
        }
    }

    private void destroyDomainsThroughLibvirt() {
        try {
            Connect conn = new Connect(uri(), false);
            try {
                for (int id : conn.listDomains()) {
                    try {
                        Domain d = conn.domainLookupByID(id);
                        try {
                            d.destroy();
                        } finally {
                            d.free();
                        }
                    } catch (LibvirtException e) {
                        // gone meanwhile, or libvirt cannot: the mount-namespace sweep is the fallback
                    }
                }
            } finally {
                conn.close();
            }
        } catch (LibvirtException e) {
            // daemon not answering: the mount-namespace sweep finds its qemu processes
        }
    }

    /** Kills qemu processes still running in one of this node's mount namespaces. */
    private void killLeftoverQemus() {
        qemuProcesses().forEach(LibvirtdNode::terminate);
    }

    /** The mount namespace of a process, as its /proc/PID/ns/mnt link reads ("mnt:[4026532247]"). */
    private static Optional<String> mountNamespace(long pid) {
        try {
            return Optional.of(Files.readSymbolicLink(Path.of("/proc", Long.toString(pid), "ns", "mnt")).toString());
        } catch (IOException e) {
            return Optional.empty(); // exited meanwhile
        }
    }

    private static void terminate(ProcessHandle p) {
        p.destroy();
        try {
            p.onExit().get(5, TimeUnit.SECONDS);
        } catch (Exception e) {
            p.destroyForcibly();
        }
    }

    /** The end of libvirtd's log and its stdout, and what to install; for error messages. */
    public String diagnostics() {
        StringBuilder out = new StringBuilder();
        out.append("--- ").append(logFile()).append(" (last lines) ---\n").append(tail(logFile(), 40));
        Path stdout = dir.resolve("log").resolve("stdout.log");
        out.append("--- ").append(stdout).append(" ---\n").append(tail(stdout, 40));
        // Each domain's QEMU log (libvirt writes it to log/qemu/<name>.log): why a start failed or hung.
        try (var logs = Files.list(dir.resolve("log").resolve("qemu"))) {
            for (Path qemuLog : logs.filter(p -> p.toString().endsWith(".log")).sorted().toList()) {
                out.append("--- ").append(qemuLog).append(" (last lines) ---\n").append(tail(qemuLog, 15));
            }
        } catch (IOException e) {
            out.append("--- no QEMU logs: ").append(e.getMessage()).append('\n');
        }
        out.append("--- libvirtd needs root, util-linux (unshare, taskset) and the Debian packages ").append(PACKAGES)
                .append("; ").append(INSTALL_HINT);
        return out.toString();
    }

    private static String tail(Path file, int lines) {
        try {
            List<String> all = Files.readAllLines(file, StandardCharsets.UTF_8);
            return String.join("\n", all.subList(Math.max(0, all.size() - lines), all.size())) + "\n";
        } catch (IOException e) {
            return "(not readable: " + e + ")\n";
        }
    }

    private Path pidFile() {
        return dir.resolve("run").resolve("libvirtd.pid");
    }

    private Path passwdCopy() {
        return dir.resolve("etc-passwd");
    }

    private Path groupCopy() {
        return dir.resolve("etc-group");
    }

    /** libvirt 9.0 needs the libvirt-qemu user; give the daemon's namespace passwd/group copies that have it. */
    private void writePatchedAccounts() throws IOException {
        String passwd = Files.readString(Path.of("/etc/passwd"));
        String group = Files.readString(Path.of("/etc/group"));
        int id = freeId(passwd, group);
        Files.writeString(passwdCopy(), withNewline(passwd)
                + QEMU_USER + ":x:" + id + ":" + id + ":libvirt qemu:/var/lib/libvirt:/usr/sbin/nologin\n");
        Files.writeString(groupCopy(), withNewline(group) + QEMU_USER + ":x:" + id + ":\n");
    }

    private static boolean qemuUserExists() throws IOException {
        try {
            Process getent = new ProcessBuilder("getent", "passwd", QEMU_USER)
                    .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
            return getent.waitFor() == 0;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while looking up user " + QEMU_USER, e);
        }
    }

    /** A uid/gid not used in either file, starting at Debian's usual one for libvirt-qemu. */
    private static int freeId(String passwd, String group) {
        Set<String> used = new HashSet<>();
        for (String line : (passwd + "\n" + group).split("\n")) {
            String[] f = line.split(":");
            if (f.length > 2) {
                used.add(f[2]);
            }
        }
        int id = 64055;
        while (used.contains(Integer.toString(id))) {
            id++;
        }
        return id;
    }

    private static String withNewline(String s) {
        return s.isEmpty() || s.endsWith("\n") ? s : s + "\n";
    }

    /** The lowest CPU this JVM may run on (Cpus_allowed_list of /proc/self/status, e.g. "0-1" or "2,5-7"). */
    private static int firstAllowedCpu() throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
            if (line.startsWith("Cpus_allowed_list:")) {
                String first = line.substring(line.indexOf(':') + 1).strip().split("[,-]")[0];
                return Integer.parseInt(first);
            }
        }
        return 0;
    }

    private static void checkTools() throws IOException {
        List<String> missing = new ArrayList<>();
        for (String tool : List.of("libvirtd", "qemu-system-x86_64", "unshare", "taskset")) {
            if (findOnPath(tool).isEmpty()) {
                missing.add(tool);
            }
        }
        if (!missing.isEmpty()) {
            throw new IOException("cannot start a real libvirtd: " + String.join(", ", missing)
                    + " not found on PATH or in /usr/sbin. Needed Debian packages: " + PACKAGES
                    + " (and util-linux for unshare and taskset);\n"
                    + INSTALL_HINT);
        }
        Object uid = Files.getAttribute(Path.of("/proc/self"), "unix:uid");
        if (!Integer.valueOf(0).equals(uid)) {
            throw new IOException("cannot start a real libvirtd: the test must run as root (mount namespaces,"
                    + " qemu:///system); running as uid " + uid);
        }
    }

    private static Optional<Path> findOnPath(String tool) {
        String path = System.getenv().getOrDefault("PATH", "") + ":/usr/sbin:/sbin:/usr/bin:/bin";
        return Stream.of(path.split(":"))
                .filter(p -> !p.isEmpty())
                .map(p -> Path.of(p, tool))
                .filter(Files::isExecutable)
                .findFirst();
    }

    private static void copyTree(Path from, Path to) throws IOException {
        Files.walkFileTree(from, new SimpleFileVisitor<>() {
            @Override
            public FileVisitResult preVisitDirectory(Path d, BasicFileAttributes attrs) throws IOException {
                Files.createDirectories(to.resolve(from.relativize(d)));
                return FileVisitResult.CONTINUE;
            }

            @Override
            public FileVisitResult visitFile(Path f, BasicFileAttributes attrs) throws IOException {
                Files.copy(f, to.resolve(from.relativize(f)), StandardCopyOption.REPLACE_EXISTING,
                        StandardCopyOption.COPY_ATTRIBUTES);
                return FileVisitResult.CONTINUE;
            }
        });
    }

    private static String message(LibvirtException e) {
        return e.getError() != null && e.getError().getMessage() != null ? e.getError().getMessage().strip()
                : String.valueOf(e.getMessage());
    }

    private static void sleep(long ms) throws IOException {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while waiting for libvirtd", e);
        }
    }

    @Override
    public String toString() {
        return "libvirtd node " + name + " at " + dir;
    }
}
