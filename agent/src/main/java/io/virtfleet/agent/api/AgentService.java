package io.virtfleet.agent.api;

import io.grpc.stub.StreamObserver;
import io.virtfleet.agent.hypervisor.Domains;
import io.virtfleet.agent.report.HostReporter;
import io.virtfleet.proto.v1.AgentGrpc;
import io.virtfleet.proto.v1.DefineDomainRequest;
import io.virtfleet.proto.v1.DescribeHostRequest;
import io.virtfleet.proto.v1.HostReport;
import io.virtfleet.proto.v1.SetDomainRunningRequest;
import io.virtfleet.proto.v1.StepResult;
import io.virtfleet.proto.v1.UndefineDomainRequest;
import java.time.Duration;

/**
 * The agent's gRPC face. It serves the host report and the domain commands (define, undefine, start,
 * stop); commands not built yet answer UNIMPLEMENTED, as the generated base class does.
 */
public final class AgentService extends AgentGrpc.AgentImplBase {
    private final HostReporter reporter;
    private final Domains domains;

    /** The API's methods, for deciding who may call each. */
    public static io.grpc.ServerServiceDefinition definition() {
        return AgentGrpc.bindService(new AgentGrpc.AsyncService() {});
    }

    public AgentService(HostReporter reporter, Domains domains) {
        this.reporter = reporter;
        this.domains = domains;
    }

    @Override
    public void describeHost(DescribeHostRequest request, StreamObserver<HostReport> response) {
        response.onNext(reporter.report());
        response.onCompleted();
    }

    // Domains: checked here (a bad request fails at once), carried out on the hypervisor's own threads.

    @Override
    public void defineDomain(DefineDomainRequest request, StreamObserver<StepResult> response) {
        long started = System.nanoTime();
        StepReplies.send("DefineDomain", domains.define(request.getVmName(), request.getDomainXml(), request.getAutostart()),
                started, response);
    }

    @Override
    public void undefineDomain(UndefineDomainRequest request, StreamObserver<StepResult> response) {
        long started = System.nanoTime();
        StepReplies.send("UndefineDomain", domains.undefine(request.getVmName(), request.getForce()), started, response);
    }

    @Override
    public void setDomainRunning(SetDomainRunningRequest request, StreamObserver<StepResult> response) {
        long started = System.nanoTime();
        StepReplies.send("SetDomainRunning", domains.setRunning(request.getVmName(), request.getRunning(),
                Duration.ofMillis(request.getShutdownTimeoutMs())), started, response);
    }
}
