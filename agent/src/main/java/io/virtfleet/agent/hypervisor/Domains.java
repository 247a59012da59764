package io.virtfleet.agent.hypervisor;

import io.virtfleet.common.fingerprint.Sha256;
import io.virtfleet.common.install.InstallToken;
import io.virtfleet.agent.hypervisor.DomainOperationException.Reason;
import io.virtfleet.common.validation.InvalidInputException;
import io.virtfleet.common.validation.Names;
import java.math.BigDecimal;
import java.nio.file.Path;
import java.time.Duration;
import java.util.EnumSet;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.ReentrantLock;
import org.libvirt.Connect;
import org.libvirt.Domain;
import org.libvirt.Error.ErrorNumber;
import org.libvirt.LibvirtException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.w3c.dom.Element;

/**
 * Defines, undefines, starts and stops this host's libvirt domains, each operation idempotent and
 * reporting what it found and what it changed.
 *
 * <p>Threads: input is checked on the caller's thread (so a bad request is refused at once); the work then
 * runs on this class's own threads, because stopping a guest can wait a minute and must hold neither a
 * gRPC thread nor the libvirt connection meanwhile. Operations on one VM run one at a time (a lock per
 * name stripe); the libvirt calls themselves go through {@link LibvirtHypervisor#withConnection}, which
 * lets one thread at a time use the shared connection.
 *
 * <p>Every define and undefine is written down in the hypervisor's {@link DefinitionLedger} (what was sent, what
 * libvirt made of it, whether as a replica), under the connection's lock, so reports and syncs can tell a
 * definition virtfleet made from one changed or made by someone else.
 */
public final class Domains implements AutoCloseable {
    /** What an operation did: whether it changed the host, and an account for the operator. */
    public record Step(boolean changed, String detail) {}

    /**
     * What libvirt holds under a name right now, asked for it (not the last poll's view).
     *
     * @param definitionSha256 SHA-256 of the inactive (persistent) XML
     */
    public record Found(String uuid, boolean active, boolean autostart, String definitionSha256) {}

    /**
     * One VM's domain, to a piece of work that holds the VM's lock ({@link #exclusively}): no other operation on
     * the VM comes between what the work finds and what it does. Calls run on the caller's (worker) thread.
     */
    public interface Held {
        /** What libvirt holds under the VM's name now; empty when nothing. */
        Optional<Found> found() throws LibvirtException;

        /** As {@link Domains#define}, checked and carried out now. */
        Step define(String xml, boolean autostart, boolean replica) throws LibvirtException;

        /** As {@link Domains#undefine} without force: a running domain is refused. */
        Step undefine() throws LibvirtException;

        /**
         * Destroys the domain if it runs (virDomainDestroy: QEMU is killed, nothing more is written to its disks)
         * and turns its autostart off (libvirt's flag and the ledger's wish), keeping its definition: what a host
         * standing down does to a VM whose home moved. Unchanged when it is already off without autostart.
         */
        Step destroy() throws LibvirtException;
    }

    /** Work on one {@link Held} domain. */
    @FunctionalInterface
    public interface HeldWork<T> {
        T run(Held domain) throws LibvirtException;
    }

    /** Grace for a clean shutdown when the request gives none and the agent's shutdown-grace is not set. */
    public static final Duration DEFAULT_SHUTDOWN_TIMEOUT = Duration.ofSeconds(60);
    /** Shortest shutdown-grace setting. */
    public static final Duration SHORTEST_SHUTDOWN_GRACE = Duration.ofSeconds(1);
    /** Longest grace a request may ask for. */
    public static final Duration MAX_SHUTDOWN_TIMEOUT = Duration.ofHours(1);
    /** How often a guest asked to shut down is looked at again. */
    private static final long SHUTDOWN_POLL_MS = 200;
    private static final int XML_INACTIVE = LibvirtHypervisor.XML_INACTIVE;
    /** VIR_DOMAIN_XML_SECURE: include secrets (console passwords); read only to look for them, never kept. */
    private static final int XML_SECURE = 1;
    /** libvirt codes that mean "this definition is not acceptable", i.e. bad input, not a host problem. */
    private static final Set<ErrorNumber> DEFINITION_REFUSED = EnumSet.of(ErrorNumber.VIR_ERR_XML_ERROR,
            ErrorNumber.VIR_ERR_XML_DETAIL, ErrorNumber.VIR_ERR_XML_INVALID_SCHEMA, ErrorNumber.VIR_ERR_CONFIG_UNSUPPORTED,
            ErrorNumber.VIR_ERR_INVALID_ARG, ErrorNumber.VIR_ERR_OS_TYPE, ErrorNumber.VIR_ERR_NO_NAME,
            ErrorNumber.VIR_ERR_NO_OS, ErrorNumber.VIR_ERR_NO_SOURCE, ErrorNumber.VIR_ERR_NO_TARGET,
            ErrorNumber.VIR_ERR_INVALID_MAC, ErrorNumber.VIR_ERR_ARGUMENT_UNSUPPORTED);
    private static final Logger log = LoggerFactory.getLogger(Domains.class);

