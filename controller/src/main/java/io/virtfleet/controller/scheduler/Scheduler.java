package io.virtfleet.controller.scheduler;

import io.virtfleet.common.units.Bytes;
import io.virtfleet.proto.v1.HostState;
import io.virtfleet.proto.v1.StorageTier;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.Formatter;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeSet;
import java.util.function.LongSupplier;

/**
 * Places VMs on hosts: filters say why a host cannot take a VM, scorers rank those that can, and a decision
 * claims the capacity before it returns, so concurrent creates can never overcommit a host. Thread-safe: every
 * method runs under this object's lock, which a decision holds for microseconds; the claims journal's fsync comes
 * after the lock is released (see {@link #journal}), so heartbeats never wait for the disk.
 *
 * <p>Hosts live in arrays updated in place on each report. At 10,000 hosts a decision must take well under a
 * millisecond, and one pass over every host was too slow for the 20,000 decisions/s asked of it, so a spread
 * decision judges only the hosts that may win: {@link BoundIndex} files each host that can take a VM by shape
 * and by score, and visits them best bound first until none left can reach the best score found. A pack
 * decision still judges every host in one pass (the index would not help it, see there). Either way it is
 * exact: the best-scoring host that passes every filter, ties by name. The explanation ({@link #explain}) is
 * the reference: it judges every host with the same filter and score methods, adding the reasons and
 * numbers, and picks its best host from those verdicts; tests check that both always agree.
 *
 * <p>Filters, in order: {@code state} (ready only), {@code pinned}, {@code failover} (the host the IP is
 * routed to), {@code storage} (tier served), {@code memory} (promised + request ≤ total × ratio),
 * {@code vcpus} (promised + request ≤ threads × overcommit), {@code raw-space} (a raw disk fits the images
 * directory), {@code spread-group} (no other member of the group on the host).
 */
public final class Scheduler {
    private final Policy policy;
    private final Map<String, String> failoverRoutes;
    private final ClaimBook claims;
    private final LongSupplier clock;
    private final Fit.Weights weights;

    private final Map<String, Integer> index = new HashMap<>();
    private int n;
    private String[] names = new String[0];
    private boolean[] known = new boolean[0];
    private boolean[] usable = new boolean[0];
    private HostState[] states = new HostState[0];
    private int[] threads = new int[0];
    private long[] memoryTotal = new long[0];
    private long[] memoryAvailable = new long[0];
    private long[] memoryLimit = new long[0];
    private double[] vcpuLimit = new double[0];
    private double[] loadPart = new double[0];
    /** Per-host constants of the score, so a decision does no division. */
    private double[] halfMeasuredUse = new double[0];
    private double[] halfInverseMemoryLimit = new double[0];
    private double[] inverseVcpuLimit = new double[0];
    private int[] tierMask = new int[0];
    private long[] imagesFree = new long[0];
    private long[] imagesTotal = new long[0];
    /** Promised through claims plus used by running VMs placement did not place. */
    private long[] memoryAllocated = new long[0];
    private long[] vcpusAllocated = new long[0];
    private long[] unmanagedMemory = new long[0];
    private long[] unmanagedVcpus = new long[0];
    private long[] rawAllocated = new long[0];
    /**
     * What a decision reads, interleaved per host (one 72-byte record each, mostly one cache line), derived
     * from the arrays above by {@link #refresh} whenever they change: judging a host is then one record read,
     * with no division. Byte counts are exact as doubles (below 2^53).
     */
    private double[] hot = new double[0];
    private static final int STRIDE = 9;
    /** A bit of a host's tier mask beside the storage tiers': the host has the Debian installer's files. */
    private static final int INSTALLER = 1 << 16;
    private static final int ELIGIBLE_TIERS = 0; // tier bits (and INSTALLER), 0 when the host is not ready
    private static final int MEMORY_FREE = 1;     // limit - promised
    private static final int VCPUS_FREE = 2;      // limit - promised
    private static final int RAW_FREE = 3;        // min(images free, images size - promised to raw disks)
    private static final int LOAD = 4;            // score part, 0..1
    private static final int MEMORY_BASE = 5;     // memory score: 1 - min(1, base + request × slope)
    private static final int MEMORY_SLOPE = 6;
    private static final int VCPU_BASE = 7;       // vCPU score: 1 - min(1, base + request × slope)
    private static final int VCPU_SLOPE = 8;
    /** Per spread group, how many of its members each host slot holds. */
    private final Map<String, int[]> groupMembers = new HashMap<>();
    /** The hosts that may take a VM, for spread decisions to visit best first (see {@link #refresh}); null for pack. */
    private final BoundIndex byBound;
    /** Per slot: its shape in {@link #byBound}, and the loose shape of its tiers (-1 before its first report). */
    private int[] shape = new int[0];
    private int[] looseShape = new int[0];
    /**
     * Buckets a decision may visit in {@link #byBound}, plus one per 32 hosts, before it judges every host
     * instead: a safety net for fleets where the hosts with the best scores mostly fail a filter. On the
     * benchmark's fleet no decision needs more than about 100 buckets at 10,000 hosts (a budget of 376).
     */
    private static final int WALK_BUDGET = 64;
    /** The decision in progress: every method holds the lock, so one is enough. */
    private final Search search = new Search();
    /**
     * Writes a fitting host's reason, as {@code String.format} would: one formatter kept rather than one per
     * verdict, which would build its locale's number symbols anew each time (a good part of a decision).
     */
    private final StringBuilder reasonText = new StringBuilder();
    private final Formatter reasons = new Formatter(reasonText, Locale.ROOT);

