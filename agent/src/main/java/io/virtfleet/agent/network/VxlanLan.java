package io.virtfleet.agent.network;

import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Pattern;

/**
 * Brings one LAN to what its VMs need on this host: VXLAN interface {@code vxlan<N>} (VNI N) as a port of
 * bridge {@code vxbr<N>}, both up, flooding broadcasts and unknown destinations to exactly the given peers.
 *
 * <p>OVH routes no multicast between servers, so flooding is head-end replication: one all-zero FDB entry
 * per peer, and the host sends a copy of each broadcast to each. Learning stays on (the kernel's default):
 * once a VM's MAC has been seen arriving from a peer, unicast to it goes to that peer alone instead of to
 * all; learned entries age out after 5 minutes and are replaced as soon as a moved VM speaks from its new
 * host, so a migration costs at most a few flooded frames.
 *
 * <p>The hypervisor takes no part in a LAN: the bridge and the VXLAN interface get no address at all (not
 * even an IPv6 link-local one), so VMs cannot reach the host's own services through their LAN.
 */
final class VxlanLan {
    private static final Pattern DOTTED_QUAD = Pattern.compile("[0-9]{1,3}(\\.[0-9]{1,3}){3}");

    private final IpRoute ip;
    private final Underlay underlay;
    private final int port;

    VxlanLan(IpRoute ip, Underlay underlay, int port) {
        this.ip = ip;
        this.underlay = underlay;
        this.port = port;
    }

    /** The VXLAN interface of LAN {@code lan}; at most 14 characters for the largest VNI, within Linux's 15. */
    static String vxlanName(int lan) {
        return "vxlan" + lan;
    }

    /** The bridge VMs of LAN {@code lan} attach to (the domain XML names it). */
    static String bridgeName(int lan) {
        return "vxbr" + lan;
    }

    /**
     * Ensures LAN {@code lan} floods to {@code peers} (underlay addresses of the other hosts; this host's own
     * is skipped), changing only what differs.
     */
    Outcome ensure(int lan, Collection<String> peers) {
        Map<String, Link> links = ip.links();
        Underlay.Binding binding = underlay.resolve(links);
        Link vx = links.get(vxlanName(lan));
        Link br = links.get(bridgeName(lan));
        refuseConflicts(lan, links, vx, br, binding);
        Set<String> wanted = sorted(peers);
        wanted.remove(binding.local().toString());
        String wantedVxlan = new Link.VxlanInfo(lan, port, binding.device(), binding.local().toString(), "").describe();

        Changes changes = new Changes();
        try {
            List<String> done = new ArrayList<>(interfaces(lan, binding, vx, br, wantedVxlan, changes));
            List<String> peerChanges = floodList(vxlanName(lan), vx == null, wanted, changes);
            if (!peerChanges.isEmpty()) {
                done.add("peers " + String.join(" ", peerChanges));
            }
            if (done.isEmpty()) {
                return new Outcome(false, vxlanName(lan) + " (" + wantedVxlan + ") in bridge " + bridgeName(lan)
                        + ", both up; " + (wanted.isEmpty() ? "no peers" : "peers " + String.join(" ", wanted)));
            }
            return new Outcome(true, String.join("; ", done));
        } catch (NetworkException e) {
            throw e.withContext("", changes.revert());
        }
    }

    /** Creates, attaches and sets up what is missing of the two interfaces; returns what was done. */
    private List<String> interfaces(int lan, Underlay.Binding binding, Link vx, Link br, String wantedVxlan, Changes changes) {
        String vxName = vxlanName(lan);
        String brName = bridgeName(lan);
        List<String> done = new ArrayList<>();
        if (br == null) {
            ip.ip("link", "add", brName, "type", "bridge");
            changes.made("created " + brName, () -> ip.ip("link", "del", brName));
            ip.ip("link", "set", brName, "addrgenmode", "none");
        }
        if (vx == null) {
            ip.ip("link", "add", vxName, "type", "vxlan", "id", Integer.toString(lan), "dstport", Integer.toString(port),
                    "dev", binding.device(), "local", binding.local().toString());
            changes.made("created " + vxName, () -> ip.ip("link", "del", vxName));
            ip.ip("link", "set", vxName, "addrgenmode", "none");
            ip.ip("link", "set", vxName, "master", brName);
            done.add("created " + vxName + " (" + wantedVxlan + ")" + (br == null ? " and bridge " + brName : " in " + brName));
        } else {
            if (br == null) {
                done.add("created bridge " + brName);
            }
            if (vx.master().isEmpty()) {
                ip.ip("link", "set", vxName, "master", brName);
                changes.made("attached " + vxName + " to " + brName, () -> ip.ip("link", "set", vxName, "nomaster"));
                done.add("attached " + vxName + " to " + brName);
            }
        }
        setUp(vxName, vx, changes, done);
        setUp(brName, br, changes, done);
        return done;
    }

