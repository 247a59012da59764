package io.virtfleet.controller.adopt;

import io.grpc.Context;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import io.virtfleet.common.validation.InvalidInputException;
import io.virtfleet.controller.fleet.Audit;
import io.virtfleet.proto.v1.AdoptVmsRequest;
import io.virtfleet.proto.v1.AdoptVmsResponse;
import java.io.IOException;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** Fleet.AdoptVms: the request checked on the calling thread, the adoption (agent calls, commits) on the VM executor. */
public final class AdoptEndpoint {
    private static final Logger log = LoggerFactory.getLogger(AdoptEndpoint.class);

    private final Adoptions adoptions;
    private final Executor work;

    public AdoptEndpoint(Adoptions adoptions, Executor work) {
        this.adoptions = adoptions;
        this.work = work;
    }

    public void adoptVms(AdoptVmsRequest request, StreamObserver<AdoptVmsResponse> response) {
        Adoptions.validate(request); // INVALID_ARGUMENT through the status mapping, before anything is read
        String operator = Audit.operator();
        if (response instanceof ServerCallStreamObserver<AdoptVmsResponse> call) {
            call.setOnCancelHandler(() -> log.info("the operator hung up; the adoption goes on to its end"));
        }
        try {
            // Not the caller's context: its cancellation (Ctrl-C) or deadline must not cut the agent calls of an
            // adoption half-way (a record committed, its AdoptDomain or its undo cancelled).
            work.execute(Context.ROOT.wrap(() -> {
                try {
                    response.onNext(adoptions.adopt(request, operator));
                    response.onCompleted();
                } catch (InvalidInputException e) {
                    response.onError(Status.INVALID_ARGUMENT.withDescription(e.getMessage()).asRuntimeException());
                } catch (StatusRuntimeException e) {
                    response.onError(e);
                } catch (IOException e) {
                    response.onError(Status.UNAVAILABLE.withDescription("definitions repository: " + e.getMessage())
                            .asRuntimeException());
                } catch (RuntimeException e) {
                    log.error("adoption failed unexpectedly", e);
                    response.onError(Status.INTERNAL.withDescription("internal error: " + e).asRuntimeException());
                }
            }));
        } catch (RejectedExecutionException e) {
            response.onError(Status.UNAVAILABLE.withDescription("the controller is stopping").asRuntimeException());
        }
    }
}
