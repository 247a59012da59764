package io.virtfleet.controller.trust;

import io.grpc.Status;
import io.virtfleet.common.security.FleetIdentity;
import io.virtfleet.common.security.Pem;
import io.virtfleet.common.validation.InvalidInputException;
import io.virtfleet.common.validation.Ipv4;
import io.virtfleet.proto.v1.HostReport;
import io.virtfleet.proto.v1.LibvirtCertificateResponse;
import java.io.IOException;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import org.bouncycastle.pkcs.PKCS10CertificationRequest;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Issues hosts their libvirt TLS certificates (see {@link io.virtfleet.common.security.LibvirtCertificate}): the
 * controller, not the asking agent, decides the address one names, from the host's latest report, and never gives
 * an address to a host while another host reports it or holds a certificate for it. Issuances are serialized.
 */
public final class LibvirtCertificates {
    private static final Logger log = LoggerFactory.getLogger(LibvirtCertificates.class);

    /** The latest report of each registered host: where migration addresses come from. */
    public interface Reports {
        /** The host's latest report; empty when it has not registered since the controller started. */
        Optional<HostReport> of(String host);

        /** The latest report of every registered host. */
        List<HostReport> all();
    }

    private final ControllerPki pki;
    private final EnrolledHosts enrolled;
    private final Reports reports;
    private final LibvirtAddresses addresses;
    private final Duration lifetime;

    /**
     * @param dataDir  where the address each host's latest certificate names is kept
     * @param lifetime validity of the certificates: that of agents' own, so both are renewed on the same rhythm
     */
    public LibvirtCertificates(ControllerPki pki, EnrolledHosts enrolled, Reports reports, Path dataDir,
                               Duration lifetime) throws IOException {
        this.pki = pki;
        this.enrolled = enrolled;
        this.reports = reports;
        this.addresses = new LibvirtAddresses(dataDir.resolve(LibvirtAddresses.FILE));
        this.lifetime = lifetime;
    }

    /**
     * Signs the libvirt certificate of the calling agent's host for the key of {@code csrPem}.
     *
     * @param caller      the agent, as its certificate (verified by TLS) names it
     * @param certificate that certificate: it must still speak for the host
     * @throws io.grpc.StatusRuntimeException PERMISSION_DENIED, FAILED_PRECONDITION or UNAVAILABLE, with the reason
     * @throws InvalidInputException          for a signing request the CA cannot sign
     */
    public synchronized LibvirtCertificateResponse issue(FleetIdentity caller, X509Certificate certificate, String csrPem) {
        PKCS10CertificationRequest csr = EnrollmentEndpoint.csr(csrPem);
        String host = caller.name();
        if (caller.kind() != FleetIdentity.Kind.AGENT || !enrolled.accepts(host, certificate.getSerialNumber())) {
            throw Status.PERMISSION_DENIED.withDescription("the certificate of " + caller + " does not speak for an"
                    + " enrolled host; only an enrolled host's agent gets a libvirt certificate").asRuntimeException();
        }
        HostReport report = reports.of(host).orElseThrow(() -> Status.FAILED_PRECONDITION.withDescription("host " + host
                + " has not registered with the controller since it started; its libvirt certificate names the"
                + " migration address of its report: register first").asRuntimeException());
        Ipv4 address = address(host, report);
        for (HostReport other : reports.all()) {
            if (!other.getHostName().equals(host) && other.getMigrationAddress().equals(address.toString())) {
                throw Status.FAILED_PRECONDITION.withDescription("host " + host + " reports migration address " + address
                        + ", which host " + other.getHostName() + " reports too; give each host its own (agent setting"
                        + " migration-address)").asRuntimeException();
            }
        }
        for (String holder : addresses.holders(address.toString())) {
            if (!holder.equals(host) && enrolled.isEnrolled(holder)) {
                throw Status.FAILED_PRECONDITION.withDescription("migration address " + address + " of host " + host
                        + " is named by the libvirt certificate of host " + holder + "; it is freed when " + holder
                        + " reports another address and gets its certificate for it, or when " + holder
                        + " is forgotten (virtfleet host forget " + holder + ")").asRuntimeException();
            }
        }
        try {
            X509Certificate issued = pki.ca().issueLibvirt(csr, host, address, lifetime);
            addresses.issued(host, address.toString());
            log.info("issued the libvirt certificate of host {} for migration address {} (serial {}, valid until {})",
                    host, address, issued.getSerialNumber().toString(16), issued.getNotAfter().toInstant());
            return LibvirtCertificateResponse.newBuilder()
                    .setCertificatePem(Pem.of(issued))
                    .setCaPem(Pem.of(pki.ca().certificate()))
                    .setNotAfterUnixMs(issued.getNotAfter().getTime())
                    .setAddress(address.toString())
                    .build();
        } catch (GeneralSecurityException e) {
            throw new InvalidInputException("csr_pem", e.getMessage(), "a PKCS#10 request signed by its own key");
        } catch (IOException e) {
            log.error("cannot record the libvirt certificate of host {}", host, e);
            throw Status.UNAVAILABLE.withDescription("controller cannot store the libvirt certificate's address: "
                    + e.getMessage()).asRuntimeException();
        }
    }

    /** The migration address of the report, if it is one a certificate may name. */
    private static Ipv4 address(String host, HostReport report) {
        String reported = report.getMigrationAddress();
        if (reported.isEmpty()) {
            throw Status.FAILED_PRECONDITION.withDescription("host " + host + " reports no migration address (agent"
                    + " setting migration-address); its libvirt certificate must name the address other hosts reach"
                    + " its libvirtd on").asRuntimeException();
        }
        try {
            return Ipv4.unicastAddress("migration_address", reported);
        } catch (InvalidInputException e) {
            throw Status.FAILED_PRECONDITION.withDescription("host " + host + " reports a migration address no"
                    + " certificate may name: " + e.getMessage()).asRuntimeException();
        }
    }
}
