package io.virtfleet.controller.scheduler;

import io.virtfleet.common.files.StateFiles;
import io.virtfleet.common.files.WriteOutcomes;
import io.virtfleet.proto.v1.StorageTier;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The claims in force, kept in a journal so they survive a controller restart: one line appended (and
 * flushed to disk) per claim or release, compacted when it opens and when it has grown to several times the
 * live claims. Appending keeps a claim O(1) however many VMs the fleet has.
 *
 * <p>A change is made in two steps, so that the {@link Scheduler} decides under its lock and waits for the disk
 * outside it: {@link #add} or {@link #remove} changes the claims in memory and queues the change's record (under
 * this object's monitor, for microseconds), and returns a ticket; {@link #sync} returns once the record is on the
 * disk. Whoever syncs first writes every record queued so far with one fsync, and the others find theirs already
 * there (a group commit): a burst of creates costs about one fsync per fsync time, not one each.
 *
 * <p>Line format: {@code + vm host memoryBytes vcpus tier rawBytes group|- claimedAtUnixMs} or {@code - vm}.
 */
public final class ClaimBook implements AutoCloseable {
    private static final org.slf4j.Logger log = org.slf4j.LoggerFactory.getLogger(ClaimBook.class);
    private final Path file;
    // Under this object's monitor: the claims and the records not yet handed to the journal.
    private final Map<String, Claim> claims = new LinkedHashMap<>();
    private final StringBuilder queued = new StringBuilder();
    private int queuedLines;
    private long lastTicket;
    // Under journalLock: the journal file.
    private final Object journalLock = new Object();
    private FileChannel journal;
    private int journalLines;
    /** A write failed part way: the journal's end is unknown, so the next sync rewrites it whole. */
    private boolean rewrite;
    /** Tickets up to this one are on the disk. */
    private volatile long synced;

    private ClaimBook(Path file) {
        this.file = file;
    }

    /** Claims kept in memory only: for benchmarks and tests of placement itself. */
    public static ClaimBook inMemory() {
        return new ClaimBook(null);
    }

    /** Opens (or creates) the journal at {@code file} and loads the claims in force. */
    public static ClaimBook open(Path file) throws IOException {
        ClaimBook book = new ClaimBook(file);
        if (Files.exists(file)) {
            String text = Files.readString(file, StandardCharsets.US_ASCII);
            List<String> lines = new ArrayList<>(text.lines().toList());
            if (!text.isEmpty() && !text.endsWith("\n")) {
                // A record cut short by a power loss was never acknowledged: its create did not go on.
                log.warn("{}: ignoring an unfinished last record: {}", file, lines.remove(lines.size() - 1));
            }
            int lineNo = 0;
            for (String line : lines) {
                lineNo++;
                if (!line.isBlank()) {
                    book.apply(line, lineNo);
                }
            }
        }
        synchronized (book.journalLock) {
            book.compact(List.copyOf(book.claims.values()));
        }
        return book;
    }

    public synchronized Collection<Claim> all() {
        return List.copyOf(claims.values());
    }

    public synchronized Claim get(String vmName) {
        return claims.get(vmName);
    }

    public synchronized int size() {
        return claims.size();
    }

    /** Adds the claim in memory; it is on the disk once {@link #sync} of the returned ticket returns. */
    synchronized long add(Claim c) {
        if (claims.containsKey(c.vmName())) {
            throw new IllegalStateException("VM " + c.vmName() + " already holds a claim");
        }
        claims.put(c.vmName(), c);
        return queue(line(c));
    }

    /** Removes the VM's claim in memory, if it holds one; returns the ticket to {@link #sync}, 0 if none. */
    synchronized long remove(String vmName) {
        return claims.remove(vmName) == null ? 0 : queue("- " + vmName);
    }

    /** The ticket of the last change queued: once {@link #sync} of it returns, every change so far is on the disk. */
    synchronized long lastQueued() {
        return lastTicket;
    }

    private long queue(String line) {
        if (file == null) {
            return 0;
        }
        queued.append(line).append('\n');
        queuedLines++;
        return ++lastTicket;
    }

    /**
     * Returns once the change with this ticket is on the disk (at once if it already is, or if the book is in
     * memory only). Blocks for an fsync: never call it holding a lock others wait for.
     *
     * @throws UncheckedIOException if the journal cannot be written; the caller must undo its change
     */
    void sync(long ticket) {
        if (file == null || synced >= ticket) {
            return;
        }
        synchronized (journalLock) {
            if (synced >= ticket) {
                return; // written by another thread's sync, with its own
            }
            String lines = null;
            int count;
            List<Claim> all = null;
            long upTo;
            synchronized (this) {
                upTo = lastTicket;
                count = queuedLines;
                if (rewrite || (journalLines > 64 && journalLines + count > 4 * claims.size())) {
                    all = List.copyOf(claims.values()); // holds every queued change: they need no lines of their own
                } else {
                    lines = queued.toString();
                }
                queued.setLength(0);
                queuedLines = 0;
            }
            // Through the write gate: a backup never copies half an appended line.
            try (io.virtfleet.common.files.WriteGate.Pass pass = io.virtfleet.common.files.WriteGate.enter()) {
                if (all != null) {
                    compact(all);
                } else {
                    ByteBuffer bytes = ByteBuffer.wrap(lines.getBytes(StandardCharsets.US_ASCII));
                    while (bytes.hasRemaining()) {
                        journal.write(bytes);
                    }
                    // A claim the controller forgets after a crash could overcommit a host.
                    StateFiles.force(journal, file);
                    journalLines += count;
                }
                synced = upTo;
            } catch (IOException e) {
                // The records taken are lost with this write; the claims in memory still hold them, and the next
                // sync rewrites the journal from those.
                rewrite = true;
                WriteOutcomes.failed(file, e); // the controller's health hears it
                throw new UncheckedIOException("cannot record the claims in " + file + ": " + e.getMessage(), e);
            }
        }
    }

    private static String line(Claim c) {
        return "+ " + c.vmName() + " " + c.host() + " " + c.memoryBytes() + " " + c.vcpus() + " " + c.storage().name()
                + " " + c.rawBytes() + " " + (c.spreadGroup() == null ? "-" : c.spreadGroup()) + " " + c.claimedAtUnixMs();
    }

    private void apply(String line, int lineNo) {
        String[] f = line.strip().split(" ");
        try {
            if (f[0].equals("+") && f.length == 9) {
                claims.put(f[1], new Claim(f[1], f[2], Long.parseLong(f[3]), Integer.parseInt(f[4]),
                        StorageTier.valueOf(f[5]), Long.parseLong(f[6]), f[7].equals("-") ? null : f[7],
                        Long.parseLong(f[8])));
                return;
            }
            if (f[0].equals("-") && f.length == 2) {
                claims.remove(f[1]);
                return;
            }
        } catch (IllegalArgumentException e) {
            // fall through to the error below
        }
        throw new IllegalStateException(file + " line " + lineNo + " is not a claim record: " + line);
    }

    /** Replaces the journal with only {@code all} (durably, through {@link StateFiles}), then appends to it. */
    private void compact(List<Claim> all) throws IOException {
        if (journal != null) {
            journal.close();
            journal = null;
        }
        StringBuilder out = new StringBuilder();
        for (Claim c : all) {
            out.append(line(c)).append('\n');
        }
        StateFiles.write(file, out.toString().getBytes(StandardCharsets.US_ASCII));
        journal = FileChannel.open(file, StandardOpenOption.WRITE, StandardOpenOption.APPEND);
        journalLines = all.size();
        rewrite = false;
    }

    synchronized List<Claim> onHost(String host) {
        List<Claim> out = new ArrayList<>();
        for (Claim c : claims.values()) {
            if (c.host().equals(host)) {
                out.add(c);
            }
        }
        return out;
    }

    @Override
    public void close() throws IOException {
        synchronized (journalLock) {
            if (journal != null) {
                journal.close();
            }
        }
    }
}
