package io.virtfleet.controller.embedded;

import io.virtfleet.agent.Agent;
import io.virtfleet.agent.AgentConfig;
import io.virtfleet.agent.enrollment.Enroller;
import io.virtfleet.agent.hypervisor.InstallerFiles;
import io.virtfleet.agent.network.NetworkSettings;
import io.virtfleet.agent.storage.CephSettings;
import io.virtfleet.common.validation.Endpoint;
import io.virtfleet.controller.Controller;
import io.virtfleet.controller.ControllerConfig;
import io.virtfleet.controller.definitions.DomainSettings;
import io.virtfleet.controller.install.InstallSettings;
import io.virtfleet.controller.vm.Provisioning;
import io.virtfleet.proto.v1.CreateJoinTokenRequest;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeoutException;
import java.util.function.UnaryOperator;

/**
 * A controller and N agents in one JVM, all on loopback, each agent on its own libvirt test-driver node.
 * Real gRPC, real libvirt (test driver), real OSHI: the kit behind the demo, the tests and the benchmarks.
 */
public final class EmbeddedFleet implements AutoCloseable {
    private final Path workDir;
    private final Duration heartbeat;
    private final Duration reconcileInterval;
    /** Namespaces and cables for the hosts' networks; null when the fleet runs without (not root, or not asked). */
    private final SimulatedNetwork network;
    private final Duration grace;
    private final List<TestDriverNode> nodes;
    private final Map<String, Agent> agents = new LinkedHashMap<>();
    private final Map<String, String> uris = new LinkedHashMap<>();
    private final InetSocketAddress controllerListen;
    private final Duration agentCertificateLifetime;
    private final Duration ownCertificateLifetime;
    private final UnaryOperator<Provisioning> provisioning;
    /** The cluster behind the ssd and sata tiers; null: none, those disks are refused. */
    private final int failoverParallel;
    private final io.virtfleet.controller.fencing.HostLoss.Settings hostLoss;
    private final CephCluster ceph;
    private final Path profiles;
    private final Path installerDirectory;
    /** How the controller fences lost hosts; none by default. */
    private final io.virtfleet.controller.fencing.FenceSettings fencing;
    /** Interceptors of each host's agent API, by host name (tests only); a host not named has none. */
    private final Map<String, List<io.grpc.ServerInterceptor>> apiInterceptors;
    /** The controller's web dashboard; off by default. */
    private final io.virtfleet.controller.dashboard.DashboardSettings dashboard;
    /** Whether the controller and every agent serve Prometheus metrics (on loopback, a free port each). */
    private final boolean metrics;
    private Controller controller;
    /** The port of a stopped controller, 0 while it runs. */
    private int stoppedControllerPort;

    private EmbeddedFleet(Builder b) {
        this.workDir = b.workDir;
        this.heartbeat = b.heartbeat;
        this.reconcileInterval = b.reconcileInterval;
        this.network = b.simulatedNetwork ? SimulatedNetwork.create() : null;
        this.grace = b.grace;
        this.nodes = List.copyOf(b.nodes);
        this.controllerListen = b.controllerListen;
        this.agentCertificateLifetime = b.agentCertificateLifetime;
        this.ownCertificateLifetime = b.ownCertificateLifetime;
        this.provisioning = b.provisioning;
        this.ceph = b.ceph;
        this.profiles = b.profiles;
        this.installerDirectory = b.installerDirectory;
        this.fencing = b.fencing;
        this.apiInterceptors = Map.copyOf(b.apiInterceptors);
        this.failoverParallel = b.failoverParallel;
        this.hostLoss = b.hostLoss;
        this.dashboard = b.dashboard;
        this.metrics = b.metrics;
    }

    /** Where the fleet keeps its controller's and agents' directories. */
    public Path workDirectory() {
        return workDir;
    }

    public static Builder builder(Path workDir) {
        return new Builder(workDir);
    }

    /**
     * Three hypervisors of different sizes with a few domains each, as a small OVH fleet might look.
     */
    public static List<TestDriverNode> defaultNodes(int count) {
        List<TestDriverNode> out = new ArrayList<>();
        int[][] sizes = {{8, 16}, {16, 64}, {32, 128}, {12, 32}, {24, 96}};
        for (int i = 1; i <= count; i++) {
            int[] size = sizes[(i - 1) % sizes.length];
            TestDriverNode node = new TestDriverNode("hv" + i, size[0], size[1] * 1024L);
            for (int d = 1; d <= 1 + i % 3 + 1; d++) {
                node.domain("hv" + i + "-vm" + d, 1 + d % 2, 512L * d, d % 3 != 0);
            }
            out.add(node);
        }
        return out;
    }

