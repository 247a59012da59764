package io.virtfleet.controller.fencing;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/** The host-loss watch on a clock the test moves: suspicion, automatic fencing and recovery, retries. */
class HostLossTest {
    private static final Duration LOST_AFTER = Duration.ofSeconds(30);
    private static final Duration UNREACHABLE_AFTER = Duration.ofSeconds(15);
    private static final Duration HEARTBEAT = Duration.ofSeconds(5);

    private final AtomicLong now = new AtomicLong(1_000_000_000L);
    private final Map<String, Long> lastSeen = new TreeMap<>();
    private final Set<String> homes = new HashSet<>();
    private final FenceView.InMemory fences = FenceView.inMemory();
    private final List<String> calls = new ArrayList<>();
    private boolean fenceFails;
    private boolean recoveryFails;

    private HostLoss watch(HostLoss.Mode mode) {
        return watch(mode, UNREACHABLE_AFTER, HEARTBEAT);
    }

    private HostLoss watch(HostLoss.Mode mode, Duration unreachableAfter, Duration heartbeat) {
        return new HostLoss(new HostLoss.Settings(LOST_AFTER, mode), unreachableAfter, heartbeat, fences,
                () -> lastSeen.entrySet().stream().map(e -> new HostLoss.Seen(e.getKey(), e.getValue())).toList(),
                () -> homes, now::get, host -> {
                    calls.add("fence " + host);
                    if (fenceFails) {
                        throw new IllegalStateException("ceph osd blocklist add timed out");
                    }
                    Fence f = new Fence(host, Fence.Kind.CEPH, List.of("10.0.0.1"), Instant.EPOCH,
                            Instant.EPOCH.plusSeconds(3600), "controller");
                    fences.put(f);
                    return f;
                }, host -> {
                    calls.add("recover " + host);
                    if (recoveryFails) {
                        throw new IllegalStateException("no host fits");
                    }
                }, Runnable::run);
    }

    private void advance(Duration d) {
        now.addAndGet(d.toNanos());
    }

    /** Time passing as in {@link #pass}, hv2 and hv3 heartbeating, hv1 silent. */
    private void keepHeard(HostLoss watch, Duration d) {
        for (long s = 0; s < d.toSeconds(); s++) {
            lastSeen.put("hv2", now.get());
            lastSeen.put("hv3", now.get());
            pass(watch, Duration.ofSeconds(1));
        }
    }

    /** Time passing with the watch running every second, as it does (a few times per host-lost-after). */
    private void pass(HostLoss watch, Duration d) {
        for (long s = 0; s < d.toSeconds(); s++) {
            advance(Duration.ofSeconds(1));
            watch.check();
        }
    }

    @Test
    void aSilentHostIsSuspectedOnlyPastHostLostAfterAndManualModeMovesNothing() {
        HostLoss watch = watch(HostLoss.Mode.MANUAL);
        lastSeen.put("hv1", now.get());
        lastSeen.put("hv2", now.get());
        lastSeen.put("hv3", now.get());
        pass(watch, LOST_AFTER);
        assertTrue(watch.suspicion("hv1").isEmpty(), "exactly host-lost-after of silence is not yet a suspicion");
        lastSeen.put("hv2", now.get()); // hv2 and hv3 heartbeat, hv1 stays silent
        lastSeen.put("hv3", now.get());
        pass(watch, Duration.ofSeconds(1));
        String why = watch.suspicion("hv1").orElseThrow();
        assertTrue(why.contains("silent for 31s") && why.contains("virtfleet host fence hv1"), why);
        assertTrue(watch.suspicion("hv2").isEmpty());
        assertEquals(List.of(), calls, "manual mode fences and recovers nothing");
        lastSeen.put("hv1", now.get()); // back
        watch.check();
        assertTrue(watch.suspicion("hv1").isEmpty(), "a host heard from again is no longer suspected");
    }

