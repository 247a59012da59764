package io.virtfleet.controller.vm;

import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import io.virtfleet.common.validation.InvalidInputException;
import io.virtfleet.common.validation.Names;
import io.virtfleet.common.validation.VmSpecs;
import io.virtfleet.controller.fleet.Audit;
import io.virtfleet.controller.ovh.OvhException;
import io.virtfleet.controller.reconcile.StepFailedException;
import io.virtfleet.controller.scheduler.Capacity;
import io.virtfleet.controller.scheduler.Explanation;
import io.virtfleet.controller.scheduler.NoHostFitsException;
import io.virtfleet.controller.scheduler.Verdict;
import io.virtfleet.controller.reconcile.Progress;
import io.virtfleet.controller.replication.FanOut;
import io.virtfleet.controller.move.Evacuation;
import io.virtfleet.controller.move.Moves;
import io.virtfleet.proto.v1.EvacuateHostRequest;
import io.virtfleet.proto.v1.CancelMoveRequest;
import io.virtfleet.proto.v1.CancelMoveResponse;
import io.virtfleet.proto.v1.MoveVmRequest;
import io.virtfleet.proto.v1.CapacityReport;
import io.virtfleet.proto.v1.CapacityRequest;
import io.virtfleet.proto.v1.CreateVmRequest;
import io.virtfleet.proto.v1.HostCapacity;
import io.virtfleet.proto.v1.DriftReport;
import io.virtfleet.proto.v1.GetDriftRequest;
import io.virtfleet.proto.v1.SyncHostsRequest;
import io.virtfleet.proto.v1.VmHistory;
import io.virtfleet.proto.v1.DeleteVmRequest;
import io.virtfleet.proto.v1.GetVmRequest;
import io.virtfleet.proto.v1.HostVerdict;
import io.virtfleet.proto.v1.ListVmsRequest;
import io.virtfleet.proto.v1.ListVmsResponse;
import io.virtfleet.proto.v1.PlaceRequest;
import io.virtfleet.proto.v1.PlacementExplanation;
import io.virtfleet.proto.v1.ReinstallVmRequest;
import io.virtfleet.proto.v1.SetVmRunningRequest;
import io.virtfleet.proto.v1.Vm;
import io.virtfleet.proto.v1.VmProgress;
import io.virtfleet.proto.v1.VmSpec;
import java.io.IOException;
import java.util.concurrent.Executor;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The VM half of the Fleet API. Requests are validated on the calling thread (a bad one is refused before
 * anything starts); the work, which waits for agents and for OVH's API, runs on the VM executor, never on the
 * event loops.
 */
public final class VmEndpoint {
    private static final Logger log = LoggerFactory.getLogger(VmEndpoint.class);

    private final VmService vms;
    private final Moves moves;
    private final Evacuation evacuation;
    private final Executor work;
    private volatile java.util.function.Function<String, java.util.Optional<String>> otherPendingWork =
            name -> java.util.Optional.empty();

    public VmEndpoint(VmService vms, Moves moves, Evacuation evacuation, Executor work) {
        this.vms = vms;
        this.moves = moves;
        this.evacuation = evacuation;
        this.work = work;
    }

    /** Also tells, in a VM's move_pending, what else is unsettled for it (a lost host's failover). */
    public VmEndpoint alsoPendingWork(java.util.function.Function<String, java.util.Optional<String>> work) {
        this.otherPendingWork = work;
        return this;
    }

    /** Like a move, an evacuation stops when the operator hangs up: its moves in flight are cancelled. */
    public void evacuateHost(EvacuateHostRequest request, StreamObserver<VmProgress> response) {
        String host = Names.hostName("name", request.getName());
        int parallel = Evacuation.parallel(request.getParallel());
        String operator = Audit.operator();
        Evacuation.Run run = evacuation.newRun();
        if (response instanceof ServerCallStreamObserver<VmProgress> call) {
            call.setOnCancelHandler(() -> {
                log.info("the operator hung up: the evacuation of {} stops", host);
                run.cancel();
            });
        }
        run(response, () -> {
            log.info("operator {}: evacuate host {}", operator, host);
            evacuation.run(host, parallel, operator, run, response::onNext);
            response.onCompleted();
        });
    }

