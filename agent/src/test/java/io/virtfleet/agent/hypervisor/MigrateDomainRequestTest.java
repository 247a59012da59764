package io.virtfleet.agent.hypervisor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.ServerInterceptors;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import io.virtfleet.agent.api.AgentService;
import io.virtfleet.common.transport.StatusMapping;
import io.virtfleet.proto.v1.AgentGrpc;
import io.virtfleet.proto.v1.MigrateDomainRequest;
import io.virtfleet.proto.v1.MigrationProgress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.libvirt.Domain;

/**
 * MigrateDomain as the controller calls it, for requests the agent must refuse before libvirt moves anything: each
 * refusal names the field and what is accepted, with the status the contract gives it. libvirt is the test driver,
 * which migrates nothing: what reaches a migration is proven on real libvirtds (the controller module's
 * LiveMigrationTest).
 */
class MigrateDomainRequestTest {
    private static final String HOST = "hv1";
    private static final String OWN_ADDRESS = "10.0.0.11";
    private static final String WEB_UUID = "6f1c3f7e-9d52-4c1a-8d57-3b7a0c2e9a11";
    private static final String DB_UUID = "6f1c3f7e-9d52-4c1a-8d57-3b7a0c2e9a12";

    @TempDir
    Path work;

    private LibvirtHypervisor hypervisor;
    private Migrations migrations;
    private Server server;
    private ManagedChannel channel;
    private AgentGrpc.AgentBlockingStub agent;

    @BeforeEach
    void start() throws Exception {
        Path node = Files.writeString(work.resolve("node.xml"), "<node><cpu><mhz>2000</mhz><model>x86_64</model>"
                + "<active>4</active><nodes>1</nodes><sockets>1</sockets><cores>4</cores><threads>1</threads></cpu>"
                + "<memory>8388608</memory></node>");
        hypervisor = new LibvirtHypervisor("test://" + node.toAbsolutePath());
        hypervisor.call(conn -> {
            Domain web = conn.domainDefineXML(testDomain("web", WEB_UUID));
            web.create();
            web.free();
            conn.domainDefineXML(testDomain("db", DB_UUID)).free();
            return null;
        });
        migrations = new Migrations(hypervisor, images(), null,
                new Migrations.Settings(HOST, work.resolve("state").resolve("libvirt-tls"), () -> Set.of(OWN_ADDRESS)),
                () -> { });
        AgentService service = new AgentService(null, null, null, null, null, null, migrations);
        String name = InProcessServerBuilder.generateName();
        server = InProcessServerBuilder.forName(name)
                .addService(ServerInterceptors.intercept(service, new StatusMapping())).build().start();
        channel = InProcessChannelBuilder.forName(name).build();
        agent = AgentGrpc.newBlockingStub(channel).withDeadlineAfter(60, TimeUnit.SECONDS);
    }

    @AfterEach
    void stop() throws InterruptedException {
        channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        migrations.close();
        hypervisor.close();
    }

    private Path images() {
        return work.resolve("images").toAbsolutePath();
    }

    /** A test-driver domain whose one disk is its own image, as a raw-disk VM's. */
    private String testDomain(String name, String uuid) {
        return "<domain type='test'><name>" + name + "</name><uuid>" + uuid + "</uuid><memory unit='MiB'>64</memory>"
                + "<os><type>hvm</type></os><devices><disk type='file' device='disk'><source file='"
                + images().resolve(name + ".img") + "'/><target dev='vda'/></disk></devices></domain>";
    }

    private static String rbdDomain(String name, String uuid) {
        return "<domain type='test'><name>" + name + "</name><uuid>" + uuid + "</uuid><memory unit='MiB'>64</memory>"
                + "<os><type>hvm</type></os><devices><disk type='network' device='disk'><source protocol='rbd' name='"
                + "libvirt-ssd/" + name + "'/><target dev='vda'/></disk></devices></domain>";
    }

