package io.virtfleet.controller.definitions;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.virtfleet.common.process.Command;
import io.virtfleet.common.units.Bytes;
import io.virtfleet.common.validation.Endpoint;
import io.virtfleet.common.validation.InvalidInputException;
import io.virtfleet.common.validation.MacAddress;
import io.virtfleet.common.xml.Xml;
import io.virtfleet.controller.cpu.CpuModel;
import io.virtfleet.proto.v1.FailoverIp;
import io.virtfleet.proto.v1.NetworkSpec;
import io.virtfleet.proto.v1.StorageTier;
import io.virtfleet.proto.v1.VmSpec;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.function.UnaryOperator;
import javax.xml.xpath.XPath;
import javax.xml.xpath.XPathExpressionException;
import javax.xml.xpath.XPathFactory;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.w3c.dom.Document;

/**
 * Rendering domain definitions: a spread of specs, each checked against libvirt's own schema (its domain.rng with
 * xmllint from libxml2-utils, as {@code virt-xml-validate} of Debian package libvirt-clients does) and read back
 * field by field; same spec, same bytes; hostile specs and settings refused.
 */
class DomainXmlTest {
    /** The schema virt-xml-validate checks a domain definition against. */
    private static final Path DOMAIN_SCHEMA = Path.of("/usr/share/libvirt/schemas/domain.rng");
    private static final DomainSettings KVM = DomainSettings.defaults()
            .withCephMonitors(List.of(Endpoint.parse("m", "10.0.0.1:6789"), Endpoint.parse("m", "ceph-mon2.example:3300"),
                    Endpoint.parse("m", "[2001:db8::3]:6789")));
    private static final DomainSettings TCG = DomainSettings.defaults().withDomainType(DomainSettings.QEMU)
            .withImagesDirectory(Path.of("/srv/virtfleet/images")).withPublicBridge("vmbr-pub");

    private static final VmSpec GIT = VmSpec.newBuilder().setName("git").setStorage(StorageTier.STORAGE_TIER_SATA)
            .setDiskBytes(20 * Bytes.GIB).setMemoryBytes(2 * Bytes.GIB).setVcpus(2)
            .setNetwork(NetworkSpec.newBuilder().setLan(10)).setProfile("base").build();
    private static final VmSpec WEB = VmSpec.newBuilder().setName("web1").setStorage(StorageTier.STORAGE_TIER_RAW)
            .setDiskBytes(50 * Bytes.GIB).setMemoryBytes(4 * Bytes.GIB).setVcpus(4)
            .setNetwork(NetworkSpec.newBuilder().setFailover(FailoverIp.newBuilder().setAddress("203.0.113.7")
                    .setMac("02:00:00:AB:CD:EF"))).setProfile("ui").build();

    @TempDir
    Path tmp;

