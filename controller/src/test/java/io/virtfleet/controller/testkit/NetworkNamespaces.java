package io.virtfleet.controller.testkit;

import io.virtfleet.common.process.Command;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Network namespaces a test makes, and always removes: simulated hypervisors joined by a cable, and VMs (a
 * namespace with one interface) plugged into a host's bridge as libvirt plugs a tap. Names start with
 * {@code vft-} and a random tag. Commands run from argument lists; needs root, iproute2 and iputils-ping.
 * Namespaces still there when the JVM exits (a test that skipped its cleanup) are removed by a shutdown hook.
 */
public final class NetworkNamespaces implements AutoCloseable {
    private static final Duration TIMEOUT = Duration.ofSeconds(20);
    private static final Set<NetworkNamespaces> OPEN = ConcurrentHashMap.newKeySet();

    static {
        Runtime.getRuntime().addShutdownHook(new Thread(() -> List.copyOf(OPEN).forEach(NetworkNamespaces::close),
                "network-namespaces-cleanup"));
    }

    private final String tag = String.format("vft-%04x-", ThreadLocalRandom.current().nextInt(0x10000));
    private final List<String> made = new ArrayList<>();
    private int vms;

    public NetworkNamespaces() {
        OPEN.add(this);
    }

    /** Makes a namespace named after {@code role} ("hv1"), loopback up; returns its full name. */
    public synchronized String create(String role) {
        String name = tag + role;
        run("ip", "netns", "add", name);
        made.add(name);
        ip(name, "link", "set", "lo", "up");
        return name;
    }

    /** Joins two namespaces by a veth pair named {@code device} at both ends, with these addresses ("10.0.0.1/24"), up. */
    public void cable(String a, String addressA, String b, String addressB, String device) {
        run("ip", "link", "add", device, "netns", a, "type", "veth", "peer", "name", device, "netns", b);
        ip(a, "addr", "add", addressA, "dev", device);
        ip(b, "addr", "add", addressB, "dev", device);
        ip(a, "link", "set", device, "up");
        ip(b, "link", "set", device, "up");
    }

    /** A VM on {@code host}: a namespace whose eth0 has {@code address} and whose other end is a port of {@code bridge}. */
    public String vm(String host, String bridge, String address) {
        return vm(host, bridge, address, "eth0");
    }

    /** As {@link #vm(String, String, String)}, the VM's interface named {@code device} (e.g. as a guest names its NIC). */
    public synchronized String vm(String host, String bridge, String address, String device) {
        String vm = create("vm" + (++vms));
        // Unique per instance (several may plug into one host) and unlike libvirt's own tap names (vnetN).
        String port = "vp" + tag.substring(4, 8) + "-" + vms;
        run("ip", "link", "add", device, "netns", vm, "type", "veth", "peer", "name", port, "netns", host);
        ip(host, "link", "set", port, "master", bridge);
        ip(host, "link", "set", port, "up");
        ip(vm, "addr", "add", address, "dev", device);
        ip(vm, "link", "set", device, "up");
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

    private static void run(String... argv) {
        Command.of(argv).timeout(TIMEOUT).runChecked();
    }

    @Override
    public synchronized void close() {
        // The root namespace's ends of cables into these namespaces (an underlay's, named with the tag) are deleted
        // first: a veth end left to die with its namespace goes only when the kernel gets round to the namespace,
        // which a process still inside can delay, and until then the next test cannot have its addresses.
        String links = Command.of("ip", "-o", "link", "show").timeout(TIMEOUT).run().stdout();
        for (String line : links.split("\n")) {
            String[] fields = line.split(":\\s*", 3);
            if (fields.length >= 2) {
                String device = fields[1].split("@", 2)[0].strip();
                if (device.startsWith(tag)) {
                    Command.of("ip", "link", "del", device).timeout(TIMEOUT).run();
                }
            }
        }
        for (int i = made.size() - 1; i >= 0; i--) {
            Command.of("ip", "netns", "del", made.get(i)).timeout(TIMEOUT).run();
        }
        made.clear();
        OPEN.remove(this);
    }
}
