package io.virtfleet.controller.definitions;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The definitions repository: one commit per change, the operator as author, nothing outside the tree. */
class DefinitionsRepoTest {
    @TempDir
    Path dir;

    @Test
    void eachChangeIsOneCommitWithItsAuthorAndAnUnchangedWriteIsNone() throws Exception {
        try (DefinitionsRepo repo = DefinitionsRepo.open(dir.resolve("defs"))) {
            String first = repo.commit("create git", "alice", Map.of("vms/git.json", "{}".getBytes(StandardCharsets.UTF_8),
                    "etc/libvirt/qemu/git.xml", "<domain/>".getBytes(StandardCharsets.UTF_8)), Set.of());
            assertEquals(first, repo.commit("again", "bob", Map.of("vms/git.json", "{}".getBytes(StandardCharsets.UTF_8)),
                    Set.of()), "nothing changed, no commit");
            repo.commit("delete git", "bob", Map.of(), Set.of("vms/git.json", "etc/libvirt/qemu/git.xml"));
            var history = repo.history("vms/git.json");
            assertEquals(2, history.size());
            assertEquals("alice", history.get(0).author());
            assertEquals("delete git", history.get(1).message());
            assertTrue(repo.list("etc/libvirt/qemu").isEmpty());
        }
    }

    @Test
    void pathsThatWouldLeaveOrBendTheTreeAreRefused() throws Exception {
        try (DefinitionsRepo repo = DefinitionsRepo.open(dir.resolve("defs"))) {
            for (String bad : new String[] {"etc/libvirt/qemu/../../x.xml", "../outside.xml", "/etc/passwd", "a//b",
                "./a", ".git/config", "a\\\\b"}) {
                assertThrows(IllegalArgumentException.class,
                        () -> repo.commit("bad", "eve", Map.of(bad, new byte[] {1}), Set.of()), bad);
            }
            assertFalse(Files.exists(dir.resolve("defs/etc/x.xml")));
            assertFalse(Files.exists(dir.resolve("outside.xml")));
        }
    }

    @Test
    void anUncommittedChangeLeftByACrashIsDroppedOnOpen() throws Exception {
        try (DefinitionsRepo repo = DefinitionsRepo.open(dir.resolve("defs"))) {
            repo.commit("create a", "", Map.of("vms/a.json", "{}".getBytes(StandardCharsets.UTF_8)), Set.of());
        }
        Files.writeString(dir.resolve("defs/vms/half.json"), "{"); // written, never committed
        Files.writeString(dir.resolve("defs/vms/a.json"), "changed");
        try (DefinitionsRepo repo = DefinitionsRepo.open(dir.resolve("defs"))) {
            assertEquals(java.util.List.of("a.json"), repo.list("vms"));
            assertEquals("{}", new String(repo.read("vms/a.json").orElseThrow(), StandardCharsets.UTF_8));
        }
    }
}
