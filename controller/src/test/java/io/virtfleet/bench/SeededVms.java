package io.virtfleet.bench;

import static io.virtfleet.common.units.Bytes.GIB;

import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.util.JsonFormat;
import io.virtfleet.controller.definitions.DefinitionsRepo;
import io.virtfleet.controller.definitions.VmStore;
import io.virtfleet.controller.scheduler.ClaimBook;
import io.virtfleet.controller.scheduler.FailoverHosts;
import io.virtfleet.controller.scheduler.Policy;
import io.virtfleet.controller.scheduler.Request;
import io.virtfleet.controller.scheduler.Scheduler;
import io.virtfleet.proto.v1.NetworkSpec;
import io.virtfleet.proto.v1.StorageTier;
import io.virtfleet.proto.v1.Vm;
import io.virtfleet.proto.v1.VmSpec;
import org.eclipse.jgit.api.Git;
import org.eclipse.jgit.lib.PersonIdent;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * A controller data directory that already holds VMs, as a controller that has run a fleet for a while has it: each
 * VM's record in the definitions repository (one commit for all of them, in a repository made by {@link
 * DefinitionsRepo}) and its claim in the claims journal (made by {@link Scheduler#restore}, as a controller restores
 * a lost claim). The controller started on the directory reads both as it reads its own; nothing of it is mocked.
 *
 * <p>VM {@code d} (1..{@code perHost}) of host {@code i} is named {@link SimulatedAgent#domainName}(i, d) and has
 * that simulated host as its home, so a {@link SimulatedAgent} built with {@code perHost} domains reports every one
 * of its VMs (running, except every fourth, which is shut off and recorded as not wanted running).
 */
final class SeededVms {
    private static final JsonFormat.Printer JSON = JsonFormat.printer().preservingProtoFieldNames();

    /** The repository's commits after seeding: its head, and the commit before it (a host behind reports that). */
    record Commits(String head, String before) {}

    private SeededVms() {}

    static VmSpec spec(int host, int d) {
        return VmSpec.newBuilder().setName(SimulatedAgent.domainName(host, d)).setStorage(StorageTier.STORAGE_TIER_SSD)
                .setDiskBytes(20 * GIB).setMemoryBytes((1L + d % 4) * GIB).setVcpus(1 + d % 4).setProfile("base")
                .setNetwork(NetworkSpec.newBuilder().setLan(100 + host % 50)).setReplicated(true).build();
    }

    static Vm vm(int host, int d) {
        return Vm.newBuilder().setSpec(spec(host, d)).setHomeHost(SimulatedAgent.hostName(host))
                .setRunningWanted(d % 4 != 0).build();
    }

    /**
     * Writes {@code hosts} × {@code perHost} VMs into the controller data directory {@code dataDir} (its
     * {@code definitions} repository and {@code claims} journal, created if absent). Returns the repository's commits.
     */
    static Commits seed(Path dataDir, int hosts, int perHost) throws Exception {
        Path definitions = dataDir.resolve("definitions");
        DefinitionsRepo.open(definitions).close(); // the repository as the controller creates it on its first start
        String before;
        String head;
        // The records are committed with JGit directly, in one "git add" of the whole directory: through
        // DefinitionsRepo.commit every file is added on its own, and each add lists and stats the whole vms/
        // directory (10,000 files took more than 13 minutes). The controller then opens it as its own.
        try (Git git = Git.open(definitions.toFile())) {
            before = git.getRepository().resolve("HEAD").getName();
            for (int h = 0; h < hosts; h++) {
                for (int d = 1; d <= perHost; d++) {
                    Vm vm = vm(h, d);
                    Path file = definitions.resolve(VmStore.recordPath(vm.getSpec().getName()));
                    Files.createDirectories(file.getParent());
                    Files.writeString(file, print(vm) + "\n");
                }
            }
            git.add().addFilepattern("vms").call();
            PersonIdent bench = new PersonIdent("bench", "bench@operators.virtfleet.internal");
            head = git.commit().setAuthor(bench).setCommitter(bench).setSign(false)
                    .setMessage("seed " + hosts * perHost + " VMs for a benchmark").call().getName();
        }
        try (ClaimBook claims = ClaimBook.open(dataDir.resolve("claims"))) {
            Scheduler scheduler = new Scheduler(Policy.defaults(), FailoverHosts.routed(Map.of()), claims,
                    System::currentTimeMillis);
            // Several at a time: the journal writes whatever is queued with one fsync (a group commit).
            ExecutorService pool = Executors.newFixedThreadPool(16);
            try {
                List<Future<?>> done = new ArrayList<>();
                for (int h = 0; h < hosts; h++) {
                    int host = h;
                    done.add(pool.submit(() -> {
                        for (int d = 1; d <= perHost; d++) {
                            scheduler.restore(Request.of(spec(host, d)), SimulatedAgent.hostName(host));
                        }
                    }));
                }
                for (Future<?> f : done) {
                    f.get();
                }
            } finally {
                pool.shutdownNow();
            }
            if (claims.size() != hosts * perHost) {
                throw new IllegalStateException("seeded " + claims.size() + " claims, expected " + hosts * perHost);
            }
        }
        return new Commits(head, before);
    }

    private static String print(Vm vm) {
        try {
            return JSON.print(vm);
        } catch (InvalidProtocolBufferException e) {
            throw new IllegalStateException(e);
        }
    }
}
