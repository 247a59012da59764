package io.virtfleet.controller.fencing;

import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.virtfleet.common.units.Durations;
import io.virtfleet.common.validation.InvalidInputException;
import io.virtfleet.common.validation.IpLiterals;
import io.virtfleet.controller.definitions.VmStore;
import io.virtfleet.controller.fleet.Audit;
import io.virtfleet.controller.registry.Domains;
import io.virtfleet.controller.registry.HostRecord;
import io.virtfleet.controller.registry.HostRegistry;
import io.virtfleet.controller.registry.Liveness;
import io.virtfleet.proto.v1.DomainInfo;
import io.virtfleet.proto.v1.HostReport;
import io.virtfleet.proto.v1.HostProgress;
import io.virtfleet.proto.v1.Vm;
import java.io.IOException;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Consumer;

/**
 * Declares hosts lost and lifts the verdict. A lost host's Ceph client addresses go on Ceph's OSD blocklist before
 * the verdict is recorded, so that once its VMs start elsewhere nothing it still runs can write to their disks; or an
 * operator vouches that it is down. Every call blocks (Ceph, the state file): never on a gRPC event loop. One verdict
 * changes at a time.
 */
public final class FenceService implements RecoveryGate {
    private final HostRegistry registry;
    private final Liveness liveness;
    private final Fences fences;
    private final FenceSettings settings;
    private final CephClientBook book;
    private final long startNanos;
    /** Recoveries under way per host (see {@link RecoveryGate}); guarded by this. */
    private final Map<String, Integer> recoveries = new ConcurrentHashMap<>();
    /**
     * One lock per host, held by fence, renew, unfence and a recovery's enter/leave of that host: fencing one host
     * (Ceph calls that may take seconds) never holds up another host's fencing or recovery.
     */
    private final Map<String, Object> locks = new ConcurrentHashMap<>();
    /** Whether a recovery of the host is noted as unfinished (a controller stopped mid-way); set by the wiring. */
    private volatile java.util.function.Predicate<String> recoveryNoted = host -> false;
    private volatile java.util.function.BooleanSupplier restoreHold = () -> false;
    private volatile UnseenHosts unseenWhileHolding = List::of;
    private final CephFencer ceph;
    private final VmStore store;
    private final Clock clock;

    /**
     * @param fences the verdicts; the same store {@code liveness} judges hosts by
     * @param store  the VMs' records, whose home hosts unfence checks against what the host runs
     */
    public FenceService(HostRegistry registry, Liveness liveness, Fences fences, FenceSettings settings, VmStore store,
                        Clock clock) {
        this(registry, liveness, fences, settings, store, clock, null);
    }

    /**
     * @param book each host's Ceph client addresses, all it reported since its last unfence, kept across restarts
     *             (null: none kept), so a host that never reports again after a controller restart can still be
     *             fenced
     */
    public FenceService(HostRegistry registry, Liveness liveness, Fences fences, FenceSettings settings, VmStore store,
                        Clock clock, CephClientBook book) {
        this.book = book != null ? book : CephClientBook.inMemory();
        this.startNanos = registry.nanoTime();
        this.registry = registry;
        this.liveness = liveness;
        this.fences = fences;
        this.settings = settings;
        this.ceph = settings.cephConfigured() ? new CephFencer(settings) : null;
        this.store = store;
        this.clock = clock;
    }

    public FenceView view() {
        return fences;
    }

    /**
     * Declares {@code host} lost, as {@code by} (an operator's name, or "controller"), telling {@code progress} each
     * step; returns the verdict (the one already recorded when the host was fenced before, unchanged). Throws a
     * gRPC status: NOT_FOUND, FAILED_PRECONDITION when the host heartbeats or (without {@code confirmDown}) cannot
     * be blocklisted, UNAVAILABLE when Ceph refused or the verdict could not be stored; then nothing is recorded.
     */
    public Fence fence(String host, boolean confirmDown, String by, Consumer<HostProgress> progress) {
        synchronized (lockOf(host)) {
            return fenceLocked(host, confirmDown, by, progress);
        }
    }

