package io.virtfleet.controller.trust;

import io.virtfleet.common.files.StateFiles;
import java.io.IOException;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Which host names are enrolled and which certificates (by serial) currently speak for each. A renewal
 * adds the new serial and keeps the previous one until the agent uses the new one; a re-enrollment
 * replaces them all, so the certificate of a replaced machine stops working at once.
 *
 * <p>Every Register and Heartbeat asks {@link #accepts}, so reads take no lock: they never wait behind an
 * enrollment writing the file. Changes are serialized (and saved) under this object's monitor.
 */
public final class EnrolledHosts {
    private final Path file;
    /** Host → serials that speak for it; the lists are immutable and replaced whole. */
    private final Map<String, List<BigInteger>> serials = new ConcurrentHashMap<>();

    public EnrolledHosts(Path file) throws IOException {
        this.file = file;
        if (Files.exists(file)) {
            for (String line : Files.readAllLines(file, StandardCharsets.US_ASCII)) {
                String[] f = line.strip().split(" ");
                if (f.length >= 2) {
                    List<BigInteger> list = new ArrayList<>();
                    for (int i = 1; i < f.length; i++) {
                        list.add(new BigInteger(f[i], 16));
                    }
                    serials.put(f[0], List.copyOf(list));
                }
            }
        }
    }

    /** The names of the enrolled hosts, sorted. */
    public java.util.SortedSet<String> hosts() {
        return new java.util.TreeSet<>(serials.keySet());
    }

    public boolean isEnrolled(String host) {
        return serials.containsKey(host);
    }

    /** A certificate fresh from enrollment: the only one that speaks for the host from now on. */
    public synchronized void enrolled(String host, BigInteger serial) throws IOException {
        change(host, List.of(serial));
    }

    /** A renewed certificate: valid alongside the one it renews, which stays until it expires. */
    public synchronized void renewed(String host, BigInteger previous, BigInteger serial) throws IOException {
        change(host, List.of(serial, previous));
    }

    /** Whether this certificate serial currently speaks for the host. */
    public boolean accepts(String host, BigInteger serial) {
        List<BigInteger> list = serials.get(host);
        return list != null && list.contains(serial);
    }

    public synchronized void forget(String host) throws IOException {
        if (serials.containsKey(host)) {
            change(host, null);
        }
    }

    /**
     * Sets (or with null removes) the host's serials on the disk, then in memory: a change the caller was told
     * failed must not be in force until a restart only (nor refuse, meanwhile, the certificate it replaced).
     */
    private void change(String host, List<BigInteger> list) throws IOException {
        Map<String, List<BigInteger>> next = new TreeMap<>(serials);
        if (list == null) {
            next.remove(host);
        } else {
            next.put(host, list);
        }
        save(next);
        if (list == null) {
            serials.remove(host);
        } else {
            serials.put(host, list);
        }
    }

    private void save(Map<String, List<BigInteger>> next) throws IOException {
        StringBuilder out = new StringBuilder();
        next.forEach((host, list) -> {
            out.append(host);
            list.forEach(s -> out.append(' ').append(s.toString(16)));
            out.append('\n');
        });
        StateFiles.writePrivate(file, out.toString());
    }
}
