package io.virtfleet.controller.metrics;

import static io.virtfleet.controller.testkit.Await.until;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import io.grpc.Context;
import io.grpc.StatusRuntimeException;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse;
import io.grpc.health.v1.HealthGrpc;
import io.grpc.stub.StreamObserver;
import io.virtfleet.common.units.Bytes;
import io.virtfleet.controller.embedded.EmbeddedFleet;
import io.virtfleet.controller.embedded.SimulatedNetwork;
import io.virtfleet.controller.registry.HostRecord;
import io.virtfleet.controller.replication.FanOut;
import io.virtfleet.controller.testkit.Clients;
import io.virtfleet.proto.v1.CreateVmRequest;
import io.virtfleet.proto.v1.DescribeHostRequest;
import io.virtfleet.proto.v1.FleetGrpc;
import io.virtfleet.proto.v1.ForgetHostRequest;
import io.virtfleet.proto.v1.NetworkSpec;
import io.virtfleet.proto.v1.StorageTier;
import io.virtfleet.proto.v1.SyncHostsRequest;
import io.virtfleet.proto.v1.VmProgress;
import io.virtfleet.proto.v1.VmSpec;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * What Prometheus scrapes from an embedded fleet (a controller and three agents on libvirt's test driver, their
 * networks in namespaces): after one VM is created, one refused and the hosts synced, the controller's and an agent's
 * endpoints serve, over HTTP, the fleet's series with the values the controller holds, in text that
 * {@code promtool check metrics} finds clean; and every metric the shipped Grafana dashboard queries is among them.
 */
class FleetMetricsTest {
    private static final Duration HEARTBEAT = Duration.ofMillis(200);
    private static final Duration LIMIT = Duration.ofMinutes(2);
    private static final Path DASHBOARD = Path.of("..", "deploy", "grafana", "virtfleet-fleet.json");
    private static final List<String> HOSTS = List.of("hv1", "hv2", "hv3");
    private static final String WATCH = "method=\"grpc.health.v1.Health/Watch\"";
    private static final String CANCELLED_WATCH = "code=\"CANCELLED\"," + WATCH + ",transport=\"grpc\"";

    @TempDir
    Path work;

    private EmbeddedFleet fleet;
    private Clients admin;
    private FleetGrpc.FleetBlockingStub operator;

