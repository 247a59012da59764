package io.virtfleet.controller.testkit;

import io.grpc.ManagedChannel;
import io.virtfleet.common.security.CredentialsBundle;
import io.virtfleet.common.security.FleetIdentity;
import io.virtfleet.common.security.TlsCredentials;
import io.virtfleet.common.transport.Transport;
import io.virtfleet.common.validation.Endpoint;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** gRPC channels for tests, speaking as a given party (operator, agent) over the fleet's mutual TLS. */
public final class Clients implements AutoCloseable {
    private final Transport transport;
    private final List<ManagedChannel> channels = new ArrayList<>();

    private Clients(Transport transport) {
        this.transport = transport;
    }

    public static Clients as(TlsCredentials credentials) {
        return new Clients(Transport.secure("test-client", 1, credentials));
    }

    public static Clients as(Path bundle) {
        try {
            return as(CredentialsBundle.read(bundle));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** A channel to the controller. */
    public ManagedChannel controller(Endpoint endpoint) {
        return track(transport.channel(endpoint, FleetIdentity.controller(), Runnable::run));
    }

    /** A channel to an agent, which must prove to be {@code host}. */
    public ManagedChannel agent(Endpoint endpoint, String host) {
        return track(transport.channel(endpoint, FleetIdentity.agent(host), Runnable::run));
    }

    private ManagedChannel track(ManagedChannel channel) {
        channels.add(channel);
        return channel;
    }

    @Override
    public void close() {
        channels.forEach(ManagedChannel::shutdownNow);
        transport.close();
    }
}
