package io.virtfleet.controller.metrics;

import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.virtfleet.common.validation.InvalidInputException;
import io.virtfleet.controller.scheduler.NoHostFitsException;

/** Hears how each VM operation (create, move) ended and how long it took; a feature calls it once per operation. */
@FunctionalInterface
public interface OperationTimer {
    OperationTimer NONE = (operation, outcome, nanos) -> {};

    String SUCCEEDED = "succeeded";
    /** Refused before anything changed: bad input, no host fits, a precondition not met. */
    String REFUSED = "refused";
    String FAILED = "failed";

    void done(String operation, String outcome, long nanos);

    /** Starts the clock on one {@code operation}; its end is reported once, through the returned {@link Timing}. */
    default Timing start(String operation) {
        return new Timing(this, operation, System.nanoTime());
    }

    /** One operation being timed: call {@link #succeeded} or {@link #failed} once when it ends. */
    record Timing(OperationTimer timer, String operation, long startNanos) {
        /** Reports the operation as succeeded and hands back its result. */
        public <T> T succeeded(T result) {
            timer.done(operation, SUCCEEDED, System.nanoTime() - startNanos);
            return result;
        }

        /** Reports the operation as ended by {@code e}, under {@link #outcomeOf}; the caller rethrows it. */
        public void failed(Throwable e) {
            timer.done(operation, outcomeOf(e), System.nanoTime() - startNanos);
        }
    }

    /** The outcome an operation that threw {@code e} is counted under. */
    static String outcomeOf(Throwable e) {
        if (e instanceof NoHostFitsException || e instanceof InvalidInputException) {
            return REFUSED;
        }
        if (e instanceof StatusRuntimeException s) {
            Status.Code c = s.getStatus().getCode();
            return switch (c) {
                case INVALID_ARGUMENT, NOT_FOUND, ALREADY_EXISTS, FAILED_PRECONDITION, PERMISSION_DENIED,
                     RESOURCE_EXHAUSTED, OUT_OF_RANGE -> REFUSED;
                default -> FAILED;
            };
        }
        return FAILED;
    }
}
