package io.virtfleet.controller.scheduler;

import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;

/**
 * The hosts a spread decision may choose, filed so that it visits the ones that may win first and stops when
 * none left can beat the best host found: at 10,000 hosts it judges a few dozen instead of all of them.
 *
 * <p><b>Shapes.</b> Hosts are grouped by shape: their {@link Capabilities} (storage tiers served,
 * installer's files, VXLAN, public address), and their memory and vCPU limits. A request visits only the
 * shapes with every capability its filters require ({@link PlacementFilter#requires}): the others' hosts would
 * fail one of those filters. All hosts of a shape have the same score
 * slopes (see {@link Fit}: a free share is {@code 1 - base - request × slope}, the slope {@code 0.5 / limit}
 * or {@code 1 / limit}), so a request lowers all their scores by the same amount,
 * {@code delta = w.memory × memory × memorySlope + w.vcpu × vcpus × vcpuSlope}. Each host is filed in its
 * shape's {@link ScoreBuckets} under its score for an empty request, so for a request of that size a host in
 * bucket {@code k} scores below {@code ceiling(k) - delta}. Real fleets have a few kinds of servers, so a few
 * shapes. Filing on a report or a claim is O(1).
 *
 * <p><b>Exactness.</b> That holds in real arithmetic. The doubles of a score and of its empty-request score
 * differ from it by rounding, far below 1e-12 for numbers within [0, 1]; every bound gets {@link #MARGIN}
 * (1e-9) on top, so no host whose computed score could reach the best one is ever skipped, and ties by name
 * are still seen. It also needs every free share to stay within [0, 1] for any request the host fits: a
 * share clamped at 0 would fall by less than its part of {@code delta}. The {@link HostTable} checks that
 * for each host ({@code linear}); hosts that fail it, and hosts of shapes beyond {@link #MAX_SHAPES}, go to a
 * loose shape of their capabilities instead, with {@code delta} 0: no request of a size ≥ 0 beats the score of an
 * empty one, since a share {@code 1 - min(1, base + request × slope)} never grows with the request, in
 * doubles too (rounding is monotonic).
 *
 * <p><b>The walk.</b> Each open shape has a cursor on its highest bucket not yet visited and that bucket's
 * bound for the request. The walk judges the bucket with the highest bound, moves that shape's cursor down,
 * and stops when the highest bound left is not above the best score found: every host not judged then
 * scores strictly less than the best, so can neither beat nor tie it. The bounds know nothing of the
 * filters, so when the hosts with the best bounds lack room or hold the request's spread group, the walk
 * gives up after a budget of buckets and the caller judges every host instead.
 *
 * <p>Pack does not use the index: its best hosts are the fullest, which mostly lack room for the request, so
 * a walk would visit a quarter of a big fleet in small steps, slower than one pass.
 */
final class BoundIndex {
    /** Covers rounding (below 1e-12) with room to spare, and is far below a score's meaningful digits. */
    static final double MARGIN = 1e-9;
    /** Beyond this many kinds of server, more hosts go loose rather than each decision open more shapes. */
    static final int MAX_SHAPES = 64;
    private static final int NONE = -1;

    /** Judges one bucket's hosts for the decision in progress. */
    interface Judge {
        /** Judges {@code slots[0 .. count - 1]}; returns the best score found so far, -∞ if none fits yet. */
        double judge(int[] slots, int count);
    }

    private record Key(int capabilities, boolean loose, long memoryLimit, double vcpuLimit) {}

    private static final class Shape {
        final int tiers;
        final boolean loose;
        final double memorySlope;
        final double vcpuSlope;
        final ScoreBuckets buckets = new ScoreBuckets();

        Shape(int tiers, boolean loose, double memorySlope, double vcpuSlope) {
            this.tiers = tiers;
            this.loose = loose;
            this.memorySlope = memorySlope;
            this.vcpuSlope = vcpuSlope;
        }
    }

    private final Fit.Weights weights;
    private final Map<Key, Integer> ids = new HashMap<>();
    private Shape[] shapes = new Shape[0];
    private int exactShapes;
    /** Per slot: its shape ({@link #NONE} when not filed), bucket and position in the bucket. */
    private int[] shapeOf = new int[0];
    private int[] bucketOf = new int[0];
    private int[] positionOf = new int[0];
    /**
     * The walk's open shapes: the shape, its cursor (next bucket to visit), the shift of its bounds for the
     * request ({@code MARGIN - delta}) and the bound of the cursor's bucket.
     */
    private int[] openShape = new int[0];
    private int[] cursor = new int[0];
    private double[] shift = new double[0];
    private double[] bound = new double[0];

    BoundIndex(Fit.Weights weights) {
        this.weights = weights;
    }

    /** Makes room for slots {@code 0 .. size - 1}. */
    void grow(int size) {
        int old = shapeOf.length;
        shapeOf = Arrays.copyOf(shapeOf, size);
        bucketOf = Arrays.copyOf(bucketOf, size);
        positionOf = Arrays.copyOf(positionOf, size);
        Arrays.fill(shapeOf, old, size, NONE);
    }

