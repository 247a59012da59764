package io.virtfleet.controller.health;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grpc.Channel;
import io.grpc.Context;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse;
import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import io.grpc.health.v1.HealthGrpc;
import io.grpc.stub.StreamObserver;
import io.virtfleet.agent.Agent;
import io.virtfleet.common.validation.Endpoint;
import io.virtfleet.controller.embedded.EmbeddedFleet;
import io.virtfleet.controller.embedded.TestDriverNode;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import io.virtfleet.controller.testkit.Await;
import io.virtfleet.controller.testkit.CliRun;
import java.util.Map;
import java.util.TreeMap;
import io.virtfleet.controller.testkit.Clients;
import io.virtfleet.proto.v1.FleetGrpc;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * What the controller and an agent answer on gRPC's standard health service, and when it changes: a controller
 * SERVING once started and NOT_SERVING the moment it stops (a watcher hears it before the port closes), an agent
 * NOT_SERVING while it cannot connect to libvirt and SERVING once it can, and NOT_SERVING when it stops. The
 * fleet runs in this JVM over real gRPC with mutual TLS, its agents on libvirt's test driver; a real libvirtd
 * going away is in RealLibvirtdTest.
 */
class HealthTransitionsTest {
    private static final Duration LIMIT = Duration.ofSeconds(30);

    @TempDir
    Path work;
    private EmbeddedFleet fleet;
    private Clients admin;

    @BeforeEach
    void startFleet() throws Exception {
        fleet = EmbeddedFleet.builder(work).heartbeat(Duration.ofMillis(200)).grace(Duration.ofSeconds(5))
                .nodes(EmbeddedFleet.defaultNodes(1)).build().start();
        fleet.awaitRegistered(LIMIT);
        admin = Clients.as(fleet.adminCredentials());
    }

    @AfterEach
    void stopFleet() {
        if (admin != null) {
            admin.close();
        }
        if (fleet != null) {
            fleet.close();
        }
    }

    @Test
    void controllerServesOnceStartedAndStopsServingFirstThingWhenItStops() throws Exception {
        ManagedChannel controller = admin.controller(fleet.controllerEndpoint());
        assertEquals(ServingStatus.SERVING, check(controller, ""));
        for (String service : List.of("virtfleet.v1.Fleet", "virtfleet.v1.Registry", "virtfleet.v1.Enrollment",
                "virtfleet.v1.Backups")) {
            assertEquals(ServingStatus.SERVING, check(controller, service), service);
        }
        StatusRuntimeException unknown = assertThrows(StatusRuntimeException.class, () -> check(controller, "virtfleet.v1.Nothing"));
        assertEquals(Status.Code.NOT_FOUND, unknown.getStatus().getCode());

        CliRun serving = CliRun.as(fleet.controllerEndpoint(), fleet.adminCredentials(), "health");
        assertEquals(0, serving.code(), serving.toString());
        assertTrue(serving.out().matches("(?s)SERVER +ADDRESS +STATUS.*\ncontroller +127\\.0\\.0\\.1:\\d+ +SERVING\\s*"), serving.out());

        CliRun noSuchService = CliRun.as(fleet.controllerEndpoint(), fleet.adminCredentials(), "health", "--service",
                "virtfleet.v1.Nothing");
        assertEquals(4, noSuchService.code(), noSuchService.toString());
        assertTrue(noSuchService.err().contains("virtfleet.v1.Fleet"), "names the services there are: " + noSuchService.err());

        Watch watch = Watch.of(controller, "");
        Await.until("the watcher hears SERVING", LIMIT, () -> watch.heard.contains(ServingStatus.SERVING));
        Endpoint stopped = fleet.controllerEndpoint();
        fleet.stopController();
        Await.until("the watcher hears NOT_SERVING before its stream ends", LIMIT,
                () -> watch.heard.contains(ServingStatus.NOT_SERVING));
        assertEquals(List.of(ServingStatus.SERVING, ServingStatus.NOT_SERVING), watch.heard.stream().distinct().toList());
        StatusRuntimeException gone = assertThrows(StatusRuntimeException.class, () -> check(controller, ""));
        assertEquals(Status.Code.UNAVAILABLE, gone.getStatus().getCode(), "nothing listens any more");
        CliRun unreachable = CliRun.as(stopped, fleet.adminCredentials(), "health", "--timeout", "2s");
        assertEquals(3, unreachable.code(), unreachable.toString());
        assertTrue(unreachable.err().contains("cannot reach the controller"), unreachable.err());

        fleet.startController(); // same port, state loaded again from its data directory
        Await.until("a restarted controller serves", LIMIT, () -> {
            try {
                return check(controller, "") == ServingStatus.SERVING;
            } catch (StatusRuntimeException notYet) {
                return false; // the channel reconnects with backoff
            }
        });
        watch.cancel();
    }

