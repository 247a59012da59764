package io.virtfleet.controller.scheduler;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CancellationException;
import java.util.function.BooleanSupplier;

/**
 * Counts {@link Capacity}: made under the {@link Scheduler}'s lock from what placement knows (one pass over the
 * hosts, copying what the count needs), counted after it is released.
 *
 * <p><b>Without the reserve</b> hosts do not interact: the VMs placement would put on one host do not change what
 * another takes, so the total is the sum of each host's count, in whatever order placement would fill them. A
 * host that fails a filter for the first VM takes none, for that filter's reason. Otherwise the filters that
 * count what is promised decide how many: placement takes a VM while {@code promised + request <= limit} for memory
 * and vCPUs (the vCPU limit rounded down, an exact rewriting of its test, see {@link HostTable#vcpuRoom}) and, for a
 * raw disk, within the images directory's size (its free space is what the host reported, which does not change
 * as sparse disks are made); a spread group allows one. The resource that allows the fewest runs out first, and is
 * named as the filter placement would name for the next VM.
 *
 * <p><b>With the reserve</b> the order matters, since each VM placed takes room another host's VMs might need to
 * restart. The count then plays placement's decisions one by one on a {@link CountedReserve} (the reserve's verdict,
 * worked out for VMs only ever added): each time the first host, by best score for the request and then by name (as a
 * decision judges them), with which the reserve holds. A host the reserve refuses is set aside and judged again at
 * each later decision that reaches it, as placement does: the restart plans are first fits, which are not
 * monotone, so a VM placed elsewhere can make the reserve accept a host it refused before.
 * The score after {@code j} VMs is computed by {@link HostTable#scoreAfter}, the decision's own arithmetic, so the
 * hosts come in the order decisions take them. Most decisions cost a few additions, as long as units vouch for every
 * host; a count still asks its caller now and then whether to go on, and the {@link Scheduler} runs one at a time.
 */
final class CapacityCounter {
    private final Request request;
    private final Policy policy;
    private final int n;
    private final String[] names;
    private final boolean[] listed;
    /** Without the reserve: how many VMs the host takes, and the filter that refuses the next. */
    private final long[] fits;
    private final String[] limit;
    /** The refusing filter's own reason when the host takes none; null when it takes some. */
    private final String[] reason;
    // What a reason about a resource running out says.
    private final long[] memoryPromised;
    private final long[] memoryLimit;
    private final long[] memoryTotal;
    private final long[] vcpusPromised;
    private final double[] vcpuLimit;
    private final int[] threads;
    private final long[] rawPromised;
    private final long[] imagesTotal;
    // With the reserve.
    private final CountedReserve reserve;
    /** Slots in name order (the host table's, never changed). */
    private final int[] order;
    private final Fit.Weights weights;
    /** What each host's score depends on ({@link HostTable#scoreInputs}). */
    private final double[] scoreInputs;
    private final long[] promised;

