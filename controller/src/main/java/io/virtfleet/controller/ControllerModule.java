package io.virtfleet.controller;

import com.google.inject.AbstractModule;
import com.google.inject.Provides;
import com.google.inject.Singleton;
import io.virtfleet.common.transport.Transport;
import io.virtfleet.common.validation.InvalidInputException;
import io.virtfleet.common.validation.Ipv4;
import io.virtfleet.controller.fencing.FenceView;
import io.virtfleet.controller.fleet.FleetEndpoint;
import io.virtfleet.controller.install.InstallBook;
import io.virtfleet.controller.install.Installs;
import io.virtfleet.controller.install.WithheldTokens;
import io.virtfleet.controller.install.ProfileCatalog;
import io.virtfleet.controller.install.ProfilesEndpoint;
import io.virtfleet.controller.registry.Drains;
import io.virtfleet.controller.registry.HostRegistry;
import io.virtfleet.controller.registry.Liveness;
import io.virtfleet.controller.fencing.FenceService;
import io.virtfleet.controller.fencing.CephClientBook;
import io.virtfleet.controller.fencing.Fences;
import io.virtfleet.controller.fencing.HostLoss;
import io.virtfleet.controller.registry.LivenessWatch;
import io.virtfleet.controller.registry.RegistryEndpoint;
import io.virtfleet.controller.replication.DriftCheck;
import io.virtfleet.controller.replication.FanOut;
import io.virtfleet.controller.replication.Replication;
import io.virtfleet.controller.trust.ControllerPki;
import io.virtfleet.controller.trust.EnrolledHosts;
import io.virtfleet.controller.trust.EnrollmentEndpoint;
import io.virtfleet.controller.trust.Enrollments;
import io.virtfleet.controller.trust.JoinTokens;
import io.virtfleet.controller.trust.LibvirtCertificates;
import io.virtfleet.controller.trust.RevokedOperators;
import com.google.inject.name.Named;
import io.virtfleet.controller.agents.AgentClients;
import io.virtfleet.controller.cpu.CpuModelEndpoint;
import io.virtfleet.controller.cpu.FleetCpu;
import io.virtfleet.proto.v1.BaselineCpuRequest;
import io.virtfleet.controller.definitions.DefinitionsRepo;
import io.virtfleet.controller.definitions.DomainRenderer;
import io.virtfleet.controller.adopt.AdoptEndpoint;
import io.virtfleet.controller.adopt.Adoptions;
import io.virtfleet.controller.definitions.DomainSettings;
import io.virtfleet.controller.definitions.DomainXml;
import io.virtfleet.controller.definitions.VmStore;
import io.virtfleet.controller.reconcile.HostSteps;
import io.virtfleet.controller.reconcile.Reconciler;
import io.virtfleet.controller.ovh.FailoverAtOvh;
import io.virtfleet.controller.scheduler.ClaimBook;
import io.virtfleet.controller.scheduler.FailoverHosts;
import io.virtfleet.controller.scheduler.FleetFeed;
import io.virtfleet.controller.scheduler.Scheduler;
import io.virtfleet.controller.failover.Failover;
import io.virtfleet.controller.failover.FailoverEndpoint;
import io.virtfleet.controller.failover.FailoverJournal;
import io.virtfleet.controller.move.Rehoming;
import java.nio.file.Path;
import io.virtfleet.common.metrics.DaemonMetrics;
import io.virtfleet.controller.metrics.FleetMetrics;
import io.virtfleet.controller.move.Evacuation;
import io.virtfleet.controller.move.MoveJournal;
import io.virtfleet.controller.move.Moves;
import io.virtfleet.controller.vm.VmEndpoint;
import io.virtfleet.controller.vm.VmService;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.time.Clock;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/** Wires the controller's features from its configuration. */
final class ControllerModule extends AbstractModule {
    /** How long a host's libvirt may take for a CPU baseline (a few milliseconds when it answers at all). */
    private static final java.time.Duration BASELINE_DEADLINE = java.time.Duration.ofSeconds(30);
    /** How long after a VM was built its home host's reports may still show libvirt from before. */
    private static final java.time.Duration REPORT_SETTLING = java.time.Duration.ofMillis(500);
    private final ControllerConfig config;

    ControllerModule(ControllerConfig config) {
        this.config = config;
    }

    @Override
    protected void configure() {
        bind(ControllerConfig.class).toInstance(config);
    }