    @Test
    void everyKindOfSpecRendersADefinitionLibvirtsSchemaAccepts() throws Exception {
        List<Rendered> all = new ArrayList<>();
        List<VmSpec> variety = variety();
        for (int i = 0; i < variety.size(); i++) {
            VmSpec spec = variety.get(i);
            for (DomainSettings settings : List.of(KVM, TCG)) {
                all.add(new Rendered(spec, settings, null, new DomainXml(settings).render(spec)));
                if (i % 4 == 0) { // with the fleet CPU model too: a few are enough for the schema to judge <cpu>
                    all.add(new Rendered(spec, settings, fleetModel(), new DomainXml(settings, fleetModel()).render(spec)));
                }
            }
        }
        long started = System.nanoTime();
        List<Path> files = new ArrayList<>();
        for (int i = 0; i < all.size(); i++) {
            files.add(Files.writeString(tmp.resolve(i + "-" + all.get(i).spec.getName() + ".xml"), all.get(i).xml));
        }
        // What virt-xml-validate FILE domain runs for each file (xmllint with libvirt's domain schema), once for all of
        // them: the schema is compiled once instead of once per file (about 0.4-0.8 s each).
        List<String> argv = new ArrayList<>(List.of("xmllint", "--noout", "--relaxng", DOMAIN_SCHEMA.toString()));
        files.forEach(f -> argv.add(f.toString()));
        assertTrue(Files.isReadable(DOMAIN_SCHEMA), DOMAIN_SCHEMA + " (libvirt's schema, as virt-xml-validate uses it) is"
                + " missing: install libvirt-clients and libxml2-utils (deploy/dev/install-deps.sh)");
        Command.Result batch = Command.of(argv).timeout(Duration.ofSeconds(120)).run();
        List<String> verdicts = batch.stderr().lines().toList();
        for (int i = 0; i < all.size(); i++) {
            Rendered r = all.get(i);
            String file = files.get(i).toString();
            assertTrue(verdicts.contains(file + " validates"), () -> "libvirt's schema refuses " + file + ": "
                    + String.join("\n", verdicts.stream().filter(l -> l.startsWith(file)).toList()) + "\n" + r.xml);
            assertReadsBackAsItsSpec(r);
        }
        assertEquals(0, batch.exitCode(), batch.stderr());
        System.out.printf("%d definitions validated against libvirt's domain schema in %d ms%n", all.size(),
                (System.nanoTime() - started) / 1_000_000);

        // libvirt's own tool judges them alike: the first passes it.
        Command.Result first = validate(files.get(0));
        assertEquals(0, first.exitCode(), () -> "virt-xml-validate refuses " + files.get(0) + ": " + first.stderr());
        // The validator is not a rubber stamp: a definition broken in one place is refused, by both.
        Path broken = Files.writeString(tmp.resolve("broken.xml"),
                all.get(0).xml.replace("<vcpu placement=\"static\">", "<vcpu placement=\"everywhere\">"));
        assertNotEquals(0, validate(broken).exitCode(), "virt-xml-validate must refuse " + broken);
        Command.Result brokenInBatch = Command.of("xmllint", "--noout", "--relaxng", DOMAIN_SCHEMA.toString(),
                files.get(0).toString(), broken.toString()).timeout(Duration.ofSeconds(60)).run();
        assertNotEquals(0, brokenInBatch.exitCode(), "xmllint must refuse " + broken + " among valid ones");
        assertTrue(brokenInBatch.stderr().lines().anyMatch(l -> l.equals(broken + " fails to validate"))
                && brokenInBatch.stderr().lines().noneMatch(l -> l.equals(broken + " validates")), brokenInBatch.stderr());
    }

    @Test
    void aLanVmOnSataIsRenderedExactlyAsTheHypervisorsExpectIt() throws Exception {
        String xml = new DomainXml(KVM).render(GIT);
        System.out.println("LAN + sata, kvm:\n" + xml);
        Document doc = Xml.parse("xml", xml, 1 << 20);
        assertEquals("kvm", x(doc, "/domain/@type"));
        assertEquals("af4e47cd-fdda-5b14-be35-ac7c1269d7e5", x(doc, "/domain/uuid"), "RFC 4122 v5 of the name, as Python's uuid5");
        assertEquals("2097152", x(doc, "/domain/memory[@unit='KiB']"));
        assertEquals("host-passthrough", x(doc, "/domain/cpu/@mode"));
        assertEquals("network", x(doc, "/domain/devices/disk/@type"));
        assertEquals("libvirt-sata/git", x(doc, "/domain/devices/disk/source[@protocol='rbd']/@name"));
        assertEquals("libvirt", x(doc, "/domain/devices/disk/auth/@username"));
        assertEquals("client.libvirt secret", x(doc, "/domain/devices/disk/auth/secret[@type='ceph']/@usage"));
        assertEquals("writeback unmap raw", x(doc, "concat(/domain/devices/disk/driver/@cache, ' ',"
                + " /domain/devices/disk/driver/@discard, ' ', /domain/devices/disk/driver/@type)"));
        assertEquals("10.0.0.1:6789 ceph-mon2.example:3300 2001:db8::3:6789", hosts(doc));
        assertEquals("vxbr10", x(doc, "/domain/devices/interface[@type='bridge']/source/@bridge"));
        assertEquals("52:54:00:7a:86:dd", x(doc, "/domain/devices/interface/mac/@address"), "as computed independently");
        assertEquals("1450", x(doc, "/domain/devices/interface/mtu/@size"), "the VXLAN bridge's MTU: 1500 less 50");
        assertEquals("1", x(doc, "/domain/devices/interface/boot/@order"), "network first");
        assertEquals("2", x(doc, "/domain/devices/disk/boot/@order"), "then the disk");
        assertEquals("", x(doc, "/domain/os/boot/@dev"), "per-device boot order only: libvirt refuses both kinds");
        assertEquals("destroy restart restart", x(doc, "concat(/domain/on_poweroff, ' ', /domain/on_reboot, ' ', /domain/on_crash)"));
        assertEquals("serial", x(doc, "/domain/devices/console[@type='pty']/target/@type"));
    }

