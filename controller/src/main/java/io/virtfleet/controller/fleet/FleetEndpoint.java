package io.virtfleet.controller.fleet;

import io.grpc.Context;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.StreamObserver;
import io.virtfleet.common.validation.InvalidInputException;
import io.virtfleet.common.validation.Names;
import io.virtfleet.controller.cpu.CpuModelEndpoint;
import io.virtfleet.controller.fencing.Fence;
import io.virtfleet.controller.fencing.FenceService;
import io.virtfleet.proto.v1.FenceHostRequest;
import io.virtfleet.proto.v1.HostProgress;
import io.virtfleet.proto.v1.UnfenceHostRequest;
import io.virtfleet.controller.install.ProfilesEndpoint;
import io.virtfleet.proto.v1.FleetCpuModel;
import io.virtfleet.proto.v1.GetCpuModelRequest;
import io.virtfleet.proto.v1.RecomputeCpuModelRequest;
import io.virtfleet.controller.registry.HostRecord;
import io.virtfleet.controller.registry.HostRegistry;
import io.virtfleet.controller.registry.Liveness;
import io.virtfleet.controller.trust.Enrollments;
import io.virtfleet.proto.v1.AddOperatorRequest;
import io.virtfleet.proto.v1.CertificateResponse;
import io.virtfleet.proto.v1.CreateJoinTokenRequest;
import io.virtfleet.proto.v1.FleetGrpc;
import io.virtfleet.proto.v1.JoinToken;
import io.virtfleet.proto.v1.ForgetHostRequest;
import io.virtfleet.proto.v1.ForgetHostResponse;
import io.virtfleet.proto.v1.GetHostRequest;
import io.virtfleet.proto.v1.Host;
import io.virtfleet.proto.v1.ListHostsRequest;
import io.virtfleet.proto.v1.ListHostsResponse;
import io.virtfleet.proto.v1.ListProfilesRequest;
import io.virtfleet.proto.v1.ListProfilesResponse;
import io.virtfleet.controller.vm.VmEndpoint;
import io.virtfleet.proto.v1.CreateVmRequest;
import io.virtfleet.proto.v1.DeleteVmRequest;
import io.virtfleet.proto.v1.GetVmRequest;
import io.virtfleet.proto.v1.ListVmsRequest;
import io.virtfleet.proto.v1.ListVmsResponse;
import io.virtfleet.proto.v1.PlaceRequest;
import io.virtfleet.proto.v1.PlacementExplanation;
import io.virtfleet.proto.v1.ReinstallVmRequest;
import io.virtfleet.proto.v1.SetVmRunningRequest;
import io.virtfleet.proto.v1.Vm;
import io.virtfleet.proto.v1.VmProgress;
import io.virtfleet.proto.v1.SetHostDrainingRequest;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.Comparator;
import java.util.Optional;
import java.util.List;
import java.util.concurrent.Executor;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import java.time.Instant;
import io.virtfleet.proto.v1.RevokeOperatorRequest;
import io.virtfleet.proto.v1.RevokeOperatorResponse;

/**
 * The operator's view of the fleet and its levers: hosts, enrollment, operators; VMs via {@link VmEndpoint},
 * install profiles via {@link ProfilesEndpoint}.
 */
public final class FleetEndpoint extends FleetGrpc.FleetImplBase {
    private static final Logger log = LoggerFactory.getLogger(FleetEndpoint.class);
    private final HostRegistry registry;
    private final Liveness liveness;
    private final Enrollments enrollments;
    private final VmEndpoint vms;
    private final ProfilesEndpoint profiles;
    /** Where changes that write state files run: never on the gRPC event loops. */
    private final Executor work;
    private volatile io.virtfleet.controller.adopt.AdoptEndpoint adoption;
    private volatile java.util.function.BiConsumer<String, io.virtfleet.proto.v1.HostState> drainListener = (h, s) -> { };
    private CpuModelEndpoint cpuModel;
    private java.util.function.Function<String, Optional<String>> suspicions = host -> Optional.empty();
    private FenceService fencing;
    private io.virtfleet.controller.failover.FailoverEndpoint failover;

    /**
     * @param work where the levers that write state files (forget, drain, join tokens) and sign certificates
     *             run: not on the gRPC event loops, where an fsync would hold up every agent's heartbeat on that loop
     */
    public FleetEndpoint(HostRegistry registry, Liveness liveness, Enrollments enrollments, VmEndpoint vms,
                         ProfilesEndpoint profiles, Executor work) {
        this.work = work;
        this.registry = registry;
        this.liveness = liveness;
        this.enrollments = enrollments;
        this.vms = vms;
        this.profiles = profiles;
    }

