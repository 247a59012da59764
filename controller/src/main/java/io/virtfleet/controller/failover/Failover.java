package io.virtfleet.controller.failover;

import io.grpc.Status;
import io.virtfleet.common.validation.InvalidInputException;
import io.virtfleet.common.validation.Names;
import io.virtfleet.controller.definitions.VmStore;
import io.virtfleet.controller.fencing.Fence;
import io.virtfleet.controller.fencing.FenceView;
import io.virtfleet.controller.move.Rehoming;
import io.virtfleet.controller.ovh.FailoverAtOvh;
import io.virtfleet.controller.ovh.OvhException;
import io.virtfleet.controller.reconcile.HostSteps;
import io.virtfleet.controller.reconcile.Progress;
import io.virtfleet.controller.reconcile.Reconciler;
import io.virtfleet.controller.reconcile.StepFailedException;
import io.virtfleet.controller.reconcile.VmLocks;
import io.virtfleet.controller.registry.HostRegistry;
import io.virtfleet.controller.replication.Replication;
import io.virtfleet.controller.scheduler.Decision;
import io.virtfleet.controller.scheduler.Explanation;
import io.virtfleet.controller.scheduler.Request;
import io.virtfleet.controller.scheduler.Scheduler;
import io.virtfleet.controller.scheduler.Verdict;
import io.virtfleet.controller.vm.CrashPoints;
import io.virtfleet.controller.vm.VmEndpoint;
import io.virtfleet.proto.v1.StorageTier;
import io.virtfleet.proto.v1.Vm;
import io.virtfleet.proto.v1.VmPhase;
import io.virtfleet.proto.v1.VmProgress;
import io.virtfleet.proto.v1.VmSpec;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.function.Consumer;
import java.util.function.Function;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Restarts a lost host's VMs on other hosts (virtfleet host recover NAME). Only a host with a {@link Fence} is lost:
 * its QEMUs cannot write to their Ceph disks any more, or an operator said it is down. Each Ceph-backed VM homed there
 * gets a new home from placement, claimed; its network is made there; its record names the new home in one commit;
 * only then is it defined there with autostart and started (if it is wanted running). A VM is started on a host only
 * once its record makes that host its home, so it never runs on two hosts the fleet considers its own.
 *
 * <p>Each VM is noted in the {@link FailoverJournal} before its new home is claimed. A controller that dies mid-way
 * finds the notes at its next start and settles each from the VM's record ({@link #resume}): recorded on the new home,
 * it is finished there; not recorded, the claim is given back and the VM recovered again if its host is still lost.
 * Meanwhile the reconciler keeps off it.
 *
 * <p>Raw-disk VMs cannot move (their disk is on the lost host), VMs created with {@code --no-failover} are left alone,
 * and a failover-IP VM whose IP cannot be routed to a new home is listed with what the operator must do.
 */
public final class Failover {
    private static final Logger log = LoggerFactory.getLogger(Failover.class);
    private static final Logger audit = LoggerFactory.getLogger("virtfleet.audit");
    public static final int DEFAULT_PARALLEL = 4;
    public static final int MAX_PARALLEL = 32;
    /** Suffix of the name a new home's claim is held under while the VM's own stays on the lost host. */
    static final String FAILOVER_CLAIM = "/failover";

    /** What happened to one VM of the lost host. */
    public enum Outcome {
        /** Runs (or is defined, if wanted stopped) on its new home, recorded there. */
        RECOVERED(true),
        /** Deleted, or being deleted: nothing to recover. */
        GONE(true),
        /** Raw disk on the lost host: down until it returns. */
        DOWN(false),
        /** Created with --no-failover: left alone. */
        OPTED_OUT(false),
        /** A failover IP the controller cannot route to another host: the operator's action is named. */
        WAITING(false),
        /** No host fits, a host or OVH failed a step, or a move of it is unsettled: the reason is given. */
        FAILED(false);

        private final boolean done;

        Outcome(boolean done) {
            this.done = done;
        }

        /** Whether nothing is left to do for the VM. */
        public boolean done() {
            return done;
        }
    }

    /** One VM's outcome, with what happened or what is to be done, in words. */
    public record VmResult(String vm, Outcome outcome, String words) {}

    /** A recovery's outcome, VM by VM (by name). */
    public record Result(String host, List<VmResult> vms) {
        public long left() {
            return vms.stream().filter(v -> !v.outcome().done()).count();
        }

