package io.virtfleet.agent.hypervisor;

import io.virtfleet.common.fingerprint.Sha256;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ThreadLocalRandom;
import java.util.function.LongSupplier;
import org.libvirt.LibvirtException;

/**
 * The SHA-256 of each domain's inactive XML, for reports, fetched again only every {@link #REFRESH} or so: asking
 * libvirt for 50 definitions every heartbeat would cost more than the agent's whole CPU budget (1 % of a core),
 * and a hand edit showing up ten seconds late is fine. A domain virtfleet changes is forgotten at once, so its
 * next report is exact. Keyed by name and UUID: a domain undefined and made again under the same name is fetched
 * afresh. Not thread-safe: used under the hypervisor's lock.
 */
final class DefinitionFingerprints {
    /** How long a fingerprint is trusted, give or take a fifth, so that 50 domains are not all fetched together. */
    static final Duration REFRESH = Duration.ofSeconds(10);

    /** Fetches one domain's inactive XML from libvirt. */
    @FunctionalInterface
    interface XmlSource {
        String inactiveXml() throws LibvirtException;
    }

    private record Cached(String uuid, String sha256, long refreshAtNanos) {}

    private final Map<String, Cached> byName = new HashMap<>();
    private final LongSupplier nanoTime;
    private final long refreshNanos;

    /** @param refresh how long a fingerprint is trusted (give or take a fifth) */
    DefinitionFingerprints(LongSupplier nanoTime, Duration refresh) {
        this.nanoTime = nanoTime;
        this.refreshNanos = refresh.toNanos();
    }

    /** The fingerprint of domain {@code name} ({@code uuid}), from memory while fresh, else from {@code source}. */
    String of(String name, String uuid, XmlSource source) throws LibvirtException {
        long now = nanoTime.getAsLong();
        Cached cached = byName.get(name);
        if (cached != null && cached.uuid().equals(uuid) && now - cached.refreshAtNanos() < 0) {
            return cached.sha256();
        }
        String sha = Sha256.hex(source.inactiveXml());
        long spread = refreshNanos / 5;
        long refreshAt = now + refreshNanos + ThreadLocalRandom.current().nextLong(-spread, spread + 1);
        byName.put(name, new Cached(uuid, sha, refreshAt));
        return sha;
    }

    /** Forgets what is known of {@code name}: virtfleet just changed it. */
    void forget(String name) {
        byName.remove(name);
    }

    /** Forgets every domain not in {@code names}: they are gone. */
    void keepOnly(Set<String> names) {
        byName.keySet().retainAll(names);
    }
}
