package io.virtfleet.controller.registry;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.virtfleet.proto.v1.HostReport;
import io.virtfleet.proto.v1.HostState;
import io.virtfleet.proto.v1.HypervisorInfo;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/** The registry's rules, on a controllable clock. */
class HostRegistryTest {
    private final AtomicLong nanos = new AtomicLong(1_000_000_000L);
    private final HostRegistry registry = new HostRegistry(nanos::get,
            Clock.fixed(Instant.parse("2026-11-26T10:00:00Z"), ZoneOffset.UTC));
    private final Liveness liveness = new Liveness(Duration.ofSeconds(15));

    private static HostReport report(String host) {
        return HostReport.newBuilder().setHostName(host)
                .setHypervisor(HypervisorInfo.newBuilder().setUri("test:///default").setType("TEST")).build();
    }

    private HostRecord register(String agent, String host) {
        return registry.register(agent, "10.0.0.1:7441", "test", List.of("raw"), report(host));
    }

    @Test
    void aSecondIdentityCannotTakeAnOwnedNameAndTheOwnerKeepsIt() {
        HostRecord owner = register("agent-a", "hv1");
        RegistrationRefusedException e = assertThrows(RegistrationRefusedException.class, () -> register("agent-b", "hv1"));
        assertTrue(e.getMessage().contains("belongs to agent agent-a"), e.getMessage());
        assertTrue(e.getMessage().contains("virtfleet host forget hv1"), e.getMessage());
        assertEquals("agent-a", registry.get("hv1").orElseThrow().agentId());
        registry.heartbeat(owner.sessionId(), report("hv1")); // the owner's session still works
    }

    @Test
    void reRegisteringReplacesTheSessionAndTheOldOneIsRefused() {
        HostRecord first = register("agent-a", "hv1");
        HostRecord second = register("agent-a", "hv1");
        assertNotEquals(first.sessionId(), second.sessionId());
        assertThrows(UnknownSessionException.class, () -> registry.heartbeat(first.sessionId(), report("hv1")));
        registry.heartbeat(second.sessionId(), report("hv1"));
    }

    @Test
    void aHeartbeatCannotSpeakForAnotherHost() {
        HostRecord hv1 = register("agent-a", "hv1");
        register("agent-b", "hv2");
        assertThrows(IllegalArgumentException.class, () -> registry.heartbeat(hv1.sessionId(), report("hv2")));
    }

    @Test
    void unknownSessionIsRefused() {
        assertThrows(UnknownSessionException.class, () -> registry.heartbeat("nope", report("hv1")));
    }

    @Test
    void hostTurnsUnreachableAfterTheGraceAndBackOnHeartbeat() {
        HostRecord hv1 = register("agent-a", "hv1");
        nanos.addAndGet(Duration.ofSeconds(15).toNanos());
        assertEquals(HostState.HOST_STATE_READY, liveness.judge(registry.get("hv1").orElseThrow(), nanos.get()).state());
        nanos.addAndGet(1);
        Liveness.Verdict late = liveness.judge(registry.get("hv1").orElseThrow(), nanos.get());
        assertEquals(HostState.HOST_STATE_UNREACHABLE, late.state());
        assertEquals("no heartbeat for 15s (grace 15s)", late.reason());
        registry.heartbeat(hv1.sessionId(), report("hv1"));
        assertEquals(HostState.HOST_STATE_READY, liveness.judge(registry.get("hv1").orElseThrow(), nanos.get()).state());
    }

    @Test
    void hostWithoutLibvirtIsDegradedWithLibvirtsReason() {
        HostReport broken = HostReport.newBuilder().setHostName("hv1")
                .setHypervisor(HypervisorInfo.newBuilder().setUri("qemu:///system").setError("libvirt at qemu:///system: no socket")).build();
        registry.register("agent-a", "10.0.0.1:7441", "test", List.of(), broken);
        Liveness.Verdict v = liveness.judge(registry.get("hv1").orElseThrow(), nanos.get());
        assertEquals(HostState.HOST_STATE_DEGRADED, v.state());
        assertEquals("libvirt at qemu:///system: no socket", v.reason());
    }

    @Test
    void forgettingReleasesTheNameAndEndsTheSession() {
        HostRecord owner = register("agent-a", "hv1");
        registry.forget("hv1");
        assertThrows(UnknownSessionException.class, () -> registry.heartbeat(owner.sessionId(), report("hv1")));
        assertEquals("agent-b", register("agent-b", "hv1").agentId());
    }
}
