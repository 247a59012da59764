package io.virtfleet.controller.definitions;

import io.virtfleet.proto.v1.VmSpec;

/** Turns a VM's spec into the libvirt domain XML its hosts define, for its home host. */
@FunctionalInterface
public interface DomainRenderer {
    /** @param networkBoot see {@link DomainXml#render(VmSpec, boolean)} */
    Rendered render(VmSpec spec, String homeHost, boolean networkBoot);

    /**
     * A definition and, in an operator's words, where its disk and NIC are.
     *
     * @param disk    e.g. {@code rbd:libvirt-sata/git} or {@code /var/lib/libvirt/images/db.img}
     * @param network e.g. {@code vxbr10 52:54:00:7a:86:dd}
     */
    record Rendered(String xml, String disk, String network) {}
}
