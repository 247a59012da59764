package io.virtfleet.controller.testkit;

import io.virtfleet.common.process.Command;
import io.virtfleet.common.process.CommandException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;

/**
 * A host of a {@link MoveFleet} cut off from the controller only: a packet filter (nftables) inside the host's network
 * namespace drops the TCP it exchanges with the controller, both ways (the agent's calls to every port the controller's
 * JVM listens on, gRPC and git; the controller's calls to every port the agent's JVM listens on). Everything else
 * flows: Ceph, which listens on the same underlay address as the controller, on ports of its own, and the other
 * hosts. Packets are dropped, not refused, so connections time out as across a real partition. {@link #heal} (or
 * {@link #close}) removes the filter.
 *
 * <p>Needs root and nft (Debian package {@value #PACKAGE}, see deploy/dev/install-deps.sh); {@link #cut} fails naming
 * it without.
 */
public final class ControllerPartition implements AutoCloseable {
    /** What to install on Debian 12 for this to work. */
    public static final String PACKAGE = "nftables";
    private static final Duration TIMEOUT = Duration.ofSeconds(20);
    private static final String TABLE = "vf-partition";
    private static final Pattern PID = Pattern.compile("pid=(\\d+),");
    private static final Pattern COUNTER = Pattern.compile("counter packets (\\d+)");

    private final String namespace;
    private boolean cut;

    private ControllerPartition(String namespace) {
        this.namespace = namespace;
    }

    /** Cuts {@code host} of {@code fleet} off the fleet's controller; its agent and its QEMUs keep running. */
    public static ControllerPartition cut(MoveFleet fleet, String host) {
        Command.Result version;
        try {
            version = Command.of("nft", "--version").timeout(TIMEOUT).run();
        } catch (CommandException e) {
            version = null;
        }
        if (version == null || version.exitCode() != 0) {
            throw new IllegalStateException("needs nft to cut a host off the controller only; install it with:"
                    + " apt-get install -y --no-install-recommends " + PACKAGE + " (deploy/dev/install-deps.sh)");
        }
        HypervisorRack.Host h = fleet.rack().host(host);
        Set<Integer> controllerPorts = listening(null, fleet.controller().pid());
        if (!controllerPorts.contains(fleet.controller().port())) {
            throw new IllegalStateException("the controller's listening ports " + controllerPorts + " lack its gRPC port "
                    + fleet.controller().port());
        }
        Set<Integer> agentPorts = listening(h.namespace(), fleet.rack().agent(host).pid());
        if (agentPorts.isEmpty()) {
            throw new IllegalStateException("the agent of " + host + " listens on no port");
        }
        String controller = fleet.rack().controllerAddress();
        ControllerPartition p = new ControllerPartition(h.namespace());
        p.nft("add", "table", "inet", TABLE);
        p.cut = true;
        try {
            p.nft("add", "chain", "inet", TABLE, "out", "{ type filter hook output priority 0 ; policy accept ; }");
            p.nft("add", "chain", "inet", TABLE, "in", "{ type filter hook input priority 0 ; policy accept ; }");
            // Calls from the agent to the controller, and the controller's answers.
            p.nft("add", "rule", "inet", TABLE, "out", "ip", "daddr", controller, "tcp", "dport", set(controllerPorts),
                    "counter", "drop");
            p.nft("add", "rule", "inet", TABLE, "in", "ip", "saddr", controller, "tcp", "sport", set(controllerPorts),
                    "counter", "drop");
            // Calls from the controller to the agent, and the agent's answers.
            p.nft("add", "rule", "inet", TABLE, "in", "ip", "saddr", controller, "tcp", "dport", set(agentPorts),
                    "counter", "drop");
            p.nft("add", "rule", "inet", TABLE, "out", "ip", "daddr", controller, "tcp", "sport", set(agentPorts),
                    "counter", "drop");
        } catch (RuntimeException e) {
            p.heal();
            throw e;
        }
        return p;
    }

    /** Packets the filter dropped so far: more than none once either side tried to reach the other. */
    public long dropped() {
        Matcher m = COUNTER.matcher(nft("list", "table", "inet", TABLE).stdout());
        long total = 0;
        while (m.find()) {
            total += Long.parseLong(m.group(1));
        }
        return total;
    }

    /** Removes the filter: the host and the controller reach each other again. */
    public synchronized void heal() {
        if (cut) {
            nft("delete", "table", "inet", TABLE);
            cut = false;
        }
    }

    @Override
    public void close() {
        heal();
    }

    /**
     * The TCP ports process {@code pid} listens on, as {@code ss} sees them in {@code namespace} (null: this JVM's
     * own).
     */
    private static Set<Integer> listening(String namespace, long pid) {
        List<String> argv = new ArrayList<>();
        if (namespace != null) {
            argv.addAll(List.of("ip", "netns", "exec", namespace));
        }
        argv.addAll(List.of("ss", "-H", "-t", "-l", "-n", "-p"));
        Set<Integer> ports = new TreeSet<>();
        for (String line : Command.of(argv).timeout(TIMEOUT).runChecked().stdout().lines().toList()) {
            Matcher m = PID.matcher(line);
            boolean his = false;
            while (m.find()) {
                his |= Long.parseLong(m.group(1)) == pid;
            }
            String[] columns = line.strip().split("\\s+");
            if (his && columns.length >= 4) {
                String local = columns[3];
                ports.add(Integer.parseInt(local.substring(local.lastIndexOf(':') + 1)));
            }
        }
        return ports;
    }

    private static String set(Set<Integer> ports) {
        return ports.stream().map(String::valueOf).collect(Collectors.joining(", ", "{ ", " }"));
    }

    private Command.Result nft(String... args) {
        List<String> argv = new ArrayList<>(List.of("ip", "netns", "exec", namespace, "nft"));
        argv.addAll(List.of(args));
        return Command.of(argv).timeout(TIMEOUT).runChecked();
    }
}
