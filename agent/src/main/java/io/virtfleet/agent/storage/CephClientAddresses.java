package io.virtfleet.agent.storage;

import java.io.IOException;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.util.List;
import java.util.TreeSet;
import java.util.concurrent.Executor;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The local addresses this host talks to Ceph from, reported so the controller can put them on Ceph's OSD
 * blocklist when the host is lost (a blocklisted address's clients can no longer write). Either given by the
 * agent's {@code ceph-client-addresses} setting, or worked out from ceph.conf: for each monitor, the source
 * address the kernel picks toward it. That is also the address the host's QEMUs and rbd clients reach the OSDs
 * from as long as monitors and OSDs share the public network, as Ceph's does by default.
 *
 * <p>{@link #current()} never blocks (heartbeats and gRPC threads ask for it): it answers the last result and has
 * a stale one worked out again in the background, since resolving a monitor's host name may wait for DNS.
 */
public final class CephClientAddresses {
    private static final Logger log = LoggerFactory.getLogger(CephClientAddresses.class);

    private final CephSettings ceph;
    private final List<String> given;
    private final Executor background;
    private final AtomicBoolean refreshing = new AtomicBoolean();
    /** Monitors and routes seldom change: worked out again at most this often. */
    private static final long REFRESH_NANOS = java.util.concurrent.TimeUnit.MINUTES.toNanos(1);
    private volatile long workedAt = System.nanoTime();
    private volatile List<String> latest;
    private volatile String lastProblem = "";

    /**
     * @param ceph       the agent's Ceph settings; null when the host serves no Ceph tier (then nothing is reported)
     *                   (its clientAddresses, when set, are reported as they are)
     * @param background where a refresh runs
     */
    public CephClientAddresses(CephSettings ceph, Executor background) {
        this.ceph = ceph;
        this.given = ceph == null ? List.of() : ceph.clientAddresses();
        this.background = background;
        this.latest = work();
    }

    /** The addresses as last worked out (sorted, without duplicates); once a minute, worked out again behind. */
    public List<String> current() {
        if (ceph != null && given.isEmpty() && System.nanoTime() - workedAt >= REFRESH_NANOS
                && refreshing.compareAndSet(false, true)) {
            workedAt = System.nanoTime();
            background.execute(() -> {
                try {
                    latest = work();
                } finally {
                    refreshing.set(false);
                }
            });
        }
        return latest;
    }

    private List<String> work() {
        if (ceph == null) {
            return List.of();
        }
        if (!given.isEmpty()) {
            return sorted(given);
        }
        try {
            if (!Files.exists(ceph.conf())) {
                throw new NoSuchFileException(ceph.conf().toString());
            }
            List<String> addresses = sourceAddresses(MonitorAddresses.fromConf(ceph.conf(), ceph.client()));
            lastProblem = "";
            return addresses;
        } catch (IOException | IllegalArgumentException e) {
            String problem = "cannot tell the controller which addresses this host reaches Ceph from (it could not fence"
                    + " this host in Ceph if it were lost): " + e.getMessage() + "; set ceph-client-addresses";
            if (!problem.equals(lastProblem)) {
                log.warn(problem);
                lastProblem = problem;
            }
            return latest == null ? List.of() : latest;
        }
    }

    /**
     * For each monitor (each address of a host name), the address the kernel would send from toward it: a UDP
     * socket's connect only picks the route and source, no packet leaves. Sorted, without duplicates.
     */
    public static List<String> sourceAddresses(List<MonitorAddresses.Monitor> monitors) throws IOException {
        TreeSet<String> sources = new TreeSet<>();
        for (MonitorAddresses.Monitor monitor : monitors) {
            InetAddress[] all;
            try {
                all = InetAddress.getAllByName(monitor.host());
            } catch (UnknownHostException e) {
                throw new IOException("monitor " + monitor.host() + " in mon_host does not resolve", e);
            }
            for (InetAddress address : all) {
                try (DatagramSocket socket = new DatagramSocket()) {
                    socket.connect(new InetSocketAddress(address, monitor.port()));
                    InetAddress local = socket.getLocalAddress();
                    if (!local.isAnyLocalAddress()) {
                        sources.add(local.getHostAddress());
                    }
                }
            }
        }
        if (sources.isEmpty()) {
            throw new IOException("no route to any monitor in mon_host");
        }
        return List.copyOf(sources);
    }

    private static List<String> sorted(List<String> addresses) {
        return List.copyOf(new TreeSet<>(addresses));
    }
}