    /**
     * Reads the hosts; call it under the scheduler's lock.
     *
     * @param filters the placement filters without the reserve's
     * @param keepReserve whether to count keeping the N+1 reserve
     */
    CapacityCounter(HostTable hosts, PlacementFilter[] filters, Request r, boolean keepReserve) {
        if (r.memoryBytes() <= 0 || r.vcpus() <= 0 || r.rawBytes() < 0) {
            throw new IllegalArgumentException("capacity counts VMs with memory and vCPUs: " + r);
        }
        request = r;
        policy = hosts.policy;
        n = hosts.n;
        names = new String[n];
        listed = new boolean[n];
        fits = new long[n];
        limit = new String[n];
        reason = new String[n];
        memoryPromised = new long[n];
        memoryLimit = new long[n];
        memoryTotal = new long[n];
        vcpusPromised = new long[n];
        vcpuLimit = new double[n];
        threads = new int[n];
        rawPromised = new long[n];
        imagesTotal = new long[n];
        weights = hosts.weights;
        order = hosts.nameOrder();
        scoreInputs = keepReserve ? new double[n * HostTable.SCORE_INPUTS] : null;
        promised = keepReserve ? new long[2 * n] : null;
        Ask ask = new Ask(filters.length);
        ask.set(r, filters, hosts);
        long memory = r.memoryBytes();
        int vcpus = r.vcpus();
        long raw = r.rawBytes();
        for (int i = 0; i < n; i++) {
            if (!hosts.known[i]) {
                continue; // forgotten: not in the fleet any more (nor in explanations)
            }
            listed[i] = true;
            names[i] = hosts.names[i];
            PlacementFilter refusing = null;
            for (int k = 0; k < ask.count && refusing == null; k++) {
                if (!ask.filters[k].fits(hosts, i, ask)) {
                    refusing = ask.filters[k];
                }
            }
            if (refusing != null) {
                limit[i] = refusing.name();
                reason[i] = refusing.reason(hosts, i, ask);
                continue;
            }
            if (Double.isNaN(hosts.score(i, memory, vcpus))) {
                limit[i] = "score";
                reason[i] = "its report gives it no score (a load or memory figure that is not a number), so placement"
                        + " never chooses it";
                continue;
            }
            long byMemory = hosts.memoryRoom(i) / memory;
            long byVcpus = hosts.vcpuRoom(i) / vcpus;
            long byRaw = raw == 0 ? Long.MAX_VALUE : (hosts.imagesTotal[i] - hosts.rawAllocated[i]) / raw;
            long byGroup = r.spreadGroup() == null ? Long.MAX_VALUE : 1;
            long k = Math.min(Math.min(byMemory, byVcpus), Math.min(byRaw, byGroup));
            fits[i] = k;
            // In the filters' order: the first to refuse the next VM is the one placement would name.
            limit[i] = byMemory == k ? "memory" : byVcpus == k ? "vcpus" : byRaw == k ? "raw-space" : "spread-group";
            memoryPromised[i] = hosts.memoryAllocated[i];
            memoryLimit[i] = hosts.memoryLimit[i];
            memoryTotal[i] = hosts.memoryTotal[i];
            vcpusPromised[i] = hosts.vcpusAllocated[i];
            vcpuLimit[i] = hosts.vcpuLimit[i];
            threads[i] = hosts.threads[i];
            rawPromised[i] = hosts.rawAllocated[i];
            imagesTotal[i] = hosts.imagesTotal[i];
            if (scoreInputs != null) {
                hosts.scoreInputs(i, scoreInputs, promised);
            }
        }
        reserve = keepReserve ? new CountedReserve(hosts, Claim.of(r, "", 0)) : null;
    }

    /**
     * The count; needs no lock.
     *
     * @param stop asked now and then while decisions are played: true stops the count
     * @throws CancellationException once {@code stop} said so
     */
    Capacity count(BooleanSupplier stop) {
        this.stop = stop;
        long[] placed = fits;
        Reserve.Shortfall[] refused = null;
        if (reserve != null) {
            placed = new long[n];
            refused = new Reserve.Shortfall[n];
            simulate(placed, refused);
        }
        // The hosts taking the most first, ties by name: numbers sorted, the hosts taken in name order (comparing
        // names took milliseconds of a count at 10,000 hosts). A host takes at most its vCPU room, below threads × 64
        // (vcpu-overcommit's largest), so under 2^37 VMs, and a count is over fewer than 2^24 hosts (as slots are):
        // the key holds both.
        long[] keys = new long[n];
        int[] slotAt = new int[n];
        int listedCount = 0;
        long total = 0;
        for (int p = 0; p < n; p++) {
            int i = order[p];
            if (listed[i]) {
                total += placed[i];
                keys[listedCount] = (MOST_IN_KEY - 1 - placed[i]) << SLOT_BITS | listedCount;
                slotAt[listedCount++] = i;
            }
        }
        Arrays.sort(keys, 0, listedCount);
        List<Capacity.OnHost> out = new ArrayList<>(listedCount);
        for (int k = 0; k < listedCount; k++) {
            out.add(onHost(slotAt[(int) (keys[k] & ((1L << SLOT_BITS) - 1))], placed, refused));
        }
        return new Capacity(total, reserve != null, out);
    }