    private MigrateDomainRequest.Builder request() {
        return MigrateDomainRequest.newBuilder().setVmName("web").setTargetHost("hv2").setTargetAddress("10.0.0.12")
                .setTargetDomainXml(testDomain("web", WEB_UUID)).setCopyDisk(true);
    }

    /** Runs the call to its end: the events it streamed, then the status it ended with. */
    private record Outcome(List<MigrationProgress> events, Status status) {}

    private Outcome migrate(MigrateDomainRequest request) {
        List<MigrationProgress> events = new ArrayList<>();
        try {
            agent.migrateDomain(request).forEachRemaining(events::add);
            return new Outcome(events, Status.OK);
        } catch (StatusRuntimeException e) {
            return new Outcome(events, e.getStatus());
        }
    }

    @Test
    void malformedRequestsAreRefusedNamingTheFieldBeforeAnythingHappens() {
        Object[][] cases = {
            {request().setVmName("Web!"), "vm_name: \"Web!\" is not accepted"},
            {request().setTargetHost("hv_2"), "target_host: \"hv_2\" is not accepted"},
            {request().setTargetHost(HOST), "target_host: \"hv1\" is not accepted; expected another fleet host"},
            {request().setTargetAddress(""), "target_address: \"\" is not accepted"},
            {request().setTargetAddress("10.0.0.300"), "target_address: \"10.0.0.300\""},
            {request().setTargetAddress("hv2.example"), "target_address: \"hv2.example\""},
            {request().setTargetAddress("127.0.0.1"), "target_address: \"127.0.0.1\" is not accepted; expected a unicast"},
            {request().setTargetAddress(OWN_ADDRESS), "target_address: \"10.0.0.11\" is not accepted; expected the"
                    + " migration address of the target host hv2"},
            {request().setTargetDomainXml("not xml"), "domain_xml"},
            {request().setTargetDomainXml(testDomain("db", WEB_UUID)), "domain_xml.name: \"db\""},
            {request().setTargetDomainXml(testDomain("web", WEB_UUID).replace("<uuid>" + WEB_UUID + "</uuid>", "")),
                "domain_xml.uuid: \"(none)\""},
            {request().setTargetDomainXml(testDomain("web", WEB_UUID).replace("<devices>",
                    "<devices><emulator>/usr/bin/evil</emulator>")), "domain_xml: \"domain/devices/emulator\""},
            {request().setTargetDomainXml(testDomain("web", WEB_UUID).replace(images() + "/web.img", "/etc/shadow")),
                "domain_xml domain/devices/disk/source/@file: \"/etc/shadow\""},
            {request().setTargetDomainXml(testDomain("web", WEB_UUID).replace(images() + "/web.img", "/etc/web.img")),
                "domain_xml domain/devices/disk/source/@file: \"/etc/web.img\""},
            {request().setTargetImagesDirectory("/srv/images").setTargetDomainXml(testDomain("web", WEB_UUID)),
                "domain_xml domain/devices/disk/source/@file: \"" + images() + "/web.img\""},
            {request().setTargetImagesDirectory("srv/images"), "target_images_directory: \"srv/images\" is not accepted"},
            {request().setTargetImagesDirectory("/srv/../etc"), "target_images_directory: \"/srv/../etc\""},
            {request().setTargetImagesDirectory("/"), "target_images_directory: \"/\""},
            {request().setCopyDisk(false), "copy_disk: \"false\" is not accepted; expected true: web's disk vda is a file"},
            {request().setTargetDomainXml(rbdDomain("web", WEB_UUID)), "copy_disk: \"true\" is not accepted; expected"
                    + " false: web has no local disk"},
        };
        for (Object[] c : cases) {
            MigrateDomainRequest r = ((MigrateDomainRequest.Builder) c[0]).build();
            Outcome outcome = migrate(r);
            assertEquals(Status.Code.INVALID_ARGUMENT, outcome.status().getCode(), outcome.status().toString());
            assertTrue(outcome.status().getDescription().startsWith((String) c[1]), outcome.status().getDescription());
            assertTrue(outcome.events().isEmpty(), "refused before it started: " + outcome.events());
            assertTrue(migrations.inFlight("web").isEmpty(), "the VM is not claimed by a refused request");
        }
    }

