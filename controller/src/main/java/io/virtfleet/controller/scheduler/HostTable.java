package io.virtfleet.controller.scheduler;

import io.virtfleet.proto.v1.HostState;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Every host placement knows of, one slot each, in arrays updated in place on each report and claim, and what
 * {@link PlacementFilter}s and the score read of them. Keeps {@link BoundIndex} current for spread. Not
 * thread-safe: the {@link Scheduler} serializes all access.
 *
 * <p>What a decision reads is interleaved per host in {@link #hot} (one 72-byte record each, mostly one cache
 * line), derived from the other arrays by {@link #refresh} whenever they change: judging a host is then one
 * record read, with no division. Byte counts are exact as doubles (below 2^53).
 */
final class HostTable {
    static final int STRIDE = 9;
    static final int CAPABILITIES = 0; // Capabilities bits, and READY when the host is ready
    static final int MEMORY_FREE = 1;  // limit - promised
    static final int VCPUS_FREE = 2;   // limit - promised
    static final int RAW_FREE = 3;     // min(images free, images size - promised to raw disks)
    static final int LOAD = 4;         // score part, 0..1
    static final int MEMORY_BASE = 5;  // memory score: 1 - min(1, base + request × slope)
    static final int MEMORY_SLOPE = 6;
    static final int VCPU_BASE = 7;    // vCPU score: 1 - min(1, base + request × slope)
    static final int VCPU_SLOPE = 8;
    /** Beside the capabilities in a host's record: the host is known and ready. */
    static final int READY = 1 << 16;

    final Policy policy;
    final Fit.Weights weights;
    private final Map<String, Integer> index = new HashMap<>();
    int n;
    String[] names = new String[0];
    boolean[] known = new boolean[0];
    boolean[] usable = new boolean[0];
    HostState[] states = new HostState[0];
    int[] threads = new int[0];
    long[] memoryTotal = new long[0];
    long[] memoryLimit = new long[0];
    double[] vcpuLimit = new double[0];
    private double[] loadPart = new double[0];
    /** Per-host constants of the score, so a decision does no division. */
    private double[] halfMeasuredUse = new double[0];
    private double[] halfInverseMemoryLimit = new double[0];
    private double[] inverseVcpuLimit = new double[0];
    int[] capabilities = new int[0];
    /** As reported, for the reasons of filters that refuse them. */
    String[] vxlanAddress = new String[0];
    String[] publicAddress = new String[0];
    /** Why each host cannot run the fleet CPU model, "" when it can. */
    String[] cpuProblem = new String[0];
    private int[] addressCapabilities = new int[0];
    long[] imagesFree = new long[0];
    long[] imagesTotal = new long[0];
    /** Promised through claims plus used by running VMs placement did not place. */
    long[] memoryAllocated = new long[0];
    long[] vcpusAllocated = new long[0];
    private long[] unmanagedMemory = new long[0];
    private long[] unmanagedVcpus = new long[0];
    long[] rawAllocated = new long[0];
    private double[] hot = new double[0];
    /** Per spread group, how many of its members each host slot holds. */
    private final Map<String, int[]> groupMembers = new HashMap<>();
    /** The hosts that may take a VM, for spread decisions to visit best first (see {@link #refresh}); null for pack. */
    final BoundIndex byBound;
    /** Per slot: its shape in {@link #byBound}, and the loose shape of its capabilities (-1 before its first report). */
    private int[] shape = new int[0];
    private int[] looseShape = new int[0];
    /** The N+1 reserve, kept current when the policy keeps it; null otherwise. */
    final Reserve reserve;

    HostTable(Policy policy) {
        this.policy = policy;
        this.weights = Fit.Weights.of(policy);
        this.byBound = weights.pack() ? null : new BoundIndex(weights);
        this.reserve = policy.nPlusOne() ? new Reserve() : null;
    }

    /** Takes a host's latest report; {@code claims} tells the VMs placement put there from the others. */
    void update(HostSnapshot s, ClaimBook claims) {
        int i = slot(s.name());
        long oldMemoryLimit = memoryLimit[i];
        double oldVcpuLimit = vcpuLimit[i];
        int oldCapabilities = capabilities[i];
        known[i] = true;
        states[i] = s.state();
        usable[i] = s.state() == HostState.HOST_STATE_READY;
        threads[i] = Math.max(1, s.threads());
        memoryTotal[i] = s.memoryTotal();
        memoryLimit[i] = Fit.memoryLimit(s.memoryTotal(), policy.memoryRatio());
        vcpuLimit[i] = Fit.vcpuLimit(threads[i], policy.vcpuOvercommit());
        loadPart[i] = Fit.loadPart(s.load1(), threads[i]);
        halfMeasuredUse[i] = Fit.halfMeasuredUse(s.memoryTotal(), s.memoryAvailable());
        halfInverseMemoryLimit[i] = Fit.halfInverse(memoryLimit[i]);
        inverseVcpuLimit[i] = Fit.inverse(vcpuLimit[i]);
        if (!s.vxlanAddress().equals(vxlanAddress[i]) || !s.publicAddress().equals(publicAddress[i])) {
            // Validated only when they change: every host reports them on every heartbeat.
            vxlanAddress[i] = s.vxlanAddress();
            publicAddress[i] = s.publicAddress();
            addressCapabilities[i] = Capabilities.ofAddresses(s.vxlanAddress(), s.publicAddress());
        }
        cpuProblem[i] = s.cpuProblem();
        capabilities[i] = Capabilities.ofTiers(s) | addressCapabilities[i]
                | (s.cpuProblem().isEmpty() ? Capabilities.FLEET_CPU : 0);
        if (byBound != null && (shape[i] < 0 || capabilities[i] != oldCapabilities || memoryLimit[i] != oldMemoryLimit
                || vcpuLimit[i] != oldVcpuLimit)) {
            // A new host, or one with new hardware or capabilities: most reports change neither, so skip the look-ups.
            shape[i] = byBound.shape(capabilities[i], memoryLimit[i], vcpuLimit[i], halfInverseMemoryLimit[i],
                    inverseVcpuLimit[i]);
            looseShape[i] = byBound.looseShape(capabilities[i]);
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

    void setState(String host, HostState state) {
        Integer i = index.get(host);
        if (i != null) {
            states[i] = state;
            usable[i] = known[i] && state == HostState.HOST_STATE_READY;
            refresh(i);
        }
    }

    void forget(String host) {
        Integer i = index.get(host);
        if (i != null) {
            known[i] = false;
            usable[i] = false;
            refresh(i);
        }
    }

    /** Adds ({@code sign} 1) or takes back (-1) what a claim promises on its host. */
    void apply(Claim c, int sign) {
        int i = slot(c.host());
        memoryAllocated[i] += sign * c.memoryBytes();
        vcpusAllocated[i] += sign * (long) c.vcpus();
        rawAllocated[i] += sign * c.rawBytes();
        if (reserve != null) {
            reserve.vm(i, c, sign);
        }
        if (Reserve.tier(c.storage()) != 0) {
            if (ceph[i] == null) {
                ceph[i] = new ArrayList<>(4);
            }
            if (sign > 0) {
                ceph[i].add(c);
            } else {
                ceph[i].remove(c);
            }
            cephSorted[i] = null;
        }
        if (c.spreadGroup() != null) {
            int[] members = groupMembers.computeIfAbsent(c.spreadGroup(), g -> new int[names.length]);
            members[i] += sign;
        }
        refresh(i);
    }

    /** The slot of a host, or -1 if it was never seen. */
    int slotOf(String host) {
        Integer i = index.get(host);
        return i == null ? -1 : i;
    }

    /** Per slot, the members of a spread group it holds; null when the group never had one. */
    int[] groupMembers(String group) {
        return group == null ? null : groupMembers.get(group);
    }

    // ---- what filters and the score read ---------------------------------------------------------------

    boolean has(int slot, int bits) {
        return ((int) hot[slot * STRIDE + CAPABILITIES] & bits) == bits;
    }

    double memoryFree(int slot) {
        return hot[slot * STRIDE + MEMORY_FREE];
    }

    double vcpusFree(int slot) {
        return hot[slot * STRIDE + VCPUS_FREE];
    }

    double rawFree(int slot) {
        return hot[slot * STRIDE + RAW_FREE];
    }

    double loadPart(int slot) {
        return hot[slot * STRIDE + LOAD];
    }

    /** The free share of memory (0..1) left if the host took {@code request} bytes more. */
    double memoryPart(int slot, long request) {
        int b = slot * STRIDE;
        double used = hot[b + MEMORY_BASE] + request * hot[b + MEMORY_SLOPE];
        return used < 1 ? 1 - used : 0;
    }

    /** The free share of vCPUs (0..1) left if the host took {@code request} vCPUs more. */
    double vcpuPart(int slot, int request) {
        int b = slot * STRIDE;
        double used = hot[b + VCPU_BASE] + request * hot[b + VCPU_SLOPE];
        return used < 1 ? 1 - used : 0;
    }

    double score(int slot, long memory, int vcpus) {
        return Fit.score(weights, loadPart(slot), memoryPart(slot, memory), vcpuPart(slot, vcpus));
    }

    /** Per host, what {@link #scoreAfter} reads beside the request, in {@link #SCORE_INPUTS} doubles and 2 longs. */
    static final int SCORE_INPUTS = 4;

    /**
     * Copies what {@link #score} of a host depends on beside its claims into {@code inputs} (at {@code slot *
     * SCORE_INPUTS}) and what is promised on it into {@code promised} (at {@code 2 * slot}), for {@link #scoreAfter}.
     */
    void scoreInputs(int slot, double[] inputs, long[] promised) {
        int b = slot * SCORE_INPUTS;
        inputs[b] = loadPart[slot];
        inputs[b + 1] = halfMeasuredUse[slot];
        inputs[b + 2] = halfInverseMemoryLimit[slot];
        inputs[b + 3] = inverseVcpuLimit[slot];
        promised[2 * slot] = memoryAllocated[slot];
        promised[2 * slot + 1] = vcpusAllocated[slot];
    }

    /**
     * A host's score for a request once {@code more} more VMs of that size were claimed on it, from what {@link
     * #scoreInputs} copied, computed with the very operations {@link #refresh} and {@link #score} would use then, so
     * it equals what a decision would see.
     */
    static double scoreAfter(Fit.Weights weights, double[] inputs, long[] promised, int slot, long more, long memory,
                             int vcpus) {
        int b = slot * SCORE_INPUTS;
        double halfInverseMemoryLimit = inputs[b + 2];
        double inverseVcpuLimit = inputs[b + 3];
        double memoryBase = inputs[b + 1] + (promised[2 * slot] + more * memory) * halfInverseMemoryLimit;
        double vcpuBase = (promised[2 * slot + 1] + more * vcpus) * inverseVcpuLimit;
        double memoryUsed = memoryBase + memory * halfInverseMemoryLimit;
        double vcpuUsed = vcpuBase + vcpus * inverseVcpuLimit;
        return Fit.score(weights, inputs[b], memoryUsed < 1 ? 1 - memoryUsed : 0, vcpuUsed < 1 ? 1 - vcpuUsed : 0);
    }

    /** Memory a host may still be promised (below 0 when over its limit): what the memory filter compares. */
    long memoryRoom(int slot) {
        return memoryLimit[slot] - memoryAllocated[slot];
    }

    /**
     * vCPUs a host may still be promised, as a whole number: the vCPU filter's {@code request <= limit - promised}
     * holds exactly when {@code promised + request <= floor(limit)}, all of them whole but the limit.
     */
    long vcpuRoom(int slot) {
        return (long) Math.floor(vcpuLimit[slot]) - vcpusAllocated[slot];
    }

    /**
     * The Ceph tiers ({@link Reserve#SSD}, {@link Reserve#SATA}) the host would restart VMs of: none unless it is
     * ready and can run the fleet CPU model (the {@code cpu-model} filter refuses it any VM, restarted ones too).
     */
    int reserveTiers(int slot) {
        return usable[slot] ? restartTiers(slot) : 0;
    }

    /** The tiers a host drained for maintenance would restart VMs of once back in service; 0 if it is not drained. */
    int returningTiers(int slot) {
        return known[slot] && states[slot] == HostState.HOST_STATE_DRAINING ? restartTiers(slot) : 0;
    }

    private int restartTiers(int slot) {
        return (capabilities[slot] & Capabilities.FLEET_CPU) == 0 ? 0 : Reserve.tiersOf(capabilities[slot]);
    }

    // ---- bookkeeping ---------------------------------------------------------------------------------

    private void refresh(int i) {
        int b = i * STRIDE;
        hot[b + CAPABILITIES] = capabilities[i] | (usable[i] ? READY : 0);
        hot[b + MEMORY_FREE] = memoryLimit[i] - memoryAllocated[i];
        hot[b + VCPUS_FREE] = vcpuLimit[i] - vcpusAllocated[i];
        hot[b + RAW_FREE] = Math.min(imagesFree[i], imagesTotal[i] - rawAllocated[i]);
        hot[b + LOAD] = loadPart[i];
        hot[b + MEMORY_BASE] = halfMeasuredUse[i] + memoryAllocated[i] * halfInverseMemoryLimit[i];
        hot[b + MEMORY_SLOPE] = halfInverseMemoryLimit[i];
        hot[b + VCPU_BASE] = vcpusAllocated[i] * inverseVcpuLimit[i];
        hot[b + VCPU_SLOPE] = inverseVcpuLimit[i];
        if (reserve != null) {
            reserve.host(i, reserveTiers(i), memoryRoom(i), vcpuRoom(i));
        }
        if (byBound == null) {
            return;
        }
        if (!usable[i] || (capabilities[i] & Capabilities.TIERS) == 0 || hot[b + MEMORY_FREE] < 0
                || hot[b + VCPUS_FREE] < 0) {
            // Not ready, forgotten, serving no tier, or over its limits: it fails the state, storage, memory or
            // vCPU filter for any request of a size >= 0, so no decision need visit it.
            byBound.remove(i);
        } else {
            byBound.put(i, linear(b) ? shape[i] : looseShape[i], score(i, 0, 0));
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

    /**
     * Per slot, the Ceph-backed claims on it, and them in first-fit order (largest first, as {@link Reserve} restarts
     * them) once asked for; null when they changed since. A count keeping the reserve reads every host's: sorting
     * them all for each count took milliseconds at 10,000 hosts, and most do not change between counts.
     */
    private List<Claim>[] ceph = newClaimLists(0);
    private Claim[][] cephSorted = new Claim[0][];

    @SuppressWarnings("unchecked")
    private static List<Claim>[] newClaimLists(int size) {
        return (List<Claim>[]) new List<?>[size];
    }

    /** The Ceph-backed claims on the slot in first-fit order: the caller may keep the array, not change it. */
    Claim[] cephFirstFit(int i) {
        if (cephSorted[i] == null) {
            cephSorted[i] = ceph[i] == null ? NO_CLAIMS : Reserve.sorted(ceph[i]);
        }
        return cephSorted[i];
    }

    private static final Claim[] NO_CLAIMS = new Claim[0];

    /** Every slot in the order of the hosts' names; made again once a host is added (hosts come seldom). */
    private int[] nameOrder;

    /** Slots in the order of their hosts' names: the caller may keep it, not change it. */
    int[] nameOrder() {
        if (nameOrder == null) {
            Integer[] slots = new Integer[n];
            for (int i = 0; i < n; i++) {
                slots[i] = i;
            }
            Arrays.sort(slots, Comparator.comparing(i -> names[i]));
            int[] order = new int[n];
            for (int p = 0; p < n; p++) {
                order[p] = slots[p];
            }
            nameOrder = order;
        }
        return nameOrder;
    }

    /** The slot of a host, created (unknown, unusable) if needed. */
    int slot(String host) {
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
        vxlanAddress[i] = "";
        publicAddress[i] = "";
        cpuProblem[i] = "";
        index.put(host, i);
        nameOrder = null;
        if (reserve != null) {
            reserve.add(i, host);
        }
        return i;
    }

    private void grow(int size) {
        names = Arrays.copyOf(names, size);
        ceph = Arrays.copyOf(ceph, size);
        cephSorted = Arrays.copyOf(cephSorted, size);
        known = Arrays.copyOf(known, size);
        usable = Arrays.copyOf(usable, size);
        states = Arrays.copyOf(states, size);
        threads = Arrays.copyOf(threads, size);
        memoryTotal = Arrays.copyOf(memoryTotal, size);
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
        capabilities = Arrays.copyOf(capabilities, size);
        vxlanAddress = Arrays.copyOf(vxlanAddress, size);
        publicAddress = Arrays.copyOf(publicAddress, size);
        cpuProblem = Arrays.copyOf(cpuProblem, size);
        addressCapabilities = Arrays.copyOf(addressCapabilities, size);
        imagesFree = Arrays.copyOf(imagesFree, size);
        imagesTotal = Arrays.copyOf(imagesTotal, size);
        memoryAllocated = Arrays.copyOf(memoryAllocated, size);
        vcpusAllocated = Arrays.copyOf(vcpusAllocated, size);
        unmanagedMemory = Arrays.copyOf(unmanagedMemory, size);
        unmanagedVcpus = Arrays.copyOf(unmanagedVcpus, size);
        rawAllocated = Arrays.copyOf(rawAllocated, size);
        groupMembers.replaceAll((g, members) -> Arrays.copyOf(members, size));
    }
}
