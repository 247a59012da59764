package io.virtfleet.bench;

import static io.virtfleet.bench.Bench.percentile;
import static io.virtfleet.common.units.Bytes.GIB;
import static io.virtfleet.common.units.Bytes.MIB;

import io.virtfleet.common.logging.Logging;
import io.virtfleet.common.process.Command;
import io.virtfleet.common.security.FleetIdentity;
import io.virtfleet.common.files.StateFiles;
import io.virtfleet.common.validation.Endpoint;
import io.virtfleet.controller.Controller;
import io.virtfleet.controller.ControllerConfig;
import io.virtfleet.controller.definitions.DomainSettings;
import io.virtfleet.controller.definitions.VmStore;
import io.virtfleet.controller.embedded.EmbeddedFleet;
import io.virtfleet.controller.install.InstallSettings;
import io.virtfleet.controller.replication.FanOut;
import io.virtfleet.controller.testkit.AgentJvm;
import io.virtfleet.controller.testkit.Clients;
import io.virtfleet.controller.testkit.HypervisorRack;
import io.virtfleet.controller.vm.Provisioning;
import io.virtfleet.proto.v1.AgentGrpc;
import io.virtfleet.proto.v1.CreateJoinTokenRequest;
import io.virtfleet.proto.v1.CreateVmRequest;
import io.virtfleet.proto.v1.FleetGrpc;
import io.virtfleet.proto.v1.HostState;
import io.virtfleet.proto.v1.ListHostsRequest;
import io.virtfleet.proto.v1.NetworkSpec;
import io.virtfleet.proto.v1.SetVmRunningRequest;
import io.virtfleet.proto.v1.StorageTier;
import io.virtfleet.proto.v1.SyncAction;
import io.virtfleet.proto.v1.SyncDefinitionsRequest;
import io.virtfleet.proto.v1.SyncEvent;
import io.virtfleet.proto.v1.SyncHostsRequest;
import io.virtfleet.proto.v1.Vm;
import io.virtfleet.proto.v1.VmProgress;
import io.virtfleet.proto.v1.VmSpec;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.libvirt.Connect;

/**
 * The issue's goals for a fan-out: a changed definition reaches 5 hosts at least 3x sooner than the runbook's own
 * procedure, and within 1.5x of the slowest single host's own pull + define.
 *
 * <p>Six simulated hypervisors ({@link HypervisorRack}): each a network namespace on one underlay with a real
 * libvirtd (QEMU/TCG) and a real agent JVM (its systemd unit's JVM flags); a real single-node Ceph; a controller in
 * this JVM serving on the underlay. One replicated VM, {@code web}, lives on {@code hv0} (stopped, so no guest
 * competes for the CPUs); the five measured hosts {@code hv1..hv5} each hold its replica. Each round commits a
 * changed definition of {@code web} (a new {@code <description>}) to the controller's definitions repository, then
 * times, one after the other:
 * <ol>
 *   <li>virtfleet's fan-out: {@code SyncHosts} over the Fleet API as {@code virtfleet sync} calls it, from the request
 *       until all five measured hosts reported the new definition defined (each agent pulls over HTTPS with mutual
 *       TLS, then defines through its libvirt), with the CPU time the agents and the controller used meanwhile;
 *   <li>the runbook, scripted: for each measured host in turn, {@code git -C <that host's clone> pull} from the same
 *       controller's git server (the git CLI over HTTPS with that host's certificate) then
 *       {@code virsh -c <that host's libvirtd> define <the clone's web.xml>}, each program timed;
 *   <li>each host's own pull + define with virtfleet's agent, alone: for each host in turn a new change committed
 *       and the controller's SyncDefinitions call to that host only (the call the fan-out makes to each).
 * </ol>
 * The fan-out goes first, so the git server's caches favour the runbook if anyone. Heartbeats are 20 s apart: each
 * names the repository's head and an agent that sees a new one syncs by itself, which must not do the timed work
 * ahead of the call; a fan-out or a lone sync that such a catch-up raced anyway is run again. After each procedure
 * every host's libvirt is checked to hold the definition it was to define.
 *
 * <p>Prints medians and p90, the runbook over the fan-out (goal at least 3), the fan-out over the slowest host's
 * own pull + define (goal at most 1.5; also against the runbook's tools), then {@code RESULT} and {@code RATIO}
 * lines. All of it shares this machine's CPUs: five agents syncing at once do not have a machine each, as on a
 * fleet, so the agents' CPU per sync is printed too. Needs root and the packages of deploy/dev/install-deps.sh.
 */
