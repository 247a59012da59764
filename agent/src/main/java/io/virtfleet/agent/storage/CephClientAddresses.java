package io.virtfleet.agent.storage;

import io.virtfleet.common.validation.IpLiterals;
import java.io.IOException;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.NetworkInterface;
import java.net.UnknownHostException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.TreeSet;
import java.util.concurrent.Executor;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The local addresses this host talks to Ceph from, reported so the controller can put them on Ceph's OSD
 * blocklist when the host is lost (a blocklisted address's clients can no longer write). Either given by the
 * agent's {@code ceph-client-addresses} setting, which then replaces what is worked out; or worked out from
 * ceph.conf: every global address of each interface the host reaches a monitor through. Not only the source the
 * kernel picks today: a QEMU's librados session keeps the address it connected from, which may be an IPv6 temporary
 * address deprecated since, or a secondary IPv4 address. These are also the addresses the host's QEMUs and rbd
 * clients reach the OSDs from as long as monitors and OSDs share the public network, as Ceph's does by default.
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
            List<String> addresses = interfaceAddresses(MonitorAddresses.fromConf(ceph.conf(), ceph.client()));
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
     * Every global address (IPv4 and IPv6, deprecated ones included) of each interface the host reaches a monitor
     * through: the interface holding the source address the kernel picks toward it. Loopback, link-local, unspecified
     * and multicast addresses are left out: Ceph never sees a client of another machine come from one, and a scoped
     * one cannot be blocklisted. Sorted, without duplicates.
     */
    public static List<String> interfaceAddresses(List<MonitorAddresses.Monitor> monitors) throws IOException {
        TreeSet<String> out = new TreeSet<>();
        for (InetAddress source : sources(monitors)) {
            List<InetAddress> candidates = new ArrayList<>(List.of(source));
            NetworkInterface device = NetworkInterface.getByInetAddress(source);
            if (device != null) {
                candidates.addAll(Collections.list(device.getInetAddresses()));
            }
            for (InetAddress a : candidates) {
                if (IpLiterals.nonGlobal(a).isEmpty()) {
                    out.add(unscoped(a));
                }
            }
        }
        if (out.isEmpty()) {
            throw new IOException("the interfaces toward the monitors in mon_host have no global address (only"
                    + " loopback or link-local ones, which Ceph's blocklist cannot take)");
        }
        return List.copyOf(out);
    }

    /**
     * For each monitor (each address of a host name), the address the kernel would send from toward it: a UDP
     * socket's connect only picks the route and source, no packet leaves. Sorted, without duplicates.
     */
    public static List<String> sourceAddresses(List<MonitorAddresses.Monitor> monitors) throws IOException {
        TreeSet<String> out = new TreeSet<>();
        for (InetAddress source : sources(monitors)) {
            out.add(source.getHostAddress());
        }
        return List.copyOf(out);
    }

    private static List<InetAddress> sources(List<MonitorAddresses.Monitor> monitors) throws IOException {
        List<InetAddress> sources = new ArrayList<>();
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
                    if (!local.isAnyLocalAddress() && !sources.contains(local)) {
                        sources.add(local);
                    }
                }
            }
        }
        if (sources.isEmpty()) {
            throw new IOException("no route to any monitor in mon_host");
        }
        return sources;
    }

    /** The address's text without an interface scope ({@code %eth0}), which an interface's IPv6 addresses carry. */
    private static String unscoped(InetAddress address) throws IOException {
        return InetAddress.getByAddress(address.getAddress()).getHostAddress();
    }

    private static List<String> sorted(List<String> addresses) {
        return List.copyOf(new TreeSet<>(addresses));
    }
}
