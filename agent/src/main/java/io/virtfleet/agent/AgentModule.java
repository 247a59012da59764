package io.virtfleet.agent;

import com.google.inject.AbstractModule;
import com.google.inject.Provides;
import com.google.inject.Singleton;
import com.google.inject.name.Named;
import io.grpc.ServerInterceptor;
import io.virtfleet.agent.api.AgentService;
import io.virtfleet.agent.autostart.BootStarts;
import io.virtfleet.agent.autostart.HostBoot;
import io.virtfleet.agent.hypervisor.DefinitionLedger;
import io.virtfleet.agent.hypervisor.Domains;
import io.virtfleet.agent.hypervisor.HostCpus;
import io.virtfleet.agent.hypervisor.HypervisorPoller;
import io.virtfleet.agent.metrics.AgentMetrics;
import io.virtfleet.agent.hypervisor.InstallerFiles;
import io.virtfleet.agent.hypervisor.LibvirtHypervisor;
import io.virtfleet.agent.libvirttls.LibvirtCertificateKeeper;
import io.virtfleet.agent.hypervisor.Migrations;
import io.virtfleet.agent.metrics.HostMetrics;
import io.virtfleet.agent.network.NetworkSettings;
import io.virtfleet.agent.network.Networks;
import io.virtfleet.agent.report.HostReporter;
import io.virtfleet.agent.storage.CephSecret;
import io.virtfleet.agent.storage.Disks;
import io.virtfleet.agent.storage.RawDisks;
import io.virtfleet.agent.storage.RbdDisks;
import io.virtfleet.agent.sync.DefinitionsSource;
import io.virtfleet.agent.sync.DefinitionsSync;
import io.virtfleet.agent.sync.StandDown;
import io.virtfleet.agent.sync.SyncState;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;

/** Wires one agent's features from its configuration. The features themselves know nothing of Guice. */
final class AgentModule extends AbstractModule {
    /** How often a persisting controller outage is logged again. */
    static final Duration FAILURE_LOG_PERIOD = Duration.ofMinutes(1);

    private final AgentConfig config;

    AgentModule(AgentConfig config) {
        this.config = config;
    }

    @Override
    protected void configure() {
        bind(AgentConfig.class).toInstance(config);
    }

    /** What virtfleet defined here is kept in the state directory, next to the agent's identity. */
    @Provides
    @Singleton
    LibvirtHypervisor hypervisor() {
        return new LibvirtHypervisor(config.libvirtUri(), DefinitionLedger.load(config.stateDirectory()),
                config.definitionRefresh());
    }

    @Provides
    @Singleton
    HostMetrics metrics(InstallerFiles installer) {
        return new HostMetrics(config.imagesDirectory(), installer);
    }

    /** Debian's installer files, with the initrd domains boot prepared in the state directory. */
    @Provides
    @Singleton
    InstallerFiles installerFiles() {
        try {
            return InstallerFiles.prepare(config.installerDirectory(), preparedInstaller());
        } catch (java.io.IOException e) {
            // No kernel-boot installs here until it is written (HostMetrics has it prepared again) rather than no agent.
            org.slf4j.LoggerFactory.getLogger(AgentModule.class).warn("cannot prepare the installer's initrd in {}:"
                    + " tried again in the background: {}", preparedInstaller(), e.toString());
            return new InstallerFiles(config.installerDirectory(), preparedInstaller().resolve("initrd.gz"));
        }
    }

    /** In the images directory: QEMU must reach it whatever user it runs as, as it reaches the VMs' disks. */
    private java.nio.file.Path preparedInstaller() {
        return config.imagesDirectory().resolve(".virtfleet-installer");
    }

    /** libvirt is asked as often as the controller is told; a call hanging past 3 intervals (at least 5 s) is a stall. */
    @Provides
    @Singleton
    HypervisorPoller poller(LibvirtHypervisor hypervisor, HostCpus cpus, AgentMetrics metrics) {
        Duration interval = config.heartbeatInterval();
        Duration stall = interval.multipliedBy(3).compareTo(Duration.ofSeconds(5)) < 0 ? Duration.ofSeconds(5) : interval.multipliedBy(3);
        HypervisorPoller poller = new HypervisorPoller(hypervisor, interval, stall).alsoAfterEachPoll(cpus::afterPoll)
                .timedBy(metrics::polled);
        metrics.domainsFrom(() -> poller.current().domains());
        return poller;
    }

