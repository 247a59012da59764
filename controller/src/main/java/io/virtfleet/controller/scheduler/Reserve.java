package io.virtfleet.controller.scheduler;

import io.virtfleet.common.units.Bytes;
import io.virtfleet.proto.v1.StorageTier;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.Iterator;
import java.util.List;
import java.util.TreeSet;

/**
 * The N+1 reserve: should any one host be lost, could its Ceph-backed VMs (ssd and sata; a raw disk cannot
 * start elsewhere) all be restarted on the other ready hosts? Placement with {@code n-plus-one = on} refuses a
 * VM after which the answer would be no for some host ({@link #check}), and a move that makes it no, or worse, for
 * some host ({@link #check(int, Claim, int, int)}). "Ready" here also means able to run the fleet CPU model
 * ({@link HostTable#reserveTiers}): a host the {@code cpu-model} filter refuses restarts nothing.
 *
 * <p><b>What "could be restarted" means.</b> A deterministic first fit, largest first: the lost host's Ceph-backed
 * VMs by memory, then vCPUs, then name, each into the first other ready host by name that serves its tier and
 * still has room for it under placement's own limits (promised memory within total × memory-ratio, promised
 * vCPUs within threads × vcpu-overcommit, the VMs restarted before it counted). It is a heuristic and a
 * conservative one: when it finds room, every VM has a place; when it does not, an exact packing might still
 * exist, and the VM is refused anyway. Only VMs placement knows of (claims) are counted; what a host runs that
 * placement did not put there takes room but is never restarted.
 *
 * <p><b>Speed.</b> Running the first fit for every host on every decision would cost hosts × VMs. Three things
 * spare it, none changing its answer:
 * <ul>
 *   <li><i>Units.</i> The reserve keeps, per host, how many VMs of a unit size its room takes ({@code k}; the unit
 *       is the smallest power of two at least as large as every Ceph-backed VM's memory, and the same for vCPUs),
 *       and the sum {@code K} over the ready hosts serving each tier. If a lost host holds {@code n} Ceph-backed
 *       VMs and the other hosts serving a tier take {@code K - k(own) >= n} units, first fit cannot fail there: a
 *       VM that found no room would mean every such host already took its {@code k} units' worth, {@code K - k >=
 *       n} VMs before it, but there are only {@code n - 1}. So only a host with {@code n + k(own) > K} is
 *       <i>tight</i>: the reserve keeps every host's {@code n + k(own)} per tier in a sorted set and looks at those
 *       above {@code K}, none at 10,000 hosts unless the fleet is nearly full.</li>
 *   <li><i>Plans.</i> A tight host's first fit as things are ({@link RestartPlan}) is kept until a change could
 *       alter it; a VM placed on a host alters only the plans that restart more there than it keeps (found through
 *       an index of the hosts each plan uses), and the host it lands on.</li>
 *   <li><i>The totals.</i> Before a first fit, a host's VMs are compared with the free room summed over the others
 *       (an exact check: when it fails, no placement exists at all), which also gives the operator the numbers.</li>
 *   <li><i>The first fit itself</i> finds each VM's host through a {@link RoomTree} of the hosts' room in name
 *       order, not by reading every host before it.</li>
 * </ul>
 * Where the reserve binds (a fleet nearly full) many hosts are tight and most plans use the few hosts with room
 * left, so each VM placed there alters many: a decision then costs a few milliseconds at 1,000 hosts
 * (BENCHMARKS.md §12).
 *
 * <p>Fed by {@link HostTable} on every report and claim ({@link #host}, {@link #vm}); not thread-safe (the
 * {@link Scheduler}'s lock). Byte counts below 2^53, as everywhere in placement.
 */
final class Reserve {
    /** Tier bits of the reserve: the Ceph tiers a host serves while it is ready. */
    static final int SSD = 1;
    static final int SATA = 2;
    /** Slot bits in a need entry: {@code need << SLOT_BITS | slot}. */
    private static final int SLOT_BITS = 24;
    private static final long SLOT_MASK = (1L << SLOT_BITS) - 1;
    /** Units are at least 1 MiB: no VM is smaller, and it keeps {@code k} small when no VM is known yet. */
    private static final int MIN_MEMORY_CLASS = 20;

    private int n;
    private String[] names = new String[0];
    /** SSD | SATA served while the host is ready; 0 when it is not (it takes no restarted VM). */
    private int[] tiers = new int[0];
    /** Room under placement's limits: memory limit - promised; floor(vCPU limit) - promised. May be below 0. */
    private long[] memoryRoom = new long[0];
    private long[] vcpuRoom = new long[0];
    private Load[] loads = new Load[0];

    // Derived per slot, with what it last added to the sums below (so it can be taken back).
    private long[] units = new long[0];
    private int[] countedTiers = new int[0];
    private long[] countedMemory = new long[0];
    private long[] countedVcpus = new long[0];
    /** Per slot and tier (0: ssd, 1: sata), its entry in {@link #needs}, or -1. */
    private final long[][] needEntry = {new long[0], new long[0]};

    // Sums over ready hosts by the tiers they serve (index SSD, SATA or SSD | SATA).
    private final long[] unitSum = new long[4];
    private final long[] memorySum = new long[4];
    private final long[] vcpuSum = new long[4];
    /** Per tier, {@code (n + k(own)) << SLOT_BITS | slot} of every host holding VMs of that tier. */
    private final List<TreeSet<Long>> needs = List.of(new TreeSet<>(), new TreeSet<>());