public final class FanOutBench {
    private static final double GOAL_SPEEDUP = 3;
    private static final double GOAL_OVER_SLOWEST = 1.5;
    private static final String UNDERLAY = "10.249.3";
    private static final String HOME = "hv0";
    private static final List<String> MEASURED = List.of("hv1", "hv2", "hv3", "hv4", "hv5");
    private static final String VM = "web";
    private static final Duration HEARTBEAT = Duration.ofSeconds(20);
    private static final String USAGE = "FanOutBench [--rounds 20] [--warmup 3] [--work-dir DIR]";
    private static final Pattern PEM = Pattern.compile("-----BEGIN ([A-Z ]+)-----.*?-----END \\1-----\\n?", Pattern.DOTALL);

    private FanOutBench() {}

    /** One round of virtfleet: until all measured hosts answered, and when each did (ms since the request). */
    private record Fanned(double allMs, Map<String, Double> hostMs) {}

    /** One round of virtfleet host after host: each agent's sync alone (its own pull + define), in milliseconds. */
    private record Alone(Map<String, Double> hostMs) {
        double slowestHostMs() {
            return hostMs.values().stream().mapToDouble(Double::doubleValue).max().orElse(Double.NaN);
        }

        double totalMs() {
            return hostMs.values().stream().mapToDouble(Double::doubleValue).sum();
        }
    }

    /** One round of the runbook: each host's pull and define, in the order they ran. */
    private record Runbook(Map<String, double[]> hostPullDefineMs) {
        double totalMs() {
            return hostPullDefineMs.values().stream().mapToDouble(t -> t[0] + t[1]).sum();
        }

        double slowestHostMs() {
            return hostPullDefineMs.values().stream().mapToDouble(t -> t[0] + t[1]).max().orElse(Double.NaN);
        }
    }

    public static void main(String[] args) throws Exception {
        BenchArgs a = new BenchArgs(args, Set.of("rounds", "warmup", "work-dir"), USAGE);
        int rounds = a.integer("rounds", 20);
        int warmup = a.integer("warmup", 3);
        Path work = a.string("work-dir", null) != null ? Path.of(a.string("work-dir", null))
                : Files.createTempDirectory("vf-fanout-bench");
        Logging.configure(false);
        java.util.logging.Logger.getLogger("").setLevel(java.util.logging.Level.WARNING);

        List<String> hosts = new ArrayList<>(List.of(HOME));
        hosts.addAll(MEASURED);
        long t0 = System.nanoTime();
        try (HypervisorRack rack = HypervisorRack.start(work.resolve("rack"), UNDERLAY, hosts,
                what -> System.out.printf("[%6d ms] %s%n", (System.nanoTime() - t0) / 1_000_000, what))) {
            Provisioning provisioning = Provisioning.defaults().withReconcileInterval(Duration.ofHours(1))
                    .withSyncDeadline(Duration.ofSeconds(30))
                    .withDomain(DomainSettings.defaults().withDomainType(DomainSettings.QEMU)
                            .withCephMonitors(List.of(Endpoint.parse("ceph-monitors", rack.ceph().monitor()))))
                    // The checkout's profiles (the script runs from its top), not /etc/virtfleet's: nothing is set up by hand.
                    .withInstall(InstallSettings.defaults().withProfilesDirectory(EmbeddedFleet.shippedProfiles()));
            // Heartbeats name the repository's head, and an agent that sees a new one syncs by itself: seldom ones keep
            // that catch-up from doing the work before the call being timed arrives (a round it raced is run again).
            Controller controller = Controller.create(ControllerConfig.of(new InetSocketAddress(rack.controllerAddress(), 0),
                    HEARTBEAT, HEARTBEAT.multipliedBy(4), work.resolve("controller")).withProvisioning(provisioning)).start();
            try (Clients admin = Clients.as(controller.pki().directory().resolve("admin.pem"))) {
                Endpoint endpoint = new Endpoint(rack.controllerAddress(), controller.port());
                FleetGrpc.FleetBlockingStub operator = FleetGrpc.newBlockingStub(admin.controller(endpoint));
                rack.startAgents(endpoint, host -> operator.createJoinToken(CreateJoinTokenRequest.newBuilder()
                        .setHostName(host).setTtlSeconds(600).build()).getToken(), HEARTBEAT);
                awaitReady(operator, rack, hosts.size());
                placeTheVm(operator);
                Runbooks runbooks = Runbooks.clone(work.resolve("runbook"), rack, controller);
                System.out.printf(Locale.ROOT, "== machine: %d vCPU, load average %s; %d rounds after %d warm-up; %d measured"
                                + " hosts, VM %s homed on %s (stopped)%n", Runtime.getRuntime().availableProcessors(),
                        String.join(" ", Arrays.copyOf(Files.readString(Path.of("/proc/loadavg")).split(" "), 3)), rounds,
                        warmup, MEASURED.size(), VM, HOME);
                try (Clients asController = Clients.as(controller.pki().credentials())) {
                    Map<String, AgentGrpc.AgentBlockingStub> agents = new LinkedHashMap<>();
                    for (String host : MEASURED) {
                        agents.put(host, AgentGrpc.newBlockingStub(asController.agent(
                                new Endpoint(rack.host(host).address(), AgentJvm.PORT), host)));
                    }
                    measure(rounds, warmup, controller.vmStore(), operator, agents, runbooks, rack);
                }
            } finally {
                controller.close();
            }
        }
        if (a.string("work-dir", null) == null) {
            Bench.deleteTree(work);
        }
        System.exit(0); // gRPC and libvirt leave non-daemon threads behind
    }

