package io.virtfleet.controller.definitions;

import static io.virtfleet.controller.definitions.GitHttpFixture.domainXml;
import static io.virtfleet.controller.definitions.GitHttpFixture.files;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.virtfleet.common.process.Command;
import io.virtfleet.common.security.CertificateAuthority;
import io.virtfleet.common.security.FleetIdentity;
import io.virtfleet.common.security.Keys;
import io.virtfleet.common.security.Pem;
import io.virtfleet.common.files.StateFiles;
import java.io.IOException;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyPair;
import java.security.interfaces.ECPrivateKey;
import java.security.cert.X509Certificate;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.bouncycastle.asn1.DERBitString;
import org.bouncycastle.asn1.pkcs.PrivateKeyInfo;
import org.bouncycastle.asn1.sec.SECObjectIdentifiers;
import org.bouncycastle.asn1.x509.AlgorithmIdentifier;
import org.bouncycastle.asn1.x509.SubjectPublicKeyInfo;
import org.bouncycastle.asn1.x9.X9ObjectIdentifiers;
import org.bouncycastle.util.io.pem.PemObject;
import org.bouncycastle.util.io.pem.PemWriter;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The controller's git server is a real git smart-HTTP server: the git CLI (curl and OpenSSL underneath)
 * clones and fetches from it with a fleet certificate, over protocol v2 and v0, and is refused a push and
 * refused without a certificate. The git package comes from deploy/dev/install-deps.sh.
 */
class GitHttpCliInteropTest {
    private static final String WEB = "etc/libvirt/qemu/web.xml";

    @TempDir
    Path work;

    private GitHttpFixture controller;
    private Path home;

    @BeforeEach
    void start() throws Exception {
        controller = GitHttpFixture.start(work, GitHttpServer.Limits.defaults());
        controller.commit("create web", Map.of(WEB, domainXml("web", 1024), "vms/web.json", "{}"), Set.of());
        home = Files.createDirectories(work.resolve("home")); // no user or system git config leaks in
        KeyPair keys = Keys.generate();
        X509Certificate cert = controller.pki.ca().issue(keys.getPublic(), FleetIdentity.agent("hv1"), Duration.ofDays(1), List.of());
        StateFiles.writePrivate(work.resolve("hv1.key"), keyPem(keys));
        Files.writeString(work.resolve("hv1.crt"), Pem.of(cert));
        Files.writeString(work.resolve("ca.crt"), Pem.of(controller.pki.ca().certificate()));
    }

    @AfterEach
    void stop() {
        controller.close();
    }

    @Test
    void gitClonesAndFetchesWithAFleetCertificate() throws IOException {
        assertTrue(Command.of("git", "--version").run().exitCode() == 0,
                "the git CLI is needed: run deploy/dev/install-deps.sh");
        Path clone = work.resolve("git-clone");
        Command.Result cloned = git(true, "clone", "--branch", "main", url(), clone.toString());
        assertEquals(0, cloned.exitCode(), cloned.stderr());
        assertEquals(files(controller.repo.root()), files(clone));

        String head = controller.commit("web gets more memory", Map.of(WEB, domainXml("web", 2048)), Set.of());
        Command.Result fetched = git(true, "-C", clone.toString(), "fetch", "origin");
        assertEquals(0, fetched.exitCode(), fetched.stderr());
        assertEquals(head, git(false, "-C", clone.toString(), "rev-parse", "origin/main").stdout().strip());
        System.out.printf("git CLI over HTTPS (protocol v2, loopback): clone %d ms, fetch %d ms%n",
                cloned.elapsed().toMillis(), fetched.elapsed().toMillis());

        Path v0 = work.resolve("git-clone-v0");
        Command.Result oldProtocol = git(true, "-c", "protocol.version=0", "clone", url(), v0.toString());
        assertEquals(0, oldProtocol.exitCode(), oldProtocol.stderr());
        assertEquals(head, git(false, "-C", v0.toString(), "rev-parse", "HEAD").stdout().strip());
    }

    @Test
    void gitIsRefusedAPush() throws IOException {
        Path clone = work.resolve("git-clone");
        assertEquals(0, git(true, "clone", url(), clone.toString()).exitCode());
        Files.writeString(clone.resolve("etc/libvirt/qemu/evil.xml"), domainXml("evil", 1));
        git(false, "-C", clone.toString(), "add", "-A");
        assertEquals(0, git(false, "-C", clone.toString(), "-c", "user.name=m", "-c", "user.email=m@example.invalid",
                "commit", "-q", "-m", "evil").exitCode());
        String before = controller.repo.head();
        Command.Result push = git(true, "-C", clone.toString(), "push", "origin", "HEAD:refs/heads/main");
        assertNotEquals(0, push.exitCode());
        assertTrue(push.stderr().contains("403"), push.stderr());
        assertEquals(before, controller.repo.head(), "the controller's repository is unchanged");
    }