    /** This endpoint, also adopting domains virtfleet did not create. */
    private volatile io.virtfleet.controller.backup.RestoreHoldService restoreHold;

    /** Adds the restore hold's part to drift reports, and its release. */
    public FleetEndpoint withRestoreHold(io.virtfleet.controller.backup.RestoreHoldService service) {
        this.restoreHold = service;
        return this;
    }

    @Override
    public void releaseRestoreHold(io.virtfleet.proto.v1.ReleaseRestoreHoldRequest request,
                                   StreamObserver<io.virtfleet.proto.v1.ReleaseRestoreHoldResponse> response) {
        String operator = Audit.operator();
        boolean follow = request.getFollowRunning();
        boolean recordsWin = request.getRecordsWin();
        java.util.List<String> absent = java.util.List.copyOf(request.getAbsentList());
        io.virtfleet.controller.backup.RestoreHoldService hold = restoreHold;
        if (hold == null) {
            response.onError(io.grpc.Status.FAILED_PRECONDITION.withDescription("the controller does not hold after a"
                    + " restore: nothing to release").asRuntimeException());
            return;
        }
        work.execute(() -> {
            try {
                response.onNext(hold.release(follow, recordsWin, absent, operator));
                response.onCompleted();
            } catch (io.grpc.StatusRuntimeException e) {
                response.onError(e);
            } catch (java.io.IOException e) {
                response.onError(io.grpc.Status.UNAVAILABLE.withDescription("the hold stays: " + e.getMessage())
                        .asRuntimeException());
            } catch (RuntimeException e) {
                response.onError(io.grpc.Status.INTERNAL.withDescription("internal error: " + e).asRuntimeException());
            }
        });
    }

    public FleetEndpoint withAdoption(io.virtfleet.controller.adopt.AdoptEndpoint endpoint) {
        this.adoption = endpoint;
        return this;
    }

    @Override
    public void adoptVms(io.virtfleet.proto.v1.AdoptVmsRequest request,
                         StreamObserver<io.virtfleet.proto.v1.AdoptVmsResponse> response) {
        if (adoption == null) {
            response.onError(io.grpc.Status.UNIMPLEMENTED.withDescription("this controller adopts nothing")
                    .asRuntimeException());
            return;
        }
        adoption.adoptVms(request, response);
    }

    /** This endpoint, also serving the recovery of lost hosts' VMs. */
    public FleetEndpoint withFailover(io.virtfleet.controller.failover.FailoverEndpoint endpoint) {
        this.failover = endpoint;
        return this;
    }

    @Override
    public void recoverHost(io.virtfleet.proto.v1.RecoverHostRequest request, StreamObserver<VmProgress> response) {
        if (failover == null) {
            response.onError(io.grpc.Status.UNIMPLEMENTED.withDescription("this controller does not recover hosts")
                    .asRuntimeException());
            return;
        }
        failover.recoverHost(request, response);
    }

    /** This endpoint, also serving the fleet CPU model and each host's verdict on it. */
    public FleetEndpoint withCpuModel(CpuModelEndpoint endpoint) {
        this.cpuModel = endpoint;
        return this;
    }

    /** This endpoint, also fencing and unfencing hosts. */
    public FleetEndpoint withFencing(FenceService service) {
        this.fencing = service;
        return this;
    }

    /** Says why a silent host is suspected lost (the host-loss watch), in its state's reason. */
    public FleetEndpoint withSuspicions(java.util.function.Function<String, Optional<String>> suspicions) {
        this.suspicions = suspicions;
        return this;
    }

    @Override
    public void getCpuModel(GetCpuModelRequest request, StreamObserver<FleetCpuModel> response) {
        if (cpuModel == null) {
            super.getCpuModel(request, response); // UNIMPLEMENTED: a controller built without the fleet CPU model
            return;
        }
        cpuModel.getCpuModel(request, response);
    }

    @Override
    public void recomputeCpuModel(RecomputeCpuModelRequest request, StreamObserver<FleetCpuModel> response) {
        if (cpuModel == null) {
            super.recomputeCpuModel(request, response);
            return;
        }
        cpuModel.recomputeCpuModel(request, response);
    }

