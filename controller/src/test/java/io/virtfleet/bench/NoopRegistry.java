package io.virtfleet.bench;

import io.grpc.stub.StreamObserver;
import io.virtfleet.proto.v1.HeartbeatRequest;
import io.virtfleet.proto.v1.HeartbeatResponse;
import io.virtfleet.proto.v1.RegisterRequest;
import io.virtfleet.proto.v1.RegisterResponse;
import io.virtfleet.proto.v1.RegistryGrpc;

/**
 * The baseline of the controller load benchmark: answers every call with a constant response and touches no
 * state, so serving it costs only the transport (Netty, HTTP/2, gRPC framing and protobuf decoding).
 */
final class NoopRegistry extends RegistryGrpc.RegistryImplBase {
    private static final RegisterResponse REGISTERED = RegisterResponse.newBuilder()
            .setSessionId("noop").setHeartbeatIntervalMs(1000).setUnreachableAfterMs(5000).build();
    private static final HeartbeatResponse ACCEPTED = HeartbeatResponse.newBuilder().setAcceptedAtUnixMs(1).build();

    @Override
    public void register(RegisterRequest request, StreamObserver<RegisterResponse> response) {
        response.onNext(REGISTERED);
        response.onCompleted();
    }

    @Override
    public void heartbeat(HeartbeatRequest request, StreamObserver<HeartbeatResponse> response) {
        response.onNext(ACCEPTED);
        response.onCompleted();
    }
}
