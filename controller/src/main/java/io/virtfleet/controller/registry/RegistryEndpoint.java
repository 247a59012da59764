package io.virtfleet.controller.registry;

import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import io.virtfleet.common.validation.Endpoint;
import io.virtfleet.common.validation.InvalidInputException;
import io.virtfleet.common.validation.Names;
import io.virtfleet.proto.v1.HeartbeatRequest;
import io.virtfleet.proto.v1.HeartbeatResponse;
import io.virtfleet.proto.v1.RegisterRequest;
import io.virtfleet.proto.v1.RegisterResponse;
import io.virtfleet.proto.v1.RegistryGrpc;
import java.time.Duration;
import java.util.Set;
import java.util.regex.Pattern;

/** The registry's gRPC face: validates what agents send, then hands it to {@link HostRegistry}. */
public final class RegistryEndpoint extends RegistryGrpc.RegistryImplBase {
    private static final Pattern AGENT_ID = Pattern.compile("[A-Za-z0-9-]{1,64}");
    private static final Set<String> TIERS = Set.of("ssd", "sata", "raw");

    private final HostRegistry registry;
    private final Duration heartbeatInterval;
    private final Duration grace;

    public RegistryEndpoint(HostRegistry registry, Duration heartbeatInterval, Duration grace) {
        this.registry = registry;
        this.heartbeatInterval = heartbeatInterval;
        this.grace = grace;
    }

    @Override
    public void register(RegisterRequest request, StreamObserver<RegisterResponse> response) {
        Names.hostName("report.host_name", request.getReport().getHostName());
        if (!AGENT_ID.matcher(request.getAgentId()).matches()) {
            throw new InvalidInputException("agent_id", request.getAgentId(), "1-64 characters of A-Z, a-z, 0-9 and '-'");
        }
        Endpoint endpoint = Endpoint.parse("agent_endpoint", request.getAgentEndpoint());
        for (String tier : request.getStorageTiersList()) {
            if (!TIERS.contains(tier)) {
                throw new InvalidInputException("storage_tiers", tier, "ssd, sata or raw");
            }
        }
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
                .build());
        response.onCompleted();
    }

    @Override
    public void heartbeat(HeartbeatRequest request, StreamObserver<HeartbeatResponse> response) {
        try {
            HostRecord record = registry.heartbeat(request.getSessionId(), request.getReport());
            response.onNext(HeartbeatResponse.newBuilder().setAcceptedAtUnixMs(record.lastSeenUnixMs()).build());
            response.onCompleted();
        } catch (UnknownSessionException e) {
            response.onError(Status.FAILED_PRECONDITION.withDescription(e.getMessage()).asRuntimeException());
        } catch (IllegalArgumentException e) {
            response.onError(Status.INVALID_ARGUMENT.withDescription(e.getMessage()).asRuntimeException());
        }
    }
}