    public synchronized EmbeddedFleet start() throws IOException {
        Files.createDirectories(workDir);
        controller = Controller.create(controllerConfig(controllerListen)).start();
        controller.startDashboard(dashboard);
        for (TestDriverNode node : nodes) {
            uris.put(node.name(), node.writeTo(workDir.resolve("nodes")));
            startAgent(node.name());
        }
        return this;
    }

    /**
     * Stops the controller and starts a fresh one on the same port, as after a crash: it has lost every
     * session, and agents must register again by themselves.
     */
    public synchronized void restartController() throws IOException {
        stopController();
        startController();
    }

    /** Stops the controller (an outage); {@link #startController()} brings it back on the same port. */
    public synchronized void stopController() {
        if (stoppedControllerPort == 0) {
            stoppedControllerPort = controller.port();
            controller.close();
        }
    }

    public synchronized void startController() throws IOException {
        if (stoppedControllerPort != 0) {
            controller = Controller.create(controllerConfig(
                    new InetSocketAddress(controllerListen.getAddress(), stoppedControllerPort))).start();
            controller.startDashboard(dashboard);
            stoppedControllerPort = 0;
        }
    }

    private ControllerConfig controllerConfig(InetSocketAddress listen) {
        // No KVM where the embedded fleet runs (tests, demos): domains are TCG ('qemu').
        DomainSettings domain = DomainSettings.defaults().withDomainType(DomainSettings.QEMU);
        if (ceph != null) {
            domain = domain.withCephMonitors(List.of(Endpoint.parse("ceph-monitors", ceph.monitor())));
        }
        Provisioning defaults = Provisioning.defaults().withDomain(domain).withReconcileInterval(reconcileInterval)
                .withInstall(InstallSettings.defaults().withProfilesDirectory(profiles));
        return ControllerConfig.of(listen, heartbeat, grace, workDir.resolve("controller"))
                .withCertificateLifetimes(agentCertificateLifetime, ownCertificateLifetime)
                .withProvisioning(provisioning.apply(defaults)).withFencing(fencing)
                .withFailoverParallel(failoverParallel).withHostLoss(hostLoss)
                .withMetricsListen(metrics ? new InetSocketAddress("127.0.0.1", 0) : null);
    }

    /**
     * Starts (or restarts, keeping its identity and certificate) the agent of a host. A host without a
     * certificate yet enrolls with a join token made for it, as an operator would hand one out.
     */
    public synchronized Agent startAgent(String host) throws IOException {
        if (agents.containsKey(host)) {
            throw new IllegalStateException("agent of " + host + " is already running");
        }
        AgentConfig config = agentConfig(host, workDir.resolve("agents").resolve(host));
        if (!Files.exists(config.stateDirectory().resolve("agent.pem"))) {
            config = config.withJoinToken(joinToken(host));
        }
        if (ceph != null) {
            config = config.withCeph(ceph.agentSettings());
        }
        if (metrics) {
            config = config.withMetricsListen(new InetSocketAddress("127.0.0.1", 0));
        }
        NetworkSettings settings = null;
        if (network != null) {
            // The agent's network work happens in the host's namespace, over its own underlay cable.
            String ns = network.namespaceOf(host) != null ? network.namespaceOf(host) : network.plug(host);
            config = config.withVxlanDevice(SimulatedNetwork.UNDERLAY);
            settings = NetworkSettings.ofHost(SimulatedNetwork.UNDERLAY, null,
                    NetworkSettings.IANA_VXLAN_PORT, "br0").inNamespace(ns);
        }
        List<io.grpc.ServerInterceptor> interceptors = apiInterceptors.get(host);
        Agent agent;
        if (settings != null || interceptors != null) {
            NetworkSettings inNamespace = settings;
            agent = Agent.create(config, binder -> {
                if (inNamespace != null) {
                    binder.bind(NetworkSettings.class).toInstance(inNamespace);
                }
                if (interceptors != null) {
                    binder.bind(Agent.API_INTERCEPTORS).toInstance(interceptors);
                }
            });
        } else {
            agent = Agent.create(config);
        }
        try {
            agent.start();
        } catch (Enroller.RefusedException e) {
            agent.close();
            throw new IOException("agent of " + host + " could not enroll: " + e.getMessage(), e);
        } catch (InterruptedException e) {
            agent.close();
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while starting the agent of " + host, e);
        }
        agents.put(host, agent);
        return agent;
    }

    /** A one-time join token for one host, valid ten minutes. */
    public String joinToken(String host) {
        return controller.enrollments().createJoinToken(CreateJoinTokenRequest.newBuilder()
                .setHostName(host).setTtlSeconds(600).build()).getToken();
    }

    /** The first admin's credentials, written by the controller on its first start. */
    public Path adminCredentials() {
        return controller.pki().directory().resolve("admin.pem");
    }

