package io.virtfleet.common.security;

import io.virtfleet.common.validation.Ipv4;
import java.security.cert.CertificateParsingException;
import java.security.cert.X509Certificate;
import java.util.Collection;
import java.util.List;
import java.util.Optional;
import org.bouncycastle.asn1.x500.RDN;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x500.X500NameBuilder;
import org.bouncycastle.asn1.x500.style.BCStyle;
import org.bouncycastle.asn1.x500.style.IETFUtils;

/**
 * What a hypervisor's libvirt TLS certificate says: the one its libvirtd and QEMU present to other hosts' for live
 * migration, as server and as client. The fleet CA also signs agents', operators' and the controller's certificates,
 * so libvirtd tells hosts apart by subject: {@code O=virtfleet, OU=libvirt, CN=<host>}, which no other certificate of
 * the fleet carries (theirs have a CN only). It names no {@link FleetIdentity}, so it opens no gRPC API either.
 */
public final class LibvirtCertificate {
    static final String ORGANIZATION = "virtfleet";
    static final String UNIT = "libvirt";
    /**
     * The libvirtd.conf {@code tls_allowed_dn_list} entry admitting every fleet host and nothing else, in the form
     * libvirt matches (its {@code virt-pki-query-dn} prints it: the subject's attributes in certificate order).
     */
    public static final String ALLOWED_DN = "O=" + ORGANIZATION + ",OU=" + UNIT + ",CN=*";

    private static final int SAN_IP = 7;

    private LibvirtCertificate() {}

    /** The subject of the certificate of {@code host}. */
    static X500Name subject(String host) {
        return new X500NameBuilder(BCStyle.INSTANCE)
                .addRDN(BCStyle.O, ORGANIZATION)
                .addRDN(BCStyle.OU, UNIT)
                .addRDN(BCStyle.CN, host)
                .build();
    }

    /** The host a certificate is the libvirt certificate of, when it is one (its subject is exactly as issued). */
    public static Optional<String> host(X509Certificate certificate) {
        X500Name name = X500Name.getInstance(certificate.getSubjectX500Principal().getEncoded());
        RDN[] rdns = name.getRDNs();
        if (rdns.length != 3 || !is(rdns[0], BCStyle.O, ORGANIZATION) || !is(rdns[1], BCStyle.OU, UNIT)
                || rdns[2].isMultiValued() || !rdns[2].getFirst().getType().equals(BCStyle.CN)) {
            return Optional.empty();
        }
        return Optional.of(IETFUtils.valueToString(rdns[2].getFirst().getValue()));
    }

    /** The IPv4 addresses the certificate names (subject alternative names of type IP). */
    public static List<String> addresses(X509Certificate certificate) {
        Collection<List<?>> names;
        try {
            names = certificate.getSubjectAlternativeNames();
        } catch (CertificateParsingException e) {
            return List.of();
        }
        if (names == null) {
            return List.of();
        }
        return names.stream()
                .filter(n -> n.size() == 2 && Integer.valueOf(SAN_IP).equals(n.get(0)))
                .map(n -> String.valueOf(n.get(1)))
                .filter(a -> {
                    try {
                        Ipv4.parse("address", a);
                        return true;
                    } catch (IllegalArgumentException e) {
                        return false;
                    }
                })
                .toList();
    }

    private static boolean is(RDN rdn, org.bouncycastle.asn1.ASN1ObjectIdentifier type, String value) {
        return !rdn.isMultiValued() && rdn.getFirst().getType().equals(type)
                && IETFUtils.valueToString(rdn.getFirst().getValue()).equals(value);
    }
}
