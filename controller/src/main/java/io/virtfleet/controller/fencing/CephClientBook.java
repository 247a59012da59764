package io.virtfleet.controller.fencing;

import io.virtfleet.common.files.StateFiles;
import io.virtfleet.controller.registry.HostRecord;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executor;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Each host's Ceph client addresses as it last reported them, kept in a file: a host that dies while the controller
 * is down never reports again, and without its addresses the restarted controller could not fence it. One line per
 * host, {@code NAME ADDRESS[,ADDRESS...]}.
 *
 * <p>{@link #observe} is called with every report, on the gRPC threads: it compares in memory and hands a change (rare:
 * a host's first report, a new address) to {@code writer}, so no file is written on an event loop. The file is written
 * whole; a write that fails is logged and tried again with the host's next report.
 */
public final class CephClientBook {
    private static final Logger log = LoggerFactory.getLogger(CephClientBook.class);

    private final Path file;
    private final Executor writer;
    private final Map<String, List<String>> known = new ConcurrentHashMap<>();
    /** What the file holds, as last written (only touched by the writer). */
    private Map<String, List<String>> written = new TreeMap<>();

    private CephClientBook(Path file, Executor writer) {
        this.file = file;
        this.writer = writer;
    }

    /** The book kept in {@code file}; a line it cannot read is skipped with a warning (the host reports it again). */
    public static CephClientBook open(Path file, Executor writer) throws IOException {
        CephClientBook book = new CephClientBook(file, writer);
        if (Files.exists(file)) {
            for (String line : Files.readAllLines(file, StandardCharsets.UTF_8)) {
                String[] parts = line.strip().split(" ");
                if (parts.length == 2 && !parts[0].isEmpty()) {
                    book.known.put(parts[0], List.of(parts[1].split(",")));
                } else if (!line.isBlank()) {
                    log.warn("{}: skipped a line that is not NAME ADDRESSES: {}", file, line);
                }
            }
            book.written = new TreeMap<>(book.known);
        }
        return book;
    }

    /** A book kept in memory only (tests of other features, and a controller given no file). */
    static CephClientBook inMemory() {
        return new CephClientBook(null, Runnable::run);
    }

    /** The addresses a host last reported, empty when it never reported any. */
    public Optional<List<String>> of(String host) {
        return Optional.ofNullable(known.get(host));
    }

    /** Every host's addresses as last reported. */
    public Map<String, List<String>> all() {
        return Map.copyOf(known);
    }

    /** Notes a host's report; writes the book (on the writer) only when its addresses changed. */
    public void observe(HostRecord host) {
        List<String> addresses = host.report().getCephClientAddressesList();
        if (addresses.isEmpty() || addresses.equals(known.get(host.name()))
                || addresses.stream().anyMatch(a -> a.isEmpty() || a.contains(" ") || a.contains(","))) {
            return; // nothing new (the fence checks each address again before use)
        }
        known.put(host.name(), List.copyOf(addresses));
        writer.execute(this::save);
    }

    /** Forgets a host (forgotten by the fleet). */
    public void forget(String host) {
        if (known.remove(host) != null) {
            writer.execute(this::save);
        }
    }

    private synchronized void save() {
        if (file == null) {
            return;
        }
        Map<String, List<String>> now = new TreeMap<>(known);
        if (now.equals(written)) {
            return;
        }
        StringBuilder out = new StringBuilder();
        now.forEach((h, a) -> out.append(h).append(' ').append(String.join(",", a)).append('\n'));
        try {
            StateFiles.write(file, out.toString());
            written = now;
        } catch (IOException e) {
            log.warn("cannot keep the hosts' Ceph client addresses in {} ({}); tried again with the next report",
                    file, e.getMessage());
            // The next observe of a changed host rewrites it; an unchanged one does not, so forget what failed.
            for (String h : now.keySet()) {
                if (!now.get(h).equals(written.get(h))) {
                    known.remove(h, now.get(h));
                }
            }
        }
    }

    @Override
    public String toString() {
        return "CephClientBook" + Arrays.toString(known.keySet().toArray());
    }
}
