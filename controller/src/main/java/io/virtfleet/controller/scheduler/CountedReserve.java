package io.virtfleet.controller.scheduler;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The N+1 reserve as a capacity count keeping it sees it ({@link CapacityCounter}): VMs of one spec counted on one
 * host after another, each kept if every host's Ceph-backed VMs could still restart on the other ready hosts, taken
 * back if not. Its verdict is {@link Reserve}'s, the same first fit (largest first, into the first other ready host
 * by name with room), and its refusal names the same host with the same numbers; only the work differs. At 10,000
 * hosts the count plays about 100,000 decisions, of which the reserve binds only in the last few hundred, so:
 *
 * <ul>
 *   <li><i>While no host is tight by units</i> (the argument of {@link Reserve}: a unit at least as large as every
 *       Ceph-backed VM and the counted one, each host's {@code vms + k(own)} against the units {@code K} of the hosts
 *       serving the tier) every VM is kept at the cost of a few additions: the largest need only grows as VMs are
 *       counted (a host's count grows by one as its units fall by at most one) and {@code K} only falls, so the
 *       running largest need is compared with {@code K}, and once it exceeds it that stays so.</li>
 *   <li><i>Then each VM is vouched for by its own size.</i> Host u's VM {@code j} in first-fit order, of class
 *       {@code C} (memory and vCPUs rounded up to powers of two), can fail only if every other ready host serving its
 *       tier lacks room for {@code C}: a host {@code b} that could take {@code k_b(C)} of them must then have been
 *       given VMs of weight at least {@code k_b(C)}, the weight of a VM {@code v} being {@code max(⌈v.memory /
 *       C.memory⌉, ⌈v.vcpus / C.vcpus⌉)}. So {@code W_j}, the weight of the VMs before it, is at least {@code K(C) -
 *       k_u(C)}; while {@code W_j < K(C) - k_u(C)} for every VM of u, its first fit cannot fail. Each host keeps, per
 *       class and tier, the requirement of its last VM of that class, {@code W_j + 1 + k_u(C)}, against {@code K(C)}.
 *       A VM with many vCPUs and little memory is judged by its own class, not by the largest VM's unit, so only a
 *       handful of hosts are not vouched for where units leave thousands tight.</li>
 *   <li><i>Hosts not vouched for</i> are given a {@link Plan}, kept while the VMs counted leave it as it is
 *       (a host shrinks no further than what the plan restarts there), made again otherwise. K only falls as VMs are
 *       counted, so a host's requirement once above it stays so until the host itself is given VMs (its own room
 *       falls with K): then it is judged anew, and so are the hosts planned for a VM that is taken back. A stale
 *       requirement only ever costs a plan too many, never one missing. The hosts a VM may alter are judged in name
 *       order, up to the first whose VMs cannot restart: a refusal names only that one.</li>
 *   <li><i>A plan's counted VMs are one run.</i> They are alike and side by side in first-fit order, so first fit
 *       fills the hosts serving their tier by name, each with as many as its room takes, up to the host where those
 *       counts reach the run's length ({@link FitCounts}: a dozen steps at 10,000 hosts however many hosts the run
 *       spans, where a run of small VMs near the end spans hundreds). A plan keeps where its own VMs before the run
 *       went while a VM lands in the run (only the run moves on), and a run that comes last and fits needs no end at
 *       all: its slack (places left over) says for how many more VMs it still fits, wherever they land.</li>
 * </ul>
 *
 * <p>Made under the {@link Scheduler}'s lock (one pass over the hosts, their VMs in first-fit order as the host table
 * keeps them), used without it; not thread-safe.
 */
final class CountedReserve {
    private static final int SLOT_BITS = 24;
    private static final Claim[] NO_CLAIMS = new Claim[0];
    /** Requirements above this are not kept in entries: the host is planned at once (entries hold it shifted). */
    private static final long LARGEST_REQUIREMENT = 1L << 38;

    private final int n;
    private final String[] names;
    /** Reserve tier bits each host restarts VMs of (0 when not ready). */
    private final int[] tiers;
    private final long[] memoryRoom;
    private final long[] vcpuRoom;
    /** Per host, its Ceph-backed VMs in first-fit order, the counted ones aside; null when none. */
    private final Claim[][] own;
    private final int[] ownCount;
    /** Host i's own VMs' numbers at {@code start[i] ..}, in first-fit order: memory, vCPUs, reserve tier bit. */
    private final int[] start;
    private final long[] ownMemory;
    private final int[] ownVcpus;
    private final int[] ownTier;
    /** Per host, how many VMs it counted, and where they come in its first-fit order. */
    private final int[] counted;
    private final int[] countedAt;
    /** Per host and tier bit, its Ceph-backed VMs of that tier, the counted ones aside. */
    private final int[][] ownByTier;
    private final Claim vm;
    private final int vmTier;
    /** Memory and vCPUs summed over ready hosts by the tiers they serve (index SSD, SATA, SSD | SATA), for reasons. */
    private final long[] memorySum = new long[4];
    private final long[] vcpuSum = new long[4];

    // While no host is tight by units.
    private boolean byUnits = true;
    private final int unitMemoryShift;
    private final int unitVcpuShift;
    private final long[] unitSum = new long[3];
    private final long[] largestNeed = new long[3];