    /**
     * A move is the one VM operation the operator's hang-up stops: aborting a live migration leaves the VM running
     * on its source with nothing changed, so Ctrl-C (or a dropped connection) cancels it.
     */
    public void moveVm(MoveVmRequest request, StreamObserver<VmProgress> response) {
        String name = Names.vmName("name", request.getName());
        String to = request.getToHost().isEmpty() ? null : Names.hostName("to_host", request.getToHost());
        String operator = Audit.operator();
        if (request.getDryRun()) {
            run(response, () -> dryRunMove(name, to, response));
            return;
        }
        java.util.concurrent.atomic.AtomicBoolean hungUp = new java.util.concurrent.atomic.AtomicBoolean();
        if (response instanceof ServerCallStreamObserver<VmProgress> call) {
            // This caller's move only: another operator's move of the same VM is not this hang-up's to stop. A move
            // that has not started yet stops at its first step.
            call.setOnCancelHandler(() -> log.info("the operator hung up: {}", moves.cancelOwn(name, hungUp)
                    .orElse("the move of " + name + " stops at its next step")));
        }
        run(response, () -> {
            moves.move(name, to, operator, response::onNext, hungUp);
            response.onCompleted();
        });
    }

    /**
     * Every host's verdict, then where the move would go. A target that would be refused ends the stream as the move
     * itself would end: RESOURCE_EXHAUSTED naming its reason (the CLI's exit code 6), INVALID_ARGUMENT for the VM's own
     * home, NOT_FOUND for a host the fleet does not know.
     */
    private void dryRunMove(String name, String to, StreamObserver<VmProgress> response) {
        Explanation e = moves.explain(name);
        Verdict refused = null;
        if (to != null) {
            Verdict onTarget = e.verdicts().stream().filter(v -> v.host().equals(to)).findFirst()
                    .orElseThrow(() -> Status.NOT_FOUND.withDescription("no host named " + to + " in the fleet")
                            .asRuntimeException());
            refused = onTarget.fits() ? null : onTarget;
        }
        String target = to == null ? e.chosenHost() : to;
        String detail = target == null ? "no host can take " + name
                : refused != null ? name + " cannot move to " + to + ": " + refused.failedFilter() + ": " + refused.reason()
                : "would move " + name + " to " + target;
        response.onNext(VmProgress.newBuilder().setStep("placement").setPlacement(toProto(e))
                .setDetail(detail + " (dry run: nothing changed)").build());
        moves.refusal(name).ifPresent(why -> { // what the move itself refuses first (failover IP, installing...)
            throw Status.FAILED_PRECONDITION.withDescription(why).asRuntimeException();
        });
        if (refused != null && "home".equals(refused.failedFilter())) {
            throw new InvalidInputException("to_host", to, "another host than " + name + "'s home " + to);
        }
        if (refused != null) {
            throw new NoHostFitsException(name, new Explanation(null, java.util.List.of(refused)));
        }
        if (target == null) {
            throw new NoHostFitsException(name, e);
        }
        response.onCompleted();
    }

    public void cancelMove(CancelMoveRequest request, StreamObserver<CancelMoveResponse> response) {
        String name = Names.vmName("name", request.getName());
        String operator = Audit.operator();
        run(response, () -> {
            String detail = moves.cancel(name);
            log.info("operator {}: {}", operator, detail);
            response.onNext(CancelMoveResponse.newBuilder().setDetail(detail).build());
            response.onCompleted();
        });
    }

    public void place(PlaceRequest request, StreamObserver<PlacementExplanation> response) {
        VmSpec spec = VmSpecs.validateRequest(request.getSpec()); // placement alone: OVH is not asked anything
        // On the VM executor: with the N+1 reserve, every host's verdict looks at the whole fleet.
        run(response, () -> {
            response.onNext(toProto(vms.explain(spec)));
            response.onCompleted();
        });
    }

