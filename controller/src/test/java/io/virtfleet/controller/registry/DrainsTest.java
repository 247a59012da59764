package io.virtfleet.controller.registry;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.virtfleet.common.files.FileSync;
import io.virtfleet.controller.testkit.FailingSync;
import java.io.IOException;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A drain is in force exactly when the file holds it: what a restart will find. */
class DrainsTest {
    @TempDir
    Path dir;

    @Test
    void aDrainThatCannotBeSavedIsNotInForceAndARetrySavesIt() throws Exception {
        Path file = dir.resolve("drained-hosts");
        Drains drains = new Drains(file);
        drains.set("hv2", true);
        try (var scope = FileSync.during(new FailingSync())) {
            assertThrows(IOException.class, () -> drains.set("hv1", true));
            assertThrows(IOException.class, () -> drains.set("hv2", false));
        }
        assertFalse(drains.isDrained("hv1"), "told the operator it failed: not in force");
        assertTrue(drains.isDrained("hv2"), "the undrain was not saved either");
        assertTrue(drains.set("hv1", true), "the retry changes, and writes, the drain");
        assertTrue(new Drains(file).isDrained("hv1") && new Drains(file).isDrained("hv2"), "as a restart finds them");
        assertTrue(drains.set("hv2", false));
        assertFalse(new Drains(file).isDrained("hv2"));
        assertFalse(drains.set("hv2", false), "nothing to change");
    }
}
