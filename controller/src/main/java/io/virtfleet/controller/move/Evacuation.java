package io.virtfleet.controller.move;

import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.virtfleet.common.validation.Names;
import io.virtfleet.controller.definitions.VmStore;
import io.virtfleet.controller.reconcile.StepFailedException;
import io.virtfleet.controller.registry.Drains;
import io.virtfleet.controller.scheduler.NoHostFitsException;
import io.virtfleet.proto.v1.Vm;
import io.virtfleet.proto.v1.VmPhase;
import io.virtfleet.proto.v1.VmProgress;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentSkipListMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Empties a drained host (virtfleet host drain NAME --move): every VM homed there that can move live is moved, a
 * few at a time, each by {@link Moves} (so each is all-or-nothing on its own); the others are listed with what stops
 * them. Nothing is remembered between runs: the VMs still homed on the host are the work left, so running it again
 * resumes where a cancelled or failed run stopped.
 */
public final class Evacuation {
    private static final Logger log = LoggerFactory.getLogger(Evacuation.class);
    public static final int DEFAULT_PARALLEL = 2;
    public static final int MAX_PARALLEL = 8;

    private final Moves moves;
    private final VmStore store;
    private final Drains drains;

    public Evacuation(Moves moves, VmStore store, Drains drains) {
        this.moves = moves;
        this.store = store;
        this.drains = drains;
    }

    /**
     * A run's handle: cancels the moves it has in flight and starts no more. Each move has a flag of its own, so an
     * operator's {@code vm move NAME --cancel} stops that VM's move only, and the drain goes on with the others.
     */
    public static final class Run {
        private final Moves moves;
        private final Map<String, java.util.concurrent.atomic.AtomicBoolean> inFlight = new ConcurrentHashMap<>();
        private final java.util.concurrent.atomic.AtomicBoolean cancelled = new java.util.concurrent.atomic.AtomicBoolean();

        private Run(Moves moves) {
            this.moves = moves;
        }

        public void cancel() {
            cancelled.set(true);
            inFlight.forEach((vm, flag) -> {
                try {
                    moves.cancelOwn(vm, flag).ifPresent(words -> log.info("evacuation cancelled: {}", words));
                } catch (RuntimeException e) {
                    log.warn("evacuation cancelled; the move of {} could not be told: {}", vm, e.toString());
                }
            });
        }
    }

    /** Checks the request before anything runs; returns the parallelism to use. */
    public static int parallel(int asked) {
        if (asked < 0 || asked > MAX_PARALLEL) {
            throw new io.virtfleet.common.validation.InvalidInputException("parallel", Integer.toString(asked),
                    "0 (the default, " + DEFAULT_PARALLEL + ") to " + MAX_PARALLEL + " moves at once");
        }
        return asked == 0 ? DEFAULT_PARALLEL : asked;
    }

    public Run newRun() {
        return new Run(moves);
    }

    /**
     * Moves the host's VMs off it, reporting each VM's steps with its name; returns what is left on the host, VM
     * name to reason.
     */
    public Map<String, String> run(String host, int parallel, String operator, Run run, Consumer<VmProgress> out) {
        Names.hostName("name", host);
        if (!drains.isDrained(host)) {
            throw Status.FAILED_PRECONDITION.withDescription("host " + host + " is not drained: drain it first (virtfleet"
                    + " host drain " + host + "), so nothing new lands on it while its VMs leave").asRuntimeException();
        }
        Consumer<VmProgress> sink = serialized(out);
        Map<String, String> left = new ConcurrentSkipListMap<>();
        List<String> toMove = new ArrayList<>();
        for (Vm vm : store.all()) {
            if (!vm.getHomeHost().equals(host) || vm.getPhase() == VmPhase.VM_PHASE_DELETING) {
                continue;
            }
            Optional<String> why = moves.refusal(vm);
            if (why.isPresent()) {
                left.put(vm.getSpec().getName(), why.get());
            } else {
                toMove.add(vm.getSpec().getName());
            }
        }
        toMove.sort(null);
        sink.accept(VmProgress.newBuilder().setStep("plan").setHost(host).setDetail(toMove.size() + " VM"
                + (toMove.size() == 1 ? "" : "s") + " to move off " + host + ", " + parallel + " at a time"
                + (left.isEmpty() ? "" : "; " + left.size() + " staying (listed at the end)")).build());
        ExecutorService pool = Executors.newFixedThreadPool(Math.max(1, Math.min(parallel, toMove.size())), r -> {
            Thread t = new Thread(r, "vf-evacuate-" + host);
            t.setDaemon(true);
            return t;
        });
        try {
            List<Future<?>> futures = new ArrayList<>();
            for (String vm : toMove) {
                futures.add(pool.submit(() -> moveOne(host, vm, operator, run, left, sink)));
            }
            for (Future<?> f : futures) {
                try {
                    f.get();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    run.cancel();
                } catch (java.util.concurrent.ExecutionException e) {
                    log.error("evacuation of {} failed unexpectedly", host, e.getCause());
                }
            }
        } finally {
            pool.shutdown();
        }
        StringBuilder words = new StringBuilder();
        left.forEach((vm, why) -> words.append(words.length() == 0 ? "" : "; ").append(vm).append(": ").append(why));
        sink.accept(VmProgress.newBuilder().setStep("left").setHost(host).setVmsLeft(left.size()).setDetail(left.isEmpty()
                ? host + " runs no VM of the fleet now" : left.size() + " VM" + (left.size() == 1 ? "" : "s")
                + " still on " + host + ": " + words).build());
        return left;
    }

    private void moveOne(String host, String vm, String operator, Run run, Map<String, String> left,
                         Consumer<VmProgress> out) {
        if (run.cancelled.get()) {
            left.put(vm, "not moved: the evacuation was cancelled");
            return;
        }
        if (!drains.isDrained(host)) {
            left.put(vm, "not moved: " + host + " was undrained meanwhile (virtfleet host drain " + host + " --move"
                    + " to go on)");
            return;
        }
        java.util.concurrent.atomic.AtomicBoolean own = new java.util.concurrent.atomic.AtomicBoolean();
        run.inFlight.put(vm, own);
        if (run.cancelled.get()) {
            own.set(true); // the run was cancelled while this move was being registered
        }
        try {
            moves.move(vm, null, operator, p -> out.accept(p.toBuilder().setVmName(vm).build()), own);
        } catch (NoHostFitsException e) {
            left.put(vm, e.getMessage());
        } catch (StepFailedException e) {
            left.put(vm, "move failed: " + e.getMessage());
        } catch (StatusRuntimeException e) {
            left.put(vm, e.getStatus().getDescription() == null ? e.getStatus().getCode().toString()
                    : e.getStatus().getDescription());
        } catch (java.io.IOException | RuntimeException e) {
            left.put(vm, "move failed: " + e.getMessage());
        } finally {
            run.inFlight.remove(vm);
        }
        if (left.containsKey(vm)) {
            out.accept(VmProgress.newBuilder().setStep("failed").setVmName(vm).setDetail(left.get(vm)).build());
        }
    }

    private static Consumer<VmProgress> serialized(Consumer<VmProgress> out) {
        Object lock = new Object();
        return p -> {
            synchronized (lock) {
                out.accept(p);
            }
        };
    }
}
