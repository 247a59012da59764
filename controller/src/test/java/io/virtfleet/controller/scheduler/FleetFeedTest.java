package io.virtfleet.controller.scheduler;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.virtfleet.proto.v1.HostReport;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/** What the controller takes from a host's report for placement and for a failover-IP VM's gateway. */
class FleetFeedTest {
    private static Optional<String> publicAddress(String reported) {
        return FleetFeed.publicAddress(HostReport.newBuilder().setHostName("hv1").setPublicAddress(reported).build())
                .map(Object::toString);
    }

    @Test
    void aReportedPublicAddressIsTrustedOnlyIfPublic() {
        assertEquals(Optional.of("51.38.12.4"), publicAddress("51.38.12.4"));
        assertEquals(Optional.empty(), publicAddress(""), "not set");
        // A private (vRack), loopback, link-local or multicast address, or no address at all, gives no gateway.
        for (String bad : new String[] {"10.0.0.5", "192.168.1.2", "127.0.0.1", "169.254.0.1", "224.0.0.1", "hv1.example",
            "51.38.12.4; reboot"}) {
            assertEquals(Optional.empty(), publicAddress(bad), bad);
        }
    }
}
