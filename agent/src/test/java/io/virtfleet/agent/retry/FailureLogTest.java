package io.virtfleet.agent.retry;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicLong;
import java.util.logging.Handler;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;

/** A long controller outage is logged once, then once per period, then once when it ends. */
class FailureLogTest {
    @Test
    void logsOncePerPeriodAndOnRecovery() throws Exception {
        String name = "virtfleet.test.failurelog";
        List<String> lines = new CopyOnWriteArrayList<>();
        Logger jul = Logger.getLogger(name);
        jul.setLevel(java.util.logging.Level.ALL);
        jul.addHandler(new Handler() {
            @Override
            public void publish(LogRecord r) {
                lines.add(r.getMessage()); // slf4j-jdk14 hands over the formatted message
            }

            @Override
            public void flush() {}

            @Override
            public void close() {}
        });
        AtomicLong nanos = new AtomicLong(1_000_000_000L);
        FailureLog log = new FailureLog(LoggerFactory.getLogger(name), Duration.ofSeconds(300), nanos::get);
        for (int i = 0; i < 500; i++) {
            log.failed("cannot reach controller at cp1:7440: UNAVAILABLE", null);
        }
        assertEquals(1, lines.size(), lines.toString());
        nanos.addAndGet(Duration.ofSeconds(299).toNanos());
        log.failed("cannot reach controller at cp1:7440: UNAVAILABLE", null);
        assertEquals(1, lines.size(), "still within the period: " + lines);
        nanos.addAndGet(Duration.ofSeconds(1).toNanos());
        log.failed("cannot reach controller at cp1:7440: UNAVAILABLE", null);
        assertEquals(2, lines.size(), lines.toString());
        assertTrue(lines.get(1).contains("failing for 300 s, 502 attempts"), lines.toString());
        log.recovered("controller reachable again");
        log.recovered("controller reachable again");
        assertEquals(3, lines.size(), lines.toString());
        assertTrue(lines.get(0).contains("cannot reach controller"), lines.toString());
        assertTrue(lines.get(2).contains("controller reachable again after 300 s"), lines.toString());
    }

    @Test
    void backoffDoublesToTheCapWithJitter() {
        Backoff b = new Backoff(Duration.ofMillis(100), Duration.ofMillis(1000));
        long[] expected = {100, 200, 400, 800, 1000, 1000};
        for (long e : expected) {
            long got = b.next().toMillis();
            assertTrue(got >= e * 0.8 - 1 && got <= e * 1.2 + 1, "expected ~" + e + ", got " + got);
        }
        b.reset();
        assertTrue(b.next().toMillis() <= 121);
    }
}
