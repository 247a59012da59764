package io.virtfleet.controller.testkit;

import io.virtfleet.controller.trust.ControllerPki;
import io.virtfleet.proto.v1.CreateJoinTokenRequest;
import io.virtfleet.proto.v1.FleetGrpc;
import io.virtfleet.proto.v1.HostState;
import io.virtfleet.proto.v1.ListHostsRequest;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import java.util.function.Consumer;

/**
 * A fleet whose VMs can move: a {@link HypervisorRack} (network namespaces, real libvirtds, real agent JVMs, a real
 * single-node Ceph) whose libvirtds listen on TLS with certificates of the fleet CA, and the controller in a JVM of its
 * own. The fleet CA is made before the controller's first start, in its data directory, as that start would make it,
 * so the libvirtds trust it before any agent exists; each agent then installs the libvirt client certificate the
 * controller issues it, and migrations are the fleet's own, over TLS. {@link #start} returns once every host is ready
 * with its certificate installed.
 *
 * <p>Needs root and the packages of deploy/dev/install-deps.sh; fails (never skips) without them.
 */
public final class MoveFleet implements AutoCloseable {
    private final HypervisorRack rack;
    private final ControllerJvm.Settings settings;
    private final ControllerJvm controller;
    private final Clients admin;
    private final FleetGrpc.FleetBlockingStub operator;

    private MoveFleet(HypervisorRack rack, ControllerJvm.Settings settings, ControllerJvm controller, Clients admin) {
        this.rack = rack;
        this.settings = settings;
        this.controller = controller;
        this.admin = admin;
        this.operator = admin == null ? null : FleetGrpc.newBlockingStub(admin.controller(controller.endpoint()));
    }

    /**
     * Starts the rack on {@code <underlay>.0/24} with {@code hosts}, the controller (heartbeat {@code heartbeat}) and the
     * agents, and waits up to {@code ready} for every host to be ready.
     *
     * @param lap told what is up, as it comes up
     */
    public static MoveFleet start(Path work, String underlay, List<String> hosts, Duration heartbeat, Duration ready,
                                  Consumer<String> lap) throws IOException, InterruptedException {
        return start(work, underlay, hosts, heartbeat, ready, lap, rack -> Map.of());
    }

    /**
     * As above, the controller started with the system properties {@code properties} gives once the rack (and its
     * Ceph) is up: e.g. {@link ControllerJvm#FENCING} with a cephx user made in that Ceph.
     */
    public static MoveFleet start(Path work, String underlay, List<String> hosts, Duration heartbeat, Duration ready,
                                  Consumer<String> lap,
                                  java.util.function.Function<HypervisorRack, Map<String, String>> properties)
            throws IOException, InterruptedException {
        return start(work, underlay, hosts, heartbeat, Duration.ofSeconds(3), ready, lap, properties);
    }

    /** As above, with the controller's {@code unreachable-after} given (e.g. its default, 15 s) instead of 3 s. */
    public static MoveFleet start(Path work, String underlay, List<String> hosts, Duration heartbeat,
                                  Duration unreachableAfter, Duration ready, Consumer<String> lap,
                                  java.util.function.Function<HypervisorRack, Map<String, String>> properties)
            throws IOException, InterruptedException {
        return start(work, underlay, hosts, heartbeat, unreachableAfter, ready, lap, properties, host -> List.of());
    }

    /** As above, each host's agent started with {@code agentArgs} of it as well (e.g. {@code --shutdown-grace}). */
    public static MoveFleet start(Path work, String underlay, List<String> hosts, Duration heartbeat,
                                  Duration unreachableAfter, Duration ready, Consumer<String> lap,
                                  java.util.function.Function<HypervisorRack, Map<String, String>> properties,
                                  java.util.function.Function<String, List<String>> agentArgs)
            throws IOException, InterruptedException {
        Path data = work.resolve("controller");
        ControllerPki.open(data, Clock.systemUTC(), Duration.ofDays(1));
        LibvirtPki fleetCa = LibvirtPki.create(data.resolve("pki"));
        HypervisorRack rack = HypervisorRack.start(work.resolve("rack"), underlay, hosts,
                host -> new HypervisorRack.LibvirtListening(fleetCa, false), lap);
        ControllerJvm.Settings settings = new ControllerJvm.Settings(data, 0, heartbeat, unreachableAfter,
                Duration.ofSeconds(2), Map.of()).withListenHost(rack.controllerAddress())
                .withCephMonitors(List.of(rack.ceph().monitor()));
        ControllerJvm controller = null;
        try {
            settings = settings.withSystemProperties(properties.apply(rack));
        } catch (RuntimeException | Error e) {
            rack.close();
            throw e;
        }
        Clients admin = null;
        try {
            controller = ControllerJvm.start(settings, work.resolve("controller.log"));
            admin = Clients.as(data.resolve("pki").resolve("admin.pem"));
            MoveFleet fleet = new MoveFleet(rack, settings, controller, admin);
            FleetGrpc.FleetBlockingStub operator = fleet.operator;
            rack.startAgents(controller.endpoint(), host -> operator.withDeadlineAfter(30, TimeUnit.SECONDS)
                    .createJoinToken(CreateJoinTokenRequest.newBuilder().setHostName(host).setTtlSeconds(600).build())
                    .getToken(), heartbeat, agentArgs);
            fleet.await(hosts.size() + " hosts ready, each with its fleet-issued libvirt certificate installed", ready,
                    () -> operator.withDeadlineAfter(5, TimeUnit.SECONDS).listHosts(ListHostsRequest.getDefaultInstance())
                            .getHostsList().stream().filter(h -> h.getState() == HostState.HOST_STATE_READY
                                    && h.getReport().getMigrationAddress().startsWith(underlay + ".")
                                    && h.getReport().getLibvirtTls().getAddress().equals(h.getReport().getMigrationAddress()))
                            .count() == hosts.size());
            return fleet;
        } catch (IOException | InterruptedException | RuntimeException | Error e) {
            new MoveFleet(rack, settings, controller, admin).close();
            throw e;
        }
    }

    public HypervisorRack rack() {
        return rack;
    }

    public ControllerJvm.Settings settings() {
        return settings;
    }

    public ControllerJvm controller() {
        return controller;
    }

    /** The Fleet API as the first admin, over mutual TLS. */
    public FleetGrpc.FleetBlockingStub operator() {
        return operator;
    }

    /** The first admin's credentials bundle, for the CLI's {@code --credentials}. */
    public Path adminBundle() {
        return settings.dataDir().resolve("pki").resolve("admin.pem");
    }

    /** Waits until {@code done}; an agent that exited fails it at once, naming itself, not at the deadline. */
    public void await(String what, Duration timeout, BooleanSupplier done) throws InterruptedException {
        Await.until(what, timeout, () -> {
            rack.assertAgentsRunning();
            return done.getAsBoolean();
        });
    }

    /** The controller, then the rack (agents, libvirtds with their domains, Ceph, namespaces). */
    @Override
    public void close() {
        try {
            if (admin != null) {
                admin.close();
            }
            if (controller != null) {
                controller.close();
            }
        } finally {
            rack.close();
        }
    }
}
