package io.virtfleet.controller;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.virtfleet.agent.Agent;
import io.virtfleet.agent.AgentConfig;
import io.virtfleet.agent.hypervisor.LibvirtHypervisor;
import io.virtfleet.agent.storage.CephSecret;
import io.virtfleet.agent.storage.CephSettings;
import io.virtfleet.agent.storage.DiskOutcome;
import io.virtfleet.common.process.Command;
import io.virtfleet.common.units.Bytes;
import io.virtfleet.common.validation.Endpoint;
import io.virtfleet.controller.embedded.EmbeddedFleet;
import io.virtfleet.controller.embedded.CephCluster;
import io.virtfleet.controller.testkit.Clients;
import io.virtfleet.controller.testkit.LibvirtdNode;
import io.virtfleet.proto.v1.AgentGrpc;
import io.virtfleet.proto.v1.DeleteDiskRequest;
import io.virtfleet.proto.v1.EnsureDiskRequest;
import io.virtfleet.proto.v1.StepResult;
import io.virtfleet.proto.v1.StorageTier;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.libvirt.Connect;
import org.libvirt.Secret;

/**
 * Disks on the Ceph tiers, asked of an agent over the fleet's gRPC (mutual TLS, as the controller), against a
 * real single-node Ceph cluster and a real libvirtd holding the cephx secret. One cluster and one libvirtd
 * for the whole class: starting them takes ~20 s.
 *
 * <p>Needs root and the Debian packages {@value CephCluster#PACKAGES} and {@value LibvirtdNode#PACKAGES};
 * fails (never skips) without them.
 */