        public boolean allRecovered() {
            return left() == 0;
        }
    }

    private final VmStore store;
    private final Scheduler scheduler;
    private final Reconciler reconciler;
    private final HostSteps steps;
    private final HostRegistry registry;
    private final Replication replication;
    private final FenceView fences;
    /** Held by every recovery of a host, so that no unfence of it runs meanwhile. */
    private volatile io.virtfleet.controller.fencing.RecoveryGate gate;
    private final FailoverAtOvh ovh;
    private final Rehoming rehoming;
    private final FailoverJournal journal;
    /** Why a move of the VM is unsettled (a failover now could start it twice), empty when none. */
    private final Function<String, Optional<String>> moveInFlight;
    private final int parallel;
    /** The VMs being recovered now: {@link #resume} keeps off them. */
    private final Set<String> running = ConcurrentHashMap.newKeySet();
    /** See {@link #onRecovery}. */
    private volatile java.util.function.ObjLongConsumer<Result> recoveries = (r, nanos) -> {};

    /**
     * @param parallel how many VMs are recovered at once (controller setting failover-parallel, see {@link #parallel})
     */
    public Failover(VmStore store, Scheduler scheduler, Reconciler reconciler, HostSteps steps, HostRegistry registry,
                    Replication replication, FenceView fences, FailoverAtOvh ovh, Rehoming rehoming,
                    FailoverJournal journal, Function<String, Optional<String>> moveInFlight, int parallel) {
        this.store = store;
        this.scheduler = scheduler;
        this.reconciler = reconciler;
        this.steps = steps;
        this.registry = registry;
        this.replication = replication;
        this.fences = fences;
        this.gate = io.virtfleet.controller.fencing.RecoveryGate.over(fences);
        this.ovh = ovh;
        this.rehoming = rehoming;
        this.journal = journal;
        this.moveInFlight = moveInFlight;
        this.parallel = parallel(parallel);
        // Converging a noted VM on its recorded home could start it before its failover is settled.
        reconciler.holdOff(journal::noted);
        for (var claim : scheduler.claims()) {
            String vm = claim.vmName();
            if (vm.endsWith(FAILOVER_CLAIM) && !journal.noted(vm.substring(0, vm.length() - FAILOVER_CLAIM.length()))) {
                scheduler.release(vm); // claimed, then the note was ended by an undo the claim's release did not follow
                log.info("released the claim {} on {}: its failover was undone", vm, claim.host());
            }
        }
    }

    /** Checks the controller setting failover-parallel; returns it. */
    public static int parallel(int asked) {
        if (asked < 1 || asked > MAX_PARALLEL) {
            throw new InvalidInputException("failover-parallel", Integer.toString(asked), "1 to " + MAX_PARALLEL
                    + " VMs recovered at once (default " + DEFAULT_PARALLEL + ")");
        }
        return asked;
    }

    static String failoverClaim(String vm) {
        return vm + FAILOVER_CLAIM;
    }

    /**
     * Recovers every VM homed on the lost {@code host}, {@link #parallel} at a time, reporting each VM's steps (with its
     * name) to {@code out}, and last a step "left" with how many VMs are not recovered. Running it again recovers what
     * is left: recovered VMs are not the host's any more.
     *
     * @param by who asks, named in the records' commits
     * @throws io.grpc.StatusRuntimeException FAILED_PRECONDITION when the host is not fenced nor confirmed down
     */
    public Result recover(String host, String by, Consumer<VmProgress> out) {
        Names.hostName("name", host);
        Fence fence = fences.of(host).orElseThrow(() -> Status.FAILED_PRECONDITION.withDescription("host " + host
                + " is not known to be lost: its VMs are restarted elsewhere only once it cannot write to their disks;"
                + " fence it first (virtfleet host fence " + host + "), or, if you know it is down, say so (virtfleet"
                + " host fence " + host + " --confirm-down)").asRuntimeException());
        if (lapsed(fence)) {
            // The verdict stands, but its proof does not: past its expiry Ceph lets the host's clients in again.
            throw Status.FAILED_PRECONDITION.withDescription("the Ceph blocklist entries fencing " + host + " ("
                    + String.join(", ", fence.addresses()) + ") lapsed at " + fence.expires() + " and were not renewed"
                    + " (the controller's log says why): " + host + " could write to its VMs' disks again, so none is"
                    + " started elsewhere. The controller renews them at each check once Ceph answers; run this again"
                    + " then").asRuntimeException();
        }
        if (!gate.enter(host)) {
            throw Status.FAILED_PRECONDITION.withDescription("host " + host + " is being unfenced, or was: its VMs are"
                    + " not restarted elsewhere").asRuntimeException();
        }
        long start = System.nanoTime();
        try {
            Result result = recoverEntered(host, fence, by, out);
            recoveries.accept(result, System.nanoTime() - start);
            return result;
        } finally {
            gate.leave(host);
        }
    }