    /**
     * Counts on the VM executor: with the N+1 reserve the count plays placement's decisions, which at thousands of
     * hosts takes longer than an event loop may be held (tens of milliseconds at 10,000 hosts, more right after a
     * start). It stops when the caller hangs up (or its deadline passes); a count keeping the reserve while another
     * runs is refused with UNAVAILABLE.
     */
    public void capacity(CapacityRequest request, StreamObserver<CapacityReport> response) {
        VmSpec spec = VmSpecs.validateRequest(request.getSpec());
        Boolean nPlusOne = request.hasNPlusOne() ? request.getNPlusOne() : null;
        io.grpc.Context call = io.grpc.Context.current(); // the call's: cancelled when the caller hangs up
        run(response, () -> {
            try {
                response.onNext(toProto(vms.capacity(spec, nPlusOne, call::isCancelled), vms.keepsReserve()));
                response.onCompleted();
            } catch (io.virtfleet.controller.scheduler.Scheduler.CountBusyException e) {
                // UNAVAILABLE, not RESOURCE_EXHAUSTED: worth trying again shortly, and the CLI's "not one VM fits"
                // exit code must not answer it.
                response.onError(Status.UNAVAILABLE.withDescription(e.getMessage()).asRuntimeException());
            } catch (java.util.concurrent.CancellationException e) {
                log.info("the caller hung up: {}", e.getMessage());
                response.onError(Status.CANCELLED.withDescription(e.getMessage()).asRuntimeException());
            }
        });
    }

    public void createVm(CreateVmRequest request, StreamObserver<VmProgress> response) {
        VmSpec spec = VmSpecs.validateRequest(request.getSpec());
        String operator = Audit.operator();
        outliveTheCaller(response);
        run(response, () -> {
            vms.create(spec, request.getDryRun(), operator,
                    (step, host, detail) -> response.onNext(VmProgress.newBuilder().setStep(step).setHost(host)
                            .setDetail(detail).build()),
                    explanation -> response.onNext(VmProgress.newBuilder().setStep("placement")
                            .setDetail(explanation.chosenHost() == null ? "no host fits" : "would go to " + explanation.chosenHost())
                            .setPlacement(toProto(explanation)).build()));
            response.onCompleted();
        });
    }

    public void listVms(ListVmsRequest request, StreamObserver<ListVmsResponse> response) {
        response.onNext(ListVmsResponse.newBuilder().addAllVms(vms.list()).build());
        response.onCompleted();
    }

    public void getVm(GetVmRequest request, StreamObserver<Vm> response) {
        String name = Names.vmName("name", request.getName());
        run(response, () -> {
            Vm vm = vms.get(name);
            response.onNext(moves.pendingWork(name).or(() -> otherPendingWork.apply(name))
                    .map(w -> vm.toBuilder().setMovePending(w).build()).orElse(vm));
            response.onCompleted();
        });
    }

    public void setVmRunning(SetVmRunningRequest request, StreamObserver<Vm> response) {
        String name = Names.vmName("name", request.getName());
        String operator = Audit.operator();
        run(response, () -> {
            response.onNext(vms.setRunning(name, request.getRunning(), operator));
            response.onCompleted();
        });
    }

    public void reinstallVm(ReinstallVmRequest request, StreamObserver<Vm> response) {
        String name = Names.vmName("name", request.getName());
        String profile = request.getProfile().isEmpty() ? "" : Names.profileName("profile", request.getProfile());
        String operator = Audit.operator();
        run(response, () -> {
            response.onNext(vms.reinstall(name, profile, operator));
            response.onCompleted();
        });
    }

    public void deleteVm(DeleteVmRequest request, StreamObserver<VmProgress> response) {
        String name = Names.vmName("name", request.getName());
        String operator = Audit.operator();
        outliveTheCaller(response);
        run(response, () -> {
            vms.delete(name, request.getDeleteDisk(), operator,
                    (step, host, detail) -> response.onNext(VmProgress.newBuilder().setStep(step).setHost(host)
                            .setDetail(detail).build()));
            response.onCompleted();
        });
    }

    public void syncHosts(SyncHostsRequest request, StreamObserver<VmProgress> response) {
        String operator = Audit.operator();
        outliveTheCaller(response);
        Progress progress = ((Progress) (step, host, detail) -> response.onNext(VmProgress.newBuilder().setStep(step)
                .setHost(host).setDetail(detail).build())).serialized();
        run(response, () -> {
            log.info("operator {}: sync every host's definitions", operator);
            var results = vms.syncHosts(progress);
            long inStep = results.stream().filter(r -> r.outcome() == FanOut.Outcome.IN_STEP).count();
            progress.step("done", "", inStep + " of " + results.size() + " hosts in step with "
                    + vms.definitionsHead().substring(0, 12));
            response.onCompleted();
        });
    }