    private final LibvirtHypervisor hypervisor;
    private final DefinitionLedger ledger;
    private final Path imagesDirectory;
    private final InstallerFiles installer;
    private final Runnable changed;
    private final ReentrantLock[] stripes = new ReentrantLock[64];
    private final ExecutorService workers;
    private volatile java.util.function.Supplier<Optional<String>> startGate = Optional::empty;
    private volatile Duration defaultGrace = DEFAULT_SHUTDOWN_TIMEOUT;

    /** Domains of a host without the installer's files: no definition may boot a kernel. */
    public Domains(LibvirtHypervisor hypervisor, Path imagesDirectory, Runnable changed) {
        this(hypervisor, imagesDirectory, null, changed);
    }

    /**
     * @param imagesDirectory the only directory a definition's disk image may be in
     * @param installer       the only kernel and initrd a definition may boot (when they exist); null for none
     * @param changed         told after each operation that changed the host (e.g. to poll libvirt at once)
     */
    public Domains(LibvirtHypervisor hypervisor, Path imagesDirectory, InstallerFiles installer, Runnable changed) {
        this.hypervisor = hypervisor;
        this.ledger = hypervisor.ledger();
        this.imagesDirectory = imagesDirectory;
        this.installer = installer;
        this.changed = changed;
        for (int i = 0; i < stripes.length; i++) {
            stripes[i] = new ReentrantLock();
        }
        // A few threads: operations on different VMs overlap while one waits for a guest to shut down.
        ThreadPoolExecutor pool = new ThreadPoolExecutor(4, 4, 30, TimeUnit.SECONDS, new LinkedBlockingQueue<>(), r -> {
            Thread t = new Thread(r, "vf-domain-op");
            t.setDaemon(true);
            return t;
        });
        pool.allowCoreThreadTimeOut(true);
        this.workers = pool;
    }

    /**
     * Gives a guest asked to shut down {@code grace} (see {@link #checkShutdownGrace}) before it is destroyed, when
     * the request names none: the agent's shutdown-grace setting.
     */
    public Domains withShutdownGrace(Duration grace) {
        this.defaultGrace = checkShutdownGrace("shutdown-grace", grace);
        return this;
    }

    /**
     * Checks the {@code shutdown-grace} setting (named {@code field}): from {@link #SHORTEST_SHUTDOWN_GRACE} to
     * {@link #DEFAULT_SHUTDOWN_TIMEOUT}, as the controller waits 90 s for a stop to be done.
     */
    public static Duration checkShutdownGrace(String field, Duration grace) {
        if (grace == null || grace.compareTo(SHORTEST_SHUTDOWN_GRACE) < 0 || grace.compareTo(DEFAULT_SHUTDOWN_TIMEOUT) > 0) {
            throw new InvalidInputException(field, grace == null ? null : io.virtfleet.common.units.Durations
                    .shortText(grace), "a duration from 1s to 60s: how long a guest asked to shut down is given"
                    + " before it is destroyed (default 60s)");
        }
        return grace;
    }

    /**
     * These domains, refusing to start one (UNAVAILABLE, with the reason) whenever {@code gate} gives a reason: a host
     * standing down starts nothing. Checked under the VM's lock, right before libvirt is asked.
     */
    public Domains withStartGate(java.util.function.Supplier<Optional<String>> gate) {
        this.startGate = gate;
        return this;
    }

    /**
     * Defines {@code vmName} from {@code xml} with libvirt's own autostart off, and keeps {@code autostart} (for a home
     * domain) as the ledger's wish that the agent start it with the host; unchanged when libvirt already holds this
     * very definition and the ledger this wish. Checks the input before returning (InvalidInputException). The ledger
     * then holds the fingerprint of {@code xml} as given, of libvirt's definition, and {@code replica}.
     *
     * @param replica whether this host holds the domain as a replica (another host is its home): only a sync
     *                defines those; a replica definition must name its UUID, so it never takes over another
     *                domain of the same name
     */
    public CompletableFuture<Step> define(String vmName, String xml, boolean autostart, boolean replica) {
        DomainDefinition definition = parse(vmName, xml, replica);
        return submit(vmName, () -> defineNow(definition, Sha256.hex(xml), autostart, replica));
    }

