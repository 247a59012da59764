package io.virtfleet.controller.trust;

import io.virtfleet.common.files.StateFiles;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;

/**
 * The migration address each host's latest libvirt certificate names, kept across restarts: an address stays its
 * host's until that host is issued a certificate for another one, or is forgotten, so that no other host can be issued
 * one for it meanwhile, even while its owner is away. Not thread-safe: {@link LibvirtCertificates} serializes its use.
 */
final class LibvirtAddresses {
    static final String FILE = "libvirt-addresses";

    private final Path file;
    private final Map<String, String> byHost = new TreeMap<>();

    LibvirtAddresses(Path file) throws IOException {
        this.file = file;
        if (Files.exists(file)) {
            for (String line : Files.readAllLines(file, StandardCharsets.US_ASCII)) {
                String[] f = line.strip().split(" ");
                if (f.length == 2) {
                    byHost.put(f[0], f[1]);
                }
            }
        }
    }

    /** The hosts whose latest libvirt certificate names {@code address} (more than one only if some were forgotten). */
    List<String> holders(String address) {
        return byHost.entrySet().stream().filter(e -> e.getValue().equals(address)).map(Map.Entry::getKey).toList();
    }

    Optional<String> of(String host) {
        return Optional.ofNullable(byHost.get(host));
    }

    /**
     * Records, durably, that the latest certificate of {@code host} names {@code address}; another host recorded with
     * that address (one forgotten since, which the caller checked) loses it.
     */
    void issued(String host, String address) throws IOException {
        Map<String, String> next = new TreeMap<>(byHost);
        next.values().removeIf(address::equals);
        next.put(host, address);
        StringBuilder out = new StringBuilder();
        next.forEach((h, a) -> out.append(h).append(' ').append(a).append('\n'));
        StateFiles.writePrivate(file, out.toString());
        byHost.clear();
        byHost.putAll(next);
    }
}
