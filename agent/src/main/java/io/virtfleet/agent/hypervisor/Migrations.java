package io.virtfleet.agent.hypervisor;

import io.virtfleet.common.validation.InvalidInputException;
import io.virtfleet.common.validation.Ipv4;
import io.virtfleet.common.validation.Names;
import io.virtfleet.proto.v1.MigrateDomainRequest;
import java.net.Inet4Address;
import java.net.NetworkInterface;
import java.net.SocketException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Collections;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.function.LongSupplier;
import java.util.function.Supplier;

/**
 * Live migrations of this host's running domains to other fleet hosts (MigrateDomain): each request is checked
 * where it arrives, then carried out by a {@link Migration} on a thread of its own, one migration per VM at a time.
 *
 * <p>libvirt is asked to migrate the way the fleet trusts: this agent opens the target's libvirtd over TLS
 * ({@code qemu+tls://<target address>/system}) with the host's fleet-issued libvirt client certificate
 * ({@link #CLIENT_FILES} in the TLS directory), libvirt checks the target's server certificate against the fleet CA
 * and the target address, and QEMU's own stream (memory, and the disk with copy_disk) is TLS as well
 * ({@code VIR_MIGRATE_TLS}). Nothing falls back to plaintext: without TLS the migration fails.
 *
 * <p>A migration blocks in libvirt for as long as it runs (minutes for a large VM). It therefore uses connections of
 * its own, never the agent's shared one, whose lock the host's poll and every other domain operation wait for.
 */
public final class Migrations implements AutoCloseable {
    /** What libvirt's {@code pkipath} directory of a TLS client holds (flat layout). */
    public static final List<String> CLIENT_FILES = List.of("cacert.pem", "clientcert.pem", "clientkey.pem");
    /** How often a running migration's progress is asked of libvirt and streamed. */
    public static final Duration PROGRESS_INTERVAL = Duration.ofMillis(500);
    /**
     * How long the target's libvirtd may leave a liveness probe unanswered before the migration counts the target as
     * lost and aborts: libvirt itself would let QEMU's stream run on, then fail only at the end.
     */
    public static final Duration TARGET_SILENCE = Duration.ofSeconds(15);
    /**
     * How long a migration may run before it is aborted (agent setting {@code migration-timeout}): a guest that dirties
     * memory faster than it is sent never converges, even slowed down by auto-converge, and would hold its VM's move
     * (and a drain's slot) for ever.
     */
    public static final Duration MIGRATION_TIMEOUT = Duration.ofMinutes(30);
    /** The shortest and longest {@code migration-timeout} accepted. */
    public static final Duration SHORTEST_TIMEOUT = Duration.ofMinutes(1);
    public static final Duration LONGEST_TIMEOUT = Duration.ofHours(24);

    /**
     * How this host migrates.
     *
     * @param hostName         this host's name in the fleet: never a target
     * @param tlsDirectory     the libvirt TLS client certificate's directory ({@link #CLIENT_FILES})
     * @param ownAddresses     this host's own IPv4 addresses (dotted quads): never a target address
     * @param progressInterval how often progress is asked and streamed
     * @param targetSilence    how long an unanswered probe of the target's libvirtd is tolerated
     * @param timeout          how long a migration may run before it is aborted ({@link #MIGRATION_TIMEOUT})
     * @param nanoClock        monotonic time, in nanoseconds, for elapsed times, the probe's patience and the timeout
     */
    public record Settings(String hostName, Path tlsDirectory, Supplier<Set<String>> ownAddresses,
                           Duration progressInterval, Duration targetSilence, Duration timeout, LongSupplier nanoClock) {
        public Settings(String hostName, Path tlsDirectory, Supplier<Set<String>> ownAddresses) {
            this(hostName, tlsDirectory, ownAddresses, MIGRATION_TIMEOUT);
        }

        public Settings(String hostName, Path tlsDirectory, Supplier<Set<String>> ownAddresses, Duration timeout) {
            this(hostName, tlsDirectory, ownAddresses, PROGRESS_INTERVAL, TARGET_SILENCE, timeout, System::nanoTime);
        }

        /** The same settings reading time from {@code clock}. */
        public Settings withNanoClock(LongSupplier clock) {
            return new Settings(hostName, tlsDirectory, ownAddresses, progressInterval, targetSilence, timeout, clock);
        }
    }