    /**
     * Defines the VM's home domain from {@code xml} with a withheld install token put in ({@link InstallToken}); the
     * ledger holds the fingerprint of {@code xml} as sent, without the token, as the repository has it.
     */
    public CompletableFuture<Step> define(String vmName, String xml, String installToken, boolean autostart) {
        // Checked as sent, the token put in afterwards: no refusal of the definition can carry the token.
        DomainDefinition sent = DomainDefinition.parse(vmName, xml, imagesDirectory, installer, installToken.length());
        DomainDefinition definition;
        try {
            definition = sent.withInstallToken(installToken);
        } catch (DomainOperationException e) {
            return CompletableFuture.failedFuture(e); // answered with its status, like the work's own refusals
        }
        CompletableFuture<Step> step = submit(vmName, () -> defineNow(definition, Sha256.hex(xml), autostart, false));
        return installToken.isEmpty() ? step : step.handle((done, failure) -> {
            if (failure != null) {
                throw new CompletionException(withheld(failure, installToken));
            }
            return done;
        });
    }

    /** A failure whose message repeats the token (libvirt may quote the definition), with the placeholder instead. */
    private static Throwable withheld(Throwable failure, String token) {
        Throwable cause = failure instanceof CompletionException && failure.getCause() != null ? failure.getCause() : failure;
        String message = String.valueOf(cause.getMessage());
        if (!message.contains(token)) {
            return cause;
        }
        String scrubbed = message.replace(token, InstallToken.PLACEHOLDER);
        if (cause instanceof InvalidInputException e) {
            String expected = " is not accepted; expected ";
            int at = scrubbed.indexOf(expected);
            return new InvalidInputException(e.field(), "(withheld: it holds the install token)",
                    at < 0 ? scrubbed : scrubbed.substring(at + expected.length()));
        }
        return new DomainOperationException(cause instanceof DomainOperationException e ? e.reason() : Reason.WRONG_STATE,
                scrubbed);
    }

    /**
     * Runs {@code work} on a worker while it holds {@code vmName}'s lock: for a decision that must rest on what
     * libvirt holds when it is carried out (a sync's "changed by hand, unless running").
     */
    public <T> CompletableFuture<T> exclusively(String vmName, HeldWork<T> work) {
        Names.vmName("vm_name", vmName);
        return run(vmName, () -> work.run(new HeldDomain(vmName)));
    }

    /**
     * A domain as adoption sees it: its UUID and state, its definition in the repository's form ({@link AdoptableXml}),
     * and why that definition breaks the rules every definition on this host must keep (empty when it does not).
     */
    public record Read(String uuid, io.virtfleet.proto.v1.DomainState state, String xml, String refusal,
                       boolean libvirtAutostart) {}

    /** Reads {@code vmName} for adoption; changes nothing. NOT_FOUND when no such domain is defined. */
    public CompletableFuture<Read> read(String vmName) {
        Names.vmName("vm_name", vmName);
        return run(vmName, () -> hypervisor.withConnection(conn -> {
            Domain d = require(conn, vmName);
            try {
                String xml = AdoptableXml.of(d.getXMLDesc(XML_INACTIVE));
                String refusal = refusal(vmName, xml);
                String password = refusal.isEmpty() ? consolePassword(d) : null;
                return new Read(d.getUUIDString(), LibvirtHypervisor.state(d.getInfo().state), xml,
                        password == null ? refusal : password, d.getAutostart());
            } finally {
                d.free();
            }
        }));
    }

    /** Why {@code xml} may not be a definition on this host, or empty: the rules DefineDomain applies. */
    private String refusal(String vmName, String xml) {
        try {
            DomainDefinition.parse(vmName, xml, imagesDirectory, installer);
            return "";
        } catch (InvalidInputException e) {
            return e.getMessage();
        }
    }