    /** Hears each recovery that ran (its VMs' outcomes) and how long it took, in nanoseconds: metrics count them. */
    public void onRecovery(java.util.function.ObjLongConsumer<Result> listener) {
        this.recoveries = java.util.Objects.requireNonNull(listener, "listener");
    }

    private Result recoverEntered(String host, Fence fence, String by, Consumer<VmProgress> out) {
        audit.info("operator {}: recover the VMs of lost host {} ({})", by, host, fenceWords(fence));
        Consumer<VmProgress> sink = serialized(out);
        // A VM recorded on its new home whose start a failed run left is the host's work still (its note says so).
        java.util.SortedSet<String> work = new java.util.TreeSet<>();
        store.all().stream().filter(v -> v.getHomeHost().equals(host)).forEach(v -> work.add(v.getSpec().getName()));
        journal.all().stream().filter(i -> i.lost().equals(host)).forEach(i -> work.add(i.vm()));
        List<String> vms = List.copyOf(work);
        sink.accept(VmProgress.newBuilder().setStep("plan").setHost(host).setDetail(vms.size() + " VM"
                + (vms.size() == 1 ? "" : "s") + " homed on " + host + " (" + fenceWords(fence) + "), " + parallel
                + " at a time").build());
        List<VmResult> results = new ArrayList<>();
        ExecutorService pool = Executors.newFixedThreadPool(Math.max(1, Math.min(parallel, vms.size())), r -> {
            Thread t = new Thread(r, "vf-failover-" + host);
            t.setDaemon(true);
            return t;
        });
        try {
            List<Future<VmResult>> futures = new ArrayList<>();
            for (String vm : vms) {
                futures.add(pool.submit(() -> recoverOne(vm, host, fence, by, sink)));
            }
            for (int i = 0; i < futures.size(); i++) {
                try {
                    results.add(futures.get(i).get());
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    results.add(new VmResult(vms.get(i), Outcome.FAILED, "interrupted: run it again"));
                } catch (ExecutionException e) {
                    log.error("failover of {} failed unexpectedly", vms.get(i), e.getCause());
                    results.add(new VmResult(vms.get(i), Outcome.FAILED, "failed: " + e.getCause()));
                }
            }
        } finally {
            pool.shutdown();
        }
        Result result = new Result(host, List.copyOf(results));
        StringBuilder words = new StringBuilder();
        result.vms().stream().filter(v -> !v.outcome().done()).forEach(v -> words.append(words.length() == 0 ? "" : "; ")
                .append(v.vm()).append(": ").append(v.words()));
        sink.accept(VmProgress.newBuilder().setStep("left").setHost(host).setVmsLeft((int) result.left())
                .setDetail(result.allRecovered() ? "every VM of " + host + " is recovered" : result.left() + " VM"
                        + (result.left() == 1 ? "" : "s") + " of " + host + " not recovered: " + words).build());
        return result;
    }

    /** Recovers one VM, telling its outcome as its last step; never throws. */
    private VmResult recoverOne(String name, String lost, Fence fence, String by, Consumer<VmProgress> out) {
        Progress progress = (step, host, detail) -> out.accept(VmProgress.newBuilder().setVmName(name).setStep(step)
                .setHost(host).setDetail(detail).build());
        VmResult result;
        running.add(name);
        try (VmLocks.Held held = reconciler.lock(name)) {
            result = recoverLocked(name, lost, fence, by, progress, out);
        } catch (RuntimeException e) {
            log.warn("failover of {} from {} failed", name, lost, e);
            result = new VmResult(name, Outcome.FAILED, "failed: " + e);
        } finally {
            running.remove(name);
        }
        String step = switch (result.outcome()) {
            case RECOVERED -> "recovered";
            case GONE -> "gone";
            case DOWN -> "down";
            case OPTED_OUT -> "opted-out";
            case WAITING -> "waiting";
            case FAILED -> "failed";
        };
        out.accept(VmProgress.newBuilder().setVmName(name).setStep(step).setDetail(result.words()).build());
        return result;
    }