    @Test
    void aFailoverVmOnRawUsesItsOvhMacOnThePublicBridgeAndALocalImage() throws Exception {
        String xml = new DomainXml(TCG).render(WEB);
        System.out.println("failover + raw, qemu:\n" + xml);
        Document doc = Xml.parse("xml", xml, 1 << 20);
        assertEquals("qemu", x(doc, "/domain/@type"));
        assertEquals("", x(doc, "/domain/cpu/@mode"), "no host CPU to pass through under TCG");
        assertEquals("02:00:00:ab:cd:ef", x(doc, "/domain/devices/interface/mac/@address"), "the OVH virtual MAC, lowercased");
        assertEquals("vmbr-pub", x(doc, "/domain/devices/interface/source/@bridge"));
        assertEquals("", x(doc, "/domain/devices/interface/mtu/@size"), "the public bridge's MTU is the uplink's");
        assertEquals("file", x(doc, "/domain/devices/disk/@type"));
        assertEquals("/srv/virtfleet/images/web1.img", x(doc, "/domain/devices/disk/source/@file"));
        assertEquals("raw", x(doc, "/domain/devices/disk/driver/@type"));
        assertEquals("", x(doc, "/domain/devices/disk/auth/@username"));
    }

    @Test
    void withAFleetCpuModelEveryDefinitionNamesItExactlyUnderKvmAndTcgAlike() throws Exception {
        CpuModel model = fleetModel();
        for (DomainSettings settings : List.of(KVM, TCG)) {
            String xml = new DomainXml(settings, model).render(GIT);
            Document doc = Xml.parse("xml", xml, 1 << 20);
            assertEquals("custom exact partial", x(doc, "concat(/domain/cpu/@mode, ' ', /domain/cpu/@match, ' ',"
                    + " /domain/cpu/@check)"), "the same guest CPU on every host, checked by libvirt: " + xml);
            assertEquals("EPYC", x(doc, "/domain/cpu/model"));
            assertEquals("forbid", x(doc, "/domain/cpu/model/@fallback"), "never another model where EPYC is missing");
            assertEquals("AMD", x(doc, "/domain/cpu/vendor"));
            assertEquals(model.features().size(), Integer.parseInt(x(doc, "count(/domain/cpu/feature)")));
            assertEquals("require", x(doc, "/domain/cpu/feature[@name='la57']/@policy"));
            assertEquals("disable", x(doc, "/domain/cpu/feature[@name='nrip-save']/@policy"));
            assertEquals("", x(doc, "/domain/cpu/feature[@name='vaes']/@policy"), "not in the baseline");
            assertEquals(1, Integer.parseInt(x(doc, "count(/domain/cpu)")), "no host-passthrough beside it");
        }
        assertEquals(new DomainXml(KVM, model).render(GIT), new DomainXml(KVM, fleetModel()).render(GIT), "same bytes");
    }