    @Test
    void automaticModeFencesThenRecoversOnceAndRetriesWhatFailed() {
        HostLoss watch = watch(HostLoss.Mode.AUTOMATIC);
        lastSeen.put("hv1", now.get());
        lastSeen.put("hv2", now.get());
        lastSeen.put("hv3", now.get());
        fenceFails = true;
        pass(watch, LOST_AFTER);
        lastSeen.put("hv2", now.get());
        lastSeen.put("hv3", now.get());
        pass(watch, Duration.ofSeconds(1));
        assertEquals(List.of("fence hv1"), calls, "no recovery without a fence");
        assertTrue(fences.of("hv1").isEmpty());
        fenceFails = false;
        recoveryFails = true;
        keepHeard(watch, Duration.ofSeconds(4));
        assertEquals(List.of("fence hv1"), calls, "not retried before the first backoff (one check period, 5 s)");
        keepHeard(watch, Duration.ofSeconds(1));
        assertEquals(List.of("fence hv1", "fence hv1", "recover hv1"), calls);
        recoveryFails = false;
        keepHeard(watch, Duration.ofSeconds(9));
        assertEquals(List.of("fence hv1", "fence hv1", "recover hv1"), calls, "the second failure waits twice as long");
        keepHeard(watch, Duration.ofSeconds(1)); // fenced already: only the recovery is tried again
        assertEquals(List.of("fence hv1", "fence hv1", "recover hv1", "recover hv1"), calls);
        advance(Duration.ofSeconds(1));
        watch.check();
        assertEquals(4, calls.size(), "a finished recovery is not run again");
    }

    @Test
    void aHomeThatNeverRegisteredIsMeasuredFromTheControllersStart() {
        homes.add("hv3");
        lastSeen.put("hv1", now.get());
        lastSeen.put("hv2", now.get());
        HostLoss watch = watch(HostLoss.Mode.AUTOMATIC);
        for (int s = 0; s < LOST_AFTER.toSeconds(); s++) {
            lastSeen.put("hv1", now.get());
            lastSeen.put("hv2", now.get());
            pass(watch, Duration.ofSeconds(1));
        }
        assertEquals(List.of(), calls, "a controller just started does not fence the hosts it has not heard from");
        lastSeen.put("hv1", now.get());
        lastSeen.put("hv2", now.get());
        pass(watch, Duration.ofSeconds(1));
        assertEquals(List.of("fence hv3", "recover hv3"), calls);
    }