    /**
     * An agent configuration for one of this fleet's hosts, or for an extra host on libvirt's shared
     * {@code test:///default} node; tests use it to start newcomers and impostors.
     */
    public AgentConfig agentConfig(String host, Path stateDir) {
        return agentConfig(host, stateDir, uris.getOrDefault(host, "test:///default"));
    }

    /** An agent configuration for a host of this fleet on any libvirt (e.g. a real libvirtd). */
    public AgentConfig agentConfig(String host, Path stateDir, String libvirtUri) {
        try {
            Files.createDirectories(stateDir.resolve("images"));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return new AgentConfig(host, new Endpoint("127.0.0.1", controller.port()),
                new InetSocketAddress("127.0.0.1", 0), null, libvirtUri, heartbeat, heartbeat.multipliedBy(4),
                stateDir.resolve("images"), stateDir, List.of("ssd", "sata", "raw"), null, null, noCeph(),
                null, null, NetworkSettings.IANA_VXLAN_PORT, "br0", stateDir.toAbsolutePath().normalize().resolve("definitions"),
                null, installerDirectory, null);
    }

    /**
     * Ceph settings pointing into the fleet's directory, where there is no cluster: ssd and sata disks are refused
     * (naming the missing ceph.conf) rather than sent to whatever cluster this machine may know. Tests with a real
     * cluster set theirs with {@link AgentConfig#withCeph}.
     */
    private CephSettings noCeph() {
        CephSettings defaults = CephSettings.defaults();
        Path none = workDir.toAbsolutePath().resolve("no-ceph");
        return new CephSettings(none.resolve("ceph.conf"), defaults.client(), none.resolve("ceph.client.libvirt.keyring"),
                defaults.ssdPool(), defaults.sataPool(), defaults.timeout());
    }

    /** Stops a host's agent, as if the machine went away; its heartbeats stop at once. */
    public synchronized void stopAgent(String host) {
        Agent agent = agents.remove(host);
        if (agent != null) {
            agent.close();
        }
    }

    /** Waits until every running agent holds a session with the controller. */
    public void awaitRegistered(Duration timeout) throws InterruptedException, TimeoutException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (!allRegistered()) {
            if (System.nanoTime() > deadline) {
                throw new TimeoutException("agents not registered within " + timeout + ": " + agents.keySet());
            }
            Thread.sleep(20);
        }
    }

    private synchronized boolean allRegistered() {
        return agents.values().stream().allMatch(Agent::registered)
                && controller.registry().all().size() >= agents.size();
    }

    public Controller controller() {
        return controller;
    }

    public Endpoint controllerEndpoint() {
        return new Endpoint("127.0.0.1", controller.port());
    }

    public synchronized Agent agent(String host) {
        return agents.get(host);
    }

    public List<TestDriverNode> nodes() {
        return nodes;
    }

    @Override
    public synchronized void close() {
        for (Agent agent : agents.values()) {
            agent.close();
        }
        agents.clear();
        if (controller != null) {
            controller.close();
        }
        if (network != null) {
            network.close();
        }
    }

    /**
     * The install profiles this repository ships ({@code deploy/profiles}), found from the working directory: the
     * top of a checkout (the demo) or one of its modules (Maven runs tests in the module's directory). A path
     * that does not exist when neither is the case: the fleet then has no profile, and says so when asked.
     */
    public static Path shippedProfiles() {
        Path here = Path.of("").toAbsolutePath();
        for (Path dir = here; dir != null && dir.getNameCount() >= here.getNameCount() - 1; dir = dir.getParent()) {
            Path candidate = dir.resolve("deploy").resolve("profiles");
            if (Files.isDirectory(candidate)) {
                return candidate;
            }
        }
        return here.resolve("deploy").resolve("profiles");
    }

    /** Builder with defaults suited to a demo: 3 hosts, 1 s heartbeats, 5 s grace. */
    public static final class Builder {
        private final Path workDir;
        private Duration heartbeat = Duration.ofSeconds(1);
        private Duration reconcileInterval = Duration.ofSeconds(30);
        private boolean simulatedNetwork;
        private Duration grace = Duration.ofSeconds(5);
        private List<TestDriverNode> nodes = defaultNodes(3);
        private InetSocketAddress controllerListen = new InetSocketAddress("127.0.0.1", 0);
        private Duration agentCertificateLifetime = ControllerConfig.DEFAULT_AGENT_CERTIFICATE_LIFETIME;
        private Duration ownCertificateLifetime = ControllerConfig.DEFAULT_OWN_CERTIFICATE_LIFETIME;
        private UnaryOperator<Provisioning> provisioning = UnaryOperator.identity();
        private CephCluster ceph;
        private Path profiles = shippedProfiles();
        private Path installerDirectory = InstallerFiles.PACKAGE_DIRECTORY;
        private io.virtfleet.controller.fencing.FenceSettings fencing = io.virtfleet.controller.fencing.FenceSettings.none();
        private final Map<String, List<io.grpc.ServerInterceptor>> apiInterceptors = new LinkedHashMap<>();
        private int failoverParallel = io.virtfleet.controller.failover.Failover.DEFAULT_PARALLEL;
        private io.virtfleet.controller.fencing.HostLoss.Settings hostLoss =
                io.virtfleet.controller.fencing.HostLoss.Settings.defaults();
        private boolean metrics;