    /** A replicated VM homed on hv0, then stopped: its replicas are what the rounds change. */
    private static void placeTheVm(FleetGrpc.FleetBlockingStub operator) {
        VmSpec spec = VmSpec.newBuilder().setName(VM).setStorage(StorageTier.STORAGE_TIER_SSD).setDiskBytes(GIB)
                .setMemoryBytes(128 * MIB).setVcpus(1).setNetwork(NetworkSpec.newBuilder().setLan(10)).setProfile("base")
                .setReplicated(true).setPinnedHost(HOME).build();
        List<String> steps = new ArrayList<>();
        operator.withDeadlineAfter(2, TimeUnit.MINUTES).createVm(CreateVmRequest.newBuilder().setSpec(spec).build())
                .forEachRemaining(p -> steps.add(p.getStep() + "@" + p.getHost() + ": " + p.getDetail()));
        System.out.println("created " + VM + ": " + steps.get(steps.size() - 1));
        operator.withDeadlineAfter(2, TimeUnit.MINUTES).setVmRunning(SetVmRunningRequest.newBuilder().setName(VM)
                .setRunning(false).build());
    }

    private static void measure(int rounds, int warmup, VmStore store, FleetGrpc.FleetBlockingStub operator,
                                Map<String, AgentGrpc.AgentBlockingStub> agents, Runbooks runbooks, HypervisorRack rack)
            throws Exception {
        List<Fanned> fanned = new ArrayList<>();
        List<Runbook> byRunbook = new ArrayList<>();
        List<Alone> alone = new ArrayList<>();
        List<Double> agentCpu = new ArrayList<>();
        List<Double> controllerCpu = new ArrayList<>();
        for (int i = 0; i < warmup + rounds; i++) {
            Fanned f = null;
            String mark = null;
            double cpuMs = 0;
            double controllerCpuMs = 0;
            for (int attempt = 1; f == null; attempt++) {
                if (attempt > 3) {
                    throw new IllegalStateException("three fan-outs in a row raced a host's own catch-up");
                }
                mark = "fan-out bench, round " + (i + 1) + (attempt > 1 ? ", attempt " + attempt : "");
                String head = Bench.redescribe(store, VM, mark);
                long cpuBefore = agentsCpuNanos(rack);
                long ownBefore = ProcStats.cpuNanos(ProcessHandle.current().pid());
                f = fanOut(operator, head);
                cpuMs = (agentsCpuNanos(rack) - cpuBefore) / 1e6 / MEASURED.size();
                controllerCpuMs = (ProcStats.cpuNanos(ProcessHandle.current().pid()) - ownBefore) / 1e6;
            }
            Runbook r = runbooks.run();
            assertDefined(rack, MEASURED, mark);
            Alone one = oneAtATime(agents, store, rack, mark);
            boolean counted = i >= warmup;
            String label = counted ? "round " + (i - warmup + 1) : "warm-up " + (i + 1);
            System.out.printf(Locale.ROOT, "%-10s virtfleet %6.1f ms (agents' CPU %.0f ms each, controller's %.0f ms),"
                            + " runbook %6.1f ms (slowest host %.1f ms), virtfleet host after host %6.1f ms (slowest %.1f ms);"
                            + " %s%n", label + ":", f.allMs(), cpuMs, controllerCpuMs, r.totalMs(), r.slowestHostMs(),
                    one.totalMs(), one.slowestHostMs(), perHost(f, r, one));
            if (counted) {
                fanned.add(f);
                byRunbook.add(r);
                alone.add(one);
                agentCpu.add(cpuMs);
                controllerCpu.add(controllerCpuMs);
            }
        }
        report(fanned, byRunbook, alone, agentCpu, controllerCpu);
    }