    private Fence fenceLocked(String host, boolean confirmDown, String by, Consumer<HostProgress> progress) {
        Optional<HostRecord> seen = registry.get(host);
        Optional<Fence> existing = fences.of(host);
        if (existing.isPresent()) {
            return existing.get();
        }
        long now = registry.nanoTime();
        List<String> reported;
        if (seen.isPresent()) {
            HostRecord record = seen.get();
            if (!liveness.silent(record, now)) {
                throw Status.FAILED_PRECONDITION.withDescription(host + " heartbeats (last "
                        + Durations.shortText(Duration.ofNanos(now - record.lastSeenNanos())) + " ago): fencing a running"
                        + " host cuts its VMs off their disks. Only a host that stopped answering is fenced; to empty a"
                        + " live host, `virtfleet host drain " + host + " --move`").asRuntimeException();
            }
            // A session of its QEMUs may still use an address it no longer reports: all it reported since its last
            // unfence go on the blocklist, the latest report included (the book may not have noted it yet).
            reported = new ArrayList<>(book.sinceUnfence(host));
            reported.addAll(record.report().getCephClientAddressesList());
        } else {
            // Not heard from since the controller started: a host of the fleet (its addresses kept, or VMs homed
            // there) may be fenced once the controller has waited as long as it waits for any heartbeat.
            boolean known = book.of(host).isPresent()
                    || store.all().stream().anyMatch(v -> v.getHomeHost().equals(host));
            if (!known) {
                throw notFound(host);
            }
            if (now - startNanos <= liveness.grace().toNanos()) {
                throw Status.FAILED_PRECONDITION.withDescription("the controller started "
                        + Durations.shortText(Duration.ofNanos(now - startNanos)) + " ago and " + host + " may not have"
                        + " registered yet: fence it once it has been silent for unreachable-after ("
                        + Durations.shortText(liveness.grace()) + ")").asRuntimeException();
            }
            reported = book.sinceUnfence(host);
        }
        Map<String, String> skipped = new TreeMap<>();
        List<String> addresses = addresses(reported, skipped);
        skipped.forEach((address, why) -> progress.accept(step("blocklist-skipped", host, address + " not blocklisted: "
                + why)));
        // An address another host reports too (a floating address that moved to a survivor, a setting copied between
        // hosts) is left off: its blocklist entry would cut that host off its disks as well. The others are enough when
        // there are any; when there are none the fence is refused below, naming what was left off.
        Map<String, String> shared = sharedWithOthers(host, addresses);
        shared.forEach((address, others) -> {
            String why = "also reported by " + others + " (a floating address, or a setting copied between hosts):"
                    + " its blocklist entry would cut " + others + " off its disks too";
            skipped.put(address, why);
            progress.accept(step("blocklist-skipped", host, address + " not blocklisted: " + why));
        });
        addresses = addresses.stream().filter(a -> !shared.containsKey(a)).toList();
        Instant at = clock.instant();
        Fence fence;
        if (!confirmDown) {
            if (ceph == null) {
                throw Status.FAILED_PRECONDITION.withDescription("the controller cannot fence " + host + " in Ceph: it"
                        + " has no Ceph admin (set ceph-admin-conf, ceph-admin-id and ceph-admin-keyring in"
                        + " controller.conf); if you know " + host + " is down, `virtfleet host fence " + host
                        + " --confirm-down`").asRuntimeException();
            }
            if (addresses.isEmpty()) {
                throw Status.FAILED_PRECONDITION.withDescription(host + " reported no Ceph client addresses"
                        + (skipped.isEmpty() ? "" : " that can be blocklisted (" + skippedText(skipped) + ")")
                        + " (its agent's ceph-client-addresses, or the addresses of its interfaces toward its ceph.conf's"
                        + " monitors): nothing to put on the blocklist. If you know " + host + " is down (powered off),"
                        + " `virtfleet host fence " + host + " --confirm-down` is the way").asRuntimeException();
            }
            List<String> done = java.util.Collections.synchronizedList(new ArrayList<>());
            try {
                ceph.blocklistAll(addresses, done::add);
                for (String address : addresses) {
                    progress.accept(step("blocklisted", host, address + " on Ceph's blocklist for "
                            + Durations.shortText(settings.expiry())));
                }
            } catch (CephFencer.FenceException e) {
                undo(done);
                throw Status.UNAVAILABLE.withDescription("cannot fence " + host + " in Ceph (blocklisting "
                        + String.join(", ", addresses) + "), nothing recorded"
                        + (done.isEmpty() ? "" : " (" + String.join(", ", done) + " taken off the blocklist again)")
                        + ": " + e.getMessage()).asRuntimeException();
            }
            fence = new Fence(host, Fence.Kind.CEPH, addresses, at, at.plus(settings.expiry()), by);
        } else {
            List<String> blocklisted = new ArrayList<>();
            if (ceph == null || addresses.isEmpty()) {
                progress.accept(step("blocklist-failed", host, ceph == null
                        ? "not blocklisted: the controller has no Ceph admin (ceph-admin-conf)"
                        : "not blocklisted: " + host + " reported no Ceph client addresses"));
            } else {
                for (String address : addresses) {
                    try {
                        ceph.blocklist(address);
                        blocklisted.add(address);
                        progress.accept(step("blocklisted", host, address + " on Ceph's blocklist for "
                                + Durations.shortText(settings.expiry())));
                    } catch (CephFencer.FenceException e) {
                        progress.accept(step("blocklist-failed", host, address + " not blocklisted: " + e.getMessage()));
                    }
                }
            }
            fence = new Fence(host, Fence.Kind.CONFIRMED_DOWN, blocklisted, at,
                    blocklisted.isEmpty() ? null : at.plus(settings.expiry()), by);
        }
        try {
            fences.record(fence);
        } catch (IOException e) {
            throw Status.UNAVAILABLE.withDescription("cannot record the fence of " + host + " (" + e.getMessage()
                    + "); nothing recorded" + (fence.addresses().isEmpty() ? "" : ", its addresses stay on Ceph's"
                    + " blocklist until they expire: fence it again")).asRuntimeException();
        }
        Audit.recordBy(by, fence.kind() == Fence.Kind.CEPH
                ? "fenced host " + host + " in Ceph: " + String.join(", ", fence.addresses()) + " blocklisted until " + fence.expires()
                : "declared host " + host + " down (--confirm-down)" + (fence.addresses().isEmpty() ? ", nothing blocklisted"
                : ", " + String.join(", ", fence.addresses()) + " blocklisted until " + fence.expires()));
        return fence;
    }

