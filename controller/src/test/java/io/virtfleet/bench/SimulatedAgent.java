package io.virtfleet.bench;

import io.grpc.stub.StreamObserver;
import io.virtfleet.proto.v1.DomainInfo;
import io.virtfleet.proto.v1.DomainState;
import io.virtfleet.proto.v1.HeartbeatRequest;
import io.virtfleet.proto.v1.HeartbeatResponse;
import io.virtfleet.proto.v1.HostReport;
import io.virtfleet.proto.v1.HostResources;
import io.virtfleet.proto.v1.HypervisorInfo;
import io.virtfleet.proto.v1.RegisterRequest;
import io.virtfleet.proto.v1.RegisterResponse;
import io.virtfleet.proto.v1.RegistryGrpc;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;
import java.util.UUID;
import java.util.concurrent.TimeUnit;

/**
 * One fake agent of the controller benchmarks: its host name (which its certificate names, in TLS mode), its
 * report, and asynchronous Register and Heartbeat calls on its (possibly shared) stub.
 */
final class SimulatedAgent {
    final int index;
    final String hostName;
    final HostReport report;
    final RegistryGrpc.RegistryStub stub;
    final String agentId;
    volatile String session;
    /**
     * The definitions commit the controller last named, which this agent then reports as synced: a fleet in
     * step, as real agents keep it by pulling. (An agent that never reported it would look behind for ever, and
     * the controller's repair pass would ask every simulated host to sync every 30 s, which is not steady state.)
     */
    volatile String syncedCommit = "";

    SimulatedAgent(int index, RegistryGrpc.RegistryStub stub) {
        this(index, stub, defaultDomains(index));
    }

    /** An agent whose host reports {@code domains} domains, named {@link #domainName}(index, 1..domains). */
    SimulatedAgent(int index, RegistryGrpc.RegistryStub stub, int domains) {
        this.index = index;
        this.hostName = hostName(index);
        this.stub = stub;
        this.report = report(index, domains);
        this.agentId = new UUID(0x5eed, index).toString();
    }

    static String hostName(int index) {
        return String.format(Locale.ROOT, "sim-%04d", index);
    }

    /** The {@code d}-th domain (from 1) of the agent's host. */
    static String domainName(int index, int d) {
        return hostName(index) + "-vm" + d;
    }

    /** Domains a host reports unless told otherwise: 5 to 10. */
    static int defaultDomains(int index) {
        return 5 + index % 6;
    }

    void register(long deadlineMillis, StreamObserver<RegisterResponse> observer) {
        stub.withDeadlineAfter(deadlineMillis, TimeUnit.MILLISECONDS).register(RegisterRequest.newBuilder()
                .setAgentId(agentId)
                .setAgentEndpoint("127.0.0.1:" + (20000 + index))
                .setAgentVersion("0.1.0")
                .addAllStorageTiers(List.of("ssd", "sata", "raw"))
                .setReport(report.toBuilder().setSyncedCommit(syncedCommit))
                .build(), observer);
    }

    void heartbeat(long deadlineMillis, StreamObserver<HeartbeatResponse> observer) {
        HeartbeatRequest request = HeartbeatRequest.newBuilder()
                .setSessionId(session)
                .setReport(report.toBuilder().setTakenAtUnixMs(System.currentTimeMillis()).setSyncedCommit(syncedCommit))
                .build();
        stub.withDeadlineAfter(deadlineMillis, TimeUnit.MILLISECONDS).heartbeat(request, observer);
    }

    /** Takes the definitions commit a Register or Heartbeat answer names (an older controller names none). */
    void desiredCommit(String commit) {
        if (!commit.isEmpty()) {
            syncedCommit = commit;
        }
    }

    /** A report such as a mid-size hypervisor sends: host facts and 5 to 10 domains (0.9–1.6 KB). */
    static HostReport report(int index) {
        return report(index, defaultDomains(index));
    }

    /** The same report with {@code domains} domains; the {@code d}-th (from 1) is shut off when d is a multiple of 4. */
    static HostReport report(int index, int domains) {
        String host = hostName(index);
        HostReport.Builder b = HostReport.newBuilder()
                .setHostName(host)
                .setTakenAtUnixMs(System.currentTimeMillis())
                .setResources(HostResources.newBuilder()
                        .setCpuModel("Intel(R) Xeon(R) E-2386G CPU @ 3.50GHz")
                        .setPhysicalCores(6)
                        .setLogicalThreads(12)
                        .setLoadAverage1M(1.25 + index % 7 * 0.1)
                        .setLoadAverage5M(1.1)
                        .setLoadAverage15M(0.9)
                        .setCpuUtilisationPercent(23.5)
                        .setMemoryTotalBytes(64L << 30)
                        .setMemoryAvailableBytes((40L << 30) - index * (1L << 20))
                        .setImagesDirectory("/var/lib/libvirt/images")
                        .setImagesFreeBytes(800L << 30)
                        .setImagesTotalBytes(1800L << 30)
                        .setUptimeSeconds(30L * 86400 + index))
                .setHypervisor(HypervisorInfo.newBuilder()
                        .setUri("qemu:///system")
                        .setType("QEMU")
                        .setVersion("7.2.0")
                        .setLibvirtVersion("9.0.0")
                        .setNodeCpus(12)
                        .setNodeMemoryBytes(64L << 30));
        for (int d = 1; d <= domains; d++) {
            String name = domainName(index, d);
            long memory = (1L + d % 4) << 30;
            b.addDomains(DomainInfo.newBuilder()
                    .setName(name)
                    .setUuid(new UUID(index, d).toString())
                    .setState(d % 4 == 0 ? DomainState.DOMAIN_STATE_SHUTOFF : DomainState.DOMAIN_STATE_RUNNING)
                    .setVcpus(1 + d % 4)
                    .setMaxMemoryBytes(memory)
                    .setMemoryBytes(memory)
                    .setAutostart(d % 2 == 0)
                    .setPersistent(true)
                    .setDefinitionSha256(sha256(name)));
        }
        return b.build();
    }

    private static String sha256(String text) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256")
                    .digest(text.getBytes(StandardCharsets.UTF_8)));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
