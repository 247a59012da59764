package io.virtfleet.controller.fuzz;

import static io.grpc.Status.Code.ALREADY_EXISTS;
import static io.grpc.Status.Code.FAILED_PRECONDITION;
import static io.grpc.Status.Code.INVALID_ARGUMENT;
import static io.grpc.Status.Code.NOT_FOUND;
import static io.grpc.Status.Code.OK;
import static io.grpc.Status.Code.PERMISSION_DENIED;
import static io.grpc.Status.Code.RESOURCE_EXHAUSTED;
import static io.grpc.Status.Code.UNAUTHENTICATED;
import static io.grpc.Status.Code.UNIMPLEMENTED;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grpc.CallOptions;
import io.grpc.Channel;
import io.grpc.ManagedChannel;
import io.grpc.MethodDescriptor;
import io.grpc.ServiceDescriptor;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.ClientCalls;
import io.virtfleet.common.security.FleetIdentity;
import io.virtfleet.common.transport.Transport;
import io.virtfleet.common.validation.Endpoint;
import io.virtfleet.common.validation.Ipv4;
import io.virtfleet.common.validation.Names;
import io.virtfleet.common.validation.VmSpecs;
import io.virtfleet.controller.embedded.EmbeddedFleet;
import io.virtfleet.controller.testkit.Clients;
import io.grpc.Context;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthGrpc;
import io.grpc.reflection.v1.ServerReflectionGrpc;
import io.grpc.reflection.v1.ServerReflectionRequest;
import io.grpc.stub.StreamObserver;
import io.virtfleet.proto.v1.AddOperatorRequest;
import io.virtfleet.proto.v1.BackupsGrpc;
import io.virtfleet.proto.v1.RevokeOperatorRequest;
import io.virtfleet.proto.v1.AgentGrpc;
import io.virtfleet.proto.v1.CreateJoinTokenRequest;
import io.virtfleet.proto.v1.CreateVmRequest;
import io.virtfleet.proto.v1.DefineDomainRequest;
import io.virtfleet.proto.v1.DeleteDiskRequest;
import io.virtfleet.proto.v1.DescribeHostRequest;
import io.virtfleet.proto.v1.DomainInfo;
import io.virtfleet.proto.v1.EnrollRequest;
import io.virtfleet.proto.v1.EnrollmentGrpc;
import io.virtfleet.proto.v1.EnsureDiskRequest;
import io.virtfleet.proto.v1.EnsureNetworkRequest;
import io.virtfleet.proto.v1.FailoverIp;
import io.virtfleet.proto.v1.FleetGrpc;
import io.virtfleet.proto.v1.ForgetHostRequest;
import io.virtfleet.proto.v1.GetHostRequest;
import io.virtfleet.proto.v1.HeartbeatRequest;
import io.virtfleet.proto.v1.Host;
import io.virtfleet.proto.v1.HostReport;
import io.virtfleet.proto.v1.HostResources;
import io.virtfleet.proto.v1.HostState;
import io.virtfleet.proto.v1.HypervisorInfo;
import io.virtfleet.proto.v1.JoinToken;
import io.virtfleet.proto.v1.ListHostsRequest;
import io.virtfleet.proto.v1.ListProfilesRequest;
import io.virtfleet.proto.v1.NetworkSpec;
import io.virtfleet.proto.v1.PlaceRequest;
import io.virtfleet.proto.v1.CapacityRequest;
import io.virtfleet.proto.v1.RegisterRequest;
import io.virtfleet.proto.v1.RegistryGrpc;
import io.virtfleet.proto.v1.RenewRequest;
import io.virtfleet.proto.v1.SetDomainRunningRequest;
import io.virtfleet.proto.v1.StorageTier;
import io.virtfleet.proto.v1.SyncDefinitionsRequest;
import io.virtfleet.proto.v1.UndefineDomainRequest;
import io.virtfleet.proto.v1.VmSpec;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.EnumMap;
import java.util.EnumSet;
import java.util.HashSet;
import java.util.HexFormat;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.GenerationMode;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.Tuple;
import net.jqwik.api.lifecycle.AddLifecycleHook;
import net.jqwik.api.lifecycle.AfterContainer;
import net.jqwik.api.lifecycle.AfterProperty;
import net.jqwik.api.lifecycle.BeforeContainer;

/**
 * Thousands of random and hostile requests at every service of a running fleet (a controller and three
 * agents in this JVM, over real gRPC with mutual TLS), as the right party and as wrong ones. Whatever
 * arrives, the answer is a status a client can act on (never INTERNAL or UNKNOWN), the processes keep
 * serving, and nothing is created or changed: same hosts, same enrollments, no join token used up, no
 * file in an images directory, no error logged. Join tokens the test itself creates through the API are
 * the only new state allowed.
 *
 * <p>Every run draws the same values, from the fixed seed of {@link FuzzSeed}; {@code -Dvirtfleet.fuzz.seed=random}
 * draws new ones and {@code -Dvirtfleet.fuzz.seed=N} replays seed N. The seed is printed for every property; a
 * failing sample is shrunk and tried first on the next run (its database is under {@code target/}).
 */
@AddLifecycleHook(FuzzSeed.class)
class ApiFuzzTest {
    private static final Duration HEARTBEAT = Duration.ofMillis(250);
    private static final Duration GRACE = Duration.ofSeconds(5);
    private static final Duration DEADLINE = Duration.ofSeconds(20);
    private static final String HOST = "hv1";
    private static final String OTHER_HOST = "hv2";
    private static final int MAX_DESCRIPTION = 2_000;

    /** Who makes a call. */
    enum Who { ADMIN, VIEWER, AGENT, OTHER_AGENT, CONTROLLER, ANONYMOUS }

    /** Who may call a method: the fleet's access rules, restated here so the test checks them too. */
    private static final Map<String, Set<Who>> ALLOWED = new LinkedHashMap<>();
    /** What each method may answer to an allowed caller, whatever the request. */
    private static final Map<String, Set<Status.Code>> ANSWERS = new LinkedHashMap<>();

