package io.virtfleet.controller.health;

import io.virtfleet.common.files.StateFiles;
import io.virtfleet.common.files.WriteOutcomes;
import io.virtfleet.common.health.ServerHealth;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The controller's health follows its data directory: SERVING once started, NOT_SERVING from a state write that
 * failed there (disk full, file system read-only, I/O error: the controller cannot record what it does) until a write
 * in that directory succeeds again. While a directory fails, a probe write is tried there every {@link #PROBE_EVERY},
 * so health comes back as soon as the storage does, without waiting for an operator's next change.
 */
public final class StorageHealth implements WriteOutcomes.Watcher, AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(StorageHealth.class);
    static final Duration PROBE_EVERY = Duration.ofSeconds(2);

    private final Path dataDirectory;
    private final ServerHealth health;
    /** Directories whose last write failed. */
    private final Set<Path> failing = new TreeSet<>();
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
        Path dir = file.getParent();
        if (failing.add(dir)) {
            log.error("cannot write {} ({}): the controller cannot record what it does; health NOT_SERVING until writes"
                    + " in {} succeed again", file, e.toString(), dir);
        }
        update();
    }

    @Override
    public synchronized void succeeded(Path file) {
        recovered(file.getParent());
    }

    private synchronized void recovered(Path dir) {
        if (failing.remove(dir)) {
            log.info("writes in {} succeed again{}", dir, failing.isEmpty() ? "" : "; still failing: " + failing);
            update();
        }
    }

    private void update() {
        health.serving(started && failing.isEmpty());
    }

    /** On the prober's thread, no lock held across the writes. */
    private void probe() {
        List<Path> dirs;
        synchronized (this) {
            dirs = List.copyOf(failing);
        }
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
                recovered(dir);
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
