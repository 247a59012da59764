package io.virtfleet.controller.scheduler;

import io.virtfleet.proto.v1.StorageTier;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The claims in force, kept in a journal so they survive a controller restart: one line appended (and
 * flushed to disk) per claim or release, compacted when it opens and when it has grown to several times the
 * live claims. Appending keeps a claim O(1) however many VMs the fleet has. Not thread-safe: the
 * {@link Scheduler} serializes all access.
 *
 * <p>Line format: {@code + vm host memoryBytes vcpus tier rawBytes group|- claimedAtUnixMs} or {@code - vm}.
 */
public final class ClaimBook implements AutoCloseable {
    private static final org.slf4j.Logger log = org.slf4j.LoggerFactory.getLogger(ClaimBook.class);
    private final Path file;
    private final Map<String, Claim> claims = new LinkedHashMap<>();
    private FileChannel journal;
    private int journalLines;

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
        book.compact();
        return book;
    }

    public Collection<Claim> all() {
        return List.copyOf(claims.values());
    }

    public Claim get(String vmName) {
        return claims.get(vmName);
    }

    public int size() {
        return claims.size();
    }

    void add(Claim c) {
        if (claims.containsKey(c.vmName())) {
            throw new IllegalStateException("VM " + c.vmName() + " already holds a claim");
        }
        if (file != null) {
            append("+ " + c.vmName() + " " + c.host() + " " + c.memoryBytes() + " " + c.vcpus() + " " + c.storage().name()
                    + " " + c.rawBytes() + " " + (c.spreadGroup() == null ? "-" : c.spreadGroup()) + " " + c.claimedAtUnixMs());
        }
        claims.put(c.vmName(), c);
    }

    Claim remove(String vmName) {
        Claim c = claims.get(vmName);
        if (c != null) {
            if (file != null) {
                append("- " + vmName);
            }
            claims.remove(vmName);
        }
        return c;
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

    private void append(String line) {
        if (file == null) {
            return;
        }
        try {
            if (journalLines > 64 && journalLines > 4 * claims.size()) {
                compact();
            }
            journal.write(ByteBuffer.wrap((line + "\n").getBytes(StandardCharsets.US_ASCII)));
            journal.force(false); // a claim the controller forgets after a crash could overcommit a host
            journalLines++;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot record the claim in " + file, e);
        }
    }

    /** Rewrites the journal with only the claims in force (atomically), then appends to it. */
    private void compact() throws IOException {
        if (file == null) {
            return;
        }
        if (journal != null) {
            journal.close();
        }
        StringBuilder out = new StringBuilder();
        for (Claim c : claims.values()) {
            out.append("+ ").append(c.vmName()).append(' ').append(c.host()).append(' ').append(c.memoryBytes())
                    .append(' ').append(c.vcpus()).append(' ').append(c.storage().name()).append(' ')
                    .append(c.rawBytes()).append(' ').append(c.spreadGroup() == null ? "-" : c.spreadGroup())
                    .append(' ').append(c.claimedAtUnixMs()).append('\n');
        }
        Files.createDirectories(file.toAbsolutePath().getParent());
        Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
        Files.writeString(tmp, out, StandardCharsets.US_ASCII);
        try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE)) {
            ch.force(true);
        }
        Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        journal = FileChannel.open(file, StandardOpenOption.WRITE, StandardOpenOption.APPEND);
        journalLines = claims.size();
    }

    List<Claim> onHost(String host) {
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
        if (journal != null) {
            journal.close();
        }
    }
}
