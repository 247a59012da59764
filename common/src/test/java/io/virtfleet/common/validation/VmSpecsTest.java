package io.virtfleet.common.validation;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.virtfleet.common.units.Bytes;
import io.virtfleet.proto.v1.FailoverIp;
import io.virtfleet.proto.v1.NetworkSpec;
import io.virtfleet.proto.v1.StorageTier;
import io.virtfleet.proto.v1.VmSpec;
import java.util.function.UnaryOperator;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

class VmSpecsTest {
    private static final VmSpec GIT = VmSpec.newBuilder()
            .setName("git")
            .setStorage(StorageTier.STORAGE_TIER_SATA)
            .setDiskBytes(20 * Bytes.GIB)
            .setMemoryBytes(2 * Bytes.GIB)
            .setVcpus(2)
            .setNetwork(NetworkSpec.newBuilder().setLan(42))
            .setProfile("base")
            .build();

    @Test
    void aCompleteSpecIsAcceptedAsItIs() {
        assertSame(GIT, VmSpecs.validate(GIT));
        VmSpec web = GIT.toBuilder().setName("web1").setStorage(StorageTier.STORAGE_TIER_SSD)
                .setNetwork(NetworkSpec.newBuilder().setFailover(FailoverIp.newBuilder()
                        .setAddress("203.0.113.7").setMac("02:00:00:ab:cd:ef")))
                .setProfile("ui-test").setReplicated(true).setSpreadGroup("web").setPinnedHost("hv2").build();
        assertSame(web, VmSpecs.validate(web));
    }

    @Test
    void theMacAddressComesBackLowercase() {
        VmSpec upper = GIT.toBuilder().setNetwork(NetworkSpec.newBuilder().setFailover(FailoverIp.newBuilder()
                .setAddress("203.0.113.7").setMac("02:00:00:AB:CD:EF"))).build();
        VmSpec checked = VmSpecs.validate(upper);
        assertEquals("02:00:00:ab:cd:ef", checked.getNetwork().getFailover().getMac());
        assertEquals(upper.toBuilder().clearNetwork().build(), checked.toBuilder().clearNetwork().build(),
                "nothing else changes");
    }

    @Test
    void anOperatorsRequestMayLeaveTheVirtualMacToTheControllerButARecordedSpecMayNot() {
        VmSpec noMac = GIT.toBuilder().setNetwork(failover("203.0.113.7", "")).build();
        assertSame(noMac, VmSpecs.validateRequest(noMac));
        assertEquals("spec.network.failover.mac", assertThrows(InvalidInputException.class, () -> VmSpecs.validate(noMac)).field());
        VmSpec multicast = GIT.toBuilder().setNetwork(failover("203.0.113.7", "01:00:5e:00:00:01")).build();
        assertEquals("spec.network.failover.mac",
                assertThrows(InvalidInputException.class, () -> VmSpecs.validateRequest(multicast)).field());
        VmSpec privateIp = GIT.toBuilder().setNetwork(failover("10.1.2.3", "")).build();
        assertEquals("spec.network.failover.address",
                assertThrows(InvalidInputException.class, () -> VmSpecs.validateRequest(privateIp)).field());
    }