        private io.virtfleet.controller.dashboard.DashboardSettings dashboard =
                io.virtfleet.controller.dashboard.DashboardSettings.off();

        private Builder(Path workDir) {
            this.workDir = workDir;
        }

        /**
         * Gives every host a network namespace plugged into a shared switch, where its agent builds VXLAN LANs
         * (needs root: see {@link SimulatedNetwork#available()}). Without it, LAN VMs are refused by the agents.
         */
        public Builder simulatedNetwork(boolean on) {
            this.simulatedNetwork = on;
            return this;
        }

        /** Time between two reconciliation passes (default 30 s). */
        public Builder reconcileInterval(Duration interval) {
            this.reconcileInterval = interval;
            return this;
        }

        public Builder heartbeat(Duration interval) {
            this.heartbeat = interval;
            return this;
        }

        public Builder grace(Duration unreachableAfter) {
            this.grace = unreachableAfter;
            return this;
        }

        public Builder nodes(List<TestDriverNode> hosts) {
            this.nodes = List.copyOf(hosts);
            return this;
        }

        public Builder controllerPort(int port) {
            this.controllerListen = new InetSocketAddress("127.0.0.1", port);
            return this;
        }

        /** Short lifetimes let tests watch agents renew their certificates. */
        public Builder agentCertificateLifetime(Duration lifetime) {
            this.agentCertificateLifetime = lifetime;
            return this;
        }

        /** Short lifetimes let tests watch the controller renew its own certificate. */
        public Builder controllerCertificateLifetime(Duration lifetime) {
            this.ownCertificateLifetime = lifetime;
            return this;
        }

        /**
         * Changes the controller's provisioning settings on top of the embedded fleet's (TCG domains, the
         * reconcile interval above), e.g. the Ceph monitors written into RBD disks.
         */
        public Builder provisioning(UnaryOperator<Provisioning> change) {
            this.provisioning = change;
            return this;
        }

        /** Backs the ssd and sata tiers of every host with this cluster (the caller starts and closes it). */
        /** How the controller fences lost hosts in Ceph (default: no Ceph admin). */
        public Builder fencing(io.virtfleet.controller.fencing.FenceSettings settings) {
            this.fencing = settings;
            return this;
        }

        /** When a silent host is suspected lost, and whether the controller fences it itself (default: 30 s, manual). */
        public Builder hostLoss(io.virtfleet.controller.fencing.HostLoss.Settings settings) {
            this.hostLoss = settings;
            return this;
        }

        /** How many VMs of a lost host the controller recovers at once (failover-parallel). */
        public Builder failoverParallel(int parallel) {
            this.failoverParallel = parallel;
            return this;
        }

        public Builder ceph(CephCluster cluster) {
            this.ceph = cluster;
            return this;
        }

        /** The controller's install profiles directory (default: {@link #shippedProfiles()}). */
        public Builder profiles(Path directory) {
            this.profiles = directory;
            return this;
        }

        /** Where every host's agent finds the Debian installer's kernel and initrd (default: Debian's package's). */
        public Builder installerDirectory(Path directory) {
            this.installerDirectory = directory;
            return this;
        }

        /**
         * Intercepts the API of one host's agent (calls already authorized as the controller's): how tests make a
         * host slow or hung, or act when a command arrives.
         */
        public Builder apiInterceptors(String host, List<io.grpc.ServerInterceptor> interceptors) {
            this.apiInterceptors.put(host, List.copyOf(interceptors));
            return this;
        }

        /** Serves the controller's web dashboard (e.g. {@code DashboardSettings.localhost()}); off by default. */
        public Builder dashboard(io.virtfleet.controller.dashboard.DashboardSettings settings) {
            this.dashboard = settings;
            return this;
        }

        /**
         * Has the controller and every agent serve Prometheus metrics on 127.0.0.1, each on a free port
         * ({@link Controller#metricsPort()}, {@link Agent#metricsPort()}); off by default.
         */
        public Builder metrics(boolean on) {
            this.metrics = on;
            return this;
        }

        public EmbeddedFleet build() {
            return new EmbeddedFleet(this);
        }
    }
}
