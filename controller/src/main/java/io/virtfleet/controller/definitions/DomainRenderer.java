package io.virtfleet.controller.definitions;

import io.virtfleet.proto.v1.VmSpec;

/** Turns a VM's spec into the libvirt domain XML its hosts define, for its home host. */
@FunctionalInterface
public interface DomainRenderer {
    String render(VmSpec spec, String homeHost);
}
