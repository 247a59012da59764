package io.virtfleet.controller.health;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import io.virtfleet.common.security.FleetIdentity;
import io.virtfleet.common.security.Pem;
import io.virtfleet.controller.embedded.EmbeddedFleet;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * gRPC's standard health checking and server reflection, asked by a client that is not virtfleet's code: Python's
 * grpcio from Debian's packages, with stubs generated from Debian's copy of gRPC's own protos
 * (src/test/python/grpc_health_client.py), over TLS 1.3 against an embedded controller and one of its agents,
 * with and without a client certificate.
 *
 * <p>Needs Debian's python3-grpcio, python3-grpc-tools and grpc-proto (deploy/dev/install-deps.sh); fails, naming
 * them, without them.
 */
class HealthInteropTest {
    private static final String PYTHON = "/usr/bin/python3"; // Debian's, which python3-grpcio installs into
    private static final Path CLIENT = Path.of("src/test/python/grpc_health_client.py").toAbsolutePath();
    private static final String INSTALL = "apt-get install -y --no-install-recommends python3-grpcio python3-grpc-tools"
            + " grpc-proto (deploy/dev/install-deps.sh)";

    private static Path work;
    private static EmbeddedFleet fleet;
    private static Path ca;
    private static Path viewer;

    @BeforeAll
    static void start() throws Exception {
        assertTrue(Files.isExecutable(Path.of(PYTHON)), "no " + PYTHON + ": " + INSTALL);
        work = Files.createTempDirectory("virtfleet-health-interop");
        fleet = EmbeddedFleet.builder(work).heartbeat(Duration.ofMillis(250)).grace(Duration.ofSeconds(5))
                .nodes(EmbeddedFleet.defaultNodes(1)).build().start();
        fleet.awaitRegistered(Duration.ofSeconds(30));
        ca = work.resolve("ca.pem");
        Files.writeString(ca, Pem.of(fleet.controller().pki().ca().certificate()), StandardCharsets.US_ASCII);
        viewer = work.resolve("viewer.pem");
        fleet.controller().pki().writeOperatorBundle("carol", FleetIdentity.Role.VIEWER, Duration.ofDays(1), viewer);
    }

