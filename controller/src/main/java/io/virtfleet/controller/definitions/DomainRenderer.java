package io.virtfleet.controller.definitions;

import io.virtfleet.proto.v1.VmSpec;

/** Turns a VM's spec into the libvirt domain XML its hosts define, for its home host. */
@FunctionalInterface
public interface DomainRenderer {
    /**
     * @param boot see {@link DomainXml#render(VmSpec, Boot)}; a kernel boot without files gets those the home host
     *             reports, and is refused when it reports none
     */
    Rendered render(VmSpec spec, String homeHost, Boot boot);

    /**
     * A definition and, in an operator's words, where its disk and NIC are.
     *
     * @param disk    e.g. {@code rbd:libvirt-sata/git} or {@code /var/lib/libvirt/images/db.img}
     * @param network e.g. {@code vxbr10 52:54:00:7a:86:dd}
     */
    record Rendered(String xml, String disk, String network) {}
}