    @Test
    void controllerStopsServingWhileItCannotWriteItsStateAndServesAgainOnceItCan() throws Exception {
        // The controller's data directory on a small file system of its own (a tmpfs: the test runs as root, so
        // permissions would not stop a write, and a full disk is what happens in the field).
        Path data = work.resolve("controller");
        Path before = work.resolve("controller-before");
        fleet.stopController();
        Files.move(data, before);
        Files.createDirectory(data);
        run("mount", "-t", "tmpfs", "-o", "size=64m,mode=0700", "virtfleet-test", data.toString());
        try {
            run("cp", "-a", before + "/.", data.toString());
            fleet.startController();
            ManagedChannel controller = admin.controller(fleet.controllerEndpoint());
            Await.until("the controller serves from its new file system", LIMIT, () -> {
                try {
                    return check(controller, "") == ServingStatus.SERVING;
                } catch (StatusRuntimeException notYet) {
                    return false; // the channel reconnects with backoff
                }
            });
            Watch watch = Watch.of(controller, "");
            Await.until("the watcher hears SERVING", LIMIT, () -> watch.heard.contains(ServingStatus.SERVING));

            // The disk fills up: the next state the controller has to record (a join token) cannot be written.
            Path filler = data.resolve(".filler");
            fill(filler);
            assertThrows(RuntimeException.class, () -> fleet.joinToken("hv7"), "no space left for the token");
            assertEquals(ServingStatus.NOT_SERVING, check(controller, ""), "it cannot record what it does");
            assertEquals(ServingStatus.NOT_SERVING, check(controller, "virtfleet.v1.Fleet"));
            CliRun full = CliRun.as(fleet.controllerEndpoint(), fleet.adminCredentials(), "health");
            assertEquals(10, full.code(), full.toString());

            // Space again: the controller's probe of its storage finds it writable, without any operator's change.
            Files.delete(filler);
            Await.until("SERVING once writes succeed again", LIMIT, () -> check(controller, "") == ServingStatus.SERVING);
            assertTrue(!fleet.joinToken("hv7").isEmpty(), "the token is recorded now");
            assertEquals(List.of(ServingStatus.SERVING, ServingStatus.NOT_SERVING, ServingStatus.SERVING),
                    dedupe(watch.heard));
            watch.cancel();
        } finally {
            fleet.close(); // nothing of the controller's left open on the file system before it goes
            fleet = null;
            run("umount", "-l", data.toString());
        }
    }

    /** Writes {@code file} until its file system is full. */
    private static void fill(Path file) throws IOException {
        byte[] chunk = new byte[1 << 20];
        try (var out = Files.newOutputStream(file)) {
            for (int i = 0; i < 1024; i++) {
                out.write(chunk);
            }
        } catch (IOException full) {
            assertTrue(String.valueOf(full.getMessage()).contains("space"), "not a full disk: " + full);
            return;
        }
        throw new AssertionError("1 GiB written to a 64 MiB file system");
    }

