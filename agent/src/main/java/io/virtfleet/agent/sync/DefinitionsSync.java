package io.virtfleet.agent.sync;

import io.virtfleet.agent.hypervisor.DefinitionLedger;
import io.virtfleet.agent.hypervisor.DomainOperationException;
import io.virtfleet.agent.hypervisor.Domains;
import io.virtfleet.common.fingerprint.Sha256;
import io.virtfleet.agent.storage.DiskOutcome;
import io.virtfleet.agent.storage.StorageException;
import io.virtfleet.common.validation.InvalidInputException;
import io.virtfleet.proto.v1.SyncAction;
import io.virtfleet.proto.v1.SyncEvent;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.EnumSet;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.SortedMap;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BiConsumer;
import java.util.function.BooleanSupplier;
import java.util.function.Consumer;
import java.util.regex.Pattern;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Brings this host's replicas in step with the definitions repository (SyncDefinitions): pulls the clone, then
 * defines every VM whose record says replicated and names another home host (autostart off, never started), defines
 * again those whose definition changed in the repository or by hand (unless they run), and undefines the replicas
 * whose VM left the repository or stopped being replicated here (unless they run). Only domains the ledger holds
 * as replicas are ever undefined; a home domain, or one virtfleet never defined, is left alone.
 *
 * <p>One sync at a time, on a thread of its own: a request arriving meanwhile waits, then runs its own (cheap when
 * nothing changed: a fetch that brings nothing and one definition read per replica). Each decision about a domain
 * is taken and carried out while {@link Domains} holds that VM's lock, on what libvirt holds at that moment.
 */
