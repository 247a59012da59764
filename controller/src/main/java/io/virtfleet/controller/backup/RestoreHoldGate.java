package io.virtfleet.controller.backup;

import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import io.virtfleet.proto.v1.FleetGrpc;
import java.util.Set;

/**
 * Refuses, while a restored controller holds ({@link RestoreHold}), every operator request that would stop, start,
 * define, undefine or move a domain on a host: with records possibly older than what runs, any of them could act
 * on a VM where it no longer is. Reads, enrollment, host registration, unfencing a
 * host (it changes no domain: it takes the host's addresses off Ceph's blocklist and drops the verdict) and the hold's
 * own release stay open. Runs
 * on the event loop: a volatile read, no I/O.
 */
public final class RestoreHoldGate implements ServerInterceptor {
    static final Set<String> REFUSED = Set.of(
            FleetGrpc.getCreateVmMethod().getFullMethodName(),
            FleetGrpc.getSetVmRunningMethod().getFullMethodName(),
            FleetGrpc.getReinstallVmMethod().getFullMethodName(),
            FleetGrpc.getDeleteVmMethod().getFullMethodName(),
            FleetGrpc.getMoveVmMethod().getFullMethodName(),
            FleetGrpc.getCancelMoveMethod().getFullMethodName(),
            FleetGrpc.getEvacuateHostMethod().getFullMethodName(),
            FleetGrpc.getRecoverHostMethod().getFullMethodName(),
            FleetGrpc.getFenceHostMethod().getFullMethodName(),
            FleetGrpc.getSyncHostsMethod().getFullMethodName(),
            FleetGrpc.getAdoptVmsMethod().getFullMethodName());

    private final RestoreHold hold;

    public RestoreHoldGate(RestoreHold hold) {
        this.hold = hold;
    }

    @Override
    public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers, ServerCallHandler<Q, R> next) {
        if (hold.holding() && REFUSED.contains(call.getMethodDescriptor().getFullMethodName())) {
            call.close(Status.FAILED_PRECONDITION.withDescription("the controller holds after a restore from a backup"
                    + " taken at " + hold.backupTakenAt().map(Object::toString).orElse("?") + ": it changes no domain"
                    + " on any host until an admin has compared the records with what runs (virtfleet drift) and"
                    + " released the hold (virtfleet restore-hold release --help)"), new Metadata());
            return new ServerCall.Listener<>() {};
        }
        return next.startCall(call, headers);
    }
}