    /**
     * Whether a fence's blocklist entries are past half their life: they are renewed then, so that a host away longer
     * than {@code fence-expiry} still finds its addresses blocklisted when it comes back (its libvirt may autostart
     * VMs that run elsewhere now, before its agent hears it must stand down).
     */
    public boolean renewalDue(Fence fence) {
        if (fence.expires() == null || fence.addresses().isEmpty() || ceph == null) {
            return false;
        }
        Duration life = Duration.between(fence.fencedAt(), fence.expires());
        return clock.instant().isAfter(fence.expires().minus(life.dividedBy(2)));
    }

    /**
     * Blocklists the host's addresses again for a whole {@code fence-expiry} and records the new expiry (the verdict
     * is otherwise unchanged). Throws a gRPC status when Ceph refuses; the old entries stay until they lapse.
     */
    public Fence renew(String host) {
        synchronized (lockOf(host)) {
            return renewLocked(host);
        }
    }

    private Fence renewLocked(String host) {
        Fence old = fences.of(host).orElseThrow(() -> notFound(host));
        if (ceph == null || old.addresses().isEmpty()) {
            return old;
        }
        Instant at = clock.instant();
        try {
            ceph.blocklistAll(old.addresses(), address -> { });
        } catch (CephFencer.FenceException e) {
            throw Status.UNAVAILABLE.withDescription("cannot renew the fence of " + host + " (its entries lapse at "
                    + old.expires() + "): " + e.getMessage()).asRuntimeException();
        }
        // fencedAt moves too: it is when the current entries were made, and renewalDue measures their life from it.
        Fence renewed = new Fence(host, old.kind(), old.addresses(), at, at.plus(settings.expiry()), old.by());
        try {
            fences.record(renewed);
        } catch (IOException e) {
            throw Status.UNAVAILABLE.withDescription("renewed the blocklist of " + host + " but cannot record it ("
                    + e.getMessage() + "): renewed again at the next check").asRuntimeException();
        }
        Audit.recordBy("controller", "renewed the fence of host " + host + ": " + String.join(", ", old.addresses())
                + " blocklisted until " + renewed.expires());
        return renewed;
    }