    /** The controller's metrics: its own registry (JVM metrics included), which the metrics endpoint serves. */
    @Provides
    @Singleton
    FleetMetrics fleetMetrics() {
        return new FleetMetrics(DaemonMetrics.registryWithJvm());
    }

    @Provides
    @Singleton
    ControllerPki pki() {
        try {
            return ControllerPki.open(config.dataDirectory(), Clock.systemUTC(), config.ownCertificateLifetime());
        } catch (IOException e) {
            throw new UncheckedIOException("cannot open the controller's keys in " + config.dataDirectory(), e);
        }
    }

    @Provides
    @Singleton
    JoinTokens joinTokens(ControllerPki pki) {
        try {
            return new JoinTokens(config.dataDirectory().resolve("join-tokens"), Clock.systemUTC(), pki.ca().fingerprint());
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read the join tokens", e);
        }
    }

    @Provides
    @Singleton
    EnrolledHosts enrolledHosts() {
        try {
            return new EnrolledHosts(config.dataDirectory().resolve("enrolled-hosts"));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read the enrolled hosts", e);
        }
    }

    @Provides
    @Singleton
    Enrollments enrollments(ControllerPki pki, JoinTokens tokens, EnrolledHosts hosts, RevokedOperators revoked) {
        return new Enrollments(pki, tokens, hosts, revoked, Clock.systemUTC());
    }

    @Provides
    @Singleton
    RevokedOperators revokedOperators() {
        try {
            return RevokedOperators.open(config.dataDirectory().resolve(RevokedOperators.FILE));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read the revoked operators", e);
        }
    }

    @Provides
    @Singleton
    EnrollmentEndpoint enrollmentEndpoint(ControllerPki pki, JoinTokens tokens, EnrolledHosts hosts,
                                          LibvirtCertificates libvirt) {
        // Enroll is open to anyone: its worker and short queue are its own, so a flood of it cannot delay renewals.
        return new EnrollmentEndpoint(pki, tokens, hosts, config.agentCertificateLifetime(),
                EnrollmentEndpoint.worker("vf-enrollment", EnrollmentEndpoint.ENROLL_QUEUE),
                EnrollmentEndpoint.worker("vf-renewal", EnrollmentEndpoint.RENEW_QUEUE), libvirt);
    }

    /** Hosts' libvirt certificates name the migration address of their latest report, as the registry holds it. */
    @Provides
    @Singleton
    LibvirtCertificates libvirtCertificates(ControllerPki pki, EnrolledHosts hosts, HostRegistry registry) {
        LibvirtCertificates.Reports reports = new LibvirtCertificates.Reports() {
            @Override
            public java.util.Optional<io.virtfleet.proto.v1.HostReport> of(String host) {
                return registry.get(host).map(io.virtfleet.controller.registry.HostRecord::report);
            }

            @Override
            public java.util.List<io.virtfleet.proto.v1.HostReport> all() {
                return registry.all().stream().map(io.virtfleet.controller.registry.HostRecord::report).toList();
            }
        };
        try {
            return new LibvirtCertificates(pki, hosts, reports, config.dataDirectory(), config.agentCertificateLifetime());
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read the hosts' libvirt certificate addresses", e);
        }
    }

    @Provides
    @Singleton
    HostRegistry registry() {
        return new HostRegistry();
    }

    @Provides
    @Singleton
    Liveness liveness(Fences fences) {
        try {
            return new Liveness(config.unreachableAfter(), new Drains(config.dataDirectory().resolve("drained-hosts")),
                    fences);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read the drained hosts", e);
        }
    }

    /** The verdicts that hosts are lost, read at start: a controller that cannot read them does not start. */
    @Provides
    @Singleton
    Fences fences() {
        try {
            return Fences.open(config.dataDirectory().resolve("fenced-hosts"));
        } catch (IOException e) {
            throw new UncheckedIOException(e.getMessage(), e);
        }
    }

    @Provides
    @Singleton
    FenceService fenceService(HostRegistry registry, Liveness liveness, Fences fences, VmStore store,
                              CephClientBook book, io.virtfleet.controller.backup.RestoreHold hold) {
        FenceService service = new FenceService(registry, liveness, fences, config.fencing(), store, Clock.systemUTC(),
                book);
        service.restoreHold(hold::holding);
        return service;
    }