    /** Every host's libvirt holds the definition of the round. */
    private static void assertDefined(HypervisorRack rack, List<String> hosts, String mark) throws Exception {
        for (String host : hosts) {
            String xml = inactiveXml(rack.host(host));
            if (!xml.contains("<description>" + mark + "</description>")) {
                throw new IllegalStateException(host + " does not hold the definition of '" + mark + "':\n" + xml);
            }
        }
    }

    /**
     * Each host's own pull + define with virtfleet's agent, one host at a time: a changed definition committed, then
     * the controller's SyncDefinitions call to that host alone (the call a fan-out makes), from the request to the
     * agent's last event.
     */
    private static Alone oneAtATime(Map<String, AgentGrpc.AgentBlockingStub> agents, VmStore store, HypervisorRack rack,
                                    String round) throws Exception {
        Map<String, Double> times = new LinkedHashMap<>();
        for (var e : agents.entrySet()) {
            String host = e.getKey();
            for (int attempt = 1; !times.containsKey(host); attempt++) {
                String mark = round + ", " + host + " alone" + (attempt > 1 ? ", attempt " + attempt : "");
                String head = Bench.redescribe(store, VM, mark);
                long t0 = System.nanoTime();
                Iterator<SyncEvent> events = e.getValue().withDeadlineAfter(1, TimeUnit.MINUTES)
                        .syncDefinitions(SyncDefinitionsRequest.newBuilder().setCommit(head).build());
                SyncEvent last = null;
                boolean defined = false;
                while (events.hasNext()) {
                    last = events.next();
                    defined |= last.getVmName().equals(VM) && (last.getAction() == SyncAction.SYNC_ACTION_REDEFINED
                            || last.getAction() == SyncAction.SYNC_ACTION_DEFINED
                            || last.getAction() == SyncAction.SYNC_ACTION_REPAIRED);
                }
                double ms = (System.nanoTime() - t0) / 1e6;
                if (last == null || !last.getDone() || !last.getSyncedCommit().equals(head)) {
                    throw new IllegalStateException(host + " did not sync to " + head + ": " + last);
                }
                if (defined) {
                    times.put(host, ms);
                    assertDefined(rack, List.of(host), mark);
                } else if (attempt == 3) {
                    throw new IllegalStateException(host + " caught up by itself three times before the call: " + last);
                } // else its own catch-up (a heartbeat named the commit) came first: not this measurement, again
            }
        }
        return new Alone(times);
    }

    private static long agentsCpuNanos(HypervisorRack rack) {
        return MEASURED.stream().mapToLong(h -> ProcStats.cpuNanos(rack.agent(h).pid())).sum();
    }


