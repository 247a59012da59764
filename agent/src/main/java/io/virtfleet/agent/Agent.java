package io.virtfleet.agent;

import com.google.inject.Guice;
import com.google.inject.Inject;
import com.google.inject.Key;
import com.google.inject.Module;
import com.google.inject.Stage;
import com.google.inject.TypeLiteral;
import com.google.inject.name.Named;
import com.google.inject.name.Names;
import com.google.inject.util.Modules;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.ServerInterceptor;
import io.grpc.BindableService;
import io.virtfleet.agent.health.LibvirtHealth;
import io.virtfleet.common.health.ServerHealth;
import io.virtfleet.proto.v1.AgentGrpc;
import io.virtfleet.agent.api.AgentService;
import io.virtfleet.agent.autostart.BootStarts;
import io.virtfleet.agent.enrollment.CertificateRenewer;
import io.virtfleet.agent.enrollment.CredentialSource;
import io.virtfleet.agent.enrollment.Enroller;
import io.virtfleet.agent.hypervisor.Domains;
import io.virtfleet.agent.hypervisor.HypervisorPoller;
import io.virtfleet.agent.hypervisor.LibvirtHypervisor;
import io.virtfleet.agent.libvirttls.LibvirtCertificateKeeper;
import io.virtfleet.agent.metrics.AgentMetrics;
import io.virtfleet.common.metrics.GrpcServerMetrics;
import io.virtfleet.common.metrics.MetricsEndpoint;
import io.virtfleet.agent.hypervisor.Migrations;
import io.virtfleet.agent.registration.ControllerLink;
import io.virtfleet.agent.report.HostReporter;
import io.virtfleet.agent.state.StateDirectoryLock;
import io.virtfleet.agent.sync.CatchUp;
import io.virtfleet.agent.sync.DefinitionsSync;
import io.virtfleet.agent.sync.StandDown;
import io.virtfleet.common.security.Authorization;
import io.virtfleet.common.security.FleetIdentity;
import io.virtfleet.common.security.TlsCredentials;
import io.virtfleet.common.transport.StatusMapping;
import io.virtfleet.common.transport.Transport;
import java.io.IOException;
import java.time.Clock;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One running agent: its certificate, its gRPC server (open to the controller's identity only), its
 * libvirt connection, and its link to the controller.
 */
public final class Agent implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(Agent.class);

    /**
     * Interceptors of the agent's API that see only calls already authorized as the controller's; none in service.
     * Tests bind them (through {@link #create(AgentConfig, Module)}) to act when a command arrives, e.g. the crash
     * tests kill the controller the moment it asks for a disk.
     */
    public static final Key<List<ServerInterceptor>> API_INTERCEPTORS =
            Key.get(new TypeLiteral<List<ServerInterceptor>>() {}, Names.named("api-interceptors"));

    private final AgentConfig config;
    private final AgentService service;
    private final HostReporter reporter;
    private final LibvirtHypervisor hypervisor;
    private final HypervisorPoller poller;
    private final Domains domains;
    private final Migrations migrations;
    private final DefinitionsSync sync;
    private final StandDown standDown;
    private final BootStarts bootStarts;
    private final ExecutorService commands;
    private final ExecutorService storage;
    private final List<ServerInterceptor> apiInterceptors;
    private final LibvirtCertificateKeeper libvirtTls;
    private Transport transport;
    private ManagedChannel controllerChannel;
    private Server server;
    private ControllerLink link;
    private CertificateRenewer renewer;
    private TlsCredentials credentials;
    private StateDirectoryLock stateLock;
    private String agentId;
    private final AgentMetrics metrics;
    private MetricsEndpoint metricsEndpoint;
    /** grpc.health.v1 answers for the agent: SERVING while libvirt answers, NOT_SERVING from close() on. */
    private final ServerHealth health = new ServerHealth(List.of(AgentGrpc.SERVICE_NAME));
    private LibvirtHealth libvirtHealth;

    @Inject
    Agent(AgentConfig config, AgentService service, HostReporter reporter, LibvirtHypervisor hypervisor,
          HypervisorPoller poller, Domains domains, Migrations migrations, DefinitionsSync sync, StandDown standDown,
          BootStarts bootStarts, @Named("commands") ExecutorService commands,
          @Named("storage") ExecutorService storage, @Named("api-interceptors") List<ServerInterceptor> apiInterceptors,
          LibvirtCertificateKeeper libvirtTls, AgentMetrics metrics) {
        this.metrics = metrics;
        this.config = config;
        this.service = service;
        this.reporter = reporter;
        this.hypervisor = hypervisor;
        this.poller = poller;
        this.domains = domains;
        this.migrations = migrations;
        this.sync = sync;
        this.standDown = standDown;
        this.bootStarts = bootStarts;
        this.commands = commands;
        this.storage = storage;
        this.apiInterceptors = List.copyOf(apiInterceptors);
        this.libvirtTls = libvirtTls;
    }

    /** Builds an agent from its configuration; call {@link #start()} to run it. */
    public static Agent create(AgentConfig config) {
        return Guice.createInjector(Stage.PRODUCTION, new AgentModule(config)).getInstance(Agent.class);
    }

    /**
     * Builds an agent whose features are wired as configured except for the bindings {@code overrides} replace:
     * how tests run an agent on a simulated host (e.g. its network in a namespace of its own).
     */
    public static Agent create(AgentConfig config, Module overrides) {
        return Guice.createInjector(Stage.PRODUCTION, Modules.override(new AgentModule(config)).with(overrides))
                .getInstance(Agent.class);
    }

    /**
     * Starts the agent: loads its certificate or enrolls (waiting for the controller if needed), then
     * serves and reports.
     *
     * @throws Enroller.RefusedException when the agent has no usable certificate and the controller
     *     refuses its join token (or there is none): a configuration problem, not a transient one
     */
    public synchronized Agent start() throws IOException, Enroller.RefusedException, InterruptedException {
        stateLock = StateDirectoryLock.acquire(config.stateDirectory());
        agentId = AgentIdentity.loadOrCreate(config.stateDirectory());
        Enroller enroller = new Enroller(config.stateDirectory(), config.hostName(), config.controller());
        CredentialSource source = new CredentialSource(config.stateDirectory(), config.hostName(), enroller,
                config.joinToken(), config.joinTokenFile(), config.maxBackoff(), Clock.systemUTC());
        credentials = source.obtain();
        sync.source().useCredentials(credentials);
        transport = Transport.secure("agent", 1, credentials);
        controllerChannel = transport.channel(config.controller(), FleetIdentity.controller(), commands);
        poller.start();
        // The last interceptor listed sees a call first: authorization, then status mapping, then the extras.
        List<ServerInterceptor> interceptors = new ArrayList<>(apiInterceptors);
        interceptors.add(new StatusMapping());
        interceptors.add(new Authorization(rules()));
        // Outermost: every command is counted and timed with the status it ends with, refused ones included.
        interceptors.add(new GrpcServerMetrics(metrics.registry(), "agent"));
        if (config.metricsListen() != null) {
            metricsEndpoint = MetricsEndpoint.start(config.metricsListen(), metrics.registry(), "vf-agent-metrics");
        }
        List<BindableService> services = new ArrayList<>(List.of(service));
        services.addAll(health.services());
        server = transport.startServer(config.listen(), commands, services, interceptors, List.of(), false);
        libvirtHealth = new LibvirtHealth(poller, health, config.heartbeatInterval()).start();
        String advertised = config.advertised(server.getPort()).toString();
        // Before the link: the start gate opens at the controller's first answer that orders no stand-down.
        bootStarts.agentStarted();
        sync.withHold(standDown::restoreHold); // while the controller holds after a restore, a sync changes nothing
        bootStarts.judgingCommitsBy(sync::includes);
        sync.afterCompletion(bootStarts::syncCompleted);
        standDown.onceStartsAllowed(bootStarts::startsAllowed);
        link = new ControllerLink(new ControllerLink.Settings(agentId, advertised, config.controller().toString(),
                config.storageTiers(), config.heartbeatInterval(), config.maxBackoff(), AgentModule.FAILURE_LOG_PERIOD),
                reporter, new CatchUp(sync, standDown), controllerChannel);
        link.start();
        renewer = new CertificateRenewer(credentials, enroller, controllerChannel, source::token, Clock.systemUTC());
        renewer.start();
        // In the background: the agent serves whether or not the controller issues the certificate.
        libvirtTls.connect(controllerChannel, credentials::ca, () -> {
            io.virtfleet.proto.v1.HostReport last = reporter.lastReport();
            return last.getHostName().isEmpty() ? null : last.getMigrationAddress(); // null: not reported yet
        }).start();
        log.info("agent {} for host {} serving on {} (libvirt {}, controller {}, certificate valid until {})",
                agentId, config.hostName(), advertised, config.libvirtUri(), config.controller(), credentials.notAfter());
        return this;
    }

    /**
     * Every method of the agent's API is for the controller, and for nobody else. Health and reflection are for any
     * certificate of the fleet (the agent admits no connection without one): the controller, and operators who run
     * {@code virtfleet health --agents} or a tool against the agent.
     */
    private static Map<String, Authorization.Rule> rules() {
        Map<String, Authorization.Rule> rules = new HashMap<>();
        AgentService.definition().getMethods().forEach(m -> rules.put(m.getMethodDescriptor().getFullMethodName(),
                Authorization.Rule.CONTROLLER));
        rules.putAll(ServerHealth.rules(Authorization.Rule.FLEET, Authorization.Rule.FLEET));
        return rules;
    }

    /** What the agent answers on grpc.health.v1.Health. */
    public ServerHealth health() {
        return health;
    }

    /** Full names of every method the agent's gRPC server offers (each must have an access rule). */
    public List<String> servedMethods() {
        return server.getServices().stream().flatMap(s -> s.getMethods().stream())
                .map(m -> m.getMethodDescriptor().getFullMethodName()).sorted().toList();
    }

    public String agentId() {
        return agentId;
    }

    public String hostName() {
        return config.hostName();
    }

    /** The port the agent's API listens on (useful when configured with port 0). */
    public int port() {
        return server.getPort();
    }

    public boolean registered() {
        return link != null && link.registered();
    }

    /** The link to the controller, with its counters of accepted heartbeats and failed calls. */
    public ControllerLink link() {
        return link;
    }

    /** The host's definitions sync: its state, and syncs on demand. */
    public DefinitionsSync sync() {
        return sync;
    }

    /** Whether the controller orders this host to stand down, and how far it got. */
    public StandDown standDown() {
        return standDown;
    }

    /** The agent's autostart of home domains at each host boot, and what it came to. */
    public BootStarts bootStarts() {
        return bootStarts;
    }

    /** The agent's live TLS credentials (renewed in place). */
    public TlsCredentials credentials() {
        return credentials;
    }

    /** Port of the Prometheus metrics endpoint (0 when metrics-listen is off). */
    public int metricsPort() {
        return metricsEndpoint == null ? 0 : metricsEndpoint.port();
    }

    public void blockUntilShutdown() throws InterruptedException {
        server.awaitTermination();
    }

    /** The host's libvirt TLS certificate, as installed for live migration. */
    public LibvirtCertificateKeeper libvirtTls() {
        return libvirtTls;
    }

    @Override
    public synchronized void close() {
        health.stopping(); // first: probes and Watch streams learn it before anything stops answering
        if (libvirtHealth != null) {
            libvirtHealth.close();
        }
        if (metricsEndpoint != null) {
            metricsEndpoint.close();
            metricsEndpoint = null;
        }
        libvirtTls.close();
        if (renewer != null) {
            renewer.close();
        }
        if (link != null) {
            link.close();
        }
        Transport.stop(server);
        if (controllerChannel != null) {
            controllerChannel.shutdownNow();
        }
        commands.shutdownNow();
        bootStarts.close();
        sync.close(); // before the domains: a sync waiting on a domain operation is stopped, not left hanging
        migrations.close(); // migrations in flight are aborted: their VMs keep running here
        domains.close();
        storage.shutdownNow();
        poller.close();
        hypervisor.close();
        if (transport != null) {
            transport.close();
        }
        if (stateLock != null) {
            try {
                stateLock.close();
            } catch (IOException e) {
                log.warn("cannot release the lock of state-dir {}: {}", config.stateDirectory(), e.getMessage());
            }
            stateLock = null;
        }
    }
}