    /** Each host's Ceph client addresses as last reported, kept so a host that never reports again can be fenced. */
    @Provides
    @Singleton
    CephClientBook cephClientBook() {
        java.util.concurrent.ExecutorService writer = new ThreadPoolExecutor(0, 1, 30, TimeUnit.SECONDS,
                new LinkedBlockingQueue<>(), r -> {
                    Thread t = new Thread(r, "vf-ceph-client-book");
                    t.setDaemon(true);
                    return t;
                });
        try {
            return CephClientBook.open(config.dataDirectory().resolve("ceph-clients"), writer);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read the hosts' Ceph client addresses", e);
        }
    }

    /**
     * The host-loss watch: a host silent past host-lost-after is suspected lost; in automatic failover the controller
     * fences it in Ceph (never by its own word) and restarts its VMs, on a thread of its own, one host at a time.
     */
    @Provides
    @Singleton
    HostLoss hostLoss(HostRegistry registry, Fences fences, VmStore store, FenceService fencing, Failover failover) {
        org.slf4j.Logger log = org.slf4j.LoggerFactory.getLogger(HostLoss.class);
        java.util.concurrent.ExecutorService worker = Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(r, "vf-failover");
            t.setDaemon(true);
            return t;
        });
        HostLoss watch = new HostLoss(config.hostLoss(), config.unreachableAfter(), config.heartbeatInterval(), fences,
                () -> registry.all().stream().map(h -> new HostLoss.Seen(h.name(), h.lastSeenNanos())).toList(),
                () -> store.all().stream().map(io.virtfleet.proto.v1.Vm::getHomeHost).filter(h -> !h.isEmpty())
                        .collect(java.util.stream.Collectors.toSet()),
                registry::nanoTime,
                host -> fencing.fence(host, false, "controller", p -> log.info("host {} {}: {}", host, p.getStep(),
                        p.getDetail())),
                host -> {
                    Failover.Result result = failover.recover(host, "controller", p -> log.info("failover of {}: {} {} {}",
                            host, p.getVmName(), p.getStep(), p.getDetail()));
                    // Raw-disk, opted-out and waiting VMs wait for the host or the operator; only failures are retried.
                    long failed = result.vms().stream().filter(v -> v.outcome() == Failover.Outcome.FAILED).count();
                    if (failed > 0) {
                        throw new IllegalStateException(failed + " VM(s) of " + host + " not recovered yet");
                    }
                },
                worker);
        watch.renewWith(new HostLoss.Renewal() {
            @Override
            public boolean due(io.virtfleet.controller.fencing.Fence fence) {
                return fencing.renewalDue(fence);
            }

            @Override
            public void renew(String host) {
                fencing.renew(host);
            }
        });
        return watch;
    }

    @Provides
    @Singleton
    LivenessWatch livenessWatch(HostRegistry registry, Liveness liveness) {
        return new LivenessWatch(registry, liveness);
    }

    @Provides
    @Singleton
    RegistryEndpoint registryEndpoint(HostRegistry registry, EnrolledHosts hosts, VmStore store, Replication replication,
                                      FenceView fences, io.virtfleet.controller.backup.RestoreHold hold) {
        // While held after a restore, no agent is told to stand down (the restored verdicts and homes may be older than
        // what runs, and a stand-down destroys the domains whose recorded home is elsewhere), and every agent is told
        // it holds: it starts no domain, not even those that start with the host after a boot.
        return new RegistryEndpoint(registry, hosts, config.heartbeatInterval(), config.unreachableAfter(),
                store.repo()::headNow, replication::gitPort, fences).withRestoreHold(hold::holding);
    }

    /** Which hosts are lost (the durable verdicts): their agents are told to stand down. */
    @Provides
    @Singleton
    FenceView fenceView(Fences fences) {
        return fences;
    }

    @Provides
    @Singleton
    Replication replication(VmStore store, HostRegistry registry, AgentClients agents, Liveness liveness,
                            Reconciler reconciler, @Named("vm-work") ExecutorService work, FleetMetrics metrics) {
        FanOut fanOut = new FanOut(agents, registry, liveness, config.provisioning().syncDeadline());
        fanOut.onHostResult(r -> metrics.fanOut(r, host -> registry.get(host).isPresent()));
        Replication replication = new Replication(store, registry, fanOut, new DriftCheck(store, registry, liveness,
                (vm, home) -> {
                    Reconciler.Observed seen = reconciler.observed(vm);
                    // A report received within a moment of the VM being built may carry libvirt's view from before.
                    return seen.phase() != io.virtfleet.proto.v1.VmPhase.VM_PHASE_READY
                            || home.lastSeenNanos() - seen.atNanos() < REPORT_SETTLING.toNanos();
                }), work);
        replication.onDriftReport(metrics::drift);
        reconciler.alsoEachPass(replication::repairPass);
        return replication;
    }

    @Provides
    @Singleton
    FleetEndpoint fleetEndpoint(HostRegistry registry, Liveness liveness, Enrollments enrollments, VmEndpoint vms,
                                ProfilesEndpoint profiles, FleetCpu fleetCpu, @Named("vm-work") ExecutorService vmWork,
                                FenceService fencing, Failover failover, HostLoss hostLoss, Adoptions adoptions,
                                io.virtfleet.controller.backup.RestoreHoldService restoreHold) {
        // One thread, created on demand and gone when idle: these levers are rare, and one at a time keeps their
        // file writes in order.
        ThreadPoolExecutor work = new ThreadPoolExecutor(0, 1, 30, TimeUnit.SECONDS, new LinkedBlockingQueue<>(), r -> {
            Thread t = new Thread(r, "vf-fleet-levers");
            t.setDaemon(true);
            return t;
        });
        return new FleetEndpoint(registry, liveness, enrollments, vms, profiles, work)
                .withCpuModel(new CpuModelEndpoint(fleetCpu, vmWork)).withFencing(fencing)
                .withFailover(new FailoverEndpoint(failover, vmWork)).withSuspicions(hostLoss::suspicion)
                .withAdoption(new AdoptEndpoint(adoptions, vmWork)).withRestoreHold(restoreHold);
    }

    @Provides
    @Singleton
    io.virtfleet.controller.backup.BackupEndpoint backupEndpoint() {
        // One thread, on demand: a backup blocks while it copies the data directory and reads its archive.
        ThreadPoolExecutor work = new ThreadPoolExecutor(0, 1, 30, TimeUnit.SECONDS, new LinkedBlockingQueue<>(), r -> {
            Thread t = new Thread(r, "vf-backup");
            t.setDaemon(true);
            return t;
        });
        return new io.virtfleet.controller.backup.BackupEndpoint(new io.virtfleet.controller.backup.Snapshot(
                config.dataDirectory(), Clock.systemUTC(), io.virtfleet.controller.backup.Snapshot.PATIENCE), work);
    }

    @Provides
    @Singleton
    ProfileCatalog profileCatalog() {
        return new ProfileCatalog(config.provisioning().install().profilesDirectory());
    }

    @Provides
    @Singleton
    Installs installs(ProfileCatalog profiles, VmStore store, HostRegistry registry) {
        InstallBook book;
        try {
            book = new InstallBook(config.dataDirectory().resolve("installs"), System::currentTimeMillis);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read the install states", e);
        }
        // The gateway of a failover IP is derived from the home host's public IPv4 address, which its agent
        // reports (public-address: at OVH the server's main address, the one the failover IP is routed to).
        // Placement puts failover-IP VMs only on hosts reporting a valid one; should the home host report none
        // (any more), the VM's preseed is refused with the reason logged.
        WithheldTokens withheld;
        try {
            withheld = WithheldTokens.open(config.dataDirectory().resolve("install-tokens"));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read the withheld install tokens", e);
        }
        return new Installs(config.provisioning().boot(), config.provisioning().install(), book, withheld, profiles,
                store::get,
                host -> registry.get(host).flatMap(h -> FleetFeed.publicAddress(h.report())).map(Ipv4::toString).orElse(null));
    }

    @Provides
    @Singleton
    ProfilesEndpoint profilesEndpoint(ProfileCatalog profiles, @Named("vm-work") ExecutorService work) {
        return new ProfilesEndpoint(profiles, work);
    }

    @Provides
    @Singleton
    Scheduler scheduler(FleetMetrics metrics) {
        try {
            ClaimBook claims = ClaimBook.open(config.dataDirectory().resolve("claims"));
            // With OVH's API a failover IP can be moved to any host with a service name; else the static routes rule.
            var ovh = config.provisioning().ovh();
            Scheduler scheduler = new Scheduler(config.provisioning().placement(), ovh.enabled()
                    ? FailoverHosts.movable(ovh.services().keySet())
                    : FailoverHosts.routed(config.provisioning().failoverRoutes()), claims, System::currentTimeMillis);
            scheduler.onDecision(metrics::placement);
            return scheduler;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read the claims journal", e);
        }
    }

    @Provides
    @Singleton
    VmStore vmStore() {
        try {
            return new VmStore(DefinitionsRepo.open(config.dataDirectory().resolve("definitions")));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot open the definitions repository", e);
        }
    }

    /** Work that waits for agents (VM operations, reconciliation steps): never on the event loops. */
    @Provides
    @Singleton
    @Named("vm-work")
    ExecutorService vmWork() {
        AtomicInteger n = new AtomicInteger();
        return Executors.newCachedThreadPool(r -> {
            Thread t = new Thread(r, "vf-vm-" + n.incrementAndGet());
            t.setDaemon(true);
            return t;
        });
    }

    @Provides
    @Singleton
    AgentClients agentClients(Transport transport, HostRegistry registry, @Named("vm-work") ExecutorService work) {
        return new AgentClients(transport, registry, work);
    }

    @Provides
    @Singleton
    Reconciler reconciler(VmStore store, Scheduler scheduler, AgentClients agents, HostRegistry registry,
                          Liveness liveness, Installs installs, io.virtfleet.controller.backup.RestoreHold hold,
                          FleetMetrics metrics) {
        Reconciler reconciler = new Reconciler(store, scheduler, new HostSteps(agents, installs::withheldToken), registry,
                liveness, config.provisioning().reconcileInterval());
        reconciler.onPassTimed(metrics::reconcilePass);
        reconciler.holdAll(hold::holding);
        return reconciler;
    }

    /** The hold a controller restored from a backup starts in (its marker in the data directory). */
    @Provides
    @Singleton
    io.virtfleet.controller.backup.RestoreHold restoreHold() {
        try {
            return io.virtfleet.controller.backup.RestoreHold.open(config.dataDirectory());
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + config.dataDirectory().resolve(
                    io.virtfleet.controller.backup.RestoreHold.FILE), e);
        }
    }

    @Provides
    @Singleton
    io.virtfleet.controller.backup.RestoreHoldService restoreHoldService(io.virtfleet.controller.backup.RestoreHold hold,
            VmStore store, HostRegistry registry, Liveness liveness, Reconciler reconciler, Scheduler scheduler,
            DomainRenderer renderer, Installs installs, EnrolledHosts enrolled, FenceView fences, FenceService fencing) {
        io.virtfleet.controller.backup.RestoreHoldService service = new io.virtfleet.controller.backup.RestoreHoldService(
                hold, store, registry, liveness, reconciler, new Rehoming(store, scheduler, renderer, installs), enrolled,
                fences);
        fencing.unseenWhileHolding(() -> service.unseenHosts(java.util.List.of()));
        return service;
    }

    /** Adoption of domains virtfleet did not create (the runbook's). */
    @Provides
    @Singleton
    Adoptions adoptions(HostRegistry registry, Liveness liveness, VmStore store, Scheduler scheduler,
                        Reconciler reconciler, AgentClients agents, Replication replication) {
        return new Adoptions(registry, liveness, store, scheduler, reconciler, agents, replication, config.provisioning().domain());
    }

    /** The fleet CPU model, kept in the definitions repository; its baseline is computed by a host's libvirt. */
    @Provides
    @Singleton
    FleetCpu fleetCpu(VmStore store, HostRegistry registry, Liveness liveness, AgentClients agents) {
        try {
            return new FleetCpu(store.repo(), registry, liveness, (host, cpus) -> agents.agent(host)
                    .withDeadlineAfter(BASELINE_DEADLINE.toMillis(), TimeUnit.MILLISECONDS)
                    .baselineCpu(BaselineCpuRequest.newBuilder().addAllCpuXml(cpus).build()).getCpuXml());
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read the fleet CPU model", e);
        }
    }

    @Provides
    @Singleton
    DomainRenderer domainRenderer(HostRegistry registry, FleetCpu fleetCpu) {
        DomainSettings domain = config.provisioning().domain();
        // A raw disk lives in its home host's images directory, as that host reports it; the rest of the
        // definition is the same on every host.
        // The installer's files of a kernel boot are the home host's too (placement chose a host that has them;
        // one that lost them since is refused here, before anything is made).
        DomainRenderer renderer = (spec, host, boot) -> {
            var resources = registry.get(host).map(r -> r.report().getResources());
            // Every definition names the fleet CPU model, once there is one (VmService.create makes sure first).
            DomainXml xml = new DomainXml(resources
                    .map(r -> r.getImagesDirectory())
                    .filter(dir -> !dir.isEmpty())
                    .map(dir -> domain.withImagesDirectory(java.nio.file.Path.of(dir)))
                    .orElse(domain), fleetCpu.model().orElse(null));
            if (boot.isKernel() && boot.kernel().isEmpty()) {
                var files = resources.filter(r -> !r.getInstallerKernel().isEmpty() && !r.getInstallerInitrd().isEmpty())
                        .orElseThrow(() -> new InvalidInputException("boot-mode", "kernel",
                                "hosts with the Debian installer's kernel and initrd; host " + host + " reports none"
                                        + " (install debian-installer-12-netboot-amd64 there or set its agent's"
                                        + " installer-dir)"));
                boot = boot.withFiles(files.getInstallerKernel(), files.getInstallerInitrd());
            }
            return new DomainRenderer.Rendered(xml.render(spec, boot), xml.disk(spec), xml.network(spec));
        };
        return renderer;
    }

    @Provides
    @Singleton
    VmService vmService(VmStore store, Scheduler scheduler, Reconciler reconciler, HostRegistry registry,
                        Replication replication, ProfileCatalog profiles, Installs installs, DomainRenderer renderer,
                        FleetCpu fleetCpu, FailoverAtOvh ovh, FleetMetrics metrics) {
        VmService vms = new VmService(store, scheduler, reconciler, renderer, registry, replication, profiles, installs, ovh,
                fleetCpu);
        vms.timeWith(metrics::operation);
        return vms;
    }

    /** OVH's API for failover IPs (creates and failovers share its notes), or nothing without ovh-config. */
    @Provides
    @Singleton
    FailoverAtOvh failoverAtOvh() {
        return FailoverAtOvh.of(config.provisioning().ovh(),
                new io.virtfleet.controller.ovh.OvhIntents(config.dataDirectory().resolve("ovh-intents")));
    }

    @Provides
    @Singleton
    VmEndpoint vmEndpoint(VmService vms, Moves moves, VmStore store, Liveness liveness, Failover failover,
                          @Named("vm-work") ExecutorService work) {
        return new VmEndpoint(vms, moves, new Evacuation(moves, store, liveness.drains()), work)
                .alsoPendingWork(failover::pendingWork);
    }

    @Provides
    @Singleton
    Moves moves(VmStore store, Scheduler scheduler, Reconciler reconciler, AgentClients agents, HostRegistry registry,
                Replication replication, Installs installs, DomainRenderer renderer, Liveness liveness,
                FleetMetrics metrics) {
        try {
            Moves moves = new Moves(store, scheduler, reconciler, new HostSteps(agents, installs::withheldToken), agents,
                    registry, replication, installs, renderer, MoveJournal.open(config.dataDirectory().resolve("moves")),
                    liveness, config.heartbeatInterval());
            reconciler.alsoEachPass(moves::settle);
            moves.timeWith(metrics::operation);
            return moves;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read the moves in flight in " + config.dataDirectory().resolve("moves"), e);
        }
    }

    @Provides
    @Singleton
    Failover failover(VmStore store, Scheduler scheduler, Reconciler reconciler, AgentClients agents,
                      HostRegistry registry, Replication replication, Installs installs, DomainRenderer renderer,
                      FenceView fences, Moves moves, FailoverAtOvh ovh, FenceService fencing, FleetMetrics metrics) {
        Path dir = config.dataDirectory().resolve("failovers");
        try {
            Failover failover = new Failover(store, scheduler, reconciler, new HostSteps(agents, installs::withheldToken),
                    registry, replication, fences, ovh, new Rehoming(store, scheduler, renderer, installs), FailoverJournal.open(dir), moves::pendingWork,
                    config.failoverParallel());
            reconciler.alsoEachPass(failover::resume);
            failover.onRecovery((result, nanos) -> metrics.failover(result.vms().stream()
                    .map(v -> v.outcome().name()).toList(), result.left() == 0, nanos));
            // Recoveries and unfences of a host never overlap (two writers otherwise): the fence service is the gate.
            failover.gate(fencing);
            fencing.recoveryNoted(failover::noted);
            return failover;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read the failovers in flight in " + dir, e);
        }
    }

    @Provides
    @Singleton
    Transport transport(ControllerPki pki) {
        int threads = Math.max(1, Runtime.getRuntime().availableProcessors());
        return config.plaintextForTests()
                ? Transport.plaintextForTests("controller", threads)
                : Transport.secure("controller", threads, pki.credentials());
    }
}