    /**
     * Tells unfence whether the controller holds after a restore: then no host is told to stand down, so unfence does
     * not wait for one, and a VM the host runs that is recorded elsewhere is allowed while its recorded home and every
     * other host report it not running (the restored record may be older than what runs; the release then follows
     * it or keeps the record).
     */
    public void restoreHold(java.util.function.BooleanSupplier holding) {
        this.restoreHold = holding;
    }

    /** The enrolled hosts whose domains the controller cannot see (with the reason in brackets). */
    @FunctionalInterface
    public interface UnseenHosts {
        List<String> get() throws java.io.IOException;
    }

    /**
     * Tells unfence, while the controller holds after a restore, which enrolled hosts it cannot see: one of them
     * could run a copy of a VM the fenced host runs, which the fence keeps off the disk.
     */
    public void unseenWhileHolding(UnseenHosts unseen) {
        this.unseenWhileHolding = unseen;
    }

    /** Tells unfence which hosts have a recovery noted as unfinished (the failover journal). */
    public void recoveryNoted(java.util.function.Predicate<String> noted) {
        this.recoveryNoted = noted;
    }

    @Override
    public boolean enter(String host) {
        synchronized (lockOf(host)) {
            if (fences.of(host).isEmpty()) {
                return false;
            }
            recoveries.merge(host, 1, Integer::sum);
            return true;
        }
    }

    @Override
    public void leave(String host) {
        synchronized (lockOf(host)) {
            recoveries.computeIfPresent(host, (h, n) -> n == 1 ? null : n - 1);
        }
    }

    /**
     * Lifts {@code host}'s verdict as {@code by}: its addresses leave the blocklist, then the record is dropped.
     * Returns the verdict lifted, empty when there was none. FAILED_PRECONDITION while the host is silent, has not
     * stood down against the definitions' current head, or still runs (or has with autostart on) a VM whose home is
     * another host; UNAVAILABLE when Ceph refused (the verdict stays).
     */
    public Optional<Fence> unfence(String host, String by) {
        synchronized (lockOf(host)) {
            return unfenceLocked(host, by);
        }
    }