    @Test
    void gitWithoutACertificateOrWithAForeignOneIsRefused() throws Exception {
        Command.Result anonymous = git(false, "-c", "http.sslCAInfo=" + work.resolve("ca.crt"), "-c", resolve(),
                "ls-remote", url());
        assertNotEquals(0, anonymous.exitCode(), anonymous.stdout());

        CertificateAuthority other = CertificateAuthority.loadOrCreate(work.resolve("other-ca"), Clock.systemUTC());
        KeyPair keys = Keys.generate();
        X509Certificate foreign = other.issue(keys.getPublic(), FleetIdentity.agent("hv1"), Duration.ofDays(1), List.of());
        StateFiles.writePrivate(work.resolve("foreign.key"), keyPem(keys));
        Files.writeString(work.resolve("foreign.crt"), Pem.of(foreign));
        Command.Result impostor = git(false, "-c", "http.sslCAInfo=" + work.resolve("ca.crt"), "-c", resolve(),
                "-c", "http.sslCert=" + work.resolve("foreign.crt"), "-c", "http.sslKey=" + work.resolve("foreign.key"),
                "ls-remote", url());
        assertNotEquals(0, impostor.exitCode(), impostor.stdout());
        assertTrue(!impostor.stdout().contains("refs/heads/main"), impostor.stdout());

        Command.Result trusted = git(true, "ls-remote", url());
        assertEquals(0, trusted.exitCode(), trusted.stderr());
        assertTrue(trusted.stdout().contains(controller.repo.head() + "\trefs/heads/main"), trusted.stdout());
    }

    /**
     * The key as PKCS#8 with its public key inside the EC structure. The JDK's own encoding (what
     * {@code Pem.of} writes) leaves the public key out; OpenSSL recomputes it, but GnuTLS, under Debian's git,
     * refuses such a key ("error reading X.509 key or certificate file").
     */
    private static String keyPem(KeyPair keys) throws IOException {
        ECPrivateKey key = (ECPrivateKey) keys.getPrivate();
        byte[] point = SubjectPublicKeyInfo.getInstance(keys.getPublic().getEncoded()).getPublicKeyData().getBytes();
        AlgorithmIdentifier algorithm = new AlgorithmIdentifier(X9ObjectIdentifiers.id_ecPublicKey, SECObjectIdentifiers.secp256r1);
        PrivateKeyInfo info = new PrivateKeyInfo(algorithm, new org.bouncycastle.asn1.sec.ECPrivateKey(256, key.getS(),
                new DERBitString(point), null));
        StringWriter out = new StringWriter();
        try (PemWriter pem = new PemWriter(out)) {
            pem.writeObject(new PemObject("PRIVATE KEY", info.getEncoded()));
        }
        return out.toString();
    }

    /** The URL by the controller's certificate name, resolved to the loopback port, as an agent would dial it. */
    private String url() {
        return "https://" + FleetIdentity.controller().dnsName() + ":" + controller.server.port() + "/definitions.git";
    }

    private String resolve() {
        return "http.curloptResolve=" + FleetIdentity.controller().dnsName() + ":" + controller.server.port() + ":127.0.0.1";
    }

    private Command.Result git(boolean withCertificate, String... args) {
        List<String> argv = new ArrayList<>(List.of("git"));
        if (withCertificate) {
            argv.addAll(List.of("-c", "http.sslCAInfo=" + work.resolve("ca.crt"), "-c", "http.sslCert=" + work.resolve("hv1.crt"),
                    "-c", "http.sslKey=" + work.resolve("hv1.key"), "-c", resolve()));
        }
        argv.addAll(List.of(args));
        // GIT_SSL_CAINFO, when a machine exports it, overrides http.sslCAInfo: pin it to the fleet CA as well.
        return Command.of(argv).timeout(Duration.ofSeconds(60))
                .env("HOME", home.toString()).env("GIT_CONFIG_NOSYSTEM", "1").env("GIT_TERMINAL_PROMPT", "0")
                .env("GIT_ASKPASS", "/bin/false").env("LC_ALL", "C").env("GIT_SSL_CAINFO", work.resolve("ca.crt").toString())
                .run();
    }
}
