package io.virtfleet.controller.definitions;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Set;
import org.eclipse.jgit.api.Git;
import org.eclipse.jgit.lib.Repository;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A controller killed while JGit writes a commit leaves what any killed git leaves: lock files (the index's, the
 * branch's) and files not committed. The next controller must open the repository at its last commit, and commit
 * again.
 */
class DefinitionsRepoCrashTest {
    @TempDir
    Path dir;

    @Test
    void aCommitKilledWhileHoldingTheIndexAndBranchLocksIsDroppedAndTheRepositoryWorksAgain() throws Exception {
        String first;
        try (DefinitionsRepo repo = DefinitionsRepo.open(dir)) {
            first = repo.commit("create db on hv1", "alice", Map.of("vms/db.json", bytes("{}")), Set.of());
        }
        // What a kill in the middle of the next commit leaves: its files written, the index and the branch
        // locked by the dead process (JGit writes the new index into index.lock, the new branch tip into main.lock).
        try (Git git = Git.open(dir.toFile())) {
            Repository r = git.getRepository();
            Files.createDirectories(dir.resolve("etc/libvirt/qemu"));
            Files.write(dir.resolve("etc/libvirt/qemu/web.xml"), bytes("<domain/>"));
            Files.write(dir.resolve("vms/web.json"), bytes("{}"));
            assertTrue(r.lockDirCache() != null, "index locked");
            Files.writeString(dir.resolve(".git/refs/heads/main.lock"), first + "\n");
        }
        assertTrue(Files.exists(dir.resolve(".git/index.lock")));

        try (DefinitionsRepo repo = DefinitionsRepo.open(dir)) {
            assertEquals(first, repo.head(), "back at the last commit");
            assertFalse(Files.exists(dir.resolve("vms/web.json")), "the unfinished change is gone");
            assertFalse(Files.exists(dir.resolve("etc/libvirt/qemu/web.xml")), "the unfinished change is gone");
            String next = repo.commit("create web on hv2", "bob", Map.of("vms/web.json", bytes("{\"a\":1}")), Set.of());
            assertEquals(next, repo.head());
            assertEquals(1, repo.history("vms/web.json").size());
        }
        try (Git git = Git.open(dir.toFile())) {
            assertTrue(git.status().call().isClean(), "nothing left uncommitted or locked");
        }
    }

    private static byte[] bytes(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }
}