    static {
        Set<Who> viewers = EnumSet.of(Who.ADMIN, Who.VIEWER);
        Set<Who> admins = EnumSet.of(Who.ADMIN);
        Set<Who> agents = EnumSet.of(Who.AGENT, Who.OTHER_AGENT);
        Set<Who> controller = EnumSet.of(Who.CONTROLLER);
        rule(FleetGrpc.getListHostsMethod(), viewers, OK);
        rule(FleetGrpc.getGetHostMethod(), viewers, OK, NOT_FOUND, INVALID_ARGUMENT);
        rule(FleetGrpc.getForgetHostMethod(), admins, NOT_FOUND, INVALID_ARGUMENT); // never a real host's name
        rule(FleetGrpc.getSetHostDrainingMethod(), admins, NOT_FOUND, INVALID_ARGUMENT); // never a real host's name
        // The fleet's hosts heartbeat: a fence of one is refused, even with confirm_down, and none is fenced to lift.
        rule(FleetGrpc.getFenceHostMethod(), admins, NOT_FOUND, INVALID_ARGUMENT, FAILED_PRECONDITION);
        rule(FleetGrpc.getUnfenceHostMethod(), admins, OK, NOT_FOUND, INVALID_ARGUMENT);
        rule(FleetGrpc.getCreateJoinTokenMethod(), admins, OK, INVALID_ARGUMENT);
        rule(FleetGrpc.getAddOperatorMethod(), admins, OK, INVALID_ARGUMENT);
        // Never the fuzzer's own operators (admin, fuzz-viewer): revoking them would lock the test out.
        rule(FleetGrpc.getRevokeOperatorMethod(), admins, OK, INVALID_ARGUMENT);
        rule(FleetGrpc.getPlaceMethod(), viewers, OK, INVALID_ARGUMENT);
        rule(FleetGrpc.getCapacityMethod(), viewers, OK, INVALID_ARGUMENT);
        // A create the hosts refuse leaves nothing behind (the snapshot checks); one that succeeds would be a
        // VM the fuzzer made, which the snapshot would also catch.
        rule(FleetGrpc.getCreateVmMethod(), admins, INVALID_ARGUMENT, RESOURCE_EXHAUSTED, ALREADY_EXISTS,
                FAILED_PRECONDITION, UNIMPLEMENTED);
        rule(FleetGrpc.getListVmsMethod(), viewers, OK);
        rule(FleetGrpc.getGetVmMethod(), viewers, NOT_FOUND, INVALID_ARGUMENT);
        rule(FleetGrpc.getSetVmRunningMethod(), admins, NOT_FOUND, INVALID_ARGUMENT);
        // No VM in this fleet (NOT_FOUND) and boot-mode none (FAILED_PRECONDITION, were there one).
        rule(FleetGrpc.getReinstallVmMethod(), admins, NOT_FOUND, INVALID_ARGUMENT, FAILED_PRECONDITION);
        rule(FleetGrpc.getDeleteVmMethod(), admins, NOT_FOUND, INVALID_ARGUMENT);
        rule(FleetGrpc.getMoveVmMethod(), admins, NOT_FOUND, INVALID_ARGUMENT); // no VM in this fleet
        rule(FleetGrpc.getCancelMoveMethod(), admins, NOT_FOUND, INVALID_ARGUMENT); // no move in flight
        rule(FleetGrpc.getEvacuateHostMethod(), admins, FAILED_PRECONDITION, INVALID_ARGUMENT); // never a drained host
        rule(FleetGrpc.getRecoverHostMethod(), admins, FAILED_PRECONDITION, INVALID_ARGUMENT); // no host is lost here
        rule(FleetGrpc.getSyncHostsMethod(), admins, OK); // no input to get wrong; syncing is always harmless
        rule(FleetGrpc.getGetDriftMethod(), viewers, OK);
        // A create the hosts refused leaves its record's history behind (created, then undone): that is OK.
        rule(FleetGrpc.getGetVmHistoryMethod(), viewers, OK, NOT_FOUND, INVALID_ARGUMENT);
        rule(FleetGrpc.getListProfilesMethod(), viewers, OK); // no input to get wrong
        rule(FleetGrpc.getGetCpuModelMethod(), viewers, OK); // no input to get wrong
        // This fleet's hosts are on libvirt's test driver, which reports no CPU: nothing to compute a model from.
        rule(FleetGrpc.getRecomputeCpuModelMethod(), admins, FAILED_PRECONDITION);
        // The test-driver domains have no disk: each is refused (OK, listed with its reason), nothing is adopted.
        rule(FleetGrpc.getAdoptVmsMethod(), admins, OK, INVALID_ARGUMENT, NOT_FOUND);
        // This fleet was never restored from a backup: there is no hold to release.
        rule(FleetGrpc.getReleaseRestoreHoldMethod(), admins, FAILED_PRECONDITION);
        // This fleet serves no dashboard: any operator may ask, and is told it is off.
        rule(io.virtfleet.proto.v1.DashboardGrpc.getCreateLoginMethod(), viewers, FAILED_PRECONDITION);
        rule(RegistryGrpc.getRegisterMethod(), agents, INVALID_ARGUMENT, PERMISSION_DENIED, ALREADY_EXISTS);
        rule(RegistryGrpc.getHeartbeatMethod(), agents, INVALID_ARGUMENT, PERMISSION_DENIED, FAILED_PRECONDITION);
        // RESOURCE_EXHAUSTED: only for a request over Enroll's size cap (see Call).
        rule(EnrollmentGrpc.getEnrollMethod(), EnumSet.allOf(Who.class), INVALID_ARGUMENT, PERMISSION_DENIED,
                RESOURCE_EXHAUSTED);
        rule(EnrollmentGrpc.getRenewMethod(), agents, INVALID_ARGUMENT); // never a usable request
        rule(EnrollmentGrpc.getIssueLibvirtCertificateMethod(), agents, INVALID_ARGUMENT); // never a usable request
        rule(AgentGrpc.getDescribeHostMethod(), controller, OK);
        // Disk commands sent here always carry an invalid field, except raw bytes that happen to make a valid
        // request: deleting an absent disk is fine (OK), and the fleet's agents have no Ceph (FAILED_PRECONDITION
        // naming the missing ceph.conf). Nothing can be created either way.
        rule(AgentGrpc.getEnsureDiskMethod(), controller, INVALID_ARGUMENT, FAILED_PRECONDITION);
        rule(AgentGrpc.getDeleteDiskMethod(), controller, INVALID_ARGUMENT, OK, FAILED_PRECONDITION);
        // Served: refused as malformed before the host is looked at, except raw bytes that happen to make a valid
        // request (a LAN number alone): these agents have no vxlan-device, so FAILED_PRECONDITION naming it.
        rule(AgentGrpc.getEnsureNetworkMethod(), controller, INVALID_ARGUMENT, FAILED_PRECONDITION);
        // A malformed commit is refused; an empty one (the controller's current main) or a well-formed one syncs:
        // this fleet has no VM, so there is no replica to define, and a commit main lacks is FAILED_PRECONDITION.
        rule(AgentGrpc.getSyncDefinitionsMethod(), controller, INVALID_ARGUMENT, OK, FAILED_PRECONDITION);
        // Raw bytes can make a valid name of no domain: already undefined (nothing changes), or not there to start.
        rule(AgentGrpc.getDefineDomainMethod(), controller, INVALID_ARGUMENT);
        rule(AgentGrpc.getUndefineDomainMethod(), controller, INVALID_ARGUMENT, OK);
        rule(AgentGrpc.getSetDomainRunningMethod(), controller, INVALID_ARGUMENT, NOT_FOUND);
        // No domain runs on these agents: a well-formed request names one that is not there.
        rule(AgentGrpc.getMigrateDomainMethod(), controller, INVALID_ARGUMENT, NOT_FOUND);
        // Libvirt's test driver computes no baselines: a well-formed request is FAILED_PRECONDITION.
        rule(AgentGrpc.getBaselineCpuMethod(), controller, INVALID_ARGUMENT, FAILED_PRECONDITION);
        // A well-formed name of a test-driver domain is read (OK, changing nothing); others are not there.
        rule(AgentGrpc.getReadDomainMethod(), controller, INVALID_ARGUMENT, NOT_FOUND, OK);
        // Never the very text a domain reads as: refused as malformed, or naming no domain / another definition.
        rule(AgentGrpc.getAdoptDomainMethod(), controller, INVALID_ARGUMENT, NOT_FOUND, FAILED_PRECONDITION);
        // Health and reflection, on the controller and on the agents. Check needs no certificate on the controller (an
        // agent admits no connection without one); a service name the server does not know is NOT_FOUND, a request over
        // the 512-byte cap RESOURCE_EXHAUSTED (see Call).
        Set<Who> fleetIdentities = EnumSet.complementOf(EnumSet.of(Who.ANONYMOUS));
        rule(HealthGrpc.getCheckMethod(), EnumSet.allOf(Who.class), OK, NOT_FOUND, RESOURCE_EXHAUSTED);
        // Watch never ends by itself: the test reads its first answer (the status, or SERVICE_UNKNOWN) and cancels.
        rule(HealthGrpc.getWatchMethod(), fleetIdentities, OK);
        // Reflection answers a request it cannot serve in its stream (an error_response), not with the call's status.
        rule(ServerReflectionGrpc.getServerReflectionInfoMethod(), fleetIdentities, OK);
    }

    private static void rule(MethodDescriptor<?, ?> method, Set<Who> who, Status.Code... answers) {
        ALLOWED.put(method.getFullMethodName(), who);
        ANSWERS.put(method.getFullMethodName(), EnumSet.copyOf(List.of(answers)));
    }