    /**
     * Takes {@code vmName} over as if virtfleet had defined it from {@code xml}, which must be what {@link #read}
     * gives for it now; nothing is defined, started or stopped. With {@code release}, forgets such an adoption.
     */
    public CompletableFuture<Step> adopt(String vmName, String xml, boolean autostart, boolean release) {
        DomainDefinition definition = DomainDefinition.parse(vmName, xml, imagesDirectory, installer);
        if (definition.uuid() == null) {
            throw new InvalidInputException("domain_xml.uuid", "(none)", "the domain's <uuid>, as ReadDomain gave it");
        }
        return submit(vmName, () -> hypervisor.withConnection(conn -> {
            if (release) {
                var held = ledger.get(vmName).filter(e -> e.uuid().equalsIgnoreCase(definition.uuid())
                        && e.sourceSha256().equals(Sha256.hex(xml)) && !e.replica());
                if (held.isEmpty()) {
                    return new Step(false, vmName + " was not adopted under this definition");
                }
                // libvirt's own autostart back first: should the ledger's write fail, the domain still starts at boot.
                boolean restored = held.get().libvirtAutostartTaken() && restoreLibvirtAutostart(conn, vmName,
                        held.get().uuid());
                ledger.forget(vmName);
                hypervisor.definitionChanged(vmName);
                return new Step(true, "released " + vmName + ": virtfleet no longer counts it as its own"
                        + (restored ? "; libvirt's own autostart turned on again, as it was before the adoption" : ""));
            }
            Domain d = require(conn, vmName);
            try {
                String uuid = d.getUUIDString();
                if (!uuid.equalsIgnoreCase(definition.uuid())) {
                    throw new DomainOperationException(Reason.WRONG_STATE, "domain " + vmName + " has UUID " + uuid
                            + ", the definition to adopt has " + definition.uuid());
                }
                String now = d.getXMLDesc(XML_INACTIVE);
                if (!AdoptableXml.of(now).equals(xml)) {
                    throw new DomainOperationException(Reason.WRONG_STATE, "the definition of " + vmName
                            + " changed since it was read for adoption (virsh edit or define meanwhile): read it again");
                }
                var entry = ledger.get(vmName);
                if (entry.isPresent() && entry.get().uuid().equalsIgnoreCase(uuid)
                        && entry.get().sourceSha256().equals(Sha256.hex(xml)) && !entry.get().replica()) {
                    return new Step(false, vmName + " already adopted as given");
                }
                if (entry.isPresent() && entry.get().uuid().equalsIgnoreCase(uuid)) {
                    throw new DomainOperationException(Reason.WRONG_STATE, vmName + " is virtfleet's already (defined"
                            + (entry.get().replica() ? " as a replica" : "") + " from another definition)");
                }
                String password = consolePassword(d);
                if (password != null) {
                    throw new DomainOperationException(Reason.WRONG_STATE, password);
                }
                // The ledger first, and only once its file holds the wish: libvirt's own autostart is then turned off
                // (the agent starts it behind its boot gate instead, as every home domain), and a crash in between
                // leaves both on, which the agent's start takes over (BootStarts). The ledger remembers the flag was
                // taken, so a release of the adoption gives it back. A domain libvirt starts at boot keeps being
                // started at boot, whatever the controller asked.
                boolean libvirtFlag = d.getAutostart();
                boolean wanted = autostart || libvirtFlag;
                ledger.recordSaved(vmName, new DefinitionLedger.Entry(uuid, Sha256.hex(xml), Sha256.hex(now), false,
                        wanted, libvirtFlag));
                hypervisor.definitionChanged(vmName);
                if (libvirtFlag) {
                    try {
                        d.setAutostart(false);
                    } catch (LibvirtException e) {
                        ledger.forget(vmName); // as it was: libvirt's flag is still on
                        throw refusal("turn libvirt's own autostart of " + vmName + " off (not adopted)", e);
                    }
                }
                return new Step(true, "adopted " + vmName + " (UUID " + uuid + ") as it is defined; autostart "
                        + (wanted ? "on (started by the agent at boot)" : "off")
                        + (libvirtFlag ? "; libvirt's own autostart turned off (given back if the adoption is undone)"
                        : ""));
            } finally {
                d.free();
            }
        }));
    }

    /** Turns libvirt's own autostart of {@code vmName} on again, when it is still the domain {@code uuid}. */
    private static boolean restoreLibvirtAutostart(Connect conn, String vmName, String uuid) throws LibvirtException {
        Domain d = lookup(conn, vmName);
        if (d == null) {
            return false; // undefined since: nothing to give it back to
        }
        try {
            if (!d.getUUIDString().equalsIgnoreCase(uuid) || d.getAutostart()) {
                return false;
            }
            try {
                d.setAutostart(true);
            } catch (LibvirtException e) {
                throw refusal("turn libvirt's own autostart of " + vmName + " on again (the adoption is kept)", e);
            }
            return true;
        } finally {
            d.free();
        }
    }

    /**
     * Why {@code d} cannot be adopted for a console password, or null: libvirt leaves {@code <graphics passwd>} out of
     * every definition unless asked for secrets (VIR_DOMAIN_XML_SECURE), so the repository's copy would define the
     * domain again (replicas, moves, the reconciler) with an open console; and keeping the password in the
     * repository would copy it in clear to every host's clone, its history and the controller's backups.
     */
    private static String consolePassword(Domain d) throws LibvirtException {
        Element graphics = passwordedGraphics(d.getXMLDesc(XML_INACTIVE | XML_SECURE));
        if (graphics == null) {
            return null;
        }
        return "its <graphics type=\"" + graphics.getAttribute("type") + "\"> console has a password (passwd, which"
                + " libvirt leaves out of the definition virtfleet reads): virtfleet's definitions carry no secrets, and"
                + " without it the console would be open after any redefinition or move; remove the password (virsh"
                + " edit) and reach the console through an SSH tunnel to the host, then adopt again";
    }

    /** The first {@code <graphics>} of a secure definition that has a {@code passwd}, or null. */
    static Element passwordedGraphics(String secureXml) {
        var nodes = io.virtfleet.common.xml.Xml.parse("domain_xml", secureXml, DomainDefinition.MAX_CHARS)
                .getDocumentElement().getElementsByTagName("graphics");
        for (int i = 0; i < nodes.getLength(); i++) {
            if (nodes.item(i) instanceof Element g && g.hasAttribute("passwd")) {
                return g;
            }
        }
        return null;
    }

