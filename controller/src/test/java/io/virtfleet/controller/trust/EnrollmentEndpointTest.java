package io.virtfleet.controller.trust;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import io.virtfleet.common.security.Keys;
import io.virtfleet.common.security.Pem;
import io.virtfleet.proto.v1.CertificateResponse;
import io.virtfleet.proto.v1.EnrollRequest;
import java.math.BigInteger;
import java.nio.file.Path;
import java.security.KeyPair;
import java.security.cert.X509Certificate;
import java.security.KeyPairGenerator;
import java.security.spec.ECGenParameterSpec;
import java.util.ArrayList;
import java.util.List;
import java.time.Clock;
import java.time.Duration;
import org.bouncycastle.asn1.DERBitString;
import org.bouncycastle.asn1.pkcs.CertificationRequest;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;
import org.bouncycastle.pkcs.jcajce.JcaPKCS10CertificationRequestBuilder;
import org.bouncycastle.pkcs.PKCS10CertificationRequest;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A join token is used up only by the enrollment it allows: a refused request leaves it as it was. */
class EnrollmentEndpointTest {
    @TempDir
    Path dir;

    private ControllerPki pki;
    private JoinTokens tokens;
    private EnrolledHosts hosts;
    private EnrollmentEndpoint endpoint;

    @BeforeEach
    void setUp() throws Exception {
        pki = ControllerPki.open(dir, Clock.systemUTC(), Duration.ofDays(1));
        tokens = new JoinTokens(dir.resolve("join-tokens"), Clock.systemUTC(), pki.ca().fingerprint());
        hosts = new EnrolledHosts(dir.resolve("enrolled-hosts"));
        endpoint = new EnrollmentEndpoint(pki, tokens, hosts, Duration.ofDays(30), Runnable::run, Runnable::run, libvirt(pki));
    }

    @Test
    void aRequestNotSignedByItsKeyDoesNotUseUpTheToken() throws Exception {
        String token = tokens.create(Duration.ofMinutes(10), "", false).token();
        PKCS10CertificationRequest good = Keys.signingRequest(Keys.generate(), "hv1");
        PKCS10CertificationRequest forged = new PKCS10CertificationRequest(new CertificationRequest(
                good.toASN1Structure().getCertificationRequestInfo(), good.getSignatureAlgorithm(),
                new DERBitString(Keys.signingRequest(Keys.generate(), "hv1").getSignature())));

        Outcome refused = enroll(token, "hv1", Pem.of(forged));
        assertEquals(Status.Code.INVALID_ARGUMENT, refused.error.getCode(), refused.error.toString());
        assertTrue(refused.error.getDescription().startsWith("csr_pem: "), refused.error.toString());
        assertFalse(hosts.isEnrolled("hv1"), "nothing enrolled");

        Outcome enrolled = enroll(token, "hv1", Pem.of(good));
        assertNull(enrolled.error, () -> "the token still works: " + enrolled.error);
        assertTrue(hosts.isEnrolled("hv1"));
    }

    @Test
    void anEnrolledHostNameRefusedDoesNotUseUpTheToken() throws Exception {
        assertNull(enroll(tokens.create(Duration.ofMinutes(10), "", false).token(), "hv1", csr()).error);
        String token = tokens.create(Duration.ofMinutes(10), "", false).token();

        Outcome refused = enroll(token, "hv1", csr());
        assertEquals(Status.Code.PERMISSION_DENIED, refused.error.getCode());
        assertTrue(refused.error.getDescription().startsWith("host hv1 is already enrolled"), refused.error.getDescription());
        assertTrue(refused.error.getDescription().contains("--reenroll"), refused.error.getDescription());

        Outcome other = enroll(token, "hv2", csr());
        assertNull(other.error, () -> "the token still works for a new host: " + other.error);
        assertNotNull(other.response);
        Outcome again = enroll(token, "hv3", csr());
        assertTrue(again.error.getDescription().contains("was already used"), again.error.getDescription());
    }

