package io.virtfleet.controller.reconcile;

import io.virtfleet.proto.v1.EnsureNetworkRequest;
import java.util.List;

/** Fills the underlay addresses of a LAN's other hosts into a network request. */
final class PeerAddresses {
    private PeerAddresses() {}

    static void set(EnsureNetworkRequest.Builder b, List<String> peers) {
        // The request carries no peers yet: the agent's VXLAN feature defines them.
    }
}
