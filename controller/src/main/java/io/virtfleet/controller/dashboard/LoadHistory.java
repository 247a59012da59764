package io.virtfleet.controller.dashboard;

import io.virtfleet.controller.registry.HostRecord;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * A short history of each host's load for the dashboard's charts: the 1-minute load per hardware thread, sampled
 * from the registry's latest reports at a fixed interval. Bounded: {@link #SAMPLES} per host, and hosts the registry
 * no longer knows are dropped at the next sample.
 */
public final class LoadHistory {
    /** Samples kept per host: at one per 10 s, the last 10 minutes. */
    public static final int SAMPLES = 60;

    /** One host's ring of samples. Guarded by itself. */
    private static final class Ring {
        private final double[] values = new double[SAMPLES];
        private int next;
        private int count;

        synchronized void add(double value) {
            values[next] = value;
            next = (next + 1) % SAMPLES;
            count = Math.min(SAMPLES, count + 1);
        }

        synchronized List<Double> oldestFirst() {
            List<Double> out = new ArrayList<>(count);
            for (int i = 0; i < count; i++) {
                out.add(values[(next - count + i + SAMPLES) % SAMPLES]);
            }
            return out;
        }
    }

    private final Map<String, Ring> hosts = new ConcurrentHashMap<>();

    /** Adds one sample per host of {@code records} (a host without a report gets none) and forgets the others. */
    public void sample(Collection<HostRecord> records) {
        Set<String> present = new HashSet<>();
        for (HostRecord r : records) {
            present.add(r.name());
            if (r.report() == null || !r.report().hasResources()) {
                continue;
            }
            var res = r.report().getResources();
            double load = res.getLoadAverage1M();
            if (load < 0) {
                continue; // the OS does not tell
            }
            hosts.computeIfAbsent(r.name(), n -> new Ring()).add(load / Math.max(1, res.getLogicalThreads()));
        }
        hosts.keySet().retainAll(present);
    }

    /** Load per hardware thread of {@code host}, oldest first; empty when none was sampled. */
    public List<Double> of(String host) {
        Ring ring = hosts.get(host);
        return ring == null ? List.of() : ring.oldestFirst();
    }
}
