package io.virtfleet.agent.sync;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import org.eclipse.jgit.api.Git;
import org.eclipse.jgit.lib.ObjectId;
import org.eclipse.jgit.revwalk.RevCommit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The runbook's clone at /srv/common, found where the agent keeps its definitions: its history stays in the clone
 * as branch "runbook" (and its remote as remote "runbook") when main becomes the controller's; a clone with
 * uncommitted work is refused and left exactly as it was.
 */
class RunbookCloneTest {
    @TempDir
    Path work;

    /** The runbook's central repository, with two commits as the runbook made them, cloned onto a hypervisor. */
    private Path runbookClone(Path central, Path clone) throws Exception {
        try (Git git = Git.init().setDirectory(central.toFile()).setInitialBranch("master").call()) {
            Path qemu = Files.createDirectories(central.resolve("etc/libvirt/qemu"));
            Files.writeString(qemu.resolve("git.xml"), "<domain><name>git</name></domain>\n");
            git.add().addFilepattern(".").call();
            git.commit().setMessage("git: sata, vxlan 10").setAuthor("ops", "ops@example.com").call();
            Files.writeString(qemu.resolve("wiki.xml"), "<domain><name>wiki</name></domain>\n");
            git.add().addFilepattern(".").call();
            git.commit().setMessage("wiki").setAuthor("ops", "ops@example.com").call();
        }
        Git.cloneRepository().setURI("file://" + central).setDirectory(clone.toFile()).call().close();
        return clone;
    }

    @Test
    void theRunbooksHistoryIsKeptAsBranchRunbookWhenMainBecomesTheControllers() throws Exception {
        Path central = work.resolve("central");
        Path srvCommon = runbookClone(central, work.resolve("srv-common"));
        ObjectId runbookHead;
        try (Git git = Git.open(srvCommon.toFile())) {
            runbookHead = git.getRepository().resolve("HEAD");
        }
        try (UpstreamRepo definitions = UpstreamRepo.create(work.resolve("definitions"))) {
            definitions.vm("web", "hv0", true, UpstreamRepo.domainXml("web", 512));
            definitions.commit("web");
            DefinitionsClone clone = DefinitionsClone.ofRemote(srvCommon, definitions.url(), Duration.ofSeconds(20));
            PullResult pulled = clone.pull();
            assertTrue(pulled.added().contains("web"), pulled.toString());
            try (Git git = Git.open(srvCommon.toFile())) {
                var repo = git.getRepository();
                assertEquals(runbookHead, repo.resolve("refs/heads/runbook"), "the runbook's history, as a branch");
                int commits = 0;
                for (RevCommit c : git.log().add(repo.resolve("refs/heads/runbook")).call()) {
                    commits++;
                }
                assertEquals(2, commits, "both of the runbook's commits");
                assertEquals("file://" + central, repo.getConfig().getString("remote", "runbook", "url"));
                assertEquals(definitions.url(), repo.getConfig().getString("remote", "origin", "url"));
                assertEquals(clone.commit().orElseThrow(), repo.resolve("refs/heads/main").name());
            }
            assertFalse(Files.exists(srvCommon.resolve("etc/libvirt/qemu/wiki.xml")),
                    "the work tree is the controller's definitions now");
            definitions.vm("db", "hv0", true, UpstreamRepo.domainXml("db", 512));
            definitions.commit("db");
            clone.pull();
            try (Git git = Git.open(srvCommon.toFile())) {
                assertEquals(runbookHead, git.getRepository().resolve("refs/heads/runbook"), "kept, not moved again");
            }
        }
    }