public final class DefinitionsSync implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(DefinitionsSync.class);
    private static final Pattern COMMIT = Pattern.compile("[0-9a-f]{40}");
    /** How long stopping waits for a sync in progress. */
    private static final Duration CLOSE_WAIT = Duration.ofSeconds(15);
    /** Longest sync_error kept for reports: the first few failures say enough. */
    private static final int MAX_ERROR_CHARS = 2000;

    private final String hostName;
    private final DefinitionsSource source;
    private final Domains domains;
    private final DefinitionLedger ledger;
    private final SyncState state;
    private final ReportRefresh reportCatchesUp;
    private volatile RbdKey rbdKey;
    private volatile Runnable afterPull = () -> { };
    private final AtomicInteger pending = new AtomicInteger();
    private final ExecutorService thread = Executors.newSingleThreadExecutor(r -> {
        Thread t = new Thread(r, "vf-definitions-sync");
        t.setDaemon(true);
        return t;
    });
    private volatile boolean completedOnce;
    /** Told, after each complete sync, the VMs whose record at that commit names this host as home. */
    private volatile BiConsumer<String, Set<String>> afterCompletion = (commit, homes) -> { };
    private volatile BooleanSupplier holding = () -> false;
    /** Whether the latest sync pulled but changed nothing because the controller holds. */
    private volatile boolean heldLast;
    /** See {@link #timedBy}. */
    private volatile SyncListener timings = (outcome, nanos) -> { };
    private volatile boolean closed;

    /**
     * @param hostName this host's name in the fleet: VMs homed here are not replicas here
     * @param ledger   the ledger {@code domains} records in
     */
    public DefinitionsSync(String hostName, DefinitionsSource source, Domains domains, DefinitionLedger ledger,
                           SyncState state) {
        this(hostName, source, domains, ledger, state, () -> { });
    }

    /**
     * @param reportCatchesUp waits until the host's report shows libvirt as it is now: called before a complete
     *                        sync's commit is published, so no report claims the commit with the domain list of
     *                        before (the controller would see the new replicas as missing)
     */
    public DefinitionsSync(String hostName, DefinitionsSource source, Domains domains, DefinitionLedger ledger,
                           SyncState state, ReportRefresh reportCatchesUp) {
        this.hostName = hostName;
        this.source = source;
        this.domains = domains;
        this.ledger = ledger;
        this.state = state;
        this.reportCatchesUp = reportCatchesUp;
    }

    /**
     * Makes the cephx key available to libvirt on this host, as the disk step does on a home host: a replica of an
     * RBD-backed VM is only worth having if QEMU here can open its disk once someone starts it here.
     */
    @FunctionalInterface
    public interface RbdKey {
        DiskOutcome ensure();
    }

    /** This sync, also putting the cephx key into libvirt whenever it holds replicas with RBD disks. */
    public DefinitionsSync withRbdKey(RbdKey key) {
        this.rbdKey = key;
        return this;
    }

    /**
     * This sync, also running {@code then} after each pull, on the sync's thread, before the replicas are looked at:
     * for what the host judges of the repository's other files (the fleet CPU model), so the sync's report says it.
     */
    public DefinitionsSync withAfterPull(Runnable then) {
        this.afterPull = then;
        return this;
    }

    /**
     * This sync, holding while {@code held} says the controller holds after a restore from a backup: the restored
     * records may be older than what runs (a VM moved since has another home in them, one created since has none), so
     * a sync then pulls and changes no domain (defines, redefines, undefines nothing) and ends with a
     * {@value #HOLDING} error, which the host's reports show; the synced commit stays.
     */
    public DefinitionsSync withHold(BooleanSupplier held) {
        this.holding = held;
        return this;
    }

    /** How the error of a sync that held starts. */
    public static final String HOLDING = "holding:";

    /** Whether the latest sync pulled but changed nothing because the controller held. */
    boolean heldLast() {
        return heldLast;
    }

    /**
     * Whether the definitions at {@code synced} include {@code commit}: the same commit, or one it descends from
     * (as the clone knows them). Reads the clone: not for an event loop.
     */
    public boolean includes(String synced, String commit) {
        if (commit.isEmpty() || commit.equals(synced)) {
            return true;
        }
        if (synced.isEmpty() || !COMMIT.matcher(synced).matches() || !COMMIT.matcher(commit).matches()) {
            return false;
        }
        try {
            return source.current().contains(synced, commit);
        } catch (IOException | SyncException e) {
            log.warn("cannot tell whether definitions commit {} includes {}: {}", brief(synced), brief(commit),
                    e.getMessage());
            return false;
        }
    }

    /** Brings the host's report up to date with libvirt. */
    @FunctionalInterface
    public interface ReportRefresh {
        void await() throws InterruptedException;
    }

    /** Checks a SyncDefinitionsRequest.commit: empty, or a full commit id. */
    public static String checkCommit(String field, String commit) {
        if (!commit.isEmpty() && !COMMIT.matcher(commit).matches()) {
            throw new InvalidInputException(field, commit,
                    "a commit of the definitions repository (40 lowercase hex digits), or empty for its latest");
        }
        return commit;
    }

    /**
     * Queues a sync to at least {@code commit} (empty: whatever main is now). {@code events} is told each event on
     * the sync's thread; it may throw (a caller gone) without stopping the sync. The result completes with the
     * sync's state once it is over (a sync that ran to its end but could not do everything has an error), or
     * fails with {@link SyncException} when it could not pull or the repository lacks {@code commit}.
     */
    public CompletableFuture<SyncState.Status> run(String commit, Consumer<SyncEvent> events) {
        return queue(commit, events, false);
    }

    /**
     * Queues a stand-down, ordered by the controller while it holds this host as lost (its VMs may run elsewhere now):
     * a sync as {@link #run} does, which first, right after the pull and before any replica is touched, destroys every
     * domain virtfleet defined here (the ledger's, under the same UUID) whose VM's record names another home host, and
     * turns its autostart off. Destroyed, not undefined: the definition stays for the operator and, for a replicated
     * VM, becomes its replica here. A domain homed here, or one virtfleet never defined, is left alone. The result
     * completes as {@link #run}'s; its status has no error exactly when every such domain is off.
     */
    public CompletableFuture<SyncState.Status> standDown(String commit, Consumer<SyncEvent> events) {
        return queue(commit, events, true);
    }

    private CompletableFuture<SyncState.Status> queue(String commit, Consumer<SyncEvent> events, boolean standDown) {
        checkCommit("commit", commit);
        CompletableFuture<SyncState.Status> done = new CompletableFuture<>();
        pending.incrementAndGet();
        try {
            thread.execute(() -> {
                long started = System.nanoTime();
                try {
                    if (closed) {
                        throw new SyncException(SyncException.Kind.UNAVAILABLE, "the agent is stopping");
                    }
                    syncNow(commit, events, standDown);
                    SyncState.Status status = state.status();
                    timings.synced(status.error() == null || status.error().isEmpty() ? "complete" : "incomplete",
                            System.nanoTime() - started);
                    done.complete(status);
                } catch (RuntimeException | Error e) {
                    timings.synced("refused", System.nanoTime() - started);
                    if (!(e instanceof SyncException)) {
                        log.error("definitions sync failed unexpectedly", e);
                        state.failed("internal error: " + e);
                    }
                    done.completeExceptionally(e);
                } finally {
                    pending.decrementAndGet();
                }
            });
        } catch (RejectedExecutionException e) {
            pending.decrementAndGet();
            done.completeExceptionally(new SyncException(SyncException.Kind.UNAVAILABLE, "the agent is stopping"));
        }
        return done;
    }

    /** What hears how each sync ended (complete, incomplete, refused) and how long it took (metrics). */
    public interface SyncListener {
        void synced(String outcome, long nanos);
    }

    /** Also tells {@code listener} how each sync went, on the sync's thread; it must be quick and must not throw. */
    public DefinitionsSync timedBy(SyncListener listener) {
        this.timings = java.util.Objects.requireNonNull(listener, "listener");
        return this;
    }

    /** Whether a sync is running or waiting to. */
    public boolean busy() {
        return pending.get() > 0;
    }

    /**
     * Has {@code listener} told, after each sync that ran to its end, its commit and which VMs that commit homes on
     * this host and wants running (not being deleted); called on the sync's thread: it should hand its work to a thread of its own.
     */
    public void afterCompletion(BiConsumer<String, Set<String>> listener) {
        this.afterCompletion = listener;
    }

    /** Whether a sync ran to its end with everything done since the agent started. */
    public boolean completedSinceStart() {
        return completedOnce;
    }

    public SyncState.Status status() {
        return state.status();
    }

    public DefinitionsSource source() {
        return source;
    }

    // ---------------------------------------------------------------------------------------------------

    private void syncNow(String wanted, Consumer<SyncEvent> events, boolean standDown) {
        Run run = new Run(events, standDown);
        DefinitionsClone clone;
        PullResult pulled;
        try {
            clone = source.current();
            pulled = clone.pull();
        } catch (IOException e) {
            throw refused(SyncException.Kind.UNAVAILABLE, e.getMessage());
        } catch (SyncException e) {
            throw refused(e.kind(), e.getMessage());
        }
        run.commit = pulled.commit();
        run.emit("", SyncAction.SYNC_ACTION_PULLED, pulledDetail(clone, pulled));
        afterPull.run();
        SortedMap<String, String> desired = new TreeMap<>();
        VmRecords records;
        try {
            if (!wanted.isEmpty() && !clone.onMain(wanted)) {
                throw refused(SyncException.Kind.PRECONDITION, "main of the definitions at " + clone.url() + " ("
                        + brief(run.commit) + ") does not contain the commit asked for, " + wanted);
            }
            records = VmRecords.read(clone.directory());
        } catch (IOException e) {
            throw refused(SyncException.Kind.UNAVAILABLE, "cannot read the definitions clone in " + clone.directory()
                    + ": " + e.getMessage());
        }
        for (VmRecords.VmRecord vm : records.all().values()) {
            if (vm.homeHost().equals(hostName) && !vm.deleting() && vm.runningWanted()) {
                run.homesHere.add(vm.name());
            }
        }
        heldLast = false;
        if (holding.getAsBoolean()) {
            heldLast = true;
            String why = HOLDING + " the controller holds after a restore from a backup: pulled " + brief(run.commit)
                    + " but no domain defined, redefined or undefined until an admin releases the hold (virtfleet"
                    + " restore-hold release); synced commit stays " + (state.status().syncedCommit().isEmpty() ? "none"
                    : brief(state.status().syncedCommit()));
            state.failed(why);
            run.emit("", SyncAction.SYNC_ACTION_FAILED, why);
            return;
        }
        records.unreadable().forEach((vm, why) -> run.failed(vm, "its record cannot be read, so whether it is a replica"
                + " here is unknown; left as it is: " + why));
        if (standDown) {
            destroyMoved(records, run);
        }
        for (VmRecords.VmRecord vm : records.all().values()) {
            // A domain that could not be destroyed is left as it is (not redefined), and the stand-down is retried.
            if (vm.replicated() && !vm.deleting() && !vm.homeHost().equals(hostName) && !run.failed.containsKey(vm.name())) {
                definitionOf(clone, vm.name(), run).ifPresent(xml -> desired.put(vm.name(), xml));
            }
        }
        desired.forEach((vm, xml) -> replicate(vm, xml, run));
        if (desired.values().stream().anyMatch(DefinitionsSync::usesRbd)) {
            keepRbdKey();
        }
        ledger.all().forEach((vm, entry) -> {
            VmRecords.VmRecord record = records.get(vm);
            if (entry.replica() && !desired.containsKey(vm) && !run.failed.containsKey(vm)
                    && (record == null || !record.homeHost().equals(hostName))) {
                remove(vm, entry, whyNotWanted(record), run);
            }
        });
        finish(run);
    }

    /**
     * Destroys every domain virtfleet defined here whose VM's home is another host, and turns its autostart off
     * (libvirt's flag and the ledger's wish: the host's next boot would start it again otherwise). Only the ledger's
     * domains, under the UUID it holds, are looked at: a domain someone else defined under a VM's name is not
     * virtfleet's to stop. Each is decided under the VM's lock on what libvirt holds then; one libvirt refuses is a
     * failure of the stand-down, with libvirt's error.
     */
    private void destroyMoved(VmRecords records, Run run) {
        ledger.all().forEach((vm, entry) -> {
            VmRecords.VmRecord record = records.get(vm);
            if (record == null || record.homeHost().isEmpty() || record.homeHost().equals(hostName)) {
                return; // homed here (or left the repository: no other host runs it)
            }
            run.considered.add(vm);
            act(vm, run, "not stood down (its home is now " + record.homeHost() + "): ", held -> {
                Optional<Domains.Found> found = held.found();
                if (found.isEmpty() || !found.get().uuid().equalsIgnoreCase(entry.uuid())) {
                    return Optional.empty();
                }
                boolean startsWithHost = found.get().autostart() || ledger.get(vm)
                        .filter(e -> e.uuid().equalsIgnoreCase(entry.uuid())).map(DefinitionLedger.Entry::autostart)
                        .orElse(false);
                if (!found.get().active() && !startsWithHost && !ledger.unsaved()) {
                    return Optional.empty(); // off already, and stays off (the ledger's file says so too)
                }
                Domains.Step step = held.destroy();
                return Optional.of(event(SyncAction.SYNC_ACTION_DESTROYED, step.detail() + ": its home is now "
                        + record.homeHost()));
            });
        });
    }

    /**
     * The repository's definition of a replicated VM; empty when it has none (the VM is then not a replica here),
     * or when it cannot be read (then a failure: its replica is left as it is).
     */
    private Optional<String> definitionOf(DefinitionsClone clone, String vm, Run run) {
        Path file;
        try {
            file = clone.definition(vm);
        } catch (IOException e) {
            log.debug("{} is replicated but has no definition yet: {}", vm, e.getMessage());
            return Optional.empty();
        }
        try {
            return Optional.of(Files.readString(file, StandardCharsets.UTF_8));
        } catch (IOException e) {
            run.failed(vm, "cannot read its definition " + DefinitionFiles.pathOf(vm) + ": " + e);
            return Optional.empty();
        }
    }

    /** Whether a definition names an RBD disk (the controller renders {@code <source protocol='rbd' ...>}). */
    static boolean usesRbd(String xml) {
        return xml.contains("protocol='rbd'") || xml.contains("protocol=\"rbd\"");
    }

    /**
     * The key is not part of the replica (libvirt keeps it apart from domains); without it the replica is still
     * defined, so a missing keyring is logged, not a failed sync.
     */
    private void keepRbdKey() {
        RbdKey key = rbdKey;
        if (key == null) {
            return;
        }
        try {
            DiskOutcome outcome = key.ensure();
            if (outcome.changed()) {
                log.info("cephx key for RBD replicas: {}", outcome.detail());
            }
        } catch (StorageException e) {
            log.warn("replicas with RBD disks are defined, but starting one here would fail: {}", e.getMessage());
        }
    }

    private static String whyNotWanted(VmRecords.VmRecord record) {
        if (record == null) {
            return "its VM left the repository";
        }
        if (record.deleting()) {
            return "its VM is being deleted";
        }
        return record.replicated() ? "its VM has no definition in the repository" : "its VM is no longer replicated";
    }

    /** Puts one replica in step with its definition, deciding on what libvirt holds now. */
    private void replicate(String vm, String xml, Run run) {
        String sourceSha256 = Sha256.hex(xml);
        run.considered.add(vm);
        act(vm, run, held -> {
            Optional<Domains.Found> found = held.found();
            if (found.isEmpty()) {
                held.define(xml, false, true);
                return Optional.of(event(SyncAction.SYNC_ACTION_DEFINED, "defined (replica, autostart off)"));
            }
            Domains.Found domain = found.get();
            Optional<DefinitionLedger.Entry> entry = ledger.get(vm).filter(e -> e.uuid().equalsIgnoreCase(domain.uuid()));
            if (entry.isEmpty() && domain.active()) {
                // Not virtfleet's here, and running: a second copy of the VM (or a stranger under its name). Defining
                // it as a replica would make it virtfleet's to destroy at a stand-down; it is left alone, and this
                // host's sync fails on it until someone stops it here.
                throw new DomainOperationException(DomainOperationException.Reason.WRONG_STATE, vm + " runs here ("
                        + domain.uuid() + ") although virtfleet never defined it here, and this host is not its home:"
                        + " not defined again as a replica; stop it here (virsh destroy " + vm + ") if the VM runs on"
                        + " its home host");
            }
            if (entry.isPresent() && !entry.get().replica() && domain.active()) {
                // Defined here as its home and running: the record naming another home is older than what runs (a
                // controller restored from a backup taken before a move or failover), or a move's end is not
                // recorded yet. Redefining it would rewrite the running VM's definition and drop its start with the
                // host; it is left as it is.
                return Optional.of(event(SyncAction.SYNC_ACTION_KEPT, "running here, where it was defined as its home,"
                        + " although its record names another home: not defined again as a replica"));
            }
            if (entry.isEmpty() || !entry.get().replica() || !entry.get().sourceSha256().equals(sourceSha256)) {
                String why = entry.isEmpty() ? "virtfleet had no record of defining it here"
                        : !entry.get().replica() ? "it was defined here as its home"
                        : "its definition changed in the repository";
                Domains.Step step = held.define(xml, false, true);
                return Optional.of(event(SyncAction.SYNC_ACTION_REDEFINED, "defined again (replica, autostart off): " + why
                        + (step.changed() ? "" : "; libvirt already held it as given")));
            }
            boolean edited = !domain.definitionSha256().equals(entry.get().definedSha256());
            if (!edited && !domain.autostart()) {
                return Optional.empty(); // up to date
            }
            String change = edited ? "changed by hand" : "autostart turned on by hand";
            if (domain.active()) {
                return Optional.of(event(SyncAction.SYNC_ACTION_KEPT, "running and " + change + ": not overwritten"));
            }
            held.define(xml, false, true);
            return Optional.of(event(SyncAction.SYNC_ACTION_REPAIRED, change + "; defined again from the repository"
                    + " (replica, autostart off)"));
        });
    }

    /** Undefines a replica that is no longer wanted here, unless it runs or is not the domain virtfleet defined. */
    private void remove(String vm, DefinitionLedger.Entry entry, String why, Run run) {
        run.considered.add(vm);
        act(vm, run, held -> {
            Optional<Domains.Found> found = held.found();
            if (found.isEmpty() || !found.get().uuid().equalsIgnoreCase(entry.uuid())) {
                // Gone already, or someone put another domain under the name: nothing of virtfleet's is left to undefine.
                ledger.forget(vm);
                return Optional.empty();
            }
            if (found.get().active()) {
                return Optional.of(event(SyncAction.SYNC_ACTION_KEPT, "running; removed from the repository: not undefined ("
                        + why + ")"));
            }
            held.undefine();
            return Optional.of(event(SyncAction.SYNC_ACTION_UNDEFINED, "undefined: " + why));
        });
    }

    /** What a decision about one domain came to: an action and its account. */
    private record Decided(SyncAction action, String detail) {}

    private static Decided event(SyncAction action, String detail) {
        return new Decided(action, detail);
    }

    /** Runs one decision under the VM's lock and reports it; a refusal is that VM's failure, and the sync goes on. */
    private void act(String vm, Run run, Domains.HeldWork<Optional<Decided>> work) {
        act(vm, run, "", work);
    }

    /** As {@link #act(String, Run, Domains.HeldWork)}, a failure's account starting with {@code failure}. */
    private void act(String vm, Run run, String failure, Domains.HeldWork<Optional<Decided>> work) {
        try {
            Optional<Decided> decided = domains.exclusively(vm, work).get();
            if (decided.isEmpty()) {
                run.upToDate++;
            } else {
                run.emit(vm, decided.get().action(), decided.get().detail());
            }
        } catch (ExecutionException e) {
            Throwable cause = e.getCause() == null ? e : e.getCause();
            run.failed(vm, failure + (cause instanceof RuntimeException && cause.getMessage() != null ? cause.getMessage()
                    : cause.toString()));
        } catch (InvalidInputException e) {
            run.failed(vm, failure + e.getMessage());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw refused(SyncException.Kind.UNAVAILABLE, "the agent is stopping");
        }
    }

    private void finish(Run run) {
        if (run.failed.isEmpty()) {
            try {
                reportCatchesUp.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw refused(SyncException.Kind.UNAVAILABLE, "the agent is stopping");
            }
            state.completed(run.commit);
            completedOnce = true;
            afterCompletion.accept(run.commit, Set.copyOf(run.homesHere));
            run.emit("", SyncAction.SYNC_ACTION_DONE, "in step with " + brief(run.commit) + ": " + run.summary());
            return;
        }
        String old = state.status().syncedCommit();
        String summary = run.failed.size() + " of " + run.considered.size() + (run.standDown ? " domains" : " replicas")
                + " could not be brought in step" + (run.standDown ? " while standing down" : "") + "; synced"
                + " commit stays " + (old.isEmpty() ? "none" : brief(old));
        StringBuilder error = new StringBuilder(summary);
        run.failed.forEach((vm, why) -> error.append("; ").append(vm).append(": ").append(why));
        state.failed(error.length() > MAX_ERROR_CHARS ? error.substring(0, MAX_ERROR_CHARS - 3) + "..." : error.toString());
        run.emit("", SyncAction.SYNC_ACTION_FAILED, summary);
    }

    private SyncException refused(SyncException.Kind kind, String message) {
        state.failed(message);
        log.warn("definitions sync failed: {}", message);
        return new SyncException(kind, message);
    }

    private static String pulledDetail(DefinitionsClone clone, PullResult pulled) {
        String commit = brief(pulled.commit());
        if (pulled.previous().isEmpty()) {
            return "cloned " + clone.url() + " at " + commit;
        }
        if (pulled.moved()) {
            return "pulled " + brief(pulled.previous().get()) + " -> " + commit + " from " + clone.url();
        }
        return "already at " + commit + " (" + clone.url() + ")";
    }

    static String brief(String commit) {
        return commit.length() > 12 ? commit.substring(0, 12) : commit;
    }

    /** One sync's progress: its events and counts. */
    private static final class Run {
        private final Consumer<SyncEvent> listener;
        private final boolean standDown;
        private boolean listening = true;
        private String commit = "";
        /** Every VM the sync looked at as a replica (to define, keep or undefine), once each. */
        private final Set<String> considered = new HashSet<>();
        /** The VMs the synced commit homes on this host (not being deleted). */
        private final Set<String> homesHere = new HashSet<>();
        private int upToDate;
        private final Map<SyncAction, Integer> actions = new EnumMap<>(SyncAction.class);
        private final SortedMap<String, String> failed = new TreeMap<>();

        Run(Consumer<SyncEvent> listener, boolean standDown) {
            this.listener = listener;
            this.standDown = standDown;
        }

        void failed(String vm, String why) {
            considered.add(vm);
            failed.put(vm, why);
            emit(vm, SyncAction.SYNC_ACTION_FAILED, why);
        }

        void emit(String vm, SyncAction action, String detail) {
            actions.merge(action, 1, Integer::sum);
            SyncEvent event = SyncEvent.newBuilder().setVmName(vm).setAction(action).setDetail(detail)
                    .setSyncedCommit(commit).setDone(action == SyncAction.SYNC_ACTION_DONE).build();
            // The pull is logged by the clone; a sync that found everything in step is not news.
            boolean quiet = action == SyncAction.SYNC_ACTION_PULLED
                    || actions.keySet().equals(EnumSet.of(SyncAction.SYNC_ACTION_PULLED, SyncAction.SYNC_ACTION_DONE));
            if (action == SyncAction.SYNC_ACTION_FAILED) {
                log.warn("definitions sync: {}{}", vm.isEmpty() ? "" : vm + ": ", detail);
            } else if (quiet) {
                log.debug("definitions sync: {}{}", vm.isEmpty() ? "" : vm + ": ", detail);
            } else {
                log.info("definitions sync: {}{}", vm.isEmpty() ? "" : vm + ": ", detail);
            }
            if (listening) {
                try {
                    listener.accept(event);
                } catch (RuntimeException e) {
                    listening = false; // whoever asked is gone; the sync goes on
                    log.debug("definitions sync: events no longer delivered: {}", e.toString());
                }
            }
        }

        String summary() {
            List<String> parts = new ArrayList<>();
            for (SyncAction a : List.of(SyncAction.SYNC_ACTION_DESTROYED, SyncAction.SYNC_ACTION_DEFINED, SyncAction.SYNC_ACTION_REDEFINED,
                    SyncAction.SYNC_ACTION_REPAIRED, SyncAction.SYNC_ACTION_UNDEFINED, SyncAction.SYNC_ACTION_KEPT)) {
                int n = actions.getOrDefault(a, 0);
                if (n > 0) {
                    parts.add(n + " " + a.name().substring("SYNC_ACTION_".length()).toLowerCase(java.util.Locale.ROOT));
                }
            }
            parts.add(upToDate + " up to date");
            return String.join(", ", parts);
        }
    }

    /**
     * Stops syncing: syncs waiting to run are dropped, and one in progress is waited for (up to {@link #CLOSE_WAIT}):
     * interrupting a pull may leave git's lock files in the clone, and a pull going on after the agent stopped would
     * race with whatever comes next in that directory (an agent started again, say).
     */
    @Override
    public void close() {
        closed = true;
        thread.shutdown();
        try {
            if (!thread.awaitTermination(CLOSE_WAIT.toMillis(), TimeUnit.MILLISECONDS)) {
                log.warn("a definitions sync still runs after {} s; interrupting it", CLOSE_WAIT.toSeconds());
                thread.shutdownNow();
            }
        } catch (InterruptedException e) {
            thread.shutdownNow();
            Thread.currentThread().interrupt();
        }
    }
}
