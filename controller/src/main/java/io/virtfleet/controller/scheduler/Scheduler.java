package io.virtfleet.controller.scheduler;

import io.virtfleet.proto.v1.HostState;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.Semaphore;
import java.util.function.BooleanSupplier;
import java.util.function.LongSupplier;

/**
 * Places VMs on hosts: filters ({@link Filters}) say why a host cannot take a VM, the score ranks those that
 * can, and a decision claims the capacity before it returns, so concurrent creates can never overcommit a
 * host. Thread-safe: every method but {@link #update} runs under this object's lock, which a decision holds for
 * microseconds where hosts have room (milliseconds for a create refused near the N+1 reserve's limit at thousands of
 * hosts, or a capacity count's set-up); the claims journal's fsync comes after the lock is released (see
 * {@link #journal}). Heartbeats wait for neither: their reports are handed in without the lock ({@link #update}).
 *
 * <p>A decision and the explanation ({@link #explain}) run the same {@link PlacementFilter} objects and the same
 * score on each host they judge; they differ only in which hosts they judge. The explanation, the reference,
 * judges every host and keeps each one's reason. At 10,000 hosts a decision must take well under a
 * millisecond, and one pass over every host was too slow for the 20,000 decisions/s asked of it, so a spread
 * decision judges only the hosts that may win: {@link BoundIndex} files each host that can take a VM by its
 * capabilities, shape and score, and visits them best bound first until none left can reach the best score
 * found; a pinned VM, or a failover-IP VM on static routes, judges only the one host it may go to. A pack
 * decision judges every host (the index would not help it, see there). The index only prunes: a host it
 * skips fails a filter or cannot win, so either way the decision is the best-scoring host that passes every filter, ties by name, as the
 * explanation says; tests check that both always agree.
 */
public final class Scheduler {
    private final Policy policy;
    private final ClaimBook claims;
    private final LongSupplier clock;
    private final HostTable hosts;
    private final PlacementFilter[] filters;
    /** The filters without the N+1 reserve's, for capacity counted without it. */
    private final PlacementFilter[] plainFilters;
    private final Filters.Failover failover;
    /**
     * Buckets a decision may visit in the index, plus one per 32 hosts, before it judges every host instead:
     * a safety net for fleets where the hosts with the best scores mostly fail a filter. On the benchmark's
     * fleet no decision needs more than about 100 buckets at 10,000 hosts (a budget of 376).
     */
    private static final int WALK_BUDGET = 64;
    /** The request being judged: every method holds the lock, so one is enough. */
    private final Ask ask;
    /** Held by the count keeping the reserve that is running, if any. */
    private final Semaphore counting = new Semaphore(1);
    /** The decision in progress. */
    private final Search search = new Search();
    /** Where a fitting host's reason is written: kept, as every decision writes one. */
    private final StringBuilder reasonText = new StringBuilder();
    /** Reports handed in and not yet applied, the latest per host (see {@link #update}). */
    private final java.util.concurrent.ConcurrentHashMap<String, HostSnapshot> reported =
            new java.util.concurrent.ConcurrentHashMap<>();
    /** Whether a pass of {@link #reporter} is scheduled and has not started yet. */
    private final java.util.concurrent.atomic.AtomicBoolean applying = new java.util.concurrent.atomic.AtomicBoolean();
    /**
     * Applies reports when no one else takes the lock: one thread for every scheduler of the JVM (a controller has
     * one; tests make thousands), gone after a minute idle.
     */
    private static final java.util.concurrent.ThreadPoolExecutor reporter = new java.util.concurrent.ThreadPoolExecutor(
            0, 1, 1, java.util.concurrent.TimeUnit.MINUTES, new java.util.concurrent.LinkedBlockingQueue<>(), task -> {
                Thread t = new Thread(task, "scheduler-reports");
                t.setDaemon(true);
                return t;
            });
    private static final org.slf4j.Logger log = org.slf4j.LoggerFactory.getLogger(Scheduler.class);
    /** See {@link #onDecision}. */
    private volatile java.util.function.Consumer<Decision> decisions = d -> {};

