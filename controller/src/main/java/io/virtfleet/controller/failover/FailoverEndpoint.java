package io.virtfleet.controller.failover;

import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.StreamObserver;
import io.virtfleet.common.validation.InvalidInputException;
import io.virtfleet.common.validation.Names;
import io.virtfleet.controller.fleet.Audit;
import io.virtfleet.proto.v1.HostProgress;
import io.virtfleet.proto.v1.RecoverHostRequest;
import io.virtfleet.proto.v1.VmProgress;
import java.util.concurrent.Executor;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The RecoverHost lever: the request checked on the calling thread, the recovery (which waits for agents, OVH and the
 * definitions repository) run on the VM executor, never on the gRPC event loops. Hanging up does not stop it: a VM
 * half-recovered is worse than one recovered while nobody watches.
 */
public final class FailoverEndpoint {
    private static final Logger log = LoggerFactory.getLogger(FailoverEndpoint.class);

    private final Failover failover;
    private final Executor work;

    public FailoverEndpoint(Failover failover, Executor work) {
        this.failover = failover;
        this.work = work;
    }

    public void recoverHost(RecoverHostRequest request, StreamObserver<VmProgress> response) {
        String host = Names.hostName("name", request.getName());
        String operator = Audit.operator();
        work.execute(() -> {
            try {
                failover.recover(host, operator, p -> {
                    try {
                        response.onNext(p);
                    } catch (RuntimeException e) {
                        log.debug("recovery of {}: the operator is gone, it goes on: {}", host, e.toString());
                    }
                });
                response.onCompleted();
            } catch (InvalidInputException e) {
                response.onError(Status.INVALID_ARGUMENT.withDescription(e.getMessage()).asRuntimeException());
            } catch (StatusRuntimeException e) {
                response.onError(e);
            } catch (RuntimeException e) {
                log.error("recovery of host {} failed unexpectedly", host, e);
                response.onError(Status.INTERNAL.withDescription("internal error: " + e).asRuntimeException());
            }
        });
    }

    /**
     * Recovers a host just fenced by an operator, on the VM executor, telling {@code response} each step as host
     * progress and completing it: the fence lever's second half, so that {@code host fence} ends with the VMs
     * running elsewhere (or listed with why not).
     */
    public void recoverAfterFence(String host, String operator, StreamObserver<HostProgress> response) {
        work.execute(() -> {
            try {
                failover.recover(host, operator, p -> {
                    HostProgress.Builder step = HostProgress.newBuilder().setStep(p.getStep()).setVm(p.getVmName())
                            .setDetail(p.getDetail());
                    if (p.hasVmsLeft()) {
                        step.setVmsLeft(p.getVmsLeft());
                    }
                    try {
                        response.onNext(step.build());
                    } catch (RuntimeException e) {
                        log.debug("recovery of {}: the operator is gone, it goes on: {}", host, e.toString());
                    }
                });
                response.onCompleted();
            } catch (StatusRuntimeException e) {
                // The fence is recorded already: this is no refusal of the command, only of its second half (exit 8,
                // something left), with the reason and the way to finish it.
                response.onNext(HostProgress.newBuilder().setStep("recovery-refused").setDetail(host + " is fenced;"
                        + " its VMs were not recovered: " + e.getStatus().getDescription() + " (then: virtfleet host"
                        + " recover " + host + ")").build());
                response.onCompleted();
            } catch (RuntimeException e) {
                log.error("recovery of host {} failed unexpectedly", host, e);
                response.onError(Status.INTERNAL.withDescription("internal error: " + e).asRuntimeException());
            }
        });
    }
}