    /**
     * {@code virtfleet sync}: until every measured host reported the new definition of web defined; null when a host
     * had synced by itself before the call reached it (the round is then run again).
     */
    private static Fanned fanOut(FleetGrpc.FleetBlockingStub operator, String head) {
        Map<String, Double> at = new LinkedHashMap<>();
        long t0 = System.nanoTime();
        Iterator<VmProgress> it = operator.withDeadlineAfter(2, TimeUnit.MINUTES).syncHosts(SyncHostsRequest.getDefaultInstance());
        double all = Double.NaN;
        boolean caughtUp = false;
        while (it.hasNext()) {
            VmProgress p = it.next();
            double ms = (System.nanoTime() - t0) / 1e6;
            if (!p.getStep().equals(FanOut.STEP) || !MEASURED.contains(p.getHost())) {
                continue;
            }
            if (p.getDetail().startsWith("in step at " + head.substring(0, 12))) {
                caughtUp = true; // its own catch-up (a heartbeat named the commit) came first: not this measurement
            } else if (!p.getDetail().matches("(redefined|repaired \\(changed by hand\\)|defined) " + VM + " at "
                    + head.substring(0, 12))) {
                throw new IllegalStateException(p.getHost() + " did not define " + VM + " at " + head + ": " + p.getDetail());
            }
            at.put(p.getHost(), ms);
            if (at.size() == MEASURED.size()) {
                all = ms;
            }
        }
        if (at.size() != MEASURED.size()) {
            throw new IllegalStateException("the sync ended with answers from " + at.keySet() + " only");
        }
        return caughtUp ? null : new Fanned(all, at);
    }

    private static String perHost(Fanned f, Runbook r, Alone one) {
        StringBuilder out = new StringBuilder();
        for (String host : MEASURED) {
            double[] t = r.hostPullDefineMs().get(host);
            out.append(String.format(Locale.ROOT, "%s%s vf %.0f (alone %.0f) / pull %.0f + define %.0f",
                    out.length() == 0 ? "" : ", ", host, f.hostMs().get(host), one.hostMs().get(host), t[0], t[1]));
        }
        return out.toString();
    }