    /**
     * @param failoverRoutes failover IP address → the host OVH routes it to
     * @param clock          wall clock in Unix milliseconds, stamped on claims
     */
    public Scheduler(Policy policy, Map<String, String> failoverRoutes, ClaimBook claims, LongSupplier clock) {
        this.policy = policy;
        this.failoverRoutes = Map.copyOf(failoverRoutes);
        this.claims = claims;
        this.clock = clock;
        this.weights = Fit.Weights.of(policy);
        this.byBound = weights.pack() ? null : new BoundIndex(weights);
        for (Claim c : claims.all()) {
            apply(c, slot(c.host()), 1);
        }
    }

    public Policy policy() {
        return policy;
    }

    /** Takes a host's latest report. A host seen for the first time is added. */
    public synchronized void update(HostSnapshot s) {
        int i = slot(s.name());
        long oldMemoryLimit = memoryLimit[i];
        double oldVcpuLimit = vcpuLimit[i];
        int oldMask = tierMask[i];
        known[i] = true;
        states[i] = s.state();
        usable[i] = s.state() == HostState.HOST_STATE_READY;
        threads[i] = Math.max(1, s.threads());
        memoryTotal[i] = s.memoryTotal();
        memoryAvailable[i] = s.memoryAvailable();
        memoryLimit[i] = Fit.memoryLimit(s.memoryTotal(), policy.memoryRatio());
        vcpuLimit[i] = Fit.vcpuLimit(threads[i], policy.vcpuOvercommit());
        loadPart[i] = Fit.loadPart(s.load1(), threads[i]);
        halfMeasuredUse[i] = Fit.halfMeasuredUse(s.memoryTotal(), s.memoryAvailable());
        halfInverseMemoryLimit[i] = Fit.halfInverse(memoryLimit[i]);
        inverseVcpuLimit[i] = Fit.inverse(vcpuLimit[i]);
        int mask = 0;
        for (StorageTier t : s.tiers()) {
            mask |= tierBit(t);
        }
        if (s.installer()) {
            mask |= INSTALLER;
        }
        tierMask[i] = mask;
        if (byBound != null && (shape[i] < 0 || mask != oldMask || memoryLimit[i] != oldMemoryLimit
                || vcpuLimit[i] != oldVcpuLimit)) {
            // A new host, or one with new hardware or tiers: most reports change neither, so skip the look-ups.
            shape[i] = byBound.shape(mask, memoryLimit[i], vcpuLimit[i], halfInverseMemoryLimit[i], inverseVcpuLimit[i]);
            looseShape[i] = byBound.looseShape(mask);
        }
        imagesFree[i] = s.imagesFree();
        imagesTotal[i] = s.imagesTotal();
        long mem = 0;
        long cpus = 0;
        for (HostSnapshot.RunningDomain d : s.runningDomains()) {
            Claim c = claims.get(d.name());
            if (c == null || !c.host().equals(s.name())) {
                mem += d.memoryBytes();
                cpus += d.vcpus();
            }
        }
        memoryAllocated[i] += mem - unmanagedMemory[i];
        vcpusAllocated[i] += cpus - unmanagedVcpus[i];
        unmanagedMemory[i] = mem;
        unmanagedVcpus[i] = cpus;
        refresh(i);
    }

