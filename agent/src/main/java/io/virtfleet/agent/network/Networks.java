package io.virtfleet.agent.network;

import io.virtfleet.common.validation.InvalidInputException;
import io.virtfleet.common.validation.Ipv4;
import io.virtfleet.common.validation.VmSpecs;
import io.virtfleet.proto.v1.EnsureNetworkRequest;
import io.virtfleet.proto.v1.NetworkSpec;
import io.virtfleet.proto.v1.StepResult;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * This host's side of VM networking: a LAN's VXLAN interface and bridge, or the public bridge of failover
 * IPs. Ensures run one at a time on a thread of their own, since each reads the host's interfaces and then
 * changes them, and a stuck {@code ip} must hold neither a gRPC thread nor the other agent commands.
 */
public final class Networks {
    private static final Logger log = LoggerFactory.getLogger(Networks.class);
    /** More peers than any fleet this serves; each broadcast is copied to every one of them. */
    public static final int MAX_PEERS = 1024;
    /** How long a reported underlay address is reused before the device is asked again. */
    private static final Duration ADDRESS_REFRESH = Duration.ofMinutes(1);

    /** One thread, started when needed and gone after a minute idle, so an idle agent keeps no thread for this. */
    private final ThreadPoolExecutor worker = new ThreadPoolExecutor(1, 1, 1, TimeUnit.MINUTES, new LinkedBlockingQueue<>(),
            r -> {
                Thread t = new Thread(r, "vf-network");
                t.setDaemon(true);
                return t;
            });
    private final Underlay underlay;
    private final VxlanLan lans;
    private final PublicBridge publicBridge;
    /** Guards the reported address apart from ensures, so a heartbeat never waits for one. */
    private final Object addressLock = new Object();
    private String reportedAddress = "";
    private long addressReadAt = Long.MIN_VALUE;

    public Networks(NetworkSettings settings) {
        this(settings, new IpRoute(settings.namespace()));
    }

    Networks(NetworkSettings settings, IpRoute ip) {
        this.underlay = new Underlay(settings, ip);
        this.lans = new VxlanLan(ip, underlay, settings.vxlanPort());
        this.publicBridge = new PublicBridge(ip, settings.publicBridge());
        worker.allowCoreThreadTimeOut(true);
    }

    /**
     * Validates the request at once, then brings the host's network to what it asks on the network thread,
     * changing only what differs.
     *
     * @return the step's result, or a failure with a {@link NetworkException} saying why the host's network is
     *     not in a state the request can be met from
     * @throws InvalidInputException when a field is malformed, before anything on the host is read or run
     */
    public CompletableFuture<StepResult> ensure(EnsureNetworkRequest request) {
        NetworkSpec network = VmSpecs.network("network", request.getNetwork());
        List<String> peers = peers(request);
        return CompletableFuture.supplyAsync(() -> ensure(network, peers), worker);
    }

    private StepResult ensure(NetworkSpec network, List<String> peers) {
        long start = System.nanoTime();
        Outcome outcome;
        if (network.getAttachmentCase() == NetworkSpec.AttachmentCase.LAN) {
            int lan = network.getLan(); // checked by VmSpecs.network: 1..16777215
            try {
                outcome = lans.ensure(lan, peers);
            } catch (NetworkException e) {
                throw e.withContext("LAN " + lan + ": ", "");
            }
        } else {
            outcome = publicBridge.check();
        }
        long elapsedMs = (System.nanoTime() - start) / 1_000_000;
        if (outcome.changed()) {
            log.info("network: {} ({} ms)", outcome.detail(), elapsedMs);
        }
        return StepResult.newBuilder()
                .setOutcome(outcome.changed() ? StepResult.Outcome.OUTCOME_CHANGED : StepResult.Outcome.OUTCOME_ALREADY_DONE)
                .setDetail(outcome.detail())
                .setDurationMs(elapsedMs)
                .build();
    }

    /** The underlay address for this host's reports (HostReport.vxlan_address); empty when there is none. */
    public String vxlanAddress() {
        synchronized (addressLock) {
            long now = System.nanoTime();
            if (addressReadAt == Long.MIN_VALUE || now - addressReadAt > ADDRESS_REFRESH.toNanos()) {
                reportedAddress = underlay.address().map(Ipv4::toString).orElse("");
                addressReadAt = now;
            }
            return reportedAddress;
        }
    }

    private static List<String> peers(EnsureNetworkRequest request) {
        int count = request.getPeerAddressesCount();
        if (count > MAX_PEERS) {
            throw new InvalidInputException("peer_addresses", count + " addresses", "at most " + MAX_PEERS
                    + " addresses, one per other host carrying the LAN");
        }
        List<String> peers = new ArrayList<>(count);
        for (int i = 0; i < count; i++) {
            peers.add(Ipv4.unicastAddress("peer_addresses[" + i + "]", request.getPeerAddresses(i)).toString());
        }
        return peers;
    }
}