@Timeout(value = 4, unit = TimeUnit.MINUTES)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class CephDisksTest {
    private static final String HOST = "hv-ceph";
    private static final long GIB = Bytes.GIB;
    /** Short, so that "Ceph is down" is an answer within seconds. */
    private static final Duration CEPH_TIMEOUT = Duration.ofSeconds(3);

    @TempDir
    static Path tmp;

    private static CephCluster ceph;
    private static LibvirtdNode node;
    private static EmbeddedFleet fleet;
    private static final List<Agent> agents = new ArrayList<>();
    private static Clients asController;
    private static AgentGrpc.AgentBlockingStub agent;
    private static CephSettings settings;

    @BeforeAll
    static void startCephLibvirtdAndAgent() throws Exception {
        long t0 = System.nanoTime();
        try {
            ceph = CephCluster.start(tmp.resolve("ceph"));
        } catch (IOException | RuntimeException e) {
            fail("this test needs a real Ceph (root, Debian packages " + CephCluster.PACKAGES + ") and could not start one: "
                    + e.getMessage(), e);
        }
        System.out.printf("Ceph (1 mon + 1 osd, memstore) up with pools in %d ms%n", (System.nanoTime() - t0) / 1_000_000);
        try {
            node = LibvirtdNode.start(tmp.resolve("nodes").resolve(HOST), HOST);
        } catch (IOException | RuntimeException e) {
            fail("this test needs a real libvirtd (root, Debian packages " + LibvirtdNode.PACKAGES
                    + ") and could not start one: " + e.getMessage(), e);
        }
        settings = new CephSettings(ceph.conf(), CephCluster.CLIENT, ceph.clientKeyring(), CephCluster.SSD_POOL,
                CephCluster.SATA_POOL, CEPH_TIMEOUT);
        fleet = EmbeddedFleet.builder(tmp.resolve("fleet")).nodes(List.of()).heartbeat(Duration.ofMillis(500)).build().start();
        asController = Clients.as(fleet.controller().pki().credentials());
        agent = AgentGrpc.newBlockingStub(startAgent(HOST, settings));
        System.out.printf("libvirtd, controller and agent up after %d ms%n", (System.nanoTime() - t0) / 1_000_000);
    }

    /** Starts an agent of the fleet on the test's libvirtd with these Ceph settings; returns a channel to it. */
    private static io.grpc.Channel startAgent(String host, CephSettings cephSettings) throws Exception {
        AgentConfig config = fleet.agentConfig(host, tmp.resolve("agents").resolve(host), node.uri())
                .withJoinToken(fleet.joinToken(host)).withCeph(cephSettings);
        Agent a = Agent.create(config);
        agents.add(a);
        a.start();
        return asController.agent(new Endpoint("127.0.0.1", a.port()), host);
    }

    @AfterAll
    static void stopEverything() {
        agents.forEach(Agent::close);
        if (asController != null) {
            asController.close();
        }
        if (fleet != null) {
            fleet.close();
        }
        if (node != null) {
            node.close();
        }
        if (ceph != null) {
            ceph.close();
        }
    }

    @Test
    @Order(1)
    void ssdAndSataDisksAreCreatedInTheirPoolsWithTheRequestedSize() throws Exception {
        long t = System.nanoTime();
        StepResult ssd = ensure(HOST, "web", StorageTier.STORAGE_TIER_SSD, 2 * GIB);
        System.out.printf("EnsureDisk ssd 2 GiB (qemu-img create -f rbd, secret defined) answered in %d ms, agent says %d ms%n",
                (System.nanoTime() - t) / 1_000_000, ssd.getDurationMs());
        StepResult sata = ensure(HOST, "git", StorageTier.STORAGE_TIER_SATA, 20 * GIB);

        assertEquals(StepResult.Outcome.OUTCOME_CHANGED, ssd.getOutcome());
        assertTrue(ssd.getDetail().startsWith("created rbd:libvirt-ssd/web 2 GiB; libvirt secret 'client.libvirt secret' ("),
                ssd.getDetail());
        assertTrue(sata.getDetail().startsWith("created rbd:libvirt-sata/git 20 GiB; "), sata.getDetail());
        assertEquals(2 * GIB, ceph.imageSize(CephCluster.SSD_POOL, "web"));
        assertEquals(20 * GIB, ceph.imageSize(CephCluster.SATA_POOL, "git"));
        assertEquals(List.of("web"), ceph.images(CephCluster.SSD_POOL), "nothing else in the ssd pool");
        assertEquals(List.of("git"), ceph.images(CephCluster.SATA_POOL), "nothing else in the sata pool");
        assertTrue(ssd.getDurationMs() >= 0 && ssd.getDurationMs() < CEPH_TIMEOUT.toMillis() * 10, "duration " + ssd.getDurationMs());
    }

    @Test
    @Order(2)
    void theLibvirtSecretHoldsTheKeyringKeyBeforeTheDiskIsReported() throws Exception {
        ensure(HOST, "web", StorageTier.STORAGE_TIER_SSD, 2 * GIB);
        Path value = secretValueFile("client.libvirt secret");

        String key = keyOf(ceph.clientKeyring());
        assertEquals(key, Files.readString(value).strip(), "libvirt keeps the value base64-encoded: the keyring's text");
        String xml = Files.readString(value.resolveSibling(value.getFileName().toString().replace(".base64", ".xml")));
        assertTrue(xml.contains("ephemeral='no'") && xml.contains("private='yes'"), xml);
        assertTrue(xml.contains("<usage type='ceph'>") && xml.contains("<name>client.libvirt secret</name>"), xml);
    }

    @Test
    @Order(3)
    void theSameDiskAskedAgainIsAdoptedAndTheSecretLeftAlone() throws Exception {
        ensure(HOST, "git", StorageTier.STORAGE_TIER_SATA, 20 * GIB);
        Path value = secretValueFile("client.libvirt secret");
        // A time no write can give it, rather than waiting for the clock to tick past the last write.
        FileTime written = FileTime.from(Instant.parse("2001-01-01T00:00:00Z"));
        Files.setLastModifiedTime(value, written);

        StepResult again = ensure(HOST, "git", StorageTier.STORAGE_TIER_SATA, 20 * GIB);

        assertEquals(StepResult.Outcome.OUTCOME_ALREADY_DONE, again.getOutcome());
        assertTrue(again.getDetail().startsWith("adopted rbd:libvirt-sata/git (20 GiB); libvirt secret 'client.libvirt secret' ("),
                again.getDetail());
        assertTrue(again.getDetail().endsWith(") in place"), again.getDetail());
        assertEquals(written, Files.getLastModifiedTime(value), "the secret's value was not written again");
    }

    @Test
    @Order(4)
    void aDiskOfAnotherSizeIsRefusedAndNeverResized() {
        ensure(HOST, "git", StorageTier.STORAGE_TIER_SATA, 20 * GIB);

        StatusRuntimeException e = assertThrows(StatusRuntimeException.class,
                () -> ensure(HOST, "git", StorageTier.STORAGE_TIER_SATA, 30 * GIB));

        assertEquals(Status.Code.FAILED_PRECONDITION, e.getStatus().getCode());
        assertTrue(e.getStatus().getDescription().startsWith("rbd:libvirt-sata/git already exists with 20 GiB (21474836480 bytes), "
                + "not the requested 30 GiB (32212254720 bytes)"), e.getStatus().getDescription());
        assertEquals(20 * GIB, ceph.imageSize(CephCluster.SATA_POOL, "git"));
    }

    @Test
    @Order(5)
    void deleteRemovesTheImageRefusesOneInUseAndFindsAnAbsentOneFine() throws Exception {
        ensure(HOST, "tmp1", StorageTier.STORAGE_TIER_SSD, GIB);

        // A client holding the image open, as a running VM's qemu does (rbd watch waits for a line on stdin).
        Process watcher = new ProcessBuilder("rbd", "--conf", ceph.conf().toString(), "watch", CephCluster.SSD_POOL + "/tmp1")
                .redirectErrorStream(true).redirectOutput(tmp.resolve("watch.log").toFile()).start();
        try (OutputStream stdin = watcher.getOutputStream()) {
            awaitWatched(CephCluster.SSD_POOL + "/tmp1");
            StatusRuntimeException inUse = assertThrows(StatusRuntimeException.class,
                    () -> delete(HOST, "tmp1", StorageTier.STORAGE_TIER_SSD));
            assertEquals(Status.Code.FAILED_PRECONDITION, inUse.getStatus().getCode());
            assertTrue(inUse.getStatus().getDescription().matches("rbd:libvirt-ssd/tmp1 is in use by client\\.\\d+ at "
                    + "127\\.0\\.0\\.1:\\S+; stop the VM that uses it .*"), inUse.getStatus().getDescription());
            assertEquals(GIB, ceph.imageSize(CephCluster.SSD_POOL, "tmp1"), "still there");
            stdin.write('\n');
        }
        assertTrue(watcher.waitFor(10, TimeUnit.SECONDS));

        StepResult deleted = delete(HOST, "tmp1", StorageTier.STORAGE_TIER_SSD);
        assertEquals(StepResult.Outcome.OUTCOME_CHANGED, deleted.getOutcome());
        assertEquals("deleted rbd:libvirt-ssd/tmp1 (1 GiB)", deleted.getDetail());
        assertFalse(ceph.images(CephCluster.SSD_POOL).contains("tmp1"));

        StepResult absent = delete(HOST, "tmp1", StorageTier.STORAGE_TIER_SSD);
        assertEquals(StepResult.Outcome.OUTCOME_ALREADY_DONE, absent.getOutcome());
        assertEquals("rbd:libvirt-ssd/tmp1 was already absent", absent.getDetail());
    }

    @Test
    @Order(6)
    void aPoolMissingFromTheClusterIsAFailedPreconditionNamingIt() throws Exception {
        CephSettings nvme = new CephSettings(settings.conf(), settings.client(), settings.keyring(), "libvirt-nvme",
                settings.sataPool(), settings.timeout());
        AgentGrpc.AgentBlockingStub other = AgentGrpc.newBlockingStub(startAgent("hv-nvme", nvme));

        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> other.withDeadlineAfter(60, TimeUnit.SECONDS)
                .ensureDisk(EnsureDiskRequest.newBuilder().setVmName("db").setStorage(StorageTier.STORAGE_TIER_SSD)
                        .setSizeBytes(GIB).build()));

        assertEquals(Status.Code.FAILED_PRECONDITION, e.getStatus().getCode());
        assertTrue(e.getStatus().getDescription().startsWith("Ceph pool libvirt-nvme (ceph-pool-ssd) does not exist in the "
                + "cluster of " + ceph.conf()), e.getStatus().getDescription());
        StatusRuntimeException delete = assertThrows(StatusRuntimeException.class, () -> other.withDeadlineAfter(60, TimeUnit.SECONDS)
                .deleteDisk(DeleteDiskRequest.newBuilder().setVmName("db").setStorage(StorageTier.STORAGE_TIER_SSD).build()));
        assertEquals(Status.Code.FAILED_PRECONDITION, delete.getStatus().getCode());
        assertTrue(ceph.images(CephCluster.SATA_POOL).stream().noneMatch("db"::equals));
    }

    @Test
    @Order(7)
    void aChangedKeyringKeyIsWrittenToTheSecretAndOnlyThen() throws Exception {
        // Straight to the secret, with a user of its own: rotating client.libvirt's key would cut the agent off Ceph.
        Path keyring = tmp.resolve("ceph.client.rotated.keyring");
        CephSettings rotated = new CephSettings(settings.conf(), "rotated", keyring, settings.ssdPool(), settings.sataPool(),
                settings.timeout());
        try (LibvirtHypervisor libvirt = new LibvirtHypervisor(node.uri())) {
            CephSecret secret = new CephSecret(libvirt, rotated);
            String first = writeKeyring(keyring, "rotated");
            DiskOutcome defined = secret.ensure();
            assertTrue(defined.changed());
            assertTrue(defined.detail().endsWith(" defined, value set from " + keyring), defined.detail());
            Path value = secretValueFile("client.rotated secret");
            assertEquals(first, Files.readString(value).strip());

            DiskOutcome same = secret.ensure();
            assertFalse(same.changed(), same.detail());

            String second = writeKeyring(keyring, "rotated");
            DiskOutcome updated = secret.ensure();
            assertTrue(updated.changed());
            assertTrue(updated.detail().endsWith(" value set from " + keyring), updated.detail());
            assertEquals(second, Files.readString(value).strip());
            assertNotEquals(first, second);
            assertEquals(value, secretValueFile("client.rotated secret"), "the same secret, not a second one");
        }
    }

    @Test
    @Order(8)
    void cephStoppedIsUnavailableWithinTheTimeoutNotAHang() throws Exception {
        ceph.stopMonitor();
        try {
            long t = System.nanoTime();
            StatusRuntimeException e = assertThrows(StatusRuntimeException.class,
                    () -> ensure(HOST, "late", StorageTier.STORAGE_TIER_SATA, GIB));
            long ms = (System.nanoTime() - t) / 1_000_000;
            System.out.printf("EnsureDisk with the monitor down: %s after %d ms%n", e.getStatus().getCode(), ms);

            assertEquals(Status.Code.UNAVAILABLE, e.getStatus().getCode());
            assertTrue(e.getStatus().getDescription().startsWith("Ceph did not inspect rbd:libvirt-sata/late (cluster of "
                    + ceph.conf() + ", as client.libvirt, waiting at most 3 s): "), e.getStatus().getDescription());
            assertTrue(ms < CEPH_TIMEOUT.toMillis() + 4_000, "answered within the timeout and a margin: " + ms + " ms");

            StatusRuntimeException delete = assertThrows(StatusRuntimeException.class,
                    () -> delete(HOST, "git", StorageTier.STORAGE_TIER_SATA));
            assertEquals(Status.Code.UNAVAILABLE, delete.getStatus().getCode());
        } finally {
            ceph.startMonitor();
        }
        assertEquals(20 * GIB, ceph.imageSize(CephCluster.SATA_POOL, "git"), "nothing was lost meanwhile");
        assertEquals(StepResult.Outcome.OUTCOME_ALREADY_DONE, ensure(HOST, "git", StorageTier.STORAGE_TIER_SATA, 20 * GIB).getOutcome(),
                "the agent reaches Ceph again by itself");
    }

    @Test
    @Order(9)
    void withLibvirtDownAnRbdDiskIsUnavailableAndNotCreated() throws Exception {
        node.stopDaemon();
        try {
            StatusRuntimeException e = assertThrows(StatusRuntimeException.class,
                    () -> ensure(HOST, "early", StorageTier.STORAGE_TIER_SSD, GIB));
            assertEquals(Status.Code.UNAVAILABLE, e.getStatus().getCode());
            assertTrue(e.getStatus().getDescription().startsWith("cannot keep the key of client.libvirt in the libvirt secret "
                    + "'client.libvirt secret': libvirt at " + node.uri() + ": "), e.getStatus().getDescription());
            assertFalse(ceph.images(CephCluster.SSD_POOL).contains("early"), "no disk without the secret that opens it");
        } finally {
            node.startDaemon();
        }
        assertEquals(StepResult.Outcome.OUTCOME_CHANGED, ensure(HOST, "early", StorageTier.STORAGE_TIER_SSD, GIB).getOutcome(),
                "repeated once libvirt is back, the step completes");
    }

    // ---------------------------------------------------------------------------------------------------------

    private static StepResult ensure(String host, String vm, StorageTier tier, long bytes) {
        assertEquals(HOST, host);
        return agent.withDeadlineAfter(60, TimeUnit.SECONDS).ensureDisk(EnsureDiskRequest.newBuilder()
                .setVmName(vm).setStorage(tier).setSizeBytes(bytes).build());
    }

    private static StepResult delete(String host, String vm, StorageTier tier) {
        assertEquals(HOST, host);
        return agent.withDeadlineAfter(60, TimeUnit.SECONDS).deleteDisk(DeleteDiskRequest.newBuilder()
                .setVmName(vm).setStorage(tier).build());
    }

    private static void awaitWatched(String image) throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
        while (true) {
            Command.Result r = ceph.rbd("status", "--format", "json", image);
            JsonObject status = r.exitCode() == 0 ? JsonParser.parseString(r.stdout()).getAsJsonObject() : new JsonObject();
            if (status.has("watchers") && status.getAsJsonArray("watchers").size() > 0) {
                return;
            }
            assertTrue(System.nanoTime() < deadline, "rbd watch did not open " + image + ": " + r.stdout() + r.stderr());
            Thread.sleep(100);
        }
    }

    /** The file in which the test's libvirtd keeps the value of the secret with this usage name. */
    private static Path secretValueFile(String usage) throws Exception {
        Connect conn = new Connect(node.uri(), false);
        try {
            for (String uuid : conn.listSecrets()) {
                Secret s = conn.secretLookupByUUIDString(uuid);
                try {
                    if (usage.equals(s.getUsageID())) {
                        Path file = node.dir().resolve("etc").resolve("secrets").resolve(uuid + ".base64");
                        assertTrue(Files.exists(file), "libvirtd keeps secret values in " + file);
                        return file;
                    }
                } finally {
                    s.free();
                }
            }
        } finally {
            conn.close();
        }
        fail("no libvirt secret with usage '" + usage + "' on " + node.uri());
        return null;
    }

    private static String keyOf(Path keyring) throws IOException {
        try (Stream<String> lines = Files.lines(keyring)) {
            return lines.map(String::strip).filter(l -> l.startsWith("key = ")).findFirst().orElseThrow().substring(6).strip();
        }
    }

    /** Writes a keyring with a fresh random 16-byte key (Ceph's format), returns the key. */
    private static String writeKeyring(Path keyring, String client) throws IOException {
        byte[] secret = new byte[28];
        new Random().nextBytes(secret);
        String key = Base64.getEncoder().encodeToString(secret);
        Files.writeString(keyring, "[client." + client + "]\n\tkey = " + key + "\n\tcaps mon = \"profile rbd\"\n",
                StandardCharsets.UTF_8);
        return key;
    }
}
