package io.virtfleet.controller.registry;

import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import io.virtfleet.common.validation.Endpoint;
import io.virtfleet.common.validation.InvalidInputException;
import io.virtfleet.common.validation.Names;
import io.virtfleet.common.validation.StorageTiers;
import io.virtfleet.proto.v1.HeartbeatRequest;
import io.virtfleet.proto.v1.HeartbeatResponse;
import io.virtfleet.proto.v1.RegisterRequest;
import io.virtfleet.proto.v1.RegisterResponse;
import io.virtfleet.proto.v1.RegistryGrpc;
import io.virtfleet.common.security.Authorization;
import io.virtfleet.common.security.FleetIdentity;
import io.virtfleet.common.validation.Escape;
import io.virtfleet.controller.fencing.FenceView;
import io.virtfleet.controller.trust.EnrolledHosts;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.Optional;
import java.util.function.IntSupplier;
import java.util.function.Supplier;
import java.util.regex.Pattern;

/**
 * The registry's gRPC face: validates what agents send, then hands it to {@link HostRegistry}. Its answers tell each
 * agent the definitions' current commit and, while the host is fenced ({@link FenceView}), to stand down: the host's
 * VMs may run elsewhere now, so it destroys those whose home moved and starts nothing. The controller orders this;
 * agents never infer it from the repository (a live move's target runs the VM before the record names it).
 */
public final class RegistryEndpoint extends RegistryGrpc.RegistryImplBase {
    private static final Pattern AGENT_ID = Pattern.compile("[A-Za-z0-9-]{1,64}");

    private final HostRegistry registry;
    private final EnrolledHosts enrolled;
    private final Duration heartbeatInterval;
    private final Duration grace;
    private final Supplier<String> definitionsHead;
    private final IntSupplier gitPort;
    private final FenceView fences;
    private volatile java.util.function.BooleanSupplier restoreHold = () -> false;

    /**
     * @param definitionsHead the definitions repository's current commit, told to every agent so a host that was
     *                        away catches up by itself; called on every heartbeat, so it must not block
     * @param gitPort         the port agents pull the repository from (0: none served)
     */
    public RegistryEndpoint(HostRegistry registry, EnrolledHosts enrolled, Duration heartbeatInterval, Duration grace,
                            Supplier<String> definitionsHead, IntSupplier gitPort) {
        this(registry, enrolled, heartbeatInterval, grace, definitionsHead, gitPort, FenceView.inMemory());
    }

    /**
     * @param fences which hosts are lost: their agents are told to stand down (read on the event loop: no I/O, no lock)
     */
    public RegistryEndpoint(HostRegistry registry, EnrolledHosts enrolled, Duration heartbeatInterval, Duration grace,
                            Supplier<String> definitionsHead, IntSupplier gitPort, FenceView fences) {
        this.fences = fences;
        this.registry = registry;
        this.enrolled = enrolled;
        this.heartbeatInterval = heartbeatInterval;
        this.grace = grace;
        this.definitionsHead = definitionsHead;
        this.gitPort = gitPort;
    }

    /**
     * Tells agents, while {@code holding} says so, that the controller holds after a restore: they start no domain
     * (not even those that start with the host) and are told to stand down by no fence meanwhile, since the restored
     * verdicts and homes may be older than what runs. Read on the event loop: it must be a volatile read, no I/O.
     */
    public RegistryEndpoint withRestoreHold(java.util.function.BooleanSupplier holding) {
        this.restoreHold = holding;
        return this;
    }

    private boolean standDown(String host, boolean held) {
        return !held && fences.of(host).isPresent();
    }

    @Override
    public void register(RegisterRequest request, StreamObserver<RegisterResponse> response) {
        String host = Names.hostName("report.host_name", request.getReport().getHostName());
        requireSpeaksFor(host);
        if (!AGENT_ID.matcher(request.getAgentId()).matches()) {
            throw new InvalidInputException("agent_id", request.getAgentId(), "1-64 characters of A-Z, a-z, 0-9 and '-'");
        }
        Endpoint endpoint = Endpoint.parse("agent_endpoint", request.getAgentEndpoint());
        for (String tier : request.getStorageTiersList()) {
            StorageTiers.parse("storage_tiers", tier);
        }
        boolean held = restoreHold.getAsBoolean();
        HostRecord record;
        try {
            record = registry.register(request.getAgentId(), endpoint.toString(), request.getAgentVersion(),
                    request.getStorageTiersList(), request.getReport());
        } catch (RegistrationRefusedException e) {
            response.onError(Status.ALREADY_EXISTS.withDescription(e.getMessage()).asRuntimeException());
            return;
        }
        response.onNext(RegisterResponse.newBuilder()
                .setSessionId(record.sessionId())
                .setHeartbeatIntervalMs(heartbeatInterval.toMillis())
                .setUnreachableAfterMs(grace.toMillis())
                .setDefinitionsGitPort(gitPort.getAsInt())
                .setDesiredDefinitionsCommit(definitionsHead.get())
                .setStandDown(standDown(host, held))
                .setRestoreHold(held)
                .build());
        response.onCompleted();
    }

    @Override
    public void heartbeat(HeartbeatRequest request, StreamObserver<HeartbeatResponse> response) {
        requireSpeaksFor(request.getReport().getHostName());
        try {
            HostRecord record = registry.heartbeat(request.getSessionId(), request.getReport());
            boolean held = restoreHold.getAsBoolean();
            response.onNext(HeartbeatResponse.newBuilder().setAcceptedAtUnixMs(record.lastSeenUnixMs())
                    .setDesiredDefinitionsCommit(definitionsHead.get())
                    .setStandDown(standDown(record.name(), held)).setRestoreHold(held).build());
            response.onCompleted();
        } catch (UnknownSessionException e) {
            response.onError(Status.FAILED_PRECONDITION.withDescription(e.getMessage()).asRuntimeException());
        } catch (IllegalArgumentException e) {
            response.onError(Status.INVALID_ARGUMENT.withDescription(e.getMessage()).asRuntimeException());
        }
    }

    /**
     * An agent speaks only for the host its certificate names, and only while that certificate is the
     * host's current one (a re-enrolled or forgotten host's old certificate is turned away). Without TLS
     * (tests that ask for plaintext) there is no certificate to check.
     */
    private void requireSpeaksFor(String host) {
        Optional<FleetIdentity> caller = Authorization.caller();
        if (caller.isEmpty()) {
            return;
        }
        if (caller.get().kind() != FleetIdentity.Kind.AGENT || !caller.get().name().equals(host)) {
            throw Status.PERMISSION_DENIED.withDescription("the certificate of " + caller.get()
                    + " cannot speak for host " + Escape.quoted(host)).asRuntimeException();
        }
        X509Certificate certificate = Authorization.callerCertificate().orElseThrow();
        if (!enrolled.accepts(host, certificate.getSerialNumber())) {
            throw Status.PERMISSION_DENIED.withDescription("this certificate no longer speaks for host " + host
                    + " (the host was re-enrolled or forgotten); enroll again with a fresh join token").asRuntimeException();
        }
    }
}