    static Stream<Arguments> brokenSpecs() {
        return Stream.of(
                broken("spec.name", "", b -> b.setName("")),
                broken("spec.name", "\"a b\"", b -> b.setName("a b")),
                broken("spec.name", "\"../x\"", b -> b.setName("../x")),
                broken("spec.name", "\"$(reboot)\"", b -> b.setName("$(reboot)")),
                broken("spec.name", "\"\\u00e9\"", b -> b.setName("é")),
                broken("spec.name", "\"a\\u0000b\"", b -> b.setName("a\u0000b")),
                broken("spec.storage", "\"unset\"", b -> b.setStorage(StorageTier.STORAGE_TIER_UNSPECIFIED)),
                broken("spec.storage", "\"7\"", b -> b.setStorageValue(7)),
                broken("spec.disk_bytes", "\"0\"", b -> b.setDiskBytes(0)),
                broken("spec.disk_bytes", "\"-21474836480\"", b -> b.setDiskBytes(-20 * Bytes.GIB)),
                broken("spec.disk_bytes", "\"9223372036854775807\"", b -> b.setDiskBytes(Long.MAX_VALUE)),
                broken("spec.memory_bytes", "\"1048576\"", b -> b.setMemoryBytes(Bytes.MIB)),
                broken("spec.memory_bytes", "\"-1\"", b -> b.setMemoryBytes(-1)),
                broken("spec.vcpus", "\"0\"", b -> b.setVcpus(0)),
                broken("spec.vcpus", "\"-2147483648\"", b -> b.setVcpus(Integer.MIN_VALUE)),
                broken("spec.network", "(missing)", VmSpec.Builder::clearNetwork),
                broken("spec.network.lan", "\"0\"", b -> b.setNetwork(NetworkSpec.newBuilder().setLan(0))),
                broken("spec.network.lan", "\"4294967295\"", b -> b.setNetwork(NetworkSpec.newBuilder().setLan(-1))),
                broken("spec.network.failover.address", "\"127.0.0.1\"", b -> b.setNetwork(failover("127.0.0.1", "02:00:00:00:00:01"))),
                broken("spec.network.failover.address", "\"\"", b -> b.setNetwork(failover("", "02:00:00:00:00:01"))),
                broken("spec.network.failover.mac", "\"\"", b -> b.setNetwork(failover("203.0.113.7", ""))),
                broken("spec.network.failover.mac", "\"03:00:00:00:00:01\"", b -> b.setNetwork(failover("203.0.113.7", "03:00:00:00:00:01"))),
                broken("spec.network.failover.mac", "\"ff:ff:ff:ff:ff:ff\"", b -> b.setNetwork(failover("203.0.113.7", "ff:ff:ff:ff:ff:ff"))),
                broken("spec.network.failover.mac", "\"02:00:00:00:00\"", b -> b.setNetwork(failover("203.0.113.7", "02:00:00:00:00"))),
                broken("spec.profile", "\"\"", b -> b.setProfile("")),
                broken("spec.profile", "\"Base\"", b -> b.setProfile("Base")),
                broken("spec.spread_group", "\"a;b\"", b -> b.setSpreadGroup("a;b")),
                broken("spec.pinned_host", "\"hv 2\"", b -> b.setPinnedHost("hv 2")));
    }

    private static Arguments broken(String field, String shown, UnaryOperator<VmSpec.Builder> change) {
        return Arguments.of(field, shown, change);
    }

    @Test
    void aPrivateFailoverAddressIsRefusedInARequestButARecordedVmWithOneIsKept() {
        VmSpec recorded = GIT.toBuilder().setNetwork(failover("192.168.1.7", "02:00:00:00:00:01")).build();
        assertEquals(recorded, VmSpecs.validate(recorded), "read back, not dropped");
        InvalidInputException e = assertThrows(InvalidInputException.class, () -> VmSpecs.validateRequest(recorded));
        assertEquals("spec.network.failover.address", e.field());
        assertTrue(e.getMessage().startsWith("spec.network.failover.address: \"192.168.1.7\" is not accepted"), e.getMessage());
    }

    private static NetworkSpec failover(String address, String mac) {
        return NetworkSpec.newBuilder().setFailover(FailoverIp.newBuilder().setAddress(address).setMac(mac)).build();
    }

    @ParameterizedTest(name = "{0} = {1}")
    @MethodSource("brokenSpecs")
    void eachBrokenFieldIsNamedAsInTheProto(String field, String shown, UnaryOperator<VmSpec.Builder> change) {
        VmSpec spec = change.apply(GIT.toBuilder()).build();
        InvalidInputException e = assertThrows(InvalidInputException.class, () -> VmSpecs.validate(spec));
        assertEquals(field, e.field());
        String expected = field + ": " + ("".equals(shown) ? "\"\"" : shown) + " is not accepted; expected ";
        assertTrue(e.getMessage().startsWith(expected), e.getMessage());
    }

    @Test
    void aHugeNameIsShownCut() {
        VmSpec spec = GIT.toBuilder().setName("x".repeat(10_000)).build();
        InvalidInputException e = assertThrows(InvalidInputException.class, () -> VmSpecs.validate(spec));
        assertTrue(e.getMessage().length() < 400, e.getMessage());
    }

    @Test
    void aRawDiskCannotBeReplicatedAndTheErrorSaysWhy() {
        InvalidInputException e = assertThrows(InvalidInputException.class, () -> VmSpecs.validate(GIT.toBuilder()
                .setStorage(StorageTier.STORAGE_TIER_RAW).setReplicated(true).build()));
        assertEquals("spec.replicated", e.field());
        assertTrue(e.getMessage().contains("a local disk cannot move"), e.getMessage());
        VmSpecs.validate(GIT.toBuilder().setReplicated(true).build()); // sata: fine
    }

    @Test
    void theFieldPrefixIsTheCallers() {
        InvalidInputException e = assertThrows(InvalidInputException.class,
                () -> VmSpecs.validate("request.spec", GIT.toBuilder().setVcpus(300).build()));
        assertEquals("request.spec.vcpus", e.field());
        assertEquals("spec", assertThrows(InvalidInputException.class, () -> VmSpecs.validate(null)).field());
    }
}
