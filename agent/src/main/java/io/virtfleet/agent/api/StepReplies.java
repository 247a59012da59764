package io.virtfleet.agent.api;

import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import io.virtfleet.agent.hypervisor.DomainOperationException;
import io.virtfleet.agent.hypervisor.Domains;
import io.virtfleet.common.validation.InvalidInputException;
import io.virtfleet.proto.v1.StepResult;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Answers a command whose step finishes later, off the gRPC threads: its outcome as a StepResult, or a
 * status a client can act on. Only an exception nobody foresaw (a bug) becomes INTERNAL, and is logged.
 */
final class StepReplies {
    private static final Logger log = LoggerFactory.getLogger(StepReplies.class);

    private StepReplies() {}

    /** Replies once {@code step} completes; {@code startedNanos} is when the request arrived. */
    static void send(String method, CompletableFuture<Domains.Step> step, long startedNanos,
                     StreamObserver<StepResult> response) {
        step.whenComplete((done, failure) -> {
            try {
                if (failure == null) {
                    response.onNext(StepResult.newBuilder()
                            .setOutcome(done.changed() ? StepResult.Outcome.OUTCOME_CHANGED : StepResult.Outcome.OUTCOME_ALREADY_DONE)
                            .setDetail(done.detail())
                            .setDurationMs((System.nanoTime() - startedNanos) / 1_000_000)
                            .build());
                    response.onCompleted();
                } else {
                    response.onError(status(method, failure).asRuntimeException());
                }
            } catch (RuntimeException e) {
                log.debug("{}: reply not sent, the call is gone: {}", method, e.toString());
            }
        });
    }

    static Status status(String method, Throwable failure) {
        Throwable cause = failure instanceof CompletionException && failure.getCause() != null ? failure.getCause() : failure;
        if (cause instanceof InvalidInputException e) {
            return Status.INVALID_ARGUMENT.withDescription(e.getMessage());
        }
        if (cause instanceof DomainOperationException e) {
            return switch (e.reason()) {
                case NOT_FOUND -> Status.NOT_FOUND.withDescription(e.getMessage());
                case WRONG_STATE -> Status.FAILED_PRECONDITION.withDescription(e.getMessage());
                case UNAVAILABLE -> Status.UNAVAILABLE.withDescription(e.getMessage());
            };
        }
        log.error("{} failed unexpectedly", method, cause);
        return Status.INTERNAL.withDescription("internal error: " + cause);
    }
}
