package io.virtfleet.controller.ovh;

import io.grpc.Status;

/**
 * OVH refused a request, failed a task, could not be reached or did not answer in time. The message names the
 * operation and, when OVH answered, carries OVH's own message verbatim; the status says which of these it was:
 * FAILED_PRECONDITION (OVH refused or its task failed: trying again changes nothing), INVALID_ARGUMENT (OVH does not
 * know what the operator named), UNAVAILABLE (OVH could not be reached or answered with a server error) or
 * DEADLINE_EXCEEDED (OVH, or its task, did not finish in time).
 */
public final class OvhException extends Exception {
    private final Status.Code code;
    private final int httpStatus;
    private final String ovhMessage;
    private final String errorCode;

    OvhException(Status.Code code, String message, int httpStatus, String ovhMessage, String errorCode) {
        super(message);
        this.code = code;
        this.httpStatus = httpStatus;
        this.ovhMessage = ovhMessage;
        this.errorCode = errorCode;
    }

    OvhException(Status.Code code, String message, int httpStatus, String ovhMessage) {
        this(code, message, httpStatus, ovhMessage, null);
    }

    OvhException(Status.Code code, String message) {
        this(code, message, 0, null);
    }

    /** The same failure, told with more of what was going on (what this create did already, for instance). */
    public OvhException withMore(String more) {
        OvhException e = new OvhException(code, getMessage() + "; " + more, httpStatus, ovhMessage, errorCode);
        e.initCause(this);
        return e;
    }

    /** The same failure reported as a refusal of the operator's input (OVH does not know what was named). */
    OvhException asInvalidInput(String message) {
        OvhException e = new OvhException(Status.Code.INVALID_ARGUMENT, message, httpStatus, ovhMessage, errorCode);
        e.initCause(this);
        return e;
    }

    public Status.Code code() {
        return code;
    }

    public Status status() {
        return Status.fromCode(code).withDescription(getMessage());
    }

    /** The HTTP status OVH answered with, or 0 when it did not answer. */
    public int httpStatus() {
        return httpStatus;
    }

    /** OVH's {@code errorCode} (e.g. {@code INVALID_CREDENTIAL}), or null when OVH's answer had none. */
    public String errorCode() {
        return errorCode;
    }

    /** Whether trying the same again later may work: OVH could not be reached, failed, or did not answer in time. */
    public boolean passing() {
        return code == Status.Code.UNAVAILABLE || code == Status.Code.DEADLINE_EXCEEDED;
    }

    /** OVH's own message, or null when OVH did not answer with one. */
    public String ovhMessage() {
        return ovhMessage;
    }
}
