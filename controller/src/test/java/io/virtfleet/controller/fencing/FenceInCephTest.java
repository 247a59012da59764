package io.virtfleet.controller.fencing;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.virtfleet.common.process.Command;
import io.virtfleet.controller.embedded.CephCluster;
import io.virtfleet.common.validation.Endpoint;
import io.virtfleet.controller.Controller;
import io.virtfleet.controller.ControllerConfig;
import io.virtfleet.proto.v1.CreateJoinTokenRequest;
import java.net.InetSocketAddress;
import io.virtfleet.controller.testkit.Await;
import io.virtfleet.controller.testkit.CliRun;
import io.virtfleet.controller.testkit.HypervisorRack;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Fencing in a real Ceph: host hv1 is a network namespace on an underlay where a single-node Ceph listens, with its
 * libvirtd and its agent in a JVM of its own ({@link HypervisorRack}); the agent reports the address its kernel picks
 * toward the monitor. A QEMU block client there (qemu-io, librbd, as the hypervisor's cephx user) writes to an RBD
 * image. The controller (in the test's JVM, on the underlay), given
 * a cephx user with only the blocklist commands (deploy/README.md's caps), fences hv1 once its agent is gone: the
 * writer started before the fence has its writes refused (an open session is cut, not only new ones), a new client
 * from hv1 cannot write either, while a client from the root namespace writes to the same image. After unfence a new
 * client from hv1 writes again.
 *
 * <p>Needs root, {@value CephCluster#PACKAGES}, qemu-utils and qemu-block-extra.
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class FenceInCephTest {
    private static final String PREFIX = "10.251.77";
    private static final String HV1_ADDRESS = PREFIX + ".11";
    private static final String IMAGE = CephCluster.SSD_POOL + "/web";
    /** A blocklisted client's request is answered with an error; a limit turns a request that is never answered into one too. */
    private static final Duration ANSWER = Duration.ofSeconds(30);
    private static final String BLOCKLISTED = "Cannot send after transport endpoint shutdown";

    @TempDir
    static Path work;

    private static HypervisorRack rack;
    private static String hv1;
    private static CephCluster ceph;
    private static Controller controller;

    @BeforeAll
    static void start() throws Exception {
        rack = HypervisorRack.start(work.resolve("rack"), PREFIX, List.of("hv1"), what -> { });
        hv1 = rack.host("hv1").namespace();
        ceph = rack.ceph();
        Path fenceKeyring = work.resolve("ceph.client.virtfleet-fence.keyring");
        Command.Result user = ceph.ceph("auth", "get-or-create", "client.virtfleet-fence",
                "mon", "allow command \"osd blocklist\", allow command \"osd blocklist ls\"", "-o", fenceKeyring.toString());
        assertEquals(0, user.exitCode(), user.stderr());
        Command.Result image = ceph.rbd("create", "--size", "64M", IMAGE);
        assertEquals(0, image.exitCode(), image.stderr());
        controller = Controller.create(ControllerConfig.of(new InetSocketAddress(rack.controllerAddress(), 0),
                        Duration.ofMillis(200), Duration.ofSeconds(2), work.resolve("controller"))
                .withFencing(new FenceSettings(ceph.conf(), "virtfleet-fence", fenceKeyring, Duration.ofHours(1),
                        Duration.ofSeconds(10)))).start();
        rack.startAgents(endpoint(), host -> controller.enrollments().createJoinToken(CreateJoinTokenRequest.newBuilder()
                .setHostName(host).setTtlSeconds(600).build()).getToken(), Duration.ofMillis(200));
        // The agent, in hv1's namespace, works out from ceph.conf's mon_host which address it reaches Ceph from.
        Await.until("hv1 reporting its Ceph client address", Duration.ofSeconds(90), () -> controller.registry().get("hv1")
                .map(h -> h.report().getCephClientAddressesList().equals(List.of(HV1_ADDRESS))).orElse(false));
    }

    @AfterAll
    static void stop() {
        if (rack != null) {
            rack.stopAgent("hv1");
        }
        if (controller != null) {
            controller.close();
        }
        if (rack != null) {
            rack.close();
        }
    }

    private static Endpoint endpoint() {
        return new Endpoint(rack.controllerAddress(), controller.port());
    }

    private static boolean silent(String host) {
        return controller.registry().get(host).map(h -> controller.liveness().silent(h, controller.registry().nanoTime()))
                .orElse(false);
    }

    private static CliRun cli(String... args) {
        return CliRun.as(endpoint(), controller.pki().directory().resolve("admin.pem"), args);
    }

    /** The image as QEMU names it, as the hypervisor's cephx user, with librados' waits bounded. */
    private static String rbd() {
        return "rbd:" + IMAGE + ":id=" + CephCluster.CLIENT + ":conf=" + ceph.conf() + ":keyring=" + ceph.clientKeyring()
                + ":rados_osd_op_timeout=" + ANSWER.toSeconds() + ":rados_mon_op_timeout=" + ANSWER.toSeconds()
                + ":client_mount_timeout=" + ANSWER.toSeconds();
    }

    /** One write of 4 KiB by a new client, from inside {@code namespace} (null: the root namespace). */
    private static Command.Result writeOnce(String namespace, int pattern) {
        List<String> argv = new ArrayList<>();
        if (namespace != null) {
            argv.addAll(List.of("ip", "netns", "exec", namespace));
        }
        argv.addAll(List.of("qemu-io", "-f", "raw", "-c", "write -P " + pattern + " 0 4k", rbd()));
        return Command.of(argv).timeout(ANSWER.multipliedBy(3)).run();
    }

    private static boolean wrote(Command.Result r) {
        return r.exitCode() == 0 && r.stdout().contains("wrote 4096/4096 bytes");
    }

    private static Command.Result blocklist() {
        return ceph.ceph("osd", "blocklist", "ls");
    }

    @Test
    void aFencedHostCanNoLongerWriteNotEvenThroughASessionOpenBeforeAndUnfencedItCanAgain() throws Exception {
        try (Writer writer = Writer.start(hv1)) {
            assertEquals("wrote", writer.write(1), "the long-lived client writes before the fence");
            Command.Result before = writeOnce(hv1, 2);
            assertTrue(wrote(before), before.stdout() + before.stderr());

            rack.killAgent("hv1"); // the controller loses hv1; hv1 itself still reaches Ceph
            Await.until("hv1 silent", Duration.ofSeconds(20), () -> silent("hv1"));
            CliRun fenced = cli("host", "fence", "hv1");
            assertEquals(0, fenced.code(), fenced.out() + fenced.err());
            assertTrue(fenced.out().contains("hv1 blocklisted: " + HV1_ADDRESS + " on Ceph's blocklist for 60m"), fenced.out());
            assertTrue(fenced.out().contains("hv1 fenced: fenced in Ceph by admin"), fenced.out());
            assertTrue(blocklist().stdout().contains(HV1_ADDRESS + ":0/0"), blocklist().stdout());
            Fence fence = controller.fencing().view().of("hv1").orElseThrow();
            assertEquals(Fence.Kind.CEPH, fence.kind());
            assertEquals(List.of(HV1_ADDRESS), fence.addresses());
            Fence renewed = controller.fencing().renew("hv1");
            assertTrue(renewed.expires().isAfter(fence.expires()), renewed + " after " + fence);
            assertEquals(renewed, controller.fencing().view().of("hv1").orElseThrow(), "the new expiry is recorded");
            assertTrue(blocklist().stdout().contains(HV1_ADDRESS + ":0/0"), blocklist().stdout());

            String after = writer.write(3);
            // -108, ESHUTDOWN: how librados answers a client the OSDs refuse as blocklisted.
            assertTrue(after.startsWith("failed") && after.contains(BLOCKLISTED),
                    "the session opened before the fence is cut: " + after);
            Command.Result fresh = writeOnce(hv1, 4);
            assertFalse(wrote(fresh), "a new client on hv1 cannot write: " + fresh.stdout() + fresh.stderr());
            assertTrue((fresh.stdout() + fresh.stderr()).contains(BLOCKLISTED), fresh.stdout() + fresh.stderr());
        }
        Command.Result elsewhere = writeOnce(null, 5);
        assertTrue(wrote(elsewhere), "another host writes to the same image: " + elsewhere.stdout() + elsewhere.stderr());

        CliRun stillSilent = cli("host", "unfence", "hv1");
        assertEquals(1, stillSilent.code(), stillSilent.out() + stillSilent.err());
        rack.startAgent("hv1");
        Await.until("hv1 reporting again, stood down at the head", Duration.ofSeconds(90), () -> !silent("hv1")
                && controller.registry().get("hv1").map(h -> h.report().getStoodDownCommit()
                        .equals(controller.vmStore().repo().headNow())).orElse(false));
        CliRun unfenced = cli("host", "unfence", "hv1");
        assertEquals(0, unfenced.code(), unfenced.out() + unfenced.err());
        assertFalse(blocklist().stdout().contains(HV1_ADDRESS + ":0/0"), blocklist().stdout());
        Command.Result back = writeOnce(hv1, 6);
        assertTrue(wrote(back), "unfenced, hv1 writes again: " + back.stdout() + back.stderr());
    }

    @Test
    void cephRefusingTheBlocklistRecordsNothing() throws Exception {
        FenceSettings wrongKey = new FenceSettings(ceph.conf(), "virtfleet-fence", ceph.clientKeyring(), Duration.ofHours(1),
                Duration.ofSeconds(10));
        CephFencer fencer = new CephFencer(wrongKey);
        CephFencer.FenceException e = org.junit.jupiter.api.Assertions.assertThrows(CephFencer.FenceException.class,
                () -> fencer.blocklist("10.251.77.99"));
        assertTrue(e.getMessage().contains("osd blocklist add 10.251.77.99:0/0") && e.getMessage().contains("ceph --conf"),
                e.getMessage());
        org.junit.jupiter.api.Assertions.assertThrows(io.virtfleet.common.validation.InvalidInputException.class,
                () -> fencer.blocklist("ceph.example"), "a host name is never passed to Ceph");
    }

    /** qemu-io on the image, kept open, given one write at a time on its standard input. */
    private static final class Writer implements AutoCloseable {
        private final Process process;
        private final java.io.Writer in;
        private final BlockingQueue<String> lines = new LinkedBlockingQueue<>();

        private Writer(Process process) {
            this.process = process;
            this.in = new OutputStreamWriter(process.getOutputStream(), StandardCharsets.UTF_8);
            Thread reader = new Thread(() -> {
                try (BufferedReader out = new BufferedReader(new InputStreamReader(process.getInputStream(),
                        StandardCharsets.UTF_8))) {
                    for (String line = out.readLine(); line != null; line = out.readLine()) {
                        lines.add(line);
                    }
                } catch (IOException e) {
                    lines.add("failed: output lost: " + e);
                }
                lines.add("failed: qemu-io exited");
            }, "qemu-io-output");
            reader.setDaemon(true);
            reader.start();
        }

        static Writer start(String namespace) throws IOException {
            return new Writer(new ProcessBuilder("ip", "netns", "exec", namespace, "qemu-io", "-f", "raw", rbd())
                    .redirectErrorStream(true).start());
        }

        /** Writes 4 KiB at offset 0; "wrote" when QEMU's block layer reports it done, else "failed: " and what it said. */
        String write(int pattern) throws IOException, InterruptedException {
            in.write("write -P " + pattern + " 0 4k\n");
            in.flush();
            List<String> said = new ArrayList<>();
            long deadline = System.nanoTime() + ANSWER.multipliedBy(2).toNanos();
            while (true) {
                String line = lines.poll(Math.max(1, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
                if (line == null) {
                    return "failed: no answer within " + ANSWER.multipliedBy(2).toSeconds() + " s: " + said;
                }
                said.add(line);
                if (line.contains("wrote 4096/4096 bytes")) {
                    return "wrote";
                }
                if (line.contains("failed") || line.contains("rror")) {
                    return "failed: " + said;
                }
            }
        }

        @Override
        public void close() {
            process.destroyForcibly();
        }
    }
}
