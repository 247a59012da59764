package io.virtfleet.controller.fencing;

import io.virtfleet.common.files.StateFiles;
import io.virtfleet.controller.registry.HostRecord;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executor;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Each host's Ceph client addresses, kept in a file: as it last reported them, and every address it reported since it
 * was last unfenced. A librados session keeps the address it connected from, which may have left the host's reports
 * since (an IPv6 temporary address replaced, a secondary IPv4 removed, a DHCP lease changed): a fence blocklists all of
 * them. A host that dies while the controller is down never reports again, and without the file the restarted
 * controller could not fence it.
 *
 * <p>An address that left a host's reports is kept {@link #HISTORY} more (from when it left, or from the controller's
 * start for one read from the file), then forgotten: agents report every address of the interfaces toward the
 * monitors, so one no longer reported is gone from the host, and its sessions with it, within a few reports. Keeping
 * it longer would blocklist an address that may belong to another machine by then (a VIP, a reused lease), and make
 * each fence longer by one blocklist entry per address.
 *
 * <p>One line per host, {@code NAME LATEST[,LATEST...]}, followed by {@code since-unfence=ADDRESS[,ADDRESS...]}
 * (oldest first, the latest ones included) when the host reported others since its last unfence. A line without it
 * (all a file written before held) reads as a host that used only its latest addresses.
 *
 * <p>{@link #observe} is called with every report, on the gRPC threads: it compares in memory and hands a change (rare:
 * a host's first report, a new address) to {@code writer}, so no file is written on an event loop. The file is written
 * whole; a write that fails is logged and tried again with the next report.
 */
public final class CephClientBook {
    private static final Logger log = LoggerFactory.getLogger(CephClientBook.class);
    /**
     * At most this many addresses are kept per host since its last unfence (a host on IPv6 temporary addresses makes a
     * new one a day); past it the oldest are dropped, with a warning. A host's latest addresses are always kept.
     */
    static final int MAX_KEPT = 32;
    private static final String SINCE_UNFENCE = "since-unfence=";
    /** How long an address that left a host's reports is still blocklisted with the host's fence. */
    static final Duration HISTORY = Duration.ofHours(1);

    /** A host's addresses: as last reported, and all reported since its last unfence (oldest first, latest included). */
    private record Entry(List<String> latest, List<String> sinceUnfence) {}

    private final Clock clock;
    /** Per host, when each address that is not in its latest report left it. */
    private final Map<String, Map<String, Instant>> left = new ConcurrentHashMap<>();

    private final Path file;
    private final Executor writer;
    private final Map<String, Entry> known = new ConcurrentHashMap<>();
    /** What the file holds, as last written (only touched by the writer). */
    private Map<String, Entry> written = new TreeMap<>();
    /** Set when a write failed: the next report writes again, changed or not. */
    private volatile boolean unsaved;

    private CephClientBook(Path file, Executor writer, Clock clock) {
        this.file = file;
        this.writer = writer;
        this.clock = clock;
    }

    /** The book kept in {@code file}; a line it cannot read is skipped with a warning (the host reports it again). */
    public static CephClientBook open(Path file, Executor writer) throws IOException {
        return open(file, writer, Clock.systemUTC());
    }

    static CephClientBook open(Path file, Executor writer, Clock clock) throws IOException {
        CephClientBook book = new CephClientBook(file, writer, clock);
        if (Files.exists(file)) {
            for (String line : Files.readAllLines(file, StandardCharsets.UTF_8)) {
                String[] parts = line.strip().split(" ");
                if ((parts.length == 2 || parts.length == 3 && parts[2].startsWith(SINCE_UNFENCE))
                        && !parts[0].isEmpty() && !parts[1].isEmpty()) {
                    List<String> latest = List.of(parts[1].split(","));
                    LinkedHashSet<String> since = new LinkedHashSet<>();
                    if (parts.length == 3) {
                        since.addAll(Arrays.stream(parts[2].substring(SINCE_UNFENCE.length()).split(","))
                                .filter(a -> !a.isEmpty()).toList());
                    }
                    since.addAll(latest);
                    book.known.put(parts[0], new Entry(latest, List.copyOf(since)));
                    Instant now = clock.instant();
                    since.stream().filter(a -> !latest.contains(a)).forEach(a -> book.left
                            .computeIfAbsent(parts[0], h -> new ConcurrentHashMap<>()).put(a, now));
                } else if (!line.isBlank()) {
                    log.warn("{}: skipped a line that is not NAME ADDRESSES [since-unfence=ADDRESSES]: {}", file, line);
                }
            }
            book.written = new TreeMap<>(book.known);
        }
        return book;
    }

    /** A book kept in memory only (tests of other features, and a controller given no file). */
    static CephClientBook inMemory() {
        return new CephClientBook(null, Runnable::run, Clock.systemUTC());
    }

    /** The addresses a host last reported, empty when it never reported any. */
    public Optional<List<String>> of(String host) {
        return Optional.ofNullable(known.get(host)).map(Entry::latest);
    }

    /**
     * Every address a host reported since it was last unfenced (or since it was first seen) and that left its reports
     * less than {@link #HISTORY} ago, oldest first, at most {@value #MAX_KEPT} unless its latest report alone has more;
     * empty when it never reported any.
     */
    public List<String> sinceUnfence(String host) {
        Entry e = known.get(host);
        if (e == null) {
            return List.of();
        }
        Map<String, Instant> gone = left.getOrDefault(host, Map.of());
        Instant oldest = clock.instant().minus(HISTORY);
        return e.sinceUnfence().stream().filter(a -> e.latest().contains(a)
                || gone.getOrDefault(a, Instant.MAX).isAfter(oldest)).toList();
    }

    /** Every host's addresses as last reported. */
    public Map<String, List<String>> all() {
        Map<String, List<String>> out = new TreeMap<>();
        known.forEach((h, e) -> out.put(h, e.latest()));
        return out;
    }

    /** Notes a host's report; writes the book (on the writer) only when its addresses changed. */
    public void observe(HostRecord host) {
        List<String> addresses = List.copyOf(host.report().getCephClientAddressesList());
        if (addresses.isEmpty() || addresses.stream().anyMatch(CephClientBook::unwritable)) {
            return; // nothing to note (the fence checks each address again before use)
        }
        Entry before = known.get(host.name());
        if (before != null && addresses.equals(before.latest())) {
            if (unsaved) {
                writer.execute(this::save);
            }
            return;
        }
        List<String> dropped = new ArrayList<>();
        Instant now = clock.instant();
        Map<String, Instant> gone = left.computeIfAbsent(host.name(), h -> new ConcurrentHashMap<>());
        known.compute(host.name(), (h, old) -> {
            Entry next = added(old, addresses, dropped);
            // Stamp what just left the reports, forget the stamps of what came back or is no longer kept, and drop
            // what left longer than HISTORY ago (so the file does not grow with forgotten addresses).
            if (old != null) {
                old.latest().stream().filter(a -> !addresses.contains(a)).forEach(a -> gone.putIfAbsent(a, now));
            }
            gone.keySet().removeIf(a -> addresses.contains(a) || !next.sinceUnfence().contains(a));
            Instant oldest = now.minus(HISTORY);
            List<String> expired = gone.entrySet().stream().filter(g -> !g.getValue().isAfter(oldest))
                    .map(Map.Entry::getKey).toList();
            expired.forEach(gone::remove);
            return expired.isEmpty() ? next : new Entry(next.latest(), next.sinceUnfence().stream()
                    .filter(a -> !expired.contains(a)).toList());
        });
        if (!dropped.isEmpty()) {
            log.warn("{} reported more than {} Ceph client addresses since it was last unfenced: {} no longer kept (a"
                    + " fence of {} would not blocklist them)", host.name(), MAX_KEPT, String.join(", ", dropped),
                    host.name());
        }
        writer.execute(this::save);
    }

    /** {@code old} with {@code latest} reported: the latest go last, the oldest leave past {@link #MAX_KEPT}. */
    private static Entry added(Entry old, List<String> latest, List<String> dropped) {
        LinkedHashSet<String> kept = new LinkedHashSet<>(old == null ? List.of() : old.sinceUnfence());
        latest.forEach(kept::remove);
        Iterator<String> oldest = kept.iterator();
        while (kept.size() + latest.size() > MAX_KEPT && oldest.hasNext()) {
            dropped.add(oldest.next());
            oldest.remove();
        }
        kept.addAll(latest);
        return new Entry(latest, List.copyOf(kept));
    }

    /**
     * After {@code host} was unfenced: only the addresses it reports now are kept. Its QEMUs of before the fence were
     * cut off by the blocklist or destroyed by its stand-down, so no session from an earlier address writes any more.
     */
    public void unfenced(String host, List<String> reported) {
        List<String> now = List.copyOf(reported);
        if (now.isEmpty() || now.stream().anyMatch(CephClientBook::unwritable)) {
            Entry e = known.get(host);
            if (e == null) {
                return;
            }
            now = e.latest();
        }
        known.put(host, new Entry(now, now));
        left.remove(host);
        writer.execute(this::save);
    }

    /** Forgets a host (forgotten by the fleet). */
    public void forget(String host) {
        left.remove(host);
        if (known.remove(host) != null) {
            writer.execute(this::save);
        }
    }

    /** Whether an address cannot be kept in the file's line format (the fence would refuse it anyway). */
    private static boolean unwritable(String address) {
        return address.isEmpty() || address.contains(" ") || address.contains(",") || address.contains("=")
                || address.contains("\n");
    }

    private synchronized void save() {
        if (file == null) {
            return;
        }
        Map<String, Entry> now = new TreeMap<>(known);
        if (now.equals(written) && !unsaved) {
            return;
        }
        StringBuilder out = new StringBuilder();
        now.forEach((h, e) -> {
            out.append(h).append(' ').append(String.join(",", e.latest()));
            if (!e.sinceUnfence().equals(e.latest())) {
                out.append(' ').append(SINCE_UNFENCE).append(String.join(",", e.sinceUnfence()));
            }
            out.append('\n');
        });
        try {
            StateFiles.write(file, out.toString());
            written = now;
            unsaved = false;
        } catch (IOException e) {
            unsaved = true;
            log.warn("cannot keep the hosts' Ceph client addresses in {} ({}); tried again with the next report",
                    file, e.getMessage());
        }
    }

    @Override
    public String toString() {
        return "CephClientBook" + Arrays.toString(known.keySet().toArray());
    }
}