    private VmResult recoverLocked(String name, String lost, Fence fence, String by, Progress progress,
                                   Consumer<VmProgress> out) {
        Optional<FailoverJournal.Intent> noted = journal.get(name);
        if (noted.isPresent()) {
            // A failover a previous run left: finished or undone first, from the record.
            Optional<VmResult> settled = settle(noted.get(), progress);
            if (settled.isPresent()) {
                return settled.get();
            }
        }
        Optional<Vm> current = store.get(name);
        if (current.isEmpty() || current.get().getPhase() == VmPhase.VM_PHASE_DELETING) {
            return new VmResult(name, Outcome.GONE, name + (current.isEmpty() ? " was deleted" : " is being deleted"));
        }
        Vm vm = current.get();
        VmSpec spec = vm.getSpec();
        if (!vm.getHomeHost().equals(lost)) {
            return new VmResult(name, Outcome.RECOVERED, name + "'s home is " + vm.getHomeHost() + " already");
        }
        if (spec.getStorage() == StorageTier.STORAGE_TIER_RAW) {
            return new VmResult(name, Outcome.DOWN, "down until " + lost + " returns: its disk is on " + lost);
        }
        if (spec.getNoFailover()) {
            return new VmResult(name, Outcome.OPTED_OUT, "opted out of failover (created with --no-failover): left"
                    + " down on " + lost);
        }
        Optional<String> move = moveInFlight.apply(name);
        if (move.isPresent()) {
            return new VmResult(name, Outcome.FAILED, "not recovered while " + move.get() + " (virtfleet vm show "
                    + name + ")");
        }
        Request request = asFailover(Request.of(spec));
        Explanation explanation = scheduler.explainRecovery(request);
        String target = best(explanation, lost);
        if (spec.getNetwork().hasFailover() && !ovh.applies(spec) && target == null) {
            return new VmResult(name, Outcome.WAITING, waitingWords(name, spec, lost, request));
        }
        if (target == null) {
            return new VmResult(name, Outcome.FAILED, "no host fits: " + explanation.summary());
        }
        try {
            journal.begin(new FailoverJournal.Intent(name, lost, target, by));
        } catch (IOException e) {
            return new VmResult(name, Outcome.FAILED, "cannot note the failover (nothing changed): " + e.getMessage());
        }
        Decision decision;
        try {
            decision = scheduler.claimForRecovery(request, target);
        } catch (RuntimeException e) {
            journal.end(name);
            return new VmResult(name, Outcome.FAILED, "cannot claim " + target + " (nothing changed): " + e.getMessage());
        }
        if (!decision.placed()) {
            journal.end(name);
            return new VmResult(name, Outcome.FAILED, "no host fits: " + decision.explanation().summary());
        }
        CrashPoints.reached("failover-claimed");
        progress.step("fenced", lost, fenceWords(fence));
        out.accept(VmProgress.newBuilder().setVmName(name).setStep("placed").setHost(target)
                .setDetail("placed on " + target + ": " + decision.chosen().reason())
                .setPlacement(VmEndpoint.toProto(explanation)).build());
        Vm recorded;
        String xml;
        try {
            if (ovh.applies(spec)) {
                try (FailoverAtOvh.Noted atOvh = ovh.noting(name)) {
                    FailoverAtOvh.Route route = ovh.routedTo(spec);
                    spec = ovh.prepare(spec, target, registry.get(target).map(h -> h.report().getPublicAddress())
                            .orElse(""), route, progress).spec();
                    vm = vm.toBuilder().setSpec(spec).build();
                }
            }
            progress.step("network", target, reconciler.ensureNetwork(target, spec).getDetail());
            xml = rehoming.definitionOn(vm, target);
            recorded = rehoming.record(vm, target, xml, "failover " + name + " from lost host " + lost + " to " + target
                    + "\n\n" + fenceWords(fence) + "; placed on " + target + ": " + decision.chosen().reason(), by);
        } catch (StepFailedException | IOException | OvhException | RuntimeException e) {
            if (store.get(name).map(v -> v.getHomeHost().equals(target)).orElse(false)) {
                return finish(name, progress, fence); // the commit went through before the failure was told
            }
            scheduler.release(failoverClaim(name));
            journal.end(name);
            return new VmResult(name, Outcome.FAILED, "not recovered, nothing changed: " + e.getMessage());
        }
        CrashPoints.reached("failover-recorded");
        audit.info("{}: VM {} of lost host {} recorded on {}", by, name, lost, target);
        progress.step("recorded", target, name + "'s home is now " + target);
        return finish(name, progress, fence);
    }

