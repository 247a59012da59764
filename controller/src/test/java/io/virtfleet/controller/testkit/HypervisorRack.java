package io.virtfleet.controller.testkit;

import io.virtfleet.agent.AgentConfig;
import io.virtfleet.agent.storage.CephSettings;
import io.virtfleet.common.validation.Endpoint;
import io.virtfleet.controller.embedded.CephCluster;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.function.Consumer;
import java.util.function.Function;
import org.libvirt.Connect;
import org.libvirt.LibvirtException;

/**
 * Simulated hypervisors as virtfleet meets them in a fleet: each a network namespace of its own, cabled to one
 * underlay switch (the vRack), with a real libvirtd (QEMU/TCG) and a real {@code virtfleet-agent} in its own JVM
 * inside that namespace ({@link AgentJvm}); a real single-node Ceph on the underlay for the ssd and sata tiers
 * (none in a rack {@link #withoutCeph}).
 * The controller is the caller's (in this JVM or in its own): it must serve on {@link #controllerAddress()}.
 *
 * <p>A host can be cut off the underlay and put back ({@link #cut}, {@link #mend}): its agent then loses the
 * controller, Ceph and the other hosts at once, as with a pulled cable.
 *
 * <p>For live migration, hosts' libvirtds can listen on the underlay over TLS ({@link LibvirtListening}): each with
 * its certificates from a fleet CA of the test's, admitting the rack's hosts' client certificates only, and the
 * host's client certificate where its agent reads it ({@link Host#libvirtTlsDirectory()}).
 *
 * <p>Needs root and the packages of deploy/dev/install-deps.sh; {@link #start} fails, naming what is missing,
 * without them.
 */
public final class HypervisorRack implements AutoCloseable {
    private static final String UNDERLAY_DEVICE = "ul0";
    /** The subjects of fleet-issued libvirt certificates, as deploy/README.md tells operators to admit them. */
    private static final String FLEET_LIBVIRT_DN = "O=virtfleet,OU=libvirt,CN=*";

    /** One simulated hypervisor: its namespace, its underlay address, its libvirtd, its agent's state directory. */
    public record Host(String name, String namespace, String address, LibvirtdNode node, Path stateDir) {
        /** A connection to the host's libvirtd, as virsh on that host would open; the caller closes it. */
        public Connect libvirt() throws LibvirtException {
            return new Connect(node.uri(), false);
        }

        /** Where the host's agent finds its libvirt TLS client certificate (see {@link LibvirtListening}). */
        public Path libvirtTlsDirectory() {
            return AgentConfig.libvirtTlsDirectory(stateDir);
        }
    }

    /**
     * How a host's libvirtd listens to the other hosts: on TLS at its underlay address, with a certificate for that
     * address from {@code issuer}, admitting the client certificates of the rack's hosts; with {@code plainTcp}, on
     * plaintext TCP as well (a host no fleet may migrate to).
     */
    public record LibvirtListening(LibvirtPki issuer, boolean plainTcp) {}

    private final NetworkNamespaces namespaces = new NetworkNamespaces();
    private final Map<String, Host> hosts = new LinkedHashMap<>();
    private final Map<String, AgentJvm> agents = new LinkedHashMap<>();
    /** How each host's agent was started, to start it again after {@link #stopAgent}. */
    private final Map<String, AgentJvm.Settings> agentSettings = new LinkedHashMap<>();
    /** Closed last to first. */
    private final List<AutoCloseable> closers = new ArrayList<>();
    private final Path work;
    private Underlay underlay;
    /** Null in a rack without Ceph ({@link #withoutCeph}). */
    private CephCluster ceph;
    private final boolean withCeph;

    private HypervisorRack(Path work, boolean withCeph) {
        this.work = work;
        this.withCeph = withCeph;
    }

    /**
     * Starts the underlay ({@code <prefix>.0/24}; the test's own namespace is {@code <prefix>.1}, the hosts
     * {@code <prefix>.11} on), Ceph and one libvirtd per host; no agent yet: see {@link #startAgents}.
     *
     * @param lap told what is up, as it comes up
     */
    public static HypervisorRack start(Path work, String prefix, List<String> names, Consumer<String> lap) throws IOException {
        return start(work, prefix, names, host -> null, lap);
    }

    /**
     * As {@link #start(Path, String, List, Consumer)}, each host's libvirtd listening as {@code listening} says for it
     * (null: its unix socket only).
     */
    public static HypervisorRack start(Path work, String prefix, List<String> names,
                                       Function<String, LibvirtListening> listening, Consumer<String> lap) throws IOException {
        return start(work, prefix, names, listening, lap, true);
    }

    /**
     * As {@link #start(Path, String, List, Consumer)} with no Ceph: for tests whose VMs have raw disks only, which
     * need not wait for a cluster to come up nor share the machine's CPU with its daemons. The agents' ceph-conf
     * names a file that does not exist (in the rack's directory): ssd and sata disks are refused, saying so.
     */
    public static HypervisorRack withoutCeph(Path work, String prefix, List<String> names, Consumer<String> lap)
            throws IOException {
        return start(work, prefix, names, host -> null, lap, false);
    }