    /** Undefines {@code vmName}; a running domain is refused unless {@code force}, which destroys it first. */
    public CompletableFuture<Step> undefine(String vmName, boolean force) {
        Names.vmName("vm_name", vmName);
        return submit(vmName, () -> undefineNow(vmName, force));
    }

    /**
     * Starts or stops {@code vmName}. Stopping asks the guest to shut down (ACPI) and destroys it after
     * {@code shutdownTimeout} (zero means the agent's shutdown-grace, by default {@link #DEFAULT_SHUTDOWN_TIMEOUT}).
     */
    public CompletableFuture<Step> setRunning(String vmName, boolean running, Duration shutdownTimeout) {
        Names.vmName("vm_name", vmName);
        if (shutdownTimeout.isNegative() || shutdownTimeout.compareTo(MAX_SHUTDOWN_TIMEOUT) > 0) {
            throw new InvalidInputException("shutdown_timeout_ms", Long.toString(shutdownTimeout.toMillis()),
                    "0 (meaning " + defaultGrace.toMillis() + ") to " + MAX_SHUTDOWN_TIMEOUT.toMillis()
                            + " milliseconds");
        }
        Duration grace = shutdownTimeout.isZero() ? defaultGrace : shutdownTimeout;
        return submit(vmName, () -> running ? startNow(vmName) : stopNow(vmName, grace));
    }

    /**
     * Turns libvirt's own autostart of {@code vmName}'s home domain off and keeps it as the ledger's wish, for a
     * domain an agent of before defined with libvirt's flag on, or one whose flag was set by hand: from then on the
     * agent starts it at boot, behind its start gate. Unchanged when the flag is off, when the domain is not one
     * virtfleet defined here as a home (ledger entry, same UUID), or when it is gone.
     */
    public CompletableFuture<Step> takeOverLibvirtAutostart(String vmName) {
        Names.vmName("vm_name", vmName);
        return submit(vmName, () -> hypervisor.withConnection(conn -> {
            Domain d = lookup(conn, vmName);
            if (d == null) {
                return new Step(false, vmName + " is not defined");
            }
            try {
                String uuid = d.getUUIDString();
                boolean home = ledger.get(vmName).filter(e -> e.uuid().equalsIgnoreCase(uuid) && !e.replica())
                        .isPresent();
                if (!home || !d.getAutostart()) {
                    return new Step(false, vmName + ": libvirt's own autostart off");
                }
                ledger.wantAutostart(vmName, uuid, true); // first: the wish is never lost between the two
                try {
                    d.setAutostart(false);
                } catch (LibvirtException e) {
                    throw refusal("turn libvirt's own autostart of " + vmName + " off", e);
                }
                return new Step(true, vmName + ": libvirt's own autostart turned off; autostart on (started by the"
                        + " agent at boot)");
            } finally {
                d.free();
            }
        }));
    }

    /**
     * Starts {@code vmName} as libvirt's autostart would at boot: only a home domain the ledger wants started with the
     * host (same UUID) that is not running, and only while the start gate allows starts (checked under the VM's lock
     * right before libvirt is asked, as any start).
     */
    public CompletableFuture<Step> startAtBoot(String vmName) {
        Names.vmName("vm_name", vmName);
        return submit(vmName, () -> {
            boolean due = hypervisor.withConnection(conn -> {
                Domain d = lookup(conn, vmName);
                if (d == null) {
                    return false;
                }
                try {
                    String uuid = d.getUUIDString();
                    return d.isActive() != 1 && ledger.get(vmName)
                            .filter(e -> e.uuid().equalsIgnoreCase(uuid) && !e.replica() && e.autostart()).isPresent();
                } finally {
                    d.free();
                }
            });
            return due ? startNow(vmName) : new Step(false, vmName + " is running, gone, or no longer to be started"
                    + " with the host");
        });
    }

    // ---------------------------------------------------------------------------------------------------

    private DomainDefinition parse(String vmName, String xml, boolean replica) {
        DomainDefinition definition = replica ? DomainDefinition.parseReplica(vmName, xml, imagesDirectory, installer)
                : DomainDefinition.parse(vmName, xml, imagesDirectory, installer);
        if (replica && definition.uuid() == null) {
            throw new InvalidInputException("domain_xml.uuid", "(none)", "the VM's <uuid>: a replica is defined only"
                    + " under its own UUID, so that it cannot take over another domain named " + vmName);
        }
        return definition;
    }