    private static final int SLOT_BITS = 24;
    private static final long MOST_IN_KEY = 1L << (63 - SLOT_BITS);

    private Capacity.OnHost onHost(int i, long[] placed, Reserve.Shortfall[] refused) {
        if (reason[i] != null) {
            return new Capacity.OnHost(names[i], 0, limit[i], reason[i]);
        } else if (refused != null && refused[i] != null) {
            return new Capacity.OnHost(names[i], placed[i], "n-plus-one", "after " + (placed[i] == 0 ? "one"
                    : "a " + ordinal(placed[i] + 1)) + " here, " + refused[i].text());
        }
        return new Capacity.OnHost(names[i], placed[i], limit[i], runsOut(i));
    }

    /**
     * Why a host that took {@code fits} VMs takes no more, with the numbers of the filter that refuses the next, in
     * the filters' words. Written with {@link Decimals}: {@link String#format} took most of the count's time.
     */
    private final StringBuilder text = new StringBuilder(160);

    private String runsOut(int i) {
        long k = fits[i];
        StringBuilder why = text;
        why.setLength(0);
        if (limit[i].equals("spread-group")) {
            return why.append("one VM of spread group ").append(request.spreadGroup()).append(" per host").toString();
        }
        why.append("the ").append(ordinal(k + 1)).append(" would need ");
        switch (limit[i]) {
            case "memory" -> {
                long m = request.memoryBytes();
                Decimals.appendBytes(why, m).append(": ");
                Decimals.appendBytes(why, memoryPromised[i] + k * m).append(" promised + ");
                Decimals.appendBytes(why, m).append(" > ");
                Decimals.appendBytes(why, memoryLimit[i]).append(" (");
                Decimals.appendBytes(why, memoryTotal[i]).append(" × ");
                Decimals.appendRatio(why, policy.memoryRatio()).append(')');
            }
            case "vcpus" -> {
                int c = request.vcpus();
                why.append(c).append(" vCPUs: ").append(vcpusPromised[i] + k * c).append(" promised + ").append(c)
                        .append(" > ");
                Decimals.appendRatio(why, vcpuLimit[i]).append(" (").append(threads[i]).append(" threads × ");
                Decimals.appendRatio(why, policy.vcpuOvercommit()).append(')');
            }
            default -> {
                long r = request.rawBytes();
                Decimals.appendBytes(why, r).append(": ");
                Decimals.appendBytes(why, rawPromised[i] + k * r).append(" promised to raw disks + ");
                Decimals.appendBytes(why, r).append(" > ");
                Decimals.appendBytes(why, imagesTotal[i]).append(" in the images directory");
            }
        }
        return why.toString();
    }

    static String ordinal(long k) {
        long tens = k % 100;
        String suffix = tens >= 11 && tens <= 13 ? "th" : switch ((int) (k % 10)) {
            case 1 -> "st";
            case 2 -> "nd";
            case 3 -> "rd";
            default -> "th";
        };
        return k + suffix;
    }

    // ---- with the reserve: placement's decisions played one by one ---------------------------------------

    /**
     * The hosts still taking VMs, as a heap ordered as decisions take them (the higher score first, ties by name):
     * their slots, and their scores alongside (read without going through the slot). Four children a node: half the
     * levels of a binary heap, the children's scores side by side in memory.
     */
    private int[] heap;
    private double[] heapScore;
    private int size;
    private BooleanSupplier stop = () -> false;
    /** Decisions played between two questions to {@link #stop}: a few milliseconds' worth at most. */
    private static final int STOP_EVERY = 64;

