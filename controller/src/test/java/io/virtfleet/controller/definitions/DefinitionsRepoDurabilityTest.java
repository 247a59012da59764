package io.virtfleet.controller.definitions;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.virtfleet.common.files.FileSync;
import io.virtfleet.controller.testkit.SyncRecorder;
import io.virtfleet.proto.v1.Vm;
import io.virtfleet.proto.v1.VmSpec;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Set;
import org.eclipse.jgit.api.Git;
import org.eclipse.jgit.lib.StoredConfig;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** What makes a commit of the definitions repository survive a power loss, and what stops commits when it cannot. */
class DefinitionsRepoDurabilityTest {
    @TempDir
    Path dir;

    private static Map<String, byte[]> file(String path, String content) {
        return Map.of(path, content.getBytes(StandardCharsets.UTF_8));
    }

    @Test
    void jgitSyncsObjectsAndRefsAfterReopeningARepositoryThatDidNotAskForIt() throws Exception {
        Path defs = dir.resolve("defs");
        DefinitionsRepo.open(defs).close();
        // A repository made before the setting existed, or whose config was edited by hand.
        try (Git git = Git.open(defs.toFile())) {
            StoredConfig config = git.getRepository().getConfig();
            config.unset("core", null, "fsyncObjectFiles");
            config.unset("core", null, "fsyncRefFiles");
            config.save();
        }
        try (DefinitionsRepo repo = DefinitionsRepo.open(defs)) {
            StoredConfig live = repo.git().getRepository().getConfig();
            assertTrue(live.getBoolean("core", null, "fsyncObjectFiles", false), "objects synced by the open repository");
            assertTrue(live.getBoolean("core", null, "fsyncRefFiles", false), "refs synced by the open repository");
        }
        try (Git git = Git.open(defs.toFile())) {
            StoredConfig saved = git.getRepository().getConfig();
            assertTrue(saved.getBoolean("core", null, "fsyncObjectFiles", false));
            assertTrue(saved.getBoolean("core", null, "fsyncRefFiles", false));
        }
    }

    @Test
    void aCommitSyncsTheDirectoriesItsObjectsAndItsBranchWereRenamedInto() throws Exception {
        try (DefinitionsRepo repo = DefinitionsRepo.open(dir.resolve("defs"))) {
            SyncRecorder syncs = new SyncRecorder();
            String commit;
            try (var scope = FileSync.during(syncs)) {
                commit = repo.commit("create web1", "alice", file("vms/web1.json", "{\"a\":1}"), Set.of());
            }
            Path gitDir = dir.resolve("defs/.git").toAbsolutePath();
            Path objects = gitDir.resolve("objects").resolve(commit.substring(0, 2));
            assertTrue(syncs.events().stream().anyMatch(e -> e.directory() && e.path().equals(objects)
                            && e.files().containsKey(commit.substring(2))),
                    "the commit object's directory synced once it held the object: " + syncs.events());
            Path heads = gitDir.resolve("refs/heads");
            assertTrue(syncs.events().stream().anyMatch(e -> e.directory() && e.path().equals(heads)
                            && new String(e.files().get("main"), StandardCharsets.US_ASCII).strip().equals(commit)),
                    "refs/heads synced once main named the commit: " + syncs.events());
            long objectDirectories = syncs.events().stream()
                    .filter(e -> e.directory() && e.path().getParent().equals(gitDir.resolve("objects"))).count();
            assertTrue(objectDirectories >= 2, "commit, tree(s) and blob: " + syncs.events());
        }
    }

    private static boolean synced(SyncRecorder syncs, Path directory) {
        return syncs.events().stream().anyMatch(e -> e.directory() && e.path().equals(directory.toAbsolutePath()));
    }

    @Test
    void aNewRepositorysFirstCommitAndTheDirectoriesGitInitMadeAreSynced() throws Exception {
        Path defs = dir.resolve("defs");
        SyncRecorder syncs = new SyncRecorder();
        String first;
        try (var scope = FileSync.during(syncs); DefinitionsRepo repo = DefinitionsRepo.open(defs)) {
            first = repo.head();
        }
        Path gitDir = defs.resolve(".git").toAbsolutePath();
        Path heads = gitDir.resolve("refs/heads");
        assertTrue(syncs.events().stream().anyMatch(e -> e.directory() && e.path().equals(heads)
                && new String(e.files().get("main"), StandardCharsets.US_ASCII).strip().equals(first)),
                "refs/heads synced once main named the first commit: " + syncs.events());
        for (Path d : java.util.List.of(gitDir.resolve("objects").resolve(first.substring(0, 2)), gitDir.resolve("objects"),
                gitDir.resolve("refs"), gitDir, defs)) {
            assertTrue(synced(syncs, d), d + " synced: " + syncs.events());
        }
        // Written by git init and by JGit's config save, neither of which syncs: an empty HEAD stops the controller.
        for (Path f : java.util.List.of(gitDir.resolve("HEAD"), gitDir.resolve("config"))) {
            assertTrue(syncs.events().stream().anyMatch(e -> !e.directory() && e.path().toAbsolutePath().equals(f)),
                    f + " synced: " + syncs.events());
        }
    }