    @Test
    void aCloneLibvirtsOwnDefinitionsLinkIntoIsRefusedAndLeftAsItWas() throws Exception {
        Path central = work.resolve("central");
        Path srvCommon = runbookClone(central, work.resolve("srv-common"));
        ObjectId runbookHead;
        try (Git git = Git.open(srvCommon.toFile())) {
            runbookHead = git.getRepository().resolve("HEAD");
        }
        // Three layouts of "libvirt's config is the runbook's clone": the directory a link to the clone's, files
        // linked one by one (symbolic, hard).
        Path linkedDir = work.resolve("etc-linked/qemu");
        Files.createDirectories(linkedDir.getParent());
        Files.createSymbolicLink(linkedDir, srvCommon.resolve("etc/libvirt/qemu"));
        Path symlinkedFiles = Files.createDirectories(work.resolve("etc-symlinks/qemu"));
        Files.createSymbolicLink(symlinkedFiles.resolve("wiki.xml"), srvCommon.resolve("etc/libvirt/qemu/wiki.xml"));
        Path hardLinkedFiles = Files.createDirectories(work.resolve("etc-hardlinks/qemu"));
        Files.createLink(hardLinkedFiles.resolve("git.xml"), srvCommon.resolve("etc/libvirt/qemu/git.xml"));
        try (UpstreamRepo definitions = UpstreamRepo.create(work.resolve("definitions"))) {
            definitions.vm("web", "hv0", true, UpstreamRepo.domainXml("web", 512));
            definitions.commit("web");
            for (Path config : java.util.List.of(linkedDir, symlinkedFiles, hardLinkedFiles)) {
                DefinitionsClone clone = DefinitionsClone.ofRemote(srvCommon, definitions.url(), Duration.ofSeconds(20))
                        .libvirtConfig(config);
                IOException refused = assertThrows(IOException.class, clone::pull);
                assertTrue(refused.getMessage().contains("holds libvirt's own domain definitions")
                        && refused.getMessage().contains(config.toString()), refused.getMessage());
                assertTrue(Files.exists(srvCommon.resolve("etc/libvirt/qemu/wiki.xml")), "the runbook's files stay");
                try (Git git = Git.open(srvCommon.toFile())) {
                    assertEquals(runbookHead, git.getRepository().resolve("HEAD"), "the clone is where it was");
                    assertEquals(null, git.getRepository().resolve("refs/heads/runbook"), "nothing taken over");
                }
            }
            // libvirt with its own copies: taken over.
            Path ownCopies = Files.createDirectories(work.resolve("etc-own/qemu"));
            Files.copy(srvCommon.resolve("etc/libvirt/qemu/git.xml"), ownCopies.resolve("git.xml"));
            DefinitionsClone.ofRemote(srvCommon, definitions.url(), Duration.ofSeconds(20)).libvirtConfig(ownCopies).pull();
            assertTrue(Files.exists(ownCopies.resolve("git.xml")), "libvirt's copy stays");
            assertFalse(Files.exists(srvCommon.resolve("etc/libvirt/qemu/wiki.xml")));
        }
    }

    @Test
    void aRunbookCloneWithUncommittedWorkIsRefusedAndLeftAsItWas() throws Exception {
        Path srvCommon = runbookClone(work.resolve("central"), work.resolve("srv-common"));
        Files.writeString(srvCommon.resolve("etc/libvirt/qemu/git.xml"), "<domain><name>git</name><!-- edited --></domain>\n");
        String config = Files.readString(srvCommon.resolve(".git/config"));
        try (UpstreamRepo definitions = UpstreamRepo.create(work.resolve("definitions"))) {
            definitions.vm("web", "hv0", true, UpstreamRepo.domainXml("web", 512));
            definitions.commit("web");
            DefinitionsClone clone = DefinitionsClone.ofRemote(srvCommon, definitions.url(), Duration.ofSeconds(20));
            IOException e = assertThrows(IOException.class, clone::pull);
            assertTrue(e.getMessage().contains("uncommitted changes") && e.getMessage().contains("etc/libvirt/qemu/git.xml"),
                    e.getMessage());
        }
        assertEquals(config, Files.readString(srvCommon.resolve(".git/config")), "its remotes untouched");
        assertTrue(Files.readString(srvCommon.resolve("etc/libvirt/qemu/git.xml")).contains("edited"), "its work kept");
        try (Git git = Git.open(srvCommon.toFile())) {
            assertEquals(null, git.getRepository().exactRef("refs/heads/runbook"));
        }
    }
}
