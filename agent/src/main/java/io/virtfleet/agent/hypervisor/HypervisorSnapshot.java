package io.virtfleet.agent.hypervisor;

import io.virtfleet.proto.v1.DomainInfo;
import io.virtfleet.proto.v1.HypervisorInfo;
import java.util.List;

/** What libvirt said at one moment: about itself, and every domain it holds. */
public record HypervisorSnapshot(HypervisorInfo info, List<DomainInfo> domains) {
    public boolean healthy() {
        return info.getError().isEmpty();
    }
}
