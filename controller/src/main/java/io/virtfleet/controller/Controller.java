package io.virtfleet.controller;

import com.google.inject.Guice;
import com.google.inject.Inject;
import com.google.inject.Stage;
import io.grpc.Server;
import io.virtfleet.common.transport.StatusMapping;
import io.virtfleet.common.transport.Transport;
import io.virtfleet.controller.fleet.FleetEndpoint;
import io.virtfleet.controller.registry.HeartbeatTimer;
import io.virtfleet.controller.registry.HostRegistry;
import io.virtfleet.controller.registry.LatencyHistogram;
import io.virtfleet.controller.registry.LivenessWatch;
import io.virtfleet.controller.registry.RegistryEndpoint;
import java.io.IOException;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** One running controller: the registry for agents and the fleet service for operators, on one port. */
public final class Controller implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(Controller.class);

    private final ControllerConfig config;
    private final Transport transport;
    private final HostRegistry registry;
    private final LivenessWatch livenessWatch;
    private final RegistryEndpoint registryEndpoint;
    private final FleetEndpoint fleetEndpoint;
    private final ExecutorService rpcExecutor;
    private final HeartbeatTimer heartbeatTimer = new HeartbeatTimer();
    private Server server;

    @Inject
    Controller(ControllerConfig config, Transport transport, HostRegistry registry, LivenessWatch livenessWatch,
               RegistryEndpoint registryEndpoint, FleetEndpoint fleetEndpoint) {
        this.config = config;
        this.transport = transport;
        this.registry = registry;
        this.livenessWatch = livenessWatch;
        this.registryEndpoint = registryEndpoint;
        this.fleetEndpoint = fleetEndpoint;
        int threads = Math.max(2, Runtime.getRuntime().availableProcessors());
        this.rpcExecutor = Executors.newFixedThreadPool(threads, r -> {
            Thread t = new Thread(r, "vf-controller-rpc");
            t.setDaemon(true);
            return t;
        });
    }

    public static Controller create(ControllerConfig config) {
        return Guice.createInjector(Stage.PRODUCTION, new ControllerModule(config)).getInstance(Controller.class);
    }

    public synchronized Controller start() throws IOException {
        server = transport.startServer(config.listen(), rpcExecutor, List.of(registryEndpoint, fleetEndpoint),
                List.of(new StatusMapping()), List.of(heartbeatTimer));
        livenessWatch.start();
        log.info("controller listening on {}:{} (agents heartbeat every {} ms, unreachable after {} ms)",
                config.listen().getHostString(), server.getPort(), config.heartbeatInterval().toMillis(),
                config.unreachableAfter().toMillis());
        return this;
    }

    public int port() {
        return server.getPort();
    }

    public HostRegistry registry() {
        return registry;
    }

    /** How long this controller took to handle each agent heartbeat, since it started or the last reset. */
    public LatencyHistogram heartbeatLatency() {
        return heartbeatTimer.histogram();
    }

    public void blockUntilShutdown() throws InterruptedException {
        server.awaitTermination();
    }

    @Override
    public synchronized void close() {
        livenessWatch.close();
        if (server != null) {
            server.shutdown();
            try {
                if (!server.awaitTermination(5, TimeUnit.SECONDS)) {
                    server.shutdownNow();
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                server.shutdownNow();
            }
        }
        rpcExecutor.shutdownNow();
        transport.close();
    }
}
