package io.virtfleet.controller.health;

import io.virtfleet.common.files.StateFiles;
import io.virtfleet.common.files.WriteOutcomes;
import io.virtfleet.common.health.ServerHealth;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The controller's health follows its data directory: SERVING once started, NOT_SERVING from a state write that
 * failed there (disk full, file system read-only, I/O error: the controller cannot record what it does) until that
 * file is written again. Failures are kept per file, so that a small write of another file (or of the same directory)
 * succeeding does not hide a file that still cannot be written. While a file fails, a probe write is tried in its
 * directory every {@link #PROBE_EVERY}, so health comes back as soon as the storage does, without waiting for an
 * operator's next change; a probe clears only the failures that were there before it wrote.
 */
public final class StorageHealth implements WriteOutcomes.Watcher, AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(StorageHealth.class);
    static final Duration PROBE_EVERY = Duration.ofSeconds(2);
    /** How {@link StateFiles#probe} names its temporary file: its outcome is the probe's, handled by {@link #probe}. */
    private static final String PROBE_PREFIX = ".probe.";

    private final Path dataDirectory;
    private final ServerHealth health;
    /** Files whose last write failed, each with the number of its latest failure. */
    private final Map<Path, Long> failing = new TreeMap<>();
    private long failures;
    private final ScheduledExecutorService prober = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "vf-controller-storage-probe");
        t.setDaemon(true);
        return t;
    });
    private WriteOutcomes.Watch watch;
    private boolean started;

    public StorageHealth(Path dataDirectory, ServerHealth health) {
        this.dataDirectory = dataDirectory.toAbsolutePath().normalize();
        this.health = health;
    }

    /** The controller has started: SERVING unless a write has failed since. */
    public synchronized void start() {
        if (watch == null) {
            watch = WriteOutcomes.watch(dataDirectory, this);
            long every = PROBE_EVERY.toMillis();
            prober.scheduleWithFixedDelay(this::probe, every, every, TimeUnit.MILLISECONDS);
        }
        started = true;
        update();
    }

    @Override
    public synchronized void failed(Path file, IOException e) {
        if (isProbe(file)) {
            return;
        }
        if (failing.put(file, ++failures) == null) {
            log.error("cannot write {} ({}): the controller cannot record what it does; health NOT_SERVING until it"
                    + " can be written again", file, e.toString());
        }
        update();
    }

    @Override
    public synchronized void succeeded(Path file) {
        if (!isProbe(file) && failing.remove(file) != null) {
            log.info("{} is written again{}", file, failing.isEmpty() ? "" : "; still failing: " + failing.keySet());
            update();
        }
    }

    /** The files whose last write failed (tests). */
    synchronized Set<Path> failing() {
        return Set.copyOf(failing.keySet());
    }

    private static boolean isProbe(Path file) {
        Path name = file.getFileName();
        return name != null && name.toString().startsWith(PROBE_PREFIX);
    }

    /** A probe wrote in {@code dir}: the failures there that it saw before writing are over. */
    private synchronized void probed(Path dir, Map<Path, Long> before) {
        List<Path> cleared = new ArrayList<>();
        before.forEach((file, failure) -> {
            if (dir.equals(file.getParent()) && failing.remove(file, failure)) {
                cleared.add(file);
            }
        });
        if (!cleared.isEmpty()) {
            log.info("writes in {} succeed again ({} could not be written){}", dir, cleared,
                    failing.isEmpty() ? "" : "; still failing: " + failing.keySet());
            update();
        }
    }

    private void update() {
        health.serving(started && failing.isEmpty());
    }

    /** On the prober's thread, no lock held across the writes. */
    void probe() {
        Map<Path, Long> before;
        synchronized (this) {
            before = Map.copyOf(failing);
        }
        Set<Path> dirs = new TreeSet<>();
        before.keySet().forEach(file -> dirs.add(file.getParent()));
        for (Path dir : dirs) {
            // A directory that is gone: its nearest ancestor tells whether the file system takes writes again.
            Path at = dir;
            while (at != null && at.startsWith(dataDirectory) && !Files.exists(at)) {
                at = at.getParent();
            }
            if (at == null || !at.startsWith(dataDirectory)) {
                continue;
            }
            try {
                StateFiles.probe(at);
                probed(dir, before);
            } catch (IOException | RuntimeException stillFailing) {
                // reported to failed() already; the next probe tries again
            }
        }
    }

    @Override
    public synchronized void close() {
        if (watch != null) {
            watch.close();
        }
        prober.shutdownNow();
    }
}