    /** The unit: 2^memoryClass bytes and 2^vcpuClass vCPUs. */
    private int memoryClass = MIN_MEMORY_CLASS;
    private int vcpuClass;
    /** Ceph-backed VMs by the class of their memory and of their vCPUs, to know the largest. */
    private final int[] memoryClasses = new int[64];
    private final int[] vcpuClasses = new int[33];

    /** Slots in name order, and each slot's place in it; rebuilt when a host is added. */
    private int[] byName = new int[0];
    private int[] position = new int[0];
    private boolean byNameStale;
    /** Per tier (index SSD, SATA), every host's room in name order, for the first fit; null until first needed. */
    private RoomTree[] trees;

    // The plans kept (see RestartPlan), and for each host the slots whose plan restarts VMs on it.
    private RestartPlan[] plans = new RestartPlan[0];
    private int[] planned = new int[0];
    private int plannedCount;
    private int[] plannedIndex = new int[0];
    private int[][] users = new int[0][];
    private int[] userCount = new int[0];
    /** Positions (name order) of the slots whose plan fails as things are. */
    private final TreeSet<Integer> failing = new TreeSet<>();
    /** Bumped by every change of rooms, tiers, VMs, hosts or unit; every tight host has a plan at {@link #plansComplete}. */
    private long version;
    private long plansComplete = -1;
    /**
     * Per tier, K when plans were last completed (every host above it had a plan then), or MAX_VALUE when every
     * tight host must be looked at again; and the hosts that may have become tight without a plan since.
     */
    private final long[] completedAt = {0, Long.MAX_VALUE, Long.MAX_VALUE};
    private int[] toPlan = new int[0];
    /** What the first fit in progress restarted on each host so far (0 elsewhere, and between fits). */
    private long[] usedMemory = new long[0];
    private long[] usedVcpus = new long[0];
    /** The tiers' trees the first fit in progress set each host in (0 elsewhere, and between fits). */
    private int[] usedTrees = new int[0];
    private int toPlanCount;
    private boolean[] waiting = new boolean[0];
    /** The verdicts of the last create checked (one VM, many hosts: a decision and its explanation), at {@link #version}. */
    private Claim memoVm;
    private long memoVersion = -1;
    private int memoEpoch;
    private int[] memoEpochOf = new int[0];
    private Shortfall[] memoResult = new Shortfall[0];

    /** The Ceph-backed VMs of one host. */
    private static final class Load {
        final List<Claim> vms = new ArrayList<>();
        /** By reserve tier bit (SSD 1, SATA 2). */
        final int[] count = new int[3];
        /** The VMs in first-fit order, once asked for and until they change (never changed in place: plans keep it). */
        private Claim[] sorted;

        Claim[] sorted() {
            if (sorted == null) {
                sorted = Reserve.sorted(vms);
            }
            return sorted;
        }
    }

    /**
     * Why the reserve would not hold: the host whose Ceph-backed VMs could not all restart elsewhere, its VMs'
     * count and size, and what is missing.
     */
    record Shortfall(String host, int vms, long memory, long vcpus, String missing) {
        /** E.g. "hv2's 5 Ceph-backed VMs (48.0 GiB, 20 vCPUs) could not all restart elsewhere: 40.0 GiB ...". */
        String text() {
            return host + "'s " + vms + " Ceph-backed " + (vms == 1 ? "VM" : "VMs") + " (" + Bytes.human(memory) + ", "
                    + vcpus + (vcpus == 1 ? " vCPU" : " vCPUs") + ") could not all restart elsewhere: " + missing;
        }
    }

    /** The reserve tier bit of a storage tier: SSD, SATA, or 0 for raw (not Ceph-backed). */
    static int tier(StorageTier t) {
        return t == StorageTier.STORAGE_TIER_SSD ? SSD : t == StorageTier.STORAGE_TIER_SATA ? SATA : 0;
    }

    /** The reserve tier bits of a host's {@link Capabilities}. */
    static int tiersOf(int capabilities) {
        return ((capabilities & Capabilities.tier(StorageTier.STORAGE_TIER_SSD)) != 0 ? SSD : 0)
                | ((capabilities & Capabilities.tier(StorageTier.STORAGE_TIER_SATA)) != 0 ? SATA : 0);
    }

    private static String tierWord(int bit) {
        return bit == SSD ? "ssd" : "sata";
    }

    // ---- feeding ---------------------------------------------------------------------------------------

    private void grow(int size) {
        names = Arrays.copyOf(names, size);
        tiers = Arrays.copyOf(tiers, size);
        memoryRoom = Arrays.copyOf(memoryRoom, size);
        vcpuRoom = Arrays.copyOf(vcpuRoom, size);
        loads = Arrays.copyOf(loads, size);
        units = Arrays.copyOf(units, size);
        countedTiers = Arrays.copyOf(countedTiers, size);
        countedMemory = Arrays.copyOf(countedMemory, size);
        countedVcpus = Arrays.copyOf(countedVcpus, size);
        for (int t = 0; t < 2; t++) {
            int old = needEntry[t].length;
            needEntry[t] = Arrays.copyOf(needEntry[t], size);
            Arrays.fill(needEntry[t], old, size, -1);
        }
        toPlan = Arrays.copyOf(toPlan, size);
        usedMemory = Arrays.copyOf(usedMemory, size);
        usedVcpus = Arrays.copyOf(usedVcpus, size);
        usedTrees = Arrays.copyOf(usedTrees, size);
        waiting = Arrays.copyOf(waiting, size);
        plans = Arrays.copyOf(plans, size);
        planned = Arrays.copyOf(planned, size);
        plannedIndex = Arrays.copyOf(plannedIndex, size);
        users = Arrays.copyOf(users, size);
        userCount = Arrays.copyOf(userCount, size);
        memoEpochOf = Arrays.copyOf(memoEpochOf, size);
        memoResult = Arrays.copyOf(memoResult, size);
    }