    /** The operator's view of a host, with its verdict on the fleet CPU model. */
    private Host host(HostRecord r, Liveness.Verdict verdict, long now) {
        Host h = HostViews.toHost(r, verdict, now);
        Optional<String> suspected = suspicions.apply(r.name());
        if (verdict.state() == io.virtfleet.proto.v1.HostState.HOST_STATE_UNREACHABLE && suspected.isPresent()) {
            h = h.toBuilder().setStateReason(h.getStateReason() + "; " + suspected.get()).build();
        }
        Optional<Fence> fence = liveness.fences().of(r.name());
        if (fence.isPresent()) {
            h = h.toBuilder().setFence(FenceService.toProto(fence.get())).build();
            Optional<String> lapse = FenceService.lapse(fence.get(), registry.clock().instant());
            if (lapse.isPresent()) {
                h = h.toBuilder().setStateReason(h.getStateReason() + (h.getStateReason().isEmpty() ? "" : "; ")
                        + lapse.get()).build();
            }
        }
        return cpuModel == null ? h : h.toBuilder().setFleetCpuProblem(cpuModel.fleetCpu().problem(r.report()))
                .setFleetCpuModel(cpuModel.fleetCpu().label()).build();
    }

    /** Tells {@code listener} of each host whose state a drain or undrain changed (placement listens). */
    public void onDrainChange(java.util.function.BiConsumer<String, io.virtfleet.proto.v1.HostState> listener) {
        this.drainListener = listener;
    }

    /**
     * Stops the levers' worker; what is queued is dropped. A stopped controller must not write its successor's
     * files (drains, operators) from a task still queued here.
     */
    public void close() {
        if (work instanceof java.util.concurrent.ExecutorService service) {
            service.shutdownNow();
        }
    }

    @Override
    public void syncHosts(io.virtfleet.proto.v1.SyncHostsRequest request, StreamObserver<VmProgress> response) {
        vms.syncHosts(request, response);
    }

    @Override
    public void getDrift(io.virtfleet.proto.v1.GetDriftRequest request, StreamObserver<io.virtfleet.proto.v1.DriftReport> response) {
        io.virtfleet.controller.backup.RestoreHoldService hold = restoreHold;
        if (hold == null) {
            vms.getDrift(request, response);
            return;
        }
        vms.getDrift(request, new StreamObserver<>() {
            @Override
            public void onNext(io.virtfleet.proto.v1.DriftReport report) {
                response.onNext(hold.decorate(report)); // on the VM work thread, in memory only
            }

            @Override
            public void onError(Throwable t) {
                response.onError(t);
            }

            @Override
            public void onCompleted() {
                response.onCompleted();
            }
        });
    }

    @Override
    public void getVmHistory(GetVmRequest request, StreamObserver<io.virtfleet.proto.v1.VmHistory> response) {
        vms.getVmHistory(request, response);
    }

    @Override
    public void listProfiles(ListProfilesRequest request, StreamObserver<ListProfilesResponse> response) {
        profiles.listProfiles(request, response);
    }

    @Override
    public void place(PlaceRequest request, StreamObserver<PlacementExplanation> response) {
        vms.place(request, response);
    }

    @Override
    public void capacity(io.virtfleet.proto.v1.CapacityRequest request,
                         StreamObserver<io.virtfleet.proto.v1.CapacityReport> response) {
        vms.capacity(request, response);
    }

    @Override
    public void createVm(CreateVmRequest request, StreamObserver<VmProgress> response) {
        vms.createVm(request, response);
    }

    @Override
    public void listVms(ListVmsRequest request, StreamObserver<ListVmsResponse> response) {
        vms.listVms(request, response);
    }

    @Override
    public void getVm(GetVmRequest request, StreamObserver<Vm> response) {
        vms.getVm(request, response);
    }

    @Override
    public void setVmRunning(SetVmRunningRequest request, StreamObserver<Vm> response) {
        vms.setVmRunning(request, response);
    }

    @Override
    public void reinstallVm(ReinstallVmRequest request, StreamObserver<Vm> response) {
        vms.reinstallVm(request, response);
    }

    @Override
    public void deleteVm(DeleteVmRequest request, StreamObserver<VmProgress> response) {
        vms.deleteVm(request, response);
    }

    @Override
    public void moveVm(io.virtfleet.proto.v1.MoveVmRequest request, StreamObserver<VmProgress> response) {
        vms.moveVm(request, response);
    }

