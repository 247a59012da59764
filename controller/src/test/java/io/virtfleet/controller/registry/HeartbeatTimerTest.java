package io.virtfleet.controller.registry;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.Server;
import io.grpc.ServerStreamTracer;
import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import io.virtfleet.common.transport.Transport;
import io.virtfleet.common.validation.Endpoint;
import io.virtfleet.proto.v1.HeartbeatRequest;
import io.virtfleet.proto.v1.HeartbeatResponse;
import io.virtfleet.proto.v1.HostReport;
import io.virtfleet.proto.v1.RegisterRequest;
import io.virtfleet.proto.v1.RegisterResponse;
import io.virtfleet.proto.v1.RegistryGrpc;
import java.net.InetSocketAddress;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

class HeartbeatTimerTest {
    private static final String HEARTBEAT = RegistryGrpc.getHeartbeatMethod().getFullMethodName();
    private static final String REGISTER = RegistryGrpc.getRegisterMethod().getFullMethodName();

    @Test
    void recordsTheTimeFromHeadersToStreamClose() {
        AtomicLong clock = new AtomicLong(1_000);
        HeartbeatTimer timer = new HeartbeatTimer(clock::get);
        ServerStreamTracer tracer = timer.newServerStreamTracer(HEARTBEAT, new Metadata());
        clock.addAndGet(250_000);
        tracer.streamClosed(Status.OK);
        LatencyHistogram.Snapshot s = timer.histogram().snapshot();
        assertEquals(1, s.count());
        assertEquals(250_000, s.maxNanos());
    }

    @Test
    void failedHeartbeatsCountToo() {
        AtomicLong clock = new AtomicLong();
        HeartbeatTimer timer = new HeartbeatTimer(clock::get);
        ServerStreamTracer tracer = timer.newServerStreamTracer(HEARTBEAT, new Metadata());
        clock.addAndGet(40);
        tracer.streamClosed(Status.FAILED_PRECONDITION);
        assertEquals(40, timer.histogram().snapshot().percentileNanos(100));
    }

    @Test
    void otherMethodsAreNotTimed() {
        HeartbeatTimer timer = new HeartbeatTimer(() -> 5);
        timer.newServerStreamTracer(REGISTER, new Metadata()).streamClosed(Status.OK);
        timer.newServerStreamTracer("virtfleet.v1.Fleet/ListHosts", new Metadata()).streamClosed(Status.OK);
        assertEquals(0, timer.histogram().snapshot().count());
    }

    @Test
    void timesHeartbeatsServedOverTheTransport() throws Exception {
        HeartbeatTimer timer = new HeartbeatTimer();
        ExecutorService executor = Executors.newFixedThreadPool(2);
        Transport transport = Transport.plaintextForTests("timer-test", 1);
        Server server = transport.startServer(new InetSocketAddress("127.0.0.1", 0), executor,
                List.of(new ConstantRegistry()), List.of(), List.of(timer), false);
        ManagedChannel channel = transport.channel(new Endpoint("127.0.0.1", server.getPort()),
                io.virtfleet.common.security.FleetIdentity.controller(), executor);
        try {
            RegistryGrpc.RegistryBlockingStub stub = RegistryGrpc.newBlockingStub(channel);
            HostReport report = HostReport.newBuilder().setHostName("hv1").build();
            stub.register(RegisterRequest.newBuilder().setAgentId("a").setReport(report).build());
            for (int i = 0; i < 3; i++) {
                stub.heartbeat(HeartbeatRequest.newBuilder().setSessionId("s").setReport(report).build());
            }
            // The stream closes on the server just after the client has its response: wait for the last one.
            long deadline = System.nanoTime() + 10_000_000_000L;
            while (timer.histogram().snapshot().count() < 3 && System.nanoTime() < deadline) {
                Thread.sleep(5);
            }
            assertEquals(3, timer.histogram().snapshot().count());
        } finally {
            channel.shutdownNow();
            server.shutdownNow();
            executor.shutdownNow();
            transport.close();
        }
    }

    private static final class ConstantRegistry extends RegistryGrpc.RegistryImplBase {
        @Override
        public void register(RegisterRequest request, StreamObserver<RegisterResponse> response) {
            response.onNext(RegisterResponse.newBuilder().setSessionId("s").build());
            response.onCompleted();
        }

        @Override
        public void heartbeat(HeartbeatRequest request, StreamObserver<HeartbeatResponse> response) {
            response.onNext(HeartbeatResponse.getDefaultInstance());
            response.onCompleted();
        }
    }
}