    /**
     * @param failoverRoutes failover IP address → the host OVH routes it to
     * @param clock          wall clock in Unix milliseconds, stamped on claims
     */
    public Scheduler(Policy policy, Map<String, String> failoverRoutes, ClaimBook claims, LongSupplier clock) {
        this(policy, FailoverHosts.routed(failoverRoutes), claims, clock);
    }

    /**
     * @param failover which hosts a failover-IP VM may go to
     * @param clock    wall clock in Unix milliseconds, stamped on claims
     */
    public Scheduler(Policy policy, FailoverHosts failover, ClaimBook claims, LongSupplier clock) {
        this.policy = policy;
        this.claims = claims;
        this.clock = clock;
        this.hosts = new HostTable(policy);
        this.failover = new Filters.Failover(failover);
        this.filters = Filters.all(this.failover, policy.nPlusOne());
        this.plainFilters = Filters.all(this.failover, false);
        this.ask = new Ask(filters.length);
        for (Claim c : claims.all()) {
            hosts.apply(c, 1);
        }
    }

    public Policy policy() {
        return policy;
    }

    /**
     * Takes a host's latest report (a host seen for the first time is added) without waiting for the lock: reports
     * arrive on the gRPC event loops, and a refused create near the N+1 reserve's limit or a capacity count's
     * set-up holds the lock for milliseconds at 10,000 hosts. The latest report of each host waits in
     * {@link #reported}; whoever takes the lock next applies them first, so no decision sees a host older than the
     * last report handed in before it, and a worker takes the lock for them when nobody else does. Reports are
     * applied only on entry to a section under the lock, never in the middle of one: a section that calls another
     * method of this class calls its private form, which does not apply them (a host table changing between a
     * decision's filters and its reserve, or growing under an explanation, would give verdicts no order of events
     * allows).
     */
    public void update(HostSnapshot s) {
        reported.put(s.name(), s);
        if (applying.compareAndSet(false, true)) {
            reporter.execute(() -> {
                applying.set(false); // a report handed in from here on schedules another pass
                synchronized (this) {
                    applyReported();
                }
            });
        }
    }

    /** Applies the reports waiting, each host's latest; under the lock. */
    private void applyReported() {
        if (reported.isEmpty()) {
            return;
        }
        for (String host : reported.keySet()) {
            HostSnapshot s = reported.remove(host); // the latest; one handed in after this waits for the next pass
            if (s != null) {
                try {
                    hosts.update(s, claims);
                } catch (RuntimeException e) {
                    // Not the caller's fault, whichever section applies it: logged, and the host keeps its last state.
                    log.error("placement could not take host {}'s report: {}", host, e.toString(), e);
                }
            }
        }
    }

    /** A state change judged by the controller (e.g. unreachable after missed heartbeats). */
    public synchronized void setState(String host, HostState state) {
        applyReported();
        hosts.setState(host, state);
    }

    /** The host is no longer part of the fleet; claims on it stay until their VMs are deleted. */
    public synchronized void forget(String host) {
        applyReported();
        hosts.forget(host);
    }

    /**
     * Chooses a host for the VM and claims the capacity on it, or says why no host fits. Returns once the claim
     * is in the journal on the disk; the lock is not held meanwhile (see {@link #journal}).
     *
     * @throws IllegalStateException if the VM already holds a claim
     * @throws java.io.UncheckedIOException if the journal cannot record the claim (then nothing is claimed)
     */
    public Decision place(Request r) {
        return observed(placeNow(r));
    }

    private Decision placeNow(Request r) {
        Decision decision;
        long ticket;
        synchronized (this) {
            applyReported();
            if (claims.get(r.vmName()) != null) {
                throw new IllegalStateException("VM " + r.vmName() + " already holds a claim on " + claims.get(r.vmName()).host());
            }
            int best = best(r);
            if (best < 0) {
                return new Decision(null, null, explain(r, filters, null));
            }
            Claim claim = Claim.of(r, hosts.names[best], clock.getAsLong());
            Verdict chosen = verdict(best);
            ticket = claims.add(claim);
            hosts.apply(claim, 1);
            decision = new Decision(claim, chosen, null);
        }
        journal(decision.claim(), ticket);
        return decision;
    }

