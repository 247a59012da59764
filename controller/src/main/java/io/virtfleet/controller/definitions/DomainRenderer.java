package io.virtfleet.controller.definitions;

import io.virtfleet.proto.v1.VmSpec;

/** Turns a VM's spec into the libvirt domain XML every host defines for it. */
@FunctionalInterface
public interface DomainRenderer {
    String render(VmSpec spec);
}
