package io.virtfleet.controller;

import com.google.inject.name.Named;
import io.virtfleet.common.security.TlsCredentials;
import io.virtfleet.controller.agents.AgentClients;
import io.virtfleet.controller.cpu.FleetCpu;
import io.virtfleet.controller.definitions.GitHttpServer;
import io.virtfleet.controller.definitions.VmStore;
import io.virtfleet.controller.fencing.CephClientBook;
import io.virtfleet.controller.fencing.FenceView;
import io.virtfleet.controller.fencing.HostLoss;
import io.virtfleet.controller.install.InstallHttpServer;
import io.virtfleet.controller.install.Installs;
import io.virtfleet.controller.reconcile.Reconciler;
import io.virtfleet.controller.fencing.FenceService;
import io.virtfleet.controller.registry.Liveness;
import io.virtfleet.controller.scheduler.FleetFeed;
import io.virtfleet.controller.scheduler.Scheduler;
import io.virtfleet.controller.vm.VmService;

import com.google.inject.Guice;
import com.google.inject.Inject;
import com.google.inject.Stage;
import io.grpc.BindableService;
import io.grpc.Server;
import io.virtfleet.common.health.ServerHealth;
import io.virtfleet.controller.health.StorageHealth;
import io.virtfleet.proto.v1.BackupsGrpc;
import io.virtfleet.proto.v1.DashboardGrpc;
import io.virtfleet.proto.v1.EnrollmentGrpc;
import io.virtfleet.proto.v1.FleetGrpc;
import io.virtfleet.proto.v1.RegistryGrpc;
import java.util.ArrayList;
import io.grpc.ManagedChannel;
import io.grpc.ServerInterceptors;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import io.virtfleet.common.validation.InvalidInputException;
import io.virtfleet.controller.dashboard.DashboardCertificate;
import io.virtfleet.controller.dashboard.DashboardEndpoint;
import io.virtfleet.controller.dashboard.DashboardLogins;
import io.virtfleet.controller.dashboard.DashboardServer;
import io.virtfleet.controller.dashboard.DashboardSettings;
import io.grpc.ServerInterceptor;
import io.virtfleet.common.security.Authorization;
import io.virtfleet.common.transport.RequestSizeLimit;
import io.virtfleet.common.transport.StatusMapping;
import io.virtfleet.common.transport.Transport;
import io.virtfleet.controller.fleet.FleetEndpoint;
import io.virtfleet.controller.registry.HeartbeatTimer;
import io.virtfleet.controller.registry.HostRegistry;
import io.virtfleet.controller.registry.LatencyHistogram;
import io.virtfleet.controller.registry.LivenessWatch;
import io.virtfleet.controller.registry.RegistryEndpoint;
import io.virtfleet.controller.replication.Replication;
import io.virtfleet.controller.trust.ControllerPki;
import io.virtfleet.controller.trust.EnrollmentEndpoint;
import io.virtfleet.controller.trust.Enrollments;
import io.virtfleet.controller.trust.RevokedOperators;
import io.virtfleet.common.metrics.GrpcServerMetrics;
import io.virtfleet.common.metrics.MetricsEndpoint;
import io.virtfleet.controller.metrics.FleetCollector;
import io.virtfleet.controller.metrics.FleetMetrics;
import java.io.IOException;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** One running controller: the registry for agents and the fleet service for operators, on one port. */
public final class Controller implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(Controller.class);

    private final ControllerConfig config;
    private final Transport transport;
    private final HostRegistry registry;
    private final LivenessWatch livenessWatch;
    private final RegistryEndpoint registryEndpoint;
    private final FleetEndpoint fleetEndpoint;
    private final EnrollmentEndpoint enrollmentEndpoint;
    private final ControllerPki pki;
    private final Enrollments enrollments;
    private final Scheduler scheduler;
    private final Liveness liveness;
    private final VmService vms;
    private final Reconciler reconciler;
    private final AgentClients agentClients;
    private final ExecutorService vmWork;
    private final VmStore vmStore;
    private GitHttpServer gitServer;
    private final Installs installs;
    private InstallHttpServer installServer;
    private final Replication replication;
    private final RevokedOperators revokedOperators;
    private final FleetCpu fleetCpu;
    private final FenceService fencing;
    private final FenceView fences;
    private final io.virtfleet.controller.failover.Failover failover;
    private final HostLoss hostLoss;
    private final CephClientBook cephClients;
    private final io.virtfleet.controller.backup.BackupEndpoint backups;
    private final ScheduledExecutorService renewal = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "vf-controller-cert-renewal");
        t.setDaemon(true);
        return t;
    });
    private final HeartbeatTimer heartbeatTimer = new HeartbeatTimer();
    private Server server;
    private final io.virtfleet.controller.backup.RestoreHoldService restoreHold;
    private final DashboardEndpoint dashboardEndpoint;
    private io.virtfleet.controller.backup.RestoreHoldGate holdGate;
    private DashboardServer dashboard;
    private Server dashboardCalls;
    private ManagedChannel dashboardChannel;
    private final FleetMetrics metrics;
    private MetricsEndpoint metricsEndpoint;
    private GrpcServerMetrics grpcMetrics;
    /** grpc.health.v1 answers for the controller: SERVING from the end of start() to the beginning of close(). */
    private final ServerHealth health = new ServerHealth(List.of(RegistryGrpc.SERVICE_NAME, FleetGrpc.SERVICE_NAME,
            EnrollmentGrpc.SERVICE_NAME, BackupsGrpc.SERVICE_NAME, DashboardGrpc.SERVICE_NAME));
    /** Turns health to NOT_SERVING while a state write in the data directory fails, and back when writes succeed. */
    private final StorageHealth storageHealth;

    @Inject
    Controller(ControllerConfig config, Transport transport, HostRegistry registry, LivenessWatch livenessWatch,
               RegistryEndpoint registryEndpoint, FleetEndpoint fleetEndpoint, EnrollmentEndpoint enrollmentEndpoint,
               ControllerPki pki, Enrollments enrollments, Scheduler scheduler, Liveness liveness, VmService vms,
               Reconciler reconciler, AgentClients agentClients, @Named("vm-work") ExecutorService vmWork,
               VmStore vmStore, Replication replication, Installs installs, RevokedOperators revokedOperators,
               FleetCpu fleetCpu, FenceService fencing, FenceView fences,
               io.virtfleet.controller.failover.Failover failover, HostLoss hostLoss, CephClientBook cephClients,
               io.virtfleet.controller.backup.BackupEndpoint backups,
               io.virtfleet.controller.backup.RestoreHoldService restoreHold, FleetMetrics metrics) {
        this.metrics = metrics;
        this.backups = backups;
        this.restoreHold = restoreHold;
        this.hostLoss = hostLoss;
        this.cephClients = cephClients;
        this.fencing = fencing;
        this.failover = failover;
        this.fences = fences;
        this.revokedOperators = revokedOperators;
        this.fleetCpu = fleetCpu;
        this.config = config;
        this.transport = transport;
        this.registry = registry;
        this.livenessWatch = livenessWatch;
        this.registryEndpoint = registryEndpoint;
        this.fleetEndpoint = fleetEndpoint;
        this.enrollmentEndpoint = enrollmentEndpoint;
        this.pki = pki;
        this.enrollments = enrollments;
        this.scheduler = scheduler;
        this.liveness = liveness;
        this.vms = vms;
        this.reconciler = reconciler;
        this.agentClients = agentClients;
        this.vmWork = vmWork;
        this.vmStore = vmStore;
        this.replication = replication;
        this.installs = installs;
        this.dashboardEndpoint = new DashboardEndpoint();
        this.storageHealth = new StorageHealth(config.dataDirectory(), health);
    }

    public static Controller create(ControllerConfig config) {
        return Guice.createInjector(Stage.PRODUCTION, new ControllerModule(config)).getInstance(Controller.class);
    }

    public synchronized Controller start() throws IOException {
        // Before the port opens: placement must see the first registration, and claims must agree with the
        // definitions repository before any create can add a claim of its own.
        registry.listen(r -> {
            scheduler.update(FleetFeed.snapshot(r, liveness, registry.nanoTime(), fleetCpu.problem(r.report())));
            cephClients.observe(r); // compared in memory; a change is written off this thread
        }, name -> {
            scheduler.forget(name);
            cephClients.forget(name);
            metrics.forgetHost(name);
        });
        // A new fleet CPU model changes every host's verdict on it: placement hears of each at once, not at its next report.
        fleetCpu.onChange(() -> registry.all().forEach(r -> scheduler.update(FleetFeed.snapshot(r, liveness,
                registry.nanoTime(), fleetCpu.problem(r.report())))));
        livenessWatch.listen(scheduler::setState);
        fleetEndpoint.onDrainChange(scheduler::setState);
        vms.recover();
        // Interceptors run last-listed first: a caller is authorized, then an anonymous request's size checked.
        RequestSizeLimit anonymousRequests = new RequestSizeLimit(AccessRules.anonymousRequestBytes());
        // The restore hold's gate runs after authorization: an unauthorized caller learns nothing of the hold.
        holdGate = new io.virtfleet.controller.backup.RestoreHoldGate(restoreHold.hold());
        // Listed last, so outermost: metrics see every call with the status it ends with, refusals by the others included.
        grpcMetrics = new GrpcServerMetrics(metrics.registry(), "controller");
        List<ServerInterceptor> interceptors = transport.isSecure()
                ? List.of(holdGate, new StatusMapping(), anonymousRequests, new Authorization(AccessRules.controller(), revokedOperators), grpcMetrics)
                : List.of(holdGate, new StatusMapping(), anonymousRequests, grpcMetrics);
        heartbeatTimer.alsoTo(metrics::heartbeat);
        metrics.registry().register(FleetCollector.of(registry, liveness, scheduler::claims, vms::list,
                vmStore.repo()::headNow, vmStore.repo()::commitTimeUnixMs, metrics::lastSyncSeconds));
        if (config.metricsListen() != null) {
            metricsEndpoint = MetricsEndpoint.start(config.metricsListen(), metrics.registry(), "vf-controller-metrics");
        }
        // Handlers run on the Netty event loops: none of them blocks (registry updates, reads of the
        // inventory, small signing jobs), and skipping the hand-off to a worker pool halves the
        // controller's CPU under 1,000 heartbeating agents (BENCHMARKS.md). Work that may block must
        // go to an executor of its own feature.
        if (!config.plaintextForTests()) {
            // Agents clone and pull the definitions repository from here (read-only, mutual TLS). Up before the
            // registry, so the first registration already learns where to pull from.
            gitServer = GitHttpServer.start(vmStore.repo(), pki.credentials(), config.gitListen(),
                    GitHttpServer.Limits.defaults(), revokedOperators);
            replication.gitServerListening(gitServer.port());
        }
        if (installs.boot().arms()) {
            // Only when the controller arms installs: with boot-mode none no VM holds a token, and nothing listens.
            installServer = InstallHttpServer.start(installs, config.provisioning().boot().listen());
        }
        List<BindableService> services = new ArrayList<>(List.of(registryEndpoint, fleetEndpoint, enrollmentEndpoint, backups, dashboardEndpoint));
        services.addAll(health.services()); // answered on the event loop too: a map read, a descriptor lookup
        server = transport.startServer(config.listen(), Runnable::run, services, interceptors, List.of(heartbeatTimer), true);
        livenessWatch.start();
        if (restoreHold.hold().holding()) {
            // Held after a restore: no host is judged lost (a fence and failover would act on old records) until
            // an admin releases the hold.
            log.warn("controller restored from a backup taken at {}: holding, no domain is changed on any host until"
                    + " an admin releases the hold (virtfleet drift; virtfleet restore-hold release --help)",
                    restoreHold.hold().backupTakenAt().orElse(null));
            restoreHold.onRelease(hostLoss::start);
        } else {
            hostLoss.start();
        }
        reconciler.start();
        long checkEvery = Math.max(1000, config.ownCertificateLifetime().toMillis() / 20);
        renewal.scheduleWithFixedDelay(this::renewOwnCertificate, checkEvery, checkEvery, TimeUnit.MILLISECONDS);
        // Its state is loaded (records, claims, journals) and every feature runs. A restore hold does not change this:
        // a held controller still serves reads, registrations, backups and the release itself (README, "Health checks").
        // SERVING from here, unless (and while) a state write fails: a controller that cannot record what it does is
        // not serving (README, "Health checks").
        storageHealth.start();
        log.info("controller listening on {}:{} ({}; agents heartbeat every {} ms, unreachable after {} ms; metrics {})",
                config.listen().getHostString(), server.getPort(),
                config.plaintextForTests() ? "PLAINTEXT TEST MODE" : "mutual TLS 1.3 via " + TlsCredentials.engine(),
                config.heartbeatInterval().toMillis(), config.unreachableAfter().toMillis(),
                metricsEndpoint == null ? "off" : "on http://" + config.metricsListen().getHostString() + ":"
                        + metricsEndpoint.port() + "/metrics");
        return this;
    }

    /**
     * Starts the web dashboard (after {@link #start}): HTTPS on {@code settings.listen()}, its calls made to this
     * controller's Fleet service in-process, as the session's operator, behind the same interceptors as the gRPC port
     * (authorization by {@link AccessRules}, the restore hold's gate, status mapping). Off in plaintext test mode.
     *
     * @throws InvalidInputException the operator's certificate or key ({@code dashboard-tls-cert}, {@code
     *                               dashboard-tls-key}) is unusable: nothing of the dashboard was started
     */
    public synchronized DashboardServer startDashboard(DashboardSettings settings) throws IOException {
        if (!settings.on() || config.plaintextForTests()) {
            return null;
        }
        if (server == null || dashboard != null) {
            throw new IllegalStateException("the dashboard starts once, after the controller");
        }
        // First, so that a bad certificate of the operator's leaves nothing started.
        DashboardCertificate certificate = DashboardCertificate.forSettings(settings, config.dataDirectory(),
                config.ownCertificateLifetime(), java.time.Clock.systemUTC());
        DashboardLogins logins = new DashboardLogins(java.time.Clock.systemUTC(), settings.sessionLifetime(),
                revokedOperators::revokedSince);
        String name = "virtfleet-dashboard-" + java.util.UUID.randomUUID();
        // Direct executors: a call runs on the dashboard's worker that makes it, never on a gRPC event loop.
        dashboardCalls = InProcessServerBuilder.forName(name).directExecutor()
                .addService(ServerInterceptors.intercept(fleetEndpoint, holdGate, new StatusMapping(),
                        Authorization.forSessions(AccessRules.controller(), logins),
                        grpcMetrics.on("dashboard"))) // outermost, as on the port: refusals counted too
                .build().start();
        dashboardChannel = InProcessChannelBuilder.forName(name).directExecutor().build();
        dashboard = DashboardServer.start(settings, certificate, logins, dashboardChannel, registry,
                java.time.Clock.systemUTC());
        dashboardEndpoint.serving(dashboard);
        return dashboard;
    }

    /** The web dashboard; null while it is off. */
    public synchronized DashboardServer dashboard() {
        return dashboard;
    }

    private void renewOwnCertificate() {
        try {
            pki.renewIfDue();
        } catch (IOException | RuntimeException e) {
            log.error("cannot renew the controller's certificate; will retry", e);
        }
    }

    /** The controller's keys: the fleet CA, its own certificate, the first admin's bundle. */
    public ControllerPki pki() {
        return pki;
    }

    /** Join tokens and operator certificates, for in-process use (the embedded fleet). */
    public Enrollments enrollments() {
        return enrollments;
    }

    /** Agents' enrollment and renewal (tests fill its queue). */
    public EnrollmentEndpoint enrollmentEndpoint() {
        return enrollmentEndpoint;
    }

    public int port() {
        return server.getPort();
    }

    /** What the controller answers on grpc.health.v1.Health. */
    public ServerHealth health() {
        return health;
    }

    /** Full names of every method the controller's gRPC server offers (each must have an access rule). */
    public List<String> servedMethods() {
        return server.getServices().stream().flatMap(s -> s.getMethods().stream())
                .map(m -> m.getMethodDescriptor().getFullMethodName()).sorted().toList();
    }

    public HostRegistry registry() {
        return registry;
    }

    /** How long this controller took to handle each agent heartbeat, since it started or the last reset. */
    public LatencyHistogram heartbeatLatency() {
        return heartbeatTimer.histogram();
    }

    /** Port of the Prometheus metrics endpoint (0 when metrics-listen is off). */
    public int metricsPort() {
        return metricsEndpoint == null ? 0 : metricsEndpoint.port();
    }

    /** The controller's metrics and their registry (what its endpoint serves). */
    public FleetMetrics metrics() {
        return metrics;
    }

    public void blockUntilShutdown() throws InterruptedException {
        server.awaitTermination();
    }

    /** The VM operations, for in-process use (the embedded fleet, tests). */
    public VmService vms() {
        return vms;
    }

    /**
     * The definitions repository's records and domain XML, for in-process use: benchmarks commit a changed
     * definition here to time its fan-out, as no operator command edits one yet.
     */
    public VmStore vmStore() {
        return vmStore;
    }

    /** Port of the definitions repository's git server (0 in plaintext test mode, which has none). */
    public int gitPort() {
        return gitServer == null ? 0 : gitServer.port();
    }

    /** Port of the install HTTP server (0 when boot-mode is none, which has none). */
    public int installPort() {
        return installServer == null ? 0 : installServer.port();
    }

    /** VMs' unattended installs. */
    public Installs installs() {
        return installs;
    }

    /** Fan-out, drift and repair of the hosts' definitions. */
    public Replication replication() {
        return replication;
    }

    /** Which hosts are lost: their agents are told to stand down. */
    public FenceView fences() {
        return fences;
    }

    public Scheduler scheduler() {
        return scheduler;
    }

    /** Restarting lost hosts' VMs elsewhere, for in-process use. */
    public io.virtfleet.controller.failover.Failover failover() {
        return failover;
    }


    public Reconciler reconciler() {
        return reconciler;
    }

    /** How hosts are judged (ready, unreachable, fenced...). */
    public Liveness liveness() {
        return liveness;
    }

    /** The host-loss watch: suspicions, and automatic failover when it is on. */
    public HostLoss hostLoss() {
        return hostLoss;
    }

    /** Fencing lost hosts: where failover asks for a verdict, and hooks its start after one. */
    public FenceService fencing() {
        return fencing;
    }

    @Override
    public synchronized void close() {
        health.stopping(); // first: probes and Watch streams learn it before anything stops answering
        storageHealth.close();
        dashboardEndpoint.serving(null);
        if (dashboard != null) {
            dashboard.close();
        }
        if (dashboardChannel != null) {
            dashboardChannel.shutdownNow();
        }
        if (dashboardCalls != null) {
            dashboardCalls.shutdownNow();
        }
        if (metricsEndpoint != null) {
            metricsEndpoint.close();
        }
        if (installServer != null) {
            installServer.close();
        }
        if (gitServer != null) {
            gitServer.close();
        }
        reconciler.close();
        vmWork.shutdownNow();
        enrollmentEndpoint.close();
        fleetEndpoint.close();
        backups.close();
        agentClients.close();
        renewal.shutdownNow();
        livenessWatch.close();
        hostLoss.close();
        Transport.stop(server);
        transport.close();
    }
}