    /**
     * Claims capacity on one named host for a move of {@code movingVm} (whose own claim stays on its current host
     * until the move is done) if the host passes every filter now (chosen by the operator or from an
     * {@link #explainMove} taken earlier, so judged again here under the lock), or says why not. With the N+1 policy
     * the reserve is judged as after the move ({@link #reserveRefusesMove}), not as for one more VM. Returns once
     * the claim is on the disk.
     *
     * @param r the moving VM's request under the name its target's claim is held by
     * @throws IllegalStateException if {@code r.vmName()} already holds a claim
     */
    public Decision claimOn(Request r, String host, String movingVm) {
        return observed(claimOnHost(r, host, movingVm));
    }

    /**
     * Claims capacity on one named host for a VM of a lost host being restarted there, if the host passes every filter
     * but the N+1 reserve's (see {@link #explainRecovery}); or says why not. Returns once the claim is on the disk.
     *
     * @param r the VM's request under the name its new home's claim is held by while its own stays on the lost host
     * @throws IllegalStateException if {@code r.vmName()} already holds a claim
     */
    public Decision claimForRecovery(Request r, String host) {
        return observed(claimOnHost(r, host, null));
    }

    /**
     * Hears every placement decision (of a create, a move or a recovery), placed or refused, after the scheduler's lock
     * is released: metrics count them. One listener; it must be quick and must not call back into the scheduler.
     */
    public void onDecision(java.util.function.Consumer<Decision> listener) {
        this.decisions = java.util.Objects.requireNonNull(listener, "listener");
    }

    private Decision observed(Decision d) {
        decisions.accept(d);
        return d;
    }

    /** As {@link #claimOn}; {@code movingVm} null: the N+1 reserve is not judged. */
    private Decision claimOnHost(Request r, String host, String movingVm) {
        Decision decision;
        long ticket;
        synchronized (this) {
            applyReported();
            if (claims.get(r.vmName()) != null) {
                throw new IllegalStateException("VM " + r.vmName() + " already holds a claim on " + claims.get(r.vmName()).host());
            }
            int i = hosts.slotOf(host);
            if (i < 0 || !hosts.known[i]) {
                return new Decision(null, null, new Explanation(null, List.of(new Verdict(host, false, "host",
                        "no host of that name is known to the controller", Double.NaN, Map.of()))));
            }
            ask.set(r, plainFilters, hosts);
            Verdict v = verdict(i);
            if (v.fits() && movingVm != null) {
                Optional<String> reserve = reserveRefusesMoveNow(movingVm, host);
                if (reserve.isPresent()) {
                    v = new Verdict(host, false, "n-plus-one", reserve.get(), Double.NaN, Map.of());
                }
            }
            if (!v.fits()) {
                return new Decision(null, null, new Explanation(null, List.of(v)));
            }
            Claim claim = Claim.of(r, host, clock.getAsLong());
            ticket = claims.add(claim);
            hosts.apply(claim, 1);
            decision = new Decision(claim, v, null);
        }
        journal(decision.claim(), ticket);
        return decision;
    }

    /**
     * Claims capacity for a VM that already lives on a host (its claim was lost), without judging the host:
     * the VM is there whatever the filters would say now. Returns once the claim is on the disk.
     */
    public Claim restore(Request r, String host) {
        Claim claim;
        long ticket;
        boolean made;
        synchronized (this) {
            applyReported();
            claim = claims.get(r.vmName());
            made = claim == null;
            if (made) {
                claim = Claim.of(r, host, clock.getAsLong());
                ticket = claims.add(claim);
                hosts.apply(claim, 1);
            } else {
                ticket = claims.lastQueued(); // perhaps another caller's, still on its way to the disk
            }
        }
        if (made) {
            journal(claim, ticket);
        } else {
            claims.sync(ticket);
        }
        return claim;
    }

    /**
     * Waits, without the lock, until the journal holds a claim just made: the decision is taken and the capacity
     * counted under the lock, so no other decision can use it, but heartbeats ({@link #update}) and other decisions
     * go on while it reaches the disk, and a burst of claims shares one fsync. Whoever acts on the claim (a create)
     * only learns of it from this method's caller, after it is on the disk: a crash before that loses a claim
     * nothing was built on. If the journal fails, the claim is withdrawn again.
     */
    private void journal(Claim claim, long ticket) {
        try {
            claims.sync(ticket);
        } catch (RuntimeException e) {
            long withdrawn = 0;
            synchronized (this) {
                applyReported();
                if (claims.get(claim.vmName()) == claim) {
                    withdrawn = claims.remove(claim.vmName());
                    hosts.apply(claim, -1);
                }
            }
            try {
                // The failed write may have left the claim's line in the journal: record its withdrawal if the disk
                // takes it now (if not, the next write rewrites the journal from memory, and a restart's recovery
                // drops a claim no VM holds).
                claims.sync(withdrawn);
            } catch (RuntimeException again) {
                e.addSuppressed(again);
            }
            throw e;
        }
    }

