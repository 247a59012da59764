package io.virtfleet.controller.fleet;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.virtfleet.proto.v1.Host;
import io.virtfleet.proto.v1.HostReport;
import io.virtfleet.proto.v1.HostResources;
import io.virtfleet.proto.v1.HostState;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/** `virtfleet hosts` lists the least loaded host first, judged per hardware thread, and hosts that are not ready last. */
class HostOrderTest {
    private static Host host(String name, HostState state, double load1, int threads) {
        return Host.newBuilder().setName(name).setState(state)
                .setReport(HostReport.newBuilder().setResources(
                        HostResources.newBuilder().setLoadAverage1M(load1).setLogicalThreads(threads)))
                .build();
    }

    @Test
    void leastLoadedPerThreadFirstThenNotReadyHosts() {
        List<Host> sorted = Stream.of(
                        host("busy-small", HostState.HOST_STATE_READY, 4.0, 4),    // 1.00 per thread
                        host("busy-big", HostState.HOST_STATE_READY, 8.0, 32),     // 0.25 per thread
                        host("idle-but-gone", HostState.HOST_STATE_UNREACHABLE, 0.0, 8),
                        host("calm", HostState.HOST_STATE_READY, 1.0, 8),          // 0.125 per thread
                        host("no-libvirt", HostState.HOST_STATE_DEGRADED, 0.1, 8))
                .sorted(FleetEndpoint.BY_LOAD).toList();
        assertEquals(List.of("calm", "busy-big", "busy-small", "no-libvirt", "idle-but-gone"),
                sorted.stream().map(Host::getName).toList());
    }
}
