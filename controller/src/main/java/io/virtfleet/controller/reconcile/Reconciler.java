package io.virtfleet.controller.reconcile;

import io.grpc.Status;
import io.virtfleet.controller.definitions.VmStore;
import io.virtfleet.controller.registry.Domains;
import io.virtfleet.controller.registry.HostRecord;
import io.virtfleet.controller.registry.HostRegistry;
import io.virtfleet.controller.registry.Liveness;
import io.virtfleet.controller.scheduler.Scheduler;
import io.virtfleet.proto.v1.DomainInfo;
import io.virtfleet.proto.v1.HostState;
import io.virtfleet.proto.v1.StepResult;
import io.virtfleet.proto.v1.Vm;
import io.virtfleet.proto.v1.VmPhase;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Drives every VM's home host to the VM's desired state with idempotent steps: ensure disk, ensure network,
 * ensure defined, ensure running or stopped; and, for a VM being deleted, undefine it everywhere and remove its
 * disk if asked. It runs for each operator request and on a schedule, so a crash anywhere is repaired by the
 * next pass: steps already done answer "already done", nothing is created twice, and a VM recorded in the
 * definitions repository is never dropped.
 *
 * <p>One VM is handled by one thread at a time (a lock per VM); different VMs proceed in parallel. A pass works on
 * its hosts in parallel, a few at a time, each host's VMs one after another: a slow or hung host holds up only its
 * own VMs (each of its calls ends at its deadline), and a pass does not queue more work for a host whose work of
 * an earlier pass still runs.
 */