    /** A new host in {@code slot} (slots are given out in order: 0, 1, 2...). */
    void add(int slot, String name) {
        if (slot >= names.length) {
            grow(Math.max(16, slot * 2));
        }
        n = Math.max(n, slot + 1);
        names[slot] = name;
        byNameStale = true;
        // Plans name hosts by their order, which a new name shifts: they are made again when needed.
        while (plannedCount > 0) {
            forget(planned[plannedCount - 1]);
        }
        trees = null;
        completedAt[SSD] = completedAt[SATA] = Long.MAX_VALUE;
        version++;
    }

    /** A host's latest state: the Ceph tiers it serves while ready (0 when it is not) and its room. */
    void host(int slot, int readyTiers, long memory, long vcpus) {
        int oldTiers = tiers[slot];
        long oldMemory = memoryRoom[slot];
        long oldVcpus = vcpuRoom[slot];
        if (readyTiers == oldTiers && memory == oldMemory && vcpus == oldVcpus) {
            return; // most reports change nothing here
        }
        tiers[slot] = readyTiers;
        memoryRoom[slot] = memory;
        vcpuRoom[slot] = vcpus;
        version++;
        update(slot);
        if (trees != null) {
            setLeaf(slot, memory, vcpus);
        }
        if (plannedCount == 0) {
            return;
        }
        boolean shrank = memory <= oldMemory && vcpus <= oldVcpus && (readyTiers & ~oldTiers) == 0;
        boolean lostTiers = (oldTiers & ~readyTiers) != 0;
        if (shrank) {
            // Only plans that restart VMs here can change: those that restart more than it keeps now.
            for (int j = userCount[slot] - 1; j >= 0; j--) {
                int u = users[slot][j];
                if (lostTiers || !plans[u].keepsAfterShrink(slot, memory, vcpus)) {
                    forget(u);
                }
            }
            return;
        }
        int[] pos = positions();
        for (int j = plannedCount - 1; j >= 0; j--) {
            int u = planned[j];
            RestartPlan p = plans[u];
            if (u == slot) {
                continue; // a plan never restarts on its own host
            }
            boolean uses = p.indexOf(slot) >= 0;
            if (uses ? lostTiers || !p.keepsAfterShrink(slot, memory, vcpus) || memory > oldMemory || vcpus > oldVcpus
                    || readyTiers != oldTiers
                    : !p.keepsAfterGrowth(pos[slot], readyTiers, memory, vcpus, pos)) {
                forget(u);
            }
        }
    }

    /** Counts ({@code sign} 1) or stops counting (-1) a VM on its host; a raw-disk VM is ignored. */
    void vm(int slot, Claim c, int sign) {
        int t = tier(c.storage());
        if (t == 0) {
            return;
        }
        Load load = loads[slot];
        if (load == null) {
            load = loads[slot] = new Load();
        }
        if (sign > 0) {
            load.vms.add(c);
        } else if (!load.vms.remove(c)) {
            return;
        }
        load.sorted = null;
        load.count[t] += sign;
        memoryClasses[memoryClass(c.memoryBytes())] += sign;
        vcpuClasses[vcpuClass(c.vcpus())] += sign;
        if (load.vms.isEmpty()) {
            loads[slot] = null;
        }
        version++;
        if (plans[slot] != null) {
            forget(slot);
        }
        if (sign > 0 && (memoryClass(c.memoryBytes()) > memoryClass || vcpuClass(c.vcpus()) > vcpuClass)) {
            // A VM larger than the unit: every host's k changes (rare: only the largest VM so far does this).
            setUnit(Math.max(memoryClass, memoryClass(c.memoryBytes())), Math.max(vcpuClass, vcpuClass(c.vcpus())));
        } else {
            update(slot);
        }
    }

    private static int memoryClass(long bytes) {
        return Math.max(MIN_MEMORY_CLASS, bytes <= 1 ? 0 : 64 - Long.numberOfLeadingZeros(bytes - 1));
    }

    private static int vcpuClass(long vcpus) {
        return vcpus <= 1 ? 0 : 64 - Long.numberOfLeadingZeros(vcpus - 1);
    }

    private long units(long memory, long vcpus) {
        return memory < 0 || vcpus < 0 ? 0 : Math.min(memory >> memoryClass, vcpus >> vcpuClass);
    }

    /** Recomputes what the slot adds to the sums and its entries in {@link #needs}. */
    private void update(int i) {
        int was = countedTiers[i];
        if (was != 0) {
            unitSum[was] -= units[i];
            memorySum[was] -= countedMemory[i];
            vcpuSum[was] -= countedVcpus[i];
        }
        int now = tiers[i];
        units[i] = now == 0 ? 0 : units(memoryRoom[i], vcpuRoom[i]);
        countedTiers[i] = now;
        countedMemory[i] = now == 0 ? 0 : Math.max(0, memoryRoom[i]);
        countedVcpus[i] = now == 0 ? 0 : Math.max(0, vcpuRoom[i]);
        if (now != 0) {
            unitSum[now] += units[i];
            memorySum[now] += countedMemory[i];
            vcpuSum[now] += countedVcpus[i];
        }
        Load load = loads[i];
        for (int t = SSD; t <= SATA; t++) {
            long entry = load == null || load.count[t] == 0 ? -1
                    : (load.vms.size() + ((now & t) != 0 ? units[i] : 0)) << SLOT_BITS | i;
            long old = needEntry[t - 1][i];
            if (entry != old) {
                if (old >= 0) {
                    needs.get(t - 1).remove(old);
                }
                if (entry >= 0) {
                    needs.get(t - 1).add(entry);
                    if (plans[i] == null) {
                        mayNeedPlan(i);
                    }
                }
                needEntry[t - 1][i] = entry;
            }
        }
    }