    private Optional<Fence> unfenceLocked(String host, String by) {
        HostRecord record = registry.get(host).orElseThrow(() -> notFound(host));
        Optional<Fence> fence = fences.of(host);
        if (fence.isEmpty()) {
            return Optional.empty();
        }
        long now = registry.nanoTime();
        if (liveness.silent(record, now)) {
            throw Status.FAILED_PRECONDITION.withDescription(host + " is unreachable (no heartbeat for "
                    + Durations.shortText(Duration.ofNanos(now - record.lastSeenNanos())) + "): nothing proves what it"
                    + " runs. Unfence it once its agent reports again and has stood down").asRuntimeException();
        }
        if (recoveries.containsKey(host) || recoveryNoted.test(host)) {
            // Synchronized with enter: no recovery starts while this unfence runs, none runs when it begins.
            throw Status.FAILED_PRECONDITION.withDescription("a recovery of " + host + "'s VMs is under way (or was"
                    + " interrupted and is finished by the controller's passes): lifting the fence now could let " + host
                    + " run a VM that is being started elsewhere. Unfence it once `virtfleet host recover " + host
                    + "` has ended").asRuntimeException();
        }
        HostReport report = record.report();
        boolean holding = restoreHold.getAsBoolean();
        if (holding) {
            List<String> unseen;
            try {
                unseen = unseenWhileHolding.get().stream().filter(u -> !u.startsWith(host + " ")).toList();
            } catch (java.io.IOException e) {
                throw Status.UNAVAILABLE.withDescription("cannot read the enrolled hosts: " + e.getMessage())
                        .asRuntimeException();
            }
            if (!unseen.isEmpty()) {
                // What runs there is unknown: a copy of a VM this host runs would write to the disk the fence kept
                // this host off. The same rule as the hold's release.
                throw Status.FAILED_PRECONDITION.withDescription("the fence of " + host + " stays: the controller"
                        + " holds after a restore and cannot see what " + String.join(", ", unseen) + " run(s); wait"
                        + " for them to report (virtfleet hosts), re-enrolling those enrolled after the backup, then"
                        + " unfence again").asRuntimeException();
            }
        }
        if (!holding && (report.getStoodDownCommit().isEmpty() || !report.getStandDownError().isEmpty() || !report.getStandingDown())) {
            // Its own word that it ran the stand-down (destroyed what moved away, redefined its replicas): without
            // it, a domain list that happens to be clean proves nothing about what libvirt starts next.
            throw Status.FAILED_PRECONDITION.withDescription(host + " has not stood down yet"
                    + (report.getStandDownError().isEmpty() ? "" : " (" + report.getStandDownError() + ")")
                    + ": its agent destroys the domains whose home moved and redefines its replicas first; unfence it"
                    + " once `virtfleet host show " + host + "` says it stood down").asRuntimeException();
        }
        // A stand-down proves only what was homed elsewhere at its commit: a VM moved off the host since (a recovery
        // that ran after it) may still be defined there with autostart on. The agent stands down again whenever the
        // repository moves, so equality with the head is reached within a heartbeat or two.
        String head = holding ? "" : definitionsHead(host);
        if (!holding && !report.getStoodDownCommit().equals(head)) {
            throw Status.FAILED_PRECONDITION.withDescription(host + " stood down against definitions commit "
                    + brief(report.getStoodDownCommit()) + " but the definitions are at " + brief(head) + " now (a VM"
                    + " may have moved off " + host + " since): " + host + " is catching up and stands down again at"
                    + " the new commit; retry `virtfleet host unfence " + host + "` in a few seconds")
                    .asRuntimeException();
        }
        if (report.getDomainsStale()) {
            throw Status.FAILED_PRECONDITION.withDescription(host + "'s libvirt did not answer its agent's last poll:"
                    + " what it runs is not known; unfence it once it reports its domains again").asRuntimeException();
        }
        List<String> running = new ArrayList<>();
        List<String> autostarted = new ArrayList<>();
        for (DomainInfo d : report.getDomainsList()) {
            Optional<Vm> vm = store.get(d.getName());
            if (vm.isEmpty() || vm.get().getHomeHost().isEmpty() || vm.get().getHomeHost().equals(host)) {
                continue;
            }
            if (Domains.active(d.getState())) {
                if (holding) {
                    String seen = seenElsewhere(host, d.getName(), now);
                    if (seen != null) {
                        running.add(d.getName() + " (recorded on " + vm.get().getHomeHost() + "; " + seen + ")");
                    }
                    continue;
                }
                running.add(d.getName() + " (home now " + vm.get().getHomeHost() + ")");
            } else if (d.getAutostart()) {
                // Shut off now, but libvirtd starts it at the host's next boot, before any agent or blocklist.
                autostarted.add(d.getName() + " (home now " + vm.get().getHomeHost() + ")");
            }
        }
        if (!running.isEmpty()) {
            if (holding) {
                throw Status.FAILED_PRECONDITION.withDescription(host + " runs " + String.join(", ", running)
                        + ": the controller holds after a restore and cannot tell that no other host runs them, so"
                        + " the fence stays; stop the extra copy by hand (or wait for the host that does not report)"
                        + " and unfence again").asRuntimeException();
            }
            throw Status.FAILED_PRECONDITION.withDescription(host + " still runs " + String.join(", ", running)
                    + ": lifting the fence would let it write to disks another host uses. Its agent destroys such"
                    + " domains when it stands down; wait for its next report, or `virsh destroy` them on " + host)
                    .asRuntimeException();
        }
        if (!autostarted.isEmpty()) {
            throw Status.FAILED_PRECONDITION.withDescription(host + " has " + String.join(", ", autostarted)
                    + " defined with autostart on (the agent's, or libvirt's own): they would start at its next boot"
                    + " while they run elsewhere, with nothing on Ceph's blocklist to stop their writes. Its agent turns"
                    + " autostart off when it stands down; wait for its next report (for libvirt's own flag, `virsh"
                    + " autostart --disable` them on " + host + ")")
                    .asRuntimeException();
        }
        if (!fence.get().addresses().isEmpty() && ceph == null) {
            throw Status.FAILED_PRECONDITION.withDescription(String.join(", ", fence.get().addresses()) + " of " + host
                    + " are on Ceph's blocklist and the controller has no Ceph admin to take them off (set"
                    + " ceph-admin-conf)").asRuntimeException();
        }
        try {
            for (String address : fence.get().addresses()) {
                ceph.unblocklist(address);
            }
        } catch (CephFencer.FenceException e) {
            throw Status.UNAVAILABLE.withDescription("cannot unfence " + host + ", still fenced: " + e.getMessage())
                    .asRuntimeException();
        }
        try {
            fences.remove(host);
        } catch (IOException e) {
            throw Status.UNAVAILABLE.withDescription("cannot drop the fence of " + host + " (" + e.getMessage()
                    + "): it stays recorded, its addresses are off the blocklist; unfence it again").asRuntimeException();
        }
        book.unfenced(host, report.getCephClientAddressesList());
        Audit.recordBy(by, "unfenced host " + host + (fence.get().addresses().isEmpty() ? ""
                : ": " + String.join(", ", fence.get().addresses()) + " off Ceph's blocklist"));
        return fence;
    }

