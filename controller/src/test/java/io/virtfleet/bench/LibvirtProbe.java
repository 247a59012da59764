package io.virtfleet.bench;

import org.libvirt.Connect;
import org.libvirt.LibvirtException;

/**
 * Opens a libvirt connection and lists its domains once, then keeps it: the libvirt library and its
 * dependencies, JNA, libvirt-java and, for the {@code test:///} driver, the simulated hypervisor, which that
 * driver keeps inside the calling process. A class of its own so that {@link IdleMain} loads none of it
 * unless asked.
 */
final class LibvirtProbe {
    private static Connect connection;

    private LibvirtProbe() {}

    static void open(String uri) throws LibvirtException {
        connection = new Connect(uri, true);
        System.out.println(connection.listDomains().length + connection.listDefinedDomains().length + " domains");
    }
}