public final class Reconciler implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(Reconciler.class);

    /**
     * What the reconciler last saw of a VM: its phase and last error, and when (the registry's clock, as host
     * reports' arrival times), so a report that predates it is not read as contradicting it.
     */
    public record Observed(VmPhase phase, String lastError, long atNanos) {}

    /** A step that changed a host, so a failed create knows what to undo. */
    public record Done(String step, String host, boolean changed) {}

    private final VmStore store;
    private final Scheduler scheduler;
    private final HostSteps steps;
    private final HostRegistry registry;
    private final Liveness liveness;
    private final Duration interval;
    /** How many hosts a pass works on at once: a hung host holds one of them until its call's deadline. */
    private static final int HOST_WORKERS = 4;

    private final VmLocks locks = new VmLocks();
    private final Map<String, Observed> observed = new ConcurrentHashMap<>();
    private final List<Runnable> extraPasses = new java.util.concurrent.CopyOnWriteArrayList<>();
    /** Runs a step alongside another of the same VM (network while the disk is made). */
    private final ExecutorService parallel = Executors.newCachedThreadPool(r -> {
        Thread t = new Thread(r, "vf-reconciler-step");
        t.setDaemon(true);
        return t;
    });
    /** Works on the hosts of a pass, one task per host. */
    private final ThreadPoolExecutor hostWork = new ThreadPoolExecutor(HOST_WORKERS, HOST_WORKERS, 30, TimeUnit.SECONDS,
            new LinkedBlockingQueue<>(), r -> {
                Thread t = new Thread(r, "vf-reconciler-host");
                t.setDaemon(true);
                return t;
            });
    private final java.util.concurrent.atomic.AtomicLong passesCompleted = new java.util.concurrent.atomic.AtomicLong();
    private final List<java.util.function.Consumer<io.virtfleet.proto.v1.VmSpec>> whenDeleted =
            new java.util.concurrent.CopyOnWriteArrayList<>();
    /** VMs the passes do not touch (see {@link #leaveAlone}). */
    private final Set<String> leftAlone = ConcurrentHashMap.newKeySet();
    /** Whether the passes must keep off a VM for now (a move whose outcome is not known yet). */
    private volatile java.util.function.Predicate<String> heldOff = vm -> false;
    /**
     * Whether the controller holds after a restore from a backup: passes change nothing on any host, and every
     * operator change that would is refused, until the hold is released.
     */
    private volatile java.util.function.BooleanSupplier holdingAll = () -> false;
    /** Hosts with work queued or running: a pass leaves them out until it is done. */
    private final Set<String> hostsBusy = ConcurrentHashMap.newKeySet();
    /** The end-of-install watches: not the passes' thread, whose extra work (replication) can wait for hosts. */
    private final ScheduledExecutorService watches = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "vf-install-watch");
        t.setDaemon(true);
        return t;
    });
    private final ScheduledExecutorService loop = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "vf-reconciler");
        t.setDaemon(true);
        return t;
    });
    /** See {@link #onPassTimed}. */
    private volatile java.util.function.LongConsumer passTimes = nanos -> {};

    /**
     * @param interval time between two passes over every VM
     */
    public Reconciler(VmStore store, Scheduler scheduler, HostSteps steps, HostRegistry registry, Liveness liveness,
                      Duration interval) {
        this.store = store;
        this.scheduler = scheduler;
        this.steps = steps;
        this.registry = registry;
        this.liveness = liveness;
        this.interval = interval;
        hostWork.allowCoreThreadTimeOut(true);
    }

    /** Hears how long each periodic pass took, in nanoseconds (every host's part done or left to a later pass). */
    public void onPassTimed(java.util.function.LongConsumer listener) {
        this.passTimes = java.util.Objects.requireNonNull(listener, "listener");
    }

    /**
     * Adds work to every periodic pass, once the VMs' work is handed to the host workers (replication's repair of
     * replicas), so it may run alongside that work. It runs on the
     * reconciler's thread and must not throw.
     */
    public void alsoEachPass(Runnable work) {
        extraPasses.add(work);
    }

    public void start() {
        loop.scheduleWithFixedDelay(() -> {
            long begun = System.nanoTime();
            reconcileAll().whenComplete((done, failure) -> {
                passTimes.accept(System.nanoTime() - begun);
                passesCompleted.incrementAndGet();
            });
        },
                interval.toMillis(), interval.toMillis(), TimeUnit.MILLISECONDS);
    }

    /**
     * How many periodic passes have finished (every host's part done or left out to a later pass) since
     * {@link #start}: what shows that the reconciler is alive, and lets a test wait for passes instead of time.
     */
    public long passesCompleted() {
        return passesCompleted.get();
    }

    /** Takes the VM's lock (waiting for whoever holds it); close the result to release it. */
    public VmLocks.Held lock(String vm) {
        return locks.lock(vm);
    }

    public VmLocks locks() {
        return locks;
    }

    public Observed observed(String vm) {
        return observed.getOrDefault(vm, new Observed(VmPhase.VM_PHASE_CREATING, "", registry.nanoTime()));
    }

    public void observe(String vm, VmPhase phase, String error) {
        observed.put(vm, new Observed(phase, error == null ? "" : error, registry.nanoTime()));
    }

    /** Drops what was observed of a deleted VM. Its lock goes by itself once nobody holds or waits for it. */
    public void forget(String vm) {
        observed.remove(vm);
        leftAlone.remove(vm);
    }

    /**
     * Adds what else goes with a VM whose delete a pass finished (its install state and boot config). It runs on a
     * host worker, holding the VM's lock, and must not throw.
     */
    public void whenDeleted(java.util.function.Consumer<io.virtfleet.proto.v1.VmSpec> then) {
        whenDeleted.add(then);
    }

    /**
     * Keeps the passes off a VM until it is deleted or this controller restarts: a create undone on its host whose
     * record could not be removed must not be built again behind the operator's back, who was told it failed.
     */
    public void leaveAlone(String vm) {
        leftAlone.add(vm);
    }

    /**
     * Keeps the passes off the VMs {@code held} names while it does (a move whose outcome is still to be read from
     * the hosts' reports: converging the VM on its recorded home could start it a second time).
     */
    public void holdOff(java.util.function.Predicate<String> held) {
        java.util.function.Predicate<String> before = heldOff;
        this.heldOff = before.or(held); // moves and failovers each hold off their own VMs
    }

    /**
     * Keeps the passes off every VM, and their extra work (replica repair, moves and failovers to settle), while
     * {@code holding} says so: a controller restored from a backup whose records may be older than what runs.
     */
    public void holdAll(java.util.function.BooleanSupplier holding) {
        this.holdingAll = holding;
    }

    /** Whether everything is held (see {@link #holdAll}). */
    public boolean holdingAll() {
        return holdingAll.getAsBoolean();
    }

    /** The refusal of a change while everything is held. */
    public static io.grpc.StatusRuntimeException heldAfterRestore() {
        return Status.FAILED_PRECONDITION.withDescription("the controller holds after a restore from a backup: it"
                + " changes no domain on any host until an admin has compared the records with what runs"
                + " (virtfleet drift) and released the hold (virtfleet restore-hold release --help)").asRuntimeException();
    }

    /**
     * Refuses an operator's change to a VM the passes keep off (a move still to be settled): starting, reinstalling
     * or deleting it on its recorded home could touch a VM that runs on another host now.
     */
    public void requireNotHeldOff(String vm) {
        if (holdingAll()) {
            throw heldAfterRestore();
        }
        if (heldOff.test(vm)) {
            throw Status.FAILED_PRECONDITION.withDescription("a move of " + vm + " is still to be settled from the"
                    + " hosts' reports (it may run on either host): try again once it is (virtfleet vm show " + vm + ")")
                    .asRuntimeException();
        }
    }

    /** Ensures on {@code host} the network the VM needs (its LAN flooding to every other host), as a create does. */
    public StepResult ensureNetwork(String host, io.virtfleet.proto.v1.VmSpec spec) throws StepFailedException {
        if (holdingAll()) {
            throw heldAfterRestore();
        }
        requireReady(host, "network");
        return steps.ensureNetwork(host, spec, peersOf(host));
    }

    /** Brings the VM's home host to the desired state; returns the steps run. The caller holds the VM's lock. */
    public List<Done> converge(Vm vm, Progress progress) throws StepFailedException {
        List<Done> done = new ArrayList<>();
        converge(vm, progress, done);
        return done;
    }

    /**
     * Brings the VM's home host to the desired state, step by step, adding each step run to {@code done} as it
     * completes (so a caller whose create failed midway knows what to undo). The caller holds the VM's lock.
     */
    public void converge(Vm vm, Progress progress, List<Done> done) throws StepFailedException {
        String host = vm.getHomeHost();
        String name = vm.getSpec().getName();
        requireNotHeldOff(name);
        requireReady(host, "disk");
        // Disk and network do not depend on each other: the network step runs while the disk is made.
        List<String> peers = peersOf(host);
        CompletableFuture<StepResult> networkStep = CompletableFuture.supplyAsync(() -> {
            try {
                return steps.ensureNetwork(host, vm.getSpec(), peers);
            } catch (StepFailedException e) {
                throw new CompletionException(e);
            }
        }, parallel);
        StepResult disk;
        try {
            disk = steps.ensureDisk(host, vm.getSpec());
        } catch (StepFailedException e) {
            networkStep.handle((r, t) -> null).join(); // nothing of this create may still run when it is undone
            throw e;
        }
        done.add(new Done("disk", host, changed(disk)));
        progress.step("disk", host, disk.getDetail());
        StepResult network;
        try {
            network = networkStep.join();
        } catch (CompletionException e) {
            if (e.getCause() instanceof StepFailedException failed) {
                throw failed;
            }
            throw e;
        }
        done.add(new Done("network", host, changed(network)));
        progress.step("network", host, network.getDetail());
        String xml;
        try {
            xml = store.domainXml(name).orElseThrow(() -> new StepFailedException("defined", host,
                    Status.FAILED_PRECONDITION.withDescription("no domain definition for " + name + " in the definitions repository")));
        } catch (IOException e) {
            throw new StepFailedException("defined", host, Status.UNAVAILABLE.withDescription(e.getMessage()));
        }
        Optional<DomainInfo> held = reported(host, name);
        if (held.isPresent() && Domains.changedByHand(held.get()) && Domains.active(held.get().getState())) {
            // Someone changed the running VM's definition on the host: overwriting it could undo a fix made in an
            // emergency. It is reported (virtfleet drift) until someone decides.
            progress.step("defined", host, name + " kept as it is: running and changed by hand (see virtfleet drift)");
        } else {
            // Autostart follows the wish: a VM an operator stopped stays stopped when its home reboots.
            StepResult defined = steps.define(host, name, xml, vm.getRunningWanted());
            done.add(new Done("defined", host, changed(defined)));
            progress.step("defined", host, defined.getDetail());
        }
        if (vm.getRunningWanted() && !reported(host, name).map(d -> Domains.active(d.getState())).orElse(false)) {
            String elsewhere = runningElsewhere(name, host);
            if (elsewhere != null) {
                // Started by hand there, or a move whose end this controller did not see: a second QEMU on the same
                // disk would corrupt it. Someone must decide (virtfleet vm move, or stop it there).
                throw new StepFailedException("started", host, Status.FAILED_PRECONDITION.withDescription(name
                        + " is not started on its home " + host + ": it runs on " + elsewhere + " (stop it there, or move"
                        + " it home with virtfleet vm move " + name + " --to " + host + ")"));
            }
        }
        StepResult running = steps.setRunning(host, name, vm.getRunningWanted());
        done.add(new Done(vm.getRunningWanted() ? "started" : "stopped", host, changed(running)));
        progress.step(vm.getRunningWanted() ? "started" : "stopped", host, running.getDetail());
        observe(name, VmPhase.VM_PHASE_READY, null);
    }

    /**
     * Removes the VM from every host that reports its domain (its home host always), and its disk when asked.
     * The caller holds the VM's lock.
     */
    public void teardown(Vm vm, Progress progress) throws StepFailedException {
        if (holdingAll()) {
            throw heldAfterRestore();
        }
        String name = vm.getSpec().getName();
        List<String> hosts = new ArrayList<>();
        hosts.add(vm.getHomeHost());
        for (HostRecord h : registry.all()) {
            if (!h.name().equals(vm.getHomeHost()) && reports(h, name)) {
                hosts.add(h.name());
            }
        }
        for (String host : hosts) {
            if (!host.equals(vm.getHomeHost()) && unreachable(host)) {
                // A replica (never running: virtfleet does not start them) on a host that is away: that host's own
                // sync undefines it when it is back, as the definition is gone from the repository by then.
                progress.step("undefined", host, "unreachable: its replica of " + name + " goes when it catches up");
                continue;
            }
            requireReady(host, "undefined");
            StepResult r = steps.undefine(host, name, true);
            progress.step("undefined", host, r.getDetail());
        }
        if (vm.getDeleteDiskWanted()) {
            StepResult r = steps.deleteDisk(vm.getHomeHost(), vm.getSpec());
            progress.step("disk", vm.getHomeHost(), r.getDetail());
        }
    }

    /**
     * Brings the flood lists of the LAN's other hosts up to date, off the caller's thread: a host that joined the
     * fleet after a LAN was built elsewhere would otherwise never receive its broadcasts (ARP) there. A create need
     * not wait for this. A host still busy with earlier work is left to the next pass, which refreshes every LAN.
     */
    public void refreshLanPeersSoon(int lan, String upToDate) {
        java.util.Set<String> hosts = new java.util.TreeSet<>();
        for (Vm vm : store.all()) {
            if (vm.getSpec().getNetwork().hasLan() && vm.getSpec().getNetwork().getLan() == lan
                    && vm.getPhase() != VmPhase.VM_PHASE_DELETING) {
                hosts.add(vm.getHomeHost());
            }
        }
        hosts.remove(upToDate);
        for (String host : hosts) {
            onHost(host, () -> ensureLan(host, lan));
        }
    }

    /**
     * Keeps a host that carries a LAN flooding to all the other hosts. Idempotent: a host already up to date
     * answers "already done".
     */
    /** Returns false when the host did not answer (see {@link StepFailedException#retryable}). */
    private boolean ensureLan(String host, int lan) {
        if (holdingAll()) {
            return true;
        }
        try {
            requireReady(host, "network");
            StepResult r = steps.ensureNetwork(host, io.virtfleet.proto.v1.VmSpec.newBuilder()
                    .setNetwork(io.virtfleet.proto.v1.NetworkSpec.newBuilder().setLan(lan)).build(), peersOf(host));
            if (r.getOutcome() == StepResult.Outcome.OUTCOME_CHANGED) {
                log.info("LAN {} on {}: {}", lan, host, r.getDetail());
            }
        } catch (StepFailedException e) {
            log.warn("LAN {}: {}", lan, e.getMessage());
            return !e.retryable();
        }
        return true;
    }

    /**
     * Runs {@code work} on the host workers unless the host is busy with earlier work (then the next pass does
     * it). Completes when the work is done or left out; the work must not throw.
     */
    private CompletableFuture<Void> onHost(String host, Runnable work) {
        if (!hostsBusy.add(host)) {
            log.debug("host {} is still busy with earlier work: left to the next pass", host);
            return CompletableFuture.completedFuture(null);
        }
        try {
            return CompletableFuture.runAsync(() -> {
                try {
                    work.run();
                } catch (RuntimeException e) {
                    log.error("work on host {} failed unexpectedly", host, e);
                } finally {
                    hostsBusy.remove(host);
                }
            }, hostWork);
        } catch (java.util.concurrent.RejectedExecutionException e) {
            hostsBusy.remove(host); // closing: the next controller's first pass does it
            return CompletableFuture.completedFuture(null);
        }
    }

    /**
     * Starts the VM again as soon as its home host reports its domain stopped, looking every {@code period} for at
     * most {@code within}, then stops looking: the installer booted directly from a kernel ends with a reboot that
     * stops the domain, and the installed VM need not wait for the next pass to come up from its disk. A start that
     * fails is tried again after ten periods, until one succeeds or the time is up.
     */
    public void restartOnceStopped(String name, Duration period, Duration within) {
        long deadline = registry.nanoTime() + within.toNanos();
        // After a failed start, the next try waits a little: a host that keeps refusing is not asked every period.
        java.util.concurrent.atomic.AtomicLong notBefore = new java.util.concurrent.atomic.AtomicLong(registry.nanoTime());
        java.util.concurrent.atomic.AtomicReference<java.util.concurrent.ScheduledFuture<?>> task =
                new java.util.concurrent.atomic.AtomicReference<>();
        Runnable stopLooking = () -> {
            if (task.get() != null) {
                task.get().cancel(false);
            }
        };
        Runnable look = () -> {
            Optional<Vm> vm = store.get(name);
            if (vm.isEmpty() || registry.nanoTime() > deadline) {
                stopLooking.run();
            } else if (vm.get().getRunningWanted() && registry.nanoTime() >= notBefore.get()
                    && reported(vm.get().getHomeHost(), name).map(d -> !Domains.active(d.getState())).orElse(false)) {
                // Started by the host's worker: the watches' thread looks at every watched VM each period and never
                // waits for a host.
                onHost(vm.get().getHomeHost(), () -> {
                    Optional<VmLocks.Held> held = locks.tryLock(name);
                    if (held.isEmpty()) {
                        return; // an operator request is working on it: look again later
                    }
                    try (VmLocks.Held h = held.get()) {
                        Optional<Vm> now = store.get(name);
                        Outcome outcome = now.map(this::reconcile).orElse(Outcome.UNCHANGED);
                        if (now.isEmpty() || outcome == Outcome.CONVERGED) {
                            stopLooking.run();
                            now.ifPresent(v -> log.info("VM {} stopped at the end of its install: started again", name));
                        } else {
                            // Failed (reconcile logged why), or nothing to do on a report not to be trusted: look
                            // again later (a periodic pass may also start it meanwhile).
                            notBefore.set(registry.nanoTime() + period.multipliedBy(10).toNanos());
                        }
                    }
                });
            }
        };
        try {
            task.set(watches.scheduleWithFixedDelay(() -> {
                try {
                    look.run();
                } catch (RuntimeException e) {
                    log.error("watching VM {} failed unexpectedly", name, e);
                }
            }, period.toMillis(), period.toMillis(), TimeUnit.MILLISECONDS));
        } catch (java.util.concurrent.RejectedExecutionException e) {
            // closing: the next controller's passes start it
        }
    }

    /**
     * One pass over every VM: finish creations and deletions, repair drift, refresh LAN peers; then the other
     * work of a pass. Each host's part runs on the host workers; the returned future completes when all of them
     * are done or left out (a host still busy since an earlier pass). Never throws.
     */
    public CompletableFuture<Void> reconcileAll() {
        if (holdingAll()) {
            return CompletableFuture.completedFuture(null); // held after a restore: observe only
        }
        Map<String, java.util.Set<Integer>> lansByHost = new java.util.TreeMap<>();
        Map<String, List<String>> vmsByHost = new java.util.TreeMap<>();
        for (Vm vm : store.all()) {
            String host = vm.getHomeHost();
            vmsByHost.computeIfAbsent(host, h -> new ArrayList<>()).add(vm.getSpec().getName());
            java.util.Set<Integer> lans = lansByHost.computeIfAbsent(host, h -> new java.util.TreeSet<>());
            if (vm.getSpec().getNetwork().hasLan() && vm.getPhase() != VmPhase.VM_PHASE_DELETING) {
                lans.add(vm.getSpec().getNetwork().getLan());
            }
        }
        List<CompletableFuture<Void>> work = new ArrayList<>();
        for (var host : vmsByHost.entrySet()) {
            java.util.Set<Integer> lans = lansByHost.get(host.getKey());
            work.add(onHost(host.getKey(), () -> {
                // A host that does not answer (a hung agent waits out each call's deadline) gets no more calls this
                // pass: its worker goes back to the other hosts' work instead of waiting minutes per VM.
                for (int lan : lans) {
                    if (!ensureLan(host.getKey(), lan)) {
                        log.warn("host {} did not answer: the rest of its work is left to the next pass", host.getKey());
                        return;
                    }
                }
                for (String name : host.getValue()) {
                    if (reconcileLocked(name) == Outcome.HOST_UNANSWERED) {
                        log.warn("host {} did not answer: the rest of its work is left to the next pass", host.getKey());
                        return;
                    }
                }
            }));
        }
        for (Runnable extra : extraPasses) {
            try {
                extra.run();
            } catch (RuntimeException e) {
                log.error("a reconciliation pass failed unexpectedly", e);
            }
        }
        return CompletableFuture.allOf(work.toArray(CompletableFuture[]::new));
    }

    /** Reconciles the VM unless an operator request holds its lock (then that request does the work). */
    private Outcome reconcileLocked(String name) {
        Optional<VmLocks.Held> held = locks.tryLock(name);
        if (held.isEmpty()) {
            return Outcome.UNCHANGED;
        }
        try (VmLocks.Held h = held.get()) {
            return store.get(name).map(this::reconcile).orElse(Outcome.UNCHANGED);
        } catch (RuntimeException e) {
            log.error("reconciling VM {} failed unexpectedly", name, e);
            return Outcome.FAILED;
        }
    }

    /** What a VM's reconciliation came to. */
    private enum Outcome {
        /** Nothing to do, or nothing to be done now (left alone, or its host's report not to be trusted). */
        UNCHANGED,
        /** Brought to its desired state (or deleted). */
        CONVERGED,
        /** A step failed: logged, and observed as the VM's failure. */
        FAILED,
        /** As FAILED, because the host did not answer in time or could not be reached. */
        HOST_UNANSWERED
    }

    private Outcome reconcile(Vm vm) {
        String name = vm.getSpec().getName();
        if (holdingAll()) {
            return Outcome.UNCHANGED;
        }
        try {
            if (vm.getPhase() == VmPhase.VM_PHASE_DELETING) {
                teardown(vm, Progress.NONE);
                store.remove(name, "delete " + name + " (finished by the reconciler)", "");
                scheduler.release(name);
                forget(name);
                for (java.util.function.Consumer<io.virtfleet.proto.v1.VmSpec> then : whenDeleted) {
                    then.accept(vm.getSpec());
                }
                log.info("VM {} deleted", name);
                return Outcome.CONVERGED;
            }
            if (leftAlone.contains(name) || heldOff.test(name) || !drifted(vm)) {
                return Outcome.UNCHANGED;
            }
            List<Done> done = converge(vm, (step, host, detail) -> log.info("VM {}: {} on {}: {}", name, step, host, detail));
            if (done.stream().anyMatch(Done::changed)) {
                log.info("VM {} reconciled on {}", name, vm.getHomeHost());
            }
            return Outcome.CONVERGED;
        } catch (StepFailedException e) {
            observe(name, VmPhase.VM_PHASE_FAILED, e.getMessage());
            log.warn("VM {}: {}", name, e.getMessage());
            return e.retryable() ? Outcome.HOST_UNANSWERED : Outcome.FAILED;
        } catch (IOException e) {
            observe(name, VmPhase.VM_PHASE_FAILED, e.getMessage());
            log.warn("VM {}: {}", name, e.getMessage());
        }
        return Outcome.FAILED;
    }

    /**
     * Whether the home host's latest report disagrees with the desired state (domain missing, or running when
     * it should not or the reverse), or the VM never finished converging since this controller started.
     */
    private boolean drifted(Vm vm) {
        if (observed(vm.getSpec().getName()).phase() != VmPhase.VM_PHASE_READY) {
            return true;
        }
        Optional<HostRecord> home = registry.get(vm.getHomeHost());
        if (home.isEmpty() || home.get().report().getDomainsStale()) {
            return false; // nothing trustworthy to compare with
        }
        for (DomainInfo d : home.get().report().getDomainsList()) {
            if (d.getName().equals(vm.getSpec().getName())) {
                boolean running = Domains.active(d.getState());
                if (running != vm.getRunningWanted()) {
                    return true;
                }
                if (Domains.changedByHand(d)) {
                    return !running; // a running one is reported, not overwritten
                }
                return !d.getSourceSha256().isEmpty() && !d.getSourceSha256().equals(sourceFingerprint(vm));
            }
        }
        return true;
    }

    private String sourceFingerprint(Vm vm) {
        try {
            return store.fingerprint(vm.getSpec().getName()).orElse("");
        } catch (IOException e) {
            return "";
        }
    }

    /** Another host whose latest report has the domain running (or paused), or null. */
    private String runningElsewhere(String vm, String home) {
        for (HostRecord h : registry.all()) {
            if (!h.name().equals(home) && h.report().getDomainsList().stream()
                    .anyMatch(d -> d.getName().equals(vm) && Domains.active(d.getState()))) {
                return h.name();
            }
        }
        return null;
    }

    private Optional<DomainInfo> reported(String host, String vm) {
        return registry.get(host).flatMap(h -> h.report().getDomainsList().stream()
                .filter(d -> d.getName().equals(vm)).findFirst());
    }

    private boolean unreachable(String host) {
        Optional<HostRecord> record = registry.get(host);
        return record.isEmpty() || liveness.silent(record.get(), registry.nanoTime());
    }

    private static boolean reports(HostRecord h, String domain) {
        return h.report().getDomainsList().stream().anyMatch(d -> d.getName().equals(domain));
    }

    private void requireReady(String host, String step) throws StepFailedException {
        Optional<HostRecord> record = registry.get(host);
        if (record.isEmpty()) {
            throw new StepFailedException(step, host, Status.UNAVAILABLE.withDescription("host " + host + " is not registered"));
        }
        Liveness.Verdict v = liveness.judge(record.get(), registry.nanoTime());
        if (liveness.silent(record.get(), registry.nanoTime())) {
            throw new StepFailedException(step, host, Status.UNAVAILABLE.withDescription("host " + host + " is unreachable: "
                    + v.reason()));
        }
    }

    /**
     * The underlay addresses of every other host that reports one: a LAN's traffic is flooded to all of them,
     * so a VM moved or added anywhere is reachable without telling each host again.
     */
    private List<String> peersOf(String host) {
        List<String> out = new ArrayList<>();
        for (HostRecord h : registry.all()) {
            String address = h.report().getVxlanAddress();
            if (!h.name().equals(host) && !address.isEmpty()) {
                out.add(address);
            }
        }
        out.sort(null);
        return out;
    }

    private static boolean changed(StepResult r) {
        return r.getOutcome() == StepResult.Outcome.OUTCOME_CHANGED;
    }

    @Override
    public void close() {
        loop.shutdownNow();
        watches.shutdownNow();
        hostWork.shutdownNow();
        parallel.shutdownNow();
    }
}