    /**
     * While holding: why {@code vm}, running on {@code host}, may run elsewhere too (another host reports it active,
     * or its recorded home does not report what it runs), or null when every other host is seen not to run it.
     */
    private String seenElsewhere(String host, String vm, long now) {
        String home = store.get(vm).map(Vm::getHomeHost).orElse("");
        Optional<HostRecord> homeRecord = registry.get(home);
        if (homeRecord.isEmpty() || liveness.silent(homeRecord.get(), now) || homeRecord.get().report().getDomainsStale()) {
            return "what " + home + " runs is not known";
        }
        for (HostRecord other : registry.all()) {
            if (!other.name().equals(host) && other.report().getDomainsList().stream()
                    .anyMatch(d -> d.getName().equals(vm) && Domains.active(d.getState()))) {
                return "runs on " + other.name() + " too";
            }
        }
        return null;
    }

    private String definitionsHead(String host) {
        try {
            return store.repo().head();
        } catch (IOException e) {
            throw Status.UNAVAILABLE.withDescription("cannot read the definitions repository's head to check " + host
                    + "'s stand-down against it (" + e.getMessage() + "); still fenced").asRuntimeException();
        }
    }

    private static String brief(String commit) {
        return commit.length() > 12 ? commit.substring(0, 12) : commit;
    }

    /**
     * Which of {@code addresses} another host reports as its own (in its latest report, or kept from before a restart),
     * each with that host's name: Ceph's blocklist entry covers every client of an address, so blocklisting one of
     * these would fence the other host as well.
     */
    private Map<String, String> sharedWithOthers(String host, List<String> addresses) {
        Map<String, String> shared = new TreeMap<>();
        Map<String, List<String>> others = new TreeMap<>(book.all());
        for (HostRecord r : registry.all()) {
            others.put(r.name(), r.report().getCephClientAddressesList());
        }
        others.forEach((other, theirs) -> {
            if (other.equals(host)) {
                return;
            }
            for (String a : theirs) {
                String canonical;
                try {
                    canonical = IpLiterals.canonical("ceph_client_addresses", a);
                } catch (InvalidInputException e) {
                    continue;
                }
                if (addresses.contains(canonical)) {
                    shared.merge(canonical, other, (x, y) -> x + ", " + y);
                }
            }
        });
        return shared;
    }