    private static HypervisorRack start(Path work, String prefix, List<String> names,
                                        Function<String, LibvirtListening> listening, Consumer<String> lap,
                                        boolean withCeph) throws IOException {
        HypervisorRack rack = new HypervisorRack(work, withCeph);
        try {
            rack.build(prefix, names, listening, lap);
        } catch (IOException | RuntimeException | Error e) {
            rack.close();
            throw e;
        }
        return rack;
    }

    private void build(String prefix, List<String> names, Function<String, LibvirtListening> listening,
                       Consumer<String> lap) throws IOException {
        underlay = new Underlay(namespaces, prefix);
        if (!withCeph) {
            startLibvirtds(prefix, names, listening, lap);
            return;
        }
        // Ceph (seconds of its daemons and command-line tools) comes up while the hosts' libvirtds start.
        CompletableFuture<CephCluster> starting = new CompletableFuture<>();
        Thread cephStarter = new Thread(() -> {
            try {
                starting.complete(CephCluster.start(work.resolve("ceph"), underlay.rootAddress()));
            } catch (Throwable e) {
                starting.completeExceptionally(e);
            }
        }, "rack-ceph-start");
        cephStarter.setDaemon(true);
        cephStarter.start();
        Throwable hostsFailed = null;
        try {
            startLibvirtds(prefix, names, listening, lap);
        } catch (IOException | RuntimeException | Error e) {
            hostsFailed = e;
        }
        // Whatever happened to the hosts, the cluster is closed with the rack (last: closers go last to first).
        IOException cephFailed = null;
        try {
            ceph = starting.get();
            closers.add(0, ceph);
        } catch (ExecutionException e) {
            Throwable cause = e.getCause();
            cephFailed = new IOException("needs a real Ceph (root, Debian packages " + CephCluster.PACKAGES
                    + ") and could not start one: " + cause.getMessage(), cause);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            starting.thenAccept(CephCluster::close); // once it is up, as nobody else will
            cephFailed = new IOException("interrupted while Ceph was starting", e);
        }
        if (hostsFailed != null) {
            if (cephFailed != null) {
                hostsFailed.addSuppressed(cephFailed);
            }
            if (hostsFailed instanceof IOException io) {
                throw io;
            } else if (hostsFailed instanceof RuntimeException re) {
                throw re;
            }
            throw (Error) hostsFailed;
        }
        if (cephFailed != null) {
            throw cephFailed;
        }
        lap.accept("Ceph up on the underlay at " + ceph.monitor());
    }

    private void startLibvirtds(String prefix, List<String> names, Function<String, LibvirtListening> listening,
                                Consumer<String> lap) throws IOException {
        LibvirtdNode first = null;
        for (int i = 0; i < names.size(); i++) {
            String name = names.get(i);
            String ns = namespaces.create(name);
            String address = prefix + "." + (11 + i);
            underlay.plug(ns, UNDERLAY_DEVICE, address + "/24");
            LibvirtdNode.Options options = LibvirtdNode.Options.defaults().inNetworkNamespace(ns);
            Path nodeDir = work.resolve("nodes").resolve(name);
            Path stateDir = work.resolve("agents").resolve(name);
            LibvirtListening listen = listening.apply(name);
            if (listen != null) {
                listen.issuer().installServer(nodeDir, name, address);
                listen.issuer().installClient(AgentConfig.libvirtTlsDirectory(stateDir), name, address);
                // The test CA's host certificates, and those the fleet issues (when the test's CA is the controller's:
                // its agents then install fleet-issued client certificates of their own).
                List<String> admitted = new ArrayList<>(names.stream().map(LibvirtPki::distinguishedName).toList());
                admitted.add(FLEET_LIBVIRT_DN);
                options = options.listening(new LibvirtdNode.Listen(address, true, listen.plainTcp(), admitted));
            }
            if (first != null) {
                options = options.seedCacheFrom(first.cacheDir()); // QEMU's capabilities, probed once by the first
            }
            LibvirtdNode node;
            try {
                node = LibvirtdNode.start(nodeDir, name, options);
            } catch (IOException | RuntimeException e) {
                throw new IOException("needs a real libvirtd (root, Debian packages " + LibvirtdNode.PACKAGES
                        + ") and could not start one: " + e.getMessage(), e);
            }
            closers.add(node);
            if (first == null) {
                first = node;
                probeCapabilities(node);
            }
            hosts.put(name, new Host(name, ns, address, node, stateDir));
            lap.accept(name + ": libvirtd in network namespace " + ns + " at " + address
                    + (listen == null ? "" : ", listening on TLS" + (listen.plainTcp() ? " and plain TCP" : "")));
        }
    }

    /**
     * Starts every host's agent, enrolling with the token {@code joinToken} makes for it; they register with
     * {@code controller} by themselves (the caller waits for them).
     */
    public void startAgents(Endpoint controller, Function<String, String> joinToken, Duration heartbeat) throws IOException {
        startAgents(controller, joinToken, heartbeat, host -> List.of());
    }

