package io.virtfleet.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.time.LocalDateTime;
import java.time.ZoneId;
import java.time.ZoneOffset;
import java.util.List;
import java.util.OptionalLong;
import org.junit.jupiter.api.Test;

/** LossBench reads its moments from the controller's log: the first matching line at or after the loss, to the ms. */
class LossBenchLogTest {
    private static final ZoneId ZONE = ZoneOffset.UTC;

    @Test
    void takesTheFirstMatchingLineSinceTheLossToTheMillisecond() {
        List<String> log = List.of(
                "2026-12-07 09:00:01.250 WARNING io.virtfleet.controller.fencing.HostLoss: host hv1 is suspected lost: old",
                "2026-12-07 09:01:00.000 INFO    io.virtfleet.controller.fencing.HostLoss: host hv2 is suspected lost: x",
                "\tat io.virtfleet.Some.frame(host hv1 is suspected lost)",
                "2026-12-07 09:01:30.417 WARNING io.virtfleet.controller.fencing.HostLoss: host hv1 is suspected lost: y",
                "2026-12-07 09:01:35.000 WARNING io.virtfleet.controller.fencing.HostLoss: host hv1 is suspected lost: z");
        long loss = at("2026-12-07T09:01:00.000");

        assertEquals(OptionalLong.of(at("2026-12-07T09:01:30.417")),
                LossBench.firstAfter(log, loss, "host hv1 is suspected lost", ZONE));
        assertEquals(OptionalLong.of(at("2026-12-07T09:00:01.250")),
                LossBench.firstAfter(log, at("2026-12-07T09:00:01.250"), "host hv1 is suspected lost", ZONE));
        assertEquals(OptionalLong.empty(), LossBench.firstAfter(log, loss, "host hv1 fenced in Ceph", ZONE));
        assertEquals(OptionalLong.empty(), LossBench.firstAfter(log, at("2026-12-07T09:01:35.001"),
                "host hv1 is suspected lost", ZONE));
    }

    private static long at(String local) {
        return LocalDateTime.parse(local).atZone(ZONE).toInstant().toEpochMilli();
    }
}
