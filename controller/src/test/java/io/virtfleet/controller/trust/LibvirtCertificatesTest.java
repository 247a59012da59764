package io.virtfleet.controller.trust;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.virtfleet.common.security.FleetIdentity;
import io.virtfleet.common.security.Keys;
import io.virtfleet.common.security.LibvirtCertificate;
import io.virtfleet.common.security.Pem;
import io.virtfleet.controller.registry.HostRecord;
import io.virtfleet.controller.registry.HostRegistry;
import io.virtfleet.proto.v1.HostReport;
import io.virtfleet.proto.v1.LibvirtCertificateResponse;
import java.math.BigInteger;
import java.nio.file.Path;
import java.security.KeyPair;
import java.security.cert.X509Certificate;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Optional;
import javax.security.auth.x500.X500Principal;
import org.bouncycastle.asn1.pkcs.PKCSObjectIdentifiers;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.ExtensionsGenerator;
import org.bouncycastle.asn1.x509.GeneralName;
import org.bouncycastle.asn1.x509.GeneralNames;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;
import org.bouncycastle.pkcs.jcajce.JcaPKCS10CertificationRequestBuilder;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A host's libvirt certificate names the host and the migration address the controller knows from its report, never
 * what the request asks for, and never an address another host reports or holds.
 */
class LibvirtCertificatesTest {
    private static final Duration LIFETIME = Duration.ofDays(30);

    @TempDir
    Path dir;

    private ControllerPki pki;
    private EnrolledHosts enrolled;
    private HostRegistry registry;

    @BeforeEach
    void setUp() throws Exception {
        pki = ControllerPki.open(dir, Clock.systemUTC(), Duration.ofDays(1));
        enrolled = new EnrolledHosts(dir.resolve("enrolled-hosts"));
        registry = new HostRegistry();
    }

    @Test
    void aHostGetsACertificateForItsReportedAddressWhateverItsRequestAsksFor() throws Exception {
        X509Certificate hv1 = enroll("hv1");
        report("hv1", "10.213.0.11");
        KeyPair key = Keys.generate();
        // The request names another host and another address: both are ignored.
        String request = Pem.of(new JcaPKCS10CertificationRequestBuilder(
                new X500Name("O=virtfleet,OU=libvirt,CN=hv2"), key.getPublic())
                .addAttribute(PKCSObjectIdentifiers.pkcs_9_at_extensionRequest, sanExtension("hv2", "10.213.0.12"))
                .build(new JcaContentSignerBuilder("SHA256withECDSA").build(key.getPrivate())));

        Instant before = Instant.now();
        LibvirtCertificateResponse response = certificates().issue(FleetIdentity.agent("hv1"), hv1, request);
        X509Certificate issued = Pem.certificates(response.getCertificatePem()).get(0);

        assertEquals("10.213.0.11", response.getAddress());
        assertEquals(pki.ca().certificate(), Pem.certificates(response.getCaPem()).get(0));
        issued.verify(pki.ca().certificate().getPublicKey());
        assertEquals(key.getPublic(), issued.getPublicKey());
        // As libvirt prints it (virt-pki-query-dn): the attributes in certificate order.
        assertEquals("O=virtfleet,OU=libvirt,CN=hv1", inCertificateOrder(issued.getSubjectX500Principal()));
        assertEquals(Optional.of("hv1"), LibvirtCertificate.host(issued));
        assertEquals(List.of(List.of(2, "hv1"), List.of(7, "10.213.0.11")), List.copyOf(issued.getSubjectAlternativeNames()));
        assertEquals(List.of("1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2"), issued.getExtendedKeyUsage(), "server and client");
        // digitalSignature and keyEncipherment, critical: libvirt and QEMU refuse a critical usage without the latter.
        assertArrayEquals(new boolean[] {true, false, true, false, false, false, false, false, false}, issued.getKeyUsage());
        assertTrue(issued.getCriticalExtensionOIDs().contains(Extension.keyUsage.getId()));
        assertEquals(-1, issued.getBasicConstraints(), "not a CA");
        assertEquals(Optional.empty(), FleetIdentity.of(issued), "it opens no gRPC API: it names no fleet identity");
        assertTrue(Duration.between(before, issued.getNotAfter().toInstant()).compareTo(LIFETIME.minusMinutes(1)) > 0
                && issued.getNotAfter().toInstant().isBefore(Instant.now().plus(LIFETIME).plusSeconds(1)), "valid as agents' are");
    }

    @Test
    void hostsThatAreNotEnrolledOrHaveNoUsableAddressAreRefused() throws Exception {
        LibvirtCertificates certificates = certificates();
        // A certificate the fleet CA signed for a host never enrolled (or forgotten since).
        X509Certificate stranger = pki.ca().issue(Keys.generate().getPublic(), FleetIdentity.agent("hv9"), LIFETIME, List.of());
        report("hv9", "10.213.0.19");
        assertRefused(Status.Code.PERMISSION_DENIED, "does not speak for an enrolled host",
                () -> certificates.issue(FleetIdentity.agent("hv9"), stranger, csr()));

        X509Certificate hv1 = enroll("hv1");
        assertRefused(Status.Code.FAILED_PRECONDITION, "host hv1 has not registered with the controller",
                () -> certificates.issue(FleetIdentity.agent("hv1"), hv1, csr()));
        report("hv1", "");
        assertRefused(Status.Code.FAILED_PRECONDITION, "host hv1 reports no migration address",
                () -> certificates.issue(FleetIdentity.agent("hv1"), hv1, csr()));
        report("hv1", "127.0.0.1");
        assertRefused(Status.Code.FAILED_PRECONDITION, "migration_address: \"127.0.0.1\" is not accepted",
                () -> certificates.issue(FleetIdentity.agent("hv1"), hv1, csr()));

        // Re-enrolled: its previous certificate no longer speaks for it.
        X509Certificate replaced = enroll("hv1");
        enrolled.enrolled("hv1", BigInteger.TEN);
        report("hv1", "10.213.0.11");
        assertRefused(Status.Code.PERMISSION_DENIED, "does not speak for an enrolled host",
                () -> certificates.issue(FleetIdentity.agent("hv1"), replaced, csr()));
    }