    /** libvirt's baseline of two TCG hosts' CPUs, as it wrote it. */
    private static CpuModel fleetModel() throws java.io.IOException {
        try (var in = DomainXmlTest.class.getResourceAsStream("/cpu/baseline-epyc-tcg.xml")) {
            return CpuModel.parse("fixture", new String(in.readAllBytes(), java.nio.charset.StandardCharsets.UTF_8));
        }
    }

    @Test
    void theSameSpecAlwaysGivesTheSameBytesAndEveryNameItsOwnIdentity() {
        String first = new DomainXml(KVM).render(GIT);
        assertEquals(first, new DomainXml(KVM).render(GIT.toBuilder().build()));
        assertEquals(first, new DomainXml(KVM).render(GIT.toBuilder().setProfile("api").setReplicated(true).build()),
                "profile and replication are not part of the definition");
        String renamed = new DomainXml(KVM).render(GIT.toBuilder().setName("git2").build());
        assertNotEquals(DomainXml.identityOf("x", first).uuid(), DomainXml.identityOf("x", renamed).uuid());

        assertEquals(UUID.fromString("35987db4-590e-5966-a9c6-c4e2150aa8f0"), DomainIdentity.uuid("a"));
        assertEquals(UUID.fromString("6aa6e06e-dd4a-519b-a559-7bd056d5894f"), DomainIdentity.uuid("web1"));
        assertEquals(5, DomainIdentity.uuid("git").version());
        assertEquals("52:54:00:b9:24:10", DomainIdentity.lanMac("a"));
        MacAddress mac = MacAddress.parse("mac", DomainIdentity.lanMac("web1"));
        assertTrue(mac.locallyAdministered());
        assertEquals("52:54:00:21:d0:58", mac.text());
    }

    @Test
    void hostileSpecsAreRefusedNamingTheField() {
        DomainXml renderer = new DomainXml(KVM);
        assertRefused("spec.name", renderer, b -> b.setName("git</name><emulator>/bin/sh</emulator><name>x"));
        assertRefused("spec.name", renderer, b -> b.setName("$(reboot)"));
        assertRefused("spec.name", renderer, b -> b.setName("../../etc/passwd"));
        assertRefused("spec.name", renderer, b -> b.setName("a".repeat(64)));
        assertRefused("spec.storage", renderer, b -> b.setStorageValue(9));
        assertRefused("spec.network.lan", renderer, b -> b.setNetwork(NetworkSpec.newBuilder().setLan(0)));
        assertRefused("spec.network.lan", renderer, b -> b.setNetwork(NetworkSpec.newBuilder().setLan(1 << 24)));
        assertRefused("spec.network", renderer, VmSpec.Builder::clearNetwork);
        assertRefused("spec.network.failover.mac", renderer, b -> b.setNetwork(NetworkSpec.newBuilder()
                .setFailover(FailoverIp.newBuilder().setAddress("203.0.113.7").setMac("ff:ff:ff:ff:ff:ff"))));
        assertRefused("spec.memory_bytes", renderer, b -> b.setMemoryBytes(Bytes.MIB));
        assertRefused("spec.vcpus", renderer, b -> b.setVcpus(0));
        assertRefused("spec.disk_bytes", renderer, b -> b.setDiskBytes(-1));
        assertThrows(InvalidInputException.class, () -> renderer.render(null));
    }

