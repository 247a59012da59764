package io.virtfleet.agent.hypervisor;

import io.virtfleet.agent.hypervisor.MigrationException.Kind;
import io.virtfleet.common.units.Bytes;
import io.virtfleet.common.validation.InvalidInputException;
import io.virtfleet.common.validation.Ipv4;
import io.virtfleet.proto.v1.MigrationProgress;
import io.virtfleet.proto.v1.MigrationProgress.Phase;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Consumer;
import org.libvirt.Domain;
import org.libvirt.Domain.DomainMigrateParameters;
import org.libvirt.Domain.MigrateFlags;
import org.libvirt.DomainInfo.DomainState;
import org.libvirt.DomainJobInfo;
import org.libvirt.Error.ErrorNumber;
import org.libvirt.LibvirtException;
import org.libvirt.TypedParameter;
import org.libvirt.TypedStringParameter;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One live migration of a running domain to another host, carried out once: {@link #start} runs libvirt's blocking
 * migrate call (virDomainMigrate3) on a worker, while a ticker of its own asks libvirt for the job's progress, streams
 * it, probes the target's libvirtd, and aborts the job when the migration is cancelled or the target is lost. The
 * domain keeps running here unless libvirt reports success; the result says which.
 */
public final class Migration {
    private static final Logger log = LoggerFactory.getLogger(Migration.class);
    /** virDomainJobType: a job running with or without a known end. */
    private static final int JOB_BOUNDED = 1;
    private static final int JOB_UNBOUNDED = 2;
    /** How long the agent waits for the target to answer one last probe when libvirt's failure leaves it open. */
    private static final long LAST_PROBE_SECONDS = 5;

    private final Migrations owner;
    private final String vm;
    private final String targetHost;
    private final Ipv4 targetAddress;
    private final DomainDefinition definition;
    private final List<String> localDisks;
    private final CompletableFuture<MigrationProgress> result = new CompletableFuture<>();

    private volatile boolean cancelled;
    /** Why the target counts as lost; null while it answers. */
    private volatile String targetLost;
    private final Object sending = new Object();
    /** Guarded by {@link #sending}. */
    private Consumer<MigrationProgress> listener;
    /** Guarded by {@link #sending}: once set, the ticker sends nothing more. */
    private boolean ended;
    private volatile long startedNanos;
    private volatile DomainJobInfo lastSeen;
    /** Used by the ticker only. */
    private Future<?> probe;
    private long probeSentNanos;

    Migration(Migrations owner, String vm, String targetHost, Ipv4 targetAddress, DomainDefinition definition,
              List<String> localDisks) {
        this.owner = owner;
        this.vm = vm;
        this.targetHost = targetHost;
        this.targetAddress = targetAddress;
        this.definition = definition;
        this.localDisks = List.copyOf(localDisks);
    }

    public String vmName() {
        return vm;
    }

    public String targetHost() {
        return targetHost;
    }

    /**
     * Starts the migration on a worker; {@code listener} is told its progress, one event at a time, the last one
     * PHASE_DONE when the target runs the VM. See {@link #result()} for how it ends.
     */
    public void start(Consumer<MigrationProgress> listener) {
        synchronized (sending) {
            this.listener = listener;
        }
        startedNanos = owner.settings().nanoClock().getAsLong();
        owner.execute(this, this::run);
    }

    /**
     * The last event (PHASE_DONE) once the target runs the VM; else fails with {@link MigrationException} (the domain
     * still runs here unless its message says otherwise) or InvalidInputException (the definition is not the running
     * domain's).
     */
    public CompletableFuture<MigrationProgress> result() {
        return result;
    }

    /**
     * Aborts the migration (libvirt's abortJob, asked again at each tick until the job ends); returns at once. A
     * migration libvirt completes before the abort takes effect ends as completed.
     */
    public void cancel() {
        if (!cancelled) {
            cancelled = true;
            log.info("migration of {} to {} cancelled", vm, targetHost);
        }
    }

    private void run() {
        try {
            MigrationProgress done = migrate();
            end(done);
            owner.forget(this);
            result.complete(done);
        } catch (MigrationException | InvalidInputException e) {
            log.warn("migration of {} to {} ({}) failed: {}", vm, targetHost, targetAddress, e.getMessage());
            end(null);
            owner.forget(this);
            result.completeExceptionally(e);
        } catch (RuntimeException | Error e) {
            log.error("migration of {} to {} failed unexpectedly", vm, targetHost, e);
            end(null);
            owner.forget(this);
            result.completeExceptionally(e);
        }
    }

    private MigrationProgress migrate() {
        String here = owner.settings().hostName();
        send(preparing("checking " + vm + " on " + here));
        checkDomain(here);
        checkClientCertificate();
        String uri = owner.targetUri(targetAddress);
        send(preparing("connecting to " + targetHost + "'s libvirtd at " + targetAddress + " over TLS"));
        MigrationConnection source = open(owner.hypervisor().uri(), Kind.UNAVAILABLE, "this host's libvirt at "
                + owner.hypervisor().uri());
        try {
            MigrationConnection target = openTarget(uri);
            try {
                Domain domain = lookup(source, here);
                try {
                    return migrate(domain, source, target, here);
                } finally {
                    freeQuietly(domain);
                }
            } finally {
                target.closeQuietly();
            }
        } finally {
            source.closeQuietly();
        }
    }

    /** The domain exists here, runs, and is the domain the definition is for (same UUID). */
    private void checkDomain(String here) {
        String uuid;
        DomainState state;
        try {
            record Seen(String uuid, DomainState state) {}
            Seen seen = owner.hypervisor().call(conn -> {
                Domain d;
                try {
                    d = conn.domainLookupByName(vm);
                } catch (LibvirtException e) {
                    if (e.getError() != null && e.getError().getCode() == ErrorNumber.VIR_ERR_NO_DOMAIN) {
                        return null;
                    }
                    throw e;
                }
                try {
                    return new Seen(d.getUUIDString(), d.isActive() == 1 ? d.getInfo().state : DomainState.VIR_DOMAIN_SHUTOFF);
                } finally {
                    d.free();
                }
            });
            if (seen == null) {
                throw new MigrationException(Kind.NOT_FOUND, vm + " is not defined on " + here + ": nothing to migrate");
            }
            uuid = seen.uuid();
            state = seen.state();
        } catch (LibvirtException e) {
            throw new MigrationException(Kind.UNAVAILABLE, "cannot look at " + vm + ": " + owner.hypervisor().reason(e));
        }
        if (state != DomainState.VIR_DOMAIN_RUNNING && state != DomainState.VIR_DOMAIN_BLOCKED
                && state != DomainState.VIR_DOMAIN_PAUSED) {
            throw new MigrationException(Kind.FAILED_PRECONDITION, vm + " does not run on " + here + " (libvirt: "
                    + describe(state) + "): only a running VM is migrated live; start it where it should run instead");
        }
        if (!uuid.equalsIgnoreCase(definition.uuid())) {
            throw new InvalidInputException("domain_xml.uuid", definition.uuid(), "the UUID of the domain " + vm
                    + " running on " + here + ", " + uuid);
        }
    }

    private void checkClientCertificate() {
        java.nio.file.Path dir = owner.settings().tlsDirectory();
        List<String> missing = new ArrayList<>();
        for (String file : Migrations.CLIENT_FILES) {
            if (!Files.isReadable(dir.resolve(file))) {
                missing.add(file);
            }
        }
        if (!missing.isEmpty()) {
            throw new MigrationException(Kind.FAILED_PRECONDITION, "this host has no libvirt TLS client certificate to"
                    + " migrate with: " + String.join(", ", missing) + " missing in " + dir + " (the fleet-issued "
                    + String.join(", ", Migrations.CLIENT_FILES) + "); migrations never go unencrypted");
        }
    }

    private static MigrationConnection open(String uri, Kind kind, String what) {
        try {
            return new MigrationConnection(uri);
        } catch (LibvirtException e) {
            throw new MigrationException(kind, "cannot connect to " + what + ": " + LibvirtErrors.message(e));
        }
    }

    /**
     * The target's libvirtd over TLS. Refused certificates (theirs by this host, or this host's by them) are
     * FAILED_PRECONDITION: retrying will not help until certificates change; no answer at all is UNAVAILABLE.
     */
    private MigrationConnection openTarget(String uri) {
        try {
            return new MigrationConnection(uri);
        } catch (LibvirtException e) {
            String message = LibvirtErrors.message(e);
            ErrorNumber code = e.getError() == null ? null : e.getError().getCode();
            boolean refused = code == ErrorNumber.VIR_ERR_AUTH_FAILED || code == ErrorNumber.VIR_ERR_AUTH_CANCELLED
                    || message.toLowerCase(Locale.ROOT).contains("certificate");
            String target = targetHost + "'s libvirtd at " + targetAddress + " (TLS, port 16514)";
            if (refused) {
                throw new MigrationException(Kind.FAILED_PRECONDITION, "cannot migrate " + vm + ": " + target
                        + " and this host do not trust each other's fleet-issued libvirt certificates: " + message);
            }
            throw new MigrationException(Kind.UNAVAILABLE, "cannot migrate " + vm + ": " + target + " is not reachable: "
                    + message);
        }
    }

    private Domain lookup(MigrationConnection source, String here) {
        try {
            return source.domainLookupByName(vm);
        } catch (LibvirtException e) {
            if (e.getError() != null && e.getError().getCode() == ErrorNumber.VIR_ERR_NO_DOMAIN) {
                throw new MigrationException(Kind.NOT_FOUND, vm + " is not defined on " + here + " any more");
            }
            throw new MigrationException(Kind.UNAVAILABLE, "cannot look at " + vm + ": " + LibvirtErrors.message(e));
        }
    }

    private MigrationProgress migrate(Domain domain, MigrationConnection source, MigrationConnection target, String here) {
        if (cancelled) {
            throw new MigrationException(Kind.ABORTED, "migration of " + vm + " to " + targetHost
                    + " cancelled before it started: " + vm + " still runs on " + here);
        }
        ThreadFactory threads = r -> {
            Thread t = new Thread(r, "vf-migration-" + vm);
            t.setDaemon(true);
            return t;
        };
        ScheduledExecutorService ticker = Executors.newSingleThreadScheduledExecutor(threads);
        ExecutorService prober = Executors.newSingleThreadExecutor(threads);
        long interval = owner.settings().progressInterval().toMillis();
        ticker.scheduleWithFixedDelay(() -> tick(domain, target, prober), interval, interval, TimeUnit.MILLISECONDS);
        Domain moved = null;
        LibvirtException failed = null;
        try {
            moved = domain.migrate(target, parameters(domain), flags());
        } catch (LibvirtException e) {
            failed = e;
        } finally {
            stop(ticker, prober); // no abort or progress after this point
        }
        if (failed != null) {
            throw failure(failed, domain, target, here);
        }
        freeQuietly(moved);
        try {
            // The VM runs on the target now: this host's definition must never start it again at boot (two QEMUs on
            // one disk), whatever the controller manages to do next. The controller makes it a replica later.
            domain.setAutostart(false);
        } catch (LibvirtException e) {
            log.error("{} moved to {}, but its autostart here could not be turned off: {}", vm, targetHost, e.getMessage());
        }
        if (cancelled) {
            log.warn("migration of {} to {} completed before its cancellation took effect: it runs there", vm, targetHost);
        }
        long downtime = downtime(source).orElseGet(() -> downtime(target).orElse(0));
        DomainJobInfo last = lastSeen;
        MigrationProgress.Builder done = MigrationProgress.newBuilder()
                .setPhase(Phase.PHASE_DONE)
                .setPercent(100)
                .setElapsedMs(elapsedMs())
                .setDowntimeMs(downtime)
                .setDetail(vm + " runs on " + targetHost + " (" + targetAddress + ")"
                        + (downtime > 0 ? ", paused " + downtime + " ms for the switch-over" : ""));
        if (last != null) {
            done.setDataTotalBytes(last.getDataTotal()).setDataProcessedBytes(last.getDataTotal());
        }
        log.info("migrated {} to {} ({}) in {} ms, downtime {} ms", vm, targetHost, targetAddress, done.getElapsedMs(),
                downtime);
        return done.build();
    }

    private java.util.OptionalLong downtime(MigrationConnection connection) {
        try {
            return JobStats.downtimeMs(connection, definition.uuid());
        } catch (RuntimeException | LinkageError e) {
            log.debug("no job statistics of {}: {}", vm, e.toString());
            return java.util.OptionalLong.empty();
        }
    }

    /**
     * Live (the VM runs during the copy), TLS for QEMU's stream, the definition kept on the target, the source's kept as
     * it is (never VIR_MIGRATE_UNDEFINE_SOURCE), the local disk copied when there is one.
     */
    private int flags() {
        int flags = MigrateFlags.LIVE | MigrateFlags.TLS | MigrateFlags.PERSIST_DEST;
        return localDisks.isEmpty() ? flags : flags | MigrateFlags.NON_SHARED_DISK;
    }

    private TypedParameter[] parameters(Domain domain) throws LibvirtException {
        String xml = definition.xml();
        List<TypedParameter> p = new ArrayList<>();
        // QEMU's stream goes to the address the target's certificate names (also what its TLS client verifies),
        // not to whatever the target's libvirtd thinks its host name resolves to.
        p.add(new TypedStringParameter(DomainMigrateParameters.VIR_MIGRATE_PARAM_URI, "tcp://" + targetAddress));
        // The target runs the guest as it runs here (libvirt's migratable XML: the CPU as libvirt completed it at
        // start, e.g. check='full'), only its local disks where the target keeps them; it keeps the given definition.
        p.add(new TypedStringParameter(DomainMigrateParameters.VIR_MIGRATE_PARAM_DEST_XML,
                destinationXml(domain.getXMLDesc(XML_SECURE | XML_MIGRATABLE), xml, localDisks)));
        p.add(new TypedStringParameter(DomainMigrateParameters.VIR_MIGRATE_PARAM_PERSIST_XML, xml));
        for (String disk : localDisks) {
            p.add(new TypedStringParameter(DomainMigrateParameters.VIR_MIGRATE_PARAM_MIGRATE_DISKS, disk));
        }
        return p.toArray(TypedParameter[]::new);
    }

    private static final int XML_SECURE = 1;
    private static final int XML_MIGRATABLE = 8;

    /**
     * The running domain's migratable XML with each local disk ({@code localDisks}: target device names) at the path
     * {@code targetXml} gives it. libvirt refuses a destination XML that changes what the guest sees.
     */
    static String destinationXml(String migratable, String targetXml, List<String> localDisks) {
        if (localDisks.isEmpty()) {
            return migratable;
        }
        org.w3c.dom.Document running = io.virtfleet.common.xml.Xml.parse("migratable_xml", migratable, 1 << 20);
        org.w3c.dom.Document wanted = io.virtfleet.common.xml.Xml.parse("target_domain_xml", targetXml, 1 << 20);
        for (String dev : localDisks) {
            String file = diskSource(wanted, dev);
            org.w3c.dom.Element source = diskSourceElement(running, dev);
            if (file != null && source != null) {
                source.setAttribute("file", file);
            }
        }
        return io.virtfleet.common.xml.Xml.write(running);
    }

    private static String diskSource(org.w3c.dom.Document doc, String dev) {
        org.w3c.dom.Element source = diskSourceElement(doc, dev);
        return source == null || !source.hasAttribute("file") ? null : source.getAttribute("file");
    }

    private static org.w3c.dom.Element diskSourceElement(org.w3c.dom.Document doc, String dev) {
        org.w3c.dom.NodeList disks = doc.getElementsByTagName("disk");
        for (int i = 0; i < disks.getLength(); i++) {
            org.w3c.dom.Element disk = (org.w3c.dom.Element) disks.item(i);
            org.w3c.dom.NodeList targets = disk.getElementsByTagName("target");
            org.w3c.dom.NodeList sources = disk.getElementsByTagName("source");
            if (targets.getLength() == 1 && dev.equals(((org.w3c.dom.Element) targets.item(0)).getAttribute("dev"))
                    && sources.getLength() == 1) {
                return (org.w3c.dom.Element) sources.item(0);
            }
        }
        return null;
    }

    // The ticker --------------------------------------------------------------------------------------------

    private void tick(Domain domain, MigrationConnection target, ExecutorService prober) {
        if (cancelled || targetLost != null) {
            try {
                domain.abortJob();
            } catch (LibvirtException e) {
                // no job yet (still preparing) or already ending: asked again at the next tick
                log.debug("abort of the migration of {}: {}", vm, LibvirtErrors.message(e));
            }
        }
        try {
            DomainJobInfo info = domain.getJobInfo();
            if (info.getType() == JOB_BOUNDED || info.getType() == JOB_UNBOUNDED) {
                lastSeen = info;
                send(progress(info));
            }
        } catch (LibvirtException e) {
            log.debug("no progress of the migration of {}: {}", vm, LibvirtErrors.message(e));
        }
        probe(target, prober);
    }

    /**
     * Asks the target's libvirtd something cheap, one question at a time: a failed answer (its libvirtd died, its
     * host rebooted) or none within the settings' silence marks the target lost, and the next tick aborts the job.
     */
    private void probe(MigrationConnection target, ExecutorService prober) {
        long now = owner.settings().nanoClock().getAsLong();
        if (probe != null && !probe.isDone()) {
            if (now - probeSentNanos > owner.settings().targetSilence().toNanos()) {
                lose("did not answer for " + owner.settings().targetSilence().toSeconds() + " s");
            }
            return;
        }
        if (probe != null) {
            try {
                probe.get();
            } catch (ExecutionException e) {
                Throwable cause = e.getCause();
                lose("stopped answering (" + (cause instanceof LibvirtException le ? LibvirtErrors.message(le) : cause)
                        + ")");
                return;
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
        probeSentNanos = now;
        try {
            probe = prober.submit(() -> {
                target.getLibVersion();
                return null;
            });
        } catch (java.util.concurrent.RejectedExecutionException e) {
            // the migration is ending
        }
    }

    private void lose(String why) {
        if (targetLost == null) {
            targetLost = why;
            log.warn("migration of {}: {}'s libvirtd at {} {}: aborting", vm, targetHost, targetAddress, why);
        }
    }

    private static void stop(ScheduledExecutorService ticker, ExecutorService prober) {
        ticker.shutdownNow();
        prober.shutdownNow();
        try {
            ticker.awaitTermination(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    // Outcome -------------------------------------------------------------------------------------------------

    /** libvirt's refusal as the contract's statuses, saying where the VM is now. */
    private MigrationException failure(LibvirtException e, Domain domain, MigrationConnection target, String here) {
        String message = LibvirtErrors.message(e);
        String where = whereNow(domain, here);
        String what = "migration of " + vm + " to " + targetHost + " (" + targetAddress + ")";
        if (cancelled) {
            return new MigrationException(Kind.ABORTED, what + " cancelled: " + where);
        }
        if (targetLost != null) {
            return new MigrationException(Kind.ABORTED, what + " aborted: " + targetHost + "'s libvirtd " + targetLost
                    + "; " + where);
        }
        ErrorNumber code = e.getError() == null ? null : e.getError().getCode();
        if (code == ErrorNumber.VIR_ERR_OPERATION_ABORTED) {
            return new MigrationException(Kind.ABORTED, what + " aborted on " + here + " (libvirt: " + message + "); "
                    + where);
        }
        if (!answers(target)) {
            return new MigrationException(Kind.ABORTED, what + " failed: " + targetHost + "'s libvirtd stopped answering"
                    + " (libvirt: " + message + "); " + where);
        }
        if (code == ErrorNumber.VIR_ERR_NO_DOMAIN) {
            return new MigrationException(Kind.NOT_FOUND, what + ": " + message);
        }
        return new MigrationException(Kind.FAILED_PRECONDITION, what + " failed (libvirt: " + message + "); " + where);
    }

    /** One last probe of the target, bounded: a hung libvirtd counts as not answering. */
    private static boolean answers(MigrationConnection target) {
        CompletableFuture<Boolean> probe = CompletableFuture.supplyAsync(() -> {
            try {
                target.getLibVersion();
                return true;
            } catch (LibvirtException e) {
                return false;
            }
        }, work -> { // a thread of its own: a hung libvirtd may keep it, never a shared pool's
            Thread t = new Thread(work, "vf-migration-probe");
            t.setDaemon(true);
            t.start();
        });
        try {
            return probe.get(LAST_PROBE_SECONDS, TimeUnit.SECONDS);
        } catch (ExecutionException | TimeoutException e) {
            return false;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    /** Where the VM is after a failed migration, as libvirt here says. */
    private String whereNow(Domain domain, String here) {
        try {
            DomainState state = domain.isActive() == 1 ? domain.getInfo().state : DomainState.VIR_DOMAIN_SHUTOFF;
            return switch (state) {
                case VIR_DOMAIN_RUNNING, VIR_DOMAIN_BLOCKED -> vm + " still runs on " + here;
                default -> vm + " is " + describe(state) + " on " + here;
            };
        } catch (LibvirtException e) {
            return "the state of " + vm + " on " + here + " is unknown (" + LibvirtErrors.message(e) + ")";
        }
    }

    private static String describe(DomainState state) {
        return state == null ? "in an unknown state"
                : state.name().substring("VIR_DOMAIN_".length()).toLowerCase(Locale.ROOT).replace("shutoff", "shut off");
    }

    // Events --------------------------------------------------------------------------------------------------

    private MigrationProgress preparing(String detail) {
        return MigrationProgress.newBuilder().setPhase(Phase.PHASE_PREPARING).setElapsedMs(elapsedMs()).setDetail(detail)
                .build();
    }

    /**
     * Progress from libvirt's job: nothing counted yet is still preparing; with a disk to copy, libvirt copies it
     * first (memory not started: no memory total yet), then memory.
     */
    private MigrationProgress progress(DomainJobInfo info) {
        long total = info.getDataTotal();
        long processed = info.getDataProcessed();
        Phase phase;
        String detail;
        if (total == 0 && info.getMemTotal() == 0 && info.getFileTotal() == 0) {
            phase = Phase.PHASE_PREPARING;
            detail = "preparing " + targetHost + " (" + targetAddress + ")";
        } else if (!localDisks.isEmpty() && info.getMemTotal() == 0) {
            phase = Phase.PHASE_COPYING_DISK;
            detail = "disk " + Bytes.human(info.getFileProcessed()) + " of " + Bytes.human(info.getFileTotal())
                    + " copied, " + Bytes.human(info.getFileRemaining()) + " remaining";
        } else {
            phase = Phase.PHASE_COPYING_MEMORY;
            detail = "memory " + Bytes.human(info.getMemProcessed()) + " of " + Bytes.human(info.getMemTotal())
                    + " sent, " + Bytes.human(info.getMemRemaining()) + " remaining";
        }
        int percent = total <= 0 ? 0 : (int) Math.max(0, Math.min(100, processed * 100 / total));
        return MigrationProgress.newBuilder()
                .setPhase(phase)
                .setPercent(percent)
                .setDataTotalBytes(total)
                .setDataProcessedBytes(processed)
                .setDataRemainingBytes(info.getDataRemaining())
                .setElapsedMs(elapsedMs())
                .setDetail(detail)
                .build();
    }

    private long elapsedMs() {
        return Math.max(0, (owner.settings().nanoClock().getAsLong() - startedNanos) / 1_000_000);
    }

    /** Tells the listener, unless the migration has ended (the ticker may still be finishing a tick). */
    private void send(MigrationProgress event) {
        synchronized (sending) {
            if (ended || listener == null) {
                return;
            }
            try {
                listener.accept(event);
            } catch (RuntimeException e) {
                log.debug("progress of the migration of {} not delivered: {}", vm, e.toString());
            }
        }
    }

    /** Sends {@code last} (when the migration succeeded) and nothing after it. */
    private void end(MigrationProgress last) {
        if (last != null) {
            send(last);
        }
        synchronized (sending) {
            ended = true;
        }
    }

    private static void freeQuietly(Domain d) {
        try {
            d.free();
        } catch (LibvirtException | RuntimeException ignored) {
            // released with its connection
        }
    }
}