    @Test
    void anAddressAnotherHostReportsOrHoldsACertificateForIsNotGiven() throws Exception {
        LibvirtCertificates certificates = certificates();
        X509Certificate hv1 = enroll("hv1");
        X509Certificate hv2 = enroll("hv2");
        report("hv1", "10.213.0.11");
        certificates.issue(FleetIdentity.agent("hv1"), hv1, csr());

        // hv2 claims hv1's address: refused while hv1 reports it...
        report("hv2", "10.213.0.11");
        assertRefused(Status.Code.FAILED_PRECONDITION, "which host hv1 reports too",
                () -> certificates.issue(FleetIdentity.agent("hv2"), hv2, csr()));
        // ...and while hv1's certificate names it, also after a controller restart where hv1 has not reported yet.
        LibvirtCertificates restarted = new LibvirtCertificates(pki, enrolled, reportsOf(registry), dir, LIFETIME);
        registry.forget("hv1");
        assertRefused(Status.Code.FAILED_PRECONDITION, "is named by the libvirt certificate of host hv1",
                () -> restarted.issue(FleetIdentity.agent("hv2"), hv2, csr()));

        // hv1 moves to another address and gets its certificate for it: the old one is free.
        report("hv1", "10.213.0.21");
        X509Certificate moved = Pem.certificates(restarted.issue(FleetIdentity.agent("hv1"), hv1, csr())
                .getCertificatePem()).get(0);
        assertEquals(List.of("10.213.0.21"), LibvirtCertificate.addresses(moved));
        assertEquals("10.213.0.11", restarted.issue(FleetIdentity.agent("hv2"), hv2, csr()).getAddress());

        // hv3 wants hv1's new address while hv1 is away: refused until hv1 is forgotten.
        X509Certificate hv3 = enroll("hv3");
        registry.forget("hv1");
        report("hv3", "10.213.0.21");
        assertRefused(Status.Code.FAILED_PRECONDITION, "virtfleet host forget hv1",
                () -> restarted.issue(FleetIdentity.agent("hv3"), hv3, csr()));
        enrolled.forget("hv1");
        assertEquals("10.213.0.21", restarted.issue(FleetIdentity.agent("hv3"), hv3, csr()).getAddress());
    }

    private LibvirtCertificates certificates() throws Exception {
        return new LibvirtCertificates(pki, enrolled, reportsOf(registry), dir, LIFETIME);
    }

    /** The registry's reports, as the controller wires them. */
    static LibvirtCertificates.Reports reportsOf(HostRegistry registry) {
        return new LibvirtCertificates.Reports() {
            @Override
            public Optional<HostReport> of(String host) {
                return registry.get(host).map(HostRecord::report);
            }

            @Override
            public List<HostReport> all() {
                return registry.all().stream().map(HostRecord::report).toList();
            }
        };
    }

    /** An agent certificate of {@code host}, which from now on speaks for it. */
    private X509Certificate enroll(String host) throws Exception {
        X509Certificate certificate = pki.ca().issue(Keys.generate().getPublic(), FleetIdentity.agent(host), LIFETIME, List.of());
        enrolled.enrolled(host, certificate.getSerialNumber());
        return certificate;
    }

    /** The host registers (again) with a report naming this migration address. */
    private void report(String host, String migrationAddress) {
        registry.register("agent-" + host, host + ":7441", "test", List.of("ssd"),
                HostReport.newBuilder().setHostName(host).setMigrationAddress(migrationAddress).build());
    }

    private static String csr() {
        KeyPair key = Keys.generate();
        return Pem.of(Keys.signingRequest(key, "anything"));
    }

    private static org.bouncycastle.asn1.x509.Extensions sanExtension(String dns, String ip) throws Exception {
        ExtensionsGenerator extensions = new ExtensionsGenerator();
        extensions.addExtension(Extension.subjectAlternativeName, false, new GeneralNames(new GeneralName[] {
            new GeneralName(GeneralName.dNSName, dns), new GeneralName(GeneralName.iPAddress, ip)}));
        return extensions.generate();
    }

    /** RFC 2253 lists a name's attributes last first; libvirt lists them as the certificate holds them. */
    private static String inCertificateOrder(X500Principal principal) {
        List<String> parts = new java.util.ArrayList<>(List.of(principal.getName(X500Principal.RFC2253).split(",")));
        java.util.Collections.reverse(parts);
        return String.join(",", parts);
    }

    private static void assertRefused(Status.Code code, String says, org.junit.jupiter.api.function.Executable call) {
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, call);
        assertEquals(code, e.getStatus().getCode(), e.getStatus().toString());
        assertTrue(e.getStatus().getDescription().contains(says), e.getStatus().getDescription());
    }
}
