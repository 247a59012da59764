package io.virtfleet.controller.testkit;

import io.virtfleet.common.process.Command;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The private network between simulated hypervisors (OVH's vRack): a switch, i.e. a bridge in a network
 * namespace of its own, with one cable per host namespace and one to the test's own (root) namespace. Daemons
 * the test runs in the root namespace (a Ceph cluster, bound to {@link #rootAddress()}) are then reachable
 * both from the test's JVM and from every host, as they would be from the hypervisors of a real fleet.
 *
 * <p>Addresses are {@code <prefix>.1} for the root namespace and whatever {@link #plug} is given for hosts,
 * all in {@code <prefix>.0/24}. Everything lives in namespaces of the given {@link NetworkNamespaces}: closing
 * it deletes the switch, and with it the root namespace's end of its cable (a veth pair dies with either end).
 */
public final class Underlay {
    private static final Duration TIMEOUT = Duration.ofSeconds(20);
    private static final String BRIDGE = "sw0";

    private final NetworkNamespaces namespaces;
    private final String prefix;
    private final String switchNamespace;
    private final String rootDevice;
    private int ports;
    /** The switch port each host namespace is cabled to. */
    private final Map<String, String> portOf = new HashMap<>();

    /**
     * Makes the switch and plugs the root namespace into it as {@code <prefix>.1/24}.
     *
     * @param prefix the first three octets of the underlay's /24, e.g. {@code 10.249.0}; no route of the root
     *               namespace may already lead into it
     */
    public Underlay(NetworkNamespaces namespaces, String prefix) {
        this.namespaces = namespaces;
        this.prefix = prefix;
        String taken = Command.of("ip", "-4", "route", "show", "to", "match", prefix + ".1").timeout(TIMEOUT).runChecked()
                .stdout().lines().filter(l -> !l.startsWith("default")).findFirst().orElse("");
        if (!taken.isEmpty()) {
            throw new IllegalStateException("cannot make the underlay " + prefix + ".0/24: this machine already routes it ("
                    + taken.strip() + "); a test run that did not clean up? see ip -br addr");
        }
        switchNamespace = namespaces.create("sw");
        // The switch namespace's name carries the namespaces' random tag; so does the root end, within 15 bytes.
        rootDevice = switchNamespace.substring(0, switchNamespace.length() - 2) + "ul";
        namespaces.ip(switchNamespace, "link", "add", BRIDGE, "type", "bridge");
        namespaces.ip(switchNamespace, "link", "set", BRIDGE, "up");
        Command.of("ip", "link", "add", rootDevice, "type", "veth", "peer", "name", "p0", "netns", switchNamespace)
                .timeout(TIMEOUT).runChecked();
        namespaces.ip(switchNamespace, "link", "set", "p0", "master", BRIDGE, "up");
        run("ip", "addr", "add", rootAddress() + "/24", "dev", rootDevice);
        run("ip", "link", "set", rootDevice, "up");
    }

    /** The root namespace's address on the underlay: where the test's own daemons listen for the hosts. */
    public String rootAddress() {
        return prefix + ".1";
    }

    /** Cables host namespace {@code namespace} to the switch; its end {@code device} gets {@code address} ("10.249.0.11/24"). */
    public synchronized void plug(String namespace, String device, String address) {
        String port = "p" + (++ports);
        Command.of("ip", "link", "add", device, "netns", namespace, "type", "veth",
                "peer", "name", port, "netns", switchNamespace).timeout(TIMEOUT).runChecked();
        namespaces.ip(switchNamespace, "link", "set", port, "master", BRIDGE, "up");
        namespaces.ip(namespace, "addr", "add", address, "dev", device);
        namespaces.ip(namespace, "link", "set", device, "up");
        portOf.put(namespace, port);
    }

    /**
     * Cuts a host off the underlay as a pulled cable or a dead switch port would: {@code ip link set PORT down} on
     * the switch's side, so the host's own interface keeps its address and routes and simply loses its carrier.
     * Packets either way are dropped, not refused: connections time out, as across a real partition.
     */
    public synchronized void cut(String namespace) {
        namespaces.ip(switchNamespace, "link", "set", port(namespace), "down");
    }

    /** Puts a host cut off by {@link #cut} back on the underlay. */
    public synchronized void mend(String namespace) {
        namespaces.ip(switchNamespace, "link", "set", port(namespace), "up");
    }

    private String port(String namespace) {
        String port = portOf.get(namespace);
        if (port == null) {
            throw new IllegalArgumentException(namespace + " is not plugged into this underlay");
        }
        return port;
    }

    /** The MTU of an interface inside a namespace, as the kernel reports it. */
    public static int mtu(NetworkNamespaces namespaces, String namespace, String device) {
        List<String> words = List.of(namespaces.ip(namespace, "-o", "link", "show", device).stdout().split("\\s+"));
        int at = words.indexOf("mtu");
        if (at < 0 || at + 1 >= words.size()) {
            throw new IllegalStateException("no mtu in ip link show " + device + " of " + namespace + ": " + words);
        }
        return Integer.parseInt(words.get(at + 1));
    }

    private static void run(String... argv) {
        Command.of(argv).timeout(TIMEOUT).runChecked();
    }
}
