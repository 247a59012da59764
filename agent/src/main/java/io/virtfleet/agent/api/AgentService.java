package io.virtfleet.agent.api;

import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import io.virtfleet.agent.network.NetworkException;
import io.virtfleet.agent.network.Networks;
import io.virtfleet.agent.report.HostReporter;
import io.virtfleet.proto.v1.AgentGrpc;
import io.virtfleet.proto.v1.DescribeHostRequest;
import io.virtfleet.proto.v1.EnsureNetworkRequest;
import io.virtfleet.proto.v1.HostReport;
import io.virtfleet.proto.v1.StepResult;

/**
 * The agent's gRPC face. Its methods run on the agent's command threads, never on gRPC's event loop, so they
 * may wait on libvirt or on {@code ip}. Networks are served; the other commands that change the host (disks,
 * definitions) arrive with the provisioning work and until then answer UNIMPLEMENTED, as the generated base
 * class does.
 */
public final class AgentService extends AgentGrpc.AgentImplBase {
    private final HostReporter reporter;
    private final Networks networks;

    /** The API's methods, for deciding who may call each. */
    public static io.grpc.ServerServiceDefinition definition() {
        return AgentGrpc.bindService(new AgentGrpc.AsyncService() {});
    }

    public AgentService(HostReporter reporter, Networks networks) {
        this.reporter = reporter;
        this.networks = networks;
    }

    @Override
    public void describeHost(DescribeHostRequest request, StreamObserver<HostReport> response) {
        response.onNext(reporter.report());
        response.onCompleted();
    }

    /** Malformed input is INVALID_ARGUMENT (thrown, for StatusMapping); a host that cannot comply says why. */
    @Override
    public void ensureNetwork(EnsureNetworkRequest request, StreamObserver<StepResult> response) {
        StepResult result;
        try {
            result = networks.ensure(request);
        } catch (NetworkException e) {
            Status status = e.kind() == NetworkException.Kind.UNAVAILABLE ? Status.UNAVAILABLE : Status.FAILED_PRECONDITION;
            throw status.withDescription(e.getMessage()).asRuntimeException();
        }
        response.onNext(result);
        response.onCompleted();
    }
}
