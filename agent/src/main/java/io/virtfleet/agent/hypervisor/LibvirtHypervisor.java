package io.virtfleet.agent.hypervisor;

import io.virtfleet.proto.v1.DomainInfo;
import io.virtfleet.proto.v1.DomainState;
import io.virtfleet.proto.v1.HypervisorInfo;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import org.libvirt.Connect;
import org.libvirt.Domain;
import org.libvirt.LibvirtException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The agent's single, long-lived libvirt connection. It is opened lazily, checked before each use, and
 * reopened after libvirtd restarts; while libvirt is unreachable every snapshot carries the reason
 * (URI and libvirt's own message) instead of failing, so the agent keeps reporting its host.
 * Methods are synchronized: libvirt-java objects are not meant to be shared across threads freely.
 *
 * <p>Each domain in a snapshot carries the fingerprint of its definition as libvirt holds it (refreshed every
 * few seconds, see {@link DefinitionFingerprints}) and, from the {@link DefinitionLedger}, the fingerprints of
 * what virtfleet last defined it from. {@link Domains} records in the ledger under this object's lock, so a
 * snapshot never sees a define without its ledger entry.
 */
public final class LibvirtHypervisor implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(LibvirtHypervisor.class);

    /** virDomainXMLFlags VIR_DOMAIN_XML_INACTIVE: the persistent definition, not the running one. */
    static final int XML_INACTIVE = 2;

    private final String uri;
    private final DefinitionLedger ledger;
    private final DefinitionFingerprints fingerprints;
    private Connect connection;
    private HypervisorInfo identity;
    private String lastError = "";
    /** Connections opened so far: what libvirt said per connection (the host's CPU for guests) is asked again on a new one. */
    private long connections;

    /** How long a domain definition's fingerprint is reused, when the agent's definition-refresh is not set. */
    public static final java.time.Duration DEFINITION_REFRESH = DefinitionFingerprints.REFRESH;

    /**
     * Checks the {@code definition-refresh} setting (named {@code field}): from 1 s (every domain's definition read
     * from libvirt about once a second) to 10 min.
     */
    public static java.time.Duration checkDefinitionRefresh(String field, java.time.Duration refresh) {
        if (refresh == null || refresh.compareTo(java.time.Duration.ofSeconds(1)) < 0
                || refresh.compareTo(java.time.Duration.ofMinutes(10)) > 0) {
            throw new io.virtfleet.common.validation.InvalidInputException(field, refresh == null ? null
                    : io.virtfleet.common.units.Durations.shortText(refresh), "a duration from 1s to 10m: how long"
                    + " what was read of a domain's definition is trusted before it is read again (default 10s)");
        }
        return refresh;
    }

    /** A connection whose snapshots know nothing of what virtfleet defined (tools and tests). */
    public LibvirtHypervisor(String uri) {
        this(uri, DefinitionLedger.inMemory());
    }

    /** @param ledger what virtfleet defined on this host, kept by {@link Domains} */
    public LibvirtHypervisor(String uri, DefinitionLedger ledger) {
        this(uri, ledger, DefinitionFingerprints.REFRESH);
    }

    /**
     * @param fingerprintRefresh how long the fingerprint of a domain's definition is reused in snapshots (about):
     *                           a change made outside virtfleet shows this late at most
     */
    public LibvirtHypervisor(String uri, DefinitionLedger ledger, java.time.Duration fingerprintRefresh) {
        this.uri = uri;
        this.ledger = ledger;
        this.fingerprints = new DefinitionFingerprints(System::nanoTime, fingerprintRefresh);
        LibvirtErrors.silenceStderr();
    }

    public DefinitionLedger ledger() {
        return ledger;
    }

    /** Makes the next snapshot fetch {@code name}'s definition again: virtfleet just changed it. */
    synchronized void definitionChanged(String name) {
        fingerprints.forget(name);
    }

    public String uri() {
        return uri;
    }

    /** How many connections to libvirt were opened so far: a new one may reach a libvirtd (or QEMU) updated since. */
    public synchronized long connections() {
        return connections;
    }

    /** One piece of work on the agent's libvirt connection. */
    @FunctionalInterface
    public interface Operation<T> {
        T apply(Connect connection) throws LibvirtException;
    }

    /**
     * Runs {@code operation} on the live connection (reconnecting first if it was lost), one operation at a
     * time with the poller. The operation must not keep the connection or the objects it gets from it.
     *
     * @throws LibvirtException when libvirt cannot be reached or the operation fails; see {@link #reason}
     */
    public synchronized <T> T call(Operation<T> operation) throws LibvirtException {
        return operation.apply(connection());
    }

    /** libvirt's one-line reason for a failure, prefixed with this connection's URI. */
    public String reason(LibvirtException e) {
        return "libvirt at " + uri + ": " + LibvirtErrors.message(e);
    }

    /** Libvirt's view of the host right now; never throws. */
    public synchronized HypervisorSnapshot snapshot() {
        try {
            Connect conn = connection();
            List<DomainInfo> domains = listDomains(conn);
            noteHealthy();
            return new HypervisorSnapshot(identity, domains);
        } catch (LibvirtException e) {
            String reason = "libvirt at " + uri + ": " + LibvirtErrors.message(e);
            dropConnection();
            noteFailure(reason);
            return new HypervisorSnapshot(HypervisorInfo.newBuilder().setUri(uri).setError(reason).build(), List.of());
        }
    }

    /** A few libvirt calls made together on the shared connection; nothing it gets from libvirt may escape it. */
    interface ConnectionCall<T> {
        T apply(Connect conn) throws LibvirtException;
    }

    /**
     * Runs one short batch of calls on the shared connection, opening it if needed, while no other thread
     * uses it: this monitor is the one lock every libvirt call of the agent takes, so the connection is used
     * by one thread at a time. Never wait (for a guest to shut down, say) inside {@code call}. A call that
     * fails because libvirt cannot be reached throws {@link DomainOperationException} UNAVAILABLE; libvirt's
     * other refusals come through as they are, for the caller to judge.
     */
    synchronized <T> T withConnection(ConnectionCall<T> call) throws LibvirtException {
        Connect conn;
        try {
            conn = connection();
        } catch (LibvirtException e) {
            dropConnection();
            throw unavailable(e);
        }
        try {
            return call.apply(conn);
        } catch (LibvirtException e) {
            boolean alive;
            try {
                alive = conn.isAlive();
            } catch (LibvirtException dead) {
                alive = false;
            }
            if (!alive) {
                dropConnection();
                throw unavailable(e);
            }
            throw e;
        }
    }

    private DomainOperationException unavailable(LibvirtException e) {
        return new DomainOperationException(DomainOperationException.Reason.UNAVAILABLE,
                "libvirt at " + uri + " is not reachable: " + LibvirtErrors.message(e));
    }

    /**
     * What libvirt says about itself, asked once per connection: it cannot change without libvirtd
     * restarting (which drops the connection), and asking for the hypervisor version makes libvirt
     * probe every QEMU binary on first use.
     */
    private static HypervisorInfo identity(Connect conn, String uri) throws LibvirtException {
        org.libvirt.NodeInfo node = conn.nodeInfo();
        return HypervisorInfo.newBuilder()
                .setUri(uri)
                .setType(conn.getType())
                .setVersion(versionText(conn.getVersion()))
                .setLibvirtVersion(versionText(conn.getLibVersion()))
                .setNodeCpus(node.cpus)
                .setNodeMemoryBytes(node.memory * 1024)
                .build();
    }

    private Connect connection() throws LibvirtException {
        if (connection != null) {
            boolean usable;
            try {
                usable = connection.isConnected() && connection.isAlive();
            } catch (LibvirtException e) {
                usable = false;
            }
            if (usable) {
                return connection;
            }
            log.warn("libvirt connection to {} lost; reconnecting", uri);
            dropConnection();
        }
        Connect fresh = new Connect(uri, false);
        try {
            identity = identity(fresh, uri);
        } catch (LibvirtException e) {
            fresh.close();
            throw e;
        }
        connection = fresh;
        connections++;
        log.info("connected to libvirt at {} ({} {})", uri, identity.getType(), identity.getVersion());
        return connection;
    }

    private List<DomainInfo> listDomains(Connect conn) throws LibvirtException {
        List<DomainInfo> out = new ArrayList<>();
        for (int id : conn.listDomains()) {
            Domain d;
            try {
                d = conn.domainLookupByID(id);
            } catch (LibvirtException e) {
                continue; // stopped between the listing and the lookup
            }
            describeAndFree(d, out);
        }
        for (String name : conn.listDefinedDomains()) {
            Domain d;
            try {
                d = conn.domainLookupByName(name);
            } catch (LibvirtException e) {
                continue; // undefined between the listing and the lookup
            }
            describeAndFree(d, out);
        }
        out.sort(Comparator.comparing(DomainInfo::getName));
        Set<String> names = new HashSet<>();
        out.forEach(d -> names.add(d.getName()));
        fingerprints.keepOnly(names);
        return out;
    }

    private void describeAndFree(Domain d, List<DomainInfo> out) throws LibvirtException {
        try {
            org.libvirt.DomainInfo info = d.getInfo();
            String name = d.getName();
            String uuid = d.getUUIDString();
            DomainInfo.Builder b = DomainInfo.newBuilder()
                    .setName(name)
                    .setUuid(uuid)
                    .setState(state(info.state))
                    .setVcpus(info.nrVirtCpu)
                    .setMaxMemoryBytes(info.maxMem * 1024)
                    .setMemoryBytes(info.memory * 1024)
                    .setAutostart(d.getAutostart())
                    .setLibvirtAutostart(d.getAutostart())
                    .setPersistent(d.isPersistent() == 1);
            definition(d, name, uuid).ifPresent(def -> b.setDefinitionSha256(def.sha256()).addAllInterfaces(def.interfaces()));
            ledger.get(name).filter(e -> e.uuid().equalsIgnoreCase(uuid)).ifPresent(e -> b
                    .setSourceSha256(e.sourceSha256())
                    .setDefinedSha256(e.definedSha256())
                    .setReplica(e.replica())
                    .setAutostart(b.getLibvirtAutostart() || e.autostart())); // started with the host, by either
            out.add(b.build());
        } finally {
            d.free();
        }
    }

    /** Empty when libvirt would not give the definition (undefined meanwhile, say): the report leaves it out. */
    private Optional<DefinitionFingerprints.Described> definition(Domain d, String name, String uuid) {
        try {
            return Optional.of(fingerprints.of(name, uuid, () -> d.getXMLDesc(XML_INACTIVE)));
        } catch (LibvirtException e) {
            log.debug("no definition of {} for its fingerprint: {}", name, LibvirtErrors.message(e));
            return Optional.empty();
        }
    }

    static DomainState state(org.libvirt.DomainInfo.DomainState s) {
        if (s == null) {
            return DomainState.DOMAIN_STATE_UNSPECIFIED;
        }
        return switch (s) {
            case VIR_DOMAIN_RUNNING -> DomainState.DOMAIN_STATE_RUNNING;
            case VIR_DOMAIN_BLOCKED -> DomainState.DOMAIN_STATE_BLOCKED;
            case VIR_DOMAIN_PAUSED -> DomainState.DOMAIN_STATE_PAUSED;
            case VIR_DOMAIN_SHUTDOWN -> DomainState.DOMAIN_STATE_SHUTTING_DOWN;
            case VIR_DOMAIN_SHUTOFF -> DomainState.DOMAIN_STATE_SHUTOFF;
            case VIR_DOMAIN_CRASHED -> DomainState.DOMAIN_STATE_CRASHED;
            default -> DomainState.DOMAIN_STATE_UNSPECIFIED;
        };
    }

    /** libvirt encodes versions as major * 1,000,000 + minor * 1,000 + release. */
    static String versionText(long v) {
        return (v / 1_000_000) + "." + (v / 1_000 % 1_000) + "." + (v % 1_000);
    }

    private void noteHealthy() {
        if (!lastError.isEmpty()) {
            log.info("libvirt at {} is reachable again", uri);
            lastError = "";
        }
    }

    private void noteFailure(String reason) {
        // Log each distinct failure once, not once per heartbeat.
        if (!reason.equals(lastError)) {
            log.error("{} (will keep retrying)", reason);
            lastError = reason;
        }
    }

    private void dropConnection() {
        if (connection != null) {
            try {
                connection.close();
            } catch (LibvirtException | RuntimeException ignored) {
                // the connection is already broken; closing is best effort
            }
            connection = null;
        }
    }

    @Override
    public synchronized void close() {
        dropConnection();
    }
}
