package io.virtfleet.controller.fencing;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.virtfleet.common.files.FileSync;
import io.virtfleet.controller.testkit.FailingSync;
import io.virtfleet.controller.testkit.SyncRecorder;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A verdict is in force exactly when the file holds it: what a restart finds. */
class FencesTest {
    private static final Instant AT = Instant.parse("2026-12-07T06:00:00Z");
    private static final Fence CEPH = new Fence("hv1", Fence.Kind.CEPH, List.of("10.0.0.11", "fd00:0:0:0:0:0:0:11"), AT,
            AT.plusSeconds(7 * 86400), "alice");
    private static final Fence CONFIRMED = new Fence("hv2", Fence.Kind.CONFIRMED_DOWN, List.of(), AT, null, "bob");

    @TempDir
    Path dir;

    @Test
    void verdictsSurviveARestartAsRecorded() throws Exception {
        Path file = dir.resolve("fenced-hosts");
        Fences fences = Fences.open(file);
        SyncRecorder syncs = new SyncRecorder();
        try (var scope = FileSync.during(syncs)) {
            fences.record(CEPH);
        }
        syncs.assertReplacedDurably(file);
        fences.record(CONFIRMED);
        Fences reopened = Fences.open(file);
        assertEquals(Optional.of(CEPH), reopened.of("hv1"));
        assertEquals(Optional.of(CONFIRMED), reopened.of("hv2"));
        assertTrue(fences.remove("hv1"));
        assertFalse(fences.remove("hv1"), "nothing left to drop");
        assertEquals(Optional.empty(), Fences.open(file).of("hv1"));
        assertEquals(Optional.of(CONFIRMED), Fences.open(file).of("hv2"));
    }

    @Test
    void aVerdictThatCannotBeSavedIsNotInForce() throws Exception {
        Path file = dir.resolve("fenced-hosts");
        Fences fences = Fences.open(file);
        fences.record(CONFIRMED);
        try (var scope = FileSync.during(new FailingSync())) {
            assertThrows(IOException.class, () -> fences.record(CEPH));
            assertThrows(IOException.class, () -> fences.remove("hv2"));
        }
        assertEquals(Optional.empty(), fences.of("hv1"), "told the operator it failed: not in force");
        assertEquals(Optional.of(CONFIRMED), fences.of("hv2"), "the removal was not saved either");
    }

    @Test
    void anIllegibleFileStopsTheStartSayingWhatToDo() throws Exception {
        Path file = Files.writeString(dir.resolve("fenced-hosts"), "[{\"host\": \"hv1\"");
        IOException e = assertThrows(IOException.class, () -> Fences.open(file));
        assertTrue(e.getMessage().contains(file.toString()) && e.getMessage().contains("osd blocklist ls"), e.getMessage());
    }
}