    /**
     * "Already done" is judged by libvirt's own rendering of the persistent definition before and after
     * defining it again: both sides then carry libvirt's additions (PCI addresses, controllers, the
     * expanded machine type), so they are equal exactly when the given XML changed nothing. Defining the
     * same XML again is harmless, needs no record of what was sent last, and repairs a hand edit.
     */
    private Step defineNow(DomainDefinition definition, String sourceSha256, boolean autostart, boolean replica)
            throws LibvirtException {
        String name = definition.vmName();
        return hypervisor.withConnection(conn -> {
            String before = null;
            String xml = definition.xml();
            Domain existing = lookup(conn, name);
            if (existing != null) {
                try {
                    String uuid = existing.getUUIDString();
                    if (definition.uuid() != null && !definition.uuid().equalsIgnoreCase(uuid)) {
                        throw new DomainOperationException(Reason.WRONG_STATE, "domain " + name + " exists with UUID "
                                + uuid + ", the definition has UUID " + definition.uuid()
                                + ": undefine it first (UndefineDomain) to replace it with another domain of that name");
                    }
                    before = existing.getXMLDesc(XML_INACTIVE);
                    xml = definition.xmlKeeping(uuid);
                } finally {
                    existing.free();
                }
            }
            Domain defined;
            try {
                defined = conn.domainDefineXML(xml);
            } catch (LibvirtException e) {
                throw refusal("define " + name, e);
            }
            boolean created = before == null;
            try {
                String after = defined.getXMLDesc(XML_INACTIVE);
                boolean definitionChanged = created || !before.equals(after);
                // libvirt's own autostart stays off: at boot libvirtd would start the domain before the agent runs,
                // so before a host whose VMs moved away while it was lost can stand down. The wish is the ledger's,
                // and the agent starts the domain behind its start gate (BootStarts).
                String uuid = defined.getUUIDString();
                boolean wanted = autostart && !replica;
                boolean libvirtFlag = defined.getAutostart();
                boolean wantedBefore = libvirtFlag || ledger.get(name).filter(e -> e.uuid().equalsIgnoreCase(uuid))
                        .map(DefinitionLedger.Entry::autostart).orElse(false);
                if (libvirtFlag) {
                    defined.setAutostart(false);
                }
                ledger.record(name, new DefinitionLedger.Entry(uuid, sourceSha256, Sha256.hex(after), replica, wanted));
                hypervisor.definitionChanged(name);
                String what = created ? "defined " + name + " (UUID " + uuid + ")"
                        : definitionChanged ? "redefined " + name + ": its definition differed"
                        : name + " already defined as given";
                String flag = (wanted == wantedBefore ? "; autostart " : "; autostart turned ")
                        + (wanted ? "on (started by the agent at boot)" : "off")
                        + (libvirtFlag ? "; libvirt's own autostart turned off" : "");
                return new Step(definitionChanged || wanted != wantedBefore || libvirtFlag, what + flag);
            } catch (LibvirtException | RuntimeException e) {
                if (created) {
                    undefineQuietly(defined, name); // leave no half-made domain behind; a retry starts afresh
                }
                throw e;
            } finally {
                defined.free();
            }
        });
    }

    private Step undefineNow(String name, boolean force) throws LibvirtException {
        return hypervisor.withConnection(conn -> {
            Domain d = lookup(conn, name);
            if (d == null) {
                ledger.forget(name);
                return new Step(false, name + " is not defined");
            }
            try {
                boolean active = d.isActive() == 1;
                if (active && !force) {
                    throw new DomainOperationException(Reason.WRONG_STATE, name + " is running: stop it first"
                            + " (SetDomainRunning running=false) or undefine it with force, which destroys it");
                }
                if (active) {
                    d.destroy();
                }
                if (d.isPersistent() == 1) { // a transient domain is gone once destroyed
                    try {
                        d.undefine();
                    } catch (LibvirtException e) {
                        throw refusal("undefine " + name + (active ? " (it was destroyed: it is off now)" : ""), e);
                    }
                }
                ledger.forget(name);
                hypervisor.definitionChanged(name);
                return new Step(true, (active ? "destroyed and undefined " : "undefined ") + name);
            } finally {
                d.free();
            }
        });
    }

    /** Destroy first: stopping the writes matters most; a transient domain is gone once destroyed. */
    private Step destroyNow(String name) throws LibvirtException {
        return hypervisor.withConnection(conn -> {
            Domain d = require(conn, name);
            try {
                boolean destroyed = false;
                boolean persistent = d.isPersistent() == 1;
                if (d.isActive() == 1) {
                    try {
                        d.destroy();
                    } catch (LibvirtException e) {
                        throw refusal("destroy " + name, e);
                    }
                    destroyed = true;
                }
                boolean autostartOff = false;
                if (!persistent) {
                    return new Step(destroyed, destroyed ? "destroyed " + name + " (transient: no definition left)"
                            : name + " is off");
                }
                if (d.getAutostart()) {
                    try {
                        d.setAutostart(false);
                    } catch (LibvirtException e) {
                        throw refusal("turn the autostart of " + name + " off" + (destroyed ? " (it was destroyed)" : ""), e);
                    }
                    autostartOff = true;
                }
                // Nor may the agent start it at the host's next boot: its home is elsewhere.
                autostartOff |= ledger.wantAutostart(name, d.getUUIDString(), false);
                if (!destroyed && !autostartOff) {
                    return new Step(false, name + " is off, autostart off");
                }
                return new Step(true, (destroyed ? "destroyed " + name + " (definition kept)" : name + " was off")
                        + (autostartOff ? "; autostart turned off" : "; autostart off"));
            } finally {
                d.free();
            }
        });
    }