    private void simulate(long[] placed, Reserve.Shortfall[] refused) {
        heap = new int[n];
        heapScore = new double[n];
        size = 0;
        long memory = request.memoryBytes();
        int vcpus = request.vcpus();
        if (!weights.pack() && weights.load() >= 0 && weights.memory() >= 0 && weights.vcpu() >= 0) {
            jumpAhead(placed);
        }
        for (int i = 0; i < n; i++) {
            if (listed[i] && reason[i] == null && placed[i] < fits[i]) {
                push(i, HostTable.scoreAfter(weights, scoreInputs, promised, i, placed[i], memory, vcpus));
            }
        }
        // A decision judges the hosts in the order placement would: best score first, ties by name. The host on top
        // of the heap, if the reserve takes the VM there, stays on top with its next score and sinks to its place
        // (one pass down instead of a removal and an insertion). A host the reserve refuses is set aside, not
        // dropped: first fit is not monotone, so a VM placed elsewhere can make the reserve accept it again, and
        // placement judges it again at every decision whose best candidate ranks below it; so does the count.
        aside = new int[8];
        asideScore = new double[8];
        asideJudged = new long[8];
        asideFailing = new int[8];
        asidePlan = new CountedReserve.Plan[8];
        asideAltered = new boolean[8];
        asideSize = 0;
        long decision = 0; // decisions made: a set-aside host judged at this one is not judged again before the next
        for (long played = 0; ; played++) {
            if (played % STOP_EVERY == 0 && stop.getAsBoolean()) {
                throw new CancellationException("the capacity count was stopped after " + played + " decisions");
            }
            int taken = takeAside(decision, refused);
            if (taken >= 0) {
                decision++;
                counted(taken);
                refused[taken] = null;
                if (++placed[taken] < fits[taken]) {
                    push(taken, HostTable.scoreAfter(weights, scoreInputs, promised, taken, placed[taken], memory, vcpus));
                }
                continue;
            }
            if (size == 0) {
                break; // every host left was judged at this decision and refused it: no more VMs fit
            }
            int i = heap[0];
            double score = heapScore[0];
            if (!reserve.place(i)) {
                refused[i] = reserve.refusal();
                removeTop();
                if (!reserve.refusalFinal()) {
                    setAside(i, score, decision);
                }
            } else {
                decision++;
                counted(i);
                if (++placed[i] < fits[i]) {
                    siftDown(i, HostTable.scoreAfter(weights, scoreInputs, promised, i, placed[i], memory, vcpus));
                } else {
                    removeTop();
                }
            }
        }
    }

    /**
     * The hosts the reserve refused, in the order decisions judge them (their score does not change while they take
     * no VM), with the decision each was last judged at. Few: set aside only where the reserve binds.
     */
    private int[] aside;
    private double[] asideScore;
    private long[] asideJudged;
    /** Per set-aside host, the refusal's failing host and first fit, and whether a VM counted since may alter it. */
    private int[] asideFailing;
    private CountedReserve.Plan[] asidePlan;
    private boolean[] asideAltered;
    private int asideSize;
    /** Set-aside hosts judged again so far: the caller is asked now and then, as between decisions. */
    private long judgedAside;

    /**
     * Judges again, in order, the set-aside hosts that rank above the heap's top and were not judged at this
     * decision yet; the first the reserve accepts takes the VM (and leaves the set-aside hosts). Returns its slot,
     * or -1.
     */
    private int takeAside(long decision, Reserve.Shortfall[] refused) {
        for (int a = 0; a < asideSize; a++) {
            int h = aside[a];
            if (size > 0 && !before(h, asideScore[a], heap[0], heapScore[0])) {
                return -1;
            }
            if (asideJudged[a] == decision || !asideAltered[a]) {
                continue; // judged at this decision already, or no VM counted since could change its verdict
            }
            asideJudged[a] = decision;
            if (++judgedAside % STOP_EVERY == 0 && stop.getAsBoolean()) {
                throw new CancellationException("the capacity count was stopped after " + judgedAside
                        + " hosts were judged again");
            }
            if (reserve.place(h)) {
                removeAside(a);
                return h;
            }
            refused[h] = reserve.refusal();
            if (reserve.refusalFinal()) {
                removeAside(a--);
            } else {
                asideFailing[a] = reserve.refusalHost();
                asidePlan[a] = reserve.refusalPlan();
                asideAltered[a] = false;
            }
        }
        return -1;
    }

