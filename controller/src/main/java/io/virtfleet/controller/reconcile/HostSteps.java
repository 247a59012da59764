package io.virtfleet.controller.reconcile;

import io.grpc.StatusRuntimeException;
import io.virtfleet.controller.agents.AgentClients;
import io.virtfleet.proto.v1.AgentGrpc;
import io.virtfleet.proto.v1.DefineDomainRequest;
import io.virtfleet.proto.v1.DeleteDiskRequest;
import io.virtfleet.proto.v1.EnsureDiskRequest;
import io.virtfleet.proto.v1.EnsureNetworkRequest;
import io.virtfleet.proto.v1.SetDomainRunningRequest;
import io.virtfleet.proto.v1.StepResult;
import io.virtfleet.proto.v1.UndefineDomainRequest;
import io.virtfleet.proto.v1.VmSpec;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;

/**
 * The idempotent steps the controller asks of an agent, each with a deadline that fits it. Every step may be
 * repeated: the agent reports whether it changed anything.
 */
public final class HostSteps {
    private static final Duration DISK_DEADLINE = Duration.ofMinutes(2);
    private static final Duration STEP_DEADLINE = Duration.ofMinutes(1);
    /** Covers the agent's own shutdown grace (60 s) before it destroys a domain. */
    private static final Duration STOP_DEADLINE = Duration.ofSeconds(90);

    private final AgentClients agents;
    private final Function<String, Optional<String>> installTokens;

    public HostSteps(AgentClients agents) {
        this(agents, vm -> Optional.empty());
    }

    /** @param installTokens a VM's withheld install token, sent with its definition to its home host only */
    public HostSteps(AgentClients agents, Function<String, Optional<String>> installTokens) {
        this.agents = agents;
        this.installTokens = installTokens;
    }

    public StepResult ensureDisk(String host, VmSpec spec) throws StepFailedException {
        return call("disk", host, DISK_DEADLINE, a -> a.ensureDisk(EnsureDiskRequest.newBuilder()
                .setVmName(spec.getName()).setStorage(spec.getStorage()).setSizeBytes(spec.getDiskBytes()).build()));
    }

    public StepResult deleteDisk(String host, VmSpec spec) throws StepFailedException {
        return call("disk", host, DISK_DEADLINE, a -> a.deleteDisk(DeleteDiskRequest.newBuilder()
                .setVmName(spec.getName()).setStorage(spec.getStorage()).build()));
    }

    public StepResult ensureNetwork(String host, VmSpec spec, List<String> peers) throws StepFailedException {
        EnsureNetworkRequest.Builder b = EnsureNetworkRequest.newBuilder().setNetwork(spec.getNetwork())
                .addAllPeerAddresses(peers);
        return call("network", host, STEP_DEADLINE, a -> a.ensureNetwork(b.build()));
    }

    public StepResult define(String host, String vm, String domainXml, boolean autostart) throws StepFailedException {
        String token = installTokens.apply(vm).orElse("");
        return call("defined", host, STEP_DEADLINE, a -> a.defineDomain(DefineDomainRequest.newBuilder()
                .setVmName(vm).setDomainXml(domainXml).setAutostart(autostart).setInstallToken(token).build()));
    }

    public StepResult undefine(String host, String vm, boolean force) throws StepFailedException {
        return call("undefined", host, STOP_DEADLINE, a -> a.undefineDomain(UndefineDomainRequest.newBuilder()
                .setVmName(vm).setForce(force).build()));
    }

    public StepResult setRunning(String host, String vm, boolean running) throws StepFailedException {
        return call(running ? "started" : "stopped", host, running ? STEP_DEADLINE : STOP_DEADLINE,
                a -> a.setDomainRunning(SetDomainRunningRequest.newBuilder().setVmName(vm).setRunning(running).build()));
    }

    private StepResult call(String step, String host, Duration deadline,
                            Function<AgentGrpc.AgentBlockingStub, StepResult> call) throws StepFailedException {
        try {
            return call.apply(agents.agent(host).withDeadlineAfter(deadline.toMillis(), TimeUnit.MILLISECONDS));
        } catch (StatusRuntimeException e) {
            throw new StepFailedException(step, host, e.getStatus());
        }
    }
}