    // Once some host is: per class of VMs, its K per tier and the requirements above it.
    private int[] classMemoryShift;
    private int[] classVcpuShift;
    /** Per class and tier bit, K: how many VMs of the class's size the ready hosts serving the tier take. */
    private long[][] classSum;
    /** Per host, the class of each of its own VMs (first-fit order); the counted VM's class. */
    private int[][] ownClass;
    private int vmClass;
    /**
     * Per {@code class * 3 + tier}, every host's requirement ({@code requirement << SLOT_BITS | slot}) when some host
     * first was tight by units, ascending, and how many of them are not yet above K; those written since ({@code
     * requirement, slot, version}, largest first). A host's requirements count only at its latest version.
     */
    private long[][] entries;
    private int[] below;
    /**
     * Per {@code class * 3 + tier}, a K at or above which every requirement is planned already: the K of its last
     * look, raised by requirements written since (each at most the K then). Only a K below it needs a look.
     */
    private long[] checkedAt;
    private Requirements[] later;
    private int[] version;
    private long[] scratch;
    /** Where {@link #requirements} wrote into {@link #scratch} (the rest is 0). */
    private int[] written;
    private int writtenCount;
    private boolean[] planned;
    /** The hosts planned while judging the VM last counted: if it is taken back, K rises again and they are judged anew. */
    private int[] newlyPlanned = new int[16];
    private int newlyPlannedCount;
    private int[] plannedIndex;
    private int[] plannedHosts;
    private int plannedCount;
    private Plan[] plans;
    private int[] byName;
    private int[] position;
    private RoomTree[] trees;
    /**
     * For the counted VM's tier (when it is Ceph-backed): per host in name order, how many counted VMs its room takes,
     * and the room it has left once it took them; what a run of counted VMs in a first fit fills and leaves.
     */
    private FitCounts counts;
    private RoomTree leftovers;
    /** During a first fit: what own VMs restarted on each host took there so far, and before the counted run. */
    private long[] usedMemory;
    private long[] usedVcpus;
    private long[] usedMemoryBefore;
    private long[] usedVcpusBefore;
    /** The hosts the first fit in progress restarted own VMs on. */
    private int[] touched = new int[16];
    private int touchedCount;
    private final long[] partOut = new long[1];
    /**
     * Hosts whose room changed since the trees last showed it. Only a first fit reads the trees, and most decisions
     * make none (a refused one gives back what it took), so they are brought up to date before one.
     */
    private int[] stale = new int[16];
    private int staleCount;
    private boolean[] isStale;

    /** Plans replaced while judging the VM last counted (the hosts and their plans before), to put back if it is taken back. */
    private int[] replacedHosts = new int[16];
    private Plan[] replacedPlans = new Plan[16];
    private int replacedCount;
    private long[] toJudge = new long[16];
    /**
     * Counted VMs placed through {@link #take}, less those taken back: how far a plan's {@link Plan#slack} has been
     * used ({@link #placeByUnits} leaves it: no plan exists before the count judges VMs by class).
     */
    private long landings;
    private Reserve.Shortfall refusal;
    private boolean refusalFinal;
    private int refusalHost;
    private Plan refusalPlan;

    /**
     * Reads the hosts and their Ceph-backed VMs (in first-fit order, as the host table keeps them); call it under the
     * scheduler's lock.
     *
     * @param vm the VM counted (its host ignored)
     */
    CountedReserve(HostTable hosts, Claim vm) {
        n = hosts.n;
        names = Arrays.copyOf(hosts.names, n);
        byName = hosts.nameOrder();
        tiers = new int[n];
        memoryRoom = new long[n];
        vcpuRoom = new long[n];
        this.vm = vm;
        vmTier = Reserve.tier(vm.storage());
        own = new Claim[n][];
        ownCount = new int[n];
        start = new int[n + 1];
        for (int i = 0; i < n; i++) {
            tiers[i] = hosts.reserveTiers(i);
            memoryRoom[i] = hosts.memoryRoom(i);
            vcpuRoom[i] = hosts.vcpuRoom(i);
            Claim[] sorted = hosts.cephFirstFit(i);
            if (sorted.length > 0) {
                own[i] = sorted;
                ownCount[i] = sorted.length;
            }
            start[i + 1] = start[i] + sorted.length;
        }
        int total = start[n];
        ownMemory = new long[total];
        ownVcpus = new int[total];
        ownTier = new int[total];
        long largestMemory = vmTier == 0 ? 1 : vm.memoryBytes();
        long largestVcpus = vmTier == 0 ? 1 : vm.vcpus();
        for (int i = 0; i < n; i++) {
            for (int p = start[i]; p < start[i + 1]; p++) {
                Claim c = own[i][p - start[i]];
                ownMemory[p] = c.memoryBytes();
                ownVcpus[p] = c.vcpus();
                ownTier[p] = Reserve.tier(c.storage());
                largestMemory = Math.max(largestMemory, ownMemory[p]);
                largestVcpus = Math.max(largestVcpus, ownVcpus[p]);
            }
        }
        unitMemoryShift = shift(largestMemory);
        unitVcpuShift = shift(largestVcpus);
        counted = new int[n];
        countedAt = new int[n];
        ownByTier = new int[3][n];
        for (int i = 0; i < n; i++) {
            Claim[] sorted = own[i];
            if (sorted != null) {
                for (int p = start[i]; p < start[i + 1]; p++) {
                    ownByTier[ownTier[p]][i]++;
                }
                int at = 0;
                while (at < sorted.length && Reserve.FIRST_FIT.compare(sorted[at], vm) <= 0) {
                    at++;
                }
                countedAt[i] = at;
            }
            addToSums(i, 1);
            long k = units(i);
            for (int t = Reserve.SSD; t <= Reserve.SATA; t++) {
                if ((tiers[i] & t) != 0) {
                    unitSum[t] += k;
                }
            }
        }
        for (int i = 0; i < n; i++) {
            for (int t = Reserve.SSD; t <= Reserve.SATA; t++) {
                largestNeed[t] = Math.max(largestNeed[t], need(i, t));
            }
        }
    }

    /** The smallest power of two at least {@code x}, as a shift. */
    private static int shift(long x) {
        return x <= 1 ? 0 : 64 - Long.numberOfLeadingZeros(x - 1);
    }

    private void addToSums(int i, int sign) {
        if (tiers[i] != 0) {
            memorySum[tiers[i]] += sign * Math.max(0, memoryRoom[i]);
            vcpuSum[tiers[i]] += sign * Math.max(0, vcpuRoom[i]);
        }
    }

    private int vms(int i) {
        return ownCount[i] + (vmTier == 0 ? 0 : counted[i]);
    }

    private int vms(int i, int t) {
        return ownByTier[t][i] + (vmTier == t ? counted[i] : 0);
    }

    /** How many of the given size the room holds (0 when the room is below 0). */
    private static long fitting(long memory, long vcpus, int memoryShift, int vcpuShift) {
        return memory < 0 || vcpus < 0 ? 0 : Math.min(memory >> memoryShift, vcpus >> vcpuShift);
    }

    private long units(int i) {
        return fitting(memoryRoom[i], vcpuRoom[i], unitMemoryShift, unitVcpuShift);
    }