    @Test
    void settingsThatCouldEscapeTheirPlaceAreRefused() {
        DomainSettings d = DomainSettings.defaults();
        assertEquals("domain-type", assertThrows(InvalidInputException.class, () -> d.withDomainType("xen")).field());
        assertEquals("images-dir", assertThrows(InvalidInputException.class,
                () -> d.withImagesDirectory(Path.of("/var/lib/../../etc"))).field());
        assertEquals("images-dir", assertThrows(InvalidInputException.class,
                () -> d.withImagesDirectory(Path.of("images"))).field());
        assertEquals("public-bridge", assertThrows(InvalidInputException.class, () -> d.withPublicBridge("br0 up")).field());
        assertEquals("public-bridge", assertThrows(InvalidInputException.class,
                () -> d.withPublicBridge("a-very-long-bridge")).field(), "over 15 characters");
        assertEquals("ssd-pool", assertThrows(InvalidInputException.class, () -> new DomainSettings("kvm", "q35", List.of(),
                "libvirt", "pool/other", "libvirt-sata", Path.of("/var/lib/libvirt/images"), "br0")).field());
        assertEquals("ceph-client", assertThrows(InvalidInputException.class, () -> new DomainSettings("kvm", "q35", List.of(),
                "admin secret", "libvirt-ssd", "libvirt-sata", Path.of("/var/lib/libvirt/images"), "br0")).field());
        assertEquals("ceph-monitors", assertThrows(InvalidInputException.class,
                () -> d.withCephMonitors(List.of(Endpoint.parse("m", "10.0.0.1:0")))).field());
    }

    @Test
    void readingBackRefusesWhatIsNotADomainAndAnyDoctype() {
        String xml = new DomainXml(KVM).render(GIT);
        assertEquals(new DomainXml.Identity("git", DomainIdentity.uuid("git")), DomainXml.identityOf("domain_xml", xml));
        assertThrows(InvalidInputException.class, () -> DomainXml.identityOf("domain_xml",
                "<!DOCTYPE domain [<!ENTITY n SYSTEM \"file:///etc/hostname\">]><domain><name>&n;</name></domain>"));
        assertThrows(InvalidInputException.class, () -> DomainXml.identityOf("domain_xml", "<network><name>git</name></network>"));
        assertThrows(InvalidInputException.class, () -> DomainXml.identityOf("domain_xml", "<domain><name>git</name></domain>"));
    }

    // ---------------------------------------------------------------------------------------------------

    /** @param cpu the fleet CPU model it was rendered with; null for none */
    private record Rendered(VmSpec spec, DomainSettings settings, CpuModel cpu, String xml) {}

    /**
     * Every tier, LANs 1, 10 and 16777215 and failover, disks 1 GiB to 16 TiB, memory from the smallest to 1 TiB
     * (and a byte count that is not whole KiB), 1 to 256 vCPUs, names of 1 and 63 characters: each value at
     * least once, combined by different strides so neighbours differ in every field.
     */
    private static List<VmSpec> variety() {
        List<StorageTier> tiers = List.of(StorageTier.STORAGE_TIER_SSD, StorageTier.STORAGE_TIER_SATA, StorageTier.STORAGE_TIER_RAW);
        List<NetworkSpec> networks = List.of(NetworkSpec.newBuilder().setLan(1).build(),
                NetworkSpec.newBuilder().setLan(16_777_215).build(), NetworkSpec.newBuilder().setLan(10).build(),
                NetworkSpec.newBuilder().setFailover(FailoverIp.newBuilder().setAddress("198.51.100.20")
                        .setMac("02:00:00:00:00:01")).build());
        List<Long> disks = List.of(Bytes.GIB, 20 * Bytes.GIB, 3 * Bytes.TIB, 16 * Bytes.TIB);
        List<Long> memories = List.of(128 * Bytes.MIB, 128 * Bytes.MIB + 1, 2 * Bytes.GIB, 96 * Bytes.GIB, Bytes.TIB);
        List<Integer> vcpus = List.of(1, 2, 16, 256);
        List<String> names = List.of("a", "z".repeat(63), "git", "web-1", "0", "api-test-42");
        List<VmSpec> out = new ArrayList<>();
        for (int i = 0; i < 24; i++) {
            out.add(VmSpec.newBuilder().setName(names.get(i % names.size())).setStorage(tiers.get((i + i / 6) % tiers.size()))
                    .setNetwork(networks.get(i / 3 % networks.size())).setDiskBytes(disks.get(i * 3 % disks.size()))
                    .setMemoryBytes(memories.get(i % memories.size())).setVcpus(vcpus.get(i / 2 % vcpus.size()))
                    .setProfile("base").build());
        }
        return out;
    }