    private void setUnit(int memory, int vcpus) {
        memoryClass = memory;
        vcpuClass = vcpus;
        completedAt[SSD] = completedAt[SATA] = Long.MAX_VALUE;
        version++;
        for (int i = 0; i < n; i++) {
            update(i);
        }
    }

    /** Lowers the unit to the largest VM now counted, if VMs were removed since it was set; true if it did. */
    private boolean tightenUnit() {
        int m = MIN_MEMORY_CLASS;
        for (int c = memoryClasses.length - 1; c > MIN_MEMORY_CLASS; c--) {
            if (memoryClasses[c] > 0) {
                m = c;
                break;
            }
        }
        int v = 0;
        for (int c = vcpuClasses.length - 1; c > 0; c--) {
            if (vcpuClasses[c] > 0) {
                v = c;
                break;
            }
        }
        if (m >= memoryClass && v >= vcpuClass) {
            return false;
        }
        setUnit(Math.min(m, memoryClass), Math.min(v, vcpuClass));
        return true;
    }

    // ---- plans ------------------------------------------------------------------------------------------

    /**
     * Every tight host has a plan: made for those that lack one (and the unit tightened first, if it can be). Only
     * hosts that may have become tight since the last time are looked at: those above the new K but not the old,
     * and those whose plan was dropped or whose own count changed.
     */
    private void completePlans() {
        if (plansComplete == version) {
            return;
        }
        if (tightHosts(unitSum(SSD), unitSum(SATA))) {
            tightenUnit(); // if the unit is larger than any VM left, a smaller one leaves fewer hosts tight
        }
        for (int t = SSD; t <= SATA; t++) {
            long k = unitSum(t);
            if (completedAt[t] > k) {
                TreeSet<Long> above = needs.get(t - 1);
                for (long entry : List.copyOf(completedAt[t] == Long.MAX_VALUE ? above.tailSet((k + 1) << SLOT_BITS)
                        : above.subSet((k + 1) << SLOT_BITS, (completedAt[t] + 1) << SLOT_BITS))) {
                    plan((int) (entry & SLOT_MASK));
                }
            }
            completedAt[t] = k;
        }
        while (toPlanCount > 0) {
            int u = toPlan[--toPlanCount];
            waiting[u] = false;
            if (plans[u] == null && isTight(u)) {
                plan(u);
            }
        }
        plansComplete = version;
    }

    private boolean isTight(int u) {
        for (int t = SSD; t <= SATA; t++) {
            if (needEntry[t - 1][u] >= 0 && needEntry[t - 1][u] >> SLOT_BITS > unitSum(t)) {
                return true;
            }
        }
        return false;
    }

    private void mayNeedPlan(int u) {
        if (!waiting[u]) {
            waiting[u] = true;
            toPlan[toPlanCount++] = u;
        }
    }

    private boolean tightHosts(long ssd, long sata) {
        return !needs.get(0).isEmpty() && needs.get(0).last() >> SLOT_BITS > ssd
                || !needs.get(1).isEmpty() && needs.get(1).last() >> SLOT_BITS > sata;
    }

    /** The slot's plan as things are, made if it has none. */
    private RestartPlan plan(int u) {
        if (plans[u] != null) {
            return plans[u];
        }
        Claim[] vms = loads[u] == null ? NO_CLAIMS : loads[u].sorted();
        int[] chosen = new int[vms.length];
        int failedAt = firstFit(u, vms, null, chosen);
        RestartPlan p = new RestartPlan(vms, chosen, failedAt);
        plans[u] = p;
        plannedIndex[u] = plannedCount;
        planned[plannedCount++] = u;
        for (int k = 0; k < p.hosts.length; k++) {
            int b = p.hosts[k];
            if (users[b] == null) {
                users[b] = new int[4];
            } else if (userCount[b] == users[b].length) {
                users[b] = Arrays.copyOf(users[b], userCount[b] * 2);
            }
            p.userAt[k] = userCount[b];
            users[b][userCount[b]++] = u;
        }
        if (!p.fits()) {
            failing.add(positions()[u]);
        }
        return p;
    }

    /** Drops the slot's plan: something it depends on changed. */
    private void forget(int u) {
        RestartPlan p = plans[u];
        plans[u] = null;
        int at = plannedIndex[u];
        int last = planned[--plannedCount];
        planned[at] = last;
        plannedIndex[last] = at;
        for (int k = 0; k < p.hosts.length; k++) {
            // Swapped out by the last user of the host, whose place is then updated: no search of a list that, for
            // the first hosts by name, holds nearly every plan.
            int b = p.hosts[k];
            int[] list = users[b];
            int place = p.userAt[k];
            int moved = list[--userCount[b]];
            list[place] = moved;
            if (moved != u) {
                RestartPlan q = plans[moved];
                q.userAt[q.indexOf(b)] = place;
            }
        }
        if (!p.fits()) {
            failing.remove(position[u]);
        }
        plansComplete = -1;
        mayNeedPlan(u);
    }

    // ---- the check -------------------------------------------------------------------------------------

    /**
     * Whether the reserve holds once {@code vm} runs on {@code landing}, having left {@code leaving} (-1 for a
     * new VM): null if every host's Ceph-backed VMs could still restart on the other ready hosts, else the
     * shortfall of the host with the smallest name among those whose VMs could not.
     */
    Shortfall check(int landing, Claim vm, int leaving) {
        return check(landing, vm, leaving, 0);
    }

