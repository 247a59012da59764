package io.virtfleet.agent.sync;

import static io.virtfleet.agent.sync.UpstreamRepo.domainXml;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.ServerInterceptors;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import io.grpc.stub.StreamObserver;
import io.virtfleet.agent.api.AgentService;
import io.virtfleet.common.transport.StatusMapping;
import io.virtfleet.proto.v1.AgentGrpc;
import io.virtfleet.proto.v1.SyncAction;
import io.virtfleet.proto.v1.SyncDefinitionsRequest;
import io.virtfleet.proto.v1.SyncEvent;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** SyncDefinitions as the controller calls it: a stream of events, or a status it can act on. */
class SyncDefinitionsRpcTest {
    @TempDir
    Path work;

    private UpstreamRepo repo;
    private ReplicaHost host;
    private Server server;
    private ManagedChannel channel;
    private AgentGrpc.AgentBlockingStub agent;

    @BeforeEach
    void start() throws Exception {
        repo = UpstreamRepo.create(work.resolve("upstream"));
        repo.vm("db", "hv2", true, domainXml("db", 512)).vm("web", "hv2", true, domainXml("web", 256));
        repo.commit("db and web");
        host = ReplicaHost.start("hv1", work.resolve("hv1"), repo.url());
        AgentService service = new AgentService(host.reporter, host.domains, null, null, null, host.sync);
        String name = InProcessServerBuilder.generateName();
        server = InProcessServerBuilder.forName(name)
                .addService(ServerInterceptors.intercept(service, new StatusMapping())).build().start();
        channel = InProcessChannelBuilder.forName(name).build();
        agent = AgentGrpc.newBlockingStub(channel).withDeadlineAfter(60, TimeUnit.SECONDS);
    }

    @AfterEach
    void stop() throws InterruptedException {
        channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        host.close();
        repo.close();
    }

    private static SyncDefinitionsRequest to(String commit) {
        return SyncDefinitionsRequest.newBuilder().setCommit(commit).build();
    }

    @Test
    void eventsAreStreamedAndTheStreamEndsNormally() {
        List<SyncEvent> events = new ArrayList<>();
        agent.syncDefinitions(to("")).forEachRemaining(events::add);

        assertEquals(List.of(SyncAction.SYNC_ACTION_PULLED, SyncAction.SYNC_ACTION_DEFINED, SyncAction.SYNC_ACTION_DEFINED,
                SyncAction.SYNC_ACTION_DONE), events.stream().map(SyncEvent::getAction).toList());
        assertEquals(List.of("", "db", "web", ""), events.stream().map(SyncEvent::getVmName).toList());
        assertTrue(events.get(3).getDone());
    }

    @Test
    void aRequestArrivingDuringASyncWaitsAndRunsItsOwn() throws Exception {
        List<CompletableFuture<List<SyncEvent>>> calls = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            CompletableFuture<List<SyncEvent>> call = new CompletableFuture<>();
            List<SyncEvent> events = new ArrayList<>();
            AgentGrpc.newStub(channel).syncDefinitions(to(""), new StreamObserver<>() {
                @Override
                public void onNext(SyncEvent e) {
                    events.add(e);
                }

                @Override
                public void onError(Throwable t) {
                    call.completeExceptionally(t);
                }

                @Override
                public void onCompleted() {
                    call.complete(events);
                }
            });
            calls.add(call);
        }
        int defined = 0;
        for (CompletableFuture<List<SyncEvent>> call : calls) {
            List<SyncEvent> events = call.get(60, TimeUnit.SECONDS);
            assertEquals(SyncAction.SYNC_ACTION_PULLED, events.get(0).getAction());
            assertEquals(SyncAction.SYNC_ACTION_DONE, events.get(events.size() - 1).getAction());
            defined += (int) events.stream().filter(e -> e.getAction() == SyncAction.SYNC_ACTION_DEFINED).count();
        }
        assertEquals(2, defined, "each replica defined once: the syncs ran one after the other");
    }

    @Test
    void aCommitNotOnMainIsFailedPreconditionAfterThePull() throws Exception {
        String elsewhere = repo.commitElsewhere("experiment", "README", "not on main\n");
        Iterator<SyncEvent> events = agent.syncDefinitions(to(elsewhere));

        assertEquals(SyncAction.SYNC_ACTION_PULLED, events.next().getAction());
        StatusRuntimeException refused = assertThrows(StatusRuntimeException.class, events::next);
        assertEquals(Status.Code.FAILED_PRECONDITION, refused.getStatus().getCode());
        assertTrue(refused.getStatus().getDescription().contains(elsewhere), refused.getStatus().getDescription());
        assertTrue(host.seen("db").isEmpty());
    }

    @Test
    void aMalformedCommitIsInvalidArgument() {
        StatusRuntimeException refused = assertThrows(StatusRuntimeException.class,
                () -> agent.syncDefinitions(to("HEAD~1")).next());
        assertEquals(Status.Code.INVALID_ARGUMENT, refused.getStatus().getCode());
        assertTrue(refused.getStatus().getDescription().contains("commit"), refused.getStatus().getDescription());
    }

    @Test
    void aPullThatFailsIsUnavailableWithTheReason() throws Exception {
        java.nio.file.Files.move(repo.dir(), work.resolve("moved-away"));
        StatusRuntimeException refused = assertThrows(StatusRuntimeException.class,
                () -> agent.syncDefinitions(to("")).next());
        assertEquals(Status.Code.UNAVAILABLE, refused.getStatus().getCode());
        assertTrue(refused.getStatus().getDescription().contains("upstream"), refused.getStatus().getDescription());
    }
}
