package io.virtfleet.controller.replication;

import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.StreamObserver;
import io.virtfleet.controller.agents.AgentClients;
import io.virtfleet.controller.reconcile.Progress;
import io.virtfleet.controller.registry.HostRecord;
import io.virtfleet.controller.registry.HostRegistry;
import io.virtfleet.controller.registry.Liveness;
import io.virtfleet.proto.v1.HostState;
import io.virtfleet.proto.v1.SyncAction;
import io.virtfleet.proto.v1.SyncDefinitionsRequest;
import io.virtfleet.proto.v1.SyncEvent;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeSet;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Tells hosts to sync to a commit of the definitions repository: every host at once (up to
 * {@link #CONCURRENT_SYNCS} calls in flight, for the git server's sake), each call with its own deadline, each
 * host's result reported the moment it arrives ({@code hv1 defined web}, {@code hv4 unreachable: will catch up}).
 * The runbook did this host after host; here the slowest host sets the pace, not the sum of them.
 *
 * <p>A host that cannot be reached now is not an error of the operation: the commit is what every agent
 * converges to by itself (each heartbeat's answer names it), so it catches up when it is back.
 */
public final class FanOut {
    private static final Logger log = LoggerFactory.getLogger(FanOut.class);
    /** Progress step name of a host's sync result. */
    public static final String STEP = "replicated";
    /** Past a call's deadline, how long a reply already in flight may still take to arrive. */
    private static final Duration MARGIN = Duration.ofSeconds(2);

    /** How a host ended a fan-out. */
    public enum Outcome {
        /** The host reached the commit with every replica it implies. */
        IN_STEP,
        /** The host could not be reached; it syncs by itself when it is back. */
        CATCHING_UP,
        /** The host answered but could not complete the sync (a definition refused, the pull failed). */
        FAILED
    }

    /**
     * One host's result.
     *
     * @param syncedCommit the commit the host reported last; empty when it never answered
     * @param took         from the start of the fan-out to this host's answer
     */
    public record HostResult(String host, Outcome outcome, String detail, String syncedCommit, Duration took) {}

    /**
     * At most this many hosts sync at once. Each pulls from the controller's git server, which serves a couple of
     * requests at a time ({@code GitHttpServer.Limits.workers}) and queues the rest: calling every host of a large
     * fleet at once only lengthens that queue, while each host's deadline runs, so hosts that merely waited their
     * turn were reported as not answering. The others wait for a slot here, and each host's deadline runs from its
     * own call. Enough to keep the server busy; hosts catching up by themselves meanwhile take their turn too.
     */
    static final int CONCURRENT_SYNCS = 32;

    private final AgentClients agents;
    private final HostRegistry registry;
    private final Liveness liveness;
    private final Duration deadline;
    /** Shared by every fan-out of this controller (a create's, an operator's sync, a repair pass): one git server. */
    private final Semaphore slots = new Semaphore(CONCURRENT_SYNCS, true);
    /** See {@link #onHostResult}. */
    private volatile java.util.function.Consumer<HostResult> hostResults = r -> {};

    /** @param deadline how long one host's sync may take (a pull and a few defines usually take well under a second) */
    public FanOut(AgentClients agents, HostRegistry registry, Liveness liveness, Duration deadline) {
        this.agents = agents;
        this.registry = registry;
        this.liveness = liveness;
        this.deadline = deadline;
    }

    /** Syncs every registered host; see {@link #sync(String, Collection, Progress)}. */
    public List<HostResult> syncAll(String commit, Progress progress) {
        return sync(commit, registry.all().stream().map(HostRecord::name).toList(), progress);
    }

    /**
     * Asks each of {@code hosts} to sync to at least {@code commit} (empty: the controller's current main) and
     * waits for all of them, at most the deadline. Reports each result through {@code progress} (step
     * {@value #STEP}) as it arrives; returns them sorted by host.
     */
    public List<HostResult> sync(String commit, Collection<String> hosts, Progress progress) {
        Progress out = progress.serialized();
        long start = System.nanoTime();
        List<HostCall> calls = new ArrayList<>();
        for (String host : new TreeSet<>(hosts)) {
            Optional<HostRecord> record = registry.get(host);
            if (record.isEmpty()) {
                continue; // forgotten meanwhile
            }
            Liveness.Verdict verdict = liveness.judge(record.get(), registry.nanoTime());
            HostCall call = new HostCall(host, start, deadline, out);
            calls.add(call);
            if (liveness.silent(record.get(), registry.nanoTime())) {
                call.finish(Outcome.CATCHING_UP, "unreachable (" + verdict.reason() + "): will catch up when it is back");
                continue;
            }
            try {
                // A slot frees when a call ends, which each does within its deadline.
                if (!slots.tryAcquire(deadline.toNanos() + MARGIN.toNanos(), TimeUnit.NANOSECONDS)) {
                    call.finish(Outcome.CATCHING_UP, "not asked: " + CONCURRENT_SYNCS + " hosts still syncing after "
                            + deadline.toSeconds() + " s; will catch up");
                    continue;
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                call.finish(Outcome.CATCHING_UP, "not asked (the controller is stopping): will catch up");
                continue;
            }
            call.calling(slots);
            try {
                agents.asyncAgent(host).withDeadlineAfter(deadline.toMillis(), TimeUnit.MILLISECONDS)
                        .syncDefinitions(SyncDefinitionsRequest.newBuilder().setCommit(commit).build(), call);
            } catch (StatusRuntimeException e) {
                call.onError(e);
            }
        }
        for (HostCall call : calls) {
            try {
                // Each call ends by itself within its deadline; the margin covers a reply in flight at that moment.
                long waitUntil = call.calledAt + deadline.toNanos() + MARGIN.toNanos();
                if (!call.done.await(Math.max(0, waitUntil - System.nanoTime()), TimeUnit.NANOSECONDS)) {
                    call.finish(Outcome.CATCHING_UP, "no answer within " + deadline.toSeconds() + " s: will catch up");
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                call.finish(Outcome.CATCHING_UP, "not waited for (the controller is stopping): will catch up");
            }
        }
        List<HostResult> results = calls.stream().map(c -> c.result).sorted(Comparator.comparing(HostResult::host)).toList();
        long inStep = results.stream().filter(r -> r.outcome() == Outcome.IN_STEP).count();
        log.info("definitions {} synced on {} of {} hosts in {} ms", shortCommit(commit), inStep, results.size(),
                TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start));
        results.forEach(hostResults);
        return results;
    }

    /** Hears each host's result of every fan-out, once it is waited for: metrics time them. */
    public void onHostResult(java.util.function.Consumer<HostResult> listener) {
        this.hostResults = java.util.Objects.requireNonNull(listener, "listener");
    }

    static String shortCommit(String commit) {
        return commit.isEmpty() ? "(current)" : commit.substring(0, Math.min(12, commit.length()));
    }

    /** One host's streaming call: collects its events, reports once. */
    private static final class HostCall implements StreamObserver<SyncEvent> {
        private final String host;
        private final long start;
        private final Duration deadline;
        private final Progress progress;
        private final Map<SyncAction, List<String>> acted = new EnumMap<>(SyncAction.class);
        private final List<String> notes = new ArrayList<>();
        private final CountDownLatch done = new CountDownLatch(1);
        private final AtomicBoolean finished = new AtomicBoolean();
        /** When the call went out (System.nanoTime); never called: when it was decided not to. */
        private volatile long calledAt = System.nanoTime();
        /** The fan-out slot the call holds until it finishes; null when it holds none. */
        private volatile Semaphore slot;
        private volatile SyncEvent last;
        private volatile HostResult result;

        HostCall(String host, long start, Duration deadline, Progress progress) {
            this.host = host;
            this.start = start;
            this.deadline = deadline;
            this.progress = progress;
        }

        @Override
        public synchronized void onNext(SyncEvent event) {
            last = event;
            if (!event.getVmName().isEmpty()) {
                acted.computeIfAbsent(event.getAction(), a -> new ArrayList<>()).add(event.getVmName());
                if (event.getAction() == SyncAction.SYNC_ACTION_KEPT || event.getAction() == SyncAction.SYNC_ACTION_FAILED) {
                    notes.add(event.getVmName() + ": " + event.getDetail());
                }
            }
        }

        @Override
        public void onError(Throwable t) {
            Status status = Status.fromThrowable(t);
            String why = status.getDescription() == null ? status.getCode().toString() : status.getDescription();
            if (status.getCode() == Status.Code.DEADLINE_EXCEEDED) {
                // gRPC's own description ("CallOptions deadline exceeded after 3.99s. Name resolution delay...
                // [remote_addr=...]") is for debugging the transport, not for the operator's line about a host.
                why = "no answer within " + deadline.toSeconds() + " s";
            }
            if (status.getCode() == Status.Code.UNAVAILABLE || status.getCode() == Status.Code.DEADLINE_EXCEEDED) {
                finish(Outcome.CATCHING_UP, "unreachable (" + why + "): will catch up when it is back");
            } else {
                finish(Outcome.FAILED, "sync failed: " + why + "; the reconciler retries");
            }
        }

        @Override
        public void onCompleted() {
            SyncEvent end = last;
            if (end != null && end.getDone()) {
                finish(Outcome.IN_STEP, summary());
            } else {
                String why = end == null ? "the agent ended the sync without a word" : end.getDetail();
                finish(Outcome.FAILED, summary() + "; incomplete: " + why + "; the reconciler retries");
            }
        }

        /** The call goes out now, holding one of {@code slots}. */
        void calling(Semaphore slots) {
            calledAt = System.nanoTime();
            slot = slots;
        }

        synchronized void finish(Outcome outcome, String detail) {
            if (!finished.compareAndSet(false, true)) {
                return;
            }
            if (slot != null) {
                slot.release();
            }
            SyncEvent end = last;
            result = new HostResult(host, outcome, detail, end == null ? "" : end.getSyncedCommit(),
                    Duration.ofNanos(System.nanoTime() - start));
            try {
                progress.step(STEP, host, detail);
            } finally {
                done.countDown();
            }
        }

        /** "defined web, db; undefined old" or "in step: nothing to change". */
        private synchronized String summary() {
            List<String> parts = new ArrayList<>();
            for (var e : acted.entrySet()) {
                if (e.getKey() == SyncAction.SYNC_ACTION_KEPT || e.getKey() == SyncAction.SYNC_ACTION_FAILED) {
                    continue;
                }
                parts.add(verb(e.getKey()) + " " + names(e.getValue()));
            }
            parts.addAll(notes);
            String commit = last == null ? "" : " at " + shortCommit(last.getSyncedCommit());
            return parts.isEmpty() ? "in step" + commit + ": nothing to change" : String.join("; ", parts) + commit;
        }

        private static String verb(SyncAction action) {
            return switch (action) {
                case SYNC_ACTION_DEFINED -> "defined";
                case SYNC_ACTION_REDEFINED -> "redefined";
                case SYNC_ACTION_REPAIRED -> "repaired (changed by hand)";
                case SYNC_ACTION_UNDEFINED -> "undefined";
                default -> action.name().toLowerCase(java.util.Locale.ROOT).replace("sync_action_", "");
            };
        }

        private static String names(List<String> vms) {
            return vms.size() <= 5 ? String.join(", ", vms)
                    : String.join(", ", vms.subList(0, 5)) + " and " + (vms.size() - 5) + " more";
        }
    }
}