    private static Path work;
    private static EmbeddedFleet fleet;
    private static final List<AutoCloseable> closers = new ArrayList<>();
    private static final Map<Who, Channel> toController = new EnumMap<>(Who.class);
    private static final Map<Who, Channel> toAgent = new EnumMap<>(Who.class);
    private static final Map<String, Channel> agentsAsController = new LinkedHashMap<>();
    private static Hostile.Csrs csrs;
    private static String caFingerprint;
    private static List<String> hostNames;
    private static Set<String> agentIds;
    /** Join tokens that work, made before the run; only ever sent with something else wrong. */
    private static String anyHostToken;
    private static String oneHostToken;
    private static String reenrollToken;
    private static final Set<String> createdTokenIds = new HashSet<>();
    private static Snapshot baseline;
    private static final Map<String, Map<Status.Code, Integer>> tally = new TreeMap<>();
    private static long startedNanos;
    /**
     * The test's own client warns, with a stack trace, of every unpaired surrogate it sends (protobuf sends
     * '?' instead). Held here, as java.util.logging keeps loggers only weakly.
     */
    private static final Logger protobufEncoder = Logger.getLogger("com.google.protobuf.CodedOutputStream");
    /**
     * What the controller and agents log at SEVERE (slf4j's ERROR), an exception nobody expected, with the
     * call that was running. A server may log after its answer has reached the client, so the call named
     * may be the one after the culprit; the log message names the method.
     */
    private static final List<String> severe = new CopyOnWriteArrayList<>();
    private static volatile Call<?, ?> running;
    private static final Handler severeLogs = new Handler() {
        @Override
        public void publish(LogRecord record) {
            if (record.getLevel().intValue() >= Level.SEVERE.intValue()) {
                severe.add(record.getMessage() + ": " + record.getThrown() + "\n    during or just after " + running);
            }
        }

        @Override
        public void flush() {
        }

        @Override
        public void close() {
        }
    };

    @BeforeContainer
    static void startFleet() throws Exception {
        startedNanos = System.nanoTime();
        work = Files.createTempDirectory("virtfleet-fuzz");
        fleet = EmbeddedFleet.builder(work).heartbeat(HEARTBEAT).grace(GRACE).build().start();
        fleet.awaitRegistered(Duration.ofSeconds(30));
        Endpoint controller = fleet.controllerEndpoint();
        caFingerprint = fleet.controller().pki().ca().fingerprint();
        csrs = new Hostile.Csrs(fleet.controller().pki().ca().certificate());

        Path viewer = work.resolve("viewer.pem");
        fleet.controller().pki().writeOperatorBundle("fuzz-viewer", FleetIdentity.Role.VIEWER, Duration.ofDays(1), viewer);
        Clients admin = track(Clients.as(fleet.adminCredentials()));
        Clients asViewer = track(Clients.as(viewer));
        Clients asAgent = track(Clients.as(fleet.agent(HOST).credentials()));
        Clients asOtherAgent = track(Clients.as(fleet.agent(OTHER_HOST).credentials()));
        Clients asController = track(Clients.as(fleet.controller().pki().credentials()));
        Transport anonymous = track(Transport.forEnrollment("fuzz-anonymous"));
        toController.put(Who.ADMIN, admin.controller(controller));
        toController.put(Who.VIEWER, asViewer.controller(controller));
        toController.put(Who.AGENT, asAgent.controller(controller));
        toController.put(Who.OTHER_AGENT, asOtherAgent.controller(controller));
        toController.put(Who.CONTROLLER, asController.controller(controller));
        ManagedChannel anonymousChannel = anonymous.enrollmentChannel(controller, caFingerprint, Runnable::run);
        closers.add(anonymousChannel::shutdownNow);
        toController.put(Who.ANONYMOUS, anonymousChannel);

        List<Host> hosts = listHosts();
        hostNames = hosts.stream().map(Host::getName).sorted().toList();
        agentIds = hosts.stream().map(Host::getAgentId).collect(Collectors.toSet());
        for (Host h : hosts) {
            agentsAsController.put(h.getName(), asController.agent(Endpoint.parse("endpoint", h.getAgentEndpoint()), h.getName()));
        }
        Endpoint agent = Endpoint.parse("endpoint", hosts.stream().filter(h -> h.getName().equals(HOST)).findFirst()
                .orElseThrow().getAgentEndpoint());
        toAgent.put(Who.CONTROLLER, agentsAsController.get(HOST));
        toAgent.put(Who.ADMIN, admin.agent(agent, HOST));
        toAgent.put(Who.VIEWER, asViewer.agent(agent, HOST));
        toAgent.put(Who.AGENT, asAgent.agent(agent, HOST));
        toAgent.put(Who.OTHER_AGENT, asOtherAgent.agent(agent, HOST));

        FleetGrpc.FleetBlockingStub fleetApi = FleetGrpc.newBlockingStub(toController.get(Who.ADMIN));
        anyHostToken = recordToken(fleetApi.createJoinToken(CreateJoinTokenRequest.newBuilder().setTtlSeconds(600).build()));
        oneHostToken = recordToken(fleetApi.createJoinToken(CreateJoinTokenRequest.newBuilder().setTtlSeconds(600)
                .setHostName("fz-only").build()));
        reenrollToken = recordToken(fleetApi.createJoinToken(CreateJoinTokenRequest.newBuilder().setTtlSeconds(600)
                .setHostName("hv3").setReenroll(true).build()));
        baseline = Snapshot.take();
        Logger.getLogger("").addHandler(severeLogs);
        protobufEncoder.setLevel(Level.SEVERE);
    }

