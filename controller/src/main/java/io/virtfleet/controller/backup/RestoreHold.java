package io.virtfleet.controller.backup;

import io.virtfleet.common.files.StateFiles;
import io.virtfleet.proto.v1.DomainInfo;
import io.virtfleet.proto.v1.Vm;
import io.virtfleet.proto.v1.VmPhase;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.time.format.DateTimeParseException;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.function.Predicate;

/**
 * The hold a restored controller starts in. A backup's records may be older than what runs: a VM moved or failed
 * over since the backup has its old home in them, and converging the hosts to those records would stop it where it
 * runs and start it on its old home (for a raw disk copied by the move, on the disk as it was before). So
 * {@link Restore} leaves a marker ({@value #FILE}) in the restored data directory, and while it is there the
 * controller changes no domain on any host: it observes, registers hosts, answers reads and records, and reports
 * every VM that does not run on exactly its recorded home. An operator lifts the hold once they have looked
 * ({@code virtfleet restore-hold release}), which deletes the marker durably.
 */
public final class RestoreHold {
    /** The marker's name in the data directory. */
    public static final String FILE = "restored-from-backup";

    private final Path marker;
    private volatile Optional<Instant> takenAt;

    private RestoreHold(Path marker, Optional<Instant> takenAt) {
        this.marker = marker;
        this.takenAt = takenAt;
    }

    /** Reads the marker of {@code dataDir}, if any: the hold is on while it exists. */
    public static RestoreHold open(Path dataDir) throws IOException {
        Path marker = dataDir.resolve(FILE);
        if (!Files.exists(marker)) {
            return new RestoreHold(marker, Optional.empty());
        }
        return new RestoreHold(marker, Optional.of(parse(marker, Files.readString(marker, StandardCharsets.UTF_8))));
    }

    /** Writes the marker (durably) into a data directory being restored from a backup taken at {@code takenAt}. */
    static void mark(Path dataDir, Instant takenAt, Instant restoredAt) throws IOException {
        StateFiles.writePrivate(dataDir.resolve(FILE), "taken-at " + takenAt + "\nrestored-at " + restoredAt + "\n");
    }

    private static Instant parse(Path marker, String text) throws IOException {
        for (String line : text.split("\n")) {
            if (line.startsWith("taken-at ")) {
                try {
                    return Instant.parse(line.substring("taken-at ".length()).trim());
                } catch (DateTimeParseException e) {
                    break;
                }
            }
        }
        // Unreadable: still a hold (the safe side), its time unknown.
        return Instant.EPOCH;
    }

    /** Whether the controller holds: no domain is stopped, started, defined or undefined on any host. */
    public boolean holding() {
        return takenAt.isPresent();
    }

    /** When the restored backup was taken, while holding. */
    public Optional<Instant> backupTakenAt() {
        return takenAt;
    }

    /** Every VM, held: a predicate for the reconciler's hold-off. */
    public Predicate<String> asHoldOff() {
        return vm -> holding();
    }

    /** Lifts the hold: the marker is deleted, durably. Returns false when there was none. */
    public synchronized boolean release() throws IOException {
        if (!holding()) {
            return false;
        }
        StateFiles.delete(marker);
        takenAt = Optional.empty();
        return true;
    }

    /** Where a VM differs from its record: the hosts it runs on (active or paused) and whether that is its home. */
    public record Misplaced(String vm, String recordedHome, List<String> runningOn, boolean followable, String reason) {}

    /**
     * Every VM that should run and does not run on exactly its recorded home: running on another host only
     * (followable when that one host is fit), on two or more hosts, or on none. A VM held stopped and running
     * nowhere is in place. Hosts whose domain list is stale are not trusted, so a VM whose only reports are stale
     * is listed as unknown, not fixed.
     *
     * @param domains each host's reported domains (active ones matter)
     * @param staleHosts hosts whose reports are not to be trusted
     * @param fitHosts hosts ready to take a VM's record (registered, answering)
     */
    public static List<Misplaced> misplaced(Collection<Vm> vms, Map<String, List<DomainInfo>> domains,
                                            java.util.Set<String> staleHosts, Predicate<String> fitHosts,
                                            Predicate<DomainInfo> active) {
        List<Misplaced> out = new ArrayList<>();
        Map<String, Vm> byName = new TreeMap<>();
        for (Vm vm : vms) {
            byName.put(vm.getSpec().getName(), vm);
        }
        for (Vm vm : byName.values()) {
            if (vm.getPhase() == VmPhase.VM_PHASE_DELETING) {
                continue;
            }
            String name = vm.getSpec().getName();
            List<String> on = new ArrayList<>();
            for (var h : new TreeMap<>(domains).entrySet()) {
                if (h.getValue().stream().anyMatch(d -> d.getName().equals(name) && active.test(d))) {
                    on.add(h.getKey());
                }
            }
            String home = vm.getHomeHost();
            if (on.size() == 1 && on.get(0).equals(home)) {
                continue;
            }
            if (on.isEmpty()) {
                if (!vm.getRunningWanted()) {
                    continue;
                }
                String why = staleHosts.isEmpty() ? "runs on no host" : "runs on no host that reports (stale: "
                        + String.join(", ", new java.util.TreeSet<>(staleHosts)) + ")";
                out.add(new Misplaced(name, home, on, false, why + "; the record wants it running on " + home));
            } else if (on.size() > 1) {
                out.add(new Misplaced(name, home, on, false, "runs on " + on.size() + " hosts (" + String.join(", ", on)
                        + "): stop all but one by hand, then release"));
            } else if (!fitHosts.test(on.get(0))) {
                out.add(new Misplaced(name, home, on, false, "runs on " + on.get(0) + ", which is not ready to be"
                        + " its home; the record says " + home));
            } else {
                out.add(new Misplaced(name, home, on, true, "runs on " + on.get(0) + ", the record says " + home));
            }
        }
        return out;
    }
}
