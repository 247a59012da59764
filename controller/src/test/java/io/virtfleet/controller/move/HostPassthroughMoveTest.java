package io.virtfleet.controller.move;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.virtfleet.proto.v1.HostCpu;
import org.junit.jupiter.api.Test;

/** A VM defined with host-passthrough moves only between hosts whose CPUs libvirt describes the same. */
class HostPassthroughMoveTest {
    private static final String PASSTHROUGH = "<domain type='kvm'><name>api</name><cpu mode='host-passthrough'/></domain>";
    private static final String FLEET_MODEL = "<domain type='kvm'><name>api</name><cpu mode='custom' match='exact'"
            + " check='partial'><model fallback='forbid'>EPYC</model></cpu></domain>";
    private static final String NO_CPU = "<domain type='qemu'><name>api</name></domain>";

    private static HostCpu cpu(String model, String sha) {
        return HostCpu.newBuilder().setHostModelSha256(sha).setHostModelXml("<cpu mode='custom' match='exact'>"
                + "<model fallback='forbid'>" + model + "</model><vendor>AMD</vendor>"
                + "<feature policy='require' name='avx2'/></cpu>").build();
    }

    @Test
    void onlyAHostPassthroughDefinitionIsTiedToItsHostsCpu() {
        assertTrue(MoveDefinition.hostPassthrough(PASSTHROUGH));
        assertFalse(MoveDefinition.hostPassthrough(FLEET_MODEL));
        assertFalse(MoveDefinition.hostPassthrough(NO_CPU));
    }

    @Test
    void theSameCpuTakesItAndAnotherIsRefusedNamingBoth() {
        assertNull(Moves.cpuRefusal("api", cpu("EPYC-Genoa", "aa"), cpu("EPYC-Genoa", "aa")));
        String why = Moves.cpuRefusal("api", cpu("EPYC-Genoa", "aa"), cpu("Skylake-Server", "bb"));
        assertTrue(why.startsWith("api is defined with host-passthrough"), why);
        assertTrue(why.contains("EPYC-Genoa") && why.contains("Skylake-Server"), why);
    }

    @Test
    void aCpuNotReportedIsRefused() {
        assertTrue(Moves.cpuRefusal("api", HostCpu.getDefaultInstance(), HostCpu.getDefaultInstance())
                .contains("an unknown CPU"));
        assertTrue(Moves.cpuRefusal("api", cpu("EPYC", "aa"), HostCpu.getDefaultInstance()).contains("an unknown CPU"));
    }
}
