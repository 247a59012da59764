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
 * VM after which the answer would be no for some host ({@link #check}).
 *
 * <p><b>What "could be restarted" means.</b> A deterministic first fit, largest first: the lost host's Ceph-backed
 * VMs by memory, then vCPUs, then name, each into the first other ready host by name that serves its tier and
 * still has room for it under placement's own limits (promised memory within total × memory-ratio, promised
 * vCPUs within threads × vcpu-overcommit, the VMs restarted before it counted). It is a heuristic and a
 * conservative one: when it finds room, every VM has a place; when it does not, an exact packing might still
 * exist, and the VM is refused anyway. Only VMs placement knows of (claims) are counted; what a host runs that
 * placement did not put there takes room but is never restarted.
 *
 * <p><b>Speed.</b> Running the first fit for every host on every decision would cost hosts × VMs. Instead the
 * reserve keeps, per host, how many VMs of a <i>unit</i> size its room takes ({@code k}: the unit is the
 * smallest power of two at least as large as every Ceph-backed VM's memory, and the same for vCPUs), and the
 * sum {@code K} of those over the ready hosts serving each tier. If a lost host holds {@code n} Ceph-backed VMs
 * and the other hosts serving a tier take {@code K - k(own) >= n} units, first fit cannot fail there: a VM that
 * found no room would mean every such host already took its {@code k} units' worth, {@code K - k >= n} VMs
 * before it, but there are only {@code n - 1}. So a host needs the first fit only when {@code n + k(own) > K}:
 * the reserve keeps every host's {@code n + k(own)} per tier in a sorted set, and a decision looks only at the
 * few above the new {@code K}, one or two at 10,000 hosts (none unless the fleet is nearly full). Before the first
 * fit, a host's VMs are compared with the free room summed over the others (the exact aggregate check, which
 * also gives the operator the numbers). Both shortcuts give the first fit's own answer, never another.
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
    private long[][] needEntry = {new long[0], new long[0]};

    // Sums over ready hosts by the tiers they serve (index SSD, SATA or SSD | SATA).
    private final long[] unitSum = new long[4];
    private final long[] memorySum = new long[4];
    private final long[] vcpuSum = new long[4];
    /** Per tier, {@code (n + k(own)) << SLOT_BITS | slot} of every host holding VMs of that tier. */
    private final List<TreeSet<Long>> needs = List.of(new TreeSet<>(), new TreeSet<>());

    /** The unit: 2^memoryClass bytes and 2^vcpuClass vCPUs. */
    private int memoryClass = MIN_MEMORY_CLASS;
    private int vcpuClass;
    /** The smallest unit {@link #tightenUnit} may go back to (see {@link #unitAtLeast}). */
    private int memoryFloor = MIN_MEMORY_CLASS;
    private int vcpuFloor;
    /** Ceph-backed VMs by the class of their memory and of their vCPUs, to know the largest. */
    private final int[] memoryClasses = new int[64];
    private final int[] vcpuClasses = new int[33];

    /** Slots in name order, for the first fit; rebuilt when a host is added. */
    private int[] byName = new int[0];
    private boolean byNameStale;
    /** The first fit's bookkeeping, reused: what it restarted on each host so far, and which hosts it touched. */
    private long[] usedMemory = new long[0];
    private long[] usedVcpus = new long[0];
    private int[] touched = new int[0];

    /** The Ceph-backed VMs of one host. */
    private static final class Load {
        final List<Claim> vms = new ArrayList<>();
        long memory;
        long vcpus;
        /** By reserve tier bit (SSD 1, SATA 2). */
        final int[] count = new int[3];

        Load copy() {
            Load c = new Load();
            c.vms.addAll(vms);
            c.memory = memory;
            c.vcpus = vcpus;
            System.arraycopy(count, 0, c.count, 0, 3);
            return c;
        }

        int tiers() {
            return (count[SSD] > 0 ? SSD : 0) | (count[SATA] > 0 ? SATA : 0);
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

    /** Makes room for slots {@code 0 .. size - 1}. */
    void grow(int size) {
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
        usedMemory = Arrays.copyOf(usedMemory, size);
        usedVcpus = Arrays.copyOf(usedVcpus, size);
        touched = Arrays.copyOf(touched, size);
    }

    /** A new host in {@code slot} (slots are given out in order: 0, 1, 2...). */
    void add(int slot, String name) {
        if (slot >= names.length) {
            grow(Math.max(16, slot * 2));
        }
        n = Math.max(n, slot + 1);
        names[slot] = name;
        byNameStale = true;
    }

    /** A host's latest state: the Ceph tiers it serves while ready (0 when it is not) and its room. */
    void host(int slot, int readyTiers, long memory, long vcpus) {
        tiers[slot] = readyTiers;
        memoryRoom[slot] = memory;
        vcpuRoom[slot] = vcpus;
        update(slot);
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
        load.memory += sign * c.memoryBytes();
        load.vcpus += sign * (long) c.vcpus();
        load.count[t] += sign;
        memoryClasses[memoryClass(c.memoryBytes())] += sign;
        vcpuClasses[vcpuClass(c.vcpus())] += sign;
        if (load.vms.isEmpty()) {
            loads[slot] = null;
        }
        if (sign > 0 && (memoryClass(c.memoryBytes()) > memoryClass || vcpuClass(c.vcpus()) > vcpuClass)) {
            // A VM larger than the unit: every host's k changes (rare: only the largest VM so far does this).
            setUnit(Math.max(memoryClass, memoryClass(c.memoryBytes())), Math.max(vcpuClass, vcpuClass(c.vcpus())));
        } else {
            update(slot);
        }
    }

    /**
     * Makes the unit at least this large from now on (and recounts every host if that changed it): a copy about to
     * count many VMs of one size sets it once, rather than recount every host as they come and go.
     */
    void unitAtLeast(long memory, int vcpus) {
        memoryFloor = Math.max(memoryFloor, memoryClass(memory));
        vcpuFloor = Math.max(vcpuFloor, vcpuClass(vcpus));
        int m = Math.max(memoryClass, memoryFloor);
        int v = Math.max(vcpuClass, vcpuFloor);
        if (m != memoryClass || v != vcpuClass) {
            setUnit(m, v);
        }
    }

    /** A copy that changes independently of this one (for capacity's simulated placements). */
    Reserve copy() {
        Reserve c = new Reserve();
        c.grow(names.length);
        c.n = n;
        System.arraycopy(names, 0, c.names, 0, n);
        System.arraycopy(tiers, 0, c.tiers, 0, n);
        System.arraycopy(memoryRoom, 0, c.memoryRoom, 0, n);
        System.arraycopy(vcpuRoom, 0, c.vcpuRoom, 0, n);
        for (int i = 0; i < n; i++) {
            c.loads[i] = loads[i] == null ? null : loads[i].copy();
        }
        System.arraycopy(memoryClasses, 0, c.memoryClasses, 0, memoryClasses.length);
        System.arraycopy(vcpuClasses, 0, c.vcpuClasses, 0, vcpuClasses.length);
        c.memoryClass = memoryClass;
        c.vcpuClass = vcpuClass;
        c.memoryFloor = memoryFloor;
        c.vcpuFloor = vcpuFloor;
        c.byNameStale = true;
        for (int i = 0; i < n; i++) {
            c.update(i);
        }
        return c;
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
                }
                needEntry[t - 1][i] = entry;
            }
        }
    }

    private void setUnit(int memory, int vcpus) {
        memoryClass = memory;
        vcpuClass = vcpus;
        for (int i = 0; i < n; i++) {
            update(i);
        }
    }

    /** Lowers the unit to the largest VM now counted, if VMs were removed since it was set; true if it did. */
    private boolean tightenUnit() {
        int m = memoryFloor;
        for (int c = memoryClasses.length - 1; c > memoryFloor; c--) {
            if (memoryClasses[c] > 0) {
                m = c;
                break;
            }
        }
        int v = vcpuFloor;
        for (int c = vcpuClasses.length - 1; c > vcpuFloor; c--) {
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

    // ---- the check -------------------------------------------------------------------------------------

    /**
     * Whether the reserve holds once {@code vm} runs on {@code landing}, having left {@code leaving} (-1 for a
     * new VM): null if every host's Ceph-backed VMs could still restart on the other ready hosts, else the
     * shortfall of the host with the smallest name among those whose VMs could not.
     */
    Shortfall check(int landing, Claim vm, int leaving) {
        Change change = new Change(landing, vm, leaving == landing ? -1 : leaving);
        while (true) {
            List<Integer> tight = tight(change);
            if (tight.isEmpty()) {
                return null;
            }
            if (tightenUnit()) {
                continue; // the unit was larger than any VM left: with a smaller one, fewer hosts look tight
            }
            Shortfall worst = null;
            for (int u : tight) {
                if (worst != null && names[u].compareTo(worst.host()) > 0) {
                    continue;
                }
                Shortfall s = firstFit(u, change);
                if (s != null) {
                    worst = s;
                }
            }
            return worst;
        }
    }

    /** Whether the reserve holds as things are, without any change. */
    Shortfall check() {
        return check(-1, null, -1);
    }

    /** A VM arriving on one host and, for a move, leaving another. */
    private final class Change {
        final int landing;
        final Claim vm;
        final int leaving;
        final int vmTier;

        Change(int landing, Claim vm, int leaving) {
            this.landing = vm == null ? -1 : landing;
            this.vm = vm;
            this.leaving = vm == null ? -1 : leaving;
            this.vmTier = vm == null ? 0 : tier(vm.storage());
        }

        boolean touches(int slot) {
            return slot >= 0 && (slot == landing || slot == leaving);
        }

        long memoryRoom(int slot) {
            long room = Reserve.this.memoryRoom[slot];
            return slot == landing ? room - vm.memoryBytes() : slot == leaving ? room + vm.memoryBytes() : room;
        }

        long vcpuRoom(int slot) {
            long room = Reserve.this.vcpuRoom[slot];
            return slot == landing ? room - vm.vcpus() : slot == leaving ? room + vm.vcpus() : room;
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
            return tiers[slot] == 0 ? 0 : Reserve.this.units(memoryRoom(slot), vcpuRoom(slot));
        }

        /** K of tier t once the change is made. */
        long unitSum(int t) {
            long sum = unitSum[t] + unitSum[SSD | SATA];
            if (landing >= 0 && (tiers[landing] & t) != 0) {
                sum += units(landing) - Reserve.this.units[landing];
            }
            if (leaving >= 0 && (tiers[leaving] & t) != 0) {
                sum += units(leaving) - Reserve.this.units[leaving];
            }
            return sum;
        }

        /** Whether the VM is larger than the unit, so its new host cannot be judged by units. */
        boolean oversized() {
            return vmTier != 0 && (vm.memoryBytes() > 1L << memoryClass || vm.vcpus() > 1L << vcpuClass);
        }
    }

    /** The hosts whose restart the units cannot vouch for once the change is made: each needs the first fit. */
    private List<Integer> tight(Change change) {
        List<Integer> out = new ArrayList<>(2);
        long[] k = {0, change.unitSum(SSD), change.unitSum(SATA)};
        for (int s : new int[] {change.landing, change.leaving}) {
            if (s < 0 || out.contains(s)) {
                continue;
            }
            boolean tight = s == change.landing && change.oversized() && change.vms(s) > 0;
            for (int t = SSD; t <= SATA && !tight; t++) {
                tight = change.count(s, t) > 0 && change.vms(s) + ((tiers[s] & t) != 0 ? change.units(s) : 0) > k[t];
            }
            if (tight) {
                out.add(s);
            }
        }
        for (int t = SSD; t <= SATA; t++) {
            Iterator<Long> top = needs.get(t - 1).descendingIterator();
            while (top.hasNext()) {
                long entry = top.next();
                if (entry >> SLOT_BITS <= k[t]) {
                    break;
                }
                int slot = (int) (entry & SLOT_MASK);
                if (!change.touches(slot) && !out.contains(slot)) {
                    out.add(slot);
                }
            }
        }
        return out;
    }

    /**
     * The first fit of host {@code u}'s Ceph-backed VMs into the other ready hosts, once the change is made:
     * null if every VM finds room, else what is missing. The free room summed over the other hosts is compared
     * first: when it is short, no placement at all exists, and its numbers are what the operator needs.
     */
    private Shortfall firstFit(int u, Change change) {
        List<Claim> vms = new ArrayList<>(loads[u] == null ? List.of() : loads[u].vms);
        if (change.vmDelta(u) > 0) {
            vms.add(change.vm);
        } else if (change.vmDelta(u) < 0) {
            vms.remove(change.vm);
        }
        if (vms.isEmpty()) {
            return null;
        }
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
        // Free room on the other ready hosts, by the tiers they serve: u is the host lost, the change moves room.
        long[] freeMemory = memorySum.clone();
        long[] freeVcpus = vcpuSum.clone();
        if (tiers[u] != 0) {
            freeMemory[tiers[u]] -= countedMemory[u];
            freeVcpus[tiers[u]] -= countedVcpus[u];
        }
        for (int s : new int[] {change.landing, change.leaving}) {
            if (s >= 0 && s != u && tiers[s] != 0) {
                freeMemory[tiers[s]] += Math.max(0, change.memoryRoom(s)) - countedMemory[s];
                freeVcpus[tiers[s]] += Math.max(0, change.vcpuRoom(s)) - countedVcpus[s];
            }
        }
        String size = Bytes.human(memory);
        long allMemory = freeMemory[SSD] + freeMemory[SATA] + freeMemory[SSD | SATA];
        long allVcpus = freeVcpus[SSD] + freeVcpus[SATA] + freeVcpus[SSD | SATA];
        if (memory > allMemory) {
            return new Shortfall(names[u], vms.size(), memory, vcpus, Bytes.human(allMemory)
                    + " of memory free on the other ready hosts (" + size + " needed)");
        }
        if (vcpus > allVcpus) {
            return new Shortfall(names[u], vms.size(), memory, vcpus, allVcpus + " vCPUs free on the other ready hosts ("
                    + vcpus + " needed)");
        }
        for (int t = SSD; t <= SATA; t++) {
            long m = freeMemory[t] + freeMemory[SSD | SATA];
            long v = freeVcpus[t] + freeVcpus[SSD | SATA];
            if (tierMemory[t] > m || tierVcpus[t] > v) {
                return new Shortfall(names[u], vms.size(), memory, vcpus, "its " + tierWord(t) + " VMs need "
                        + Bytes.human(tierMemory[t]) + " and " + tierVcpus[t] + " vCPUs, the other ready hosts serving "
                        + tierWord(t) + " have " + Bytes.human(m) + " and " + v + " vCPUs free");
            }
        }
        vms.sort(Comparator.comparingLong(Claim::memoryBytes).reversed()
                .thenComparing(Comparator.comparingInt(Claim::vcpus).reversed()).thenComparing(Claim::vmName));
        int[] order = byName();
        int touchedCount = 0;
        Claim homeless = null;
        for (Claim c : vms) {
            int t = tier(c.storage());
            boolean placed = false;
            for (int b : order) {
                if (b == u || (tiers[b] & t) == 0) {
                    continue;
                }
                if (c.memoryBytes() <= change.memoryRoom(b) - usedMemory[b] && c.vcpus() <= change.vcpuRoom(b) - usedVcpus[b]) {
                    if (usedMemory[b] == 0 && usedVcpus[b] == 0) {
                        touched[touchedCount++] = b;
                    }
                    usedMemory[b] += c.memoryBytes();
                    usedVcpus[b] += c.vcpus();
                    placed = true;
                    break;
                }
            }
            if (!placed) {
                homeless = c;
                break;
            }
        }
        for (int j = 0; j < touchedCount; j++) {
            usedMemory[touched[j]] = 0;
            usedVcpus[touched[j]] = 0;
        }
        if (homeless == null) {
            return null;
        }
        return new Shortfall(names[u], vms.size(), memory, vcpus, Bytes.human(allMemory) + " and " + allVcpus
                + " vCPUs free on the other ready hosts, but in pieces: once the larger ones are placed, no host has room"
                + " left for " + homeless.vmName() + " (" + Bytes.human(homeless.memoryBytes()) + ", " + homeless.vcpus()
                + " vCPUs; first fit, largest first)");
    }

    private int[] byName() {
        if (byNameStale || byName.length != n) {
            Integer[] slots = new Integer[n];
            for (int i = 0; i < n; i++) {
                slots[i] = i;
            }
            Arrays.sort(slots, Comparator.comparing(i -> names[i]));
            byName = Arrays.stream(slots).mapToInt(Integer::intValue).toArray();
            byNameStale = false;
        }
        return byName;
    }

    // ---- for capacity ----------------------------------------------------------------------------------

    /** Counts the VM as placed on host {@code slot}, its room taken: what {@link HostTable} would then report. */
    void place(int slot, Claim c) {
        memoryRoom[slot] -= c.memoryBytes();
        vcpuRoom[slot] -= c.vcpus();
        if (tier(c.storage()) == 0) {
            update(slot);
        } else {
            vm(slot, c, 1);
        }
    }
}
