package io.virtfleet.controller.fencing;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.virtfleet.controller.registry.HostRegistry;
import io.virtfleet.proto.v1.HostReport;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The book keeps every address a host reported since its last unfence (a QEMU's Ceph session keeps the address it
 * connected from), bounded, in a file that the controller reads back after a restart, files of before included.
 */
class CephClientBookTest {
    @TempDir
    Path work;

    private final HostRegistry registry = new HostRegistry(() -> 1L, Clock.systemUTC());

    private void report(CephClientBook book, String host, String... addresses) {
        book.observe(registry.register("agent-" + host, "10.0.0.1:7441", "test", List.of("ssd"),
                HostReport.newBuilder().setHostName(host).addAllCephClientAddresses(List.of(addresses)).build()));
    }

    @Test
    void everyAddressReportedSinceTheLastUnfenceIsKeptAndReadBackAfterARestart() throws Exception {
        Path file = work.resolve("ceph-clients");
        CephClientBook book = CephClientBook.open(file, Runnable::run);
        report(book, "hv1", "10.0.0.7", "fd00:0:0:0:0:0:0:7");
        report(book, "hv1", "10.0.0.8", "fd00:0:0:0:0:0:0:7");
        report(book, "hv2", "10.0.0.2");

        assertEquals(Optional.of(List.of("10.0.0.8", "fd00:0:0:0:0:0:0:7")), book.of("hv1"), "the latest report");
        assertEquals(List.of("10.0.0.7", "10.0.0.8", "fd00:0:0:0:0:0:0:7"), book.sinceUnfence("hv1"));
        assertEquals("hv1 10.0.0.8,fd00:0:0:0:0:0:0:7 since-unfence=10.0.0.7,10.0.0.8,fd00:0:0:0:0:0:0:7\n"
                + "hv2 10.0.0.2\n", Files.readString(file), "a host that used only its latest addresses: one field");

        CephClientBook restarted = CephClientBook.open(file, Runnable::run);
        assertEquals(List.of("10.0.0.7", "10.0.0.8", "fd00:0:0:0:0:0:0:7"), restarted.sinceUnfence("hv1"));
        assertEquals(Optional.of(List.of("10.0.0.8", "fd00:0:0:0:0:0:0:7")), restarted.of("hv1"));
        assertEquals(List.of("10.0.0.2"), restarted.sinceUnfence("hv2"));

        restarted.unfenced("hv1", List.of("10.0.0.9"));
        assertEquals(List.of("10.0.0.9"), restarted.sinceUnfence("hv1"), "after an unfence only what it reports now");
        assertEquals("hv1 10.0.0.9\nhv2 10.0.0.2\n", Files.readString(file));
    }

    @Test
    void aFileOfBeforeLoadsAsHostsThatUsedOnlyTheirLatestAddresses() throws Exception {
        Path file = work.resolve("ceph-clients");
        Files.writeString(file, "hv9 10.0.0.9,fd00:0:0:0:0:0:0:9\nnot a line of the book\n");
        CephClientBook book = CephClientBook.open(file, Runnable::run);
        assertEquals(List.of("10.0.0.9", "fd00:0:0:0:0:0:0:9"), book.sinceUnfence("hv9"));
        assertEquals(Optional.of(List.of("10.0.0.9", "fd00:0:0:0:0:0:0:9")), book.of("hv9"));
        assertEquals(List.of(), book.sinceUnfence("not"));

        report(book, "hv9", "10.0.0.10");
        assertEquals(List.of("10.0.0.9", "fd00:0:0:0:0:0:0:9", "10.0.0.10"), book.sinceUnfence("hv9"));
    }

    @Test
    void atMostThirtyTwoAreKeptTheOldestDroppedFirstTheLatestAlways() throws Exception {
        CephClientBook book = CephClientBook.open(work.resolve("ceph-clients"), Runnable::run);
        // A host on IPv6 temporary addresses: a new one each day, besides its fixed IPv4.
        List<String> days = IntStream.rangeClosed(1, 40).mapToObj(d -> "fd00:0:0:0:0:0:0:" + Integer.toHexString(d))
                .toList();
        for (String address : days) {
            report(book, "hv1", "10.0.0.1", address);
        }
        List<String> kept = book.sinceUnfence("hv1");
        assertEquals(CephClientBook.MAX_KEPT, kept.size(), kept.toString());
        List<String> expected = new ArrayList<>(days.subList(9, 39)); // the 9 oldest dropped
        expected.add("10.0.0.1");
        expected.add(days.get(39));
        assertEquals(expected, kept, "the oldest dropped; the fixed address, reported each time, is never among them");

        List<String> many = IntStream.rangeClosed(1, 40).mapToObj(i -> "10.1.0." + i).toList();
        report(book, "hv2", many.toArray(String[]::new));
        assertEquals(many, book.sinceUnfence("hv2"), "a latest report longer than the bound is kept whole");
        assertTrue(book.of("hv2").isPresent());
    }

    /** A clock the test moves. */
    private static final class Hands extends java.time.Clock {
        private java.time.Instant now = java.time.Instant.parse("2026-12-07T10:00:00Z");

        void move(java.time.Duration d) {
            now = now.plus(d);
        }

        @Override
        public java.time.ZoneId getZone() {
            return java.time.ZoneOffset.UTC;
        }

        @Override
        public java.time.Clock withZone(java.time.ZoneId zone) {
            return this;
        }

        @Override
        public java.time.Instant instant() {
            return now;
        }
    }

    @Test
    void anAddressThatLeftTheReportsIsKeptAnHourThenForgottenAlsoAfterARestart() throws Exception {
        Path file = work.resolve("ceph-clients");
        Hands clock = new Hands();
        CephClientBook book = CephClientBook.open(file, Runnable::run, clock);
        report(book, "hv1", "10.0.0.7");
        clock.move(java.time.Duration.ofMinutes(10));
        report(book, "hv1", "10.0.0.8"); // 10.0.0.7 left the reports now
        clock.move(java.time.Duration.ofMinutes(59));
        assertEquals(List.of("10.0.0.7", "10.0.0.8"), book.sinceUnfence("hv1"), "within the hour: still fenced");
        clock.move(java.time.Duration.ofMinutes(2));
        assertEquals(List.of("10.0.0.8"), book.sinceUnfence("hv1"), "an hour after it left: forgotten");

        // Read back after a restart, an address of the history counts as leaving at the controller's start.
        CephClientBook restarted = CephClientBook.open(file, Runnable::run, clock);
        assertEquals(List.of("10.0.0.7", "10.0.0.8"), restarted.sinceUnfence("hv1"));
        clock.move(java.time.Duration.ofMinutes(61));
        assertEquals(List.of("10.0.0.8"), restarted.sinceUnfence("hv1"));
        report(restarted, "hv1", "10.0.0.9");
        assertEquals(List.of("10.0.0.8", "10.0.0.9"), restarted.sinceUnfence("hv1"));
        assertEquals("hv1 10.0.0.9 since-unfence=10.0.0.8,10.0.0.9\n", Files.readString(file),
                "what was forgotten leaves the file with the next change");
    }
}
