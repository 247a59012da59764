package io.virtfleet.controller.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.virtfleet.common.fingerprint.Sha256;
import io.virtfleet.proto.v1.HostCpu;
import io.virtfleet.proto.v1.HostReport;
import java.io.IOException;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** How the controller judges a host against the fleet CPU model from what its agent reports. */
class FleetCpuVerdictTest {
    private static final String HOST_MODEL = "<cpu mode='custom' match='exact'><model>EPYC</model></cpu>";

    private static FleetCpu.Current model(Set<String> sources) throws IOException {
        CpuModel m = CpuModel.parse("fixture", CpuModelTest.fixture());
        return new FleetCpu.Current(m, m.xml(), m.sha256(), sources);
    }

    private static HostReport report(HostCpu cpu) {
        return HostReport.newBuilder().setHostName("hv2").setCpu(cpu).build();
    }

    @Test
    void withoutAModelEveryHostPassesAsBeforeTheModelExisted() {
        assertEquals("", FleetCpu.problem(null, report(HostCpu.getDefaultInstance())));
    }

    @Test
    void aHostIsJudgedByItsOwnLibvirtsVerdictOnTheModelInForce() throws IOException {
        FleetCpu.Current c = model(Set.of());
        String label = "EPYC (" + c.sha256().substring(0, 12) + ")";
        HostCpu runs = HostCpu.newBuilder().setHostModelXml(HOST_MODEL).setHostModelSha256(Sha256.hex(HOST_MODEL))
                .setFleetModelSha256(c.sha256()).setRunsFleetModel(true).build();
        assertEquals("", FleetCpu.problem(c, report(runs)));
        HostCpu older = runs.toBuilder().setRunsFleetModel(false).setFleetModelRefusal("the CPU is incompatible with"
                + " host CPU: Host CPU does not provide required features: vaes").build();
        assertEquals("cannot run the fleet CPU model " + label + ": the CPU is incompatible with host CPU: Host CPU does"
                + " not provide required features: vaes; virtfleet cpu-model --recompute lowers the model to what the ready"
                + " hosts run", FleetCpu.problem(c, report(older)));
        HostCpu aboutAnother = runs.toBuilder().setFleetModelSha256(Sha256.hex("another model")).build();
        assertEquals("has not judged the fleet CPU model " + label + " yet (its agent does at its next definitions sync)",
                FleetCpu.problem(c, report(aboutAnother)), "a verdict on another model says nothing of this one");
        HostCpu unknown = HostCpu.newBuilder().setError("libvirt at test:///default has no domain capabilities of guest"
                + " CPUs: this function is not supported by the connection driver: virConnectGetDomainCapabilities").build();
        assertEquals("cannot tell whether it can run the fleet CPU model " + label + ": libvirt at test:///default has no"
                + " domain capabilities of guest CPUs: this function is not supported by the connection driver:"
                + " virConnectGetDomainCapabilities", FleetCpu.problem(c, report(unknown)));
        assertEquals("reports nothing of its CPU (an agent older than the fleet CPU model?), so whether it can run the"
                + " fleet CPU model " + label + " is unknown", FleetCpu.problem(c, report(HostCpu.getDefaultInstance())));
    }

    @Test
    void aHostWhoseCpuTheModelWasComputedFromRunsItBeforeItsAgentHasJudgedIt() throws IOException {
        HostCpu notYet = HostCpu.newBuilder().setHostModelXml(HOST_MODEL).setHostModelSha256(Sha256.hex(HOST_MODEL)).build();
        assertEquals("", FleetCpu.problem(model(Set.of(Sha256.hex(HOST_MODEL))), report(notYet)),
                "libvirt's baseline is a CPU each of its inputs runs");
        assertEquals("has not judged", FleetCpu.problem(model(Set.of(Sha256.hex("another CPU"))), report(notYet))
                .substring(0, 14), "another CPU was the input");
    }
}