    /**
     * Checks the {@code migration-timeout} setting (named {@code field}): from {@link #SHORTEST_TIMEOUT} to
     * {@link #LONGEST_TIMEOUT}.
     */
    public static Duration checkTimeout(String field, Duration timeout) {
        if (timeout == null || timeout.compareTo(SHORTEST_TIMEOUT) < 0 || timeout.compareTo(LONGEST_TIMEOUT) > 0) {
            throw new InvalidInputException(field, timeout == null ? null : io.virtfleet.common.units.Durations
                    .shortText(timeout), "a duration from 1m to 24h: how long a live migration may run before it is"
                    + " aborted (default 30m)");
        }
        return timeout;
    }

    private final LibvirtHypervisor hypervisor;
    private final Path imagesDirectory;
    private final InstallerFiles installer;
    private final Settings settings;
    private final Runnable changed;
    private final ConcurrentHashMap<String, Migration> inFlight = new ConcurrentHashMap<>();
    private final ExecutorService workers = Executors.newCachedThreadPool(r -> {
        Thread t = new Thread(r, "vf-migration");
        t.setDaemon(true);
        return t;
    });

    /**
     * @param imagesDirectory and {@code installer}: what the target's definition may name, as for DefineDomain
     * @param changed         told when a migration ended (the domain's state changed: poll libvirt at once)
     */
    public Migrations(LibvirtHypervisor hypervisor, Path imagesDirectory, InstallerFiles installer, Settings settings,
                      Runnable changed) {
        this.hypervisor = hypervisor;
        this.imagesDirectory = imagesDirectory;
        this.installer = installer;
        this.settings = settings;
        this.changed = changed;
    }

    /**
     * Checks a request and claims its VM: returns the migration, not started yet ({@link Migration#start}), so that the
     * caller can wire its cancellation first. Bad input is refused here, naming the field
     * (InvalidInputException); a VM already being migrated is FAILED_PRECONDITION. What only libvirt can tell (the
     * domain exists, runs, has the definition's UUID) is checked once started.
     */
    /**
     * The directory the target keeps local disks in, as the controller has it from the target's report; this host's
     * own when not given. Never taken from the target XML itself: that would let the XML put the disk anywhere.
     */
    private java.nio.file.Path targetImagesDirectory(String given) {
        if (given.isEmpty()) {
            return imagesDirectory;
        }
        java.nio.file.Path dir;
        try {
            dir = java.nio.file.Path.of(given);
        } catch (java.nio.file.InvalidPathException e) {
            dir = null;
        }
        if (dir == null || !dir.isAbsolute() || !dir.normalize().equals(dir) || dir.getParent() == null
                || given.length() > 4096) {
            throw new InvalidInputException("target_images_directory", given, "the target's images directory as it"
                    + " reports it: an absolute path without '.' or '..' parts, not /");
        }
        return dir;
    }

