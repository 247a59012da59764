package io.virtfleet.agent.network;

import io.virtfleet.common.validation.Ipv4;
import java.util.Map;
import java.util.Optional;

/** The network between hypervisors that LAN traffic is tunnelled over: the configured device and address. */
final class Underlay {
    /** Where this host's VXLAN traffic leaves from: the device and its source address. */
    record Binding(String device, Ipv4 local) {}

    private final NetworkSettings settings;
    private final IpRoute ip;

    Underlay(NetworkSettings settings, IpRoute ip) {
        this.settings = settings;
        this.ip = ip;
    }

    /** Whether this host is configured for LANs at all. */
    boolean configured() {
        return settings.vxlanDevice() != null;
    }

    /** The binding as the host's interfaces are now; refuses, naming the option to set, when there is none. */
    Binding resolve(Map<String, Link> links) {
        String device = settings.vxlanDevice();
        if (device == null) {
            throw refused("this host has no " + NetworkSettings.DEVICE_OPTION + ": set " + NetworkSettings.DEVICE_OPTION
                    + " in the agent's configuration to the interface that connects the hypervisors (e.g. eth1),"
                    + " then restart the agent");
        }
        if (!links.containsKey(device)) {
            throw refused(NetworkSettings.DEVICE_OPTION + " " + device + " does not exist on this host: set "
                    + NetworkSettings.DEVICE_OPTION + " to the interface that connects the hypervisors");
        }
        if (settings.vxlanLocalAddress() != null) {
            return new Binding(device, settings.vxlanLocalAddress());
        }
        return new Binding(device, ip.firstIpv4(device).orElseThrow(() -> refused(NetworkSettings.DEVICE_OPTION + " "
                + device + " has no IPv4 address: give it one, or set " + NetworkSettings.LOCAL_ADDRESS_OPTION)));
    }

    /** The address other hosts reach this one's LANs at, if it can be told now; never throws. */
    Optional<Ipv4> address() {
        if (!configured()) {
            // A vxlan-local-address without a vxlan-device carries no LAN: reporting it would draw LAN VMs here.
            return Optional.empty();
        }
        if (settings.vxlanLocalAddress() != null) {
            return Optional.of(settings.vxlanLocalAddress());
        }
        try {
            return ip.firstIpv4(settings.vxlanDevice());
        } catch (NetworkException e) {
            return Optional.empty(); // no such device (yet): the host reports no address rather than a wrong one
        }
    }

    private static NetworkException refused(String message) {
        return new NetworkException(NetworkException.Kind.PRECONDITION, message);
    }
}
