package io.virtfleet.controller.agents;

import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grpc.Channel;
import io.virtfleet.common.transport.Transport;
import io.virtfleet.controller.registry.HostRegistry;
import io.virtfleet.proto.v1.HostReport;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * One channel per host, kept while the host's registration lasts; a new registration (the agent restarted, or
 * reconnected after its link was cut) gets a new channel, since the old connection may be half open.
 */
class AgentClientsTest {
    @Test
    void aHostThatRegistersAgainFromTheSameAddressGetsANewChannel() {
        HostRegistry registry = new HostRegistry();
        Transport transport = Transport.plaintextForTests("agent-clients-test", 1);
        try (AgentClients clients = new AgentClients(transport, registry, Runnable::run)) {
            HostReport report = HostReport.newBuilder().setHostName("hv1").build();
            registry.register("agent-1", "127.0.0.1:7441", "test", List.of("ssd"), report);
            Channel first = clients.agent("hv1").getChannel();
            assertSame(first, clients.agent("hv1").getChannel(), "kept while the registration lasts");

            registry.register("agent-1", "127.0.0.1:7441", "test", List.of("ssd"), report);
            Channel second = clients.agent("hv1").getChannel();
            assertNotSame(first, second, "a new registration, a new channel");
            assertTrue(((io.grpc.ManagedChannel) first).isShutdown(), "the old one is shut down");
        } finally {
            transport.close();
        }
    }
}