    @Override
    public void evacuateHost(io.virtfleet.proto.v1.EvacuateHostRequest request, StreamObserver<VmProgress> response) {
        vms.evacuateHost(request, response);
    }

    @Override
    public void cancelMove(io.virtfleet.proto.v1.CancelMoveRequest request,
                           StreamObserver<io.virtfleet.proto.v1.CancelMoveResponse> response) {
        vms.cancelMove(request, response);
    }

    @Override
    public void listHosts(ListHostsRequest request, StreamObserver<ListHostsResponse> response) {
        long now = registry.nanoTime();
        List<Host> hosts = registry.all().stream()
                .map(r -> host(r, liveness.judge(r, now), now))
                .sorted(BY_LOAD)
                .toList();
        ListHostsResponse.Builder list = ListHostsResponse.newBuilder().addAllHosts(hosts).setTakenAtUnixMs(registry.unixMillis());
        io.virtfleet.controller.backup.RestoreHoldService hold = restoreHold;
        if (hold != null && hold.hold().holding()) { // volatile reads only: fine on the event loop
            list.setRestoreHoldBackupTakenAt(hold.hold().backupTakenAt().map(Object::toString).orElse("?"));
        }
        response.onNext(list.build());
        response.onCompleted();
    }

    @Override
    public void getHost(GetHostRequest request, StreamObserver<Host> response) {
        String name = Names.hostName("name", request.getName());
        long now = registry.nanoTime();
        registry.get(name).ifPresentOrElse(r -> {
            response.onNext(host(r, liveness.judge(r, now), now));
            response.onCompleted();
        }, () -> response.onError(notFound(name)));
    }

    @Override
    public void forgetHost(ForgetHostRequest request, StreamObserver<ForgetHostResponse> response) {
        String name = Names.hostName("name", request.getName());
        offload(response, () -> forgetHost(name, response));
    }

    private void forgetHost(String name, StreamObserver<ForgetHostResponse> response) {
        boolean enrolled = enrollments.forget(name);
        var record = registry.forget(name);
        if (record.isEmpty() && !enrolled) {
            response.onError(notFound(name));
            return;
        }
        Audit.record("forgot host " + name + record.map(r -> " (agent " + r.agentId() + ")").orElse("")
                + (enrolled ? "; its certificate no longer speaks for it" : ""));
        response.onNext(ForgetHostResponse.newBuilder().setReleasedAgentId(record.map(HostRecord::agentId).orElse("")).build());
        response.onCompleted();
    }

    @Override
    public void setHostDraining(SetHostDrainingRequest request, StreamObserver<Host> response) {
        String name = Names.hostName("name", request.getName());
        if (registry.get(name).isEmpty()) {
            response.onError(notFound(name));
            return;
        }
        offload(response, () -> setHostDraining(name, request.getDraining(), response));
    }

    private void setHostDraining(String name, boolean draining, StreamObserver<Host> response) {
        Optional<HostRecord> record = registry.get(name);
        if (record.isEmpty()) {
            response.onError(notFound(name));
            return;
        }
        try {
            if (liveness.drains().set(name, draining)) {
                Audit.record((draining ? "drained" : "undrained") + " host " + name);
            }
        } catch (IOException e) {
            response.onError(Status.UNAVAILABLE.withDescription("cannot record the drain: " + e.getMessage())
                    .asRuntimeException());
            return;
        }
        long now = registry.nanoTime();
        Liveness.Verdict verdict = liveness.judge(record.get(), now);
        drainListener.accept(name, verdict.state());
        response.onNext(host(record.get(), verdict, now));
        response.onCompleted();
    }

    @Override
    public void fenceHost(FenceHostRequest request, StreamObserver<HostProgress> response) {
        if (fencing == null) {
            super.fenceHost(request, response); // UNIMPLEMENTED: a controller built without fencing
            return;
        }
        String name = Names.hostName("name", request.getName());
        String by = Audit.operator();
        offload(response, () -> {
            boolean before = fencing.view().of(name).isPresent();
            Fence fence = fencing.fence(name, request.getConfirmDown(), by, response::onNext);
            Optional<HostRecord> record = registry.get(name);
            long now = registry.nanoTime();
            Host shown;
            if (record.isPresent()) {
                Liveness.Verdict verdict = liveness.judge(record.get(), now);
                drainListener.accept(name, verdict.state()); // placement never chooses it again
                shown = host(record.get(), verdict, now);
            } else {
                // Not heard from since the controller started: placement does not know it either.
                shown = Host.newBuilder().setName(name).setState(io.virtfleet.proto.v1.HostState.HOST_STATE_FENCED)
                        .setStateReason("lost: not heard from since the controller started").build();
            }
            response.onNext(HostProgress.newBuilder().setStep("fenced")
                    .setHost(shown)
                    .setDetail((before ? "already " : "") + describe(fence)).build());
            if (failover == null) {
                response.onCompleted();
                return;
            }
            failover.recoverAfterFence(name, by, response); // on the VM executor: the levers' thread is free again
        });
    }