    /**
     * As {@link #check(int, Claim, int)}, for a move judged by what it changes: the move is refused only for a host
     * whose VMs could restart elsewhere before it and could not after it, or whose VMs could not before either and
     * find less room against what they need after it (less free memory or fewer free vCPUs on the other ready
     * hosts, in all or in a tier its VMs use, than they need). A shortfall the move leaves as it was does not refuse
     * it: otherwise, once any host is short (a host lost, or drained), no VM could move at all, not even to make
     * room.
     *
     * <p>{@code returningTiers}: the tiers {@code leaving} serves once back in service when it is drained for
     * maintenance (0 otherwise). Such a host is judged, before and after the move, as if it were ready with its
     * room: a drain spends the reserve on purpose (while a host is down for maintenance, the fleet keeps no room for
     * the loss of a second one), and the host comes back emptied. Judged as things are, every move off it would find
     * the hosts it moves to short of the drained host's room, and the drain could not empty it.
     */
    Shortfall check(int landing, Claim vm, int leaving, int returningTiers) {
        completePlans();
        boolean create = leaving < 0 || leaving == landing;
        if (create) {
            if (!vm.equals(memoVm) || memoVersion != version) {
                memoVm = vm;
                memoVersion = version;
                memoEpoch++;
            }
            if (memoEpochOf[landing] == memoEpoch) {
                return memoResult[landing];
            }
        }
        Shortfall s = judge(create ? new Change(landing, vm, -1, 0)
                : new Change(landing, vm, leaving, tiers[leaving] == 0 ? returningTiers : 0));
        if (create) {
            memoEpochOf[landing] = memoEpoch;
            memoResult[landing] = s;
        }
        return s;
    }

    /**
     * A VM arriving on one host and, for a move, leaving another; for a move off a drained host, that host counted
     * as back in service ({@link #returning} its tiers). With no VM, a drained host's return alone: how a move off it
     * finds things before it.
     */
    private final class Change {
        final int landing;
        final Claim vm;
        final int leaving;
        final int vmTier;
        /** The tiers {@link #leaving} serves in this change when it is drained and counted as back; 0 otherwise. */
        final int returning;
        /** The same change without the VM (null for a create): what a move's verdict compares with. */
        final Change before;

        Change(int landing, Claim vm, int leaving, int returning) {
            this.landing = vm == null ? -1 : landing;
            this.vm = vm;
            this.leaving = leaving;
            this.vmTier = vm == null ? 0 : tier(vm.storage());
            this.returning = leaving >= 0 ? returning : 0;
            this.before = vm == null || leaving < 0 ? null : new Change(-1, null, returning == 0 ? -1 : leaving, returning);
        }

        boolean touches(int slot) {
            return slot >= 0 && (slot == landing || slot == leaving);
        }

        /** The tiers the slot serves once the change is made. */
        int tiers(int slot) {
            return slot == leaving && returning != 0 ? returning : Reserve.this.tiers[slot];
        }

        long memoryRoom(int slot) {
            long room = Reserve.this.memoryRoom[slot];
            return vm == null ? room
                    : slot == landing ? room - vm.memoryBytes() : slot == leaving ? room + vm.memoryBytes() : room;
        }

        long vcpuRoom(int slot) {
            long room = Reserve.this.vcpuRoom[slot];
            return vm == null ? room : slot == landing ? room - vm.vcpus() : slot == leaving ? room + vm.vcpus() : room;
        }

        /** +1 if the slot gains the Ceph-backed VM, -1 if it loses it, else 0. */
        int vmDelta(int slot) {
            return vmTier == 0 ? 0 : slot == landing ? 1 : slot == leaving ? -1 : 0;
        }

        int vms(int slot) {
            return (loads[slot] == null ? 0 : loads[slot].vms.size()) + vmDelta(slot);
        }

        int count(int slot, int t) {
            return (loads[slot] == null ? 0 : loads[slot].count[t]) + (vmTier == t ? vmDelta(slot) : 0);
        }

        long units(int slot) {
            return tiers(slot) == 0 ? 0 : Reserve.this.units(memoryRoom(slot), vcpuRoom(slot));
        }

        /** K of tier t once the change is made (a drained host counted as back adds its units, none before). */
        long unitSum(int t) {
            long sum = Reserve.this.unitSum(t);
            if (landing >= 0 && (tiers(landing) & t) != 0) {
                sum += units(landing) - Reserve.this.units[landing];
            }
            if (leaving >= 0 && (tiers(leaving) & t) != 0) {
                sum += units(leaving) - Reserve.this.units[leaving];
            }
            return sum;
        }

        /** Whether the slot (one the change touches) is tight once the change is made. */
        boolean tight(int s, long ssd, long sata) {
            if (vms(s) == 0) {
                return false;
            }
            if (s == landing && vmTier != 0 && (vm.memoryBytes() > 1L << memoryClass || vm.vcpus() > 1L << vcpuClass)) {
                return true; // larger than the unit: units cannot vouch for it
            }
            long own = units(s);
            return count(s, SSD) > 0 && vms(s) + ((tiers(s) & SSD) != 0 ? own : 0) > ssd
                    || count(s, SATA) > 0 && vms(s) + ((tiers(s) & SATA) != 0 ? own : 0) > sata;
        }

        /** Whether the plan of a slot the change does not touch still holds once it is made. */
        boolean keeps(RestartPlan p) {
            if (landing >= 0 && !p.keepsAfterShrink(landing, memoryRoom(landing), vcpuRoom(landing))) {
                return false;
            }
            return leaving < 0 || (p.indexOf(leaving) < 0
                    ? p.keepsAfterGrowth(positions()[leaving], tiers(leaving), memoryRoom(leaving), vcpuRoom(leaving),
                            positions())
                    : false);
        }
    }