    /**
     * The host's reported addresses that can go on Ceph's blocklist, canonical, sorted; each other one (a report is not
     * trusted to hold only global IP literals) goes in {@code skipped} with why, and the fence goes on without it.
     */
    private static List<String> addresses(List<String> reported, Map<String, String> skipped) {
        List<String> out = new ArrayList<>();
        for (String a : reported) {
            if (a.contains("%")) {
                skipped.put(a, "a scoped address (valid on one link only), never the address Ceph sees a client come"
                        + " from");
                continue;
            }
            String canonical;
            try {
                canonical = IpLiterals.canonical("ceph_client_addresses", a);
            } catch (InvalidInputException e) {
                skipped.put(a, "not an IP address literal");
                continue;
            }
            Optional<String> scope = IpLiterals.nonGlobal(canonical);
            if (scope.isPresent()) {
                skipped.put(a, "a " + scope.get() + " address, never the address Ceph sees a client come from");
                continue;
            }
            out.add(canonical);
        }
        return out.stream().distinct().sorted().toList();
    }

    private static String skippedText(Map<String, String> skipped) {
        return String.join("; ", skipped.entrySet().stream().map(e -> e.getKey() + ": " + e.getValue()).toList());
    }

    private Object lockOf(String host) {
        return locks.computeIfAbsent(host, h -> new Object());
    }

    private void undo(List<String> blocklisted) {
        for (String address : blocklisted) {
            try {
                ceph.unblocklist(address);
            } catch (CephFencer.FenceException e) {
                // It lapses at its expiry; the verdict was not recorded, the operator is told why.
            }
        }
    }

    private static HostProgress step(String step, String host, String detail) {
        return HostProgress.newBuilder().setStep(step).setDetail(detail).build();
    }

    private StatusRuntimeException notFound(String host) {
        List<String> known = registry.all().stream().map(HostRecord::name).sorted().toList();
        return Status.NOT_FOUND.withDescription("no host named \"" + host + "\"; known hosts: "
                + (known.isEmpty() ? "(none)" : String.join(", ", known))).asRuntimeException();
    }

    /**
     * What the operator must know of a Ceph fence whose entries lapsed, or will within a quarter of their life without
     * having been renewed (renewal happens at half their life): empty when they are in force and fresh.
     */
    public static Optional<String> lapse(Fence f, Instant now) {
        if (f.kind() != Fence.Kind.CEPH || f.expires() == null) {
            return Optional.empty();
        }
        if (!now.isBefore(f.expires())) {
            return Optional.of("its Ceph fence lapsed at " + f.expires() + " (renewal failed: see the controller's log):"
                    + " it may write to its VMs' disks again, and none is started elsewhere until the fence is renewed");
        }
        Duration life = Duration.between(f.fencedAt(), f.expires());
        if (now.isAfter(f.expires().minus(life.dividedBy(4)))) {
            return Optional.of("its Ceph fence expires at " + f.expires() + " and was not renewed yet (renewal failed:"
                    + " see the controller's log)");
        }
        return Optional.empty();
    }

    /** The verdict as the operator's view carries it. */
    public static io.virtfleet.proto.v1.HostFence toProto(Fence f) {
        return io.virtfleet.proto.v1.HostFence.newBuilder()
                .setKind(f.kind() == Fence.Kind.CEPH ? io.virtfleet.proto.v1.FenceKind.FENCE_KIND_CEPH
                        : io.virtfleet.proto.v1.FenceKind.FENCE_KIND_CONFIRMED_DOWN)
                .addAllAddresses(f.addresses())
                .setFencedAtUnixMs(f.fencedAt().toEpochMilli())
                .setExpiresUnixMs(f.expires() == null ? 0 : f.expires().toEpochMilli())
                .setBy(f.by())
                .build();
    }
}