    /** Host i's {@code vms + k(own)} for tier t, or 0 if it holds no VM of that tier. */
    private long need(int i, int t) {
        return vms(i, t) == 0 ? 0 : vms(i) + ((tiers[i] & t) != 0 ? units(i) : 0);
    }

    /** Whether units still vouch for every host (no VM judged by its class yet). */
    boolean byUnits() {
        return byUnits;
    }

    /**
     * Whether units would still vouch for every host with {@code extra[i]} more counted VMs on each host i, the state
     * after a run of decisions: no host is tight by units then exactly when none was at any decision of the run (a
     * host's need only grows and {@code K} only falls as VMs are counted).
     */
    boolean holdByUnitsWith(long[] extra) {
        if (!byUnits) {
            return false;
        }
        long[] sum = unitSum.clone();
        long[] largest = largestNeed.clone();
        for (int i = 0; i < n; i++) {
            if (extra[i] == 0) {
                continue;
            }
            long after = fitting(memoryRoom[i] - extra[i] * vm.memoryBytes(), vcpuRoom[i] - extra[i] * vm.vcpus(),
                    unitMemoryShift, unitVcpuShift);
            long fallen = units(i) - after;
            long vmsAll = ownCount[i] + (vmTier == 0 ? 0 : counted[i] + extra[i]);
            for (int t = Reserve.SSD; t <= Reserve.SATA; t++) {
                boolean serves = (tiers[i] & t) != 0;
                if (serves) {
                    sum[t] -= fallen;
                }
                long vmsOfTier = ownByTier[t][i] + (vmTier == t ? counted[i] + extra[i] : 0);
                largest[t] = Math.max(largest[t], vmsOfTier == 0 ? 0 : vmsAll + (serves ? after : 0));
            }
        }
        for (int t = Reserve.SSD; t <= Reserve.SATA; t++) {
            if (largest[t] > sum[t]) {
                return false;
            }
        }
        return true;
    }

    /** Counts {@code extra[i]} more VMs on each host i at once, where {@link #holdByUnitsWith} said units vouch. */
    void placeByUnits(long[] extra) {
        for (int i = 0; i < n; i++) {
            if (extra[i] == 0) {
                continue;
            }
            long before = units(i);
            addToSums(i, -1);
            memoryRoom[i] -= extra[i] * vm.memoryBytes();
            vcpuRoom[i] -= extra[i] * vm.vcpus();
            counted[i] += (int) extra[i];
            addToSums(i, 1);
            long fallen = before - units(i);
            for (int t = Reserve.SSD; t <= Reserve.SATA; t++) {
                if ((tiers[i] & t) != 0) {
                    unitSum[t] -= fallen;
                }
                largestNeed[t] = Math.max(largestNeed[t], need(i, t));
            }
        }
    }

    /**
     * Counts the VM on host {@code slot} if the reserve then holds: true if it was counted, false if it was not
     * (then {@link #refusal} says why).
     */
    boolean place(int slot) {
        if (byUnits) {
            long before = units(slot);
            take(slot, 1);
            long fallen = before - units(slot);
            boolean tight = false;
            for (int t = Reserve.SSD; t <= Reserve.SATA; t++) {
                if ((tiers[slot] & t) != 0) {
                    unitSum[t] -= fallen;
                }
                tight |= Math.max(largestNeed[t], need(slot, t)) > unitSum[t];
            }
            if (!tight) {
                for (int t = Reserve.SSD; t <= Reserve.SATA; t++) {
                    largestNeed[t] = Math.max(largestNeed[t], need(slot, t));
                }
                return true;
            }
            // From here on each VM is judged by its own size: taken back, then judged so.
            take(slot, -1);
            byUnits = false;
            startClasses();
        }
        return placeJudged(slot);
    }

    /** Takes ({@code sign} 1) or gives back (-1) the room of one counted VM on the host, and counts it there. */
    private void take(int slot, int sign) {
        addToSums(slot, -1);
        memoryRoom[slot] -= sign * vm.memoryBytes();
        vcpuRoom[slot] -= sign * vm.vcpus();
        counted[slot] += sign;
        landings += sign;
        addToSums(slot, 1);
    }

    // ---- once some host is tight by units ------------------------------------------------------------

