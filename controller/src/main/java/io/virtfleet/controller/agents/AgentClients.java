package io.virtfleet.controller.agents;

import io.grpc.ManagedChannel;
import io.grpc.StatusRuntimeException;
import io.grpc.Status;
import io.virtfleet.common.security.FleetIdentity;
import io.virtfleet.common.transport.Transport;
import io.virtfleet.common.validation.Endpoint;
import io.virtfleet.controller.registry.HostRecord;
import io.virtfleet.controller.registry.HostRegistry;
import io.virtfleet.proto.v1.AgentGrpc;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executor;
import java.util.concurrent.TimeUnit;

/**
 * The controller's connections to its agents, one per host, made on first use from the endpoint the agent
 * registered and checked against the host's identity (a machine cannot answer for another host). A host that
 * registers again gets a new channel, even from the same address: its agent restarted or lost its link to the
 * controller, and the old connection may be half open (the peer gone, packets dropped), so a call on it would wait
 * for the keepalive to notice and then fail, just when the host is back.
 */
public final class AgentClients implements AutoCloseable {
    private record Link(String endpoint, String session, ManagedChannel channel) {}

    private final Transport transport;
    private final HostRegistry registry;
    private final Executor executor;
    private final Map<String, Link> links = new ConcurrentHashMap<>();

    public AgentClients(Transport transport, HostRegistry registry, Executor executor) {
        this.transport = transport;
        this.registry = registry;
        this.executor = executor;
    }

    /**
     * A stub for the host's agent; calls must set their own deadline.
     *
     * @throws StatusRuntimeException UNAVAILABLE when the host never registered
     */
    public AgentGrpc.AgentBlockingStub agent(String host) {
        return AgentGrpc.newBlockingStub(channel(host));
    }

    /**
     * An asynchronous stub for the host's agent (streaming calls, fan-outs); calls must set their own deadline.
     *
     * @throws StatusRuntimeException UNAVAILABLE when the host never registered
     */
    public AgentGrpc.AgentStub asyncAgent(String host) {
        return AgentGrpc.newStub(channel(host));
    }

    private ManagedChannel channel(String host) {
        HostRecord record = registry.get(host).orElseThrow(() -> Status.UNAVAILABLE
                .withDescription("host " + host + " has not registered with the controller").asRuntimeException());
        Link link = links.compute(host, (h, old) -> {
            if (old != null && old.endpoint().equals(record.agentEndpoint()) && old.session().equals(record.sessionId())) {
                return old;
            }
            if (old != null) {
                old.channel().shutdown();
            }
            ManagedChannel channel = transport.channel(Endpoint.parse("agent_endpoint", record.agentEndpoint()),
                    FleetIdentity.agent(host), executor);
            return new Link(record.agentEndpoint(), record.sessionId(), channel);
        });
        return link.channel();
    }

    @Override
    public void close() {
        links.values().forEach(l -> l.channel().shutdownNow());
        for (Link l : links.values()) {
            try {
                l.channel().awaitTermination(2, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        links.clear();
    }
}
