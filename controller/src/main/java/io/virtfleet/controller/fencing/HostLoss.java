package io.virtfleet.controller.fencing;

import io.virtfleet.common.units.Durations;
import java.time.Duration;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import java.util.function.LongSupplier;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Turns a host's silence into a suspicion, and, in automatic mode, the suspicion into a verdict and a failover.
 *
 * <p>A host silent for longer than {@code host-lost-after} (well above {@code unreachable-after}: a controller
 * restart, a switch reboot or a long GC pause must not move VMs) is <i>suspected</i> lost. A suspicion moves
 * nothing: only a {@link Fence} does. In {@link Mode#MANUAL} (the default) the controller says so in the log and
 * in {@code host show}, and waits for the operator's {@code virtfleet host fence NAME} (or {@code --confirm-down}).
 * In {@link Mode#AUTOMATIC} it fences the host in Ceph itself and, once the blocklist is verified, recovers its VMs.
 * It never confirms a host down on its own: without a working Ceph fence, nothing moves.
 *
 * <p>Silence is measured from the host's last heartbeat, or, for a host the controller has not heard from since it
 * started (a home of VMs that never registered again), from the controller's start: a controller that was down
 * longer than {@code host-lost-after} does not fence every host at once when it comes back. The same holds when the
 * watch itself did not run for half of {@code host-lost-after} (the controller paused or starved): silence is counted
 * again from then. And automatic failover fences a host only while a majority of the fleet's hosts (fenced ones
 * counted, as silent) has been heard from lately: many hosts silent together is the controller's own network (a
 * switch, a partition) far more often than as many dead hosts, and the operator decides host by host. "Lately" is
 * within unreachable-after, at most half of host-lost-after: hosts heartbeat at their own moments, so when the
 * controller's switch dies the first host crosses host-lost-after while the others have been silent nearly as long,
 * and they must count as silent by then. A fleet of two hosts is never fenced automatically.
 *
 * <p>{@link #check} runs on the watch's own timer; fencing and recovery run on the given executor, one host at a
 * time each, never on a gRPC event loop. A host whose fence or recovery failed is tried again at a later check.
 */
public final class HostLoss {
    private static final Logger log = LoggerFactory.getLogger(HostLoss.class);

    public enum Mode {
        MANUAL, AUTOMATIC;

        /** The setting's value, as operators write it ({@code manual}, {@code automatic}). */
        public String word() {
            return name().toLowerCase(java.util.Locale.ROOT);
        }

        /** Parses the {@code failover} setting, naming it and what is accepted when the value is wrong. */
        public static Mode parse(String value) {
            for (Mode m : values()) {
                if (m.word().equals(value)) {
                    return m;
                }
            }
            throw new IllegalArgumentException("failover: \"" + value + "\" is not a failover mode; accepted: manual"
                    + " (the operator confirms each lost host), automatic (the controller fences it in Ceph and"
                    + " restarts its VMs)");
        }
    }

    /** The host-loss settings; {@code lostAfter} must exceed {@code unreachableAfter}. */
    public record Settings(Duration lostAfter, Mode mode) {
        public static final Duration DEFAULT_LOST_AFTER = Duration.ofSeconds(30);

        public static Settings defaults() {
            return new Settings(DEFAULT_LOST_AFTER, Mode.MANUAL);
        }

        /** Checks the settings against the controller's {@code unreachable-after}. */
        public Settings validate(Duration unreachableAfter) {
            if (lostAfter.compareTo(unreachableAfter) <= 0) {
                throw new IllegalArgumentException("host-lost-after: " + Durations.shortText(lostAfter) + " must be"
                        + " longer than unreachable-after (" + Durations.shortText(unreachableAfter) + "): a host is"
                        + " first unreachable, and suspected lost only after that");
            }
            return this;
        }
    }

    /** What the watch reads of each host: its name and the controller's nanoTime of its last heartbeat. */
    public record Seen(String host, long lastSeenNanos) {}

    /** Fences a host in Ceph (never by an operator's word); throws with the reason when it cannot. */
    @FunctionalInterface
    public interface Fencer {
        Fence fence(String host) throws Exception;
    }

    /** Renews a fence's blocklist entries when they are due (past half their life). */
    public interface Renewal {
        boolean due(Fence fence);

        void renew(String host) throws Exception;

        Renewal NONE = new Renewal() {
            @Override
            public boolean due(Fence fence) {
                return false;
            }

            @Override
            public void renew(String host) {
            }
        };
    }

    /** Restarts a lost host's VMs elsewhere; idempotent (what is done stays done). */
    @FunctionalInterface
    public interface Recovery {
        void recover(String host) throws Exception;
    }

    private final Settings settings;
    /** A host heard from within this counts as live for the majority rule. */
    private final long liveWithinNanos;
    private final FenceView fences;
    private final Supplier<Iterable<Seen>> hosts;
    private final Supplier<Set<String>> homes;
    private final LongSupplier nanoTime;
    private final long startNanos;
    /** Silence is counted from no earlier than this: the start, or the end of a stall of the watch itself. */
    private long floorNanos;
    private long lastCheckNanos;
    /** Whether the last check found too many hosts silent to fence any (logged once per episode). */
    private boolean massSilence;
    private final Fencer fencer;
    private final Recovery recovery;
    private final Executor worker;
    private java.util.concurrent.ScheduledExecutorService timer;
    /** Hosts suspected at the last check, with the silence that made them so. */
    private final Map<String, Duration> suspected = new ConcurrentHashMap<>();
    private volatile Renewal renewal = Renewal.NONE;
    private final Set<String> renewing = ConcurrentHashMap.newKeySet();
    /** Hosts whose fence or recovery is under way on the worker. */
    private final Set<String> busy = ConcurrentHashMap.newKeySet();
    /** Hosts whose recovery finished since they were fenced: not recovered again by the watch. */
    private final Set<String> recovered = ConcurrentHashMap.newKeySet();
    /**
     * After a failed fence or recovery, when the host is tried again and how many failures in a row: twice as long
     * each time, up to {@link #MAX_RETRY_DELAY}, so a VM no host fits is not retried (and audited) every few seconds.
     */
    private final Map<String, long[]> retry = new ConcurrentHashMap<>();
    static final Duration MAX_RETRY_DELAY = Duration.ofMinutes(5);

    /**
     * @param unreachableAfter the controller's unreachable-after (a host heard from within it, within half of
     *                         host-lost-after and within host-lost-after less a heartbeat is live for the majority
     *                         rule)
     * @param heartbeat        the agents' heartbeat interval
     * @param hosts    the hosts the controller heard from since it started, with their last heartbeat
     * @param homes    every host that is the recorded home of some VM
     * @param nanoTime the controller's clock (the registry's)
     */
    public HostLoss(Settings settings, Duration unreachableAfter, Duration heartbeat, FenceView fences,
                    Supplier<Iterable<Seen>> hosts, Supplier<Set<String>> homes, LongSupplier nanoTime, Fencer fencer,
                    Recovery recovery, Executor worker) {
        this.settings = settings;
        // When the first host of a switch outage crosses host-lost-after, the others were last heard at most one
        // heartbeat (and its call's time) later: silent for more than host-lost-after minus that. The window must be
        // shorter; one more heartbeat is the margin for late calls.
        long lost = settings.lostAfter().toNanos();
        this.liveWithinNanos = Math.max(0, Math.min(Math.min(unreachableAfter.toNanos(), lost / 2),
                lost - 2 * heartbeat.toNanos()));
        this.fences = fences;
        this.hosts = hosts;
        this.homes = homes;
        this.nanoTime = nanoTime;
        this.startNanos = nanoTime.getAsLong();
        this.floorNanos = startNanos;
        this.lastCheckNanos = startNanos;
        this.fencer = fencer;
        this.recovery = recovery;
        this.worker = worker;
    }

    public Settings settings() {
        return settings;
    }

    /** Checks a few times per host-lost-after from now on, on a thread of its own. */
    public synchronized void start() {
        if (timer != null) {
            return;
        }
        timer = java.util.concurrent.Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "vf-host-loss");
            t.setDaemon(true);
            return t;
        });
        long period = Math.max(200, settings.lostAfter().toMillis() / 6);
        timer.scheduleWithFixedDelay(() -> {
            try {
                check();
            } catch (RuntimeException e) {
                log.error("host-loss check failed; next one in {} ms", period, e); // and the timer goes on
            }
        }, period, period, java.util.concurrent.TimeUnit.MILLISECONDS);
    }

    /** Stops the checks, and a fence or recovery under way at its next step. */
    public synchronized void close() {
        if (timer != null) {
            timer.shutdownNow();
        }
        if (worker instanceof java.util.concurrent.ExecutorService pool) {
            pool.shutdownNow();
        }
    }

    /** Why the host is suspected lost, and what the operator can do; empty when it is not. */
    public Optional<String> suspicion(String host) {
        Duration silent = suspected.get(host);
        if (silent == null) {
            return Optional.empty();
        }
        String what = "suspected lost: silent for " + Durations.shortText(silent) + " (host-lost-after "
                + Durations.shortText(settings.lostAfter()) + ")";
        return Optional.of(settings.mode() == Mode.MANUAL
                ? what + "; failover is manual: virtfleet host fence " + host + " (or --confirm-down once you know"
                        + " it is off)"
                : what + "; failover is automatic: the controller fences it in Ceph, then restarts its VMs");
    }

    /** One look at every host; run it periodically (a few times per {@code host-lost-after}). */
    public synchronized void check() {
        long now = nanoTime.getAsLong();
        if (now - lastCheckNanos > settings.lostAfter().toNanos() / 2) {
            // The watch itself did not run (the controller paused, starved or stopped): what looks like silence may
            // be the controller's own. Silence is counted again from now, as after a start.
            if (lastCheckNanos != startNanos) {
                log.warn("the host-loss watch did not run for {}: hosts' silence is counted again from now",
                        Durations.shortText(Duration.ofNanos(now - lastCheckNanos)));
            }
            floorNanos = now;
        }
        lastCheckNanos = now;
        Map<String, Long> lastSeen = new HashMap<>();
        for (Seen s : hosts.get()) {
            lastSeen.put(s.host(), Math.max(s.lastSeenNanos(), floorNanos));
        }
        Set<String> all = new HashSet<>(lastSeen.keySet());
        all.addAll(homes.get());
        // A fenced host is visited even when nobody names it any more (its VMs all moved, and it has not registered
        // since the controller restarted): its blocklist must still be renewed.
        all.addAll(fences.hosts());
        int live = 0;
        Set<String> stillSuspected = new HashSet<>();
        Set<String> toFence = new HashSet<>();
        for (String host : all) {
            Optional<Fence> fence = fences.of(host);
            if (fence.isPresent() && renewal.due(fence.get())) {
                submitRenewal(host);
            }
            if (fence.isPresent()) {
                if (settings.mode() == Mode.AUTOMATIC && !recovered.contains(host)) {
                    submit(host, false); // fenced before a controller restart, or its recovery failed: finish it
                }
                continue;
            }
            recovered.remove(host);
            if (!suspected.containsKey(host)) {
                retry.remove(host);
            }
            long silentNanos = now - lastSeen.getOrDefault(host, floorNanos);
            if (silentNanos <= liveWithinNanos) {
                live++;
            }
            if (silentNanos <= settings.lostAfter().toNanos()) {
                continue;
            }
            stillSuspected.add(host);
            Duration silent = Duration.ofNanos(silentNanos);
            if (suspected.put(host, silent) == null) {
                log.warn("host {} is {}", host, suspicion(host).orElseThrow());
            }
            if (settings.mode() == Mode.AUTOMATIC) {
                toFence.add(host);
            }
        }
        suspected.keySet().retainAll(stillSuspected);
        if (toFence.isEmpty()) {
            massSilence = false;
            return;
        }
        // Many hosts silent together is the controller's own network (a switch, a partition) far more often than as
        // many dead hosts: fencing them would cut their VMs off their disks. Only a majority heard from lately proves
        // the controller still sees the fleet; without it the operator decides, host by host.
        if (live * 2 <= all.size()) {
            if (!massSilence) {
                log.error("only {} of {} hosts heard from within {} ({} suspected lost): automatic failover fences a"
                        + " host only while a majority of the fleet is heard from, and this is more likely the"
                        + " controller's own network than as many lost hosts. Fence each one you know is lost:"
                        + " virtfleet host fence NAME", live, all.size(),
                        Durations.shortText(Duration.ofNanos(liveWithinNanos)),
                        String.join(", ", new java.util.TreeSet<>(stillSuspected)));
            }
            massSilence = true;
            return;
        }
        massSilence = false;
        toFence.forEach(host -> submit(host, true));
    }

    /** Renews fences past half their life (both modes: a verdict stands until an operator lifts it). */
    public void renewWith(Renewal renewal) {
        this.renewal = renewal;
    }

    private void submitRenewal(String host) {
        if (!renewing.add(host)) {
            return;
        }
        try {
            worker.execute(() -> {
                try {
                    renewal.renew(host);
                } catch (Exception e) {
                    log.error("host {}: cannot renew its fence in Ceph, tried again at the next check: {}", host,
                            e.getMessage());
                } finally {
                    renewing.remove(host);
                }
            });
        } catch (RejectedExecutionException e) {
            renewing.remove(host);
        }
    }

    private void submit(String host, boolean fenceFirst) {
        long[] next = retry.get(host);
        if (next != null && nanoTime.getAsLong() < next[0]) {
            return; // failed lately: tried again later
        }
        if (!busy.add(host)) {
            return;
        }
        try {
            worker.execute(() -> {
                try {
                    if (fenceFirst) {
                        Fence fence = fencer.fence(host);
                        log.warn("host {} fenced in Ceph ({}, until {}): restarting its VMs elsewhere", host,
                                String.join(", ", fence.addresses()), fence.expires());
                    }
                    recovery.recover(host);
                    recovered.add(host);
                    retry.remove(host);
                } catch (Exception e) {
                    long[] failed = retry.merge(host, new long[] {0, 0}, (a, b) -> a);
                    failed[1]++;
                    long period = Math.max(200, settings.lostAfter().toMillis() / 6);
                    long delay = Math.min(MAX_RETRY_DELAY.toMillis(), period << Math.min(failed[1] - 1, 20));
                    failed[0] = nanoTime.getAsLong() + Duration.ofMillis(delay).toNanos();
                    log.error("host {}: automatic failover did not finish (failure {} in a row), tried again in {}: {}",
                            host, failed[1], Durations.shortText(Duration.ofMillis(delay)), e.getMessage());
                } finally {
                    busy.remove(host);
                }
            });
        } catch (RejectedExecutionException e) {
            busy.remove(host); // the worker is shut down: the controller is stopping
        }
    }
}