    private static void run(String... command) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
        assertTrue(p.waitFor(1, TimeUnit.MINUTES), String.join(" ", command) + " did not finish");
        assertEquals(0, p.exitValue(), String.join(" ", command) + " failed (this test needs root and util-linux's"
                + " mount: run deploy/dev/install-deps.sh and the tests as root): " + out);
    }

    @Test
    void agentServesOnlyWhileLibvirtAnswersAndStopsServingWhenItStops() throws Exception {
        // A host whose libvirt cannot be reached: the URI names a test-driver node file that does not exist yet.
        Path nodes = work.resolve("late-nodes");
        Path node = nodes.resolve("hv9.xml").toAbsolutePath();
        try (Agent agent = Agent.create(fleet.agentConfig("hv9", work.resolve("hv9"), "test://" + node)
                .withJoinToken(fleet.joinToken("hv9"))).start()) {
            libvirtComesAndAgentGoes(agent, nodes);
        }
    }

    private void libvirtComesAndAgentGoes(Agent agent, Path nodes) throws Exception {
        ManagedChannel channel = admin.agent(new Endpoint("127.0.0.1", agent.port()), "hv9");
        Await.until("hv9 registered (degraded: no libvirt)", LIMIT, () -> fleet.controller().registry().all().stream()
                .anyMatch(r -> r.report().getHostName().equals("hv9")));
        assertEquals(ServingStatus.NOT_SERVING, check(channel, ""), "an agent without libvirt cannot do its work");
        assertEquals(ServingStatus.NOT_SERVING, check(channel, "virtfleet.v1.Agent"));
        Watch watch = Watch.of(channel, "");
        CliRun oneDown = CliRun.as(fleet.controllerEndpoint(), fleet.adminCredentials(), "health", "--agents", "-o", "json");
        assertEquals(10, oneDown.code(), "an agent not serving: " + oneDown);
        JsonObject json = JsonParser.parseString(oneDown.out()).getAsJsonObject();
        assertFalse(json.get("serving").getAsBoolean());
        assertEquals("SERVING", json.getAsJsonObject("controller").get("status").getAsString());
        Map<String, String> agents = new TreeMap<>();
        json.getAsJsonArray("agents").forEach(a -> agents.put(a.getAsJsonObject().get("server").getAsString(),
                a.getAsJsonObject().get("status").getAsString()));
        assertEquals(Map.of("hv1", "SERVING", "hv9", "NOT_SERVING"), agents);

        // libvirt becomes reachable: the node appears (written whole, then renamed), the agent connects at its next poll.
        Path staging = Files.createDirectories(work.resolve("staging"));
        String written = new TestDriverNode("hv9", 4, 8192).writeTo(staging);
        Files.move(Path.of(written.substring("test://".length())), Files.createDirectories(nodes).resolve("hv9.xml"),
                StandardCopyOption.ATOMIC_MOVE);
        Await.until("SERVING once libvirt answers", LIMIT, () -> watch.heard.contains(ServingStatus.SERVING));
        assertEquals(ServingStatus.SERVING, check(channel, ""));
        CliRun allUp = CliRun.as(fleet.controllerEndpoint(), fleet.adminCredentials(), "health", "--agents");
        assertEquals(0, allUp.code(), allUp.toString());
        assertTrue(allUp.out().lines().anyMatch(l -> l.matches("hv9 +127\\.0\\.0\\.1:\\d+ +SERVING +controller sees it .*")),
                allUp.out());

        agent.close(); // again when the try ends: closing is idempotent
        Await.until("NOT_SERVING when the agent stops", LIMIT, () -> watch.heard.lastIndexOf(ServingStatus.NOT_SERVING)
                > watch.heard.indexOf(ServingStatus.SERVING));
        assertEquals(List.of(ServingStatus.NOT_SERVING, ServingStatus.SERVING, ServingStatus.NOT_SERVING),
                dedupe(watch.heard));
        watch.cancel();
        channel.shutdownNow();
    }

    @Test
    void healthAndReflectionAreRefusedToAnAgentCertificateOnlyWhereTheRulesSay() throws Exception {
        // Watch and reflection are for any fleet certificate: an agent's is one (of the controller's commands it may
        // call none of the operators').
        try (Clients asAgent = Clients.as(fleet.agent("hv1").credentials())) {
            ManagedChannel controller = asAgent.controller(fleet.controllerEndpoint());
            assertEquals(ServingStatus.SERVING, check(controller, ""));
            Watch watch = Watch.of(controller, "virtfleet.v1.Registry");
            Await.until("an agent may watch", LIMIT, () -> watch.heard.contains(ServingStatus.SERVING));
            watch.cancel();
            StatusRuntimeException denied = assertThrows(StatusRuntimeException.class, () -> FleetGrpc.newBlockingStub(controller)
                    .withDeadlineAfter(10, TimeUnit.SECONDS).listHosts(io.virtfleet.proto.v1.ListHostsRequest.getDefaultInstance()));
            assertEquals(Status.Code.PERMISSION_DENIED, denied.getStatus().getCode());
        }
    }

    private static List<ServingStatus> dedupe(List<ServingStatus> heard) {
        List<ServingStatus> out = new java.util.ArrayList<>();
        for (ServingStatus s : heard) {
            if (out.isEmpty() || out.get(out.size() - 1) != s) {
                out.add(s);
            }
        }
        return out;
    }

    private static ServingStatus check(Channel channel, String service) {
        return HealthGrpc.newBlockingStub(channel).withDeadlineAfter(10, TimeUnit.SECONDS)
                .check(HealthCheckRequest.newBuilder().setService(service).build()).getStatus();
    }

    /** A Watch stream and every status it brought, in order. */
    private static final class Watch {
        final List<ServingStatus> heard = new CopyOnWriteArrayList<>();
        volatile Throwable ended;
        private final Context.CancellableContext context = Context.current().withCancellation();

        static Watch of(Channel channel, String service) {
            Watch w = new Watch();
            w.context.run(() -> HealthGrpc.newStub(channel).watch(HealthCheckRequest.newBuilder().setService(service).build(),
                    new StreamObserver<>() {
                        @Override
                        public void onNext(HealthCheckResponse value) {
                            w.heard.add(value.getStatus());
                        }

                        @Override
                        public void onError(Throwable t) {
                            w.ended = t;
                        }

                        @Override
                        public void onCompleted() {
                        }
                    }));
            return w;
        }

        void cancel() {
            context.cancel(null);
        }
    }
}
