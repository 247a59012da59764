package io.virtfleet.controller.scheduler;

import io.virtfleet.common.units.Bytes;
import io.virtfleet.proto.v1.HostState;
import io.virtfleet.proto.v1.StorageTier;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeSet;
import java.util.function.LongSupplier;

/**
 * The scheduler as it was before the bound index ({@link Scheduler} at commit 574de34: one pass over every host
 * per decision), kept unchanged in test code only so that {@code PlacementBench} measures before and after in
 * the same JMH run. Not used by the product; delete it once nobody needs the comparison.
 */
public final class OnePassScheduler {
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
     * from the arrays above by {@link #refresh} whenever they change: the pass over 10,000 hosts is then a
     * linear read of memory, with no division. Byte counts are exact as doubles (below 2^53).
     */
    private double[] hot = new double[0];
    private static final int STRIDE = 9;
    private static final int ELIGIBLE_TIERS = 0; // tier bits, 0 when the host is not ready
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

    /**
     * @param failoverRoutes failover IP address → the host OVH routes it to
     * @param clock          wall clock in Unix milliseconds, stamped on claims
     */
    public OnePassScheduler(Policy policy, Map<String, String> failoverRoutes, ClaimBook claims, LongSupplier clock) {
        this.policy = policy;
        this.failoverRoutes = Map.copyOf(failoverRoutes);
        this.claims = claims;
        this.clock = clock;
        this.weights = Fit.Weights.of(policy);
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
        tierMask[i] = mask;
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
     * Chooses a host for the VM and claims the capacity on it, or says why no host fits.
     *
     * @throws IllegalStateException if the VM already holds a claim
     */
    public synchronized Decision place(Request r) {
        if (claims.get(r.vmName()) != null) {
            throw new IllegalStateException("VM " + r.vmName() + " already holds a claim on " + claims.get(r.vmName()).host());
        }
        int best = best(r);
        if (best < 0) {
            return new Decision(null, null, explain(r));
        }
        Claim claim = Claim.of(r, names[best], clock.getAsLong());
        Verdict chosen = verdict(best, r);
        claims.add(claim);
        apply(claim, best, 1);
        return new Decision(claim, chosen, null);
    }

    /**
     * Claims capacity for a VM that already lives on a host (its claim was lost), without judging the host:
     * the VM is there whatever the filters would say now.
     */
    public synchronized Claim restore(Request r, String host) {
        Claim existing = claims.get(r.vmName());
        if (existing != null) {
            return existing;
        }
        Claim claim = Claim.of(r, host, clock.getAsLong());
        claims.add(claim);
        apply(claim, slot(host), 1);
        return claim;
    }

    /** Gives back what a VM held (its creation failed, or it was deleted). Returns the claim, or null. */
    public synchronized Claim release(String vmName) {
        Claim c = claims.get(vmName);
        if (c != null) {
            claims.remove(vmName);
            apply(c, slot(c.host()), -1);
        }
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
        int best = best(r);
        List<Verdict> fitting = new ArrayList<>();
        List<Verdict> failing = new ArrayList<>();
        Verdict chosen = null;
        for (int i = 0; i < n; i++) {
            if (!known[i]) {
                continue;
            }
            Verdict v = verdict(i, r);
            if (i == best) {
                chosen = v;
            } else if (v.fits()) {
                fitting.add(v);
            } else {
                failing.add(v);
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
        return new Explanation(best < 0 ? null : names[best], all);
    }

    /** Promised memory, vCPUs and raw bytes on a host (for display and tests). */
    public synchronized long[] allocated(String host) {
        Integer i = index.get(host);
        return i == null ? new long[3] : new long[] {memoryAllocated[i], vcpusAllocated[i], rawAllocated[i]};
    }

    // ---- the fast path -------------------------------------------------------------------------------

    /** The best host's slot, or -1. One pass, no allocation. */
    private int best(Request r) {
        int from = 0;
        int to = n;
        if (r.pinnedHost() != null || r.failoverAddress() != null) {
            int only = candidate(r);
            if (only < 0) {
                return -1;
            }
            from = only;
            to = only + 1;
        }
        int bit = tierBit(r.storage());
        long mem = r.memoryBytes();
        int cpus = r.vcpus();
        long raw = r.rawBytes();
        int[] group = r.spreadGroup() == null ? null : groupMembers.get(r.spreadGroup());
        int best = -1;
        double bestScore = Double.NEGATIVE_INFINITY;
        for (int i = from; i < to; i++) {
            int b = i * STRIDE;
            // Non-short-circuit '&' and a score computed for every host: whether a host fits is a coin toss
            // for the branch predictor, the comparison with the best score so far almost never true.
            boolean fits = servesTier(b, bit) & memoryFits(b, mem) & vcpusFit(b, cpus) & rawFits(b, raw)
                    & (group == null || group[i] <= 0);
            double score = Fit.score(weights, hot[b + LOAD], memoryPart(b, mem), vcpuPart(b, cpus));
            if (fits & score >= bestScore) {
                if (score > bestScore || names[i].compareTo(names[best]) < 0) {
                    best = i;
                    bestScore = score;
                }
            }
        }
        return best;
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
        String why = String.format(Locale.ROOT, "%s score %.3f (free shares: load %.2f, memory %.2f, vCPUs %.2f)",
                policy.strategy() == Policy.Strategy.PACK ? "pack" : "spread", score, load, memory, vcpu);
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
    }

    // The filters and the score as the decision and the explanation both apply them.

    private boolean servesTier(int b, int bit) {
        return ((int) hot[b + ELIGIBLE_TIERS] & bit) != 0;
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