    /** The agent's metrics, in a registry of its own (JVM metrics included): what its metrics endpoint serves. */
    @Provides
    @Singleton
    AgentMetrics agentMetrics() {
        return new AgentMetrics(io.virtfleet.common.metrics.DaemonMetrics.registryWithJvm(), config.hostName(),
                io.virtfleet.common.Version.current());
    }

    @Provides
    @Singleton
    HostReporter reporter(HostMetrics metrics, HypervisorPoller hypervisor, Networks networks, DefinitionsSync sync,
                          LibvirtCertificateKeeper libvirtTls, HostCpus cpus, StandDown standDown) {
        return new HostReporter(config.hostName(), metrics, hypervisor, networks::vxlanAddress, sync::status,
                config.publicAddress() == null ? "" : config.publicAddress().toString(), libvirtTls::status,
                () -> config.migrationAddress(networks.vxlanAddress())).withCpu(cpus::current)
                .withCephClientAddresses(cephClientAddresses()::current)
                .withStandDown(standDown::status);
    }

    /** The addresses this host reaches Ceph from, when it serves a Ceph tier; worked out again on a thread of its own. */
    private io.virtfleet.agent.storage.CephClientAddresses cephClientAddresses() {
        boolean servesCeph = config.storageTiers().contains("ssd") || config.storageTiers().contains("sata");
        java.util.concurrent.Executor refresh = task -> {
            Thread t = new Thread(task, "vf-ceph-client-addresses");
            t.setDaemon(true);
            t.start();
        };
        return new io.virtfleet.agent.storage.CephClientAddresses(servesCeph ? config.ceph() : null, refresh);
    }

    /** The host's libvirt TLS certificate; connected to the controller once the agent has its own certificate. */
    @Provides
    @Singleton
    LibvirtCertificateKeeper libvirtCertificateKeeper() {
        return new LibvirtCertificateKeeper(config.hostName(), config.libvirtTls(), java.time.Clock.systemUTC());
    }

    /**
     * The host's CPU for guests: asked of libvirt after the polls that follow a new connection, and judged against
     * the fleet CPU model in the definitions clone after each pull.
     */
    @Provides
    @Singleton
    HostCpus hostCpus(LibvirtHypervisor hypervisor) {
        return new HostCpus(hypervisor, config.definitionsDirectory());
    }

    /**
     * Replicas are synced from the configured remote, else from the controller's git server (its port is learnt at
     * registration); the synced commit is kept in the state directory.
     */
    @Provides
    @Singleton
    DefinitionsSync sync(Domains domains, LibvirtHypervisor hypervisor, HypervisorPoller poller, CephSecret cephSecret,
                         HostCpus cpus, AgentMetrics metrics) {
        DefinitionsSource source = new DefinitionsSource(config.definitionsDirectory(), config.definitionsRemote(),
                config.controller().host());
        return new DefinitionsSync(config.hostName(), source, domains, hypervisor.ledger(),
                SyncState.load(config.stateDirectory()), poller::pollNow).withRbdKey(cephSecret::ensure)
                .withAfterPull(cpus::definitionsPulled).timedBy(metrics::synced);
    }

    /** Domain operations may reach only images in the images directory; each change triggers a fresh poll. */
    @Provides
    @Singleton
    Domains domains(LibvirtHypervisor hypervisor, HypervisorPoller poller, InstallerFiles installer, StandDown standDown) {
        return new Domains(hypervisor, config.imagesDirectory(), installer, poller::pollSoon)
                .withStartGate(standDown::refusesStarts).withShutdownGrace(config.shutdownGrace());
    }

    /** The agent's autostart of home domains at each host boot, behind the start gate; marked in the state dir. */
    @Provides
    @Singleton
    BootStarts bootStarts(Domains domains, LibvirtHypervisor hypervisor, HostBoot boot) {
        return new BootStarts(domains, hypervisor.ledger(), config.stateDirectory(), boot);
    }

    /** The kernel's boot identity; tests override this binding to boot a simulated host again. */
    @Provides
    @Singleton
    HostBoot hostBoot() {
        return HostBoot.kernel();
    }