    private Step startNow(String name) throws LibvirtException {
        Optional<String> refused = startGate.get();
        if (refused.isPresent()) {
            throw new DomainOperationException(Reason.UNAVAILABLE, "cannot start " + name + ": " + refused.get());
        }
        refreshInstaller(name);
        return hypervisor.withConnection(conn -> {
            Domain d = require(conn, name);
            try {
                switch (d.getInfo().state) {
                    case VIR_DOMAIN_RUNNING, VIR_DOMAIN_BLOCKED -> {
                        return new Step(false, name + " is already running");
                    }
                    case VIR_DOMAIN_PAUSED -> {
                        d.resume();
                        return new Step(true, "resumed " + name + " (it was paused)");
                    }
                    case VIR_DOMAIN_SHUTDOWN -> throw new DomainOperationException(Reason.WRONG_STATE,
                            name + " is shutting down: start it again once it is off");
                    default -> {
                        try {
                            d.create();
                        } catch (LibvirtException e) {
                            throw refusal("start " + name, e);
                        }
                        return new Step(true, "started " + name);
                    }
                }
            } finally {
                d.free();
            }
        });
    }

    /**
     * Before QEMU reads the installer's files (at each start of a domain booting them): the prepared initrd made
     * from the Debian initrd there now. libvirt's XML escapes text, so {@code <kernel>} is only ever the element.
     * The rewrite (40 MB, synced) happens outside the libvirt connection's lock, which every other call of the agent
     * waits for; the VM's own lock, held by the caller, keeps its definition as read.
     */
    private void refreshInstaller(String name) throws LibvirtException {
        if (installer == null) {
            return;
        }
        boolean bootsInstaller = hypervisor.withConnection(conn -> {
            Domain d = require(conn, name);
            try {
                org.libvirt.DomainInfo.DomainState state = d.getInfo().state;
                return state != org.libvirt.DomainInfo.DomainState.VIR_DOMAIN_RUNNING
                        && state != org.libvirt.DomainInfo.DomainState.VIR_DOMAIN_BLOCKED
                        && state != org.libvirt.DomainInfo.DomainState.VIR_DOMAIN_PAUSED && d.getXMLDesc(0).contains("<kernel>");
            } finally {
                d.free();
            }
        });
        if (!bootsInstaller) {
            return;
        }
        try {
            installer.refresh();
        } catch (java.io.IOException e) {
            throw new DomainOperationException(Reason.UNAVAILABLE, "start " + name + ": cannot bring the installer's"
                    + " initrd " + installer.initrd() + " up to date with " + installer.debianInitrd() + ": " + e);
        }
    }

    private Step stopNow(String name, Duration grace) throws LibvirtException {
        boolean asked = hypervisor.withConnection(conn -> {
            Domain d = require(conn, name);
            try {
                if (d.isActive() != 1) {
                    return false;
                }
                d.shutdown();
                return true;
            } catch (LibvirtException e) {
                if (e.getError() != null && e.getError().getCode() == ErrorNumber.VIR_ERR_OPERATION_INVALID) {
                    return false; // stopped between the check and the request
                }
                throw refusal("shut down " + name, e);
            } finally {
                d.free();
            }
        });
        if (!asked) {
            return new Step(false, name + " is already shut off");
        }
        long start = System.nanoTime();
        long deadline = start + grace.toNanos();
        // Poll outside the connection lock: other domains' operations and the host poll go on meanwhile.
        while (System.nanoTime() < deadline) {
            if (!active(name)) {
                return new Step(true, name + " shut down cleanly in "
                        + seconds(Duration.ofNanos(System.nanoTime() - start)));
            }
            sleep(SHUTDOWN_POLL_MS);
        }
        boolean destroyed = hypervisor.withConnection(conn -> {
            Domain d = lookup(conn, name);
            if (d == null) {
                return false;
            }
            try {
                if (d.isActive() != 1) {
                    return false;
                }
                d.destroy();
                return true;
            } finally {
                d.free();
            }
        });
        return new Step(true, destroyed
                ? name + " did not shut down within " + seconds(grace) + " of the ACPI request: destroyed it"
                : name + " shut down cleanly in " + seconds(grace));
    }

    private boolean active(String name) throws LibvirtException {
        return hypervisor.withConnection(conn -> {
            Domain d = lookup(conn, name);
            if (d == null) {
                return false; // undefined meanwhile (by hand): it is not running either
            }
            try {
                return d.isActive() == 1;
            } finally {
                d.free();
            }
        });
    }