    /**
     * The new home's side of a recorded failover: claims following the record, the definition with autostart, the VM
     * started if it is wanted running, then the note ended. A step that fails leaves the note: {@link #resume} (or a
     * new recover) finishes it. Starting a VM already running there is harmless: the agent says it runs.
     */
    private VmResult finish(String name, Progress progress, Fence fence) {
        FailoverJournal.Intent intent = journal.get(name).orElseThrow();
        Vm vm = store.get(name).orElseThrow();
        String target = intent.target();
        rehoming.claimsFollow(vm, failoverClaim(name));
        String started;
        try {
            String xml = store.domainXml(name).orElseThrow(() -> new IOException("no domain definition for " + name));
            progress.step("defined", target, steps.define(target, name, xml, vm.getRunningWanted()).getDetail());
            if (vm.getRunningWanted()) {
                progress.step("started", target, steps.setRunning(target, name, true).getDetail());
                started = "started";
            } else {
                started = "left stopped (wanted stopped)";
            }
        } catch (StepFailedException | IOException | RuntimeException e) {
            return new VmResult(name, Outcome.FAILED, "recorded on " + target + " but not started yet (" + e.getMessage()
                    + "): the controller retries, or run virtfleet host recover " + intent.lost() + " again");
        }
        journal.end(name);
        replication.sync(new java.util.TreeSet<>(List.of(target)), progress::step);
        return new VmResult(name, Outcome.RECOVERED, name + ": " + (fence == null ? intent.lost() + " lost"
                : fenceShort(fence)) + ", placed on " + target + ", " + started);
    }

    /**
     * Settles a note a previous run left: recorded on its target, finished there; otherwise undone (the target's claim
     * given back). Empty when undone, so that the VM can be recovered again.
     */
    private Optional<VmResult> settle(FailoverJournal.Intent intent, Progress progress) {
        String name = intent.vm();
        Optional<Vm> vm = store.get(name);
        if (vm.isPresent() && vm.get().getHomeHost().equals(intent.target()) && fences.of(intent.target()).isPresent()) {
            // Recorded on a target lost since: finishing there would fail for ever. The VM is the target's now; its
            // claims follow the record, the note ends, and the target's own recovery restarts it elsewhere.
            rehoming.claimsFollow(vm.get(), failoverClaim(name));
            journal.end(name);
            progress.step("settling", intent.target(), "a failover of " + name + " to " + intent.target() + " was"
                    + " recorded, but " + intent.target() + " is lost too: " + name + " is recovered with its VMs");
            // Not RECOVERED: it runs nowhere yet, and this host's recover must not end as if all were done.
            return Optional.of(new VmResult(name, Outcome.WAITING, name + "'s home is " + intent.target()
                    + ", itself lost: virtfleet host recover " + intent.target()));
        }
        if (vm.isPresent() && vm.get().getHomeHost().equals(intent.target())) {
            progress.step("settling", intent.target(), "a failover of " + name + " to " + intent.target()
                    + " was recorded before the controller stopped: finishing it");
            return Optional.of(finish(name, progress, fences.of(intent.lost()).orElse(null)));
        }
        scheduler.release(failoverClaim(name));
        journal.end(name);
        log.info("failover of {} to {} undone: its record was not changed", name, intent.target());
        return Optional.empty();
    }

    /** Whether a Ceph fence's blocklist entries are past their expiry (renewal failed): no proof the host is cut. */
    private boolean lapsed(Fence fence) {
        return fence.kind() == Fence.Kind.CEPH && fence.expires() != null
                && !registry.clock().instant().isBefore(fence.expires());
    }

    /** The gate shared with unfence (the fence service); until set, a gate over the fence view. */
    public void gate(io.virtfleet.controller.fencing.RecoveryGate g) {
        this.gate = g;
    }

    /** Whether a recovery of {@code host}'s VMs is noted as unfinished (a controller stopped mid-way). */
    public boolean noted(String host) {
        return journal.all().stream().anyMatch(i -> i.lost().equals(host));
    }

