package io.virtfleet.agent.api;

import io.grpc.stub.StreamObserver;
import io.virtfleet.agent.report.HostReporter;
import io.virtfleet.proto.v1.AgentGrpc;
import io.virtfleet.proto.v1.DescribeHostRequest;
import io.virtfleet.proto.v1.HostReport;

/**
 * The agent's gRPC face. Commands that change the host (disks, definitions, networks) arrive with the
 * provisioning work; until then they answer UNIMPLEMENTED, as the generated base class does.
 */
public final class AgentService extends AgentGrpc.AgentImplBase {
    private final HostReporter reporter;

    /** The API's methods, for deciding who may call each. */
    public static io.grpc.ServerServiceDefinition definition() {
        return AgentGrpc.bindService(new AgentGrpc.AsyncService() {});
    }

    public AgentService(HostReporter reporter) {
        this.reporter = reporter;
    }

    @Override
    public void describeHost(DescribeHostRequest request, StreamObserver<HostReport> response) {
        response.onNext(reporter.report());
        response.onCompleted();
    }
}
