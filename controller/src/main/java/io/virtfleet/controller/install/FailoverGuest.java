package io.virtfleet.controller.install;

import io.virtfleet.common.validation.InvalidInputException;
import io.virtfleet.common.validation.Ipv4;
import java.util.List;

/**
 * The network of a VM reached through an OVH failover IP, as OVH requires it inside the guest: the address
 * alone as a /32, and as gateway the main IPv4 address of the physical server the IP is routed to, with its
 * last octet replaced by 254.
 *
 * <p>Such a gateway lies outside the guest's /32, so no route reaches it by itself: the guest first needs a
 * route saying the gateway is on the link, then the default route through it. The installer's netcfg judges
 * such a gateway unreachable and will not write it into the installed system, so the routes are added by
 * {@code post-up} lines of our own ({@link #interfacesLines}), as {@code replace} so that they also agree
 * with a {@code gateway} line ifupdown may have acted on already.
 *
 * @param address the failover IP
 * @param gateway the host's main address with .254
 */
public record FailoverGuest(Ipv4 address, Ipv4 gateway) {
    public static final String NETMASK = "255.255.255.255";

    /** The guest network of {@code failoverAddress} routed to the server whose main address is {@code hostMain}. */
    public static FailoverGuest of(String failoverAddress, String hostMain) {
        Ipv4 address = Ipv4.failoverAddress("spec.network.failover.address", failoverAddress);
        Ipv4 host = Ipv4.failoverAddress("host main address", hostMain);
        String text = host.toString();
        String network = text.substring(0, text.lastIndexOf('.'));
        if (text.endsWith(".254") || text.endsWith(".255")) {
            throw new InvalidInputException("host main address", hostMain, "a server's own address: OVH keeps .254"
                    + " of its block for the gateway");
        }
        return new FailoverGuest(address, Ipv4.parse("gateway", network + ".254"));
    }

    /**
     * The lines that give an installed Debian its routes, added to the interface's stanza in
     * /etc/network/interfaces. ifupdown runs each with {@code $IFACE} set to the interface's name, so they do
     * not depend on what the installer named it.
     */
    public List<String> interfacesLines() {
        return List.of(
                "    post-up ip route replace " + gateway + " dev $IFACE scope link",
                "    post-up ip route replace default via " + gateway + " dev $IFACE");
    }
}