    private long unitSum(int t) {
        return unitSum[t] + unitSum[SSD | SATA];
    }

    /**
     * The shortfall of the host with the smallest name among those whose VMs could not restart once the change is
     * made, or null. Only these can: the hosts the change touches; hosts whose plan fails now and still does; hosts
     * whose plan the change alters (it uses the host the VM lands on, or, for a move, passed over the host it
     * leaves); and hosts tight only after the change. Every other host either has a plan the change leaves as it
     * is, or is not tight.
     */
    private Shortfall judge(Change ch) {
        long ssd = ch.unitSum(SSD);
        long sata = ch.unitSum(SATA);
        Shortfall best = null;
        for (int s : new int[] {ch.landing, ch.leaving}) {
            if (s >= 0 && ch.tight(s, ssd, sata)) {
                best = smaller(best, madeWorse(s, firstFitShortfall(s, ch), ch));
            }
        }
        for (int at : failing) {
            int u = byName[at];
            if (best != null && names[u].compareTo(best.host()) >= 0) {
                break;
            }
            if (ch.touches(u)) {
                continue;
            }
            Shortfall s = ch.keeps(plans[u]) ? shortfall(u, ch, plans[u].homeless()) : firstFitShortfall(u, ch);
            s = madeWorse(u, s, ch);
            if (s != null) {
                best = s; // the first by name of those failing now: any later one has a larger name
                break;
            }
        }
        if (ch.leaving >= 0) {
            for (int j = plannedCount - 1; j >= 0; j--) {
                best = rejudge(planned[j], ch, best);
            }
        } else if (ch.landing >= 0 && userCount[ch.landing] > 0) {
            for (int u : Arrays.copyOf(users[ch.landing], userCount[ch.landing])) {
                best = rejudge(u, ch, best);
            }
        }
        // Hosts the change makes tight: a plan made for each (as things are, it holds: they were not tight).
        long[] before = {0, unitSum(SSD), unitSum(SATA)};
        long[] after = {0, ssd, sata};
        for (int t = SSD; t <= SATA; t++) {
            if (after[t] >= before[t]) {
                continue;
            }
            for (long entry : List.copyOf(needs.get(t - 1).subSet((after[t] + 1) << SLOT_BITS, (before[t] + 1) << SLOT_BITS))) {
                int u = (int) (entry & SLOT_MASK);
                if (!ch.touches(u)) {
                    plan(u);
                    best = rejudge(u, ch, best);
                }
            }
        }
        return best;
    }

    /** The smaller shortfall of the two by host name (null counts as none). */
    private static Shortfall smaller(Shortfall a, Shortfall b) {
        return a == null ? b : b == null || a.host().compareTo(b.host()) <= 0 ? a : b;
    }

    /** The best so far, or u's shortfall if its plan, altered by the change, fails and its name is smaller. */
    private Shortfall rejudge(int u, Change ch, Shortfall best) {
        RestartPlan p = plans[u];
        if (ch.touches(u) || p == null || !p.fits() || (best != null && names[u].compareTo(best.host()) >= 0)
                || ch.keeps(p)) {
            return best; // failing plans were judged already; a plan the change keeps holds
        }
        return smaller(best, madeWorse(u, firstFitShortfall(u, ch), ch));
    }

    /**
     * For a move ({@link Change#before} set): u's shortfall once it is made, unless u's VMs could not all restart
     * before it either and miss no more room after it (see {@link #check(int, Claim, int, int)}); then null, as the
     * move leaves u's trouble as it was. For a create: the shortfall as it is.
     */
    private Shortfall madeWorse(int u, Shortfall after, Change ch) {
        if (after == null || ch.before == null || firstFitShortfall(u, ch.before) == null) {
            return after;
        }
        long[] now = missing(u, ch.before);
        long[] then = missing(u, ch);
        for (int k = 0; k < now.length; k++) {
            if (then[k] > now[k]) {
                return after;
            }
        }
        return null;
    }

    /**
     * What host u's VMs need beyond the free room on the other ready hosts once the change is made (0 where the room
     * suffices): memory and vCPUs in all, then on the hosts serving ssd, then sata.
     */
    private long[] missing(int u, Change ch) {
        long[] need = new long[6];
        for (Claim c : vmsAfter(u, ch)) {
            int t = tier(c.storage());
            need[0] += c.memoryBytes();
            need[1] += c.vcpus();
            need[2 * t] += c.memoryBytes();
            need[2 * t + 1] += c.vcpus();
        }
        long[] free = free(u, ch);
        long[] out = new long[6];
        for (int k = 0; k < 6; k++) {
            out[k] = Math.max(0, need[k] - free[k]);
        }
        return out;
    }

    /**
     * Host u's VMs once the change is made, in first-fit order: largest memory first, then vCPUs, then name. May be
     * the host's own sorted array (when the change adds or takes none there): read it, never write it.
     */
    private Claim[] vmsAfter(int u, Change ch) {
        // The host's VMs as sorted once (never changed in place), the change's VM put in or left out: near the
        // reserve's limit a refused create asks this of many hosts, and sorting each time took a tenth of it.
        Claim[] vms = loads[u] == null ? NO_CLAIMS : loads[u].sorted();
        int delta = ch.vmDelta(u);
        if (delta > 0) {
            int at = Arrays.binarySearch(vms, ch.vm, FIRST_FIT);
            if (at < 0) {
                at = -at - 1;
            }
            while (at < vms.length && FIRST_FIT.compare(vms[at], ch.vm) == 0) {
                at++; // after a claim that compares the same, as a stable sort of the VMs with it added last would
            }
            Claim[] out = new Claim[vms.length + 1];
            System.arraycopy(vms, 0, out, 0, at);
            out[at] = ch.vm;
            System.arraycopy(vms, at, out, at + 1, vms.length - at);
            return out;
        }
        if (delta < 0) {
            for (int k = 0; k < vms.length; k++) {
                if (vms[k].equals(ch.vm)) {
                    Claim[] out = new Claim[vms.length - 1];
                    System.arraycopy(vms, 0, out, 0, k);
                    System.arraycopy(vms, k + 1, out, k, vms.length - k - 1);
                    return out;
                }
            }
        }
        return vms;
    }

