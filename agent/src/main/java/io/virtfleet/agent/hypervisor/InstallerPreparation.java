package io.virtfleet.agent.hypervisor;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.util.Optional;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Future;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.LongSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Prepares the installer's initrd ({@link InstallerFiles#refresh}) when the host has Debian's files but no prepared
 * initrd: the package was installed after the agent started, or the agent's start could not write it (a full
 * disk). The host then reports installer files from the next report after it is written. A 40 MB write, so on a
 * thread of its own, never on the reporting or a gRPC thread; after a failure it is tried again a minute later,
 * not at every report.
 */
public final class InstallerPreparation {
    private static final Logger log = LoggerFactory.getLogger(InstallerPreparation.class);
    static final long RETRY_AFTER_NANOS = 60_000_000_000L;

    private final InstallerFiles files;
    private final LongSupplier nanoClock;
    private final AtomicBoolean running = new AtomicBoolean();
    private volatile long failedAt;
    private volatile boolean failed;
    private ExecutorService worker;

    public InstallerPreparation(InstallerFiles files) {
        this(files, System::nanoTime);
    }

    InstallerPreparation(InstallerFiles files, LongSupplier nanoClock) {
        this.files = files;
        this.nanoClock = nanoClock;
    }

    /**
     * Starts a preparation if one is needed and none is under way or failed less than a minute ago.
     *
     * @return the preparation started, or empty when none was
     */
    public Optional<Future<?>> soon() {
        if (files.preparedInitrd() == null || files.available()
                || !Files.isRegularFile(files.kernel(), LinkOption.NOFOLLOW_LINKS)
                || !Files.isRegularFile(files.debianInitrd(), LinkOption.NOFOLLOW_LINKS)) {
            return Optional.empty();
        }
        if (failed && nanoClock.getAsLong() - failedAt < RETRY_AFTER_NANOS) {
            return Optional.empty();
        }
        if (!running.compareAndSet(false, true)) {
            return Optional.empty();
        }
        return Optional.of(executor().submit(() -> {
            try {
                files.refresh();
                failed = false;
                log.info("prepared the installer's initrd {} from {}", files.initrd(), files.debianInitrd());
            } catch (IOException | RuntimeException e) {
                failedAt = nanoClock.getAsLong();
                failed = true;
                log.warn("cannot prepare the installer's initrd {} (tried again in a minute; no kernel-boot installs"
                        + " here until then): {}", files.initrd(), e.toString());
            } finally {
                running.set(false);
            }
        }));
    }

    private synchronized ExecutorService executor() {
        if (worker == null) {
            worker = Executors.newSingleThreadExecutor(r -> {
                Thread t = new Thread(r, "installer-preparation");
                t.setDaemon(true);
                return t;
            });
        }
        return worker;
    }
}
