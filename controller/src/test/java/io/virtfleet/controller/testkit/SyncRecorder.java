package io.virtfleet.controller.testkit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.fail;

import io.virtfleet.common.files.FileSync;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * Syncs to the disk like {@link FileSync#DISK} and records each sync with what the synced file's directory held
 * at that moment, so a test can tell in which order content, rename and directory reached the disk.
 */
public final class SyncRecorder implements FileSync {
    /** One sync: of a file's content, or of a directory's entries; {@code files} is that directory at the time. */
    public record Event(boolean directory, Path path, Map<String, byte[]> files) {
        @Override
        public String toString() {
            return (directory ? "directory " : "file ") + path + " " + files.keySet();
        }
    }

    private final List<Event> events = new ArrayList<>();

    @Override
    public synchronized void force(FileChannel channel, Path file) throws IOException {
        FileSync.DISK.force(channel, file);
        events.add(new Event(false, file.toAbsolutePath(), snapshot(file.toAbsolutePath().getParent())));
    }

    @Override
    public synchronized void forceDirectory(Path directory) throws IOException {
        FileSync.DISK.forceDirectory(directory);
        events.add(new Event(true, directory.toAbsolutePath(), snapshot(directory.toAbsolutePath())));
    }

    public synchronized List<Event> events() {
        return List.copyOf(events);
    }

    public synchronized void clear() {
        events.clear();
    }

    /**
     * Asserts that {@code file} got its current content the durable way: written to a temporary file of its
     * directory, that file synced while {@code file} did not yet hold the content, then renamed, and after the
     * rename the directory synced.
     */
    public synchronized void assertReplacedDurably(Path file) {
        assertReplacedDurably(file, read(file.toAbsolutePath()));
    }

    /** As {@link #assertReplacedDurably(Path)}, for a replacement by {@code content} (null: by any content). */
    public synchronized void assertReplacedDurably(Path file, byte[] content) {
        Path target = file.toAbsolutePath();
        Path dir = target.getParent();
        String name = target.getFileName().toString();
        Pattern temporary = Pattern.compile("\\." + Pattern.quote(name) + "\\..*\\.tmp");
        String problem = "no temporary file with the content of " + target + " was synced";
        for (int i = 0; i < events.size(); i++) {
            Event e = events.get(i);
            if (e.directory() || !e.path().getParent().equals(dir)
                    || !temporary.matcher(e.path().getFileName().toString()).matches()) {
                continue;
            }
            byte[] synced = e.files().get(e.path().getFileName().toString());
            if (content != null && !Arrays.equals(synced, content)) {
                continue;
            }
            if (Arrays.equals(e.files().get(name), synced)) {
                problem = target + " held its new content before that content was synced (renamed too early)";
                continue;
            }
            problem = "the directory " + dir + " was not synced after " + target + " was renamed into place";
            for (int j = i + 1; j < events.size(); j++) {
                Event d = events.get(j);
                if (d.directory() && d.path().equals(dir) && Arrays.equals(d.files().get(name), synced)
                        && d.files().keySet().stream().noneMatch(f -> temporary.matcher(f).matches())) {
                    return;
                }
            }
        }
        fail(problem + ": " + events);
    }

    /** Asserts that {@code file} was synced while it held {@code content} (e.g. a journal after an append). */
    public synchronized void assertSyncedHolding(Path file, byte[] content) {
        Path target = file.toAbsolutePath();
        for (Event e : events) {
            if (!e.directory() && e.path().equals(target)) {
                byte[] held = e.files().get(target.getFileName().toString());
                if (Arrays.equals(held, content)) {
                    return;
                }
            }
        }
        assertArrayEquals(content, read(target), "and no sync of " + target + " saw that content: " + events);
        fail("no sync of " + target + " saw it holding its content: " + events);
    }

    private static Map<String, byte[]> snapshot(Path dir) {
        Map<String, byte[]> files = new TreeMap<>();
        try (Stream<Path> list = Files.list(dir)) {
            list.filter(Files::isRegularFile).forEach(f -> files.put(f.getFileName().toString(), read(f)));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return files;
    }

    private static byte[] read(Path file) {
        try {
            return Files.exists(file) ? Files.readAllBytes(file) : null;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
