package io.virtfleet.controller.install;

import io.virtfleet.common.validation.Ipv4;
import java.util.ArrayList;
import java.util.List;

/**
 * The network of a VM reached through an OVH failover IP, as OVH requires it inside the guest: the address
 * alone as a /32, and as gateway the main public IPv4 address of the physical server the IP is routed to (its
 * agent's public-address), with its last octet replaced by 254.
 *
 * <p>Such a gateway lies outside the guest's /32, so no route reaches it by itself: the guest first needs a
 * route saying the gateway is on the link, then the default route through it ({@code post-up} lines of
 * {@link #interfacesFile}, as {@code replace} so that running them twice does no harm).
 *
 * <p>The Debian installer's netcfg cannot be given this network whole: given a static /32 address and a gateway
 * outside it, it finds the gateway unreachable, asks for the gateway again, gets the preseeded one again, and
 * loops forever (netcfg/gateway_unreachable is a note, skipped at priority critical). So the installer gets the /32
 * and no gateway on its kernel command line, and virtfleet's hook ({@code InstallerHook}) adds the two routes (see
 * {@code Installs}): appended to the host's installer initrd with direct kernel boot, loaded as a second initrd by
 * pxelinux with PXE boot. The installer asks no DHCP. Either way the late command then writes the installed system's whole network configuration, this
 * one, in place of what netcfg wrote.
 *
 * @param address the failover IP
 * @param gateway the host's public address with .254
 */
public record FailoverGuest(Ipv4 address, Ipv4 gateway) {
    public static final String NETMASK = "255.255.255.255";

    /** The field a bad host address is reported under: the agent setting it comes from. */
    static final String HOST_FIELD = "home host's public-address";

    /**
     * The guest network of {@code failoverAddress} routed to the server whose public IPv4 address (its agent's
     * public-address, at OVH the server's main address) is {@code hostPublic}. A private address, such as the
     * host's vRack one, is refused: its .254 is no gateway to the Internet.
     */
    public static FailoverGuest of(String failoverAddress, String hostPublic) {
        Ipv4 address = Ipv4.failoverAddress("spec.network.failover.address", failoverAddress);
        Ipv4 host = Ipv4.publicAddress(HOST_FIELD, hostPublic);
        String text = host.toString(); // never .254 or .255: publicAddress refuses those
        String network = text.substring(0, text.lastIndexOf('.'));
        return new FailoverGuest(address, Ipv4.parse("gateway", network + ".254"));
    }

    /**
     * The installed system's whole /etc/network/interfaces: loopback, then the VM's one interface, named
     * {@code iface}, with the failover IP as a /32 and the routes to and through the gateway. ifupdown runs each
     * {@code post-up} line with {@code $IFACE} set to the interface's name.
     *
     * @param nameservers for {@code dns-nameservers} (read by resolvconf when installed; /etc/resolv.conf is
     *                    written as well)
     */
    public List<String> interfacesFile(String iface, List<String> nameservers) {
        List<String> lines = new ArrayList<>(List.of(
                "# Written at install by virtfleet: OVH failover IP " + address + " as a /32, gateway " + gateway
                        + " (the public address of the host with .254), reached on the link.",
                "auto lo",
                "iface lo inet loopback",
                "",
                "allow-hotplug " + iface,
                "iface " + iface + " inet static",
                "    address " + address + "/32",
                "    post-up ip route replace " + gateway + " dev $IFACE scope link",
                "    post-up ip route replace default via " + gateway + " dev $IFACE"));
        if (!nameservers.isEmpty()) {
            lines.add("    dns-nameservers " + String.join(" ", nameservers));
        }
        return lines;
    }

    /** The installed system's /etc/resolv.conf: one {@code nameserver} line for each. */
    public static List<String> resolvConf(List<String> nameservers) {
        return nameservers.stream().map(n -> "nameserver " + n).toList();
    }
}