    @Test
    void aCommitThatMadeANewObjectDirectorySyncsObjectsToo() throws Exception {
        Path defs = dir.resolve("defs");
        try (DefinitionsRepo repo = DefinitionsRepo.open(defs)) {
            Path objects = defs.resolve(".git/objects").toAbsolutePath();
            java.util.Set<Path> before;
            try (var dirs = Files.list(objects)) {
                before = dirs.collect(java.util.stream.Collectors.toSet());
            }
            SyncRecorder syncs = new SyncRecorder();
            try (var scope = FileSync.during(syncs)) {
                repo.commit("create web1", "alice", file("vms/web1.json", "{\"a\":1}"), Set.of());
            }
            java.util.List<Path> made;
            try (var dirs = Files.list(objects)) {
                made = dirs.filter(d -> !before.contains(d)).toList();
            }
            // A commit, a tree or two and a blob: that all of them land in directories that exist is a 1 in ~10^7 chance.
            assertFalse(made.isEmpty(), "the commit made a new objects/xx directory");
            for (Path d : made) {
                assertTrue(synced(syncs, d), d + " synced: " + syncs.events());
            }
            assertTrue(synced(syncs, objects), "objects/ synced after it got " + made + ": " + syncs.events());
        }
    }

    @Test
    void aCommitWhoseUndoFailsStopsEveryLaterCommit() throws Exception {
        Path defs = dir.resolve("defs");
        try (DefinitionsRepo repo = DefinitionsRepo.open(defs)) {
            repo.commit("create a", "", file("vms/a.json", "{}"), Set.of());
            String before = repo.head();
            // Another process holds git's index lock: the commit cannot stage its file, nor can the undo reset.
            Path lock = defs.resolve(".git/index.lock");
            Files.writeString(lock, "");
            IOException failed = assertThrows(IOException.class,
                    () -> repo.commit("create b", "bob", file("vms/b.json", "{}"), Set.of()));
            assertTrue(failed.getMessage().contains("takes no more changes"), failed.getMessage());
            Files.delete(lock);
            // The lock is gone, but b.json (never committed) is still in the working tree: no commit may pick it up.
            IOException refused = assertThrows(IOException.class,
                    () -> repo.commit("create c", "carol", file("vms/c.json", "{}"), Set.of()));
            assertTrue(refused.getMessage().contains("takes no more changes")
                    && refused.getMessage().contains("restart the controller"), refused.getMessage());
            assertEquals(before, repo.head(), "nothing committed after the failure");
            assertFalse(Files.exists(defs.resolve("vms/c.json")), "a refused commit writes nothing");
        }
        try (DefinitionsRepo repo = DefinitionsRepo.open(defs)) {
            assertEquals(java.util.List.of("a.json"), repo.list("vms"), "a restart resets the working tree");
            repo.commit("create c", "carol", file("vms/c.json", "{}"), Set.of());
            assertEquals(java.util.List.of("a.json", "c.json"), repo.list("vms"));
        }
    }

    @Test
    void aCommitThatFailsButIsUndoneLeavesTheRepositoryUsable() throws Exception {
        try (DefinitionsRepo repo = DefinitionsRepo.open(dir.resolve("defs"))) {
            assertThrows(IllegalArgumentException.class,
                    () -> repo.commit("bad", "eve", Map.of("vms/ok.json", new byte[] {1}, "../x", new byte[] {1}), Set.of()));
            repo.commit("create a", "", file("vms/a.json", "{}"), Set.of());
            assertEquals(java.util.List.of("a.json"), repo.list("vms"));
        }
    }

    @Test
    void aPathBothWrittenAndDeletedIsRefusedBeforeAnythingIsWritten() throws Exception {
        try (DefinitionsRepo repo = DefinitionsRepo.open(dir.resolve("defs"))) {
            repo.commit("create a", "", file("vms/a.json", "{}"), Set.of());
            String before = repo.head();
            IllegalArgumentException refused = assertThrows(IllegalArgumentException.class, () -> repo.commit("both",
                    "eve", Map.of("vms/b.json", new byte[] {1}, "vms/a.json", new byte[] {2}), Set.of("vms/a.json")));
            assertTrue(refused.getMessage().contains("vms/a.json"), refused.getMessage());
            assertEquals(before, repo.head());
            assertEquals(java.util.List.of("a.json"), repo.list("vms"));
            assertEquals("{}", new String(repo.read("vms/a.json").orElseThrow()));
        }
    }

