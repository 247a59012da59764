package io.virtfleet.agent.network;

import io.virtfleet.common.validation.InterfaceNames;
import io.virtfleet.common.validation.Ipv4;
import java.util.regex.Pattern;

/**
 * How this host's VM networks are set up: the underlay its VXLAN LANs run over, and the bridge failover-IP
 * VMs attach to.
 *
 * @param vxlanDevice       interface LAN traffic runs over (e.g. eth1); null when the host takes no LAN VMs
 * @param vxlanLocalAddress address LAN traffic is sent from and received on; null for the first IPv4
 *                          address of {@code vxlanDevice}
 * @param vxlanPort         UDP port of VXLAN traffic, the same on every host
 * @param publicBridge      bridge that carries the host's uplink (checked, never created)
 * @param namespace         network namespace ({@code ip netns}) to act in; empty for the host's own, as in
 *                          production (tests run each simulated host in a namespace of its own)
 */
public record NetworkSettings(String vxlanDevice, Ipv4 vxlanLocalAddress, int vxlanPort, String publicBridge,
                              String namespace) {
    /** IANA's port for VXLAN (Linux's own default, 8472, predates it). */
    public static final int IANA_VXLAN_PORT = 4789;
    /** The agent options behind these settings, named in refusals so an operator knows what to change. */
    static final String DEVICE_OPTION = "vxlan-device";
    static final String LOCAL_ADDRESS_OPTION = "vxlan-local-address";
    static final String PORT_OPTION = "vxlan-port";
    static final String BRIDGE_OPTION = "public-bridge";

    private static final Pattern NAMESPACE = Pattern.compile("([A-Za-z0-9_][A-Za-z0-9_.-]{0,63})?");

    public NetworkSettings {
        if (vxlanDevice != null) {
            InterfaceNames.check(DEVICE_OPTION, vxlanDevice);
        }
        if (vxlanPort < 1 || vxlanPort > 65535) {
            throw new IllegalArgumentException(PORT_OPTION + ": " + vxlanPort + " is not a UDP port (1-65535)");
        }
        InterfaceNames.check(BRIDGE_OPTION, publicBridge);
        if (namespace == null || !NAMESPACE.matcher(namespace).matches()) {
            throw new IllegalArgumentException("network namespace " + namespace + " is not a plain name (or empty)");
        }
    }

    /** The host's own network namespace, as an agent runs in production. */
    public static NetworkSettings ofHost(String vxlanDevice, Ipv4 vxlanLocalAddress, int vxlanPort, String publicBridge) {
        return new NetworkSettings(vxlanDevice, vxlanLocalAddress, vxlanPort, publicBridge, "");
    }

    /** The same settings applied inside network namespace {@code name} (for tests). */
    public NetworkSettings inNamespace(String name) {
        return new NetworkSettings(vxlanDevice, vxlanLocalAddress, vxlanPort, publicBridge, name);
    }
}