    private void startClasses() {
        int[] index = new int[64 * 32];
        Arrays.fill(index, -1);
        List<int[]> shifts = new ArrayList<>();
        ownClass = new int[n][];
        for (int i = 0; i < n; i++) {
            if (own[i] != null) {
                ownClass[i] = new int[own[i].length];
                for (int j = 0; j < own[i].length; j++) {
                    ownClass[i][j] = classIndex(ownMemory[start[i] + j], ownVcpus[start[i] + j], index, shifts);
                }
            }
        }
        vmClass = vmTier == 0 ? -1 : classIndex(vm.memoryBytes(), vm.vcpus(), index, shifts);
        int classes = shifts.size();
        classMemoryShift = new int[classes];
        classVcpuShift = new int[classes];
        for (int c = 0; c < classes; c++) {
            classMemoryShift[c] = shifts.get(c)[0];
            classVcpuShift[c] = shifts.get(c)[1];
        }
        classSum = new long[classes][3];
        for (int i = 0; i < n; i++) {
            addToClassSums(i, 1);
        }
        planned = new boolean[n];
        plannedIndex = new int[n];
        plannedHosts = new int[16];
        plans = new Plan[n];
        version = new int[n];
        scratch = new long[classes * 3];
        written = new int[classes * 3];
        // Every host's requirements, bucketed by class and tier, each bucket sorted.
        int[] bucketSize = new int[classes * 3];
        // A host writes a requirement per class and tier of its VMs at most, and one for the counted ones.
        long[] all = new long[2 * (ownTotal() + n)];
        int count = 0;
        for (int i = 0; i < n; i++) {
            if (!requirements(i)) {
                plan(i);
                continue;
            }
            for (int w = 0; w < writtenCount; w++) {
                int k = written[w];
                if (count + 2 > all.length) {
                    all = Arrays.copyOf(all, all.length * 2);
                }
                all[count++] = k;
                all[count++] = scratch[k] << SLOT_BITS | i;
                bucketSize[k]++;
            }
        }
        entries = new long[classes * 3][];
        below = new int[classes * 3];
        checkedAt = new long[classes * 3];
        Arrays.fill(checkedAt, Long.MAX_VALUE);
        for (int k = 0; k < entries.length; k++) {
            entries[k] = new long[bucketSize[k]];
        }
        for (int j = 0; j < count; j += 2) {
            int k = (int) all[j];
            entries[k][below[k]++] = all[j + 1];
        }
        later = new Requirements[entries.length];
        for (int k = 0; k < entries.length; k++) {
            Arrays.sort(entries[k]);
            later[k] = new Requirements();
        }
        position = new int[n];
        for (int p = 0; p < n; p++) {
            position[byName[p]] = p;
        }
        trees = new RoomTree[] {null, new RoomTree(n), new RoomTree(n)};
        for (int t = Reserve.SSD; t <= Reserve.SATA; t++) {
            long[] memory = new long[n];
            long[] vcpus = new long[n];
            for (int p = 0; p < n; p++) {
                int b = byName[p];
                boolean serves = (tiers[b] & t) != 0;
                memory[p] = serves ? memoryRoom[b] : RoomTree.NONE;
                vcpus[p] = serves ? vcpuRoom[b] : RoomTree.NONE;
            }
            trees[t].setAll(memory, vcpus);
        }
        if (vmTier != 0) {
            long[] fitting = new long[n];
            long[] memory = new long[n];
            long[] vcpus = new long[n];
            for (int p = 0; p < n; p++) {
                int b = byName[p];
                if ((tiers[b] & vmTier) == 0) {
                    memory[p] = RoomTree.NONE;
                    vcpus[p] = RoomTree.NONE;
                    continue;
                }
                fitting[p] = fit(memoryRoom[b], vcpuRoom[b]);
                memory[p] = memoryRoom[b] - fitting[p] * vm.memoryBytes();
                vcpus[p] = vcpuRoom[b] - fitting[p] * vm.vcpus();
            }
            counts = new FitCounts(fitting);
            leftovers = new RoomTree(n);
            leftovers.setAll(memory, vcpus);
        }
        usedMemoryBefore = new long[n];
        usedVcpusBefore = new long[n];
        isStale = new boolean[n];
        usedMemory = new long[n];
        usedVcpus = new long[n];
        findUnvouched();
    }

    /** The class of a VM (its memory and vCPUs rounded up to powers of two), numbered as first met. */
    private static int classIndex(long memory, int vcpus, int[] index, List<int[]> shifts) {
        int m = shift(memory);
        int v = shift(vcpus);
        int key = m << 5 | v;
        if (index[key] < 0) {
            shifts.add(new int[] {m, v});
            index[key] = shifts.size() - 1;
        }
        return index[key];
    }

    private void addToClassSums(int i, int sign) {
        if (tiers[i] == 0) {
            return;
        }
        for (int c = 0; c < classSum.length; c++) {
            long k = sign * fitting(memoryRoom[i], vcpuRoom[i], classMemoryShift[c], classVcpuShift[c]);
            for (int t = Reserve.SSD; t <= Reserve.SATA; t++) {
                if ((tiers[i] & t) != 0) {
                    classSum[c][t] += k;
                }
            }
        }
    }

    /**
     * Writes host i's requirement per class and tier into {@link #scratch} at {@code class * 3 + tier}: {@code W + 1
     * + k_i(C)} of its last VM of that class and tier, 0 where it has none. False when one is too large to keep in an
     * entry (the host is then planned at once).
     */
    private boolean requirements(int i) {
        for (int w = 0; w < writtenCount; w++) {
            scratch[written[w]] = 0;
        }
        writtenCount = 0;
        int ownCount = own[i] == null ? 0 : own[i].length;
        int run = vmTier == 0 ? 0 : counted[i];
        for (int first = 0; first < ownCount + (run > 0 ? 1 : 0); first++) {
            int c = first < ownCount ? ownClass[i][first] : vmClass;
            if (seenBefore(i, first, c)) {
                continue; // each class once
            }
            int memoryShift = classMemoryShift[c];
            int vcpuShift = classVcpuShift[c];
            long mine = fitting(memoryRoom[i], vcpuRoom[i], memoryShift, vcpuShift);
            long weight = 0;
            int at = run > 0 ? countedAt[i] : ownCount;
            for (int j = 0; j <= ownCount; j++) {
                if (j == at && run > 0) {
                    long w = weight(vm.memoryBytes(), vm.vcpus(), memoryShift, vcpuShift);
                    if (vmClass == c) {
                        write(c * 3 + vmTier, weight + (run - 1) * w + 1 + ((tiers[i] & vmTier) != 0 ? mine : 0));
                    }
                    weight += run * w;
                }
                if (j == ownCount) {
                    break;
                }
                int p = start[i] + j;
                if (ownClass[i][j] == c) {
                    int t = ownTier[p];
                    write(c * 3 + t, weight + 1 + ((tiers[i] & t) != 0 ? mine : 0));
                }
                weight += weight(ownMemory[p], ownVcpus[p], memoryShift, vcpuShift);
            }
        }
        for (int w = 0; w < writtenCount; w++) {
            if (scratch[written[w]] >= LARGEST_REQUIREMENT) {
                return false;
            }
        }
        return true;
    }

    /** A requirement (at least 1) into {@link #scratch}, its place noted in {@link #written}. */
    private void write(int k, long requirement) {
        if (scratch[k] == 0) {
            written[writtenCount++] = k;
        }
        scratch[k] = requirement;
    }

    private int ownTotal() {
        int total = 0;
        for (int i = 0; i < n; i++) {
            total += ownCount[i];
        }
        return total;
    }

    /** Whether class c came up for host i before its VM {@code first} ({@code own.length}: the counted ones). */
    private boolean seenBefore(int i, int first, int c) {
        for (int j = 0; j < first && j < ownClass[i].length; j++) {
            if (ownClass[i][j] == c) {
                return true;
            }
        }
        return false;
    }

    /** A VM's weight in a class: how many of the class's size it takes the room of, at most. */
    private static long weight(long memory, int vcpus, int memoryShift, int vcpuShift) {
        return Math.max((memory + (1L << memoryShift) - 1) >> memoryShift, (vcpus + (1L << vcpuShift) - 1) >> vcpuShift);
    }