    @Test
    void aCommitWhoseSecondFileCannotBeWrittenLeavesNeitherFile() throws Exception {
        try (DefinitionsRepo repo = DefinitionsRepo.open(dir.resolve("defs"))) {
            repo.commit("create a", "", file("vms/a.json", "{}"), Set.of());
            String before = repo.head();
            Map<String, byte[]> writes = new java.util.LinkedHashMap<>();
            writes.put("vms/b.json", new byte[] {1});
            writes.put("vms/a.json/inside.json", new byte[] {1}); // under a file: its directory cannot be made
            assertThrows(IOException.class, () -> repo.commit("bad", "eve", writes, Set.of()));
            assertEquals(before, repo.head(), "nothing committed");
            assertEquals(java.util.List.of("a.json"), repo.list("vms"), "the first file written is gone again");
            repo.commit("create c", "", file("vms/c.json", "{}"), Set.of());
            assertEquals(java.util.List.of("a.json", "c.json"), repo.list("vms"));
        }
    }

    /** Syncs file contents; every directory sync fails, as on a disk that reports an I/O error. */
    private static FileSync failingDirectorySync() {
        return new FileSync() {
            @Override
            public void force(FileChannel channel, Path file) throws IOException {
                FileSync.DISK.force(channel, file);
            }

            @Override
            public void forceDirectory(Path directory) throws IOException {
                throw new IOException("injected: cannot sync " + directory);
            }
        };
    }

    @Test
    void aCommitWhoseDirectorySyncFailsStaysCommittedAndStopsEveryLaterCommit() throws Exception {
        Path defs = dir.resolve("defs");
        try (DefinitionsRepo repo = DefinitionsRepo.open(defs)) {
            String committed;
            try (var scope = FileSync.during(failingDirectorySync())) {
                // The branch already names the commit when its directories fail to sync: it is made, only its
                // durability is unknown, so it must not be reported as a commit that did not happen.
                committed = repo.commit("create web1", "alice", file("vms/web1.json", "{}"), Set.of());
            }
            assertEquals(repo.head(), committed, "the branch holds the commit");
            assertEquals(committed, repo.headNow(), "agents are told of the commit the branch holds");
            assertEquals(java.util.List.of("web1.json"), repo.list("vms"));
            IOException refused = assertThrows(IOException.class,
                    () -> repo.commit("create web2", "bob", file("vms/web2.json", "{}"), Set.of()));
            assertTrue(refused.getMessage().contains("takes no more changes")
                    && refused.getMessage().contains("restart the controller"), refused.getMessage());
            assertEquals(committed, repo.head(), "nothing committed after the failed sync");
        }
        try (DefinitionsRepo repo = DefinitionsRepo.open(defs)) {
            assertEquals(java.util.List.of("web1.json"), repo.list("vms"), "the commit is still there after a restart");
            repo.commit("create web2", "bob", file("vms/web2.json", "{}"), Set.of());
        }
    }

    @Test
    void aVmSavedByACommitWhoseDirectorySyncFailsIsKnownToTheStore() throws Exception {
        try (DefinitionsRepo repo = DefinitionsRepo.open(dir.resolve("defs"))) {
            VmStore store = new VmStore(repo);
            Vm vm = Vm.newBuilder().setHomeHost("hv1").setRunningWanted(true)
                    .setSpec(VmSpec.newBuilder().setName("web1").setStorage(io.virtfleet.proto.v1.StorageTier.STORAGE_TIER_RAW)
                            .setDiskBytes(10L << 30).setMemoryBytes(1L << 30).setVcpus(1).setProfile("base")
                            .setNetwork(io.virtfleet.proto.v1.NetworkSpec.newBuilder().setLan(10))).build();
            try (var scope = FileSync.during(failingDirectorySync())) {
                store.save(vm, "<domain><name>web1</name></domain>", "create web1", "alice");
            }
            assertTrue(repo.read(VmStore.recordPath("web1")).isPresent(), "the branch holds the record");
            assertTrue(store.get("web1").isPresent(), "the store knows the VM the branch holds");
            assertEquals(new VmStore(repo).get("web1"), store.get("web1"), "the store matches what the branch holds");
            assertEquals(io.virtfleet.common.fingerprint.Sha256.hex("<domain><name>web1</name></domain>"),
                    store.fingerprint("web1").orElseThrow());
        }
    }
}