    @AfterAll
    static void stop() throws IOException {
        if (fleet != null) {
            fleet.close();
        }
        if (work != null) {
            try (var files = Files.walk(work)) {
                files.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        }
    }

    @Test
    void aLoadBalancerWithoutACertificateCanAskOnlyWhetherTheControllerServes() throws Exception {
        JsonObject whole = controller(null, "check", "");
        assertEquals("OK", whole.get("code").getAsString(), whole.toString());
        assertEquals("SERVING", whole.get("status").getAsString());
        JsonObject fleetService = controller(null, "check", "virtfleet.v1.Fleet");
        assertEquals("SERVING", fleetService.get("status").getAsString(), fleetService.toString());
        JsonObject unknown = controller(null, "check", "virtfleet.v1.Nothing");
        assertEquals("NOT_FOUND", unknown.get("code").getAsString(), unknown.toString());
        // Which services the controller has is the API's shape: not told to a caller without a certificate.
        assertFalse(unknown.get("detail").getAsString().contains("virtfleet.v1."), unknown.toString());
        // A stream held open, and the API's shape, need a certificate of the fleet.
        for (String action : List.of("watch", "list")) {
            JsonObject refused = controller(null, action, "");
            assertEquals("UNAUTHENTICATED", refused.get("code").getAsString(), action + ": " + refused);
        }
    }

    @Test
    void anOperatorWatchesHealthAndReadsTheControllersApiByReflection() throws Exception {
        JsonObject watch = controller(viewer, "watch", "virtfleet.v1.Registry");
        assertEquals("SERVING", watch.get("status").getAsString(), watch.toString());
        JsonObject dashboard = controller(viewer, "check", "virtfleet.v1.Dashboard");
        assertEquals("SERVING", dashboard.get("status").getAsString(), dashboard.toString());
        // A fleet certificate is told the services there are.
        JsonObject unknown = controller(viewer, "check", "virtfleet.v1.Nothing");
        assertEquals("NOT_FOUND", unknown.get("code").getAsString(), unknown.toString());
        String named = unknown.get("detail").getAsString();
        assertTrue(named.contains("virtfleet.v1.Fleet") && named.contains("virtfleet.v1.Dashboard"), named);

        JsonObject list = controller(viewer, "list", "");
        assertEquals("OK", list.get("code").getAsString(), list.toString());
        Set<String> services = strings(list.getAsJsonArray("services"));
        assertTrue(services.containsAll(Set.of("virtfleet.v1.Fleet", "virtfleet.v1.Registry", "virtfleet.v1.Enrollment",
                "virtfleet.v1.Backups", "virtfleet.v1.Dashboard", "grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection")), services::toString);

        JsonObject symbol = controller(viewer, "symbol", "virtfleet.v1.Fleet");
        assertEquals("OK", symbol.get("code").getAsString(), symbol.toString());
        JsonObject fleetProto = file(symbol, "virtfleet.v1", "Fleet");
        Set<String> methods = strings(fleetProto.getAsJsonObject("services").getAsJsonArray("Fleet"));
        assertTrue(methods.containsAll(Set.of("ListHosts", "CreateVm", "MoveVm", "GetDrift")), methods::toString);

        JsonObject nothing = controller(viewer, "symbol", "virtfleet.v1.Nothing");
        assertTrue(nothing.has("error"), "reflection says it has no such symbol: " + nothing);
    }

    @Test
    void anAgentAnswersFleetCertificatesOnlyAndShowsItsOwnApi() throws Exception {
        JsonObject check = agent(viewer, "check", "");
        assertEquals("SERVING", check.get("status").getAsString(), "libvirt answers this agent: " + check);
        JsonObject service = agent(viewer, "check", "virtfleet.v1.Agent");
        assertEquals("SERVING", service.get("status").getAsString(), service.toString());
        JsonObject list = agent(viewer, "list", "");
        Set<String> services = strings(list.getAsJsonArray("services"));
        assertEquals(Set.of("virtfleet.v1.Agent", "grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection"),
                services);
        JsonObject symbol = agent(viewer, "symbol", "virtfleet.v1.Agent");
        Set<String> methods = strings(file(symbol, "virtfleet.v1", "Agent").getAsJsonObject("services").getAsJsonArray("Agent"));
        assertTrue(methods.containsAll(Set.of("DescribeHost", "DefineDomain", "MigrateDomain")), methods::toString);
        // An agent admits no connection without a certificate of the fleet: the TLS handshake fails.
        JsonObject anonymous = agent(null, "check", "");
        assertEquals("UNAVAILABLE", anonymous.get("code").getAsString(), anonymous.toString());
    }

    /** The file of the reflection answer that declares {@code service} in {@code pkg}. */
    private static JsonObject file(JsonObject answer, String pkg, String service) {
        for (JsonElement f : answer.getAsJsonArray("files")) {
            JsonObject o = f.getAsJsonObject();
            if (o.get("package").getAsString().equals(pkg) && o.getAsJsonObject("services").has(service)) {
                return o;
            }
        }
        throw new AssertionError("no file declaring " + pkg + "." + service + " in " + answer);
    }

    private static Set<String> strings(JsonArray array) {
        Set<String> out = new TreeSet<>();
        array.forEach(e -> out.add(e.getAsString()));
        return out;
    }

    private static JsonObject controller(Path bundle, String action, String arg) throws Exception {
        return run("127.0.0.1:" + fleet.controller().port(), FleetIdentity.controller().dnsName(), bundle, action, arg);
    }

    private static JsonObject agent(Path bundle, String action, String arg) throws Exception {
        return run("127.0.0.1:" + fleet.agent("hv1").port(), FleetIdentity.agent("hv1").dnsName(), bundle, action, arg);
    }

    private static JsonObject run(String target, String serverName, Path bundle, String action, String arg) throws Exception {
        List<String> command = new ArrayList<>(List.of(PYTHON, CLIENT.toString(), target, serverName, ca.toString()));
        if (bundle != null) {
            command.addAll(List.of("--bundle", bundle.toString()));
        }
        command.addAll(List.of(action, arg));
        Path err = Files.createTempFile(work, "client", ".err");
        Process p = new ProcessBuilder(command).redirectError(err.toFile()).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), "the Python client did not finish: " + command);
        String stderr = Files.readString(err);
        if (p.exitValue() == 3) {
            throw new AssertionError("the Python client lacks a package: " + out.strip() + "\n" + INSTALL);
        }
        assertEquals(0, p.exitValue(), "the Python client failed: " + command + "\n" + out + stderr);
        return JsonParser.parseString(out.strip()).getAsJsonObject();
    }
}