    @BeforeEach
    void startFleet() throws Exception {
        assertTrue(SimulatedNetwork.available(), "this test needs root and iproute2 (a network namespace per simulated"
                + " host, for a LAN VM): run deploy/dev/install-deps.sh as root");
        fleet = EmbeddedFleet.builder(work.resolve("fleet")).heartbeat(HEARTBEAT).simulatedNetwork(true)
                .reconcileInterval(Duration.ofSeconds(1)).metrics(true).build().start();
        fleet.awaitRegistered(Duration.ofSeconds(60));
        admin = Clients.as(fleet.adminCredentials());
        operator = FleetGrpc.newBlockingStub(admin.controller(fleet.controllerEndpoint()));
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

    private static VmSpec vm(String name, long memory) {
        return VmSpec.newBuilder().setName(name).setStorage(StorageTier.STORAGE_TIER_RAW).setDiskBytes(Bytes.GIB)
                .setMemoryBytes(memory).setVcpus(1).setProfile("base").setNetwork(NetworkSpec.newBuilder().setLan(10))
                .build();
    }

    private List<VmProgress> create(VmSpec spec) {
        List<VmProgress> steps = new ArrayList<>();
        operator.withDeadlineAfter(2, TimeUnit.MINUTES).createVm(CreateVmRequest.newBuilder().setSpec(spec).build())
                .forEachRemaining(steps::add);
        return steps;
    }

    @Test
    void controllerAndAgentServeTheFleetsSeriesCleanlyAndTheDashboardQueriesOnlyThose() throws Exception {
        create(vm("metered", Bytes.GIB));
        String home = fleet.controller().vmStore().get("metered").orElseThrow().getHomeHost();
        // No host has 512 GiB (the largest has 128): refused by the memory filter, nothing made.
        assertThrows(StatusRuntimeException.class, () -> create(vm("whale", 512 * Bytes.GIB)));

        // The operator's sync of every host (virtfleet sync): a fan-out, each host's part timed.
        operator.withDeadlineAfter(2, TimeUnit.MINUTES).syncHosts(SyncHostsRequest.getDefaultInstance())
                .forEachRemaining(p -> { });

        // An operator's health Watch, ended by the operator: the server never sends it a status, yet it is counted.
        Context.CancellableContext watching = Context.current().withCancellation();
        CountDownLatch answered = new CountDownLatch(1);
        watching.run(() -> HealthGrpc.newStub(admin.controller(fleet.controllerEndpoint()))
                .watch(HealthCheckRequest.getDefaultInstance(), new StreamObserver<HealthCheckResponse>() {
                    @Override
                    public void onNext(HealthCheckResponse r) {
                        answered.countDown();
                    }

                    @Override
                    public void onError(Throwable t) {}

                    @Override
                    public void onCompleted() {}
                }));
        assertTrue(answered.await(1, TimeUnit.MINUTES), "the Watch stream answered");
        watching.cancel(null);

        // Series that need time: a reconcile pass (1 s here), and every host synced to the commit that made the VM.
        int controllerPort = fleet.controller().metricsPort();
        until("a reconcile pass timed, every host in step with the repository and a repair pass that saw them so",
                LIMIT, () -> {
            Scrape s = scrape(controllerPort);
            return s.sum("virtfleet_reconcile_pass_duration_seconds_count") >= 1
                    && Double.valueOf(1).equals(s.series.get("virtfleet_vm_domain_state{state=\"running\",vm=\"metered\"}"))
                    && s.sum("virtfleet_grpc_server_handled_total", CANCELLED_WATCH) == 1
                    && s.sum("virtfleet_grpc_server_handling_seconds_count", WATCH) == 1
                    && s.names.contains("virtfleet_drifts") && Double.valueOf(0).equals(s.series.get("virtfleet_hosts_behind"))
                    && HOSTS.stream().allMatch(h -> Double.valueOf(0).equals(
                            s.series.get("virtfleet_host_synced_commit_lag_seconds{host=\"" + h + "\"}")));
        });
        Scrape controller = Scrape.of(controllerPort);

        for (String h : HOSTS) {
            HostRecord record = fleet.controller().registry().get(h).orElseThrow();
            String host = "{host=\"" + h + "\"}";
            assertEquals(1, controller.value("virtfleet_host_state{host=\"" + h + "\",state=\"ready\"}"));
            assertEquals(1, controller.sum("virtfleet_host_state", "host=\"" + h + "\""), "one state per host");
            long total = record.report().getResources().getMemoryTotalBytes();
            assertTrue(total > 0);
            assertEquals(total, controller.value("virtfleet_host_memory_total_bytes" + host));
            double used = controller.value("virtfleet_host_memory_used_bytes" + host);
            assertTrue(used > 0 && used <= total, "used " + used + " of " + total);
            assertEquals(record.report().getResources().getLogicalThreads(),
                    controller.value("virtfleet_host_cpu_threads" + host));
            double cpu = controller.value("virtfleet_host_cpu_utilisation_ratio" + host);
            assertTrue(cpu >= 0 && cpu <= 1, "cpu " + cpu);
            assertTrue(controller.value("virtfleet_host_load1" + host) >= 0);
            double age = controller.value("virtfleet_host_last_heartbeat_age_seconds" + host);
            assertTrue(age >= 0 && age < 60, "heartbeat age " + age);
            // Every host has the new VM's definition: defined on all three, running on its home only.
            double defined = controller.value("virtfleet_host_vms_defined" + host);
            double running = controller.value("virtfleet_host_vms_running" + host);
            assertTrue(defined >= 1 && running <= defined, h + ": " + running + " running of " + defined);
            double sync = controller.value("virtfleet_host_last_sync_duration_seconds" + host);
            assertTrue(sync >= 0 && sync < 120, "the sync's fan-out reached " + h + ": " + sync);
            assertEquals(5, controller.series.keySet().stream().filter(k -> k.startsWith("virtfleet_host_state{")
                    && k.contains("host=\"" + h + "\"")).count(), "every state, 0 or 1 (the enum convention)");
        }
        assertTrue(controller.value("virtfleet_fanout_host_duration_seconds_count{outcome=\"in_step\"}") >= HOSTS.size(),
                "one observation per host, fleet-wide");
        assertEquals(0, controller.sum("virtfleet_fanout_host_duration_seconds_count", "host="),
                "no host label on the histogram");
        assertEquals(Bytes.GIB, controller.value("virtfleet_host_claimed_memory_bytes{host=\"" + home + "\"}"));
        assertEquals(1, controller.value("virtfleet_host_claimed_vcpus{host=\"" + home + "\"}"));
        assertEquals(1, controller.value("virtfleet_vm_info{home=\"" + home + "\",vm=\"metered\"}"));
        assertEquals(1, controller.value("virtfleet_vm_phase{phase=\"ready\",vm=\"metered\"}"));
        assertEquals(1, controller.value("virtfleet_vm_running_wanted{vm=\"metered\"}"));
        assertEquals(1, controller.value("virtfleet_vm_domain_state{state=\"running\",vm=\"metered\"}"),
                "as its home host reported it");
        assertEquals(1, controller.sum("virtfleet_vm_install_phase", "vm=\"metered\""));
        assertEquals(0, controller.sum("virtfleet_vm_info", "vm=\"whale\""), "a refused VM is no VM");

        assertEquals(1, controller.value("virtfleet_vm_operations_total{operation=\"create\",outcome=\"succeeded\"}"));
        assertEquals(1, controller.value("virtfleet_vm_operations_total{operation=\"create\",outcome=\"refused\"}"));
        assertEquals(1, controller.value("virtfleet_vm_operation_duration_seconds_count{operation=\"create\","
                + "outcome=\"succeeded\"}"));
        assertEquals(1, controller.value("virtfleet_placements_total{outcome=\"placed\"}"));
        assertEquals(1, controller.value("virtfleet_placements_total{outcome=\"refused\"}"));
        assertEquals(1, controller.value("virtfleet_placement_refusals_total{filter=\"memory\"}"));
        assertTrue(controller.value("virtfleet_heartbeat_handling_seconds_count") >= HOSTS.size());
        assertTrue(controller.value("virtfleet_grpc_server_handled_total{code=\"OK\","
                + "method=\"virtfleet.v1.Registry/Heartbeat\",transport=\"grpc\"}") >= HOSTS.size());
        assertTrue(controller.sum("virtfleet_grpc_server_handled_total", "method=\"virtfleet.v1.Fleet/CreateVm\"") >= 2);
        assertTrue(controller.names.contains("jvm_memory_used_bytes"), "JVM metrics");
        assertEquals(1, controller.value("virtfleet_grpc_server_handled_total{" + CANCELLED_WATCH + "}"),
                "the Watch the operator cancelled");
        assertEquals("exit 0", controller.promtool(work), "promtool check metrics on the controller's scrape");

        // An operator is not the controller: the agent refuses its call, and its metrics count the refusal.
        var asOperator = io.virtfleet.proto.v1.AgentGrpc.newBlockingStub(admin.agent(
                new io.virtfleet.common.validation.Endpoint("127.0.0.1", fleet.agent(home).port()), home));
        StatusRuntimeException refused = assertThrows(StatusRuntimeException.class, () -> asOperator
                .withDeadlineAfter(30, TimeUnit.SECONDS).describeHost(DescribeHostRequest.getDefaultInstance()));
        assertEquals(io.grpc.Status.Code.PERMISSION_DENIED, refused.getStatus().getCode(), refused.toString());

        Scrape agent = Scrape.of(fleet.agent(home).metricsPort());
        assertEquals(1, agent.value("virtfleet_grpc_server_handled_total{code=\"PERMISSION_DENIED\","
                + "method=\"virtfleet.v1.Agent/DescribeHost\",transport=\"grpc\"}"));
        assertTrue(agent.value("virtfleet_agent_libvirt_poll_duration_seconds_count") >= 1);
        assertEquals(0, agent.value("virtfleet_agent_libvirt_poll_errors_total"));
        assertTrue(agent.value("virtfleet_agent_sync_duration_seconds_count{outcome=\"complete\"}") >= 1);
        assertTrue(agent.value("virtfleet_agent_domains{state=\"running\"}") >= 1, "the new VM runs on its home");
        assertTrue(agent.sum("virtfleet_grpc_server_handling_seconds_count", "method=\"virtfleet.v1.Agent/") >= 1,
                "the controller's commands to the agent");
        assertTrue(agent.names.contains("jvm_threads_current"), "JVM metrics");
        assertEquals(1, agent.sum("virtfleet_agent_info", "host=\"" + home + "\""),
                "the agent names its host, so its series join the controller's host ones");
        assertEquals(0, agent.sum("virtfleet_host_state"), "host gauges are the controller's, not each agent's");
        assertEquals("exit 0", agent.promtool(work), "promtool check metrics on the agent's scrape");

        // The dashboard cannot rot: every metric its queries name is one the fleet serves.
        Set<String> served = new TreeSet<>(controller.names);
        served.addAll(agent.names);
        Set<String> queried = dashboardMetrics();
        assertTrue(queried.size() >= 10, "the dashboard queries " + queried);
        Set<String> missing = new TreeSet<>(queried);
        missing.removeAll(served);
        assertEquals(Set.of(), missing, "metrics the dashboard queries that no endpoint serves");

        // A host forgotten (its agent stopped for good): nothing the controller serves names it any more.
        String gone = HOSTS.stream().filter(h -> !h.equals(home)).findFirst().orElseThrow();
        assertTrue(controller.series.keySet().stream().anyMatch(k -> k.contains("host=\"" + gone + "\"")));
        fleet.stopAgent(gone);
        operator.withDeadlineAfter(1, TimeUnit.MINUTES).forgetHost(ForgetHostRequest.newBuilder().setName(gone).build());
        Scrape after = Scrape.of(controllerPort);
        List<String> left = after.series.keySet().stream().filter(k -> k.contains("host=\"" + gone + "\"")).toList();
        assertEquals(List.of(), left, gone + " was forgotten");
        assertEquals("exit 0", after.promtool(work), "promtool check metrics after the host is gone");

        // A fan-out that was in flight when the host was forgotten ends afterwards: its result does not bring the name back.
        FleetMetrics metrics = fleet.controller().metrics();
        FanOut.HostResult late = new FanOut.HostResult(gone, FanOut.Outcome.IN_STEP, "", "", Duration.ofMillis(40));
        metrics.fanOut(late, host -> fleet.controller().registry().get(host).isPresent());
        assertTrue(metrics.lastSyncSeconds(gone).isEmpty(), "kept for forgotten " + gone);
        metrics.fanOut(new FanOut.HostResult(home, FanOut.Outcome.IN_STEP, "", "", Duration.ofMillis(40)),
                host -> fleet.controller().registry().get(host).isPresent());
        assertEquals(0.04, metrics.lastSyncSeconds(home).orElseThrow(), 1e-9, "a host the registry has is kept");
    }

    @Test
    void anAgentWhoseLibvirtDoesNotAnswerCountsItsFailedPolls() throws Exception {
        Path missing = work.resolve("no-such-node.xml");
        var config = fleet.agentConfig("hv9", work.resolve("hv9"), "test://" + missing)
                .withJoinToken(fleet.joinToken("hv9")).withMetricsListen(new java.net.InetSocketAddress("127.0.0.1", 0));
        try (io.virtfleet.agent.Agent agent = io.virtfleet.agent.Agent.create(config).start()) {
            until("hv9's failed polls counted", LIMIT,
                    () -> scrape(agent.metricsPort()).sum("virtfleet_agent_libvirt_poll_errors_total") >= 2);
            Scrape s = Scrape.of(agent.metricsPort());
            assertEquals(s.value("virtfleet_agent_libvirt_poll_duration_seconds_count"),
                    s.value("virtfleet_agent_libvirt_poll_errors_total"), "every poll failed");
            assertEquals(0, s.sum("virtfleet_agent_domains"), "libvirt showed no domain");
            // The controller shows the host degraded, from its own verdict.
            until("hv9 degraded in the controller's metrics", LIMIT, () -> Double.valueOf(1).equals(
                    scrape(fleet.controller().metricsPort()).series.get("virtfleet_host_state{host=\"hv9\",state=\"degraded\"}")));
        }
    }

    /** Every metric name in the dashboard's queries (panel targets and template variables). */
    private static Set<String> dashboardMetrics() throws Exception {
        JsonObject dashboard = JsonParser.parseString(Files.readString(DASHBOARD)).getAsJsonObject();
        List<String> queries = new ArrayList<>();
        collectQueries(dashboard, queries);
        assertTrue(!queries.isEmpty(), "no queries in " + DASHBOARD);
        Pattern metric = Pattern.compile("\\b((?:virtfleet|jvm|process)_[a-zA-Z0-9_]+)");
        Set<String> names = new TreeSet<>();
        for (String q : queries) {
            Matcher m = metric.matcher(q);
            while (m.find()) {
                names.add(m.group(1));
            }
        }
        return names;
    }

    private static void collectQueries(JsonElement e, List<String> out) {
        if (e.isJsonObject()) {
            for (var entry : e.getAsJsonObject().entrySet()) {
                JsonElement v = entry.getValue();
                if ((entry.getKey().equals("expr") || entry.getKey().equals("query")) && v.isJsonPrimitive()) {
                    out.add(v.getAsString());
                } else if (entry.getKey().equals("query") && v.isJsonObject() && v.getAsJsonObject().has("query")) {
                    out.add(v.getAsJsonObject().get("query").getAsString());
                } else {
                    collectQueries(v, out);
                }
            }
        } else if (e.isJsonArray()) {
            for (JsonElement x : (JsonArray) e) {
                collectQueries(x, out);
            }
        }
    }

    private static Scrape scrape(int port) {
        try {
            return Scrape.of(port);
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }
}