    /** A state change judged by the controller (e.g. unreachable after missed heartbeats). */
    public synchronized void setState(String host, HostState state) {
        Integer i = index.get(host);
        if (i != null) {
            states[i] = state;
            usable[i] = known[i] && state == HostState.HOST_STATE_READY;
            refresh(i);
        }
    }

    /** The host is no longer part of the fleet; claims on it stay until their VMs are deleted. */
    public synchronized void forget(String host) {
        Integer i = index.get(host);
        if (i != null) {
            known[i] = false;
            usable[i] = false;
            refresh(i);
        }
    }

    /**
     * Chooses a host for the VM and claims the capacity on it, or says why no host fits. Returns once the claim
     * is in the journal on the disk; the lock is not held meanwhile (see {@link #journal}).
     *
     * @throws IllegalStateException if the VM already holds a claim
     * @throws java.io.UncheckedIOException if the journal cannot record the claim (then nothing is claimed)
     */
    public Decision place(Request r) {
        Decision decision;
        long ticket;
        synchronized (this) {
            if (claims.get(r.vmName()) != null) {
                throw new IllegalStateException("VM " + r.vmName() + " already holds a claim on " + claims.get(r.vmName()).host());
            }
            int best = best(r);
            if (best < 0) {
                return new Decision(null, null, explain(r));
            }
            Claim claim = Claim.of(r, names[best], clock.getAsLong());
            Verdict chosen = verdict(best, r);
            ticket = claims.add(claim);
            apply(claim, best, 1);
            decision = new Decision(claim, chosen, null);
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
        synchronized (this) {
            Claim existing = claims.get(r.vmName());
            if (existing != null) {
                return existing;
            }
            claim = Claim.of(r, host, clock.getAsLong());
            ticket = claims.add(claim);
            apply(claim, slot(host), 1);
        }
        journal(claim, ticket);
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
            synchronized (this) {
                if (claims.get(claim.vmName()) == claim) {
                    claims.remove(claim.vmName());
                    apply(claim, slot(claim.host()), -1);
                }
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
            c = claims.get(vmName);
            if (c == null) {
                return null;
            }
            ticket = claims.remove(vmName);
            apply(c, slot(c.host()), -1);
        }
        claims.sync(ticket);
        return c;
    }

    public synchronized Claim claimOf(String vmName) {
        return claims.get(vmName);
    }

    public synchronized List<Claim> claims() {
        return List.copyOf(claims.all());
    }

    /** Every known host's verdict for the request, without claiming anything. */
    public synchronized Explanation explain(Request r) {
        // Every host judged, and the best chosen from the verdicts by the decision's rule (highest score,
        // ties by name; a NaN score never wins), without the bound index: the reference a decision must equal.
        List<Verdict> fitting = new ArrayList<>();
        List<Verdict> failing = new ArrayList<>();
        Verdict chosen = null;
        for (int i = 0; i < n; i++) {
            if (!known[i]) {
                continue;
            }
            Verdict v = verdict(i, r);
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

    /** Promised memory, vCPUs and raw bytes on a host (for display and tests). */
    public synchronized long[] allocated(String host) {
        Integer i = index.get(host);
        return i == null ? new long[3] : new long[] {memoryAllocated[i], vcpusAllocated[i], rawAllocated[i]};
    }

    // ---- the fast path -------------------------------------------------------------------------------

    /**
     * The best host's slot, or -1: the highest score among hosts that pass every filter, ties by name. No
     * allocation.
     */
    private int best(Request r) {
        search.start(r);
        if (r.pinnedHost() != null || r.failoverAddress() != null) {
            int only = candidate(r);
            if (only >= 0) {
                search.judgeOne(only);
            }
        } else if (byBound == null || r.memoryBytes() < 0 || r.vcpus() < 0
                || !byBound.walk(search.tierBit, r.memoryBytes(), r.vcpus(), search, WALK_BUDGET + n / 32)) {
            // Pack, a request outside what the index's bounds assume (never from a validated spec), or one the
            // index could not narrow down within its budget: one pass over every host. Hosts the walk judged
            // already are judged again, which changes nothing.
            search.judgeAll(n);
        }
        return search.bestSlot;
    }

    /** Hosts judged by decisions so far, pinned ones included (for tests that the index prunes). */
    synchronized long hostsJudged() {
        return search.judged;
    }

    /** One decision's filters and the best host found so far. */
    private final class Search implements BoundIndex.Judge {
        int tierBit; // every bit a host must serve: see required()
        long memory;
        int vcpus;
        long raw;
        int[] group;
        int bestSlot;
        double bestScore;
        long judged;

        void start(Request r) {
            tierBit = required(r);
            memory = r.memoryBytes();
            vcpus = r.vcpus();
            raw = r.rawBytes();
            group = r.spreadGroup() == null ? null : groupMembers.get(r.spreadGroup());
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

        /** Makes slot {@code i} the best so far if it fits and its score beats it, or ties it with a smaller name. */
        private void consider(int i) {
            int b = i * STRIDE;
            // Non-short-circuit '&' and a score computed for every host: whether a host fits is a coin toss
            // for the branch predictor, the comparison with the best score so far seldom true.
            boolean fits = servesTier(b, tierBit) & memoryFits(b, memory) & vcpusFit(b, vcpus) & rawFits(b, raw)
                    & (group == null || group[i] <= 0);
            double score = Fit.score(weights, hot[b + LOAD], memoryPart(b, memory), vcpuPart(b, vcpus));
            if (fits & score >= bestScore) {
                if (score > bestScore || bestSlot < 0 || names[i].compareTo(names[bestSlot]) < 0) {
                    bestSlot = i;
                    bestScore = score;
                }
            }
        }
    }

    /** The one slot a pinned or failover request may use, or -1 if there is none. */
    private int candidate(Request r) {
        int only = -1;
        if (r.pinnedHost() != null) {
            Integer i = index.get(r.pinnedHost());
            if (i == null) {
                return -1;
            }
            only = i;
        }
        if (r.failoverAddress() != null) {
            String routed = failoverRoutes.get(r.failoverAddress());
            Integer i = routed == null ? null : index.get(routed);
            if (i == null || (only >= 0 && only != i)) {
                return -1;
            }
            only = i;
        }
        return only;
    }

    // ---- the explanation -----------------------------------------------------------------------------

    private Verdict verdict(int i, Request r) {
        String name = names[i];
        int b = i * STRIDE;
        if (!usable[i]) {
            return fail(name, "state", "host is " + stateWord(states[i]) + ", only ready hosts take new VMs");
        }
        if (r.pinnedHost() != null && !r.pinnedHost().equals(name)) {
            return fail(name, "pinned", "the VM is pinned to " + r.pinnedHost()
                    + (index.containsKey(r.pinnedHost()) ? "" : ", which is not a known host"));
        }
        if (r.failoverAddress() != null) {
            String routed = failoverRoutes.get(r.failoverAddress());
            if (routed == null) {
                return fail(name, "failover", "failover IP " + r.failoverAddress() + " is not routed to any host"
                        + " (attach it to a server at OVH, then list it in the controller's failover-routes)");
            }
            if (!routed.equals(name)) {
                return fail(name, "failover", "failover IP " + r.failoverAddress() + " is routed to " + routed);
            }
        }
        if (!servesTier(b, tierBit(r.storage()))) {
            return fail(name, "storage", "does not serve storage tier " + tierWord(r.storage()) + " (serves: "
                    + tiersOf(tierMask[i]) + ")");
        }
        if (!servesTier(b, required(r))) {
            return fail(name, "installer", "has no Debian installer files, which the VM boots (boot-mode kernel):"
                    + " install debian-installer-12-netboot-amd64 there or set its agent's installer-dir");
        }
        if (!memoryFits(b, r.memoryBytes())) {
            return fail(name, "memory", "needs " + Bytes.human(r.memoryBytes()) + ": " + Bytes.human(memoryAllocated[i])
                    + " promised + " + Bytes.human(r.memoryBytes()) + " > " + Bytes.human(memoryLimit[i]) + " ("
                    + Bytes.human(memoryTotal[i]) + " × " + num(policy.memoryRatio()) + ")");
        }
        if (!vcpusFit(b, r.vcpus())) {
            return fail(name, "vcpus", "needs " + r.vcpus() + " vCPUs: " + vcpusAllocated[i] + " promised + " + r.vcpus()
                    + " > " + num(vcpuLimit[i]) + " (" + threads[i] + " threads × " + num(policy.vcpuOvercommit()) + ")");
        }
        if (!rawFits(b, r.rawBytes())) {
            return fail(name, "raw-space", r.rawBytes() > imagesFree[i]
                    ? "needs " + Bytes.human(r.rawBytes()) + " for the raw disk, " + Bytes.human(imagesFree[i])
                            + " free in the images directory"
                    : "needs " + Bytes.human(r.rawBytes()) + ": " + Bytes.human(rawAllocated[i]) + " promised to raw disks + "
                            + Bytes.human(r.rawBytes()) + " > " + Bytes.human(imagesTotal[i]) + " in the images directory");
        }
        int[] group = r.spreadGroup() == null ? null : groupMembers.get(r.spreadGroup());
        if (group != null && group[i] > 0) {
            return fail(name, "spread-group", "already holds " + group[i] + (group[i] == 1 ? " VM" : " VMs")
                    + " of spread group " + r.spreadGroup());
        }
        double load = hot[b + LOAD];
        double memory = memoryPart(b, r.memoryBytes());
        double vcpu = vcpuPart(b, r.vcpus());
        double score = Fit.score(weights, load, memory, vcpu);
        Map<String, Double> parts = new LinkedHashMap<>();
        parts.put("load", load);
        parts.put("memory", memory);
        parts.put("vcpus", vcpu);
        reasonText.setLength(0);
        String why = reasons.format("%s score %.3f (free shares: load %.2f, memory %.2f, vCPUs %.2f)",
                policy.strategy() == Policy.Strategy.PACK ? "pack" : "spread", score, load, memory, vcpu).toString();
        return new Verdict(name, true, null, why, score, parts);
    }

    private static Verdict fail(String host, String filter, String reason) {
        return new Verdict(host, false, filter, reason, Double.NaN, Map.of());
    }

    // ---- bookkeeping ---------------------------------------------------------------------------------

    private void apply(Claim c, int i, int sign) {
        memoryAllocated[i] += sign * c.memoryBytes();
        vcpusAllocated[i] += sign * (long) c.vcpus();
        rawAllocated[i] += sign * c.rawBytes();
        if (c.spreadGroup() != null) {
            int[] members = groupMembers.computeIfAbsent(c.spreadGroup(), g -> new int[names.length]);
            members[i] += sign;
        }
        refresh(i);
    }

    private void refresh(int i) {
        int b = i * STRIDE;
        hot[b + ELIGIBLE_TIERS] = usable[i] ? tierMask[i] : 0;
        hot[b + MEMORY_FREE] = memoryLimit[i] - memoryAllocated[i];
        hot[b + VCPUS_FREE] = vcpuLimit[i] - vcpusAllocated[i];
        hot[b + RAW_FREE] = Math.min(imagesFree[i], imagesTotal[i] - rawAllocated[i]);
        hot[b + LOAD] = loadPart[i];
        hot[b + MEMORY_BASE] = halfMeasuredUse[i] + memoryAllocated[i] * halfInverseMemoryLimit[i];
        hot[b + MEMORY_SLOPE] = halfInverseMemoryLimit[i];
        hot[b + VCPU_BASE] = vcpusAllocated[i] * inverseVcpuLimit[i];
        hot[b + VCPU_SLOPE] = inverseVcpuLimit[i];
        if (byBound == null) {
            return;
        }
        if (hot[b + ELIGIBLE_TIERS] == 0 || hot[b + MEMORY_FREE] < 0 || hot[b + VCPUS_FREE] < 0) {
            // Not ready, forgotten, serving no tier, or over its limits: it fits no request of a size >= 0.
            byBound.remove(i);
        } else {
            byBound.put(i, linear(b) ? shape[i] : looseShape[i],
                    Fit.score(weights, hot[b + LOAD], memoryPart(b, 0), vcpuPart(b, 0)));
        }
    }

    /**
     * Whether the host's score falls exactly with a request's size, as {@link BoundIndex} assumes for hosts
     * filed by shape: its load share is within [0, 1] and its used shares within [0, 1] (to rounding) for
     * any request it fits, however large, so neither is ever clamped. True of any host that reports sane
     * numbers (available memory not above the total nor below 0, nothing promised below 0); a host that is
     * not goes to a loose shape, so is still judged exactly, only pruned less.
     */
    private boolean linear(int b) {
        double load = hot[b + LOAD];
        double memoryBase = hot[b + MEMORY_BASE];
        double vcpuBase = hot[b + VCPU_BASE];
        return load >= 0 && load <= 1 && memoryBase >= 0 && vcpuBase >= 0
                && memoryBase + hot[b + MEMORY_FREE] * hot[b + MEMORY_SLOPE] <= 1 + 1e-12
                && vcpuBase + hot[b + VCPUS_FREE] * hot[b + VCPU_SLOPE] <= 1 + 1e-12;
    }

    // The filters and the score as the decision and the explanation both apply them.

    /** Whether the host serves every bit of {@code bits}: a storage tier, and the installer if asked for. */
    private boolean servesTier(int b, int bits) {
        return ((int) hot[b + ELIGIBLE_TIERS] & bits) == bits;
    }

    private boolean memoryFits(int b, long request) {
        return request <= hot[b + MEMORY_FREE];
    }

    private boolean vcpusFit(int b, int request) {
        return request <= hot[b + VCPUS_FREE];
    }

    private boolean rawFits(int b, long request) {
        return request <= hot[b + RAW_FREE] | request == 0;
    }

    private double memoryPart(int b, long request) {
        double used = hot[b + MEMORY_BASE] + request * hot[b + MEMORY_SLOPE];
        return used < 1 ? 1 - used : 0;
    }

    private double vcpuPart(int b, int request) {
        double used = hot[b + VCPU_BASE] + request * hot[b + VCPU_SLOPE];
        return used < 1 ? 1 - used : 0;
    }

    /** The slot of a host, created (unknown, unusable) if needed. */
    private int slot(String host) {
        Integer existing = index.get(host);
        if (existing != null) {
            return existing;
        }
        if (n == names.length) {
            grow(Math.max(16, n * 2));
        }
        int i = n++;
        names[i] = host;
        states[i] = HostState.HOST_STATE_UNREACHABLE;
        threads[i] = 1;
        shape[i] = -1;
        looseShape[i] = -1;
        index.put(host, i);
        return i;
    }

    private void grow(int size) {
        names = Arrays.copyOf(names, size);
        known = Arrays.copyOf(known, size);
        usable = Arrays.copyOf(usable, size);
        states = Arrays.copyOf(states, size);
        threads = Arrays.copyOf(threads, size);
        memoryTotal = Arrays.copyOf(memoryTotal, size);
        memoryAvailable = Arrays.copyOf(memoryAvailable, size);
        memoryLimit = Arrays.copyOf(memoryLimit, size);
        vcpuLimit = Arrays.copyOf(vcpuLimit, size);
        loadPart = Arrays.copyOf(loadPart, size);
        halfMeasuredUse = Arrays.copyOf(halfMeasuredUse, size);
        halfInverseMemoryLimit = Arrays.copyOf(halfInverseMemoryLimit, size);
        inverseVcpuLimit = Arrays.copyOf(inverseVcpuLimit, size);
        hot = Arrays.copyOf(hot, size * STRIDE);
        if (byBound != null) {
            byBound.grow(size);
        }
        shape = Arrays.copyOf(shape, size);
        looseShape = Arrays.copyOf(looseShape, size);
        tierMask = Arrays.copyOf(tierMask, size);
        imagesFree = Arrays.copyOf(imagesFree, size);
        imagesTotal = Arrays.copyOf(imagesTotal, size);
        memoryAllocated = Arrays.copyOf(memoryAllocated, size);
        vcpusAllocated = Arrays.copyOf(vcpusAllocated, size);
        unmanagedMemory = Arrays.copyOf(unmanagedMemory, size);
        unmanagedVcpus = Arrays.copyOf(unmanagedVcpus, size);
        rawAllocated = Arrays.copyOf(rawAllocated, size);
        groupMembers.replaceAll((g, members) -> Arrays.copyOf(members, size));
    }

    private static int tierBit(StorageTier t) {
        return 1 << t.getNumber();
    }

    /** What a host must serve for the request: its storage tier, and the installer's files if it boots them. */
    private static int required(Request r) {
        return tierBit(r.storage()) | (r.needsInstaller() ? INSTALLER : 0);
    }

    static String tierWord(StorageTier t) {
        return t.name().substring("STORAGE_TIER_".length()).toLowerCase(Locale.ROOT);
    }

    private static String tiersOf(int mask) {
        TreeSet<String> out = new TreeSet<>();
        for (StorageTier t : StorageTier.values()) {
            if (t != StorageTier.UNRECOGNIZED && (mask & tierBit(t)) != 0) {
                out.add(tierWord(t));
            }
        }
        return out.isEmpty() ? "none" : String.join(", ", out);
    }

    private static String stateWord(HostState s) {
        return s == null ? "unknown" : s.name().substring("HOST_STATE_".length()).toLowerCase(Locale.ROOT);
    }

    private static String num(double d) {
        return d == Math.rint(d) ? String.format(Locale.ROOT, "%.1f", d) : String.format(Locale.ROOT, "%.2f", d);
    }
}
