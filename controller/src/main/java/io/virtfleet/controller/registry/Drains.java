package io.virtfleet.controller.registry;

import io.virtfleet.common.files.StateFiles;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Hosts an operator drained: they keep running their VMs, but placement sends them no new ones (e.g. before
 * maintenance). Kept in a file so a drain survives a controller restart; reads take no lock (liveness asks on
 * every judgement).
 */
public final class Drains {
    private final Path file;
    private final Set<String> drained = ConcurrentHashMap.newKeySet();

    public Drains(Path file) throws IOException {
        this.file = file;
        if (file != null && Files.exists(file)) {
            Files.readAllLines(file, StandardCharsets.US_ASCII).stream().map(String::strip).filter(l -> !l.isEmpty())
                    .forEach(drained::add);
        }
    }

    /** Drains kept in memory only, for tests of other features. */
    public static Drains inMemory() {
        try {
            return new Drains(null);
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    public boolean isDrained(String host) {
        return drained.contains(host);
    }

    /** Drains or undrains a host; returns whether anything changed. */
    public synchronized boolean set(String host, boolean drain) throws IOException {
        if (drained.contains(host) == drain) {
            return false;
        }
        if (file != null) {
            // The file first: a failed write leaves the drain as it was, so the operator's retry writes it again
            // (were memory ahead, the retry would find nothing to change and a restart would undo the drain).
            Set<String> next = new TreeSet<>(drained);
            if (drain) {
                next.add(host);
            } else {
                next.remove(host);
            }
            StringBuilder out = new StringBuilder();
            next.forEach(h -> out.append(h).append('\n'));
            StateFiles.writePrivate(file, out.toString());
        }
        if (drain) {
            drained.add(host);
        } else {
            drained.remove(host);
        }
        return true;
    }
}