    /**
     * Writes host i's requirements anew once its room or VMs changed (its older ones no longer count): planned if one
     * is above K, no longer planned if none is (a host given VMs may be vouched for again: its own room fell with K).
     */
    private void rewrite(int i) {
        version[i]++;
        if (!requirements(i)) {
            plan(i);
            return;
        }
        boolean vouched = true;
        for (int w = 0; w < writtenCount; w++) {
            int k = written[w];
            vouched &= scratch[k] <= classSum[k / 3][k % 3];
        }
        if (!vouched) {
            plan(i);
            return;
        }
        unplan(i);
        for (int w = 0; w < writtenCount; w++) {
            int k = written[w];
            later[k].add(scratch[k], i, version[i]);
            checkedAt[k] = Math.max(checkedAt[k], scratch[k]);
        }
    }

    /** Plans every host with a requirement (as it is now) above its class's K. */
    private void findUnvouched() {
        for (int k = 0; k < entries.length; k++) {
            long sum = classSum[k / 3][k % 3];
            if (sum >= checkedAt[k]) {
                continue; // every requirement above it is planned already
            }
            checkedAt[k] = sum;
            long[] e = entries[k];
            while (below[k] > 0 && e[below[k] - 1] >> SLOT_BITS > sum) {
                int i = (int) (e[--below[k]] & ((1L << SLOT_BITS) - 1));
                if (version[i] == 0) {
                    plan(i);
                }
            }
            Requirements q = later[k];
            while (q.largestAbove(sum)) {
                int i = q.slotOfLargest();
                boolean current = version[i] == q.versionOfLargest();
                q.removeLargest();
                if (current) {
                    plan(i);
                }
            }
        }
    }

    /** Gives the host a plan from now on (made when next judged). */
    private void plan(int i) {
        if (planned[i]) {
            return;
        }
        planned[i] = true;
        plans[i] = null;
        if (plannedCount == plannedHosts.length) {
            plannedHosts = Arrays.copyOf(plannedHosts, plannedCount * 2);
        }
        plannedIndex[i] = plannedCount;
        plannedHosts[plannedCount++] = i;
        if (newlyPlannedCount == newlyPlanned.length) {
            newlyPlanned = Arrays.copyOf(newlyPlanned, newlyPlannedCount * 2);
        }
        newlyPlanned[newlyPlannedCount++] = i;
    }

    private void unplan(int i) {
        if (!planned[i]) {
            return;
        }
        planned[i] = false;
        plans[i] = null;
        int last = plannedHosts[--plannedCount];
        plannedHosts[plannedIndex[i]] = last;
        plannedIndex[last] = plannedIndex[i];
    }

    private boolean placeJudged(int slot) {
        addToClassSums(slot, -1);
        take(slot, 1);
        addToClassSums(slot, 1);
        treesStale(slot);
        newlyPlannedCount = 0;
        rewrite(slot);
        findUnvouched();
        replacedCount = 0;
        int failing = -1;
        // The hosts whose plan the VM may alter are judged in name order, up to the first whose VMs cannot restart:
        // a refusal names only that one (and a refused VM is taken back, leaving the others' plans as they were).
        int judged = 0;
        for (int j = 0; j < plannedCount; j++) {
            int u = plannedHosts[j];
            Plan p = plans[u];
            if (p == null || u == slot || !p.keepsWithOneMoreOn(slot)) {
                if (judged == toJudge.length) {
                    toJudge = Arrays.copyOf(toJudge, judged * 2);
                }
                toJudge[judged++] = (long) position[u] << SLOT_BITS | u;
            } else if (!p.fits() && (failing < 0 || position[u] < position[failing])) {
                failing = u; // failing already, and the VM leaves it so
            }
        }
        if (judged > 0) {
            refreshTrees();
        }
        Arrays.sort(toJudge, 0, judged);
        for (int j = 0; j < judged; j++) {
            int u = (int) (toJudge[j] & ((1L << SLOT_BITS) - 1));
            if (failing >= 0 && position[u] > position[failing]) {
                break;
            }
            if (replacedCount == replacedHosts.length) {
                replacedHosts = Arrays.copyOf(replacedHosts, replacedCount * 2);
                replacedPlans = Arrays.copyOf(replacedPlans, replacedCount * 2);
            }
            replacedHosts[replacedCount] = u;
            replacedPlans[replacedCount++] = plans[u];
            Plan p = plans[u] = firstFit(u, plans[u], slot);
            if (!p.fits()) {
                failing = u;
            }
        }
        if (failing < 0) {
            return true;
        }
        long[] room = free(failing);
        Claim[] vms = plans[failing].vms();
        refusal = Reserve.shortfall(names[failing], vms, room, plans[failing].homeless());
        refusalFinal = Reserve.shortInTotal(vms, room);
        refusalHost = failing;
        refusalPlan = plans[failing];
        // Taken back: the plans made again for it are put back as they were (those new for it are made again later).
        for (int j = 0; j < replacedCount; j++) {
            if (planned[replacedHosts[j]]) {
                plans[replacedHosts[j]] = replacedPlans[j];
            }
        }
        addToClassSums(slot, -1);
        take(slot, -1);
        addToClassSums(slot, 1);
        treesStale(slot);
        int again = newlyPlannedCount;
        for (int j = 0; j < again; j++) {
            rewrite(newlyPlanned[j]);
        }
        rewrite(slot);
        return false;
    }

    /** Why the VM last refused by {@link #place} was: the host left without room and the numbers. */
    Reserve.Shortfall refusal() {
        return refusal;
    }

    /**
     * Whether the last refusal holds for good as VMs are counted: the failing host's VMs need more than the free room
     * in total, and counted VMs only take room (a first fit's shortfall is not monotone and may not last).
     */
    boolean refusalFinal() {
        return refusalFinal;
    }

    /**
     * The host whose VMs could not restart in the last refusal, and its failing first fit (the hosts it restarted
     * VMs on before the one that found no room). A VM counted on a host that is neither that host nor one of those
     * leaves the refusal standing: first fit then chooses the same hosts up to that VM, which finds even less room.
     */
    int refusalHost() {
        return refusalHost;
    }

