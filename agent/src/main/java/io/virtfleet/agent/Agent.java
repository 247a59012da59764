package io.virtfleet.agent;

import com.google.inject.Guice;
import com.google.inject.Inject;
import com.google.inject.Stage;
import com.google.inject.name.Named;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.virtfleet.agent.api.AgentService;
import io.virtfleet.agent.hypervisor.HypervisorPoller;
import io.virtfleet.agent.hypervisor.LibvirtHypervisor;
import io.virtfleet.agent.registration.ControllerLink;
import io.virtfleet.agent.report.HostReporter;
import io.virtfleet.common.transport.Transport;
import java.io.IOException;
import java.util.List;
import java.util.concurrent.ExecutorService;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** One running agent: its gRPC server, its libvirt connection, and its link to the controller. */
public final class Agent implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(Agent.class);

    private final AgentConfig config;
    private final Transport transport;
    private final AgentService service;
    private final HostReporter reporter;
    private final LibvirtHypervisor hypervisor;
    private final HypervisorPoller poller;
    private final ManagedChannel controllerChannel;
    private final ExecutorService commands;
    private Server server;
    private ControllerLink link;
    private String agentId;

    @Inject
    Agent(AgentConfig config, Transport transport, AgentService service, HostReporter reporter,
          LibvirtHypervisor hypervisor, HypervisorPoller poller, @Named("controller") ManagedChannel controllerChannel,
          @Named("commands") ExecutorService commands) {
        this.config = config;
        this.transport = transport;
        this.service = service;
        this.reporter = reporter;
        this.hypervisor = hypervisor;
        this.poller = poller;
        this.controllerChannel = controllerChannel;
        this.commands = commands;
    }

    /** Builds an agent from its configuration; call {@link #start()} to run it. */
    public static Agent create(AgentConfig config) {
        return Guice.createInjector(Stage.PRODUCTION, new AgentModule(config)).getInstance(Agent.class);
    }

    public synchronized Agent start() throws IOException {
        agentId = AgentIdentity.loadOrCreate(config.stateDirectory());
        poller.start();
        server = transport.startServer(config.listen(), commands, List.of(service), List.of());
        String advertised = config.advertised(server.getPort()).toString();
        link = new ControllerLink(new ControllerLink.Settings(agentId, advertised, config.controller().toString(),
                config.storageTiers(), config.heartbeatInterval(), config.maxBackoff(), AgentModule.FAILURE_LOG_PERIOD),
                reporter, controllerChannel);
        link.start();
        log.info("agent {} for host {} serving on {} (libvirt {}, controller {})",
                agentId, config.hostName(), advertised, config.libvirtUri(), config.controller());
        return this;
    }

    public String agentId() {
        return agentId;
    }

    public String hostName() {
        return config.hostName();
    }

    /** The port the agent's API listens on (useful when configured with port 0). */
    public int port() {
        return server.getPort();
    }

    public boolean registered() {
        return link != null && link.registered();
    }

    public void blockUntilShutdown() throws InterruptedException {
        server.awaitTermination();
    }

    @Override
    public synchronized void close() {
        if (link != null) {
            link.close();
        }
        Transport.stop(server);
        controllerChannel.shutdownNow();
        commands.shutdownNow();
        poller.close();
        hypervisor.close();
        transport.close();
    }
}
