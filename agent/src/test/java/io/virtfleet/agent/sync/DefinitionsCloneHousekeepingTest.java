package io.virtfleet.agent.sync;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.stream.Stream;
import org.eclipse.jgit.api.Git;
import org.eclipse.jgit.lib.StoredConfig;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class DefinitionsCloneHousekeepingTest {
    @TempDir
    Path work;

    /**
     * Every fetch adds a pack and JGit repacks them into one past gc.autoPackLimit; the packs it replaced must go
     * at once, or the clone stays over the limit and every later pull repacks it all again.
     */
    @Test
    void theAutomaticRepackBringsTheClonesPacksBackUnderTheLimit() throws Exception {
        try (UpstreamRepo upstream = UpstreamRepo.create(work.resolve("upstream"))) {
            upstream.vm("web", "hv0", true, UpstreamRepo.domainXml("web", 512));
            upstream.commit("web");
            Path dir = work.resolve("clone");
            DefinitionsClone clone = DefinitionsClone.ofRemote(dir, upstream.url(), Duration.ofSeconds(20));
            clone.pull();
            int limit = 3;
            try (Git git = Git.open(dir.toFile())) {
                StoredConfig config = git.getRepository().getConfig();
                config.setInt("gc", null, "autoPackLimit", limit);
                config.save();
            }
            for (int i = 0; i < 4 * limit; i++) {
                upstream.vm("web", "hv0", true, UpstreamRepo.domainXml("web", 600 + i));
                upstream.commit("web " + i);
                clone.pull();
                assertTrue(packs(dir) <= limit + 1, "after pull " + i + ": " + packs(dir) + " packs");
            }
            upstream.commitEmpty("head");
            clone.pull();
            assertEquals(clone.commit().orElseThrow(), headOf(upstream.dir()));
        }
    }

    private static long packs(Path clone) throws Exception {
        try (Stream<Path> files = Files.list(clone.resolve(".git/objects/pack"))) {
            return files.filter(p -> p.getFileName().toString().endsWith(".pack")).count();
        }
    }

    private static String headOf(Path repo) throws Exception {
        try (Git git = Git.open(repo.toFile())) {
            return git.getRepository().resolve("refs/heads/main").getName();
        }
    }
}