    /**
     * Gives back what a VM held (its creation failed, or it was deleted). Returns the claim, or null, once the
     * release is on the disk.
     */
    public Claim release(String vmName) {
        Claim c;
        long ticket;
        synchronized (this) {
            applyReported();
            c = claims.get(vmName);
            if (c == null) {
                return null;
            }
            ticket = claims.remove(vmName);
            hosts.apply(c, -1);
        }
        claims.sync(ticket);
        return c;
    }

    public synchronized Claim claimOf(String vmName) {
        applyReported();
        return claims.get(vmName);
    }

    public synchronized List<Claim> claims() {
        applyReported();
        return List.copyOf(claims.all());
    }

    /** Every known host's verdict for the request, without claiming anything. */
    public synchronized Explanation explain(Request r) {
        applyReported();
        return explain(r, filters, null);
    }

    /**
     * Every known host's verdict on taking {@code movingVm} (its request {@code r} under the name of a move's claim),
     * its own claim counted where it is now; with the N+1 policy, the reserve judged as after the move.
     */
    public synchronized Explanation explainMove(Request r, String movingVm) {
        applyReported();
        return explain(r, plainFilters, movingVm);
    }

    /**
     * Every known host's verdict on restarting a lost host's VM ({@code r} under the name of its new home's claim),
     * judged without the N+1 reserve: the reserve is the room kept for exactly this, and refusing a recovery to keep
     * it would leave the VM down to guard against a second loss.
     */
    public synchronized Explanation explainRecovery(Request r) {
        applyReported();
        return explain(r, plainFilters, null);
    }

    private Explanation explain(Request r, PlacementFilter[] judging, String movingVm) {
        // Every host judged, and the best chosen from the verdicts by the decision's rule (highest score,
        // ties by name; a NaN score never wins), without the index: the reference a decision must equal.
        ask.set(r, judging, hosts);
        List<Verdict> fitting = new ArrayList<>();
        List<Verdict> failing = new ArrayList<>();
        Verdict chosen = null;
        for (int i = 0; i < hosts.n; i++) {
            if (!hosts.known[i]) {
                continue;
            }
            Verdict v = verdict(i);
            if (v.fits() && movingVm != null && claims.get(movingVm) != null
                    && !hosts.names[i].equals(claims.get(movingVm).host())) {
                Optional<String> reserve = reserveRefusesMoveNow(movingVm, hosts.names[i]);
                if (reserve.isPresent()) {
                    v = new Verdict(hosts.names[i], false, "n-plus-one", reserve.get(), Double.NaN, Map.of());
                }
            }
            if (!v.fits()) {
                failing.add(v);
            } else if (v.score() >= (chosen == null ? Double.NEGATIVE_INFINITY : chosen.score())
                    && (chosen == null || v.score() > chosen.score() || v.host().compareTo(chosen.host()) < 0)) {
                if (chosen != null) {
                    fitting.add(chosen);
                }
                chosen = v;
            } else {
                fitting.add(v);
            }
        }
        fitting.sort(Comparator.comparingDouble(Verdict::score).reversed().thenComparing(Verdict::host));
        failing.sort(Comparator.comparing(Verdict::host));
        List<Verdict> all = new ArrayList<>(fitting.size() + failing.size() + 1);
        if (chosen != null) {
            all.add(chosen);
        }
        all.addAll(fitting);
        all.addAll(failing);
        return new Explanation(chosen == null ? null : chosen.host(), all);
    }

    /**
     * How many more VMs of the request fit, per host and in total, and what stops the next one on each host: what
     * placing them one by one would find. Without the reserve every host's count comes from its numbers at once;
     * with it ({@code keepReserve}), placement's decisions are played one by one on a copy, after the lock is
     * released (see {@link CapacityCounter}).
     */
    public Capacity capacity(Request r, boolean keepReserve) {
        return capacity(r, keepReserve, () -> false);
    }