    /**
     * Makes the all-zero FDB entries of {@code vxName} exactly {@code wanted}; other entries (learned or added by
     * hand for one MAC) are left alone. Returns the changes as "+a.b.c.d" and "-a.b.c.d".
     */
    private List<String> floodList(String vxName, boolean justCreated, Set<String> wanted, Changes changes) {
        Set<String> present = justCreated ? Set.of() : ip.floodDestinations(vxName);
        List<String> peerChanges = new ArrayList<>();
        for (String peer : wanted) {
            if (!present.contains(peer)) {
                ip.bridge("fdb", "append", IpRoute.ALL_ZERO_MAC, "dev", vxName, "dst", peer);
                changes.made("peer +" + peer, () -> ip.bridge("fdb", "del", IpRoute.ALL_ZERO_MAC, "dev", vxName, "dst", peer));
                peerChanges.add("+" + peer);
            }
        }
        for (String peer : sorted(present)) {
            if (!wanted.contains(peer)) {
                ip.bridge("fdb", "del", IpRoute.ALL_ZERO_MAC, "dev", vxName, "dst", peer);
                changes.made("peer -" + peer, () -> ip.bridge("fdb", "append", IpRoute.ALL_ZERO_MAC, "dev", vxName, "dst", peer));
                peerChanges.add("-" + peer);
            }
        }
        return peerChanges;
    }

    /** Sets an interface up unless it already was; one just created ({@code found} null) is always set up. */
    private void setUp(String name, Link found, Changes changes, List<String> done) {
        if (found != null && found.adminUp()) {
            return;
        }
        ip.ip("link", "set", name, "up");
        if (found != null) {
            changes.made("set " + name + " up", () -> ip.ip("link", "set", name, "down"));
            done.add("set " + name + " up");
        }
    }

    /**
     * Refuses, before anything is changed, interfaces that exist but are not what this LAN needs: they may be
     * carrying running VMs, so they are reported, never rebuilt.
     */
    private void refuseConflicts(int lan, Map<String, Link> links, Link vx, Link br, Underlay.Binding binding) {
        String vxName = vxlanName(lan);
        String brName = bridgeName(lan);
        String keep = "; virtfleet does not rebuild it, as VMs may be using it: once none does, delete it (ip link del ";
        if (br != null && !br.isBridge()) {
            throw conflict(brName + " exists but is " + br.describeKind() + ", not a bridge" + keep + brName + ")");
        }
        if (vx != null) {
            if (!vx.isVxlan()) {
                throw conflict(vxName + " exists but is " + vx.describeKind() + ", not a VXLAN interface" + keep + vxName + ")");
            }
            Link.VxlanInfo wanted = new Link.VxlanInfo(lan, port, binding.device(), binding.local().toString(), "");
            if (!vx.vxlan().equals(wanted)) {
                throw conflict(vxName + " exists with " + vx.vxlan().describe() + " but LAN " + lan + " needs "
                        + wanted.describe() + keep + vxName + "), or correct vxlan-device, vxlan-local-address or"
                        + " vxlan-port in the agent's configuration");
            }
            if (!vx.master().isEmpty() && !vx.master().equals(brName)) {
                throw conflict(vxName + " is a port of bridge " + vx.master() + ", not of " + brName
                        + ": VMs of LAN " + lan + " attach to " + brName + "; move it by hand (ip link set " + vxName
                        + " master " + brName + ") once no VM uses " + vx.master());
            }
        }
        for (Link other : links.values()) {
            if (other.isVxlan() && !other.name().equals(vxName) && other.vxlan().vni() == lan && other.vxlan().port() == port) {
                throw conflict("VNI " + lan + " on port " + port + " is already used by interface " + other.name()
                        + " (" + other.vxlan().describe() + "), so the kernel cannot add " + vxName + "; delete "
                        + other.name() + " (ip link del " + other.name() + ") once no VM uses it");
            }
        }
    }

    private static NetworkException conflict(String message) {
        return new NetworkException(NetworkException.Kind.PRECONDITION, message);
    }

    /**
     * Addresses in numeric order, so details and logs read the same on every host. Anything else found in the
     * FDB (an IPv6 destination added by hand) sorts after them.
     */
    private static Set<String> sorted(Collection<String> addresses) {
        Set<String> out = new TreeSet<>(Comparator.comparingLong(VxlanLan::numeric).thenComparing(Comparator.naturalOrder()));
        out.addAll(addresses);
        return out;
    }

    private static long numeric(String address) {
        if (!DOTTED_QUAD.matcher(address).matches()) {
            return Long.MAX_VALUE;
        }
        long value = 0;
        for (String part : address.split("\\.")) {
            value = value * 256 + Long.parseLong(part);
        }
        return value;
    }
}