    /** The shape of hosts with {@code tiers} (capability bits) and these limits, or its loose shape past {@link #MAX_SHAPES}. */
    int shape(int tiers, long memoryLimit, double vcpuLimit, double memorySlope, double vcpuSlope) {
        if (!(memorySlope > 0 && memorySlope < Double.POSITIVE_INFINITY && vcpuSlope > 0
                && vcpuSlope < Double.POSITIVE_INFINITY)) {
            return looseShape(tiers); // no memory or no vCPUs: no delta to speak of (and never a NaN bound)
        }
        Integer id = ids.get(new Key(tiers, false, memoryLimit, vcpuLimit));
        if (id != null) {
            return id;
        }
        if (exactShapes == MAX_SHAPES) {
            return looseShape(tiers);
        }
        exactShapes++;
        return add(new Key(tiers, false, memoryLimit, vcpuLimit), new Shape(tiers, false, memorySlope, vcpuSlope));
    }

    /** The shape, with {@code delta} 0, for hosts with {@code tiers} (capability bits) whose score is not linear. */
    int looseShape(int tiers) {
        Integer id = ids.get(new Key(tiers, true, 0, 0));
        return id != null ? id : add(new Key(tiers, true, 0, 0), new Shape(tiers, true, 0, 0));
    }

    /** Files the slot in {@code shape} under {@code score}, its score for an empty request. */
    void put(int slot, int shape, double score) {
        int bucket = ScoreBuckets.bucket(score);
        if (shapeOf[slot] == shape && bucketOf[slot] == bucket) {
            return;
        }
        remove(slot);
        shapeOf[slot] = shape;
        bucketOf[slot] = bucket;
        positionOf[slot] = shapes[shape].buckets.add(bucket, slot);
    }

    /** Takes the slot out: its host can take no VM. Nothing happens if it was not filed. */
    void remove(int slot) {
        int shape = shapeOf[slot];
        if (shape != NONE) {
            int moved = shapes[shape].buckets.removeAt(bucketOf[slot], positionOf[slot]);
            if (moved >= 0) {
                positionOf[moved] = positionOf[slot];
            }
            shapeOf[slot] = NONE;
        }
    }

    /**
     * Has {@code judge} judge, best bound first, every bucket that may hold the best host for a request of
     * {@code memoryBytes ≥ 0} and {@code vcpus ≥ 0} on hosts with every capability bit of {@code tierBit}. Returns false, having stopped,
     * if that takes more than {@code budget} buckets: then most hosts with the best bounds failed a filter,
     * and judging every host in one pass costs less than going on.
     */
    boolean walk(int tierBit, long memoryBytes, int vcpus, Judge judge, int budget) {
        int open = 0;
        for (int s = 0; s < shapes.length; s++) {
            Shape shape = shapes[s];
            int top = shape.buckets.top();
            if ((shape.tiers & tierBit) != tierBit || top < 0) {
                continue;
            }
            double delta = shape.loose ? 0
                    : weights.memory() * (memoryBytes * shape.memorySlope) + weights.vcpu() * (vcpus * shape.vcpuSlope);
            openShape[open] = s;
            cursor[open] = top;
            shift[open] = MARGIN - delta;
            bound[open] = ScoreBuckets.ceiling(top) + shift[open];
            open++;
        }
        double best = Double.NEGATIVE_INFINITY;
        while (open > 0) {
            int pick = -1;
            for (int o = open - 1; o >= 0; o--) {
                if (!(bound[o] > best)) {
                    open = close(o, open); // the best only rises: this shape has nothing left to offer
                    if (pick == open) {
                        pick = o; // the shape moved into o's place was the pick
                    }
                } else if (pick < 0 || bound[o] > bound[pick]) {
                    pick = o;
                }
            }
            if (pick < 0) {
                return true;
            }
            if (--budget < 0) {
                return false;
            }
            ScoreBuckets buckets = shapes[openShape[pick]].buckets;
            int k = cursor[pick];
            best = judge.judge(buckets.slots(k), buckets.size(k));
            cursor[pick] = buckets.below(k);
            if (cursor[pick] < 0) {
                open = close(pick, open);
            } else {
                bound[pick] = ScoreBuckets.ceiling(cursor[pick]) + shift[pick];
            }
        }
        return true;
    }

    /** Drops open shape {@code o} by moving the last one into its place; returns the new count. */
    private int close(int o, int open) {
        int last = open - 1;
        openShape[o] = openShape[last];
        cursor[o] = cursor[last];
        shift[o] = shift[last];
        bound[o] = bound[last];
        return last;
    }

    private int add(Key key, Shape shape) {
        int id = shapes.length;
        shapes = Arrays.copyOf(shapes, id + 1);
        shapes[id] = shape;
        openShape = new int[id + 1];
        cursor = new int[id + 1];
        shift = new double[id + 1];
        bound = new double[id + 1];
        ids.put(key, id);
        return id;
    }
}