    public Migration prepare(MigrateDomainRequest request) {
        String vm = Names.vmName("vm_name", request.getVmName());
        String target = Names.hostName("target_host", request.getTargetHost());
        if (target.equals(settings.hostName())) {
            throw new InvalidInputException("target_host", target, "another fleet host than this one ("
                    + settings.hostName() + "): the VM already runs here");
        }
        Ipv4 address = Ipv4.unicastAddress("target_address", request.getTargetAddress());
        if (settings.ownAddresses().get().contains(address.toString())) {
            throw new InvalidInputException("target_address", address.toString(), "the migration address of the target"
                    + " host " + target + " (HostReport.migration_address); " + address + " is this host's own");
        }
        // The target keeps the VM's disk in its own images directory, which need not be this host's: the definition's
        // one file disk must be the VM's image (<vm>.img) in the directory the target reports.
        DomainDefinition definition = DomainDefinition.parse(vm, request.getTargetDomainXml(),
                targetImagesDirectory(request.getTargetImagesDirectory()), installer);
        if (definition.uuid() == null) {
            throw new InvalidInputException("domain_xml.uuid", "(none)", "the UUID of the running domain " + vm
                    + ": the VM keeps its identity when it moves");
        }
        List<String> localDisks = definition.localDiskTargets();
        if (request.getCopyDisk() && localDisks.isEmpty()) {
            throw new InvalidInputException("copy_disk", "true", "false: " + vm + " has no local disk to copy (its"
                    + " disks are Ceph RBD images, which every host reaches)");
        }
        if (!request.getCopyDisk() && !localDisks.isEmpty()) {
            throw new InvalidInputException("copy_disk", "false", "true: " + vm + "'s disk " + String.join(", ", localDisks)
                    + " is a file on this host, which the target receives only as a copy");
        }
        Migration migration = new Migration(this, vm, target, address, definition, localDisks);
        Migration running = inFlight.putIfAbsent(vm, migration);
        if (running != null) {
            throw new MigrationException(MigrationException.Kind.FAILED_PRECONDITION, vm + " is already being migrated to "
                    + running.targetHost() + ": one migration of a VM at a time (cancel that one, or wait for its end)");
        }
        return migration;
    }

    /** The migration of {@code vm} that has been prepared and has not ended, if any. */
    public Optional<Migration> inFlight(String vm) {
        return Optional.ofNullable(inFlight.get(vm));
    }

    // For Migration ---------------------------------------------------------------------------------------

    LibvirtHypervisor hypervisor() {
        return hypervisor;
    }

    Settings settings() {
        return settings;
    }

    void execute(Migration migration, Runnable work) {
        try {
            workers.execute(work);
        } catch (RejectedExecutionException e) {
            forget(migration);
            throw new MigrationException(MigrationException.Kind.UNAVAILABLE, "the agent is stopping; move "
                    + migration.vmName() + " once it is back");
        }
    }

    /** The migration ended: its VM may be migrated again, and libvirt is polled for the domain's new state. */
    void forget(Migration migration) {
        if (inFlight.remove(migration.vmName(), migration)) {
            changed.run();
        }
    }

    /** The target's libvirt URI: TLS with this host's client certificate, the target's address verified. */
    String targetUri(Ipv4 address) {
        return "qemu+tls://" + address + "/system?no_tty=1&pkipath=" + uriEscaped(settings.tlsDirectory()
                .toAbsolutePath().normalize().toString());
    }

    /** Percent-encodes all but unreserved characters and '/': libvirt unescapes URI query values. */
    static String uriEscaped(String path) {
        StringBuilder out = new StringBuilder();
        for (byte b : path.getBytes(StandardCharsets.UTF_8)) {
            char c = (char) (b & 0xff);
            if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || "-._~/".indexOf(c) >= 0) {
                out.append(c);
            } else {
                out.append('%').append(String.format("%02X", b & 0xff));
            }
        }
        return out.toString();
    }

    /** This machine's IPv4 addresses, as the network namespace the agent runs in has them. */
    public static Set<String> interfaceAddresses() {
        Set<String> addresses = new HashSet<>();
        try {
            for (NetworkInterface nic : Collections.list(NetworkInterface.getNetworkInterfaces())) {
                Collections.list(nic.getInetAddresses()).stream().filter(a -> a instanceof Inet4Address)
                        .forEach(a -> addresses.add(a.getHostAddress()));
            }
        } catch (SocketException e) {
            // none known: the configured addresses still count as own
        }
        return addresses;
    }

    /** Cancels every migration in flight (each domain keeps running here) and stops the workers. */
    @Override
    public void close() {
        inFlight.values().forEach(Migration::cancel);
        workers.shutdown();
    }
}