    // ---------------------------------------------------------------------------------------------------

    private interface Work<T> {
        T run() throws LibvirtException;
    }

    /** Runs a step on a worker, after any earlier operation on the same VM name; tells {@link #changed}. */
    private CompletableFuture<Step> submit(String vmName, Work<Step> work) {
        return run(vmName, () -> {
            Step step = work.run();
            if (step.changed()) {
                changed.run();
            }
            return step;
        });
    }

    /** Runs the work on a worker, after any earlier operation on the same VM name. */
    private <T> CompletableFuture<T> run(String vmName, Work<T> work) {
        CompletableFuture<T> result = new CompletableFuture<>();
        Runnable task = () -> {
            ReentrantLock lock = stripes[Math.floorMod(vmName.hashCode(), stripes.length)];
            lock.lock();
            try {
                result.complete(work.run());
            } catch (LibvirtException e) {
                // libvirt answered but refused something nobody here foresaw; it is about the host, not the request
                result.completeExceptionally(new DomainOperationException(Reason.WRONG_STATE,
                        vmName + ": libvirt refused: " + LibvirtErrors.message(e)));
            } catch (RuntimeException | Error e) {
                result.completeExceptionally(e);
            } finally {
                lock.unlock();
            }
        };
        try {
            workers.execute(task);
        } catch (RejectedExecutionException e) {
            result.completeExceptionally(new DomainOperationException(Reason.UNAVAILABLE, "the agent is stopping"));
        }
        return result;
    }

    /** A VM's domain to work on, its lock held by the thread that uses it. */
    private final class HeldDomain implements Held {
        private final String name;

        HeldDomain(String name) {
            this.name = name;
        }

        @Override
        public Optional<Found> found() throws LibvirtException {
            return hypervisor.withConnection(conn -> {
                Domain d = lookup(conn, name);
                if (d == null) {
                    return Optional.empty();
                }
                try {
                    return Optional.of(new Found(d.getUUIDString(), d.isActive() == 1, d.getAutostart(),
                            Sha256.hex(d.getXMLDesc(XML_INACTIVE))));
                } finally {
                    d.free();
                }
            });
        }

        @Override
        public Step define(String xml, boolean autostart, boolean replica) throws LibvirtException {
            return told(defineNow(parse(name, xml, replica), Sha256.hex(xml), autostart, replica));
        }

        @Override
        public Step undefine() throws LibvirtException {
            return told(undefineNow(name, false));
        }

        @Override
        public Step destroy() throws LibvirtException {
            return told(destroyNow(name));
        }

        private Step told(Step step) {
            if (step.changed()) {
                changed.run();
            }
            return step;
        }
    }

    private static Domain lookup(Connect conn, String name) throws LibvirtException {
        try {
            return conn.domainLookupByName(name);
        } catch (LibvirtException e) {
            if (e.getError() != null && e.getError().getCode() == ErrorNumber.VIR_ERR_NO_DOMAIN) {
                return null;
            }
            throw e;
        }
    }

    private static Domain require(Connect conn, String name) throws LibvirtException {
        Domain d = lookup(conn, name);
        if (d == null) {
            throw new DomainOperationException(Reason.NOT_FOUND, name + " is not defined on this host: define it first"
                    + " (DefineDomain)");
        }
        return d;
    }

    /** libvirt said no: bad definitions are the request's fault, anything else the host's state. */
    private static RuntimeException refusal(String what, LibvirtException e) {
        ErrorNumber code = e.getError() == null ? null : e.getError().getCode();
        String message = LibvirtErrors.message(e);
        if (code != null && DEFINITION_REFUSED.contains(code)) {
            return new InvalidInputException("domain_xml", what, "a definition libvirt accepts (libvirt: " + message + ")");
        }
        if (code == ErrorNumber.VIR_ERR_NO_DOMAIN) {
            return new DomainOperationException(Reason.NOT_FOUND, "cannot " + what + ": " + message);
        }
        return new DomainOperationException(Reason.WRONG_STATE, "cannot " + what + ": " + message);
    }

    private static void undefineQuietly(Domain d, String name) {
        try {
            d.undefine();
        } catch (LibvirtException e) {
            log.warn("could not undefine {} after a failed define: {}", name, LibvirtErrors.message(e));
        }
    }

    /** "1.5 s", "60 s", "0.2 s": exact to the millisecond, for details operators read. */
    static String seconds(Duration d) {
        return BigDecimal.valueOf(d.toMillis(), 3).stripTrailingZeros().toPlainString() + " s";
    }

    private static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new DomainOperationException(Reason.UNAVAILABLE, "the agent is stopping");
        }
    }

    /** Stops the workers; an operation in progress is interrupted (a shutdown wait ends early). */
    @Override
    public void close() {
        workers.shutdownNow();
    }
}