    @Test
    void settingsAreCheckedAgainstUnreachableAfter() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new HostLoss.Settings(
                Duration.ofSeconds(10), HostLoss.Mode.MANUAL).validate(Duration.ofSeconds(15)));
        assertTrue(e.getMessage().startsWith("host-lost-after: 10s must be longer than unreachable-after (15s)"),
                e.getMessage());
        IllegalArgumentException mode = assertThrows(IllegalArgumentException.class,
                () -> HostLoss.Mode.parse("auto"));
        assertTrue(mode.getMessage().startsWith("failover: \"auto\" is not a failover mode; accepted: manual"),
                mode.getMessage());
        assertEquals(HostLoss.Mode.AUTOMATIC, HostLoss.Mode.parse("automatic"));
    }

    @Test
    void aStalledWatchCountsSilenceAgainAndHalfTheFleetSilentIsFencedByNobody() {
        HostLoss watch = watch(HostLoss.Mode.AUTOMATIC);
        for (String h : List.of("hv1", "hv2", "hv3", "hv4")) {
            lastSeen.put(h, now.get());
        }
        pass(watch, Duration.ofSeconds(5));
        // The controller itself froze for a minute: every host looks silent, none is suspected.
        advance(Duration.ofSeconds(60));
        watch.check();
        assertEquals(List.of(), calls, "a stall of the controller is not the hosts' silence");
        assertTrue(watch.suspicion("hv1").isEmpty());

        // Then three of four hosts stop answering at once (the controller's switch): nothing is fenced.
        lastSeen.put("hv4", now.get());
        for (int s = 0; s < LOST_AFTER.toSeconds() + 1; s++) {
            lastSeen.put("hv4", now.get());
            pass(watch, Duration.ofSeconds(1));
        }
        assertTrue(watch.suspicion("hv1").isPresent(), "suspected, and shown");
        assertEquals(List.of(), calls, "3 of 4 silent at once: automatic failover fences none");

        // Two of them come back: the one left silent is fenced and recovered.
        lastSeen.put("hv2", now.get());
        lastSeen.put("hv3", now.get());
        lastSeen.put("hv4", now.get());
        pass(watch, Duration.ofSeconds(1));
        assertEquals(List.of("fence hv1", "recover hv1"), calls);
    }

    @Test
    void aFencePastHalfItsLifeIsRenewedInEitherMode() {
        HostLoss watch = watch(HostLoss.Mode.MANUAL);
        java.util.Set<String> due = new java.util.HashSet<>(List.of("hv1"));
        watch.renewWith(new HostLoss.Renewal() {
            @Override
            public boolean due(Fence fence) {
                return due.contains(fence.host());
            }

            @Override
            public void renew(String host) {
                calls.add("renew " + host);
                due.remove(host);
            }
        });
        fences.put(new Fence("hv1", Fence.Kind.CEPH, List.of("10.0.0.1"), Instant.EPOCH, Instant.EPOCH.plusSeconds(60),
                "alice"));
        fences.put(new Fence("hv2", Fence.Kind.CEPH, List.of("10.0.0.2"), Instant.EPOCH, Instant.EPOCH.plusSeconds(60),
                "alice"));
        lastSeen.put("hv1", now.get());
        lastSeen.put("hv2", now.get());
        pass(watch, Duration.ofSeconds(2));
        assertEquals(List.of("renew hv1"), calls, "renewed once, when due, though failover is manual; hv2 not due");
    }

    /**
     * The controller's switch dies: every host stops heartbeating at once, but each heartbeats at its own moment, so
     * they cross host-lost-after at different checks. Whatever the watch's phase against the heartbeats, no host is
     * fenced: by the time the first one crosses, the others count as silent too.
     */
    @Test
    void aSwitchOutageWithStaggeredHeartbeatsFencesNobodyWhateverThePhase() {
        switchOutage(UNREACHABLE_AFTER, HEARTBEAT);
        // Settings the controller accepts with a slow heartbeat: the window shrinks to host-lost-after less one.
        switchOutage(Duration.ofSeconds(25), Duration.ofSeconds(20));
    }

    private void switchOutage(Duration unreachableAfter, Duration every) {
        List<String> hostsNames = List.of("hv1", "hv2", "hv3", "hv4");
        long heartbeat = every.toMillis();
        long period = LOST_AFTER.toMillis() / 6;
        for (int offset = 0; offset < 20; offset++) {
            calls.clear();
            lastSeen.clear();
            long start = now.get();
            HostLoss watch = watch(HostLoss.Mode.AUTOMATIC, unreachableAfter, every);
            long checkPhase = offset * period / 20;
            long outageAt = 60_000; // ms after start
            // Run 3 minutes of 250 ms ticks: heartbeats at each host's phase until the outage, a check every 5 s.
            for (long t = 0; t <= 180_000; t += 250) {
                now.set(start + Duration.ofMillis(t).toNanos());
                for (int h = 0; h < hostsNames.size(); h++) {
                    long phase = h * heartbeat / hostsNames.size();
                    if (t < outageAt && t >= phase && (t - phase) % heartbeat == 0) {
                        lastSeen.put(hostsNames.get(h), now.get());
                    }
                }
                if (t >= checkPhase && (t - checkPhase) % period == 0) {
                    watch.check();
                }
            }
            assertEquals(List.of(), calls, "heartbeat " + every + ", check phase " + checkPhase + " ms: nobody fenced");
            assertTrue(watch.suspicion("hv1").isPresent(), "all suspected, and shown");
            now.addAndGet(Duration.ofSeconds(1).toNanos());
        }
    }

    @Test
    void aFleetOfTwoIsNeverFencedAutomatically() {
        HostLoss watch = watch(HostLoss.Mode.AUTOMATIC);
        lastSeen.put("hv1", now.get());
        for (int s = 0; s < 2 * LOST_AFTER.toSeconds(); s++) {
            lastSeen.put("hv2", now.get());
            pass(watch, Duration.ofSeconds(1));
        }
        assertTrue(watch.suspicion("hv1").isPresent());
        assertEquals(List.of(), calls, "one of two hosts heard from is no majority");
    }

    @Test
    void aFencedHostNobodyNamesAnyMoreIsStillRenewedAndCountsAsSilent() {
        HostLoss watch = watch(HostLoss.Mode.AUTOMATIC);
        watch.renewWith(new HostLoss.Renewal() {
            @Override
            public boolean due(Fence fence) {
                return true;
            }

            @Override
            public void renew(String host) {
                calls.add("renew " + host);
            }
        });
        // hv9 was fenced before a controller restart and its VMs all moved: not a home, never heard from since.
        fences.put(new Fence("hv9", Fence.Kind.CEPH, List.of("10.0.0.9"), Instant.EPOCH, Instant.EPOCH.plusSeconds(60),
                "controller"));
        lastSeen.put("hv1", now.get());
        lastSeen.put("hv2", now.get());
        pass(watch, Duration.ofSeconds(1));
        assertTrue(calls.contains("renew hv9"), calls.toString());
        // hv1 goes silent: hv2 alone of hv1, hv2 and the fenced hv9 is no majority, so hv1 is not fenced.
        calls.clear();
        watch.renewWith(HostLoss.Renewal.NONE);
        for (int s = 0; s < 2 * LOST_AFTER.toSeconds(); s++) {
            lastSeen.put("hv2", now.get());
            pass(watch, Duration.ofSeconds(1));
        }
        assertTrue(calls.stream().noneMatch(c -> c.startsWith("fence")), calls.toString());
    }
}
