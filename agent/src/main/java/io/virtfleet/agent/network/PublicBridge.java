package io.virtfleet.agent.network;

/**
 * The bridge that carries the host's uplink, which failover-IP VMs attach to (OVH routes the failover IP to
 * the server, and the VM answers with its virtual MAC). It is part of the host's own network setup: checked
 * here, never created or changed, since a mistake on it cuts the host off.
 */
final class PublicBridge {
    private final IpRoute ip;
    private final String name;

    PublicBridge(IpRoute ip, String name) {
        this.ip = ip;
        this.name = name;
    }

    /**
     * Checks the bridge exists, is a bridge, and is set up; refuses naming it and the option otherwise. Its
     * carrier is not judged: it follows the uplink's cable and comes and goes without anyone's action.
     */
    Outcome check() {
        Link bridge = ip.links().get(name);
        String option = " (" + NetworkSettings.BRIDGE_OPTION + " in the agent's configuration)";
        if (bridge == null) {
            throw refused("public bridge " + name + option + " does not exist on this host; failover-IP VMs attach"
                    + " to it. virtfleet never creates it, as it carries the host's uplink: set it up in the host's"
                    + " network configuration, or set " + NetworkSettings.BRIDGE_OPTION + " to the bridge that does");
        }
        if (!bridge.isBridge()) {
            throw refused("public bridge " + name + option + " is " + bridge.describeKind() + ", not a bridge: set "
                    + NetworkSettings.BRIDGE_OPTION + " to the bridge that carries the host's uplink");
        }
        if (!bridge.adminUp()) {
            throw refused("public bridge " + name + option + " is down: bring it up (ip link set " + name + " up)");
        }
        return new Outcome(false, "public bridge " + name + " exists and is up");
    }

    private static NetworkException refused(String message) {
        return new NetworkException(NetworkException.Kind.PRECONDITION, message);
    }
}
