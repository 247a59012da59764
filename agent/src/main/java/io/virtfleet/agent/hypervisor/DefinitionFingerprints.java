package io.virtfleet.agent.hypervisor;

import io.virtfleet.common.fingerprint.Sha256;
import io.virtfleet.common.validation.InvalidInputException;
import io.virtfleet.common.xml.Xml;
import io.virtfleet.proto.v1.DomainInterface;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ThreadLocalRandom;
import java.util.function.LongSupplier;
import org.libvirt.LibvirtException;
import org.w3c.dom.Element;
import org.w3c.dom.Node;

/**
 * The SHA-256 of each domain's inactive XML and the network interfaces it gives, for reports, fetched again only
 * every {@link #REFRESH} or so: asking
 * libvirt for 50 definitions every heartbeat would cost more than the agent's whole CPU budget (1 % of a core),
 * and a hand edit showing up ten seconds late is fine. A domain virtfleet changes is forgotten at once, so its
 * next report is exact. Keyed by name and UUID: a domain undefined and made again under the same name is fetched
 * afresh. Not thread-safe: used under the hypervisor's lock.
 */
final class DefinitionFingerprints {
    /** How long a fingerprint is trusted, give or take a fifth, so that 50 domains are not all fetched together. */
    static final Duration REFRESH = Duration.ofSeconds(10);
    /** Far more than any domain definition libvirt gives (a few KiB). */
    private static final int MAX_DEFINITION_CHARS = 4 * 1024 * 1024;

    /** Fetches one domain's inactive XML from libvirt. */
    @FunctionalInterface
    interface XmlSource {
        String inactiveXml() throws LibvirtException;
    }

    /** What a report says of a domain's definition. */
    record Described(String sha256, List<DomainInterface> interfaces) {}

    private record Cached(String uuid, Described described, long refreshAtNanos) {}

    private final Map<String, Cached> byName = new HashMap<>();
    private final LongSupplier nanoTime;
    private final long refreshNanos;

    /** @param refresh how long a fingerprint is trusted (give or take a fifth) */
    DefinitionFingerprints(LongSupplier nanoTime, Duration refresh) {
        this.nanoTime = nanoTime;
        this.refreshNanos = refresh.toNanos();
    }

    /**
     * The fingerprint and interfaces of domain {@code name} ({@code uuid}), from memory while fresh, else from
     * {@code source}.
     */
    Described of(String name, String uuid, XmlSource source) throws LibvirtException {
        long now = nanoTime.getAsLong();
        Cached cached = byName.get(name);
        if (cached != null && cached.uuid().equals(uuid) && now - cached.refreshAtNanos() < 0) {
            return cached.described();
        }
        String xml = source.inactiveXml();
        Described described = new Described(Sha256.hex(xml), interfaces(xml));
        long spread = refreshNanos / 5;
        long refreshAt = now + refreshNanos + ThreadLocalRandom.current().nextLong(-spread, spread + 1);
        byName.put(name, new Cached(uuid, described, refreshAt));
        return described;
    }

    /** The interfaces of a libvirt domain definition: each one's MAC and, for a bridged one, its bridge. */
    static List<DomainInterface> interfaces(String domainXml) {
        Element root;
        try {
            root = Xml.parse("domain definition", domainXml, MAX_DEFINITION_CHARS).getDocumentElement();
        } catch (InvalidInputException e) {
            return List.of(); // libvirt's own XML; the fingerprint still tells a change
        }
        List<DomainInterface> out = new ArrayList<>();
        for (Element devices : children(root, "devices")) {
            for (Element nic : children(devices, "interface")) {
                String mac = children(nic, "mac").stream().map(m -> m.getAttribute("address")).findFirst().orElse("");
                String bridge = children(nic, "source").stream().map(s -> s.getAttribute("bridge")).findFirst().orElse("");
                out.add(DomainInterface.newBuilder().setMac(mac.toLowerCase(Locale.ROOT)).setBridge(bridge).build());
            }
        }
        return List.copyOf(out);
    }

    private static List<Element> children(Element parent, String tag) {
        List<Element> out = new ArrayList<>();
        for (Node n = parent.getFirstChild(); n != null; n = n.getNextSibling()) {
            if (n instanceof Element e && e.getTagName().equals(tag)) {
                out.add(e);
            }
        }
        return out;
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
