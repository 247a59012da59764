package io.virtfleet.controller.dashboard;

import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.stub.MetadataUtils;
import io.virtfleet.proto.v1.FleetGrpc;
import java.util.concurrent.TimeUnit;

/**
 * The dashboard's calls to the controller's Fleet service, made as a session's operator: over an in-process channel
 * to the same service objects the gRPC port serves, behind the same interceptors (authorization by the rules of
 * AccessRules, the restore hold's gate, status mapping). So a viewer is refused what the CLI refuses them, and the
 * audit log names the operator.
 */
final class OperatorCalls {
    /** As the CLI's deadline: long enough for a loaded controller. */
    static final long DEADLINE_SECONDS = 10;
    /** For levers that wait for a host (starting, stopping a VM), made asynchronously. */
    static final long LONG_DEADLINE_SECONDS = 120;

    private final ManagedChannel channel;

    OperatorCalls(ManagedChannel channel) {
        this.channel = channel;
    }

    /** A stub acting as the operator of the session whose secret is {@code sessionSecret}. */
    FleetGrpc.FleetBlockingStub as(String sessionSecret) {
        return stub(sessionSecret).withDeadlineAfter(DEADLINE_SECONDS, TimeUnit.SECONDS);
    }

    /**
     * An asynchronous stub, for the levers: a worker starts the call and answers its page, the call runs on (a move
     * for as long as it lasts). The caller sets the deadline.
     */
    FleetGrpc.FleetStub async(String sessionSecret) {
        return FleetGrpc.newStub(channel).withInterceptors(MetadataUtils.newAttachHeadersInterceptor(headers(sessionSecret)));
    }

    private FleetGrpc.FleetBlockingStub stub(String sessionSecret) {
        return FleetGrpc.newBlockingStub(channel).withInterceptors(MetadataUtils.newAttachHeadersInterceptor(headers(sessionSecret)));
    }

    private static Metadata headers(String sessionSecret) {
        Metadata md = new Metadata();
        md.put(DashboardLogins.SESSION_HEADER, sessionSecret);
        return md;
    }
}
