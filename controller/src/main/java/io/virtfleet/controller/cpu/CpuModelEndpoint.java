package io.virtfleet.controller.cpu;

import io.grpc.Context;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.StreamObserver;
import io.virtfleet.controller.fleet.Audit;
import io.virtfleet.proto.v1.FleetCpuModel;
import io.virtfleet.proto.v1.GetCpuModelRequest;
import io.virtfleet.proto.v1.RecomputeCpuModelRequest;
import java.io.IOException;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The operator's face of the fleet CPU model (GetCpuModel, RecomputeCpuModel): both read the definitions repository
 * and a recompute asks a host's libvirt, so they run on {@code work}, never on the gRPC event loops.
 */
public final class CpuModelEndpoint {
    private static final Logger log = LoggerFactory.getLogger(CpuModelEndpoint.class);

    private final FleetCpu fleetCpu;
    private final Executor work;

    public CpuModelEndpoint(FleetCpu fleetCpu, Executor work) {
        this.fleetCpu = fleetCpu;
        this.work = work;
    }

    public FleetCpu fleetCpu() {
        return fleetCpu;
    }

    public void getCpuModel(GetCpuModelRequest request, StreamObserver<FleetCpuModel> response) {
        run(response, fleetCpu::view);
    }

    public void recomputeCpuModel(RecomputeCpuModelRequest request, StreamObserver<FleetCpuModel> response) {
        String operator = Audit.operator();
        run(response, () -> fleetCpu.recompute(operator, request.getDryRun()));
    }

    private interface Answer {
        FleetCpuModel get() throws IOException;
    }

    private void run(StreamObserver<FleetCpuModel> response, Answer answer) {
        try {
            work.execute(Context.current().wrap(() -> {
                try {
                    response.onNext(answer.get());
                    response.onCompleted();
                } catch (StatusRuntimeException e) {
                    response.onError(e);
                } catch (IOException e) {
                    response.onError(Status.UNAVAILABLE.withDescription("definitions repository: " + e.getMessage())
                            .asRuntimeException());
                } catch (RuntimeException e) {
                    log.error("a fleet CPU model request failed unexpectedly", e);
                    response.onError(Status.INTERNAL.withDescription("internal error: " + e).asRuntimeException());
                }
            }));
        } catch (RejectedExecutionException e) {
            response.onError(Status.UNAVAILABLE.withDescription("the controller is stopping").asRuntimeException());
        }
    }
}
