package io.virtfleet.agent.hypervisor;

import io.virtfleet.common.fingerprint.Sha256;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.virtfleet.proto.v1.DomainInterface;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/** Definitions are fetched for reports every ~10 s per domain, not every heartbeat, and at once after a change. */
class DefinitionFingerprintsTest {
    private final AtomicLong now = new AtomicLong();
    private final AtomicInteger fetches = new AtomicInteger();
    private final DefinitionFingerprints fingerprints = new DefinitionFingerprints(now::get, DefinitionFingerprints.REFRESH);

    private String of(String name, String uuid, String xml) throws Exception {
        return fingerprints.of(name, uuid, () -> {
            fetches.incrementAndGet();
            return xml;
        }).sha256();
    }

    private void advance(Duration d) {
        now.addAndGet(d.toNanos());
    }

    @Test
    void aDomainIsFetchedOnceWhileItsFingerprintIsFresh() throws Exception {
        assertEquals(Sha256.hex("<domain/>"), of("db", "u1", "<domain/>"));
        for (int i = 0; i < 7; i++) { // a heartbeat a second
            advance(Duration.ofSeconds(1));
            assertEquals(Sha256.hex("<domain/>"), of("db", "u1", "<domain>edited</domain>"));
        }
        assertEquals(1, fetches.get());
        advance(Duration.ofSeconds(6)); // 13 s: past 10 s and its jitter of a fifth
        assertEquals(Sha256.hex("<domain>edited</domain>"), of("db", "u1", "<domain>edited</domain>"));
        assertEquals(2, fetches.get());
    }

    @Test
    void aChangedOrReplacedOrReturningDomainIsFetchedAtOnce() throws Exception {
        of("db", "u1", "<a/>");
        fingerprints.forget("db"); // virtfleet just defined it again
        assertEquals(Sha256.hex("<b/>"), of("db", "u1", "<b/>"));
        assertEquals(Sha256.hex("<c/>"), of("db", "u2", "<c/>")); // another domain under the same name
        fingerprints.keepOnly(Set.of()); // gone from libvirt
        assertEquals(Sha256.hex("<d/>"), of("db", "u2", "<d/>"));
        assertEquals(4, fetches.get());
    }

    @Test
    void theInterfacesOfADefinitionAreReadWithTheirMacAndBridge() throws Exception {
        String xml = """
                <domain type="kvm"><name>web</name><devices>
                  <disk type="file"/>
                  <interface type="bridge"><mac address="52:54:00:AB:cd:01"/><source bridge="vxbr10"/></interface>
                  <interface type="network"><mac address="52:54:00:ab:cd:02"/><source network="default"/></interface>
                </devices></domain>""";
        var described = fingerprints.of("web", "u1", () -> xml);
        assertEquals(Sha256.hex(xml), described.sha256());
        assertEquals(List.of(
                DomainInterface.newBuilder().setMac("52:54:00:ab:cd:01").setBridge("vxbr10").build(),
                DomainInterface.newBuilder().setMac("52:54:00:ab:cd:02").setBridge("").build()), described.interfaces());
        assertEquals(List.of(), DefinitionFingerprints.interfaces("<domain><devices/></domain>"));
    }
}