    @Test
    void aUsedTokenIsGrantedAgainOnlyToWhoHoldsTheKeyItEnrolled() throws Exception {
        String token = tokens.create(Duration.ofMinutes(10), "", false).token();
        KeyPair key = Keys.generate();
        Outcome first = enroll(token, "hv1", Pem.of(Keys.signingRequest(key, "hv1")));
        assertNull(first.error, () -> "enrolled: " + first.error);
        BigInteger lost = Pem.certificates(first.response.getCertificatePem()).get(0).getSerialNumber();

        // Someone who saw the token and the public key, but has not got the private key: the request is not
        // signed by the key it names, so it is refused before the token is looked at.
        PKCS10CertificationRequest named = Keys.signingRequest(key, "hv1");
        PKCS10CertificationRequest stolen = new PKCS10CertificationRequest(new CertificationRequest(
                named.toASN1Structure().getCertificationRequestInfo(), named.getSignatureAlgorithm(),
                new DERBitString(Keys.signingRequest(Keys.generate(), "hv1").getSignature())));
        Outcome forged = enroll(token, "hv1", Pem.of(stolen));
        assertEquals(Status.Code.INVALID_ARGUMENT, forged.error.getCode());
        assertTrue(forged.error.getDescription().startsWith("csr_pem"), forged.error.getDescription());
        Outcome otherKey = enroll(token, "hv1", csr());
        assertEquals(Status.Code.PERMISSION_DENIED, otherKey.error.getCode());
        assertTrue(otherKey.error.getDescription().contains("was already used"), otherKey.error.getDescription());

        Outcome retry = enroll(token, "hv1", Pem.of(Keys.signingRequest(key, "hv1")));
        assertNull(retry.error, () -> "the retry with the same key is the same enrollment: " + retry.error);
        X509Certificate again = Pem.certificates(retry.response.getCertificatePem()).get(0);
        assertEquals(key.getPublic(), again.getPublicKey());
        assertTrue(hosts.accepts("hv1", again.getSerialNumber()));
        assertFalse(hosts.accepts("hv1", lost), "the certificate the agent never received speaks for no one");

        // An operator forgets the host: the same key cannot bring it back with the token.
        new Enrollments(pki, tokens, hosts, RevokedOperators.open(dir.resolve("revoked-operators")), Clock.systemUTC())
                .forget("hv1");
        Outcome afterForget = enroll(token, "hv1", Pem.of(Keys.signingRequest(key, "hv1")));
        assertEquals(Status.Code.PERMISSION_DENIED, afterForget.error.getCode());
        assertTrue(afterForget.error.getDescription().contains("was already used"), afterForget.error.getDescription());
        assertFalse(hosts.isEnrolled("hv1"));
    }

    @Test
    void aTokenThatIsNotALiveOneIsRefusedWithoutBeingQueued() throws Exception {
        ControllerPki pki = ControllerPki.open(dir, Clock.systemUTC(), Duration.ofDays(1));
        EnrollmentEndpoint guarded = new EnrollmentEndpoint(pki, tokens, hosts, Duration.ofDays(30),
                task -> { throw new AssertionError("a junk token reached the enrollment queue"); }, Runnable::run,
                libvirt(pki));
        String[] good = tokens.create(Duration.ofMinutes(10), "", false).token().split("\\.");
        String used = tokens.create(Duration.ofMinutes(10), "", false).token();
        tokens.redeem(used, "hv9", false, "ab".repeat(32)); // used by another host: no retry for hv1
        String unknownId = good[0] + "." + "0".repeat(16) + "." + good[2] + "." + good[3];
        String wrongSecret = good[0] + "." + good[1] + "." + "A".repeat(43) + "." + good[3];
        String[][] junk = {{"", "malformed"}, {"vfjoin1", "malformed"}, {"x".repeat(5000), "malformed"},
                {good[0] + "." + good[1] + "." + good[2] + "." + "0".repeat(64), "another fleet CA"},
                {unknownId, "unknown join token"}, {wrongSecret, "unknown join token"}, {used, "was already used"}};
        for (String[] j : junk) {
            Outcome outcome = new Outcome();
            guarded.enroll(EnrollRequest.newBuilder().setJoinToken(j[0]).setHostName("hv1").setCsrPem(csr()).build(), outcome);
            assertEquals(Status.Code.PERMISSION_DENIED, outcome.error.getCode());
            assertTrue(outcome.error.getDescription().contains(j[1]), outcome.error.toString());
        }
    }

    @Test
    void theSigningRequestIsParsedOnTheWorkerNotOnTheCallersThread() throws Exception {
        ControllerPki pki = ControllerPki.open(dir, Clock.systemUTC(), Duration.ofDays(1));
        List<Runnable> queued = new ArrayList<>();
        EnrollmentEndpoint held = new EnrollmentEndpoint(pki, tokens, hosts, Duration.ofDays(30), queued::add, Runnable::run,
                libvirt(pki));
        String token = tokens.create(Duration.ofMinutes(10), "", false).token();
        Outcome outcome = new Outcome();
        held.enroll(EnrollRequest.newBuilder().setJoinToken(token).setHostName("hv1").setCsrPem("-----BEGIN junk").build(),
                outcome);
        assertNull(outcome.error, () -> "answered before the worker ran: " + outcome.error);
        assertEquals(1, queued.size());
        queued.get(0).run();
        assertEquals(Status.Code.INVALID_ARGUMENT, outcome.error.getCode(), outcome.error.toString());
        assertTrue(outcome.error.getDescription().startsWith("csr_pem: "), outcome.error.toString());
        assertNull(enroll(token, "hv1", csr()).error, "the token still works");
    }