    Plan refusalPlan() {
        return refusalPlan;
    }

    /** Free room on the other ready hosts, host u lost: as {@code Reserve.free} gives it. */
    private long[] free(int u) {
        long[] m = memorySum.clone();
        long[] v = vcpuSum.clone();
        if (tiers[u] != 0) {
            m[tiers[u]] -= Math.max(0, memoryRoom[u]);
            v[tiers[u]] -= Math.max(0, vcpuRoom[u]);
        }
        int both = Reserve.SSD | Reserve.SATA;
        return new long[] {m[Reserve.SSD] + m[Reserve.SATA] + m[both], v[Reserve.SSD] + v[Reserve.SATA] + v[both],
            m[Reserve.SSD] + m[both], v[Reserve.SSD] + v[both], m[Reserve.SATA] + m[both], v[Reserve.SATA] + v[both]};
    }

    /** How many counted VMs this room takes (0 when it is below 0). */
    private long fit(long memory, long vcpus) {
        return memory < 0 || vcpus < 0 ? 0 : Math.min(memory / vm.memoryBytes(), vcpus / vm.vcpus());
    }

    /**
     * The first fit of host u's VMs into the other ready hosts by name, as {@code Reserve.firstFit} makes it: its own
     * VMs one by one through the room trees, the counted ones (all alike, side by side in first-fit order) as one run
     * through {@link #counts}, which fills the hosts by name up to where their counts reach the run's length. The own
     * VMs after the run find the hosts it filled by what they have left ({@link #leftovers}).
     *
     * <p>Nothing is written into the trees: what this fit restarts on a host is kept aside ({@link #usedMemory}),
     * and the few hosts it touched are looked at apart. A tree then overstates their room, so a host it offers is
     * checked; {@link #leftovers} may also understate it (a host with less room before the run can have more left
     * after it), so the touched hosts are also tried one by one.
     */
    private Plan firstFit(int u, Plan previous, int landed) {
        Claim[] mine = own[u] == null ? NO_CLAIMS : own[u];
        int run = vmTier == 0 ? 0 : counted[u];
        int at = run > 0 ? countedAt[u] : mine.length;
        int all = mine.length + run;
        touchedCount = 0;
        int failedAt = all;
        int runEnd = 0;
        int partialHost = -1;
        long partial = 0;
        long slack = 0;
        if (run > 0 && previous != null && previous.run > 0 && (landed == u || previous.keepsBeforeRun(landed))) {
            // The own VMs before the run go where they went: see Plan#keepsBeforeRun.
            if (touched.length < previous.hosts.length) {
                touched = new int[previous.hosts.length];
            }
            for (int k = 0; k < previous.hosts.length; k++) {
                if (previous.memoryBefore[k] != 0 || previous.vcpusBefore[k] != 0) {
                    int b = previous.hosts[k];
                    touched[touchedCount++] = b;
                    usedMemory[b] = previous.memoryBefore[k];
                    usedVcpus[b] = previous.vcpusBefore[k];
                }
            }
            if (previous.failedAt < at) {
                failedAt = previous.failedAt; // not seen: a plan kept between decisions fits (see placeJudged)
            }
        } else {
            for (int j = 0; j < at; j++) {
                if (restartOwn(mine[j], u, 0, -1, 0) < 0) {
                    failedAt = j;
                    break;
                }
            }
        }
        if (failedAt == all && run > 0) {
            for (int k = 0; k < touchedCount; k++) {
                int b = touched[k];
                usedMemoryBefore[b] = usedMemory[b];
                usedVcpusBefore[b] = usedVcpus[b];
            }
            long fitting = counts.total() - countedLess(u, n);
            if (fitting < run) {
                failedAt = at + (int) fitting;
                runEnd = n;
            } else if (at == mine.length) {
                // Nothing after the run: where it ends does not matter, only that it fits (see Plan#slack).
                runEnd = -1;
                slack = fitting - run;
            } else {
                runEnd = runEnd(u, run);
                partialHost = byName[runEnd];
                partial = partOut[0];
            }
            for (int j = at; j < mine.length && failedAt == all; j++) {
                if (restartOwn(mine[j], u, runEnd, partialHost, partial) < 0) {
                    failedAt = run + j;
                }
            }
        }
        int[] hosts = Arrays.copyOf(touched, touchedCount);
        long[] memory = new long[touchedCount];
        long[] vcpus = new long[touchedCount];
        long[] memoryBefore = new long[touchedCount];
        long[] vcpusBefore = new long[touchedCount];
        for (int k = 0; k < touchedCount; k++) {
            int b = hosts[k];
            memory[k] = usedMemory[b];
            vcpus[k] = usedVcpus[b];
            memoryBefore[k] = usedMemoryBefore[b];
            vcpusBefore[k] = usedVcpusBefore[b];
            usedMemory[b] = 0;
            usedVcpus[b] = 0;
            usedMemoryBefore[b] = 0;
            usedVcpusBefore[b] = 0;
        }
        return new Plan(u, mine, run, failedAt, runEnd, partialHost, partial, slack, hosts, memory, vcpus,
                memoryBefore, vcpusBefore);
    }

    /**
     * How many counted VMs fewer than {@link #counts} says the hosts before position {@code end} take in u's fit: u
     * takes none, a host own VMs were restarted on takes what its room less theirs holds.
     */
    private long countedLess(int u, int end) {
        long less = (tiers[u] & vmTier) != 0 && position[u] < end ? counts.get(position[u]) : 0;
        for (int k = 0; k < touchedCount; k++) {
            int b = touched[k];
            if ((tiers[b] & vmTier) != 0 && position[b] < end) {
                less += counts.get(position[b]) - fit(memoryRoom[b] - usedMemory[b], vcpuRoom[b] - usedVcpus[b]);
            }
        }
        return less;
    }

    /**
     * Where a run of {@code run} counted VMs ends in u's fit (it fits): the first position where the counts, less
     * {@link #countedLess}, reach it; {@link #partOut} gets what the host there takes. The counts as they are reach
     * {@code run} plus what is less before that position no later than the answer, and the same position once that
     * sum stops changing (a handful of rounds: it changes only at hosts u's fit touched).
     */
    private int runEnd(int u, int run) {
        long less = 0;
        while (true) {
            int end = counts.reach(run + less, partOut);
            long lessThrough = countedLess(u, end + 1);
            if (lessThrough == less) {
                partOut[0] -= less - countedLess(u, end);
                return end;
            }
            less = lessThrough;
        }
    }

