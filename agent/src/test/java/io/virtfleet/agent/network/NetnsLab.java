package io.virtfleet.agent.network;

import io.virtfleet.common.process.Command;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Network namespaces a test makes, and always removes: simulated hypervisors joined by an underlay, and
 * "VMs" (a namespace with one interface) plugged into a host's bridge the way libvirt plugs a VM's tap.
 * Names start with {@code vft-} and a random tag, so runs never meet each other's namespaces. Everything
 * runs from argument lists ({@code ip}, {@code ip netns exec ... ping}); needs root and iputils-ping.
 *
 * <p>{@link #close()} deletes every namespace made, which takes their interfaces with them; labs left open
 * when the JVM exits (a failed test that skipped its cleanup) are closed by a shutdown hook.
 */
public final class NetnsLab implements AutoCloseable {
    private static final Duration TIMEOUT = Duration.ofSeconds(20);
    private static final Set<NetnsLab> OPEN = ConcurrentHashMap.newKeySet();

    static {
        Runtime.getRuntime().addShutdownHook(new Thread(() -> List.copyOf(OPEN).forEach(NetnsLab::close), "netns-lab-cleanup"));
    }

    private final String tag = String.format("vft-%04x-", ThreadLocalRandom.current().nextInt(0x10000));
    private final List<String> namespaces = new ArrayList<>();
    private int vms;

    private NetnsLab() {
        OPEN.add(this);
    }

    public static NetnsLab create() {
        return new NetnsLab();
    }

    /** Makes a namespace named after {@code role} (e.g. "hv1"); returns its full name. */
    public synchronized String namespace(String role) {
        String name = tag + role;
        run("ip", "netns", "add", name);
        namespaces.add(name);
        ip(name, "link", "set", "lo", "up");
        return name;
    }

    /**
     * Joins two hosts by a cable: interface {@code device} in each, with the given addresses ("10.247.0.1/24"),
     * up. Stands for the private network between OVH servers.
     */
    public void cable(String hostA, String addressA, String hostB, String addressB, String device) {
        run("ip", "link", "add", device, "netns", hostA, "type", "veth", "peer", "name", device, "netns", hostB);
        for (String[] end : new String[][] {{hostA, addressA}, {hostB, addressB}}) {
            ip(end[0], "addr", "add", end[1], "dev", device);
            ip(end[0], "link", "set", device, "up");
        }
    }

    /**
     * A VM on a host: a new namespace whose {@code eth0} has {@code address} ("172.31.10.1/24") and whose other
     * end is a port of {@code bridge} on the host. Returns the VM's namespace.
     */
    public synchronized String vm(String host, String bridge, String address) {
        String vm = namespace("vm" + (++vms));
        String port = "vnet" + vms;
        run("ip", "link", "add", "eth0", "netns", vm, "type", "veth", "peer", "name", port, "netns", host);
        ip(host, "link", "set", port, "master", bridge);
        ip(host, "link", "set", port, "up");
        ip(vm, "addr", "add", address, "dev", "eth0");
        ip(vm, "link", "set", "eth0", "up");
        return vm;
    }

    /** Whether {@code address} answers a ping from inside {@code namespace} (two tries, two seconds at most). */
    public boolean ping(String namespace, String address) {
        return Command.of("ip", "netns", "exec", namespace, "ping", "-n", "-q", "-c", "2", "-i", "0.2", "-W", "2", address)
                .timeout(TIMEOUT).run().exitCode() == 0;
    }

    /** Runs {@code ip ARGS} inside a namespace; it must succeed. */
    public Command.Result ip(String namespace, String... args) {
        List<String> argv = new ArrayList<>(List.of("ip", "-n", namespace));
        argv.addAll(List.of(args));
        return Command.of(argv).timeout(TIMEOUT).runChecked();
    }

    /** Runs {@code bridge ARGS} inside a namespace; it must succeed. */
    public Command.Result bridge(String namespace, String... args) {
        List<String> argv = new ArrayList<>(List.of("bridge", "-n", namespace));
        argv.addAll(List.of(args));
        return Command.of(argv).timeout(TIMEOUT).runChecked();
    }

    /** The interfaces of a namespace as the agent reads them. */
    java.util.Map<String, Link> links(String namespace) {
        return new IpRoute(namespace).links();
    }

    /** The destinations a VXLAN interface floods to. */
    public Set<String> floodDestinations(String namespace, String vxlan) {
        return new IpRoute(namespace).floodDestinations(vxlan);
    }

    private static void run(String... argv) {
        Command.of(argv).timeout(TIMEOUT).runChecked();
    }

    @Override
    public synchronized void close() {
        for (int i = namespaces.size() - 1; i >= 0; i--) {
            Command.of("ip", "netns", "del", namespaces.get(i)).timeout(TIMEOUT).run();
        }
        namespaces.clear();
        OPEN.remove(this);
    }
}