    /**
     * Settles the failovers a previous run of the controller left (see {@link #settle}); a VM undone is recovered again
     * while its host is still lost. Runs on the reconciler's passes; never throws.
     */
    public void resume() {
        for (FailoverJournal.Intent intent : journal.all()) {
            String name = intent.vm();
            if (running.contains(name)) {
                continue;
            }
            Optional<Fence> lost = fences.of(intent.lost());
            if (lost.isPresent() && lapsed(lost.get())) {
                log.warn("failover of {} waits: the Ceph blocklist fencing {} lapsed at {}", name, intent.lost(),
                        lost.get().expires());
                continue;
            }
            Progress toLog = (step, host, detail) -> log.info("failover of {}: {} on {}: {}", name, step, host, detail);
            boolean again;
            Optional<VmLocks.Held> held = reconciler.locks().tryLock(name);
            if (held.isEmpty()) {
                continue;
            }
            try (VmLocks.Held h = held.get()) {
                again = settle(intent, toLog).isEmpty();
            } catch (RuntimeException e) {
                log.warn("cannot settle the failover of {} yet: {}", name, e.getMessage());
                continue;
            }
            Optional<Fence> fence = fences.of(intent.lost());
            if (again && fence.isPresent() && gate.enter(intent.lost())) {
                try {
                    VmResult r = recoverOne(name, intent.lost(), fence.get(), intent.by(),
                            p -> log.info("failover of {}: {} on {}: {}", name, p.getStep(), p.getHost(), p.getDetail()));
                    log.info("failover of {} resumed: {}", name, r.words());
                } finally {
                    gate.leave(intent.lost());
                }
            }
        }
    }

    /** What the VM's failover still has to do, in words (virtfleet vm show); empty when nothing. */
    public Optional<String> pendingWork(String name) {
        return journal.get(name).map(i -> "a failover from lost host " + i.lost() + " to " + i.target()
                + " is in flight or to be settled");
    }

    /** The best fitting host that is not the lost one, or null. */
    private static String best(Explanation e, String lost) {
        return e.verdicts().stream().filter(Verdict::fits).map(Verdict::host).filter(h -> !h.equals(lost))
                .findFirst().orElse(null);
    }

    /** The VM's request under the name of its new home's claim. */
    private static Request asFailover(Request r) {
        return new Request(failoverClaim(r.vmName()), r.memoryBytes(), r.vcpus(), r.storage(), r.diskBytes(),
                r.failoverAddress(), r.spreadGroup(), r.pinnedHost(), false);
    }

    /**
     * What the operator must do for a failover-IP VM the controller cannot route (no OVH API, and the static
     * failover-routes route its IP to no host that can take it).
     */
    private String waitingWords(String name, VmSpec spec, String lost, Request request) {
        String ip = spec.getNetwork().getFailover().getAddress();
        String mac = spec.getNetwork().getFailover().getMac();
        Request anywhere = new Request(request.vmName(), request.memoryBytes(), request.vcpus(), request.storage(),
                request.diskBytes(), null, request.spreadGroup(), request.pinnedHost(), false);
        String to = best(scheduler.explainRecovery(anywhere), lost);
        String where = to == null ? "a server whose host can take " + name + " (none can now)" : to + "'s server";
        return "waiting for the operator: failover IP " + ip + " is routed to no host that can take " + name
                + " (failover-routes, no OVH API); move " + ip + " with its virtual MAC " + mac + " to " + where
                + " in the OVH panel, set failover-routes " + ip + "=" + (to == null ? "HOST" : to) + " in the"
                + " controller's configuration and restart it, then run virtfleet host recover " + lost;
    }

    private static String fenceWords(Fence f) {
        return switch (f.kind()) {
            case CEPH -> f.host() + " fenced: Ceph client" + (f.addresses().size() == 1 ? " " : "s ")
                    + String.join(", ", f.addresses()) + " blocklisted by " + f.by() + " at " + f.fencedAt();
            case CONFIRMED_DOWN -> f.host() + " confirmed down by " + f.by() + " at " + f.fencedAt();
        };
    }

    private static String fenceShort(Fence f) {
        return (f.kind() == Fence.Kind.CEPH ? "fenced " : "confirmed down ") + f.host();
    }

    private static Consumer<VmProgress> serialized(Consumer<VmProgress> out) {
        Object lock = new Object();
        return p -> {
            synchronized (lock) {
                out.accept(p);
            }
        };
    }
}