    /**
     * As {@link #capacity(Request, boolean)}, stopped with {@link java.util.concurrent.CancellationException} once
     * {@code stop} says so (the caller hung up). A count keeping the reserve runs one at a time: it may take a core
     * for a while on a large fleet near its limit, next to heartbeats and moves, and a second caller is refused
     * at once rather than queued.
     *
     * @throws CountBusyException another count keeping the reserve is running
     */
    public Capacity capacity(Request r, boolean keepReserve, BooleanSupplier stop) {
        if (keepReserve && !counting.tryAcquire()) {
            throw new CountBusyException();
        }
        try {
            CapacityCounter counter;
            synchronized (this) {
                applyReported();
                counter = new CapacityCounter(hosts, plainFilters, r, keepReserve);
            }
            return counter.count(stop);
        } finally {
            if (keepReserve) {
                counting.release();
            }
        }
    }

    /** Another count keeping the N+1 reserve is running ({@link #capacity(Request, boolean, BooleanSupplier)}). */
    public static final class CountBusyException extends RuntimeException {
        CountBusyException() {
            super("another capacity count keeping the N+1 reserve is running (one at a time): try again when it ends");
        }
    }

    /**
     * With the N+1 policy: why moving a VM from the host its claim is on to {@code toHost} would leave some host's
     * Ceph-backed VMs without room to restart elsewhere, e.g. "after this move, hv2's 5 Ceph-backed VMs (48.0 GiB,
     * 20 vCPUs) could not all restart elsewhere: 40.0 GiB of memory free on the other ready hosts (48.0 GiB
     * needed)". Empty when the reserve would hold, or the policy keeps none. The VM's own claim counts on its
     * current host until the move, and on {@code toHost} after it.
     *
     * @throws IllegalArgumentException if the VM holds no claim or the host was never seen
     */
    public synchronized Optional<String> reserveRefusesMove(String vmName, String toHost) {
        applyReported();
        return reserveRefusesMoveNow(vmName, toHost);
    }

    /** {@link #reserveRefusesMove} inside a section that applied the waiting reports on entry. */
    private Optional<String> reserveRefusesMoveNow(String vmName, String toHost) {
        Claim c = claims.get(vmName);
        if (c == null) {
            throw new IllegalArgumentException("VM " + vmName + " holds no claim");
        }
        int to = hosts.slotOf(toHost);
        if (to < 0) {
            throw new IllegalArgumentException("no host named " + toHost + " is known to placement");
        }
        int from = hosts.slotOf(c.host());
        if (hosts.reserve == null || to == from) {
            return Optional.empty(); // no reserve kept, or nothing moves
        }
        Reserve.Shortfall s = hosts.reserve.check(to, c, from, hosts.returningTiers(from));
        return s == null ? Optional.empty() : Optional.of("after this move, " + s.text());
    }

    /** Promised memory, vCPUs and raw bytes on a host (for display and tests). */
    public synchronized long[] allocated(String host) {
        applyReported();
        int i = hosts.slotOf(host);
        return i < 0 ? new long[3]
                : new long[] {hosts.memoryAllocated[i], hosts.vcpusAllocated[i], hosts.rawAllocated[i]};
    }

    // ---- the fast path -------------------------------------------------------------------------------

    /**
     * The best host's slot, or -1: the highest score among hosts that pass every filter, ties by name. No
     * allocation.
     */
    private int best(Request r) {
        ask.set(r, filters, hosts);
        search.start(r);
        BoundIndex index = hosts.byBound;
        if (r.pinnedHost() != null || (r.failoverAddress() != null && !failover.movable())) {
            // The pinned filter, and the failover filter on static routes, pass one host at most: judge that one.
            int only = candidate(r);
            if (only >= 0) {
                search.judgeOne(only);
            }
        } else if (index == null || r.memoryBytes() < 0 || r.vcpus() < 0
                || !index.walk(ask.required, r.memoryBytes(), r.vcpus(), search, WALK_BUDGET + hosts.n / 32)) {
            // Pack, a request outside what the index's bounds assume (never from a validated spec), or one the
            // index could not narrow down within its budget: one pass over every host. Hosts the walk judged
            // already are judged again, which changes nothing.
            search.judgeAll(hosts.n);
        }
        return search.bestSlot;
    }

