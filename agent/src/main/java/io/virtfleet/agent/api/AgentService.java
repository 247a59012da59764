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
import java.util.concurrent.CompletionException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The agent's gRPC face. Its methods run on the agent's command threads, never on gRPC's event loop; network
 * steps run on a thread of their own. Networks are served; the other commands that change the host (disks,
 * definitions) arrive with the provisioning work and until then answer UNIMPLEMENTED, as the generated base
 * class does.
 */
public final class AgentService extends AgentGrpc.AgentImplBase {
    private static final Logger log = LoggerFactory.getLogger(AgentService.class);

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

    /**
     * Malformed input is refused at once (INVALID_ARGUMENT, through StatusMapping); the step itself replies
     * from the network thread.
     */
    @Override
    public void ensureNetwork(EnsureNetworkRequest request, StreamObserver<StepResult> response) {
        networks.ensure(request).whenComplete((result, failure) -> {
            try {
                if (failure == null) {
                    response.onNext(result);
                    response.onCompleted();
                } else {
                    response.onError(networkStatus(failure).asRuntimeException());
                }
            } catch (RuntimeException e) {
                log.debug("EnsureNetwork: reply not sent, the call is gone: {}", e.toString());
            }
        });
    }

    /** A host that cannot comply says why; only what nobody foresaw (a bug) is INTERNAL, and logged. */
    private static Status networkStatus(Throwable failure) {
        Throwable cause = failure instanceof CompletionException && failure.getCause() != null ? failure.getCause() : failure;
        if (cause instanceof NetworkException e) {
            return (e.kind() == NetworkException.Kind.UNAVAILABLE ? Status.UNAVAILABLE : Status.FAILED_PRECONDITION)
                    .withDescription(e.getMessage());
        }
        log.error("EnsureNetwork failed unexpectedly", cause);
        return Status.INTERNAL.withDescription("internal error: " + cause);
    }
}
