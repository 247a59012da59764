package io.virtfleet.common.health;

import io.grpc.BindableService;
import io.grpc.ForwardingServerCall;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.ServerInterceptors;
import io.grpc.Status;
import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import io.grpc.health.v1.HealthGrpc;
import io.grpc.protobuf.services.HealthStatusManager;
import io.grpc.protobuf.services.ProtoReflectionServiceV1;
import io.grpc.reflection.v1.ServerReflectionGrpc;
import io.virtfleet.common.security.Authorization;
import io.virtfleet.common.security.Authorization.Rule;
import java.util.List;
import java.util.Map;

/**
 * gRPC's standard health service ({@code grpc.health.v1.Health}) and server reflection
 * ({@code grpc.reflection.v1.ServerReflection}) for one of the fleet's servers, so load balancers, probes and
 * tools such as grpcurl or grpc_health_probe can ask without virtfleet's code.
 *
 * <p>The server as a whole is the service {@code ""}; each of its own services is listed by its full name too and
 * always has the server's status (one process, one state). It starts NOT_SERVING: the owner calls
 * {@link #serving(boolean)} when it really serves, and {@link #stopping()} first thing when it stops, after which
 * nothing turns it back to SERVING. Every update is a map write and a push to open Watch streams: safe on any
 * thread, never blocks.
 */
public final class ServerHealth {
    private final HealthStatusManager manager = new HealthStatusManager();
    private final List<String> services;
    private volatile boolean serving;
    private volatile boolean stopping;

    /** @param services full names of the services the server offers besides health and reflection */
    public ServerHealth(List<String> services) {
        this.services = List.copyOf(services);
        set(ServingStatus.NOT_SERVING); // grpc's manager starts the server as a whole at SERVING
    }

    /** The health and reflection services to add to the server. */
    public List<BindableService> services() {
        BindableService health = () -> ServerInterceptors.intercept(manager.getHealthService(), new NamingKnownServices());
        return List.of(health, ProtoReflectionServiceV1.newInstance());
    }

    /**
     * gRPC's health service answers an unknown service name with NOT_FOUND "unknown service NAME", echoing whatever
     * bytes the caller sent; this answers in plain ASCII instead. Only a caller with a certificate of the fleet (who
     * may read the whole API by reflection anyway) is told which services the server has: an anonymous probe learns
     * no more than whether the server serves.
     */
    private final class NamingKnownServices implements ServerInterceptor {
        @Override
        public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers, ServerCallHandler<Q, R> next) {
            // Read here: the authorization interceptor has attached the caller to the context this runs in.
            boolean ofTheFleet = Authorization.caller().isPresent();
            return next.startCall(new ForwardingServerCall.SimpleForwardingServerCall<>(call) {
                @Override
                public void close(Status status, Metadata trailers) {
                    if (status.getCode() == Status.Code.NOT_FOUND) {
                        status = Status.NOT_FOUND.withDescription(ofTheFleet
                                ? "no such service here; this server answers for \"\" (the whole server) and "
                                        + String.join(", ", services)
                                : "no such service here; \"\" is the whole server");
                    }
                    super.close(status, trailers);
                }
            }, headers);
        }
    }

    /** Says whether the server can do its work now; ignored once {@link #stopping()} was called. */
    public synchronized void serving(boolean now) {
        if (stopping || now == serving) {
            return;
        }
        serving = now;
        set(now ? ServingStatus.SERVING : ServingStatus.NOT_SERVING);
    }

    /** NOT_SERVING for good: the server is shutting down (Watch streams hear it before they are closed). */
    public synchronized void stopping() {
        stopping = true;
        serving = false;
        manager.enterTerminalState();
    }

    public boolean isServing() {
        return serving;
    }

    private void set(ServingStatus status) {
        manager.setStatus(HealthStatusManager.SERVICE_NAME_ALL_SERVICES, status);
        services.forEach(s -> manager.setStatus(s, status));
    }

    /**
     * Who may call health and reflection. {@code Check} is {@code check}'s (a load balancer's probe may have no
     * certificate where the server admits such connections); {@code Watch} holds a stream open and reflection
     * shows the API's shape, so both are for {@code others}.
     */
    public static Map<String, Rule> rules(Rule check, Rule others) {
        return Map.of(
                HealthGrpc.getCheckMethod().getFullMethodName(), check,
                HealthGrpc.getWatchMethod().getFullMethodName(), others,
                ServerReflectionGrpc.getServerReflectionInfoMethod().getFullMethodName(), others);
    }
}