    /** Hosts judged by decisions so far, pinned ones included (for tests that the index prunes). */
    synchronized long hostsJudged() {
        applyReported();
        return search.judged;
    }

    /** One decision: runs the ask's filters and the score on the hosts it is given, keeps the best. */
    private final class Search implements BoundIndex.Judge {
        long memory;
        int vcpus;
        int bestSlot;
        double bestScore;
        long judged;

        void start(Request r) {
            memory = r.memoryBytes();
            vcpus = r.vcpus();
            bestSlot = -1;
            bestScore = Double.NEGATIVE_INFINITY;
        }

        @Override
        public double judge(int[] slots, int count) {
            for (int j = 0; j < count; j++) {
                consider(slots[j]);
            }
            judged += count;
            return bestScore;
        }

        void judgeOne(int i) {
            consider(i);
            judged++;
        }

        /** Judges slots {@code 0 .. count - 1}: the plain pass. */
        void judgeAll(int count) {
            for (int i = 0; i < count; i++) {
                consider(i);
            }
            judged += count;
        }

        /**
         * Makes slot {@code i} the best so far if it passes every filter and its score beats it, or ties it with a
         * smaller name. The filters that look beyond the host (the N+1 reserve) run only for a host that would win.
         */
        private void consider(int i) {
            PlacementFilter[] active = ask.filters;
            int cheap = ask.cheap;
            for (int k = 0; k < cheap; k++) {
                if (!active[k].fits(hosts, i, ask)) {
                    return;
                }
            }
            double score = hosts.score(i, memory, vcpus);
            if (score >= bestScore
                    && (score > bestScore || bestSlot < 0 || hosts.names[i].compareTo(hosts.names[bestSlot]) < 0)) {
                for (int k = cheap, count = ask.count; k < count; k++) {
                    if (!active[k].fits(hosts, i, ask)) {
                        return;
                    }
                }
                bestSlot = i;
                bestScore = score;
            }
        }
    }

    /** The one slot a pinned or failover request may use, or -1 if there is none. */
    private int candidate(Request r) {
        int only = -1;
        if (r.pinnedHost() != null) {
            only = hosts.slotOf(r.pinnedHost());
            if (only < 0) {
                return -1;
            }
        }
        if (r.failoverAddress() != null && !failover.movable()) {
            String routed = failover.onlyHost(r.failoverAddress());
            int i = routed == null ? -1 : hosts.slotOf(routed);
            if (i < 0 || (only >= 0 && only != i)) {
                return -1;
            }
            only = i;
        }
        return only;
    }

    // ---- the explanation -----------------------------------------------------------------------------

    /** The host's verdict on the request in {@link #ask}: the first filter it fails and why, or its score. */
    private Verdict verdict(int i) {
        String name = hosts.names[i];
        for (int k = 0; k < ask.count; k++) {
            PlacementFilter f = ask.filters[k];
            if (!f.fits(hosts, i, ask)) {
                return new Verdict(name, false, f.name(), f.reason(hosts, i, ask), Double.NaN, Map.of());
            }
        }
        Request r = ask.request;
        double load = hosts.loadPart(i);
        double memory = hosts.memoryPart(i, r.memoryBytes());
        double vcpu = hosts.vcpuPart(i, r.vcpus());
        double score = Fit.score(hosts.weights, load, memory, vcpu);
        Map<String, Double> parts = new LinkedHashMap<>();
        parts.put("load", load);
        parts.put("memory", memory);
        parts.put("vcpus", vcpu);
        StringBuilder why = reasonText;
        why.setLength(0);
        why.append(policy.strategy() == Policy.Strategy.PACK ? "pack" : "spread").append(" score ");
        Decimals.append(why, score, 3).append(" (free shares: load ");
        Decimals.append(why, load, 2).append(", memory ");
        Decimals.append(why, memory, 2).append(", vCPUs ");
        Decimals.append(why, vcpu, 2).append(')');
        return new Verdict(name, true, null, why.toString(), score, parts);
    }
}