    public void getDrift(GetDriftRequest request, StreamObserver<DriftReport> response) {
        run(response, () -> {
            response.onNext(vms.drift());
            response.onCompleted();
        });
    }

    public void getVmHistory(GetVmRequest request, StreamObserver<VmHistory> response) {
        String name = Names.vmName("name", request.getName());
        run(response, () -> {
            response.onNext(vms.history(name));
            response.onCompleted();
        });
    }

    /**
     * A create or delete, once asked for, runs to its end even if the operator hangs up (Ctrl-C, a dropped
     * connection): progress for a cancelled call is dropped instead of thrown, so it cannot cut the change short
     * between two durable steps (a claim journalled but its VM never recorded would hold capacity and the name
     * until a restart).
     */
    private static void outliveTheCaller(StreamObserver<VmProgress> response) {
        if (response instanceof ServerCallStreamObserver<VmProgress> call) {
            call.setOnCancelHandler(() -> log.info("the operator hung up; the VM operation goes on"));
        }
    }

    private interface Work {
        void run() throws Exception;
    }

    /** Runs the work off the event loop and turns each way it can fail into the status that says it. */
    private void run(StreamObserver<?> response, Work w) {
        work.execute(() -> {
            try {
                w.run();
            } catch (InvalidInputException e) {
                response.onError(Status.INVALID_ARGUMENT.withDescription(e.getMessage()).asRuntimeException());
            } catch (NoHostFitsException e) {
                response.onError(Status.RESOURCE_EXHAUSTED.withDescription(e.getMessage()).asRuntimeException());
            } catch (StepFailedException e) {
                response.onError(e.status().withDescription(e.getMessage()).asRuntimeException());
            } catch (OvhException e) {
                response.onError(e.status().asRuntimeException());
            } catch (VmService.CreateIncompleteException e) {
                response.onError(Status.UNAVAILABLE.withDescription(e.getMessage()).asRuntimeException());
            } catch (IOException e) {
                response.onError(Status.UNAVAILABLE.withDescription("definitions repository: " + e.getMessage())
                        .asRuntimeException());
            } catch (java.io.UncheckedIOException e) {
                // The claims journal's write (a full or failing disk): the controller's trouble, not a bug.
                log.warn("VM operation failed: cannot write the controller's state: {}", e.getCause().getMessage());
                response.onError(Status.UNAVAILABLE.withDescription("the controller cannot write its state: "
                        + e.getCause().getMessage()).asRuntimeException());
            } catch (StatusRuntimeException e) {
                response.onError(e);
            } catch (Exception e) {
                log.error("VM operation failed unexpectedly", e);
                response.onError(Status.INTERNAL.withDescription("internal error: " + e).asRuntimeException());
            }
        });
    }

    static CapacityReport toProto(Capacity c, boolean policy) {
        CapacityReport.Builder b = CapacityReport.newBuilder().setTotal(c.total()).setNPlusOne(c.nPlusOne())
                .setNPlusOnePolicy(policy);
        for (Capacity.OnHost h : c.hosts()) {
            b.addHosts(HostCapacity.newBuilder().setHost(h.host()).setFits(h.fits()).setLimit(h.limit())
                    .setReason(h.reason()));
        }
        return b.build();
    }

    public static PlacementExplanation toProto(Explanation e) {
        PlacementExplanation.Builder b = PlacementExplanation.newBuilder();
        if (e.chosenHost() != null) {
            b.setChosenHost(e.chosenHost());
        }
        for (Verdict v : e.verdicts()) {
            HostVerdict.Builder h = HostVerdict.newBuilder().setHost(v.host()).setFits(v.fits()).setReason(v.reason());
            if (v.fits()) {
                h.setScore(v.score()).putAllScoreParts(v.parts());
            } else {
                h.setFailedFilter(v.failedFilter());
            }
            b.addVerdicts(h);
        }
        return b.build();
    }
}