    @Test
    void onlyEcP256OrP384AndRsa2048To4096KeysAreSigned() throws Exception {
        assertNull(enroll(token(), "hv1", csr()).error, "P-256, what agents and the CLI make (Keys.generate)");
        assertNull(enroll(token(), "hv2", csr(ec("secp384r1"), "SHA384withECDSA")).error, "P-384");
        assertNull(enroll(token(), "hv3", csr(rsa(2048), "SHA256withRSA")).error, "RSA 2048");
        String[] refused = {csr(rsa(1024), "SHA256withRSA"), csr(ec("secp521r1"), "SHA512withECDSA")};
        String[] found = {"\"an RSA key of 1024 bits\"", "\"an EC key on curve 1.3.132.0.35\""};
        for (int i = 0; i < refused.length; i++) {
            String token = token();
            Outcome outcome = enroll(token, "hv" + (4 + i), refused[i]);
            assertEquals(Status.Code.INVALID_ARGUMENT, outcome.error.getCode(), outcome.error.toString());
            assertEquals("csr_pem: " + found[i] + " is not accepted; expected " + CsrKeys.ACCEPTED,
                    outcome.error.getDescription());
            assertNull(enroll(token, "hv" + (4 + i), csr()).error, "the token still works");
        }
    }

    private String token() throws Exception {
        return tokens.create(Duration.ofMinutes(10), "", false).token();
    }

    private static KeyPair rsa(int bits) throws Exception {
        KeyPairGenerator generator = KeyPairGenerator.getInstance("RSA");
        generator.initialize(bits);
        return generator.generateKeyPair();
    }

    private static KeyPair ec(String curve) throws Exception {
        KeyPairGenerator generator = KeyPairGenerator.getInstance("EC");
        generator.initialize(new ECGenParameterSpec(curve));
        return generator.generateKeyPair();
    }

    private static String csr(KeyPair keys, String signature) throws Exception {
        return Pem.of(new JcaPKCS10CertificationRequestBuilder(new X500Name("CN=x"), keys.getPublic())
                .build(new JcaContentSignerBuilder(signature).build(keys.getPrivate())));
    }

    @Test
    void aFullQueueAnswersResourceExhausted() throws Exception {
        ControllerPki pki = ControllerPki.open(dir, Clock.systemUTC(), Duration.ofDays(1));
        EnrollmentEndpoint full = new EnrollmentEndpoint(pki, tokens, hosts, Duration.ofDays(30),
                task -> { throw new java.util.concurrent.RejectedExecutionException("full"); }, Runnable::run,
                libvirt(pki));
        Outcome outcome = new Outcome();
        full.enroll(EnrollRequest.newBuilder().setJoinToken(tokens.create(Duration.ofMinutes(10), "", false).token())
                .setHostName("hv1").setCsrPem(csr()).build(), outcome);
        assertEquals(Status.Code.RESOURCE_EXHAUSTED, outcome.error.getCode());
        assertFalse(hosts.isEnrolled("hv1"));
    }

    private static String csr() {
        return Pem.of(Keys.signingRequest(Keys.generate(), "x"));
    }

    private Outcome enroll(String token, String host, String csr) {
        Outcome outcome = new Outcome();
        endpoint.enroll(EnrollRequest.newBuilder().setJoinToken(token).setHostName(host).setCsrPem(csr).build(), outcome);
        return outcome;
    }

    private static final class Outcome implements StreamObserver<CertificateResponse> {
        CertificateResponse response;
        Status error;

        @Override
        public void onNext(CertificateResponse value) {
            response = value;
        }

        @Override
        public void onError(Throwable t) {
            error = Status.fromThrowable(t);
        }

        @Override
        public void onCompleted() {
        }
    }

    /** Libvirt certificates for no registered host: these tests are about enrollment. */
    private LibvirtCertificates libvirt(ControllerPki pki) throws java.io.IOException {
        return new LibvirtCertificates(pki, hosts, new LibvirtCertificates.Reports() {
            @Override
            public java.util.Optional<io.virtfleet.proto.v1.HostReport> of(String host) {
                return java.util.Optional.empty();
            }

            @Override
            public List<io.virtfleet.proto.v1.HostReport> all() {
                return List.of();
            }
        }, dir, Duration.ofDays(30));
    }
}
