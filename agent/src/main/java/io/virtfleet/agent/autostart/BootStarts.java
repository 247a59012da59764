package io.virtfleet.agent.autostart;

import io.virtfleet.agent.hypervisor.DefinitionLedger;
import io.virtfleet.agent.hypervisor.Domains;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SortedMap;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The agent's autostart: what libvirt's autostart would do at boot, done behind the agent's start gate instead.
 *
 * <p>libvirtd starts its autostart domains at boot, before the agent runs. A host that was lost and whose VMs were
 * restarted elsewhere would then run a second QEMU on their disks until the agent stood down, and for ever if it never
 * reached the controller. So the agent defines every domain with libvirt's autostart off and keeps the controller's
 * wish in its ledger ({@link DefinitionLedger.Entry#autostart}); once the start gate first opens (the controller has
 * answered since the agent started, orders no stand-down, whose destroys clear the wish of the VMs that moved, and
 * does not hold after a restore from a backup, whose records may home here a VM that runs elsewhere now)
 * and a sync of the definitions has run to its end since the agent started, it starts each domain the ledger wants
 * started that is not running and whose record at the synced commit names this host as home, once per host boot
 * ({@link BootMark}). The ledger alone is not trusted: a move interrupted between libvirt's end and the ledger's
 * update would leave the wish of a VM that runs elsewhere now.
 *
 * <p>Domains an agent of before defined with libvirt's autostart on are taken over when the agent starts: the flag is
 * turned off and kept as the wish. Everything runs on a thread of its own, one step at a time; a failure is logged and
 * never stops the agent (the controller's reconciler starts the VMs wanted running anyway).
 */
public final class BootStarts implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(BootStarts.class);

    /**
     * What the boot starts came to.
     *
     * @param decision what the running boot called for; null when the boot could not be identified
     * @param started  the domains started, by name
     * @param failed   the domains that could not be started, with why
     */
    public record Outcome(BootMark.Decision decision, List<String> started, SortedMap<String, String> failed) {}

    private final Domains domains;
    private final DefinitionLedger ledger;
    private final BootMark mark;
    private final HostBoot boot;
    private final AtomicBoolean asked = new AtomicBoolean();
    private volatile boolean allowed;
    /** The VMs homed here at the latest complete sync since the agent started; null before one. */
    private volatile Set<String> homesHere;
    private final CompletableFuture<Outcome> done = new CompletableFuture<>();
    private final ExecutorService thread = Executors.newSingleThreadExecutor(r -> {
        Thread t = new Thread(r, "vf-boot-starts");
        t.setDaemon(true);
        return t;
    });

    public BootStarts(Domains domains, DefinitionLedger ledger, Path stateDirectory, HostBoot boot) {
        this.domains = domains;
        this.ledger = ledger;
        this.mark = new BootMark(stateDirectory);
        this.boot = boot;
    }

    /** At the agent's start, before the start gate can open: libvirt's own autostart of home domains taken over. */
    public void agentStarted() {
        submit(() -> {
            try {
                if (mark.markFirstRun(boot.id())) {
                    log.info("first start of an agent that starts domains with the host: this boot was libvirt's to"
                            + " serve; the next boots are the agent's");
                }
            } catch (IOException e) {
                log.warn("cannot mark this boot as libvirt's ({}): if the host boots again before the controller"
                        + " answers, that boot starts nothing; the controller starts the VMs wanted running",
                        e.getMessage());
            }
            takeOverLibvirtAutostart();
        });
    }

    /** The start gate has opened for the first time since the agent started: the boot's starts, if they are due. */
    public void startsAllowed() {
        allowed = true;
        startWhenReady();
    }

    /** A sync ran to its end: {@code homes} are the VMs its commit homes on this host. */
    public void syncCompleted(Set<String> homes) {
        homesHere = Set.copyOf(homes);
        startWhenReady();
    }

    private void startWhenReady() {
        if (allowed && homesHere != null && asked.compareAndSet(false, true)) {
            submit(() -> {
                takeOverLibvirtAutostart(); // again: libvirt may not have answered at the agent's start
                done.complete(startWithHost());
            });
        }
    }

    /** Completes once the boot's starts were decided and made (a test waits for this; the log says it too). */
    public CompletableFuture<Outcome> done() {
        return done;
    }

    /** Turns libvirt's own autostart of each home domain of the ledger into the ledger's wish. */
    void takeOverLibvirtAutostart() {
        ledger.all().forEach((vm, entry) -> {
            if (entry.replica()) {
                return; // a sync turns a replica's flag off, and a replica is never started
            }
            try {
                Domains.Step step = domains.takeOverLibvirtAutostart(vm).get();
                if (step.changed()) {
                    log.info("{}", step.detail());
                }
            } catch (ExecutionException e) {
                log.warn("{}: libvirt's own autostart not taken over: {}", vm, e.getCause().getMessage());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
    }

    private Outcome startWithHost() {
        String id;
        BootMark.Decision decision;
        try {
            id = boot.id();
            decision = mark.serve(id);
        } catch (IOException e) {
            log.error("starting no domain with the host: {}; the controller starts those wanted running",
                    e.getMessage());
            return new Outcome(null, List.of(), new TreeMap<>());
        }
        if (decision == BootMark.Decision.ALREADY_SERVED) {
            log.info("boot {} of this host had its domains started already (the agent restarted since): starting none",
                    id);
            return new Outcome(decision, List.of(), new TreeMap<>());
        }
        if (decision == BootMark.Decision.FIRST_RUN) {
            log.info("first start of an agent that starts domains with the host: boot {} was libvirt's to serve;"
                    + " the next boots are the agent's", id);
            return new Outcome(decision, List.of(), new TreeMap<>());
        }
        List<String> started = new ArrayList<>();
        SortedMap<String, String> failed = new TreeMap<>();
        for (Map.Entry<String, DefinitionLedger.Entry> e : ledger.all().entrySet()) {
            if (e.getValue().replica() || !e.getValue().autostart()) {
                continue;
            }
            String vm = e.getKey();
            if (!homesHere.contains(vm)) {
                log.warn("host boot {}: {} not started: the ledger wants it started with the host, but its record names"
                        + " another home (or none): it runs elsewhere, or was deleted", id, vm);
                continue;
            }
            try {
                Domains.Step step = domains.startAtBoot(vm).get();
                if (step.changed()) {
                    started.add(vm);
                    log.info("host boot {}: {} (autostart)", id, step.detail());
                } else {
                    log.info("host boot {}: {}", id, step.detail());
                }
            } catch (ExecutionException failure) {
                String why = failure.getCause() == null ? failure.toString()
                        : String.valueOf(failure.getCause().getMessage());
                failed.put(vm, why);
                log.warn("host boot {}: cannot start {} (autostart): {}", id, vm, why);
            } catch (InterruptedException interrupted) {
                Thread.currentThread().interrupt();
                break;
            }
        }
        log.info("host boot {}: started {} domain(s) with the host{}", id, started.size(),
                failed.isEmpty() ? "" : "; " + failed.size() + " could not be started: " + failed.keySet());
        return new Outcome(decision, List.copyOf(started), failed);
    }

    private void submit(Runnable work) {
        try {
            thread.execute(() -> {
                try {
                    work.run();
                } catch (RuntimeException e) {
                    log.error("starting domains with the host failed", e);
                    done.completeExceptionally(e);
                }
            });
        } catch (RejectedExecutionException e) {
            log.debug("the agent is stopping: no boot starts");
        }
    }

    @Override
    public void close() {
        thread.shutdownNow();
    }
}