    /** Whether the controller orders this host to stand down: until it has answered, nothing is started. */
    @Provides
    @Singleton
    StandDown standDown() {
        return new StandDown();
    }

    /** The host's own network namespace; tests override this binding to act in one they made. */
    @Provides
    @Singleton
    NetworkSettings networkSettings() {
        return NetworkSettings.ofHost(config.vxlanDevice(), config.vxlanLocalAddress(), config.vxlanPort(),
                config.publicBridge());
    }

    @Provides
    @Singleton
    Disks disks(CephSecret cephSecret) {
        return new Disks(config.hostName(), config.storageTiers(), new RawDisks(config.imagesDirectory()),
                new RbdDisks(config.ceph()), cephSecret);
    }

    /** One holder of the cephx key in libvirt: the disk step of a home host and the sync of replicas share it. */
    @Provides
    @Singleton
    CephSecret cephSecret(LibvirtHypervisor hypervisor) {
        return new CephSecret(hypervisor, config.ceph());
    }

    @Provides
    @Singleton
    Networks networks(NetworkSettings settings) {
        return new Networks(settings);
    }

    @Provides
    @Singleton
    AgentService service(HostReporter reporter, Domains domains, Disks disks,
                         @Named("storage") ExecutorService storage, Networks networks, DefinitionsSync sync,
                         Migrations migrations, HostCpus cpus, @Named("cpu") ExecutorService cpuWork) {
        return new AgentService(reporter, domains, disks, storage, networks, sync, migrations).withCpus(cpus, cpuWork);
    }

    /**
     * Live migrations away from this host, with the libvirt TLS client certificate of the state directory; this host's
     * own addresses (its migration and VXLAN addresses, its interfaces') are never a target.
     */
    @Provides
    @Singleton
    Migrations migrations(LibvirtHypervisor hypervisor, HypervisorPoller poller, InstallerFiles installer, Networks networks) {
        java.util.function.Supplier<java.util.Set<String>> own = () -> {
            java.util.Set<String> addresses = new java.util.HashSet<>(Migrations.interfaceAddresses());
            String vxlan = networks.vxlanAddress();
            addresses.add(vxlan);
            addresses.add(config.migrationAddress(vxlan));
            addresses.remove("");
            return addresses;
        };
        return new Migrations(hypervisor, config.imagesDirectory(), installer,
                new Migrations.Settings(config.hostName(), config.libvirtTlsDirectory(), own, config.migrationTimeout()),
                poller::pollSoon);
    }

    /** None in service; see {@link Agent#API_INTERCEPTORS}. */
    @Provides
    @Singleton
    @Named("api-interceptors")
    List<ServerInterceptor> apiInterceptors() {
        return List.of();
    }

    /**
     * Runs disk steps: two at a time (qemu-img and rbd are light, and Ceph being down should not stall every
     * step), threads made on demand and gone when idle.
     */
    @Provides
    @Singleton
    @Named("storage")
    ExecutorService storage() {
        ThreadPoolExecutor pool = new ThreadPoolExecutor(2, 2, 30, TimeUnit.SECONDS, new LinkedBlockingQueue<>(), r -> {
            Thread t = new Thread(r, "vf-agent-storage");
            t.setDaemon(true);
            return t;
        });
        pool.allowCoreThreadTimeOut(true);
        return pool;
    }

    /** Computes CPU baselines for the controller: one at a time, rare, a thread made on demand and gone when idle. */
    @Provides
    @Singleton
    @Named("cpu")
    ExecutorService cpuWork() {
        ThreadPoolExecutor pool = new ThreadPoolExecutor(1, 1, 30, TimeUnit.SECONDS, new LinkedBlockingQueue<>(), r -> {
            Thread t = new Thread(r, "vf-agent-cpu");
            t.setDaemon(true);
            return t;
        });
        pool.allowCoreThreadTimeOut(true);
        return pool;
    }

    /** Runs agent commands, which may block on libvirt or qemu-img. */
    @Provides
    @Singleton
    @Named("commands")
    ExecutorService commands() {
        return Executors.newFixedThreadPool(2, r -> {
            Thread t = new Thread(r, "vf-agent-command");
            t.setDaemon(true);
            return t;
        });
    }
}
