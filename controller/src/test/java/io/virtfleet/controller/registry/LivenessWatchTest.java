package io.virtfleet.controller.registry;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.virtfleet.proto.v1.HostReport;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicLong;
import java.util.logging.Handler;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** The journal tells when a host dropped out and when it came back, once each. */
class LivenessWatchTest {
    private final List<String> logged = new CopyOnWriteArrayList<>();
    private final Logger jul = Logger.getLogger(LivenessWatch.class.getName());
    private final Handler capture = new Handler() {
        @Override
        public void publish(LogRecord r) {
            String text = r.getMessage();
            for (Object p : r.getParameters() == null ? new Object[0] : r.getParameters()) {
                text = text.replaceFirst("\\{}", java.util.regex.Matcher.quoteReplacement(String.valueOf(p)));
            }
            logged.add(text);
        }

        @Override
        public void flush() {}

        @Override
        public void close() {}
    };

    @AfterEach
    void detach() {
        jul.removeHandler(capture);
        jul.setLevel(null);
    }

    @Test
    void logsEachTransitionOnce() {
        jul.addHandler(capture);
        jul.setLevel(java.util.logging.Level.ALL); // other tests may have quietened the root logger
        AtomicLong nanos = new AtomicLong();
        HostRegistry registry = new HostRegistry(nanos::get, Clock.systemUTC());
        LivenessWatch watch = new LivenessWatch(registry, new Liveness(Duration.ofSeconds(10)));
        HostRecord hv1 = registry.register("a", "10.0.0.1:7441", "t", List.of(), HostReport.newBuilder().setHostName("hv1").build());
        watch.check();
        nanos.addAndGet(Duration.ofSeconds(11).toNanos());
        watch.check();
        watch.check();
        registry.heartbeat(hv1.sessionId(), HostReport.newBuilder().setHostName("hv1").build());
        watch.check();
        watch.check();
        assertEquals(2, logged.size(), logged.toString());
        assertTrue(logged.get(0).startsWith("host hv1 is unreachable: no heartbeat for 11s"), logged.get(0));
        assertEquals("host hv1 is ready again (was unreachable)", logged.get(1));
    }
}