    private static void report(List<Fanned> fanned, List<Runbook> byRunbook, List<Alone> alone, List<Double> agentCpu,
                               List<Double> controllerCpu) {
        double[] fan = sorted(fanned.stream().mapToDouble(Fanned::allMs));
        double[] runbook = sorted(byRunbook.stream().mapToDouble(Runbook::totalMs));
        double[] slowestRunbook = sorted(byRunbook.stream().mapToDouble(Runbook::slowestHostMs));
        double[] pull = sorted(byRunbook.stream().flatMap(r -> r.hostPullDefineMs().values().stream()).mapToDouble(t -> t[0]));
        double[] define = sorted(byRunbook.stream().flatMap(r -> r.hostPullDefineMs().values().stream()).mapToDouble(t -> t[1]));
        double[] perHost = sorted(fanned.stream().flatMap(f -> f.hostMs().values().stream()).mapToDouble(Double::doubleValue));
        double[] slowestAlone = sorted(alone.stream().mapToDouble(Alone::slowestHostMs));
        double[] eachAlone = sorted(alone.stream().flatMap(a -> a.hostMs().values().stream()).mapToDouble(Double::doubleValue));
        double[] sequential = sorted(alone.stream().mapToDouble(Alone::totalMs));
        double[] cpu = sorted(agentCpu.stream().mapToDouble(Double::doubleValue));
        double[] ownCpu = sorted(controllerCpu.stream().mapToDouble(Double::doubleValue));
        // Paired: the procedures of a round ran back to back.
        double[] speedup = new double[fanned.size()];
        double[] overSlowest = new double[fanned.size()];
        for (int i = 0; i < speedup.length; i++) {
            speedup[i] = byRunbook.get(i).totalMs() / fanned.get(i).allMs();
            overSlowest[i] = fanned.get(i).allMs() / alone.get(i).slowestHostMs();
        }
        Arrays.sort(speedup);
        Arrays.sort(overSlowest);
        double fanP50 = percentile(fan, 50);
        double speedupP50 = percentile(runbook, 50) / fanP50;
        double overSlowestP50 = fanP50 / percentile(slowestAlone, 50);
        double overSlowestRunbookP50 = fanP50 / percentile(slowestRunbook, 50);
        boolean fast = speedupP50 >= GOAL_SPEEDUP;
        boolean near = overSlowestP50 <= GOAL_OVER_SLOWEST;

        System.out.println();
        System.out.printf(Locale.ROOT, "%-44s %10s %10s%n", "(ms, " + fan.length + " rounds)", "p50", "p90");
        row("virtfleet fan-out, 5 hosts at once", fan);
        row("  each host's answer", perHost);
        row("  agents' CPU per host (user + system)", cpu);
        row("  controller's CPU per fan-out", ownCpu);
        row("virtfleet host after host (sum)", sequential);
        row("  one host alone (its own pull + define)", eachAlone);
        row("  slowest host alone", slowestAlone);
        row("runbook, 5 hosts in turn", runbook);
        row("  git pull (per host)", pull);
        row("  virsh define (per host)", define);
        row("  slowest host (pull + define)", slowestRunbook);
        System.out.printf(Locale.ROOT, "runbook / virtfleet fan-out: %.2fx at the medians (paired per round: p50 %.2fx, worst %.2fx);"
                + " goal >= %.0fx: %s%n", speedupP50, percentile(speedup, 50), speedup[0], GOAL_SPEEDUP, fast ? "MET" : "NOT MET");
        System.out.printf(Locale.ROOT, "virtfleet fan-out / slowest host's own pull + define (virtfleet's agent alone): %.2fx at the"
                        + " medians (paired per round: p50 %.2fx, p90 %.2fx); goal <= %.1fx: %s%n", overSlowestP50,
                percentile(overSlowest, 50), percentile(overSlowest, 90), GOAL_OVER_SLOWEST, near ? "MET" : "NOT MET");
        System.out.printf(Locale.ROOT, "virtfleet fan-out / slowest host's git pull + virsh define (the runbook's tools): %.2fx%n",
                overSlowestRunbookP50);
        System.out.printf(Locale.ROOT, "RESULT fan-out hosts=%d rounds=%d virtfleet_p50_ms=%.1f virtfleet_p90_ms=%.1f"
                        + " host_alone_p50_ms=%.1f slowest_host_alone_p50_ms=%.1f agent_cpu_per_sync_p50_ms=%.1f"
                        + " controller_cpu_per_fan_out_p50_ms=%.1f"
                        + " runbook_p50_ms=%.1f runbook_p90_ms=%.1f runbook_slowest_host_p50_ms=%.1f git_pull_p50_ms=%.1f"
                        + " virsh_define_p50_ms=%.1f%n", MEASURED.size(), fan.length, fanP50, percentile(fan, 90),
                percentile(eachAlone, 50), percentile(slowestAlone, 50), percentile(cpu, 50), percentile(ownCpu, 50),
                percentile(runbook, 50),
                percentile(runbook, 90), percentile(slowestRunbook, 50), percentile(pull, 50), percentile(define, 50));
        System.out.printf(Locale.ROOT, "RATIO fan-out runbook_over_virtfleet_p50=%.2f goal>=%.0f %s"
                        + " virtfleet_over_slowest_host_alone_p50=%.2f goal<=%.1f %s virtfleet_over_runbook_slowest_host_p50=%.2f%n",
                speedupP50, GOAL_SPEEDUP, fast ? "MET" : "NOT MET", overSlowestP50, GOAL_OVER_SLOWEST, near ? "MET" : "NOT MET",
                overSlowestRunbookP50);
    }

    private static void row(String what, double[] sorted) {
        System.out.printf(Locale.ROOT, "%-44s %10.1f %10.1f%n", what, percentile(sorted, 50), percentile(sorted, 90));
    }

    private static double[] sorted(java.util.stream.DoubleStream values) {
        return values.sorted().toArray();
    }