    private void setAside(int slot, double score, long decision) {
        if (asideSize == aside.length) {
            int size = asideSize * 2;
            aside = Arrays.copyOf(aside, size);
            asideScore = Arrays.copyOf(asideScore, size);
            asideJudged = Arrays.copyOf(asideJudged, size);
            asideFailing = Arrays.copyOf(asideFailing, size);
            asidePlan = Arrays.copyOf(asidePlan, size);
            asideAltered = Arrays.copyOf(asideAltered, size);
        }
        int at = asideSize;
        while (at > 0 && before(slot, score, aside[at - 1], asideScore[at - 1])) {
            moveAside(at - 1, at);
            at--;
        }
        aside[at] = slot;
        asideScore[at] = score;
        asideJudged[at] = decision;
        asideFailing[at] = reserve.refusalHost();
        asidePlan[at] = reserve.refusalPlan();
        asideAltered[at] = false;
        asideSize++;
    }

    private void removeAside(int a) {
        for (int k = a + 1; k < asideSize; k++) {
            moveAside(k, k - 1);
        }
        asideSize--;
        asidePlan[asideSize] = null;
    }

    private void moveAside(int from, int to) {
        aside[to] = aside[from];
        asideScore[to] = asideScore[from];
        asideJudged[to] = asideJudged[from];
        asideFailing[to] = asideFailing[from];
        asidePlan[to] = asidePlan[from];
        asideAltered[to] = asideAltered[from];
    }

    /**
     * A VM was counted on {@code slot}: the set-aside hosts whose refusal it may alter are judged again at the next
     * decision that reaches them. It may only if it landed on the refusal's failing host (one more VM to restart) or
     * on a host its failing first fit used, for one of that host's own VMs or for its run of counted VMs (which could
     * then send a VM elsewhere: a run moved on by one changes where the own VMs after it go,
     * {@code CapacityExactnessReproTest}); on any other host it only takes room the first fit passed over or never
     * reached (see {@link CountedReserve#refusalHost}). Asked right after each VM counted, as the plan's answers
     * require ({@link CountedReserve.Plan}); once a host's refusal may be altered, it stays so until judged again.
     */
    private void counted(int slot) {
        for (int a = 0; a < asideSize; a++) {
            if (!asideAltered[a] && (asideFailing[a] == slot || asidePlan[a].usedBeforeOneMore(slot))) {
                asideAltered[a] = true;
            }
        }
    }

    /** Where the jump stops looking for a longer run (a 64th of the decisions, at least 8): the heap plays the rest. */
    private static final int JUMP_SLACK_SHIFT = 6;