    @Override
    public void unfenceHost(UnfenceHostRequest request, StreamObserver<Host> response) {
        if (fencing == null) {
            super.unfenceHost(request, response);
            return;
        }
        String name = Names.hostName("name", request.getName());
        String by = Audit.operator();
        offload(response, () -> {
            fencing.unfence(name, by);
            HostRecord record = registry.get(name).orElseThrow(() -> notFound(name));
            long now = registry.nanoTime();
            Liveness.Verdict verdict = liveness.judge(record, now);
            drainListener.accept(name, verdict.state()); // placement may use it again
            response.onNext(host(record, verdict, now));
            response.onCompleted();
        });
    }

    private static String describe(Fence f) {
        String addresses = f.addresses().isEmpty() ? "nothing blocklisted"
                : String.join(", ", f.addresses()) + " on Ceph's blocklist until " + f.expires();
        return (f.kind() == Fence.Kind.CEPH ? "fenced in Ceph" : "confirmed down") + " by " + f.by() + " at "
                + f.fencedAt() + ": " + addresses;
    }

    @Override
    public void createJoinToken(CreateJoinTokenRequest request, StreamObserver<JoinToken> response) {
        offload(response, () -> {
            response.onNext(enrollments.createJoinToken(request));
            response.onCompleted();
        });
    }

    @Override
    public void addOperator(AddOperatorRequest request, StreamObserver<CertificateResponse> response) {
        offload(response, () -> {
            response.onNext(enrollments.addOperator(request));
            response.onCompleted();
        });
    }

    /**
     * Runs a handler's work on {@link #work}, in the call's context (the operator's identity, for the audit log),
     * and answers each way it can fail as {@code StatusMapping} would on the event loop.
     */
    private void offload(StreamObserver<?> response, Runnable handler) {
        work.execute(Context.current().wrap(() -> {
            try {
                handler.run();
            } catch (InvalidInputException e) {
                response.onError(Status.INVALID_ARGUMENT.withDescription(e.getMessage()).asRuntimeException());
            } catch (StatusRuntimeException e) {
                response.onError(e);
            } catch (UncheckedIOException e) {
                response.onError(Status.UNAVAILABLE.withDescription("cannot store the change: " + e.getMessage())
                        .asRuntimeException());
            } catch (RuntimeException e) {
                log.error("a fleet operation failed unexpectedly", e);
                response.onError(Status.INTERNAL.withDescription("internal error: " + e).asRuntimeException());
            }
        }));
    }

    @Override
    public void revokeOperator(RevokeOperatorRequest request, StreamObserver<RevokeOperatorResponse> response) {
        String name = Names.vmName("name", request.getName());
        String by = Audit.operator();
        offload(response, () -> {
            Instant from = enrollments.revokeOperator(name, by);
            response.onNext(RevokeOperatorResponse.newBuilder().setIssuedBeforeUnixMs(from.toEpochMilli()).build());
            response.onCompleted();
        });
    }

    private RuntimeException notFound(String name) {
        List<String> known = registry.all().stream().map(HostRecord::name).sorted().toList();
        return Status.NOT_FOUND.withDescription("no host named \"" + name + "\"; known hosts: "
                + (known.isEmpty() ? "(none)" : String.join(", ", known))).asRuntimeException();
    }

    /**
     * Ready hosts first, least loaded first (1-minute load per hardware thread); then draining, degraded,
     * unreachable and fenced hosts, in that order: the further down, the less a host can take a VM.
     */
    static final Comparator<Host> BY_LOAD = Comparator
            .comparingInt((Host h) -> switch (h.getState()) {
                case HOST_STATE_READY -> 0;
                case HOST_STATE_DRAINING -> 1;
                case HOST_STATE_DEGRADED -> 2;
                case HOST_STATE_FENCED -> 4;
                default -> 3;
            })
            .thenComparingDouble(HostViews::loadPerThread)
            .thenComparing(Host::getName);
}
