package io.virtfleet.controller.embedded;

import io.virtfleet.common.process.Command;
import io.virtfleet.common.process.CommandException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The wiring between the embedded fleet's simulated hypervisors: each host gets a network namespace of its
 * own, plugged by a veth cable ({@code ul0}, 10.250.0.x/24) into a switch namespace, as hypervisors are
 * plugged into OVH's vRack. The agents build their VXLAN LANs inside their host's namespace, so LAN VMs of
 * the embedded fleet get real kernel networking. Needs root (network namespaces); {@link #available()} says
 * whether this machine allows it. Namespaces are named {@code vfe-<random>-...} and removed on close.
 */
public final class SimulatedNetwork implements AutoCloseable {
    /** The underlay interface in every host namespace: the agents' {@code vxlan-device}. */
    public static final String UNDERLAY = "ul0";

    private final String prefix;
    private final String switchNs;
    private final List<String> namespaces = new ArrayList<>();
    private final Map<String, String> hostNs = new ConcurrentHashMap<>();
    private int next = 10;

    private SimulatedNetwork(String prefix) {
        this.prefix = prefix;
        this.switchNs = prefix + "-sw";
    }

    /** Whether network namespaces can be made here (root, and an {@code ip} that knows them). */
    public static boolean available() {
        try {
            if (!Files.readString(Path.of("/proc/self/status")).lines()
                    .anyMatch(l -> l.startsWith("Uid:") && l.split("\\s+")[1].equals("0"))) {
                return false;
            }
            return Command.of("ip", "netns", "list").run().exitCode() == 0;
        } catch (java.io.IOException | CommandException e) {
            return false;
        }
    }

    /** Makes the switch; hosts are plugged in with {@link #plug}. */
    public static SimulatedNetwork create() {
        byte[] random = new byte[3];
        new SecureRandom().nextBytes(random);
        SimulatedNetwork net = new SimulatedNetwork("vfe-" + HexFormat.of().formatHex(random));
        try {
            net.addNamespace(net.switchNs);
            net.ip(net.switchNs, "link", "add", "sw0", "type", "bridge");
            net.ip(net.switchNs, "link", "set", "sw0", "up");
        } catch (RuntimeException e) {
            net.close();
            throw e;
        }
        return net;
    }

    /** Plugs a host into the switch; returns the name of the host's namespace. */
    public synchronized String plug(String host) {
        String ns = prefix + "-" + host;
        addNamespace(ns);
        int octet = next++;
        Command.of("ip", "link", "add", UNDERLAY, "netns", ns, "type", "veth", "peer", "name", host, "netns", switchNs)
                .runChecked();
        ip(ns, "addr", "add", "10.250.0." + octet + "/24", "dev", UNDERLAY);
        ip(ns, "link", "set", UNDERLAY, "up");
        ip(switchNs, "link", "set", host, "master", "sw0");
        ip(switchNs, "link", "set", host, "up");
        hostNs.put(host, ns);
        return ns;
    }

    public String namespaceOf(String host) {
        return hostNs.get(host);
    }

    private void addNamespace(String ns) {
        Command.of("ip", "netns", "add", ns).runChecked();
        namespaces.add(ns);
        ip(ns, "link", "set", "lo", "up");
    }

    private void ip(String ns, String... args) {
        List<String> argv = new ArrayList<>(List.of("ip", "-n", ns));
        argv.addAll(List.of(args));
        Command.of(argv).runChecked();
    }

    @Override
    public synchronized void close() {
        for (String ns : namespaces) {
            Command.of("ip", "netns", "del", ns).run(); // also removes the interfaces inside it
        }
        namespaces.clear();
    }
}