    private static final Claim[] NO_CLAIMS = new Claim[0];

    /** First-fit order: the larger memory first, then the more vCPUs, then by name. */
    static final Comparator<Claim> FIRST_FIT = (a, b) -> {
        if (a.memoryBytes() != b.memoryBytes()) {
            return a.memoryBytes() > b.memoryBytes() ? -1 : 1;
        }
        if (a.vcpus() != b.vcpus()) {
            return a.vcpus() > b.vcpus() ? -1 : 1;
        }
        return a.vmName().compareTo(b.vmName());
    };

    /** Claims in first-fit order. */
    static Claim[] sorted(List<Claim> vms) {
        Claim[] out = vms.toArray(NO_CLAIMS);
        Arrays.sort(out, FIRST_FIT);
        return out;
    }

    /** The first fit of host u's VMs once the change is made: null if every VM finds room, else the shortfall. */
    private Shortfall firstFitShortfall(int u, Change ch) {
        Claim[] vms = vmsAfter(u, ch);
        if (vms.length == 0) {
            return null;
        }
        Shortfall total = totals(u, ch, vms);
        if (total != null) {
            return total;
        }
        int failedAt = firstFit(u, vms, ch, new int[vms.length]);
        return failedAt == vms.length ? null : shortfall(u, ch, vms[failedAt]);
    }

    /**
     * Host u's shortfall once the change is made, knowing the first fit's homeless VM (null: none): the totals'
     * when they are short, as {@link #firstFitShortfall} would find first.
     */
    private Shortfall shortfall(int u, Change ch, Claim homeless) {
        Claim[] vms = vmsAfter(u, ch);
        return shortfall(names[u], vms, free(u, ch), homeless);
    }

    /**
     * The shortfall of a lost host's VMs ({@code vms}) given the free room on the other ready hosts ({@code free},
     * as {@link #free} gives it) and the first fit's homeless VM (null: none): the totals' when they are short, else
     * "in pieces", naming the homeless VM; null when neither.
     */
    static Shortfall shortfall(String host, Claim[] vms, long[] free, Claim homeless) {
        Shortfall total = totals(host, vms, free);
        if (total != null || homeless == null) {
            return total;
        }
        long memory = 0;
        long vcpus = 0;
        for (Claim c : vms) {
            memory += c.memoryBytes();
            vcpus += c.vcpus();
        }
        return new Shortfall(host, vms.length, memory, vcpus, Bytes.human(free[0]) + " and " + free[1]
                + " vCPUs free on the other ready hosts, but in pieces: once the larger ones are placed, no host has room"
                + " left for " + homeless.vmName() + " (" + Bytes.human(homeless.memoryBytes()) + ", " + homeless.vcpus()
                + (homeless.vcpus() == 1 ? " vCPU" : " vCPUs") + "; first fit, largest first)");
    }

    /**
     * Free room on the other ready hosts once the change is made, host u lost: {memory, vCPUs} on all, then on
     * those serving ssd, then on those serving sata.
     */
    private long[] free(int u, Change ch) {
        long[] freeMemory = memorySum.clone();
        long[] freeVcpus = vcpuSum.clone();
        if (tiers[u] != 0) {
            freeMemory[tiers[u]] -= countedMemory[u];
            freeVcpus[tiers[u]] -= countedVcpus[u];
        }
        for (int s : new int[] {ch.landing, ch.leaving}) {
            if (s < 0 || s == u) {
                continue;
            }
            if (countedTiers[s] != 0) {
                freeMemory[countedTiers[s]] -= countedMemory[s];
                freeVcpus[countedTiers[s]] -= countedVcpus[s];
            }
            if (ch.tiers(s) != 0) {
                freeMemory[ch.tiers(s)] += Math.max(0, ch.memoryRoom(s));
                freeVcpus[ch.tiers(s)] += Math.max(0, ch.vcpuRoom(s));
            }
        }
        int both = SSD | SATA;
        return new long[] {freeMemory[SSD] + freeMemory[SATA] + freeMemory[both],
            freeVcpus[SSD] + freeVcpus[SATA] + freeVcpus[both], freeMemory[SSD] + freeMemory[both],
            freeVcpus[SSD] + freeVcpus[both], freeMemory[SATA] + freeMemory[both], freeVcpus[SATA] + freeVcpus[both]};
    }

    /**
     * The exact check: host u's VMs against the free room summed over the other ready hosts, in all and per tier.
     * Short there, no placement of them exists at all; null when the totals suffice.
     */
    private Shortfall totals(int u, Change ch, Claim[] vms) {
        return totals(names[u], vms, free(u, ch));
    }

    /**
     * Whether these VMs need more memory or vCPUs, in all or in a tier, than the free room: a shortfall that VMs
     * placed elsewhere can never cure (they only take room), unlike a first fit's, which is not monotone.
     */
    static boolean shortInTotal(Claim[] vms, long[] free) {
        return totals("", vms, free) != null;
    }

