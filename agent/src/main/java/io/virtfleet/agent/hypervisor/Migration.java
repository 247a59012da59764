package io.virtfleet.agent.hypervisor;

import io.virtfleet.agent.hypervisor.MigrationException.Kind;
import io.virtfleet.common.validation.InvalidInputException;
import io.virtfleet.common.validation.Ipv4;
import io.virtfleet.proto.v1.MigrationProgress;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
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
 * One live migration of a running domain to another host, carried out once: {@link #start} checks that the target's
 * libvirtd is the target host ({@link TargetIdentity}), then runs libvirt's blocking migrate call (virDomainMigrate3)
 * on a worker, while a ticker of its own asks libvirt for the job's progress, streams it, probes the target's
 * libvirtd ({@link TargetProbe}), and aborts the job when the migration is cancelled, the target is lost, or the
 * migration has run longer than the agent's migration-timeout. libvirt slows the guest's vCPUs down when its memory
 * does not converge (auto-converge). The domain keeps running here unless libvirt reports success; the result says
 * which.
 */
public final class Migration {
    private static final Logger log = LoggerFactory.getLogger(Migration.class);
    /** virDomainJobType: a job running with or without a known end. */
    private static final int JOB_BOUNDED = 1;
    private static final int JOB_UNBOUNDED = 2;

    private final Migrations owner;
    private final String vm;
    private final String targetHost;
    private final Ipv4 targetAddress;
    private final DomainDefinition definition;
    private final List<String> localDisks;
    private final MigrationEvents events;
    private final CompletableFuture<MigrationProgress> result = new CompletableFuture<>();

    private volatile boolean cancelled;
    /** Why the target counts as lost; null while it answers. */
    private volatile String targetLost;
    /** Set by the ticker once the migration has run for the agent's migration-timeout: the next ticks abort it. */
    private volatile boolean timedOut;
    private final Object sending = new Object();
    /** Guarded by {@link #sending}. */
    private Consumer<MigrationProgress> listener;
    /** Guarded by {@link #sending}: once set, the ticker sends nothing more. */
    private boolean ended;
    private volatile long startedNanos;
    /**
     * When the memory copy began (the first progress of the memory phase), -1 before: migration-timeout bounds that
     * phase only, since a raw disk's copy before it takes as long as its size needs.
     */
    private volatile long memoryStartedNanos = -1;
    private volatile DomainJobInfo lastSeen;

    Migration(Migrations owner, String vm, String targetHost, Ipv4 targetAddress, DomainDefinition definition,
              List<String> localDisks) {
        this.owner = owner;
        this.vm = vm;
        this.targetHost = targetHost;
        this.targetAddress = targetAddress;
        this.definition = definition;
        this.localDisks = List.copyOf(localDisks);
        this.events = new MigrationEvents(vm, targetHost, targetAddress, !localDisks.isEmpty());
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
        send(events.preparing("checking " + vm + " on " + here, elapsedMs()));
        checkDomain(here);
        checkClientCertificate();
        String uri = owner.targetUri(targetAddress);
        send(events.preparing("connecting to " + targetHost + "'s libvirtd at " + targetAddress + " over TLS",
                elapsedMs()));
        MigrationConnection source = open(owner.hypervisor().uri(), Kind.UNAVAILABLE, "this host's libvirt at "
                + owner.hypervisor().uri());
        try {
            MigrationConnection target = openTarget(uri);
            try {
                // libvirt checked the target's certificate against the address only: it must also be the target host's.
                TargetIdentity.check(owner.settings().tlsDirectory(), vm, targetHost,
                        new java.net.InetSocketAddress(targetAddress.toString(), TargetIdentity.LIBVIRT_TLS_PORT),
                        TargetIdentity.TIMEOUT);
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
        ScheduledExecutorService ticker = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "vf-migration-" + vm);
            t.setDaemon(true);
            return t;
        });
        TargetProbe probe = new TargetProbe(target, owner.settings().targetSilence().toNanos(), owner.settings().nanoClock());
        long interval = owner.settings().progressInterval().toMillis();
        ticker.scheduleWithFixedDelay(() -> tick(domain, probe), interval, interval, TimeUnit.MILLISECONDS);
        Domain moved = null;
        LibvirtException failed = null;
        try {
            moved = domain.migrate(target, parameters(domain), flags());
        } catch (LibvirtException e) {
            failed = e;
        } finally {
            stop(ticker); // no abort or progress after this point
            probe.close();
        }
        if (failed != null) {
            throw failure(failed, domain, target, here);
        }
        freeQuietly(moved);
        try {
            // The VM runs on the target now: this host's definition must never start it again at boot (two QEMUs on
            // one disk), whatever the controller manages to do next. The controller makes it a replica later.
            try {
                owner.hypervisor().ledger().wantAutostart(vm, domain.getUUIDString(), false); // nor may the agent
            } catch (DomainOperationException e) {
                // Off in memory; at the next boot the agent starts only what the synced records home here.
                log.error("{} moved to {}, but {}", vm, targetHost, e.getMessage());
            }
            domain.setAutostart(false);
        } catch (LibvirtException e) {
            log.error("{} moved to {}, but its autostart here could not be turned off: {}", vm, targetHost, e.getMessage());
        }
        if (cancelled) {
            log.warn("migration of {} to {} completed before its cancellation took effect: it runs there", vm, targetHost);
        }
        JobStats.Completed stats = completed(source).or(() -> completed(target))
                .orElse(new JobStats.Completed(-1, -1, -1));
        MigrationProgress done = events.done(lastSeen, stats, elapsedMs());
        long downtime = done.getDowntimeMs();
        log.info("migrated {} to {} ({}) in {} ms, downtime {} ms", vm, targetHost, targetAddress, done.getElapsedMs(),
                downtime);
        return done;
    }

    private Optional<JobStats.Completed> completed(MigrationConnection connection) {
        try {
            return JobStats.completed(connection, definition.uuid());
        } catch (RuntimeException | LinkageError e) {
            log.debug("no job statistics of {}: {}", vm, e.toString());
            return Optional.empty();
        }
    }

    /**
     * Live (the VM runs during the copy), TLS for QEMU's stream, the definition kept on the target, the source's kept as
     * it is (never VIR_MIGRATE_UNDEFINE_SOURCE), the local disk copied when there is one; auto-converge: a guest that
     * dirties its memory faster than it is sent gets its vCPUs throttled, more and more, until the copy catches up.
     */
    static int flags(boolean copiesDisk) {
        int flags = MigrateFlags.LIVE | MigrateFlags.TLS | MigrateFlags.PERSIST_DEST | MigrateFlags.AUTO_CONVERGE;
        return copiesDisk ? flags | MigrateFlags.NON_SHARED_DISK : flags;
    }

    private int flags() {
        return flags(!localDisks.isEmpty());
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

    /** One tick; never throws: a scheduled task that throws is never run again, and the ticker would fall silent. */
    private void tick(Domain domain, TargetProbe probe) {
        try {
            tickOnce(domain, probe);
        } catch (RuntimeException | Error e) {
            log.error("progress of the migration of {} to {}: tick failed", vm, targetHost, e);
        }
    }

    private void tickOnce(Domain domain, TargetProbe probe) {
        long memorySince = memoryStartedNanos;
        if (!timedOut && memorySince >= 0
                && owner.settings().nanoClock().getAsLong() - memorySince >= owner.settings().timeout().toNanos()) {
            timedOut = true;
            log.warn("migration of {} to {} did not converge in {}: aborting", vm, targetHost, timeoutText());
        }
        if (cancelled || targetLost != null || timedOut) {
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
                MigrationProgress event = events.progress(info, elapsedMs());
                if (memoryStartedNanos < 0 && event.getPhase() == MigrationProgress.Phase.PHASE_COPYING_MEMORY) {
                    memoryStartedNanos = owner.settings().nanoClock().getAsLong();
                }
                send(event);
            }
        } catch (LibvirtException e) {
            log.debug("no progress of the migration of {}: {}", vm, LibvirtErrors.message(e));
        }
        String lost = probe.check();
        if (lost != null && targetLost == null) {
            targetLost = lost; // the next tick aborts
            log.warn("migration of {}: {}'s libvirtd at {} {}: aborting", vm, targetHost, targetAddress, lost);
        }
    }

    private String timeoutText() {
        java.time.Duration t = owner.settings().timeout();
        return t.toSecondsPart() == 0 && t.toMinutes() > 0 ? t.toMinutes() + " min"
                : io.virtfleet.common.units.Durations.shortText(t);
    }

    private static void stop(ScheduledExecutorService ticker) {
        ticker.shutdownNow();
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
        if (pausedNow(domain)) {
            // Not ABORTED: libvirt leaves the source paused when the switch-over had begun and it cannot tell whether
            // the target runs the VM now; a caller must not take it as still running here.
            String why = cancelled ? "cancelled" : targetLost != null ? "aborted (" + targetHost + "'s libvirtd "
                    + targetLost + ")" : "failed";
            return new MigrationException(Kind.UNKNOWN, what + " " + why + " (libvirt: " + message + "); " + vm
                    + " is paused on " + here + ", not running: whether " + targetHost + " took it over is for the"
                    + " hosts' reports to tell");
        }
        if (cancelled) {
            return new MigrationException(Kind.ABORTED, what + " cancelled: " + where);
        }
        if (timedOut) {
            return new MigrationException(Kind.ABORTED, what + ": its memory copy did not converge in "
                    + timeoutText() + " (the agent's migration-timeout), aborted; " + where);
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
        if (!TargetProbe.answersNow(target)) {
            return new MigrationException(Kind.ABORTED, what + " failed: " + targetHost + "'s libvirtd stopped answering"
                    + " (libvirt: " + message + "); " + where);
        }
        if (code == ErrorNumber.VIR_ERR_NO_DOMAIN) {
            return new MigrationException(Kind.NOT_FOUND, what + ": " + message);
        }
        return new MigrationException(Kind.FAILED_PRECONDITION, what + " failed (libvirt: " + message + "); " + where);
    }

    private boolean pausedNow(Domain domain) {
        try {
            return domain.isActive() == 1 && domain.getInfo().state == DomainState.VIR_DOMAIN_PAUSED;
        } catch (LibvirtException e) {
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
