package io.virtfleet.common.transport;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grpc.CallOptions;
import io.grpc.ManagedChannel;
import io.grpc.MethodDescriptor;
import io.grpc.Server;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.ClientCalls;
import io.grpc.stub.StreamObserver;
import io.virtfleet.common.validation.Endpoint;
import io.virtfleet.common.validation.Names;
import io.virtfleet.proto.v1.FleetGrpc;
import io.virtfleet.proto.v1.GetHostRequest;
import io.virtfleet.proto.v1.Host;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** What a client gets back, over a real server built by {@link Transport}, for each way a call can go wrong. */
class StatusMappingTest {
    private static final MethodDescriptor.Marshaller<byte[]> BYTES = new MethodDescriptor.Marshaller<>() {
        @Override
        public InputStream stream(byte[] value) {
            return new ByteArrayInputStream(value);
        }

        @Override
        public byte[] parse(InputStream stream) {
            try {
                return stream.readAllBytes();
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
    };

    private final AtomicInteger handled = new AtomicInteger();
    private Transport transport;
    private Server server;
    private ManagedChannel channel;

    /** What the server logs at SEVERE (slf4j's ERROR) while a test runs: nothing, unless a bug is found. */
    private final List<LogRecord> severe = new CopyOnWriteArrayList<>();
    private final Handler severeLogs = new Handler() {
        @Override
        public void publish(LogRecord record) {
            if (record.getLevel().intValue() >= Level.SEVERE.intValue()) {
                severe.add(record);
            }
        }

        @Override
        public void flush() {
        }

        @Override
        public void close() {
        }
    };

    @BeforeEach
    void start() throws IOException {
        Logger.getLogger("").addHandler(severeLogs);
        transport = Transport.plaintextForTests("status-mapping-test", 1);
        FleetGrpc.FleetImplBase service = new FleetGrpc.FleetImplBase() {
            @Override
            public void getHost(GetHostRequest request, StreamObserver<Host> response) {
                handled.incrementAndGet();
                if (request.getName().equals("bug")) {
                    throw new IllegalStateException("a bug");
                }
                response.onNext(Host.newBuilder().setName(Names.hostName("name", request.getName())).build());
                response.onCompleted();
            }
        };
        server = transport.startServer(new InetSocketAddress("127.0.0.1", 0), Runnable::run, List.of(service),
                List.of(new StatusMapping()), List.of(), false);
        channel = transport.channel(new Endpoint("127.0.0.1", server.getPort()), null, Runnable::run);
    }

    @AfterEach
    void stop() {
        Logger.getLogger("").removeHandler(severeLogs);
        channel.shutdownNow();
        Transport.stop(server);
        transport.close();
    }

    @Test
    void aRequestThatIsNotTheMethodsMessageIsInvalidArgumentAndNeverReachesTheService() {
        MethodDescriptor<byte[], byte[]> raw = FleetGrpc.getGetHostMethod().toBuilder(BYTES, BYTES).build();
        for (byte[] malformed : List.of(new byte[] {0x00}, new byte[] {0x0a, 0x05, 'h'}, new byte[] {0x0a, 0x02, (byte) 0xc3, 0x28})) {
            StatusRuntimeException e = assertThrows(StatusRuntimeException.class,
                    () -> ClientCalls.blockingUnaryCall(channel, raw, CallOptions.DEFAULT, malformed));
            assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode(), e.getStatus().toString());
            assertTrue(e.getStatus().getDescription().startsWith("malformed request: "), e.getStatus().getDescription());
        }
        assertEquals(0, handled.get());
        assertEquals(List.of(), severe.stream().map(r -> r.getMessage() + ": " + r.getThrown()).toList(),
                "nothing goes wrong on the server when it refuses a malformed request");
        byte[] wellFormed = GetHostRequest.newBuilder().setName("hv1").build().toByteArray();
        assertEquals(Host.newBuilder().setName("hv1").build(),
                parse(ClientCalls.blockingUnaryCall(channel, raw, CallOptions.DEFAULT, wellFormed)));
    }

    @Test
    void rejectedInputIsInvalidArgumentAndABugIsInternal() {
        FleetGrpc.FleetBlockingStub stub = FleetGrpc.newBlockingStub(channel);
        StatusRuntimeException invalid = assertThrows(StatusRuntimeException.class,
                () -> stub.getHost(GetHostRequest.newBuilder().setName("a b").build()));
        assertEquals(Status.Code.INVALID_ARGUMENT, invalid.getStatus().getCode());
        assertTrue(invalid.getStatus().getDescription().startsWith("name: \"a b\" is not accepted"), invalid.getStatus().getDescription());
        StatusRuntimeException bug = assertThrows(StatusRuntimeException.class,
                () -> stub.getHost(GetHostRequest.newBuilder().setName("bug").build()));
        assertEquals(Status.Code.INTERNAL, bug.getStatus().getCode());
        assertEquals(1, severe.size(), "a bug is logged, once");
        assertEquals("hv1", stub.getHost(GetHostRequest.newBuilder().setName("hv1").build()).getName());
    }

    private static Host parse(byte[] bytes) {
        try {
            return Host.parseFrom(bytes);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