    private static Shortfall totals(String host, Claim[] vms, long[] free) {
        long memory = 0;
        long vcpus = 0;
        long[] tierMemory = new long[3];
        long[] tierVcpus = new long[3];
        for (Claim c : vms) {
            int t = tier(c.storage());
            memory += c.memoryBytes();
            vcpus += c.vcpus();
            tierMemory[t] += c.memoryBytes();
            tierVcpus[t] += c.vcpus();
        }
        if (memory > free[0]) {
            return new Shortfall(host, vms.length, memory, vcpus, Bytes.human(free[0])
                    + " of memory free on the other ready hosts (" + Bytes.human(memory) + " needed)");
        }
        if (vcpus > free[1]) {
            return new Shortfall(host, vms.length, memory, vcpus, free[1] + " vCPUs free on the other ready hosts ("
                    + vcpus + " needed)");
        }
        for (int t = SSD; t <= SATA; t++) {
            long m = free[2 * t];
            long v = free[2 * t + 1];
            if (tierMemory[t] > m || tierVcpus[t] > v) {
                return new Shortfall(host, vms.length, memory, vcpus, "its " + tierWord(t) + " VMs need "
                        + Bytes.human(tierMemory[t]) + " and " + tierVcpus[t] + " vCPUs, the other ready hosts serving "
                        + tierWord(t) + " have " + Bytes.human(m) + " and " + v + " vCPUs free");
            }
        }
        return null;
    }

    /**
     * First fit of {@code vms} (in order) from host u into the other ready hosts by name, once the change (null:
     * none) is made: writes each VM's host into {@code chosen} and returns the index of the first VM that found
     * none, or {@code vms.length}. The trees hold every host's room as things are and are not changed for this: a
     * host they offer is checked against its room once the change is made, less what this fit restarted there, and
     * the search goes on after it if that falls short. Only a host the change gives more room (the one a move
     * leaves) is set in the trees for the while, or the search would pass it over.
     */
    private int firstFit(int u, Claim[] vms, Change ch, int[] chosen) {
        RoomTree[] room = trees();
        int leaving = ch == null ? -1 : ch.leaving;
        if (leaving >= 0) {
            setLeaf(leaving, ch.tiers(leaving), ch.memoryRoom(leaving), ch.vcpuRoom(leaving));
        }
        int[] touched = new int[vms.length];
        int touchedCount = 0;
        int failedAt = vms.length;
        Arrays.fill(chosen, -1);
        for (int j = 0; j < vms.length && failedAt == vms.length; j++) {
            Claim c = vms[j];
            RoomTree tree = room[tier(c.storage())];
            int from = 0;
            while (true) {
                int at = tree.first(c.memoryBytes(), c.vcpus(), from);
                if (at < 0) {
                    failedAt = j;
                    break;
                }
                int b = byName[at];
                long memory = (ch == null ? memoryRoom[b] : ch.memoryRoom(b)) - usedMemory[b];
                long vcpus = (ch == null ? vcpuRoom[b] : ch.vcpuRoom(b)) - usedVcpus[b];
                if (b != u && c.memoryBytes() <= memory && c.vcpus() <= vcpus) {
                    if (usedMemory[b] == 0 && usedVcpus[b] == 0) {
                        touched[touchedCount++] = b;
                    }
                    usedTrees[b] |= tier(c.storage());
                    usedMemory[b] += c.memoryBytes();
                    usedVcpus[b] += c.vcpus();
                    chosen[j] = b;
                    // What is left there, in this tier's tree, so the next VMs' searches pass it by when it is full.
                    tree.set(at, memory - c.memoryBytes(), vcpus - c.vcpus());
                    break;
                }
                from = at + 1;
            }
        }
        // Each tree set for the while is set back (only those: a host serving both tiers is seldom in both).
        for (int j = 0; j < touchedCount; j++) {
            int b = touched[j];
            usedMemory[b] = 0;
            usedVcpus[b] = 0;
            for (int t = SSD; t <= SATA; t++) {
                if ((usedTrees[b] & t) != 0) {
                    room[t].set(position[b], memoryRoom[b], vcpuRoom[b]);
                }
            }
            usedTrees[b] = 0;
        }
        if (leaving >= 0) {
            setLeaf(leaving, memoryRoom[leaving], vcpuRoom[leaving]);
        }
        return failedAt;
    }

    /** The trees, built from every host's room if they are not. */
    private RoomTree[] trees() {
        int[] order = byName();
        if (trees == null) {
            trees = new RoomTree[] {null, new RoomTree(n), new RoomTree(n)};
            for (int b : order) {
                setLeaf(b, memoryRoom[b], vcpuRoom[b]);
            }
        }
        return trees;
    }

    /** Sets the host's room in the tree of each tier it serves (the others never choose it). */
    private void setLeaf(int b, long memory, long vcpus) {
        setLeaf(b, tiers[b], memory, vcpus);
    }

    private void setLeaf(int b, int served, long memory, long vcpus) {
        for (int t = SSD; t <= SATA; t++) {
            boolean serves = (served & t) != 0;
            trees[t].set(position[b], serves ? memory : RoomTree.NONE, serves ? vcpus : RoomTree.NONE);
        }
    }

    private int[] byName() {
        if (byNameStale || byName.length != n) {
            Integer[] slots = new Integer[n];
            for (int i = 0; i < n; i++) {
                slots[i] = i;
            }
            Arrays.sort(slots, Comparator.comparing(i -> names[i]));
            byName = Arrays.stream(slots).mapToInt(Integer::intValue).toArray();
            position = new int[names.length];
            for (int p = 0; p < n; p++) {
                position[byName[p]] = p;
            }
            byNameStale = false;
        }
        return byName;
    }

    private int[] positions() {
        byName();
        return position;
    }
}