    @AfterContainer
    static void stopFleet() throws Exception {
        int calls = tally.values().stream().flatMap(m -> m.values().stream()).mapToInt(Integer::intValue).sum();
        StringBuilder report = new StringBuilder(String.format("fuzzed %d calls in %.1f s (fleet start included):%n",
                calls, (System.nanoTime() - startedNanos) / 1e9));
        tally.forEach((method, codes) -> report.append(String.format("  %-40s %s%n", method, codes)));
        System.out.print(report);
        Logger.getLogger("").removeHandler(severeLogs);
        for (int i = closers.size() - 1; i >= 0; i--) {
            closers.get(i).close();
        }
        if (fleet != null) {
            fleet.close();
        }
        if (work != null) {
            try (Stream<Path> files = Files.walk(work)) {
                files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        }
    }

    /**
     * After every property: the fleet still answers, and is exactly as it was. A change found is reported
     * once, against the property that made it; the next property is judged from the state left behind.
     */
    @AfterProperty
    void theFleetStillAnswersAndNothingWasCreatedOrChanged() throws IOException {
        Snapshot now = Snapshot.take();
        Snapshot before = baseline;
        baseline = now;
        List<String> errors = severe.stream().limit(3).toList();
        severe.clear();
        assertEquals(List.of(), errors, "errors logged by the controller or an agent");
        assertEquals(before.hosts(), now.hosts(), "host inventory");
        assertTrue(now.allReady(), "every host ready: " + now.states());
        assertEquals(before.enrolled(), now.enrolled(), "enrolled hosts");
        assertEquals(before.images(), now.images(), "files in the agents' images directories");
        assertEquals(before.domains(), now.domains(), "libvirt domains of the agents' hosts");
        for (Map.Entry<String, String> token : now.tokens().entrySet()) {
            String was = before.tokens().get(token.getKey());
            if (was == null) {
                assertTrue(createdTokenIds.contains(token.getKey()) && unused(token.getValue()),
                        "a new join token is one the test made, unused: " + token.getValue());
            } else {
                assertEquals(was, token.getValue(), "join token " + token.getKey());
            }
        }
        for (Map.Entry<String, Channel> agent : agentsAsController.entrySet()) {
            HostReport report = AgentGrpc.newBlockingStub(agent.getValue())
                    .withDeadlineAfter(DEADLINE.toMillis(), TimeUnit.MILLISECONDS)
                    .describeHost(DescribeHostRequest.getDefaultInstance());
            assertEquals(agent.getKey(), report.getHostName());
        }
    }

    // ---------------------------------------------------------------------------------------------------
    // Properties. About 3,000 calls in all.

    @Property(tries = 800, generation = GenerationMode.RANDOMIZED)
    void operatorRequests(@ForAll("fleetCalls") Call<?, ?> call) {
        call.run();
    }

    @Property(tries = 500, generation = GenerationMode.RANDOMIZED)
    void agentCommands(@ForAll("agentCalls") Call<?, ?> call) {
        call.run();
    }

    @Property(tries = 500, generation = GenerationMode.RANDOMIZED)
    void registrations(@ForAll("registryCalls") Call<?, ?> call) {
        call.run();
    }

    @Property(tries = 700, generation = GenerationMode.RANDOMIZED)
    void enrollments(@ForAll("enrollmentCalls") Call<?, ?> call) throws IOException {
        Map<String, String> before = Snapshot.tokenFile();
        call.run();
        Map<String, String> after = Snapshot.tokenFile();
        for (String token : List.of(anyHostToken, oneHostToken, reenrollToken)) {
            String id = token.split("\\.")[1];
            assertTrue(!unused(before.get(id)) || unused(after.get(id)), () -> call + "\n  used up a join token: " + after.get(id));
        }
    }

    /** Whether a line of the controller's join-token file is of a token not used yet. */
    private static boolean unused(String line) {
        return line.endsWith(" -");
    }

    @Property(tries = 300, generation = GenerationMode.RANDOMIZED)
    void healthAndReflection(@ForAll("healthCalls") Call<?, ?> call) {
        call.run();
    }

    /**
     * Every method the controller and an agent serve has a rule in {@link #ALLOWED} (so the properties call each as
     * the right and the wrong parties), and every rule here is of a method they serve.
     */
    @net.jqwik.api.Example
    void everyServedMethodHasARule() {
        Set<String> served = new java.util.TreeSet<>(fleet.controller().servedMethods());
        served.addAll(fleet.agent(HOST).servedMethods());
        Set<String> ruled = new java.util.TreeSet<>(ALLOWED.keySet());
        // Backups' one method streams a copy of the whole data directory: BackupArchiveTest and
        // ControllerBackupRestoreTest call it, as admin and as others.
        ruled.add(BackupsGrpc.getTakeBackupMethod().getFullMethodName());
        assertEquals(served, ruled, "methods served by the controller and an agent vs methods with a rule in this test");
        assertTrue(served.contains(HealthGrpc.getCheckMethod().getFullMethodName())
                && served.contains(ServerReflectionGrpc.getServerReflectionInfoMethod().getFullMethodName()), served::toString);
    }

    @Property(tries = 600, generation = GenerationMode.RANDOMIZED)
    void rawBytes(@ForAll("rawCalls") Call<?, ?> call) {
        call.run();
    }

    // ---------------------------------------------------------------------------------------------------
    // Operator API

    @Provide
    Arbitrary<Call<?, ?>> fleetCalls() {
        Arbitrary<Call<?, ?>> list = who(FleetGrpc.getListHostsMethod())
                .map(w -> call(FleetGrpc.getListHostsMethod(), ListHostsRequest.getDefaultInstance(), w));
        Arbitrary<Call<?, ?>> profiles = who(FleetGrpc.getListProfilesMethod())
                .map(w -> call(FleetGrpc.getListProfilesMethod(), ListProfilesRequest.getDefaultInstance(), w));
        Arbitrary<Call<?, ?>> get = Combinators.combine(Hostile.textOr(hostNames.toArray(String[]::new)),
                who(FleetGrpc.getGetHostMethod())).as((name, w) ->
                call(FleetGrpc.getGetHostMethod(), GetHostRequest.newBuilder().setName(name).build(), w));
        Arbitrary<Call<?, ?>> forget = Combinators.combine(
                Hostile.textOr("fz-gone", "hv9").filter(n -> !hostNames.contains(n)),
                who(FleetGrpc.getForgetHostMethod())).as((name, w) ->
                call(FleetGrpc.getForgetHostMethod(), ForgetHostRequest.newBuilder().setName(name).build(), w));
        Arbitrary<Call<?, ?>> token = Combinators.combine(Hostile.longs(), Hostile.textOr("", "fz-new", HOST),
                Hostile.bools(), who(FleetGrpc.getCreateJoinTokenMethod())).as((ttl, host, reenroll, w) ->
                call(FleetGrpc.getCreateJoinTokenMethod(), CreateJoinTokenRequest.newBuilder().setTtlSeconds(ttl)
                        .setHostName(host).setReenroll(reenroll).build(), w, ApiFuzzTest::recordToken));
        Arbitrary<Call<?, ?>> operator = Combinators.combine(Hostile.textOr("fz-operator", "admin"),
                Hostile.textOr("viewer", "admin", "Admin", "root"), csrs.any(), Hostile.ints(),
                who(FleetGrpc.getAddOperatorMethod())).as((name, role, csr, days, w) ->
                call(FleetGrpc.getAddOperatorMethod(), AddOperatorRequest.newBuilder().setName(name).setRole(role)
                        .setCsrPem(csr).setValidDays(days).build(), w));
        Arbitrary<Call<?, ?>> revoke = Combinators.combine(Hostile.textOr("fz-operator", "fz-revoked")
                        .filter(n -> !n.equals("admin") && !n.equals("fuzz-viewer")),
                who(FleetGrpc.getRevokeOperatorMethod())).as((name, w) ->
                call(FleetGrpc.getRevokeOperatorMethod(), RevokeOperatorRequest.newBuilder().setName(name).build(), w));
        Arbitrary<Call<?, ?>> place = Combinators.combine(specs(), who(FleetGrpc.getPlaceMethod())).as((spec, w) ->
                call(FleetGrpc.getPlaceMethod(), PlaceRequest.newBuilder().setSpec(spec).build(), w));
        Arbitrary<Call<?, ?>> capacity = Combinators.combine(specs(), Hostile.bools(), Hostile.bools(),
                who(FleetGrpc.getCapacityMethod())).as((spec, set, keep, w) -> {
                    CapacityRequest.Builder b = CapacityRequest.newBuilder().setSpec(spec);
                    if (set) {
                        b.setNPlusOne(keep);
                    }
                    return call(FleetGrpc.getCapacityMethod(), b.build(), w);
                });
        // A spec that passes validation is only ever asked for as a dry run: the test must create nothing.
        Arbitrary<Call<?, ?>> create = Combinators.combine(specs(), Hostile.bools(), who(FleetGrpc.getCreateVmMethod()))
                .as((spec, dryRun, w) -> call(FleetGrpc.getCreateVmMethod(), CreateVmRequest.newBuilder().setSpec(spec)
                        .setDryRun(dryRun || valid(spec)).build(), w));
        Arbitrary<Call<?, ?>> adopt = Combinators.combine(Hostile.textOr("", "hv1", "hv9"), Hostile.textOr("web", "Web_1"),
                Hostile.textOr("203.0.113.7", "10.0.0.1"), Hostile.bools(), who(FleetGrpc.getAdoptVmsMethod()))
                .as((host, vm, ip, dryRun, w) -> call(FleetGrpc.getAdoptVmsMethod(), io.virtfleet.proto.v1.AdoptVmsRequest
                        .newBuilder().setHost(host).putFailoverIps(vm, ip).setDryRun(dryRun).build(), w));
        return Arbitraries.frequencyOf(Tuple.of(1, list), Tuple.of(1, profiles), Tuple.of(3, get), Tuple.of(3, forget), Tuple.of(3, token),
                Tuple.of(3, operator), Tuple.of(2, revoke), Tuple.of(2, place), Tuple.of(2, capacity), Tuple.of(2, create),
                Tuple.of(2, adopt));
    }

    private static Arbitrary<VmSpec> specs() {
        Arbitrary<NetworkSpec> network = Arbitraries.oneOf(
                Hostile.ints().map(lan -> NetworkSpec.newBuilder().setLan(lan).build()),
                Combinators.combine(
                        Hostile.textOr("203.0.113.7", "127.0.0.1", "0.0.0.0", "255.255.255.255", "224.0.0.1", "010.0.0.1"),
                        Hostile.textOr("02:00:00:ab:cd:ef", "02:00:00:AB:CD:EF", "ff:ff:ff:ff:ff:ff", "00:00:00:00:00:00"))
                        .as((address, mac) -> NetworkSpec.newBuilder()
                                .setFailover(FailoverIp.newBuilder().setAddress(address).setMac(mac)).build()),
                Arbitraries.just(NetworkSpec.getDefaultInstance()));
        Arbitrary<VmSpec.Builder> optional = Combinators.combine(Hostile.bools(), Hostile.textOr("", "web"),
                Hostile.textOr("", HOST)).as((replicated, group, pinned) ->
                VmSpec.newBuilder().setReplicated(replicated).setSpreadGroup(group).setPinnedHost(pinned));
        return Combinators.combine(Hostile.textOr("fz-vm", "hv1-vm1"), Hostile.ints(), Hostile.longs(), Hostile.longs(),
                Hostile.ints(), network, Hostile.textOr("base", "ui-test"), optional)
                .as((name, storage, disk, memory, vcpus, net, profile, rest) -> rest.setName(name).setStorageValue(storage)
                        .setDiskBytes(disk).setMemoryBytes(memory).setVcpus(vcpus).setNetwork(net).setProfile(profile).build());
    }

    private static boolean valid(VmSpec spec) {
        try {
            VmSpecs.validate(spec);
            return true;
        } catch (IllegalArgumentException e) {
            return false;
        }
    }

    // ---------------------------------------------------------------------------------------------------
    // Agent API: every command that could change the host carries at least one invalid field, so that
    // nothing may be created however far the agent's implementation has come.

    @Provide
    Arbitrary<Call<?, ?>> agentCalls() {
        Arbitrary<String> badName = Hostile.text().filter(n -> !Names.isDnsLabel(n));
        Arbitrary<Call<?, ?>> describe = who(AgentGrpc.getDescribeHostMethod())
                .map(w -> call(AgentGrpc.getDescribeHostMethod(), DescribeHostRequest.getDefaultInstance(), w));
        Arbitrary<Call<?, ?>> ensureDisk = Combinators.combine(Hostile.textOr("fz-vm"), Hostile.ints(), Hostile.longs(),
                who(AgentGrpc.getEnsureDiskMethod())).as((name, tier, size, w) -> {
                    EnsureDiskRequest request = EnsureDiskRequest.newBuilder().setVmName(name).setStorageValue(tier)
                            .setSizeBytes(size).build();
                    if (Names.isDnsLabel(name) && tier > 0 && tier <= 3 && size > 0) {
                        request = request.toBuilder().setSizeBytes(-size).build();
                    }
                    return call(AgentGrpc.getEnsureDiskMethod(), request, w);
                });
        Arbitrary<Call<?, ?>> deleteDisk = Combinators.combine(badName, Hostile.ints(), who(AgentGrpc.getDeleteDiskMethod()))
                .as((name, tier, w) -> call(AgentGrpc.getDeleteDiskMethod(),
                        DeleteDiskRequest.newBuilder().setVmName(name).setStorageValue(tier).build(), w));
        // A valid LAN goes with at least one hostile peer address, so no agent ever creates one.
        Arbitrary<Call<?, ?>> network = Combinators.combine(specs().map(VmSpec::getNetwork),
                Hostile.textOr("10.0.0.2", "203.0.113.9").list().ofMaxSize(3), who(AgentGrpc.getEnsureNetworkMethod()))
                .as((n, peers, w) -> {
                    EnsureNetworkRequest request = EnsureNetworkRequest.newBuilder().setNetwork(n).addAllPeerAddresses(peers)
                            .build();
                    if (valid(validSpec().toBuilder().setNetwork(n).build()) && peers.stream().allMatch(ApiFuzzTest::unicast)) {
                        request = request.toBuilder().addPeerAddresses("10.0.0.2; reboot").build();
                    }
                    return call(AgentGrpc.getEnsureNetworkMethod(), request, w);
                });
        Arbitrary<Call<?, ?>> define = Combinators.combine(badName, Hostile.textOr("<domain><name>fz-vm</name></domain>"),
                Hostile.bools(), who(AgentGrpc.getDefineDomainMethod())).as((name, xml, autostart, w) ->
                call(AgentGrpc.getDefineDomainMethod(), DefineDomainRequest.newBuilder().setVmName(name).setDomainXml(xml)
                        .setAutostart(autostart).build(), w));
        Arbitrary<Call<?, ?>> undefine = Combinators.combine(badName, Hostile.bools(), who(AgentGrpc.getUndefineDomainMethod()))
                .as((name, force, w) -> call(AgentGrpc.getUndefineDomainMethod(),
                        UndefineDomainRequest.newBuilder().setVmName(name).setForce(force).build(), w));
        Arbitrary<Call<?, ?>> running = Combinators.combine(badName, Hostile.bools(), Hostile.longs(),
                who(AgentGrpc.getSetDomainRunningMethod())).as((name, run, timeout, w) ->
                call(AgentGrpc.getSetDomainRunningMethod(), SetDomainRunningRequest.newBuilder().setVmName(name)
                        .setRunning(run).setShutdownTimeoutMs(timeout).build(), w));
        Arbitrary<Call<?, ?>> sync = Combinators.combine(Hostile.text().filter(c -> !c.matches("[0-9a-f]{40}")),
                who(AgentGrpc.getSyncDefinitionsMethod())).as((commit, w) ->
                call(AgentGrpc.getSyncDefinitionsMethod(), SyncDefinitionsRequest.newBuilder().setCommit(commit).build(), w));
        return Arbitraries.frequencyOf(Tuple.of(2, describe), Tuple.of(3, ensureDisk), Tuple.of(2, deleteDisk),
                Tuple.of(2, network), Tuple.of(3, define), Tuple.of(2, undefine), Tuple.of(2, running), Tuple.of(2, sync));
    }

    private static boolean unicast(String address) {
        try {
            Ipv4.unicastAddress("peer", address);
            return true;
        } catch (IllegalArgumentException e) {
            return false;
        }
    }

    private static VmSpec validSpec() {
        return VmSpec.newBuilder().setName("fz-vm").setStorage(StorageTier.STORAGE_TIER_SSD).setDiskBytes(1L << 31)
                .setMemoryBytes(1L << 30).setVcpus(1).setNetwork(NetworkSpec.newBuilder().setLan(1)).setProfile("base").build();
    }

    // ---------------------------------------------------------------------------------------------------
    // Registry: an agent speaking for its own host (or not), under an agent identity that never owns it.

    @Provide
    Arbitrary<Call<?, ?>> registryCalls() {
        Arbitrary<String> agentId = Arbitraries.oneOf(Hostile.text(), Arbitraries.strings().withChars("0123456789abcdef-")
                .ofMinLength(1).ofMaxLength(64)).filter(id -> !agentIds.contains(id));
        Arbitrary<List<String>> tiers = Hostile.textOr("ssd", "sata", "raw").list().ofMaxSize(4);
        Arbitrary<Call<?, ?>> register = Combinators.combine(agentId, Hostile.textOr("127.0.0.1:1", "[::1]:7441", "hv1:0"),
                Hostile.textOr("0.1.0"), reports(), tiers, who(RegistryGrpc.getRegisterMethod())).as(
                (id, endpoint, version, report, t, w) -> call(RegistryGrpc.getRegisterMethod(), RegisterRequest.newBuilder()
                        .setAgentId(id).setAgentEndpoint(endpoint).setAgentVersion(version).setReport(report)
                        .addAllStorageTiers(t).build(), w));
        Arbitrary<Call<?, ?>> heartbeat = Combinators.combine(Arbitraries.oneOf(Hostile.text(),
                Arbitraries.strings().withChars("0123456789abcdef").ofLength(32)), reports(),
                who(RegistryGrpc.getHeartbeatMethod())).as((session, report, w) ->
                call(RegistryGrpc.getHeartbeatMethod(), HeartbeatRequest.newBuilder().setSessionId(session)
                        .setReport(report).build(), w));
        return Arbitraries.oneOf(register, heartbeat);
    }

    private static Arbitrary<HostReport> reports() {
        Arbitrary<Double> doubles = Arbitraries.oneOf(Arbitraries.doubles(),
                Arbitraries.of(Double.NaN, Double.POSITIVE_INFINITY, Double.NEGATIVE_INFINITY, -0.0, Double.MAX_VALUE));
        Arbitrary<HostResources> resources = Combinators.combine(Hostile.text(), Hostile.ints(), Hostile.ints(), doubles,
                doubles, Hostile.longs(), Hostile.longs(), Hostile.text()).as((cpu, cores, threads, load, util, mem, free, dir) ->
                HostResources.newBuilder().setCpuModel(cpu).setPhysicalCores(cores).setLogicalThreads(threads)
                        .setLoadAverage1M(load).setCpuUtilisationPercent(util).setMemoryTotalBytes(mem)
                        .setMemoryAvailableBytes(free).setImagesDirectory(dir).setImagesFreeBytes(free).build());
        Arbitrary<DomainInfo> domain = Combinators.combine(Hostile.text(), Hostile.text(), Hostile.ints(), Hostile.ints(),
                Hostile.longs()).as((name, uuid, state, vcpus, memory) -> DomainInfo.newBuilder().setName(name).setUuid(uuid)
                .setStateValue(state).setVcpus(vcpus).setMaxMemoryBytes(memory).setMemoryBytes(memory).build());
        return Combinators.combine(Hostile.textOr(HOST, HOST, HOST, OTHER_HOST), Hostile.longs(), resources,
                Hostile.text(), domain.list().ofMaxSize(3), Hostile.bools()).as((host, taken, res, error, domains, stale) ->
                HostReport.newBuilder().setHostName(host).setTakenAtUnixMs(taken).setResources(res)
                        .setHypervisor(HypervisorInfo.newBuilder().setError(error).setUri(error))
                        .addAllDomains(domains).setDomainsStale(stale).build());
    }

    // ---------------------------------------------------------------------------------------------------
    // Enrollment: anonymous callers with made-up tokens, or working tokens with something else wrong.

    @Provide
    Arbitrary<Call<?, ?>> enrollmentCalls() {
        List<String> live = List.of(anyHostToken, oneHostToken, reenrollToken);
        Arbitrary<String> hexId = Arbitraries.strings().withChars("0123456789abcdef").ofLength(16);
        Arbitrary<String> secret = Arbitraries.strings().withChars("abcXYZ019-_").ofLength(43);
        Arbitrary<String> fingerprint = Arbitraries.oneOf(Arbitraries.just(caFingerprint),
                Arbitraries.strings().withChars("0123456789abcdef").ofLength(64));
        Arbitrary<String> wellFormed = Combinators.combine(hexId, secret, fingerprint)
                .as((id, s, ca) -> "vfjoin1." + id + "." + s + "." + ca);
        Arbitrary<String> mutated = Combinators.combine(Arbitraries.of(live), Arbitraries.integers().between(0, 200),
                Arbitraries.of(' ', '\u0000', 'A', '.', '-', 'é')).as((token, at, c) -> {
                    int i = Math.min(at, token.length() - 1);
                    return at % 3 == 0 ? token.substring(0, i) : at % 3 == 1 ? token.substring(0, i) + c + token.substring(i)
                            : token.substring(0, i) + c + token.substring(i + 1);
                }).filter(t -> !live.contains(t));
        Arbitrary<String> madeUp = Arbitraries.oneOf(Hostile.text(), wellFormed, mutated);
        Arbitrary<String> names = Hostile.textOr("fz-new", "fz-only", "hv1", "hv3");

        Arbitrary<Call<?, ?>> guessing = Combinators.combine(madeUp, names, csrs.any(), who(EnrollmentGrpc.getEnrollMethod()))
                .as((token, host, csr, w) -> enroll(token, host, csr, w));
        Arbitrary<Call<?, ?>> brokenRequest = Combinators.combine(Arbitraries.of(live), names, csrs.broken(),
                who(EnrollmentGrpc.getEnrollMethod())).as((token, host, csr, w) -> enroll(token, host, csr, w));
        // A good request with a working token, but for a host the token cannot enroll.
        Arbitrary<Call<?, ?>> wrongHost = Combinators.combine(Arbitraries.of(anyHostToken, oneHostToken),
                Hostile.textOr(hostNames.toArray(String[]::new)).filter(h -> !Names.isDnsLabel(h) || hostNames.contains(h)),
                csrs.any(), who(EnrollmentGrpc.getEnrollMethod())).as((token, host, csr, w) -> enroll(token, host, csr, w));
        Arbitrary<Call<?, ?>> notReenrolled = Combinators.combine(Hostile.textOr("hv1", "hv2", "fz-new")
                        .filter(h -> !h.equals("hv3")), csrs.any(), who(EnrollmentGrpc.getEnrollMethod()))
                .as((host, csr, w) -> enroll(reenrollToken, host, csr, w));
        Arbitrary<Call<?, ?>> renew = Combinators.combine(csrs.broken(), who(EnrollmentGrpc.getRenewMethod())).as((csr, w) ->
                call(EnrollmentGrpc.getRenewMethod(), RenewRequest.newBuilder().setCsrPem(csr).build(), w));
        return Arbitraries.frequencyOf(Tuple.of(4, guessing), Tuple.of(3, brokenRequest), Tuple.of(2, wrongHost),
                Tuple.of(1, notReenrolled), Tuple.of(3, renew));
    }

    private static Call<?, ?> enroll(String token, String host, String csr, Who who) {
        return call(EnrollmentGrpc.getEnrollMethod(), EnrollRequest.newBuilder().setJoinToken(token).setHostName(host)
                .setCsrPem(csr).build(), who);
    }

    // ---------------------------------------------------------------------------------------------------
    // Health and reflection, at the controller or at an agent: known and made-up service names and symbols.

    @Provide
    Arbitrary<Call<?, ?>> healthCalls() {
        Arbitrary<String> services = Hostile.textOr("", FleetGrpc.SERVICE_NAME, AgentGrpc.SERVICE_NAME,
                RegistryGrpc.SERVICE_NAME, "grpc.health.v1.Health", "virtfleet.v1.Nothing");
        Arbitrary<Boolean> atAgent = Arbitraries.of(false, true);
        Arbitrary<Call<?, ?>> check = Combinators.combine(services, atAgent, who(HealthGrpc.getCheckMethod()))
                .filter((service, agent, w) -> !(agent && w == Who.ANONYMOUS))
                .as((service, agent, w) -> call(HealthGrpc.getCheckMethod(),
                        HealthCheckRequest.newBuilder().setService(service).build(), w).at(agent));
        Arbitrary<Call<?, ?>> watch = Combinators.combine(services, atAgent, who(HealthGrpc.getWatchMethod()))
                .filter((service, agent, w) -> !(agent && w == Who.ANONYMOUS))
                .as((service, agent, w) -> call(HealthGrpc.getWatchMethod(),
                        HealthCheckRequest.newBuilder().setService(service).build(), w).at(agent));
        Arbitrary<String> symbols = Hostile.textOr("virtfleet.v1.Fleet", "virtfleet.v1.Fleet.ListHosts",
                "virtfleet.v1.VmSpec", "grpc.health.v1.Health", "virtfleet/v1/fleet.proto");
        Arbitrary<ServerReflectionRequest> reflection = Combinators.combine(symbols, Arbitraries.integers().between(0, 4),
                Hostile.ints()).as((symbol, kind, number) -> {
                    ServerReflectionRequest.Builder b = ServerReflectionRequest.newBuilder().setHost(symbol);
                    return switch (kind) {
                        case 0 -> b.setListServices(symbol).build();
                        case 1 -> b.setFileContainingSymbol(symbol).build();
                        case 2 -> b.setFileByFilename(symbol).build();
                        case 3 -> b.setFileContainingExtension(io.grpc.reflection.v1.ExtensionRequest.newBuilder()
                                .setContainingType(symbol).setExtensionNumber(number)).build();
                        default -> b.setAllExtensionNumbersOfType(symbol).build();
                    };
                });
        Arbitrary<Call<?, ?>> reflect = Combinators.combine(reflection, atAgent,
                        who(ServerReflectionGrpc.getServerReflectionInfoMethod()))
                .filter((request, agent, w) -> !(agent && w == Who.ANONYMOUS))
                .as((request, agent, w) -> call(ServerReflectionGrpc.getServerReflectionInfoMethod(), request, w).at(agent));
        return Arbitraries.frequencyOf(Tuple.of(3, check), Tuple.of(1, watch), Tuple.of(3, reflect));
    }

    // ---------------------------------------------------------------------------------------------------
    // Raw bytes: whatever arrives on the wire, as the right caller, to every method of every service.

    private static final MethodDescriptor.Marshaller<byte[]> BYTES = new MethodDescriptor.Marshaller<>() {
        @Override
        public InputStream stream(byte[] value) {
            return new ByteArrayInputStream(value);
        }

        @Override
        public byte[] parse(InputStream stream) {
            try {
                return stream.readAllBytes();
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
    };

    @Provide
    Arbitrary<Call<?, ?>> rawCalls() {
        // Health's Watch is left out: it never ends by itself (healthCalls reads its first answer and cancels).
        List<MethodDescriptor<?, ?>> methods = Stream.concat(Stream.of(FleetGrpc.getServiceDescriptor(),
                        RegistryGrpc.getServiceDescriptor(), EnrollmentGrpc.getServiceDescriptor(),
                        AgentGrpc.getServiceDescriptor(),
                        io.virtfleet.proto.v1.DashboardGrpc.getServiceDescriptor()).map(ServiceDescriptor::getMethods).flatMap(java.util.Collection::stream),
                Stream.of(HealthGrpc.getCheckMethod(), ServerReflectionGrpc.getServerReflectionInfoMethod())).toList();
        return Combinators.combine(Arbitraries.of(methods), payloads())
                .filter((method, payload) -> !forgetsAFleetHost(method, payload)).as(ApiFuzzTest::raw);
    }

    /** Bytes that happen to be a ForgetHost request for one of the fleet's hosts would do just that. */
    private static boolean forgetsAFleetHost(MethodDescriptor<?, ?> method, byte[] payload) {
        try {
            return method.equals(FleetGrpc.getForgetHostMethod())
                    && hostNames.contains(ForgetHostRequest.parseFrom(payload).getName())
                    || method.equals(FleetGrpc.getSetHostDrainingMethod())
                    && hostNames.contains(io.virtfleet.proto.v1.SetHostDrainingRequest.parseFrom(payload).getName());
        } catch (IOException e) {
            return false;
        }
    }

    private static Call<?, ?> raw(MethodDescriptor<?, ?> method, byte[] payload) {
        MethodDescriptor<byte[], byte[]> bytes = method.toBuilder(BYTES, BYTES).build();
        Who who = ALLOWED.get(method.getFullMethodName()).iterator().next();
        Set<Status.Code> answers = EnumSet.copyOf(ANSWERS.get(method.getFullMethodName()));
        answers.add(INVALID_ARGUMENT);
        Consumer<byte[]> onOk = method.equals(FleetGrpc.getCreateJoinTokenMethod()) ? reply -> {
            try {
                recordToken(JoinToken.parseFrom(reply));
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        } : reply -> { };
        return new Call<>(bytes, payload, who, answers, onOk, HexFormat.of().formatHex(payload, 0, Math.min(payload.length, 48))
                + (payload.length > 48 ? "... (" + payload.length + " bytes)" : ""));
    }

    private static Arbitrary<byte[]> payloads() {
        List<byte[]> samples = List.of(
                GetHostRequest.newBuilder().setName("fz-gone").build().toByteArray(),
                CreateJoinTokenRequest.newBuilder().setTtlSeconds(60).setHostName("fz-raw").build().toByteArray(),
                RegisterRequest.newBuilder().setAgentId("fz").setAgentEndpoint("127.0.0.1:1").addStorageTiers("raw")
                        .setReport(HostReport.newBuilder().setHostName("fz-raw")
                                .addDomains(DomainInfo.newBuilder().setName("fz-vm").setVcpus(2))).build().toByteArray(),
                EnrollRequest.newBuilder().setJoinToken("vfjoin1.x").setHostName("fz-new").setCsrPem("-----BEGIN")
                        .build().toByteArray(),
                PlaceRequest.newBuilder().setSpec(validSpec()).build().toByteArray(),
                EnsureDiskRequest.newBuilder().setVmName("fz-vm").setStorage(StorageTier.STORAGE_TIER_RAW).setSizeBytes(-1)
                        .build().toByteArray());
        byte[] repeatedTiers = new byte[5 * 200_000];
        for (int i = 0; i < repeatedTiers.length; i += 5) {
            System.arraycopy(new byte[] {0x2a, 0x03, 'r', 'a', 'w'}, 0, repeatedTiers, i, 5);
        }
        byte[] startGroups = new byte[300];
        Arrays.fill(startGroups, (byte) 0x0b);
        byte[] longString = new byte[1 << 20];
        Arrays.fill(longString, (byte) 'a');
        List<byte[]> patterns = List.of(
                new byte[0],
                new byte[] {0x0a, (byte) 0xff, (byte) 0xff, (byte) 0xff, (byte) 0xff, 0x0f},  // length beyond the message
                new byte[] {0x0a, 0x02, (byte) 0xc3, 0x28},                                      // invalid UTF-8 in field 1
                new byte[] {0x12, 0x02, (byte) 0xc3, 0x28},                                      // ... in field 2
                new byte[] {0x1a, 0x03, (byte) 0xed, (byte) 0xa0, (byte) 0x80},                  // a UTF-8 encoded surrogate
                new byte[] {0x08, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 0x01},                  // an 11-byte varint
                new byte[] {0x07}, new byte[] {0x00}, new byte[] {0x0c}, new byte[] {0x0b},    // bad wire type, tag 0, groups
                startGroups,                                                                      // nesting past the limit
                repeatedTiers,                                                                    // 200,000 storage tiers
                concat(new byte[] {0x0a, (byte) 0x80, (byte) 0x80, 0x40}, longString));          // a 1 MiB string
        Arbitrary<byte[]> mutated = Combinators.combine(Arbitraries.of(samples), Arbitraries.integers().between(0, 10_000),
                Arbitraries.integers().between(0, 255), Arbitraries.integers().between(0, 2)).as((sample, at, value, how) -> {
                    int i = at % sample.length;
                    return switch (how) {
                        case 0 -> {
                            byte[] out = sample.clone();
                            out[i] = (byte) (int) value;
                            yield out;
                        }
                        case 1 -> Arrays.copyOf(sample, i);
                        default -> concat(Arrays.copyOf(sample, i), new byte[] {(byte) (int) value},
                                Arrays.copyOfRange(sample, i, sample.length));
                    };
                });
        return Arbitraries.frequencyOf(
                Tuple.of(4, Arbitraries.bytes().array(byte[].class).ofMaxSize(2_048)),
                Tuple.of(4, mutated),
                Tuple.of(2, Arbitraries.of(patterns)),
                Tuple.of(1, Arbitraries.of(samples)));
    }

    private static byte[] concat(byte[]... parts) {
        int length = 0;
        for (byte[] p : parts) {
            length += p.length;
        }
        byte[] out = new byte[length];
        int at = 0;
        for (byte[] p : parts) {
            System.arraycopy(p, 0, out, at, p.length);
            at += p.length;
        }
        return out;
    }

    // ---------------------------------------------------------------------------------------------------
    // Calls

    /** Mostly the party the method is for, sometimes any other (who must then be turned away). */
    private static Arbitrary<Who> who(MethodDescriptor<?, ?> method) {
        Set<Who> allowed = ALLOWED.get(method.getFullMethodName());
        List<Who> reachable = Arrays.stream(Who.values())
                .filter(w -> !isAgentMethod(method) || toAgent.containsKey(w)).toList();
        return Arbitraries.frequencyOf(Tuple.of(5, Arbitraries.of(allowed)), Tuple.of(1, Arbitraries.of(reachable)))
                .withoutEdgeCases();
    }

    private static boolean isAgentMethod(MethodDescriptor<?, ?> method) {
        return AgentGrpc.SERVICE_NAME.equals(method.getServiceName());
    }

    private static <Q, R> Call<?, ?> call(MethodDescriptor<Q, R> method, Q request, Who who) {
        return call(method, request, who, reply -> { });
    }

    private static <Q, R> Call<?, ?> call(MethodDescriptor<Q, R> method, Q request, Who who, Consumer<R> onOk) {
        return new Call<>(method, request, who, ANSWERS.get(method.getFullMethodName()), onOk, request.toString());
    }

    /** One request, by one party, and the answers it may get. */
    static final class Call<Q, R> {
        private final MethodDescriptor<Q, R> method;
        private final Q request;
        private final Who who;
        private final Set<Status.Code> accepted;
        private final Consumer<R> onOk;
        private final String shown;
        /** For methods every server has (health, reflection): sent to the agent of {@link #HOST} rather than the controller. */
        private boolean atAgent;

        Call(MethodDescriptor<Q, R> method, Q request, Who who, Set<Status.Code> answers, Consumer<R> onOk, String shown) {
            this.method = method;
            this.request = request;
            this.who = who;
            this.onOk = onOk;
            this.shown = shown;
            Set<Status.Code> accepted = ALLOWED.get(method.getFullMethodName()).contains(who) ? answers
                    : EnumSet.of(who == Who.ANONYMOUS ? UNAUTHENTICATED : PERMISSION_DENIED);
            if (method.getFullMethodName().equals(EnrollmentGrpc.getEnrollMethod().getFullMethodName())
                    && request instanceof com.google.protobuf.MessageLite m
                    && m.getSerializedSize() <= io.virtfleet.controller.trust.EnrollmentEndpoint.MAX_ENROLL_REQUEST_BYTES) {
                // Within the size cap, and the fuzzer's calls come one at a time (Enroll's queue is never full).
                accepted = EnumSet.copyOf(accepted);
                accepted.remove(RESOURCE_EXHAUSTED);
            }
            if (method.getFullMethodName().equals(HealthGrpc.getCheckMethod().getFullMethodName())
                    && request instanceof com.google.protobuf.MessageLite m && m.getSerializedSize() <= 512) {
                accepted = EnumSet.copyOf(accepted);
                accepted.remove(RESOURCE_EXHAUSTED); // the controller's cap on a health check (AccessRules)
            }
            this.accepted = accepted;
        }

        Call<Q, R> at(boolean agent) {
            this.atAgent = agent;
            return this;
        }

        void run() {
            running = this;
            Channel channel = (isAgentMethod(method) || atAgent ? toAgent : toController).get(who);
            CallOptions options = CallOptions.DEFAULT.withDeadlineAfter(DEADLINE.toMillis(), TimeUnit.MILLISECONDS);
            Status status = Status.OK;
            try {
                if (method.getType() == MethodDescriptor.MethodType.UNARY) {
                    onOk.accept(ClientCalls.blockingUnaryCall(channel, method, options, request));
                } else if (method.getType() == MethodDescriptor.MethodType.BIDI_STREAMING) {
                    streamOneRequest(channel, options);
                } else if (method.getFullMethodName().equals(HealthGrpc.getWatchMethod().getFullMethodName())) {
                    // The first answer, then cancelled: a watch goes on as long as the server runs.
                    try (Context.CancellableContext watching = Context.current().withCancellation()) {
                        watching.run(() -> onOk.accept(ClientCalls.blockingServerStreamingCall(channel, method, options,
                                request).next()));
                    }
                } else {
                    Iterator<R> replies = ClientCalls.blockingServerStreamingCall(channel, method, options, request);
                    replies.forEachRemaining(onOk);
                }
            } catch (StatusRuntimeException e) {
                status = e.getStatus();
            }
            synchronized (tally) {
                tally.computeIfAbsent(method.getFullMethodName(), m -> new EnumMap<>(Status.Code.class))
                        .merge(status.getCode(), 1, Integer::sum);
            }
            if (!accepted.contains(status.getCode())) {
                throw new AssertionError(this + "\n  answered " + status.getCode() + ": " + status.getDescription()
                        + "\n  expected one of " + accepted, status.getCause());
            }

            String description = status.getDescription();
            if (description != null) {
                assertTrue(description.length() <= MAX_DESCRIPTION, () -> this + "\n  answered a description of "
                        + description.length() + " characters: " + description.substring(0, 200));
                assertTrue(description.chars().allMatch(c -> c == '\n' || (c >= 0x20 && c < 0x7f)), () -> this
                        + "\n  answered a description with non-printable or non-ASCII characters: " + description);
            }
        }

        /** Sends the one request, closes its side, and takes every answer until the server ends the call. */
        private void streamOneRequest(Channel channel, CallOptions options) {
            java.util.concurrent.CompletableFuture<Void> done = new java.util.concurrent.CompletableFuture<>();
            StreamObserver<Q> requests = ClientCalls.asyncBidiStreamingCall(channel.newCall(method, options),
                    new StreamObserver<R>() {
                        @Override
                        public void onNext(R reply) {
                            onOk.accept(reply);
                        }

                        @Override
                        public void onError(Throwable t) {
                            done.completeExceptionally(t);
                        }

                        @Override
                        public void onCompleted() {
                            done.complete(null);
                        }
                    });
            requests.onNext(request);
            requests.onCompleted();
            try {
                done.get(); // the call's deadline bounds it
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new AssertionError("interrupted", e);
            } catch (java.util.concurrent.ExecutionException e) {
                throw e.getCause() instanceof StatusRuntimeException sre ? sre : Status.fromThrowable(e.getCause()).asRuntimeException();
            }
        }

        @Override
        public String toString() {
            String request = shown.replace("\n", " ").strip();
            StringBuilder out = new StringBuilder();
            for (int i = 0; i < Math.min(request.length(), 400); i++) {
                char c = request.charAt(i);
                out.append(c >= 0x20 && c < 0x7f ? String.valueOf(c) : String.format("\\u%04x", (int) c));
            }
            return method.getBareMethodName() + (atAgent ? " at " + HOST : "") + " as " + who + ": " + out
                    + (request.length() > 400 ? "... (" + request.length() + " characters)" : "");
        }
    }

    private static String recordToken(JoinToken token) {
        synchronized (createdTokenIds) {
            createdTokenIds.add(token.getToken().split("\\.")[1]);
        }
        return token.getToken();
    }

    private static List<Host> listHosts() {
        return FleetGrpc.newBlockingStub(toController.get(Who.ADMIN)).withDeadlineAfter(DEADLINE.toMillis(), TimeUnit.MILLISECONDS)
                .listHosts(ListHostsRequest.getDefaultInstance()).getHostsList();
    }

    private static <T extends AutoCloseable> T track(T closeable) {
        closers.add(closeable);
        return closeable;
    }

    /** What the test must find unchanged: hosts and their owners, enrollments, join tokens, disk images. */
    private record Snapshot(Map<String, String> hosts, Map<String, HostState> states, String enrolled,
                            Map<String, String> tokens, Set<Path> images, Map<String, List<DomainInfo>> domains,
                            List<String> vms, String definitionsHead) {
        static Snapshot take() throws IOException {
            List<Host> hosts = listHosts();
            Map<String, String> owners = new TreeMap<>();
            Map<String, HostState> states = new TreeMap<>();
            Set<Path> images = new HashSet<>();
            for (Host h : hosts) {
                owners.put(h.getName(), h.getAgentId() + " at " + h.getAgentEndpoint() + " registered "
                        + h.getRegisteredAtUnixMs() + ", tiers " + h.getStorageTiersList());
                states.put(h.getName(), h.getState());
                try (Stream<Path> files = Files.walk(Path.of(h.getReport().getResources().getImagesDirectory()))) {
                    files.forEach(images::add);
                }
            }
            List<String> vms = new ArrayList<>();
            fleet.controller().vms().list().forEach(v -> vms.add(v.getSpec().getName()));
            fleet.controller().scheduler().claims().forEach(c -> vms.add("claim " + c.vmName()));
            return new Snapshot(owners, states, Files.readString(dataDirectory().resolve("enrolled-hosts"),
                    StandardCharsets.US_ASCII), tokenFile(), images, domainsNow(), vms,
                    fleet.controller().vms().definitionsHead());
        }

        /** Each agent's libvirt domains as it sees them now (not as of its last heartbeat). */
        static Map<String, List<DomainInfo>> domainsNow() {
            Map<String, List<DomainInfo>> out = new TreeMap<>();
            for (Map.Entry<String, Channel> agent : agentsAsController.entrySet()) {
                out.put(agent.getKey(), AgentGrpc.newBlockingStub(agent.getValue())
                        .withDeadlineAfter(DEADLINE.toMillis(), TimeUnit.MILLISECONDS)
                        .describeHost(DescribeHostRequest.getDefaultInstance()).getDomainsList());
            }
            return out;
        }

        /** The controller's join-token file, line by line, by token id. */
        static Map<String, String> tokenFile() throws IOException {
            Map<String, String> tokens = new TreeMap<>();
            for (String line : Files.readAllLines(dataDirectory().resolve("join-tokens"), StandardCharsets.US_ASCII)) {
                if (!line.isBlank()) {
                    tokens.put(line.split(" ")[0], line);
                }
            }
            return tokens;
        }

        private static Path dataDirectory() {
            return fleet.controller().pki().directory().getParent();
        }

        boolean allReady() {
            return states.size() == hostNames.size() && states.values().stream().allMatch(s -> s == HostState.HOST_STATE_READY);
        }
    }
}
