package io.virtfleet.controller.move;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The notes of moves in flight, as a controller started after a crash reads them back. */
class MoveJournalTest {
    @TempDir
    Path dir;

    @Test
    void aMoveNotedIsReadBackByTheNextStartUntilItEnds() throws IOException {
        MoveJournal journal = MoveJournal.open(dir.resolve("moves"));
        journal.begin(new MoveJournal.Intent("web", "hv1", "hv2", true, false, "alice"));
        journal.targetDiskMade("web", true);

        MoveJournal reopened = MoveJournal.open(dir.resolve("moves"));
        assertEquals(List.of(new MoveJournal.Intent("web", "hv1", "hv2", true, true, "alice")), reopened.all());
        assertTrue(reopened.pending("web"));

        reopened.end("web");
        assertFalse(reopened.pending("web"));
        assertEquals(List.of(), MoveJournal.open(dir.resolve("moves")).all());
    }

    @Test
    void aSettledMoveWithSomethingLeftIsKeptButNoLongerInFlight() throws IOException {
        MoveJournal journal = MoveJournal.open(dir);
        journal.begin(new MoveJournal.Intent("db", "hv1", "hv2", true, false, "alice"));
        journal.targetDiskMade("db", true);
        journal.settled("db", MoveJournal.Stage.STAYED);

        MoveJournal reopened = MoveJournal.open(dir);
        MoveJournal.Intent read = reopened.get("db").orElseThrow();
        assertEquals(MoveJournal.Stage.STAYED, read.stage());
        assertTrue(read.targetDiskMade());
        assertFalse(reopened.pending("db"), "the reconciler need not keep off db: its outcome is known");
        assertTrue(reopened.noted("db"));
        assertTrue(read.leftover().contains("on hv2"), read.leftover());
    }

    @Test
    void aWriteCutShortBeforeItsRenameWasNeverAMove() throws IOException {
        Files.createDirectories(dir.resolve("moves"));
        Files.writeString(dir.resolve("moves").resolve(".web.1a2b.tmp"), "source=hv1\ntar");
        assertEquals(List.of(), MoveJournal.open(dir.resolve("moves")).all());
    }

    @Test
    void anOperatorNameCannotAddLinesToTheNote() throws IOException {
        MoveJournal journal = MoveJournal.open(dir);
        journal.begin(new MoveJournal.Intent("web", "hv1", "hv2", false, false, "eve\ntarget=hv9"));
        MoveJournal.Intent read = MoveJournal.open(dir).get("web").orElseThrow();
        assertEquals("hv2", read.target());
        assertEquals("eve_target_hv9", read.operator());
    }

    @Test
    void aNoteNamingNoValidHostIsRefusedWithItsVm() throws IOException {
        Files.writeString(dir.resolve("web"), "source=hv1\ntarget=../etc\n");
        IOException e = assertThrows(IOException.class, () -> MoveJournal.open(dir));
        assertTrue(e.getMessage().contains("web") && e.getMessage().contains("target"), e.getMessage());
    }

    @Test
    void anUnreadableNoteStopsTheStartNamingTheFileAndWhatToDo() throws IOException {
        Files.writeString(dir.resolve("api"), "source=hv1\ntarget=hv2\n");
        Files.write(dir.resolve("web"), new byte[] {'s', 'o', (byte) 0xff, (byte) 0xfe, '\n'}); // not UTF-8
        IOException e = assertThrows(IOException.class, () -> MoveJournal.open(dir));
        String message = e.getMessage();
        assertTrue(message.contains(dir.resolve("web").toString()), message);
        assertTrue(message.contains("virsh list"), message);
        assertTrue(message.contains("delete " + dir.resolve("web")), message);
    }
}