    private static void assertReadsBackAsItsSpec(Rendered r) throws XPathExpressionException {
        Document doc = Xml.parse("xml", r.xml, 1 << 20);
        VmSpec s = r.spec;
        assertEquals(s.getName(), x(doc, "/domain/name"));
        assertEquals(DomainIdentity.uuid(s.getName()).toString(), x(doc, "/domain/uuid"));
        assertEquals(Long.toString((s.getMemoryBytes() + 1023) / 1024), x(doc, "/domain/memory"));
        assertEquals(x(doc, "/domain/memory"), x(doc, "/domain/currentMemory"));
        assertEquals(Integer.toString(s.getVcpus()), x(doc, "/domain/vcpu"));
        assertEquals(r.settings.domainType(), x(doc, "/domain/@type"));
        assertEquals(r.settings.machineType(), x(doc, "/domain/os/type/@machine"));
        assertEquals(r.cpu != null ? "custom" : r.settings.domainType().equals("kvm") ? "host-passthrough" : "",
                x(doc, "/domain/cpu/@mode"));
        switch (s.getStorage()) {
            case STORAGE_TIER_RAW -> assertEquals(r.settings.imagesDirectory().resolve(s.getName() + ".img").toString(),
                    x(doc, "/domain/devices/disk[@type='file']/source/@file"));
            case STORAGE_TIER_SSD -> assertEquals("libvirt-ssd/" + s.getName(), x(doc, "/domain/devices/disk[@type='network']/source/@name"));
            default -> assertEquals("libvirt-sata/" + s.getName(), x(doc, "/domain/devices/disk[@type='network']/source/@name"));
        }
        assertEquals("vda", x(doc, "/domain/devices/disk/target/@dev"));
        if (s.getNetwork().hasFailover()) {
            assertEquals(s.getNetwork().getFailover().getMac(), x(doc, "/domain/devices/interface/mac/@address"));
            assertEquals(r.settings.publicBridge(), x(doc, "/domain/devices/interface/source/@bridge"));
            assertEquals("", x(doc, "/domain/devices/interface/mtu/@size"));
        } else {
            assertEquals(DomainIdentity.lanMac(s.getName()), x(doc, "/domain/devices/interface/mac/@address"));
            assertEquals("vxbr" + Integer.toUnsignedLong(s.getNetwork().getLan()), x(doc, "/domain/devices/interface/source/@bridge"));
            assertEquals(Integer.toString(DomainXml.LAN_MTU), x(doc, "/domain/devices/interface/mtu/@size"));
        }
        assertFalse(r.xml.contains("<!DOCTYPE"));
    }

    private static Command.Result validate(Path file) {
        return Command.of("virt-xml-validate", file.toString(), "domain").timeout(Duration.ofSeconds(30)).run();
    }

    private static String hosts(Document doc) throws XPathExpressionException {
        List<String> out = new ArrayList<>();
        var nodes = (org.w3c.dom.NodeList) xpath().evaluate("/domain/devices/disk/source/host", doc,
                javax.xml.xpath.XPathConstants.NODESET);
        for (int i = 0; i < nodes.getLength(); i++) {
            var e = (org.w3c.dom.Element) nodes.item(i);
            out.add(e.getAttribute("name") + ":" + e.getAttribute("port"));
        }
        return String.join(" ", out);
    }

    private static String x(Document doc, String expression) throws XPathExpressionException {
        return xpath().evaluate(expression, doc);
    }

    private static XPath xpath() {
        return XPathFactory.newInstance().newXPath();
    }

    private static void assertRefused(String field, DomainXml renderer, UnaryOperator<VmSpec.Builder> change) {
        InvalidInputException e = assertThrows(InvalidInputException.class,
                () -> renderer.render(change.apply(GIT.toBuilder()).build()));
        assertEquals(field, e.field(), e.getMessage());
    }
}