    /**
     * Counts at once the first decisions, as long as units vouch for every host. Spreading (weights not negative), a
     * host's score after {@code j} VMs only falls as {@code j} grows (the same operations, each monotone, on a larger
     * promise), so the decisions with a score above a threshold {@code T} are the first ones in the order the heap
     * would play them, {@code count_i(T)} on each host i (found by a binary search over its scores). Units vouching
     * after them means they vouched at each (see {@link CountedReserve#holdByUnitsWith}), so they are all kept; the
     * threshold is halved between the highest and lowest scores toward the last such run, and the heap plays the
     * decisions after it one by one. Packing, scores rise as a host fills and this does not hold: not used.
     */
    private void jumpAhead(long[] placed) {
        if (!reserve.byUnits()) {
            return;
        }
        long memory = request.memoryBytes();
        int vcpus = request.vcpus();
        double highest = Double.NEGATIVE_INFINITY;
        double lowest = Double.POSITIVE_INFINITY;
        long all = 0;
        for (int i = 0; i < n; i++) {
            if (listed[i] && reason[i] == null && fits[i] > 0) {
                highest = Math.max(highest, HostTable.scoreAfter(weights, scoreInputs, promised, i, 0, memory, vcpus));
                lowest = Math.min(lowest,
                        HostTable.scoreAfter(weights, scoreInputs, promised, i, fits[i] - 1, memory, vcpus));
                all += fits[i];
            }
        }
        if (all == 0) {
            return;
        }
        long[] counts = new long[n];
        long[] kept = null;
        double good = highest; // nothing above it: the state as it is
        long goodRun = 0;
        double bad = lowest;
        long badRun = all;
        long slack = Math.max(8, all >> JUMP_SLACK_SHIFT);
        for (int round = 0; round < 64 && badRun - goodRun > slack; round++) {
            // A round judges every host once: about as long as STOP_EVERY decisions, so the caller is asked as often.
            if (stop.getAsBoolean()) {
                throw new CancellationException("the capacity count was stopped before its first decisions were played");
            }
            double mid = good / 2 + bad / 2;
            if (!(mid < good && mid > bad)) {
                break;
            }
            long run = countAbove(mid, counts, memory, vcpus);
            if (reserve.holdByUnitsWith(counts)) {
                good = mid;
                goodRun = run;
                kept = counts.clone();
            } else {
                bad = mid;
                badRun = run;
            }
        }
        if (kept != null) {
            reserve.placeByUnits(kept);
            System.arraycopy(kept, 0, placed, 0, n);
        }
    }

    /** Writes into {@code counts} how many of each host's decisions have a score above {@code t}; returns the sum. */
    private long countAbove(double t, long[] counts, long memory, int vcpus) {
        long sum = 0;
        for (int i = 0; i < n; i++) {
            if (!listed[i] || reason[i] != null || fits[i] == 0) {
                counts[i] = 0;
                continue;
            }
            long low = 0;
            long high = fits[i];
            while (low < high) {
                long mid = (low + high) >>> 1;
                if (HostTable.scoreAfter(weights, scoreInputs, promised, i, mid, memory, vcpus) > t) {
                    low = mid + 1;
                } else {
                    high = mid;
                }
            }
            counts[i] = low;
            sum += low;
        }
        return sum;
    }

    /** Whether slot a with score sa comes before slot b with score sb (a NaN score never enters the heap). */
    private boolean before(int a, double sa, int b, double sb) {
        return sa > sb || (sa == sb && names[a].compareTo(names[b]) < 0);
    }

    private void push(int slot, double s) {
        int at = size++;
        while (at > 0) {
            int parent = (at - 1) >> 2;
            if (!before(slot, s, heap[parent], heapScore[parent])) {
                break;
            }
            heap[at] = heap[parent];
            heapScore[at] = heapScore[parent];
            at = parent;
        }
        heap[at] = slot;
        heapScore[at] = s;
    }

    private void removeTop() {
        size--;
        if (size > 0) {
            siftDown(heap[size], heapScore[size]);
        }
    }

    /** Puts the slot with its score at the top, then down to its place. */
    private void siftDown(int slot, double s) {
        int at = 0;
        while (true) {
            int first = 4 * at + 1;
            if (first >= size) {
                break;
            }
            int child = first;
            int end = Math.min(first + 4, size);
            for (int c = first + 1; c < end; c++) {
                if (before(heap[c], heapScore[c], heap[child], heapScore[child])) {
                    child = c;
                }
            }
            if (!before(heap[child], heapScore[child], slot, s)) {
                break;
            }
            heap[at] = heap[child];
            heapScore[at] = heapScore[child];
            at = child;
        }
        heap[at] = slot;
        heapScore[at] = s;
    }
}
