package io.virtfleet.controller.cli;

import io.grpc.ManagedChannel;
import io.virtfleet.common.security.FleetIdentity;
import io.virtfleet.common.security.TlsCredentials;
import io.virtfleet.common.transport.Transport;
import io.virtfleet.common.validation.Endpoint;
import io.virtfleet.proto.v1.FleetGrpc;
import java.util.concurrent.TimeUnit;

/** The CLI's connection to the controller: one mutual-TLS channel, closed when the command ends. */
final class ControllerClient implements AutoCloseable {
    /** Long enough for a loaded controller, short enough that a dead one is reported quickly. */
    static final long DEADLINE_SECONDS = 10;
    static final long LONG_DEADLINE_MINUTES = 15;

    private final Transport transport;
    private final ManagedChannel channel;

    ControllerClient(Endpoint endpoint, TlsCredentials credentials) {
        this.transport = Transport.secure("cli", 1, credentials);
        this.channel = transport.channel(endpoint, FleetIdentity.controller(), Runnable::run);
    }

    FleetGrpc.FleetBlockingStub fleet() {
        return FleetGrpc.newBlockingStub(channel).withDeadlineAfter(DEADLINE_SECONDS, TimeUnit.SECONDS);
    }

    io.virtfleet.proto.v1.DashboardGrpc.DashboardBlockingStub dashboard() {
        return io.virtfleet.proto.v1.DashboardGrpc.newBlockingStub(channel).withDeadlineAfter(DEADLINE_SECONDS, TimeUnit.SECONDS);
    }

    /** For operations that wait for hosts (creating a disk on Ceph, stopping a VM): minutes, not seconds. */
    FleetGrpc.FleetBlockingStub fleetLong() {
        return FleetGrpc.newBlockingStub(channel).withDeadlineAfter(LONG_DEADLINE_MINUTES, TimeUnit.MINUTES);
    }

    /**
     * For operations that last as long as the work takes and stream progress all along (a live migration of a big
     * VM): no deadline; the operator stops it with Ctrl-C.
     */
    FleetGrpc.FleetBlockingStub fleetStreaming() {
        return FleetGrpc.newBlockingStub(channel);
    }

    @Override
    public void close() {
        channel.shutdownNow();
        transport.close();
    }
}