    private static void awaitReady(FleetGrpc.FleetBlockingStub operator, HypervisorRack rack, int count)
            throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(90);
        while (operator.listHosts(ListHostsRequest.getDefaultInstance()).getHostsList().stream()
                .filter(h -> h.getState() == HostState.HOST_STATE_READY && !h.getReport().getVxlanAddress().isEmpty())
                .count() < count) {
            rack.assertAgentsRunning();
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException("the agents did not become ready within 90 s:\n" + rack.agentLogs(20));
            }
            Thread.sleep(50);
        }
    }

    private static String inactiveXml(HypervisorRack.Host host) throws Exception {
        Connect conn = host.libvirt();
        try {
            org.libvirt.Domain d = conn.domainLookupByName(VM);
            try {
                return d.getXMLDesc(2); // VIR_DOMAIN_XML_INACTIVE
            } finally {
                d.free();
            }
        } finally {
            conn.close();
        }
    }

    /**
     * The runbook's side: on each measured host a git clone of the definitions (its {@code /srv/common}), made once
     * with the git CLI from the controller's git server with that host's own certificate; each round pulls and
     * defines host after host, as the runbook's loop over the hypervisors did.
     */
    private record Runbooks(Map<String, Path> clones, Map<String, String> uris, Path home) {
        static Runbooks clone(Path dir, HypervisorRack rack, Controller controller) throws IOException {
            Map<String, Path> clones = new LinkedHashMap<>();
            Map<String, String> uris = new LinkedHashMap<>();
            Path home = Files.createDirectories(dir.resolve("home")); // no user or system git config leaks in
            String name = FleetIdentity.controller().dnsName();
            String url = "https://" + name + ":" + controller.gitPort() + "/definitions.git";
            for (String host : MEASURED) {
                Path mine = Files.createDirectories(dir.resolve(host));
                Map<String, Path> files = splitBundle(rack.host(host).stateDir().resolve("agent.pem"), mine);
                Files.copy(files.get("ca"), home.resolve("fleet-ca.crt"), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
                Path clone = mine.resolve("common");
                // Settings a host's /srv/common carries in its .git/config, so the timed command is the runbook's bare pull.
                List<String> settings = List.of("http.sslCAInfo=" + files.get("ca"), "http.sslCert=" + files.get("crt"),
                        "http.sslKey=" + files.get("key"),
                        "http.curloptResolve=" + name + ":" + controller.gitPort() + ":" + rack.controllerAddress(), "pull.ff=only");
                List<String> argv = new ArrayList<>(List.of("git"));
                settings.forEach(kv -> argv.addAll(List.of("-c", kv))); // for the clone itself
                argv.addAll(List.of("clone", "-q", "--branch", "main"));
                settings.forEach(kv -> argv.addAll(List.of("--config", kv))); // kept in the clone's .git/config
                argv.addAll(List.of(url, clone.toString()));
                git(home, argv).runChecked();
                clones.put(host, clone);
                uris.put(host, rack.host(host).node().uri());
            }
            return new Runbooks(clones, uris, home);
        }

        Runbook run() {
            Map<String, double[]> times = new LinkedHashMap<>();
            for (String host : MEASURED) {
                Path clone = clones.get(host);
                Command.Result pull = git(home, List.of("git", "-C", clone.toString(), "pull", "-q")).runChecked();
                Command.Result define = Command.of("virsh", "--quiet", "-c", uris.get(host), "define",
                        clone.resolve(VmStore.domainPath(VM)).toString()).timeout(Duration.ofMinutes(1)).runChecked();
                times.put(host, new double[] {pull.elapsed().toNanos() / 1e6, define.elapsed().toNanos() / 1e6});
            }
            return new Runbook(times);
        }

        private static Command git(Path home, List<String> argv) {
            return Command.of(argv).timeout(Duration.ofMinutes(1)).env("HOME", home.toString()).env("GIT_CONFIG_NOSYSTEM", "1")
                    .env("GIT_TERMINAL_PROMPT", "0").env("LC_ALL", "C")
                    // GIT_SSL_CAINFO, when a machine exports it, overrides http.sslCAInfo: pin it to the fleet CA too.
                    .env("GIT_SSL_CAINFO", home.resolve("fleet-ca.crt").toString());
        }

        /** The agent's one-file bundle (key, certificate, fleet CA) as the three files git's TLS options name. */
        private static Map<String, Path> splitBundle(Path bundle, Path dir) throws IOException {
            List<String> blocks = new ArrayList<>();
            Matcher m = PEM.matcher(Files.readString(bundle));
            while (m.find()) {
                blocks.add(m.group());
            }
            String key = blocks.stream().filter(b -> b.contains("PRIVATE KEY")).findFirst().orElseThrow();
            List<String> certs = blocks.stream().filter(b -> b.startsWith("-----BEGIN CERTIFICATE")).toList();
            if (certs.size() != 2) {
                throw new IOException(bundle + ": expected a certificate and the fleet CA, found " + certs.size());
            }
            StateFiles.writePrivate(dir.resolve("host.key"), key);
            Files.writeString(dir.resolve("host.crt"), certs.get(0));
            Files.writeString(dir.resolve("ca.crt"), certs.get(1));
            return Map.of("key", dir.resolve("host.key"), "crt", dir.resolve("host.crt"), "ca", dir.resolve("ca.crt"));
        }
    }
}
