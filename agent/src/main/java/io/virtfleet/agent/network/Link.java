package io.virtfleet.agent.network;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;

/**
 * One network interface as {@code ip -j -d link show} describes it: what virtfleet compares against what
 * a LAN or a failover IP needs.
 *
 * @param index     kernel interface index; a link deleted and created again gets a new one
 * @param name      interface name
 * @param kind      driver kind ("vxlan", "bridge", "veth"...); empty for a plain device such as a NIC
 * @param adminUp   whether it was set up ({@code ip link set X up}); the operational state (carrier) is
 *                  left out, as it follows the ports and the cable, not anything virtfleet sets
 * @param master    bridge it is a port of; empty when none
 * @param vxlan     VXLAN parameters when {@code kind} is "vxlan", otherwise null
 */
record Link(int index, String name, String kind, boolean adminUp, String master, VxlanInfo vxlan) {
    /**
     * A VXLAN interface's parameters.
     *
     * @param vni    VXLAN network identifier
     * @param port   UDP destination port
     * @param device underlay interface; empty when not bound to one
     * @param local  source address; empty when not set
     * @param group  multicast group or single remote it floods to; empty for none (unicast peers via the FDB)
     */
    record VxlanInfo(long vni, int port, String device, String local, String group) {
        /** As an operator would compare them: "VNI 10, dev eth1, local 10.0.0.1, port 4789". */
        String describe() {
            return "VNI " + vni + ", dev " + orNone(device) + ", local " + orNone(local) + ", port " + port
                    + (group.isEmpty() ? "" : ", flooding to " + group);
        }

        private static String orNone(String s) {
            return s.isEmpty() ? "(none)" : s;
        }
    }

    boolean isBridge() {
        return kind.equals("bridge");
    }

    boolean isVxlan() {
        return vxlan != null;
    }

    /** The kind for messages: "a vxlan interface", "a plain interface". */
    String describeKind() {
        return kind.isEmpty() ? "a plain interface" : "a " + kind + " interface";
    }

    /** Reads one element of {@code ip -j -d link show}'s array. */
    static Link fromJson(JsonObject o) {
        JsonObject info = o.has("linkinfo") ? o.getAsJsonObject("linkinfo") : new JsonObject();
        String kind = text(info, "info_kind");
        VxlanInfo vxlan = null;
        if (kind.equals("vxlan")) {
            JsonObject data = info.has("info_data") ? info.getAsJsonObject("info_data") : new JsonObject();
            String group = text(data, "group");
            vxlan = new VxlanInfo(number(data, "id"), (int) number(data, "port"), text(data, "link"), text(data, "local"),
                    group.isEmpty() ? text(data, "remote") : group);
        }
        boolean up = false;
        if (o.has("flags")) {
            for (JsonElement flag : o.getAsJsonArray("flags")) {
                up |= flag.getAsString().equals("UP");
            }
        }
        return new Link((int) number(o, "ifindex"), text(o, "ifname"), kind, up, text(o, "master"), vxlan);
    }

    static java.util.List<Link> listFromJson(JsonArray array) {
        java.util.List<Link> links = new java.util.ArrayList<>();
        for (JsonElement e : array) {
            links.add(fromJson(e.getAsJsonObject()));
        }
        return links;
    }

    private static String text(JsonObject o, String key) {
        JsonElement e = o.get(key);
        return e == null || e.isJsonNull() ? "" : e.getAsString();
    }

    private static long number(JsonObject o, String key) {
        JsonElement e = o.get(key);
        return e == null || e.isJsonNull() ? -1 : e.getAsLong();
    }
}