    /**
     * Restarts one of host u's own VMs on the first host by name with room for it, and returns that host (-1 if none
     * has room). A run of counted VMs placed before it (filling the hosts before position {@code runEnd}, the host
     * there, {@code partialHost}, taking {@code partial}; {@code partialHost} -1 when none was placed) took the room
     * of the hosts it filled: among them, the VM goes by what they have left.
     */
    private int restartOwn(Claim c, int u, int runEnd, int partialHost, long partial) {
        long m = c.memoryBytes();
        int v = c.vcpus();
        int t = Reserve.tier(c.storage());
        int from = 0;
        if (partialHost >= 0 && t == vmTier) {
            int p = leftovers.first(m, v, 0);
            while (p >= 0 && p < runEnd && !fitsNow(byName[p], c, u, runEnd, partialHost, partial)) {
                p = leftovers.first(m, v, p + 1);
            }
            // The tree may understate what a touched host has left: those are tried apart.
            for (int k = 0; k < touchedCount; k++) {
                int b = touched[k];
                if (position[b] < runEnd && (p < 0 || position[b] < p) && fitsNow(b, c, u, runEnd, partialHost, partial)) {
                    p = position[b];
                }
            }
            if (p >= 0 && p < runEnd) {
                return take(byName[p], c);
            }
            if (fitsNow(partialHost, c, u, runEnd, partialHost, partial)) {
                return take(partialHost, c);
            }
            from = runEnd + 1;
        }
        RoomTree tree = trees[t];
        for (int p = tree.first(m, v, from); p >= 0; p = tree.first(m, v, p + 1)) {
            if (fitsNow(byName[p], c, u, runEnd, partialHost, partial)) {
                return take(byName[p], c);
            }
        }
        return -1;
    }

    /**
     * What a first fit's run of counted VMs took on host b (see {@link #restartOwn}), b's room then being this less
     * what own VMs placed before the run took there.
     */
    private long runTook(int b, int u, int runEnd, int partialHost, long partial, long memory, long vcpus) {
        if (b == partialHost) {
            return partial;
        }
        return position[b] >= runEnd || b == u || (tiers[b] & vmTier) == 0 ? 0 : fit(memory, vcpus);
    }

    /** Whether host b (not u) has room left for VM c in the fit in progress. */
    private boolean fitsNow(int b, Claim c, int u, int runEnd, int partialHost, long partial) {
        if (b == u || (tiers[b] & Reserve.tier(c.storage())) == 0) {
            return false;
        }
        long took = runTook(b, u, runEnd, partialHost, partial, memoryRoom[b] - usedMemoryBefore[b],
                vcpuRoom[b] - usedVcpusBefore[b]);
        return c.memoryBytes() <= memoryRoom[b] - usedMemory[b] - took * vm.memoryBytes()
                && c.vcpus() <= vcpuRoom[b] - usedVcpus[b] - took * vm.vcpus();
    }

    /** Restarts VM c on host b in the fit in progress; returns b. */
    private int take(int b, Claim c) {
        if (usedMemory[b] == 0 && usedVcpus[b] == 0) {
            if (touchedCount == touched.length) {
                touched = Arrays.copyOf(touched, touchedCount * 2);
            }
            touched[touchedCount++] = b;
        }
        usedMemory[b] += c.memoryBytes();
        usedVcpus[b] += c.vcpus();
        return b;
    }

    private void treesStale(int b) {
        if (isStale[b]) {
            return;
        }
        isStale[b] = true;
        if (staleCount == stale.length) {
            stale = Arrays.copyOf(stale, staleCount * 2);
        }
        stale[staleCount++] = b;
    }

    private void refreshTrees() {
        for (int k = 0; k < staleCount; k++) {
            int b = stale[k];
            isStale[b] = false;
            setLeaf(b);
        }
        staleCount = 0;
    }

    /** Sets the host's room as it is in the trees and counts. */
    private void setLeaf(int b) {
        long memory = memoryRoom[b];
        long vcpus = vcpuRoom[b];
        for (int t = Reserve.SSD; t <= Reserve.SATA; t++) {
            boolean serves = (tiers[b] & t) != 0;
            trees[t].set(position[b], serves ? memory : RoomTree.NONE, serves ? vcpus : RoomTree.NONE);
        }
        if (vmTier != 0 && (tiers[b] & vmTier) != 0) {
            long k = fit(memory, vcpus);
            counts.set(position[b], k);
            leftovers.set(position[b], memory - k * vm.memoryBytes(), vcpus - k * vm.vcpus());
        }
    }

    /**
     * Requirements written since the classes were set up, largest on top: {@code requirement << SLOT_BITS | slot}
     * with the host's version when written (a binary heap of numbers; a queue of arrays allocated one per requirement
     * took a tenth of a count of small VMs).
     */
    private static final class Requirements {
        private long[] keys = new long[8];
        private int[] versions = new int[8];
        private int size;

        void add(long requirement, int slot, int version) {
            if (size == keys.length) {
                keys = Arrays.copyOf(keys, size * 2);
                versions = Arrays.copyOf(versions, size * 2);
            }
            long key = requirement << SLOT_BITS | slot;
            int at = size++;
            while (at > 0) {
                int parent = (at - 1) >> 1;
                if (keys[parent] >= key) {
                    break;
                }
                keys[at] = keys[parent];
                versions[at] = versions[parent];
                at = parent;
            }
            keys[at] = key;
            versions[at] = version;
        }

        boolean largestAbove(long k) {
            return size > 0 && keys[0] >> SLOT_BITS > k;
        }

        int slotOfLargest() {
            return (int) (keys[0] & ((1L << SLOT_BITS) - 1));
        }

        int versionOfLargest() {
            return versions[0];
        }