    @Test
    void aVmNotDefinedHereIsNotFound() {
        Outcome outcome = migrate(request().setVmName("mail").setTargetDomainXml(testDomain("mail", DB_UUID)).build());
        assertEquals(Status.Code.NOT_FOUND, outcome.status().getCode(), outcome.status().toString());
        assertEquals("mail is not defined on hv1: nothing to migrate", outcome.status().getDescription());
        assertTrue(migrations.inFlight("mail").isEmpty(), "the VM can be asked for again");
    }

    @Test
    void aVmThatDoesNotRunIsRefused() {
        Outcome outcome = migrate(request().setVmName("db").setTargetDomainXml(testDomain("db", DB_UUID)).build());
        assertEquals(Status.Code.FAILED_PRECONDITION, outcome.status().getCode(), outcome.status().toString());
        assertTrue(outcome.status().getDescription().startsWith("db does not run on hv1 (libvirt: shut off)"),
                outcome.status().getDescription());
    }

    @Test
    void aDefinitionOfAnotherDomainOfTheSameNameIsRefused() {
        Outcome outcome = migrate(request().setTargetDomainXml(testDomain("web", DB_UUID)).build());
        assertEquals(Status.Code.INVALID_ARGUMENT, outcome.status().getCode(), outcome.status().toString());
        assertEquals("domain_xml.uuid: \"" + DB_UUID + "\" is not accepted; expected the UUID of the domain web running"
                + " on hv1, " + WEB_UUID, outcome.status().getDescription());
    }

    @Test
    void withoutTheHostsLibvirtClientCertificateNoConnectionIsTried() throws Exception {
        Path tls = Files.createDirectories(work.resolve("state").resolve("libvirt-tls"));
        Files.writeString(tls.resolve("cacert.pem"), "(a CA certificate)");
        Outcome outcome = migrate(request().build());
        assertEquals(Status.Code.FAILED_PRECONDITION, outcome.status().getCode(), outcome.status().toString());
        assertEquals("this host has no libvirt TLS client certificate to migrate with: clientcert.pem, clientkey.pem"
                + " missing in " + tls + " (the fleet-issued cacert.pem, clientcert.pem, clientkey.pem); migrations"
                + " never go unencrypted", outcome.status().getDescription());
        assertEquals(List.of(MigrationProgress.Phase.PHASE_PREPARING),
                outcome.events().stream().map(MigrationProgress::getPhase).toList(), "checked, never connected");
    }

    @Test
    void oneMigrationOfAVmAtATime() {
        Migration first = migrations.prepare(request().build());
        MigrationException second = assertThrows(MigrationException.class, () -> migrations.prepare(request().build()));
        assertEquals(MigrationException.Kind.FAILED_PRECONDITION, second.kind());
        assertTrue(second.getMessage().startsWith("web is already being migrated to hv2: one migration of a VM at a time"),
                second.getMessage());
        assertEquals(first, migrations.inFlight("web").orElseThrow());
        assertFalse(migrations.inFlight("db").isPresent());
        migrations.prepare(request().setVmName("db").setTargetDomainXml(testDomain("db", DB_UUID)).build());
    }

    @Test
    void theTargetIsDialledOverTlsWithTheHostsClientCertificate() {
        assertEquals("qemu+tls://10.0.0.12/system?no_tty=1&pkipath=" + work.toAbsolutePath().resolve("state")
                .resolve("libvirt-tls"), migrations.targetUri(io.virtfleet.common.validation.Ipv4.parse("a", "10.0.0.12")));
        assertEquals("/var/lib/virt%20fleet/a%26b%3Dc/%C3%A9", Migrations.uriEscaped("/var/lib/virt fleet/a&b=c/é"));
    }
}