    /** As {@link #startAgents(Endpoint, Function, Duration)}, each agent with {@code extraArgs} of its host. */
    public void startAgents(Endpoint controller, Function<String, String> joinToken, Duration heartbeat,
                            Function<String, List<String>> extraArgs) throws IOException {
        for (Host h : hosts.values()) {
            AgentJvm.Settings settings = new AgentJvm.Settings(h.name(), h.namespace(), h.address(), controller,
                    h.node().uri(), h.stateDir(), joinToken.apply(h.name()), cephSettings(), UNDERLAY_DEVICE, heartbeat,
                    heartbeat.multipliedBy(5), extraArgs.apply(h.name()));
            agentSettings.put(h.name(), settings);
            agents.put(h.name(), AgentJvm.start(settings));
        }
    }

    /** How agents reach Ceph: the cluster's conf and the libvirt client's keyring, on the underlay. */
    public CephSettings cephSettings() {
        if (ceph == null) {
            CephSettings defaults = CephSettings.defaults();
            Path none = work.toAbsolutePath().resolve("no-ceph");
            return new CephSettings(none.resolve("ceph.conf"), defaults.client(), none.resolve("ceph.client.libvirt.keyring"),
                    defaults.ssdPool(), defaults.sataPool(), defaults.timeout());
        }
        return new CephSettings(ceph.conf(), CephCluster.CLIENT, ceph.clientKeyring(), CephCluster.SSD_POOL,
                CephCluster.SATA_POOL, Duration.ofSeconds(10));
    }

    /** The test's own address on the underlay, where the controller must serve the agents. */
    public String controllerAddress() {
        return underlay.rootAddress();
    }

    public CephCluster ceph() {
        if (ceph == null) {
            throw new IllegalStateException("this rack was started without Ceph (HypervisorRack.withoutCeph)");
        }
        return ceph;
    }

    public Host host(String name) {
        Host h = hosts.get(name);
        if (h == null) {
            throw new IllegalArgumentException("no host " + name + " in this rack: " + hosts.keySet());
        }
        return h;
    }

    public Collection<Host> hosts() {
        return hosts.values();
    }

    public AgentJvm agent(String host) {
        return agents.get(host);
    }

    /**
     * Stops a host's agent (SIGTERM, as a package upgrade or a dying machine would); {@link #startAgent} starts it
     * again on the same state, enrolled as before.
     */
    public void stopAgent(String host) {
        AgentJvm agent = agents.remove(host);
        if (agent != null) {
            agent.close();
        }
    }

    /** Kills a host's agent at once (SIGKILL), as a crash would; {@link #startAgent} starts it again. */
    public void killAgent(String host) {
        AgentJvm agent = agents.remove(host);
        if (agent != null) {
            agent.kill();
        }
    }

    /** Starts the agent of a host stopped or killed before; it registers with the controller by itself. */
    public void startAgent(String host) throws IOException {
        if (agents.containsKey(host)) {
            throw new IllegalStateException("the agent of " + host + " runs already");
        }
        agents.put(host, AgentJvm.start(agentSettings.get(host)));
    }

    /** Cuts a host off the underlay (see {@link Underlay#cut}). */
    public void cut(String host) {
        underlay.cut(host(host).namespace());
    }

    public void mend(String host) {
        underlay.mend(host(host).namespace());
    }

    /** Fails, with its log, if an agent has exited: waiting for it to register would only time out. */
    public void assertAgentsRunning() {
        for (AgentJvm a : agents.values()) {
            if (!a.alive()) {
                throw new AssertionError("the agent of " + a.host() + " exited:\n" + a.logTail(30));
            }
        }
    }

    /** The last lines of every agent's log, to explain a failure. */
    public String agentLogs(int lines) {
        StringBuilder out = new StringBuilder();
        agents.forEach((name, a) -> out.append("--- agent of ").append(name).append(" ---\n").append(a.logTail(lines))
                .append('\n'));
        return out.toString();
    }

    /** Agents first, then libvirtds (destroying their domains), Ceph, and the namespaces. */
    @Override
    public void close() {
        List<Throwable> problems = new ArrayList<>();
        for (AgentJvm a : agents.values()) {
            a.close();
        }
        agents.clear();
        for (int i = closers.size() - 1; i >= 0; i--) {
            try {
                closers.get(i).close();
            } catch (Exception | Error e) {
                problems.add(e);
            }
        }
        closers.clear();
        namespaces.close();
        if (!problems.isEmpty()) {
            IllegalStateException e = new IllegalStateException("cleanup failed: " + problems.get(0), problems.get(0));
            problems.stream().skip(1).forEach(e::addSuppressed);
            throw e;
        }
    }

    /** The first node probes QEMU's capabilities (seconds under TCG) once; the others start with its cache. */
    private static void probeCapabilities(LibvirtdNode node) throws IOException {
        try {
            Connect conn = new Connect(node.uri(), false);
            try {
                conn.getVersion();
            } finally {
                conn.close();
            }
        } catch (LibvirtException e) {
            throw new IOException("libvirtd of " + node.name() + " does not answer: " + e.getMessage(), e);
        }
    }
}