        void removeLargest() {
            size--;
            long key = keys[size];
            int version = versions[size];
            int at = 0;
            while (true) {
                int child = 2 * at + 1;
                if (child >= size) {
                    break;
                }
                if (child + 1 < size && keys[child + 1] > keys[child]) {
                    child++;
                }
                if (keys[child] <= key) {
                    break;
                }
                keys[at] = keys[child];
                versions[at] = versions[child];
                at = child;
            }
            keys[at] = key;
            versions[at] = version;
        }
    }

    /**
     * Where the first fit restarts host u's Ceph-backed VMs should u be lost, as things were when it was made: each
     * own VM on the host chosen for it, the counted ones as a run filling the hosts serving their tier by name before
     * position {@link #runEnd} and taking {@link #partial} on the host there. Kept until a change could alter it: a
     * host shrinks below what the plan restarts there ({@link #keepsWithOneMoreOn}).
     *
     * <p>Its questions about a host b are asked right after a counted VM landed on b, and only of a plan no VM
     * landing since it was made has altered ({@link #keepsWithOneMoreOn} said so each time, or it was made again):
     * they work out what the run took on b from b's room now plus that one VM.
     */
    final class Plan {
        private final int u;
        private final Claim[] own;
        private final int run;
        /** Index in first-fit order of the first VM that found no host; {@code own.length + run} when all did. */
        private final int failedAt;
        /**
         * Hosts before this position (name order) are filled by the run and the host there ({@link #partialHost})
         * takes {@link #partial}; n when the run failed (every host filled), -1 when it fits and is last (where it
         * ends then does not matter: {@link #slack}). 0 with no partial host (-1) when no run was placed.
         */
        private final int runEnd;
        private final int partialHost;
        private final long partial;
        /** The hosts own VMs were restarted on, what they took there, and what of that before the run. */
        private final int[] hosts;
        private final long[] memory;
        private final long[] vcpus;
        private final long[] memoryBefore;
        private final long[] vcpusBefore;
        /**
         * With {@link #runEnd} -1 (the run is last in first-fit order and fits): how many more counted VMs the hosts
         * would take in the run's place than it needs, and {@link #landings} when the plan was made. Each counted VM
         * since takes at most one of those places (a host's count falls by one, or u's run grows by one), so the plan
         * still fits for {@code slack} more, wherever they land, as long as u's own VMs go where they went.
         */
        private final long slack;
        private final long landingsAt;

        Plan(int u, Claim[] own, int run, int failedAt, int runEnd, int partialHost, long partial, long slack, int[] hosts,
             long[] memory, long[] vcpus, long[] memoryBefore, long[] vcpusBefore) {
            this.u = u;
            this.own = own;
            this.run = run;
            this.failedAt = failedAt;
            this.runEnd = runEnd;
            this.partialHost = partialHost;
            this.partial = partial;
            this.hosts = hosts;
            this.memory = memory;
            this.vcpus = vcpus;
            this.memoryBefore = memoryBefore;
            this.vcpusBefore = vcpusBefore;
            this.slack = slack;
            this.landingsAt = landings;
        }

        boolean fits() {
            return failedAt == own.length + run;
        }

        /** Host u's VMs in first-fit order, the counted ones among them. */
        Claim[] vms() {
            Claim[] out = new Claim[own.length + run];
            int at = run > 0 ? countedAt[u] : own.length;
            System.arraycopy(own, 0, out, 0, at);
            Arrays.fill(out, at, at + run, vm);
            System.arraycopy(own, at, out, at + run, own.length - at);
            return out;
        }

        /** The first VM that found no host, or null. */
        Claim homeless() {
            if (fits()) {
                return null;
            }
            int at = run > 0 ? countedAt[u] : own.length;
            return failedAt < at ? own[failedAt] : failedAt < at + run ? vm : own[failedAt - run];
        }

        private int indexOf(int b) {
            for (int k = 0; k < hosts.length; k++) {
                if (hosts[k] == b) {
                    return k;
                }
            }
            return -1;
        }

        /**
         * How many counted VMs the run took on host b (not u), b's room when the plan was made being what it is now
         * plus one counted VM ({@code k}: b's place among the hosts own VMs went to, or -1). Exact where it matters:
         * on a host the run took counted VMs on, the first VM landing there since the plan alters it (the plan is
         * then made again), so the room then was the room now plus that VM; on a host it took none on, the room was
         * no less and the count it gives is 0 all the same.
         */
        private long tookBeforeOneMore(int b, int k) {
            long memory = memoryRoom[b] + vm.memoryBytes() - (k < 0 ? 0 : memoryBefore[k]);
            long vcpus = vcpuRoom[b] + vm.vcpus() - (k < 0 ? 0 : vcpusBefore[k]);
            return runTook(b, u, runEnd, partialHost, partial, memory, vcpus);
        }

        /**
         * Whether the own VMs before the run still go where they went, host b having taken a counted VM since the plan
         * was made (or host u, which changes only the run): the first fit of those VMs takes each to the first host by
         * name with room; a host it passed over had no room and has none now, and the hosts it chose still have room
         * for what it restarted there unless b does not. Hosts' room only shrinks while a plan is kept (a VM taken
         * back gives back exactly what it took, and the plans it altered are put back).
         */
        boolean keepsBeforeRun(int b) {
            int k = indexOf(b);
            return k < 0 || (memoryRoom[b] >= memoryBefore[k] && vcpuRoom[b] >= vcpusBefore[k]);
        }

        /** Whether the plan still holds once a counted VM more landed on host b (not u), as it just did. */
        boolean keepsWithOneMoreOn(int b) {
            if (runEnd < 0) {
                return landings - landingsAt <= slack && keepsBeforeRun(b);
            }
            int k = indexOf(b);
            long took = tookBeforeOneMore(b, k);
            return memoryRoom[b] >= (k < 0 ? 0 : memory[k]) + took * vm.memoryBytes()
                    && vcpuRoom[b] >= (k < 0 ? 0 : vcpus[k]) + took * vm.vcpus();
        }

        /** Whether the plan restarted VMs on host b before a counted VM landed there, as one just did. */
        boolean usedBeforeOneMore(int b) {
            int k = indexOf(b);
            // A plan whose run has no end fits, and only failing plans are asked; were one asked, "used" is the safe answer.
            return runEnd < 0 || k >= 0 || tookBeforeOneMore(b, k) > 0;
        }
    }
}
