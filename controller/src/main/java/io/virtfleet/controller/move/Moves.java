package io.virtfleet.controller.move;

import io.grpc.Context;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.virtfleet.common.validation.InvalidInputException;
import io.virtfleet.common.validation.Names;
import io.virtfleet.controller.agents.AgentClients;
import io.virtfleet.controller.definitions.DomainRenderer;
import io.virtfleet.controller.definitions.VmStore;
import io.virtfleet.controller.install.InstallPhase;
import io.virtfleet.controller.install.Installs;
import io.virtfleet.controller.reconcile.HostSteps;
import io.virtfleet.controller.reconcile.Progress;
import io.virtfleet.controller.reconcile.Reconciler;
import io.virtfleet.controller.reconcile.StepFailedException;
import io.virtfleet.controller.reconcile.VmLocks;
import io.virtfleet.controller.registry.Domains;
import io.virtfleet.controller.registry.HostRecord;
import io.virtfleet.controller.registry.HostRegistry;
import io.virtfleet.controller.replication.Replication;
import io.virtfleet.controller.scheduler.Decision;
import io.virtfleet.controller.scheduler.Explanation;
import io.virtfleet.controller.scheduler.NoHostFitsException;
import io.virtfleet.controller.scheduler.Request;
import io.virtfleet.controller.scheduler.Scheduler;
import io.virtfleet.controller.scheduler.Verdict;
import io.virtfleet.proto.v1.DescribeHostRequest;
import io.virtfleet.proto.v1.DomainInfo;
import io.virtfleet.proto.v1.DomainState;
import io.virtfleet.proto.v1.HostReport;
import io.virtfleet.proto.v1.MigrateDomainRequest;
import io.virtfleet.proto.v1.MigrationProgress;
import io.virtfleet.proto.v1.StepResult;
import io.virtfleet.proto.v1.StorageTier;
import io.virtfleet.proto.v1.Vm;
import io.virtfleet.proto.v1.VmPhase;
import io.virtfleet.proto.v1.VmProgress;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Live moves of running VMs from their home host to another (virtfleet vm move): the target chosen by placement or
 * the operator and claimed, a raw disk made on the target first, the source's agent migrating the domain over
 * libvirt's TLS transport while the VM runs, and only once libvirt reports success the VM's record naming its new
 * home, in one commit. Until then the VM's record, claim and replicas are as they were, so a move that fails or is
 * cancelled leaves the VM running on its source with nothing changed.
 *
 * <p>A move holds the VM's lock from start to end: the reconciler's passes keep off it, and an operator's other
 * change to the VM waits. What a controller dying mid-way leaves (the VM may have reached the target without its
 * record saying so) is noted in the {@link MoveJournal} before the migration starts and settled from the hosts'
 * reports ({@link #settle}); meanwhile the reconciler keeps off the VM.
 */
public final class Moves {
    private static final Logger log = LoggerFactory.getLogger(Moves.class);
    private static final Logger audit = LoggerFactory.getLogger("virtfleet.audit");
    /** Suffix of the name the target's claim is held under while the VM still holds its own on the source. */
    static final String MOVE_CLAIM = "/move";

    private final VmStore store;
    private final Scheduler scheduler;
    private final Reconciler reconciler;
    private final HostSteps steps;
    private final AgentClients agents;
    private final HostRegistry registry;
    private final Replication replication;
    private final Installs installs;
    private final DomainRenderer renderer;
    private final MoveJournal journal;
    private final Rehoming rehoming;
    /** The moves running now, by VM: how to cancel each. */
    private final Map<String, Running> running = new ConcurrentHashMap<>();

    /** A move in flight as {@link #cancel} finds it, registered before it waits for the VM's lock. */
    private static final class Running {
        volatile String source = "its home";
        final Context.CancellableContext context;
        final java.util.concurrent.atomic.AtomicBoolean cancelled;
        volatile String target = "a host still to be chosen";
        volatile int percent;
        /** Set once the target runs the VM: from then on the move is recorded, never cancelled. */
        volatile boolean succeeded;

        Running(Context.CancellableContext context, java.util.concurrent.atomic.AtomicBoolean cancelled) {
            this.context = context;
            this.cancelled = cancelled;
        }
    }

    /** How long a move whose outcome the agent could not tell waits for the hosts' reports to tell it. */
    private static final java.time.Duration SETTLE_WAIT = java.time.Duration.ofMinutes(2);
    /** How long a settle waits for an agent's fresh answer (it asks libvirt again first). */
    private static final java.time.Duration FRESH_DEADLINE = java.time.Duration.ofSeconds(10);
    /** Asks a move's source while its target is asked on the caller's thread. */
    private final java.util.concurrent.ExecutorService askers = java.util.concurrent.Executors.newCachedThreadPool(r -> {
        Thread t = new Thread(r, "vf-move-settle");
        t.setDaemon(true);
        return t;
    });
    private final java.time.Duration reportInterval;
    /** Whether a host heartbeats, as the rest of the controller judges it. */
    private final io.virtfleet.controller.registry.Liveness liveness;
    /** See {@link #timeWith}. */
    private volatile io.virtfleet.controller.metrics.OperationTimer timer = io.virtfleet.controller.metrics.OperationTimer.NONE;

    /**
     * @param reportInterval how often hosts report (the heartbeat): a move whose outcome is unknown asks the two
     *                       hosts again twice an interval until they tell
     */
    public Moves(VmStore store, Scheduler scheduler, Reconciler reconciler, HostSteps steps, AgentClients agents,
                 HostRegistry registry, Replication replication, Installs installs, DomainRenderer renderer,
                 MoveJournal journal, io.virtfleet.controller.registry.Liveness liveness,
                 java.time.Duration reportInterval) {
        this.liveness = liveness;
        this.store = store;
        this.scheduler = scheduler;
        this.reconciler = reconciler;
        this.steps = steps;
        this.agents = agents;
        this.registry = registry;
        this.replication = replication;
        this.installs = installs;
        this.renderer = renderer;
        this.journal = journal;
        this.rehoming = new Rehoming(store, scheduler, renderer, installs);
        this.reportInterval = reportInterval;
        reconciler.holdOff(journal::pending);
        for (var claim : scheduler.claims()) {
            String vm = claim.vmName();
            if (vm.endsWith(MOVE_CLAIM) && !journal.pending(vm.substring(0, vm.length() - MOVE_CLAIM.length()))) {
                // Claimed, then the controller stopped before the move was noted: nothing of it happened.
                scheduler.release(vm);
                log.info("released the claim {} on {}: its move never started", vm, claim.host());
            }
        }
    }

    /** The claim name of a move's target: not a VM name (those never hold a slash), so it cannot collide. */
    static String moveClaim(String vm) {
        return vm + MOVE_CLAIM;
    }

    /** What placement must find on a target for the VM: its size and constraints, claimed apart from its own. */
    private static Request request(Vm vm) {
        Request r = Request.of(vm.getSpec());
        return new Request(moveClaim(r.vmName()), r.memoryBytes(), r.vcpus(), r.storage(), r.diskBytes(),
                r.failoverAddress(), r.spreadGroup(), r.pinnedHost(), false);
    }

    /**
     * Every host's verdict on taking the VM, its home host's saying it is its home; the chosen host is the best
     * other one that fits and can take part in a migration.
     */
    public Explanation explain(String name) {
        Vm vm = require(name);
        return verdicts(vm, scheduler.explainMove(request(vm), vm.getSpec().getName()));
    }

    /** A stopped VM moves without a migration: its target needs no migration address nor certificate. */
    private static boolean live(Vm vm) {
        return vm.getRunningWanted();
    }

    private Explanation verdicts(Vm vm, Explanation e) {
        String home = vm.getHomeHost();
        boolean passthrough = hostPassthrough(vm);
        List<Verdict> fitting = new ArrayList<>();
        List<Verdict> failing = new ArrayList<>();
        Verdict homeVerdict = new Verdict(home, false, "home", "runs " + vm.getSpec().getName() + " now", Double.NaN, Map.of());
        for (Verdict v : e.verdicts()) {
            if (v.host().equals(home)) {
                continue;
            }
            String why = v.fits() && live(vm) ? migrationRefusal(vm, passthrough, v.host()) : null;
            if (why != null) {
                failing.add(new Verdict(v.host(), false, "migration", why, Double.NaN, Map.of()));
            } else {
                (v.fits() ? fitting : failing).add(v);
            }
        }
        List<Verdict> all = new ArrayList<>(fitting);
        all.addAll(failing);
        all.add(homeVerdict);
        return new Explanation(fitting.isEmpty() ? null : fitting.get(0).host(), all);
    }

    /** Why a host that fits cannot receive the VM's migration, or null. */
    private String migrationRefusal(Vm vm, boolean passthrough, String host) {
        Optional<HostRecord> h = registry.get(host);
        if (h.isEmpty() || h.get().report().getMigrationAddress().isEmpty()) {
            return "reports no migration address (agent setting migration-address)";
        }
        if (passthrough) {
            return cpuRefusal(vm.getSpec().getName(), registry.get(vm.getHomeHost()).map(r -> r.report().getCpu())
                    .orElse(io.virtfleet.proto.v1.HostCpu.getDefaultInstance()), h.get().report().getCpu());
        }
        return null;
    }

    /** Whether the VM's stored definition passes its host's CPU through (unknown counts as yes: it is refused). */
    private boolean hostPassthrough(Vm vm) {
        try {
            return store.domainXml(vm.getSpec().getName()).map(MoveDefinition::hostPassthrough).orElse(false);
        } catch (IOException | RuntimeException e) {
            log.warn("cannot read the definition of {}: {}", vm.getSpec().getName(), e.getMessage());
            return true;
        }
    }

    /**
     * Why a VM defined with host-passthrough cannot move from a host with CPU {@code source} to one with CPU
     * {@code target}, or null: only a target whose CPU libvirt describes exactly as the source's (same host-model)
     * runs such a guest safely; libvirt itself does not compare them, and a guest using a missing feature crashes.
     */
    static String cpuRefusal(String vm, io.virtfleet.proto.v1.HostCpu source, io.virtfleet.proto.v1.HostCpu target) {
        if (!source.getHostModelSha256().isEmpty() && source.getHostModelSha256().equals(target.getHostModelSha256())) {
            return null;
        }
        return vm + " is defined with host-passthrough (before the fleet CPU model): it moves only to a host with"
                + " the same CPU as its home's (" + cpuWords(source) + "), this one has " + cpuWords(target)
                + " (a guest using a feature the target lacks would crash after the switch-over)";
    }

    private static String cpuWords(io.virtfleet.proto.v1.HostCpu cpu) {
        if (cpu.getHostModelXml().isEmpty()) {
            return "an unknown CPU";
        }
        try {
            return io.virtfleet.controller.cpu.CpuModel.parse("host_model_xml", cpu.getHostModelXml()).summary();
        } catch (IllegalArgumentException e) {
            return "a CPU not understood";
        }
    }

    /**
     * Moves the VM live to {@code toHost} (null: where placement puts it), reporting each step to {@code out}.
     *
     * @throws NoHostFitsException no host (or not the one asked for) can take it; nothing was changed
     * @throws StepFailedException a host refused or failed a step, or the migration failed or was cancelled: the VM
     *                             still runs on its source and nothing of the move is left
     * @throws StatusRuntimeException FAILED_PRECONDITION when the VM cannot be moved now (the reason says why);
     *                             NOT_FOUND for an unknown VM
     */
    public Vm move(String name, String toHost, String operator, Consumer<VmProgress> out)
            throws StepFailedException, IOException {
        return move(name, toHost, operator, out, new java.util.concurrent.atomic.AtomicBoolean());
    }

    /**
     * As {@link #move(String, String, String, Consumer)}; {@code cancelled} set (by the caller, or by {@link #cancel})
     * stops the move at its next step, or aborts its migration.
     */
    public Vm move(String name, String toHost, String operator, Consumer<VmProgress> out,
                   java.util.concurrent.atomic.AtomicBoolean cancelled) throws StepFailedException, IOException {
        var timing = timer.start("move");
        Vm vm;
        try {
            vm = moveNow(name, toHost, operator, out, cancelled);
        } catch (Throwable e) {
            timing.failed(e);
            throw e;
        }
        return timing.succeeded(vm);
    }

    /** Hears how each move ended, and how long it took. */
    public void timeWith(io.virtfleet.controller.metrics.OperationTimer timer) {
        this.timer = java.util.Objects.requireNonNull(timer, "timer");
    }

    private Vm moveNow(String name, String toHost, String operator, Consumer<VmProgress> out,
                   java.util.concurrent.atomic.AtomicBoolean cancelled) throws StepFailedException, IOException {
        Names.vmName("name", name);
        if (toHost != null) {
            Names.hostName("to_host", toHost);
            if (registry.get(toHost).isEmpty()) {
                throw Status.NOT_FOUND.withDescription("no host named " + toHost + " in the fleet (virtfleet hosts)")
                        .asRuntimeException();
            }
        }
        Progress progress = ((Progress) (step, host, detail) -> out.accept(VmProgress.newBuilder().setStep(step)
                .setHost(host).setDetail(detail).build())).serialized();
        // Registered before waiting for the VM's lock: a second move of the VM is refused at once rather than run
        // after the first, and a cancel reaches this move while it waits.
        Running run = new Running(Context.current().fork().withCancellation(), cancelled);
        Running other = running.putIfAbsent(name, run);
        if (other != null) {
            run.context.close();
            throw Status.FAILED_PRECONDITION.withDescription(name + " is being moved to " + other.target + " already"
                    + " (virtfleet vm move " + name + " --cancel aborts that move)").asRuntimeException();
        }
        try (VmLocks.Held held = reconciler.lock(name)) {
            Vm vm = require(name);
            String source = vm.getHomeHost();
            run.source = source;
            refusal(vm, run).ifPresent(why -> {
                throw Status.FAILED_PRECONDITION.withDescription(why).asRuntimeException();
            });
            if (source.equals(toHost)) {
                throw new InvalidInputException("to_host", toHost, "another host than " + name + "'s home " + source);
            }
            return live(vm) ? place(vm, toHost, run, operator, progress, out)
                    : moveStopped(vm, toHost, run, operator, progress, out);
        } finally {
            running.remove(name, run);
            run.context.close();
        }
    }

    private Vm place(Vm vm, String toHost, Running run, String operator, Progress progress, Consumer<VmProgress> out)
            throws StepFailedException, IOException {
        String name = vm.getSpec().getName();
        String source = vm.getHomeHost();
        Request request = request(vm);
        Explanation explanation = verdicts(vm, scheduler.explainMove(request, name));
        String target = toHost != null ? toHost : explanation.chosenHost();
        if (target == null) {
            throw new NoHostFitsException(name, explanation);
        }
        String refusal = migrationRefusal(vm, hostPassthrough(vm), target);
        if (refusal != null) {
            throw new NoHostFitsException(name, new Explanation(null, List.of(
                    new Verdict(target, false, "migration", refusal, Double.NaN, Map.of()))));
        }
        throwIfCancelled(run, "before it started; nothing changed");
        boolean copyDisk = vm.getSpec().getStorage() == StorageTier.STORAGE_TIER_RAW;
        // Noted before the target's claim: a controller stopping in between finds the note, and releases the claim.
        journal.begin(new MoveJournal.Intent(name, source, target, copyDisk, false, operator));
        Decision decision;
        try {
            decision = scheduler.claimOn(request, target, name);
        } catch (RuntimeException e) {
            journal.end(name);
            throw e;
        }
        if (!decision.placed()) {
            journal.end(name);
            throw new NoHostFitsException(name, decision.explanation());
        }
        run.target = target;
        out.accept(VmProgress.newBuilder().setStep("placed").setHost(target)
                .setDetail("moving " + name + " from " + source + " to " + target + ": " + decision.chosen().reason())
                .setPlacement(io.virtfleet.controller.vm.VmEndpoint.toProto(explanation)).build());
        return migrate(vm, target, copyDisk, operator, progress, out, run);
    }

    private static void throwIfCancelled(Running run, String when) throws StepFailedException {
        if (run.cancelled.get()) {
            throw new StepFailedException("cancelled", run.source, Status.CANCELLED.withDescription(
                    "the move was cancelled " + when));
        }
    }

    private Vm migrate(Vm vm, String target, boolean copyDisk, String operator, Progress progress,
                       Consumer<VmProgress> out, Running run) throws StepFailedException, IOException {
        String name = vm.getSpec().getName();
        String targetXml;
        boolean migrating = false;
        try {
            targetXml = rehoming.definitionOn(vm, target);
            if (copyDisk) {
                // Noted before it is made: a target lost right after making it must not leave a disk nobody knows of.
                journal.targetDiskMade(name, true);
                StepResult disk;
                try {
                    disk = steps.ensureDisk(target, vm.getSpec());
                } catch (StepFailedException e) {
                    if (refusedToMake(e)) {
                        journal.targetDiskMade(name, false);
                    }
                    throw e;
                }
                if (disk.getOutcome() != StepResult.Outcome.OUTCOME_CHANGED) {
                    // A disk of that name already there is someone's: a migration would overwrite it.
                    journal.targetDiskMade(name, false);
                    throw new StepFailedException("disk", target, Status.FAILED_PRECONDITION.withDescription(
                            "a disk for " + name + " already exists on " + target + " (" + disk.getDetail()
                                    + "): a move copies the VM's disk onto a new one only; remove it first"));
                }
                progress.step("disk", target, disk.getDetail());
            }
            StepResult network = reconciler.ensureNetwork(target, vm.getSpec());
            progress.step("network", target, network.getDetail());
            throwIfCancelled(run, "before its migration started");
            MigrateDomainRequest request = MigrateDomainRequest.newBuilder().setVmName(name).setTargetHost(target)
                    .setTargetAddress(registry.get(target).map(h -> h.report().getMigrationAddress()).orElse(""))
                    .setTargetDomainXml(targetXml).setCopyDisk(copyDisk)
                    .setTargetImagesDirectory(registry.get(target)
                            .map(h -> h.report().getResources().getImagesDirectory()).orElse(""))
                    .build();
            migrating = true;
            MigrationProgress last = streamMigration(run, request, out);
            run.succeeded = true;
            progress.step("migrated", target, name + " runs on " + target + (last.getDowntimeMs() > 0
                    ? " (paused " + last.getDowntimeMs() + " ms for the switch-over)" : ""));
        } catch (StepFailedException e) {
            if (!migrating || definitive(e)) {
                throw withWords(e, abandon(name, target, run.source, migrating));
            }
            return unknownOutcome(vm, target, run, e, progress);
        } catch (IOException | RuntimeException e) {
            if (migrating) {
                return unknownOutcome(vm, target, run, new StepFailedException("migrating", run.source,
                        Status.UNKNOWN.withDescription(e.toString())), progress);
            }
            String left = abandon(name, target, run.source, false);
            if (e instanceof IOException io) {
                throw new IOException(io.getMessage() + "; " + left, io);
            }
            throw e;
        }
        return moved(vm, target, targetXml, operator, progress, "live migration");
    }

    /**
     * Moves a stopped VM (its disk on Ceph): nothing to migrate, so the target is claimed, its network made, and the
     * record names it as home in one commit; the hosts' side follows as for a live move. The source's agent is asked
     * first whether the domain really is shut off there: a VM stopping right now is not moved under its feet.
     */
    private Vm moveStopped(Vm vm, String toHost, Running run, String operator, Progress progress,
                           Consumer<VmProgress> out) throws StepFailedException, IOException {
        String name = vm.getSpec().getName();
        String source = vm.getHomeHost();
        Request request = request(vm);
        Explanation explanation = verdicts(vm, scheduler.explainMove(request, name));
        String target = toHost != null ? toHost : explanation.chosenHost();
        if (target == null) {
            throw new NoHostFitsException(name, explanation);
        }
        confirmShutOff(source, name);
        throwIfCancelled(run, "before it started; nothing changed");
        // No note needed: until the record changes nothing on the hosts differs from a replica, and a controller
        // stopping after the commit finds the VM's claim off its home and moves it there (VmService.recover).
        Decision decision = scheduler.claimOn(request, target, name);
        if (!decision.placed()) {
            throw new NoHostFitsException(name, decision.explanation());
        }
        run.target = target;
        try {
            out.accept(VmProgress.newBuilder().setStep("placed").setHost(target)
                    .setDetail("moving stopped " + name + " from " + source + " to " + target + ": "
                            + decision.chosen().reason())
                    .setPlacement(io.virtfleet.controller.vm.VmEndpoint.toProto(explanation)).build());
            String targetXml = rehoming.definitionOn(vm, target);
            StepResult network = reconciler.ensureNetwork(target, vm.getSpec());
            progress.step("network", target, network.getDetail());
            throwIfCancelled(run, "before its record changed; nothing changed");
            // The old home must not start it at its next boot, whatever happens after the commit (a controller
            // stopping before the replicas' sync): its definition there loses autostart first.
            progress.step("defined", source, steps.define(source, name, store.domainXml(name).orElseThrow(),
                    false).getDetail() + " (autostart off)");
            run.succeeded = true;
            return moved(vm, target, targetXml, operator, progress, "stopped, no migration");
        } catch (StepFailedException | IOException | RuntimeException e) {
            if (store.get(name).map(v -> v.getHomeHost().equals(target)).orElse(false)) {
                throw e; // recorded: what follows is the hosts' side, which the reconciler and syncs finish
            }
            scheduler.release(moveClaim(name));
            throw e;
        }
    }

    /** Refuses to move a stopped VM whose domain the source's agent reports active (or cannot tell about). */
    private void confirmShutOff(String source, String name) throws StepFailedException {
        HostReport report;
        try {
            report = agents.agent(source).withDeadlineAfter(30, TimeUnit.SECONDS)
                    .describeHost(DescribeHostRequest.newBuilder().setFresh(true).build());
        } catch (StatusRuntimeException e) {
            throw new StepFailedException("stopped", source, Status.UNAVAILABLE.withDescription(source
                    + " cannot tell whether " + name + " is shut off there (" + e.getStatus().getCode() + "): a stopped"
                    + " VM moves only once its home host confirms it does not run"));
        }
        if (report.getDomainsStale() || report.getDomainsList().stream()
                .anyMatch(d -> d.getName().equals(name) && Domains.active(d.getState()))) {
            throw new StepFailedException("stopped", source, Status.FAILED_PRECONDITION.withDescription(name
                    + " is to be stopped but " + source + (report.getDomainsStale() ? "'s libvirt does not answer"
                    : " still runs it") + ": move it once it is shut off there (virtfleet vm show " + name + ")"));
        }
    }

    /**
     * A migration whose end the source's agent did not report (cancelled here, or the agent or the connection lost):
     * the VM may be on either host. The hosts' next reports tell: this waits for them, and records the move or gives
     * it up accordingly; if they do not tell in time, the move stays noted and the reconciler's passes settle it.
     */
    private Vm unknownOutcome(Vm vm, String target, Running run, StepFailedException cause, Progress progress)
            throws StepFailedException {
        String name = vm.getSpec().getName();
        progress.step("settling", target, cause.getMessage() + "; waiting for " + run.source + " and " + target
                + " to report where " + name + " runs");
        long deadline = System.nanoTime() + SETTLE_WAIT.toNanos();
        String where = null;
        while (System.nanoTime() < deadline && journal.pending(name)) {
            try {
                where = settle(journal.get(name).orElseThrow(), progress);
            } catch (IOException | RuntimeException e) {
                log.warn("cannot settle the move of {} yet: {}", name, e.getMessage());
            }
            if (journal.pending(name)) {
                try {
                    Thread.sleep(Math.max(50, reportInterval.toMillis() / 2));
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    break;
                }
            }
        }
        if (journal.pending(name)) {
            throw new StepFailedException(cause.step(), cause.host(), Status.UNKNOWN.withDescription(
                    cause.status().getDescription() + "; the hosts have not yet reported where " + name + " runs: the controller records it once they do"
                    + " (virtfleet vm show " + name + ")"));
        }
        Vm now = store.get(name).orElseThrow();
        if (now.getHomeHost().equals(target)) {
            progress.step("done", target, name + " runs on " + target + ": the migration finished before "
                    + cause.status().getDescription());
            return now;
        }
        throw new StepFailedException(cause.step(), cause.host(), cause.status().withDescription(
                cause.status().getDescription() + "; " + (where != null ? where
                        : "the VM still runs on " + run.source + ", its record unchanged")));
    }

    private static StepFailedException withWords(StepFailedException e, String where) {
        String said = e.status().getDescription() == null ? "" : e.status().getDescription();
        // The agent's ABORTED already ends saying where the VM runs ("api still runs on hv1"): not said twice.
        int clause = where.indexOf(", ");
        String words = clause > 0 && said.endsWith(where.substring(0, clause)) ? where.substring(clause + 2) : where;
        return new StepFailedException(e.step(), e.host(), e.status().withDescription(said + "; " + words));
    }

    /** The target's own refusal to make the disk (no room, a disk of that name there): it made nothing. */
    private static boolean refusedToMake(StepFailedException e) {
        return switch (e.status().getCode()) {
            case FAILED_PRECONDITION, INVALID_ARGUMENT, RESOURCE_EXHAUSTED, PERMISSION_DENIED -> true;
            default -> false;
        };
    }

    /** Streams the source agent's migration, forwarding its progress; returns the last (DONE) event. */
    private MigrationProgress streamMigration(Running run, MigrateDomainRequest request, Consumer<VmProgress> out)
            throws StepFailedException {
        String name = request.getVmName();
        try {
            return run.context.call(() -> {
                Iterator<MigrationProgress> events = agents.agent(run.source).migrateDomain(request);
                MigrationProgress last = null;
                while (events.hasNext()) {
                    last = events.next();
                    run.percent = last.getPercent();
                    out.accept(VmProgress.newBuilder().setStep("migrating").setHost(run.source)
                            .setDetail(last.getDetail()).setMigration(last).build());
                }
                if (last == null || last.getPhase() != MigrationProgress.Phase.PHASE_DONE) {
                    throw Status.UNKNOWN.withDescription("the migration of " + name + " ended without its outcome")
                            .asRuntimeException();
                }
                return last;
            });
        } catch (StatusRuntimeException e) {
            Status status = run.cancelled.get() ? Status.CANCELLED.withDescription("cancelled by an operator") : e.getStatus();
            throw new StepFailedException("migrating", run.source, status);
        } catch (Exception e) {
            throw new StepFailedException("migrating", run.source, Status.INTERNAL.withDescription(e.toString()));
        }
    }

    /** An agent's answer that says the domain kept running on the source (see Agent.MigrateDomain). */
    private static boolean definitive(StepFailedException e) {
        return switch (e.status().getCode()) {
            case ABORTED, FAILED_PRECONDITION, INVALID_ARGUMENT, NOT_FOUND, PERMISSION_DENIED, ALREADY_EXISTS -> true;
            default -> !e.step().equals("migrating"); // a step before the migration: nothing was migrated
        };
    }

    /**
     * Gives the move up, the VM staying on its source: the target's claim given back, the VM resumed there if the
     * interrupted migration left it paused ({@code migrated}: a migration was started), and the disk the move may have
     * made on the target deleted. A disk that cannot be deleted now stays noted, and {@link #settle} deletes it once
     * the target answers. Returns where the VM is and what is left, in words.
     */
    private String abandon(String name, String target, String source, boolean migrated) {
        Optional<Vm> vm = store.get(name);
        String where = vm.isEmpty() ? name + " was deleted meanwhile"
                : (migrated ? resumeIfPaused(vm.get(), source) : name + " still runs on " + source)
                + ", its record unchanged";
        scheduler.release(moveClaim(name));
        Optional<MoveJournal.Intent> intent = journal.get(name);
        if (intent.isPresent() && intent.get().targetDiskMade()) {
            try {
                steps.deleteDisk(target, rawDiskOf(name));
            } catch (StepFailedException e) {
                log.warn("move of {} given up; the disk made for it on {} is left for now: {}", name, target, e.getMessage());
                try {
                    journal.settled(name, MoveJournal.Stage.STAYED);
                    return where + "; the disk made for it on " + target + " could not be deleted yet (" + e.getMessage()
                            + "): the controller deletes it once " + target + " answers";
                } catch (IOException io) {
                    // The note still says the move is in flight: settle gives it up again and retries the delete.
                    log.warn("move of {}: cannot note the disk left on {}: {}", name, target, io.getMessage());
                    return where + "; the disk made for it on " + target + " could not be deleted yet: "
                            + e.getMessage();
                }
            }
        }
        try {
            journal.end(name);
        } catch (java.io.UncheckedIOException e) {
            // The VM stays where it is either way; the note is given up again at the next start.
            log.warn("move of {} given up, but its note stays until the next start: {}", name, e.getMessage());
        }
        return where;
    }

    /** The VM's raw disk as DeleteDisk names it (all a move copies; the VM's record may be gone). */
    private static io.virtfleet.proto.v1.VmSpec rawDiskOf(String name) {
        return io.virtfleet.proto.v1.VmSpec.newBuilder().setName(name).setStorage(StorageTier.STORAGE_TIER_RAW).build();
    }

    /**
     * Where the VM of a given-up migration is, in words: libvirt leaves the source's domain paused when a migration is
     * interrupted after its switch-over began (the agent restarted, its connection lost); the VM's record wants it
     * running, so it is resumed.
     */
    private String resumeIfPaused(Vm vm, String source) {
        String name = vm.getSpec().getName();
        DomainState state;
        try {
            state = agents.agent(source).withDeadlineAfter(10, TimeUnit.SECONDS)
                    .describeHost(DescribeHostRequest.getDefaultInstance()).getDomainsList().stream()
                    .filter(d -> d.getName().equals(name)).map(DomainInfo::getState).findFirst()
                    .orElse(DomainState.DOMAIN_STATE_UNSPECIFIED);
        } catch (StatusRuntimeException e) {
            return name + " stays on " + source + " (its state there is unknown: " + e.getStatus().getDescription() + ")";
        }
        if (state != DomainState.DOMAIN_STATE_PAUSED) {
            return name + " still runs on " + source;
        }
        if (!vm.getRunningWanted()) {
            return name + " is paused on " + source;
        }
        try {
            steps.setRunning(source, name, true);
            log.info("move of {} given up: {} was left paused on {}, resumed", name, name, source);
            return name + " was left paused on " + source + " by the interrupted migration, resumed";
        } catch (StepFailedException e) {
            log.warn("move of {} given up: {} is paused on {} and could not be resumed: {}", name, name, source,
                    e.getMessage());
            return name + " is paused on " + source + " and could not be resumed (" + e.getMessage()
                    + "): virtfleet vm start " + name;
        }
    }

    /**
     * Records the VM's new home (one commit, the operator as author) once the target runs it, then brings the hosts
     * in step: the new home's definition with autostart, the old home's as a replica (Ceph) or gone with its disk
     * (raw), the claim on the target only.
     */
    private Vm moved(Vm vm, String target, String targetXml, String operator, Progress progress, String how)
            throws IOException {
        String name = vm.getSpec().getName();
        String source = vm.getHomeHost();
        Vm now = rehoming.record(vm, target, targetXml, "move " + name + " from " + source + " to " + target + " ("
                + how + ")", operator);
        audit.info("operator {}: moved VM {} from {} to {}", operator, name, source, target);
        rehoming.claimsFollow(now, moveClaim(name));
        progress.step("recorded", target, name + "'s home is now " + target);
        finishOnHosts(now, source, progress);
        return now;
    }

    /**
     * The hosts' side of a recorded move, then the end of its note. The new home's definition is repaired by the
     * reconciler and the replicas by their sync if this fails; a raw VM's old copy on the source is not, so the note
     * is kept (stage MOVED) until {@link #settle} has removed it.
     */
    private void finishOnHosts(Vm vm, String source, Progress progress) {
        String name = vm.getSpec().getName();
        String target = vm.getHomeHost();
        try {
            String xml = store.domainXml(name).orElseThrow();
            progress.step("defined", target, steps.define(target, name, xml, vm.getRunningWanted()).getDetail());
        } catch (StepFailedException | IOException | RuntimeException e) {
            progress.step("defined", target, "not yet (the reconciler retries): " + e.getMessage());
        }
        boolean sourceCopyLeft = false;
        if (vm.getSpec().getStorage() == StorageTier.STORAGE_TIER_RAW) {
            try {
                removeSourceCopy(name, source, progress);
            } catch (StepFailedException e) {
                sourceCopyLeft = true;
                progress.step("disk", source, "the old copy on " + source + " is left for now (" + e.getMessage()
                        + "): the controller removes it once " + source + " answers");
                log.warn("move of {}: old copy on {} left for now: {}", name, source, e.getMessage());
            }
        }
        try {
            if (sourceCopyLeft) {
                journal.settled(name, MoveJournal.Stage.MOVED);
            } else {
                journal.end(name);
            }
        } catch (IOException | java.io.UncheckedIOException e) {
            // The note still says the move is in flight: settle finds the record on the target and finishes again.
            log.warn("move of {}: cannot update its note: {}", name, e.getMessage());
        }
        if (vm.getSpec().getNetwork().hasLan()) {
            reconciler.refreshLanPeersSoon(vm.getSpec().getNetwork().getLan(), target);
        }
        // The two hosts whose part changed, now: the old home's definition becomes a replica. The other hosts' clones
        // only fall behind by a commit, which the replication's repair passes catch up without holding this VM.
        List<io.virtfleet.controller.replication.FanOut.HostResult> synced = replication.sync(
                new java.util.TreeSet<>(List.of(source, target)), (step, host, detail) -> progress.step(step, host, detail));
        long inStep = synced.stream().filter(r -> r.outcome() == io.virtfleet.controller.replication.FanOut.Outcome.IN_STEP).count();
        progress.step("done", target, name + " runs on " + target + "; " + inStep + " of " + synced.size()
                + " hosts (old and new home) in step with its new home");
    }

    /** Undefines a moved raw VM on its old home and deletes its disk there (a running domain is refused, never forced). */
    private void removeSourceCopy(String name, String source, Progress progress) throws StepFailedException {
        progress.step("undefined", source, steps.undefine(source, name, false).getDetail());
        progress.step("disk", source, steps.deleteDisk(source, rawDiskOf(name)).getDetail());
    }

    /**
     * Aborts the move of {@code name} in flight: the source's agent aborts libvirt's migration and the VM keeps
     * running there. Returns what was cancelled, in words.
     */
    public String cancel(String name) {
        Names.vmName("name", name);
        Running run = running.get(name);
        if (run == null) {
            throw Status.NOT_FOUND.withDescription("no move of " + name + " is running").asRuntimeException();
        }
        if (run.succeeded) {
            throw Status.FAILED_PRECONDITION.withDescription("too late to cancel: " + name + " runs on " + run.target
                    + " already, the move is being recorded").asRuntimeException();
        }
        return cancel(name, run);
    }

    /**
     * Cancels the move of {@code name} started with {@code flag} (an operator's hang-up, an evacuation's cancel),
     * never another caller's move of the same VM; empty when that move is not running (any more).
     */
    public Optional<String> cancelOwn(String name, java.util.concurrent.atomic.AtomicBoolean flag) {
        flag.set(true);
        Running run = running.get(name);
        if (run == null || run.cancelled != flag) {
            return Optional.empty();
        }
        return Optional.of(cancel(name, run));
    }

    /** Cancels the move; never throws (it runs in hang-up handlers): a move already done says it is too late. */
    private String cancel(String name, Running run) {
        if (run.succeeded) {
            return "too late to cancel: " + name + " runs on " + run.target + " already";
        }
        run.cancelled.set(true);
        run.context.cancel(Status.CANCELLED.withDescription("cancelled by an operator").asRuntimeException());
        log.info("move of {} from {} to {} cancelled at {}%", name, run.source, run.target, run.percent);
        return "move of " + name + " from " + run.source + " to " + run.target + " cancelled at " + run.percent + "%";
    }

    /**
     * Settles the moves a previous run (or a lost agent) left unsettled, from what the two hosts answer: the VM
     * running on the target and not on the source is recorded there; running on the source and not on the target,
     * the move is given up; anything else waits for the next pass. Also removes what settled moves left on hosts
     * that did not answer then (a disk made on the target, a raw VM's old copy on the source) once they answer. Runs
     * on the reconciler's passes.
     */
    public void settle() {
        for (MoveJournal.Intent intent : journal.all()) {
            if (running.containsKey(intent.vm())) {
                continue;
            }
            Optional<VmLocks.Held> held = reconciler.locks().tryLock(intent.vm());
            if (held.isEmpty()) {
                continue;
            }
            try (VmLocks.Held h = held.get()) {
                settle(intent);
            } catch (IOException | RuntimeException e) {
                log.warn("cannot settle the move of {} yet: {}", intent.vm(), e.getMessage());
            }
        }
    }

    private void settle(MoveJournal.Intent intent) throws IOException {
        Progress toLog = (step, host, detail) -> log.info("move of {}: {} on {}: {}", intent.vm(), step, host, detail);
        switch (intent.stage()) {
            case MOVING -> settle(intent, toLog);
            case STAYED -> removeLeftover(intent, intent.target(), "the disk made for it", () -> toLog.step("disk",
                    intent.target(), steps.deleteDisk(intent.target(), rawDiskOf(intent.vm())).getDetail()));
            case MOVED -> removeLeftover(intent, intent.source(), "its old copy",
                    () -> removeSourceCopy(intent.vm(), intent.source(), toLog));
        }
    }

    /** Settles a move in flight; returns where the VM is and what is left, in words, when it was given up. */
    private String settle(MoveJournal.Intent intent, Progress progress) throws IOException {
        String name = intent.vm();
        Optional<Vm> vm = store.get(name);
        if (vm.isEmpty()) {
            return abandon(name, intent.target(), intent.source(), false);
        }
        if (vm.get().getHomeHost().equals(intent.target())) {
            // Recorded before the controller stopped: the claims and the hosts' side may not have followed.
            rehoming.claimsFollow(vm.get(), moveClaim(name));
            finishOnHosts(vm.get(), intent.source(), progress);
            return null;
        }
        if (!answering(intent.source()) || !answering(intent.target())) {
            return null; // a host that does not heartbeat would hold this pass up to the deadline for nothing
        }
        // Both asked at once: a pass waits for the slower of the two, not for their sum.
        java.util.concurrent.CompletableFuture<Optional<Boolean>> askSource = java.util.concurrent.CompletableFuture
                .supplyAsync(() -> activeIn(intent.source(), name), askers);
        Optional<Boolean> onTarget = activeIn(intent.target(), name);
        Optional<Boolean> onSource = askSource.join();
        if (onSource.isEmpty() || onTarget.isEmpty()) {
            return null; // a report to wait for
        }
        if (onTarget.get() && !onSource.get()) {
            log.info("move of {} from {} to {} settled: it runs on {}", name, intent.source(), intent.target(), intent.target());
            scheduler.restore(request(vm.get()), intent.target()); // the claim journal may have lost it
            String xml = rehoming.definitionOn(vm.get(), intent.target());
            moved(vm.get(), intent.target(), xml, intent.operator(), progress,
                    "live migration, settled from the hosts' answers");
            return null;
        }
        if (onSource.get() && !onTarget.get()) {
            String where = abandon(name, intent.target(), intent.source(), true);
            log.info("move of {} from {} to {} settled: {}", name, intent.source(), intent.target(), where);
            progress.step("settled", intent.source(), where);
            return where;
        }
        return null;
    }

    /** A step on a host that may fail. */
    private interface HostStep {
        void run() throws StepFailedException;
    }

    /**
     * Removes what a settled move left on {@code host} (a given-up move's disk on its target, a moved raw VM's old
     * copy on its source) once the host answers, then ends the note; leaves it if a VM of that name has been homed on
     * that host since (it is that VM's now).
     */
    private void removeLeftover(MoveJournal.Intent intent, String host, String what, HostStep removal) {
        String name = intent.vm();
        if (store.get(name).map(v -> v.getHomeHost().equals(host)).orElse(false)) {
            journal.end(name);
            return;
        }
        if (!answering(host)) {
            return;
        }
        try {
            removal.run();
            journal.end(name);
        } catch (StepFailedException e) {
            log.warn("move of {}: {} on {} is still left: {}", name, what, host, e.getMessage());
        }
    }

    /**
     * Whether the host's agent heartbeats now, so that a step sent to it is likely to be answered (a pass must not wait
     * out a step's deadline on a host that is down).
     */
    private boolean answering(String host) {
        return registry.get(host).map(h -> !liveness.silent(h, registry.nanoTime())).orElse(false);
    }

    /** What the VM's move still has to do, in words (virtfleet vm show); empty when nothing. */
    public Optional<String> pendingWork(String name) {
        return journal.get(name).map(i -> i.stage() == MoveJournal.Stage.MOVING
                ? "a move from " + i.source() + " to " + i.target() + " is in flight or its outcome is being settled"
                : i.leftover());
    }

    /**
     * Whether the domain is active on the host, as its agent answers after asking libvirt again (so the answer
     * postdates whatever ended the move). Empty while that cannot be told: the agent or its libvirt does not answer,
     * or the agent is still migrating the domain (a migration an agent outlived goes on until libvirt ends it).
     */
    private Optional<Boolean> activeIn(String host, String vm) {
        HostReport report;
        try {
            report = agents.agent(host).withDeadlineAfter(FRESH_DEADLINE.toMillis(), TimeUnit.MILLISECONDS)
                    .describeHost(DescribeHostRequest.newBuilder().setFresh(true).build());
        } catch (RuntimeException e) {
            log.debug("cannot ask {} where {} runs yet: {}", host, vm, e.toString());
            return Optional.empty();
        }
        if (report.getDomainsStale() || !report.hasHypervisor() || !report.getHypervisor().getError().isEmpty()) {
            return Optional.empty();
        }
        Optional<DomainInfo> domain = report.getDomainsList().stream().filter(d -> d.getName().equals(vm)).findFirst();
        if (domain.map(DomainInfo::getMigrating).orElse(false)) {
            return Optional.empty();
        }
        return Optional.of(domain.map(d -> Domains.active(d.getState())).orElse(false));
    }

    /** Why the VM cannot be moved now, in words; empty when it can be. */
    public Optional<String> refusal(Vm vm) {
        return refusal(vm, null);
    }

    /** As {@link #refusal(Vm)}, for the VM of that name (NOT_FOUND when there is none). */
    public Optional<String> refusal(String name) {
        return refusal(require(name), null);
    }

    private Optional<String> refusal(Vm vm, Running self) {
        String name = vm.getSpec().getName();
        Running run = running.get(name);
        if (run != null && run != self) {
            return Optional.of(name + " is being moved to " + run.target + " already");
        }
        if (journal.pending(name)) {
            return Optional.of("an earlier move of " + name + " is still to be settled from the hosts' reports; try again"
                    + " shortly (virtfleet vm show " + name + ")");
        }
        Optional<MoveJournal.Intent> left = journal.get(name);
        if (left.isPresent()) {
            // One note per VM: a new move would forget what the earlier one left.
            return Optional.of("an earlier move of " + name + " left work to finish: " + left.get().leftover()
                    + "; move it once that is done (virtfleet vm show " + name + ")");
        }
        VmPhase phase = vm.getPhase() == VmPhase.VM_PHASE_DELETING ? vm.getPhase() : reconciler.observed(name).phase();
        if (phase != VmPhase.VM_PHASE_READY) {
            return Optional.of(name + " is " + (phase == VmPhase.VM_PHASE_UNSPECIFIED ? "not reconciled yet since the"
                    + " controller started" : phase.name().substring(9).toLowerCase(java.util.Locale.ROOT))
                    + ": only a ready VM moves");
        }
        if (!vm.getRunningWanted() && vm.getSpec().getStorage() == StorageTier.STORAGE_TIER_RAW) {
            return Optional.of(name + " is stopped and its disk is local (raw): start it (virtfleet vm start " + name
                    + ") to move it live with its disk");
        }
        if (vm.getSpec().getNetwork().hasFailover()) {
            return Optional.of(name + " uses failover IP " + vm.getSpec().getNetwork().getFailover().getAddress()
                    + ", which OVH routes to " + vm.getHomeHost() + "'s server: virtfleet does not move failover-IP VMs yet");
        }
        Optional<String> installing = installs.state(name).filter(s -> s.phase() != InstallPhase.INSTALLED)
                .map(s -> name + " is still installing (profile " + s.profile() + "): move it once installed");
        if (installing.isPresent()) {
            return installing;
        }
        // Whether it runs there now is the source agent's to say (a report may predate its start): it refuses a
        // domain that does not run.
        return Optional.empty();
    }

    private Vm require(String name) {
        return store.get(Names.vmName("name", name)).orElseThrow(() -> Status.NOT_FOUND
                .withDescription("no VM named " + name + " (virtfleet vm list)").asRuntimeException());
    }
}
