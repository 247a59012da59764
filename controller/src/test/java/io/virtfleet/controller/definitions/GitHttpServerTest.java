package io.virtfleet.controller.definitions;

import static io.virtfleet.controller.definitions.GitHttpFixture.domainXml;
import static io.virtfleet.controller.definitions.GitHttpFixture.files;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.virtfleet.agent.sync.DefinitionsClone;
import io.virtfleet.agent.sync.PullResult;
import io.virtfleet.common.security.CertificateAuthority;
import io.virtfleet.common.security.CredentialsBundle;
import io.virtfleet.common.security.FleetIdentity;
import io.virtfleet.common.security.Keys;
import io.virtfleet.common.security.Pem;
import io.virtfleet.common.security.TlsCredentials;
import java.io.IOException;
import java.math.BigInteger;
import java.net.ConnectException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyPair;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.security.cert.Certificate;
import java.security.cert.X509Certificate;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Date;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import javax.net.SocketFactory;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.GeneralName;
import org.bouncycastle.asn1.x509.GeneralNames;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.cert.jcajce.JcaX509v3CertificateBuilder;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;
import org.eclipse.jgit.dircache.DirCache;
import org.eclipse.jgit.dircache.DirCacheBuilder;
import org.eclipse.jgit.dircache.DirCacheEntry;
import org.eclipse.jgit.lib.CommitBuilder;
import org.eclipse.jgit.lib.Constants;
import org.eclipse.jgit.lib.FileMode;
import org.eclipse.jgit.lib.ObjectId;
import org.eclipse.jgit.lib.ObjectInserter;
import org.eclipse.jgit.lib.PersonIdent;
import org.eclipse.jgit.lib.RefUpdate;
import org.eclipse.jgit.lib.Repository;
import org.eclipse.jgit.lib.TreeFormatter;
import org.eclipse.jgit.storage.file.FileRepositoryBuilder;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Agents replicate the controller's definitions repository with a real git fetch over HTTPS: the controller's
 * git server and an agent's {@code DefinitionsClone}, both with the fleet's certificates, on loopback.
 */
class GitHttpServerTest {
    private static final String WEB = "etc/libvirt/qemu/web.xml";
    private static final String DB = "etc/libvirt/qemu/db.xml";

    @TempDir
    Path work;

    private GitHttpFixture controller;

    @BeforeEach
    void start() throws IOException {
        controller = GitHttpFixture.start(work, GitHttpServer.Limits.defaults());
        controller.commit("create web and db", Map.of(
                WEB, domainXml("web", 1024), "vms/web.json", "{\"name\":\"web\"}",
                DB, domainXml("db", 2048), "vms/db.json", "{\"name\":\"db\"}"), Set.of());
    }

    @AfterEach
    void stop() {
        controller.close();
    }

    @Test
    void anAgentClonesOnceThenFetchesWhatChanged() throws IOException {
        Path dir = work.resolve("hv1/srv/common");
        DefinitionsClone clone = controller.cloneFor(controller.agent("hv1"), dir);

        PullResult first = clone.pull();
        assertEquals(Optional.empty(), first.previous());
        assertEquals(controller.repo.head(), first.commit());
        assertEquals(List.of("db", "web"), first.added());
        assertEquals(List.of(), first.changed());
        assertEquals(List.of(), first.removed());
        assertEquals(files(controller.repo.root()), files(dir), "the clone holds the controller's tree");

        String before = controller.repo.head();
        controller.commit("web gets more memory, app is created, db is deleted", Map.of(
                WEB, domainXml("web", 4096), "etc/libvirt/qemu/app.xml", domainXml("app", 512), "vms/app.json", "{}"),
                Set.of(DB, "vms/db.json"));
        PullResult second = clone.pull();
        assertEquals(Optional.of(before), second.previous());
        assertEquals(controller.repo.head(), second.commit());
        assertEquals(List.of("app"), second.added());
        assertEquals(List.of("web"), second.changed());
        assertEquals(List.of("db"), second.removed());
        assertEquals(List.of(), second.ignored());
        assertEquals(files(controller.repo.root()), files(dir));
        assertEquals(domainXml("web", 4096), Files.readString(clone.definition("web")));
        assertThrows(IOException.class, () -> clone.definition("db"));

        PullResult third = clone.pull();
        assertFalse(third.moved());
        assertFalse(third.definitionsChanged());
        System.out.printf("git over HTTPS (JGit client, loopback): first clone %d ms, fetch of one change %d ms,"
                + " fetch with nothing new %d ms%n", first.took().toMillis(), second.took().toMillis(), third.took().toMillis());
    }

    @Test
    void aDefinitionEditedOrDeletedByHandInTheCloneIsPutBackAndReported() throws IOException {
        Path dir = work.resolve("hv1/srv/common");
        DefinitionsClone clone = controller.cloneFor(controller.agent("hv1"), dir);
        clone.pull();
        Files.writeString(dir.resolve(WEB), "<domain>edited by hand</domain>");
        Files.delete(dir.resolve(DB));
        Files.writeString(dir.resolve("etc/libvirt/qemu/stray.xml"), "<domain/>"); // untracked: not ours to touch

        PullResult pulled = clone.pull();
        assertEquals(List.of("db", "web"), pulled.changed());
        assertEquals(List.of(), pulled.added());
        assertEquals(domainXml("web", 1024), Files.readString(dir.resolve(WEB)));
        assertEquals(domainXml("db", 2048), Files.readString(dir.resolve(DB)));
    }

    @Test
    void filesThatAreNotDefinitionsAreNeverReportedAsDefinitions() throws IOException {
        Path dir = work.resolve("hv1/srv/common");
        DefinitionsClone clone = controller.cloneFor(controller.agent("hv1"), dir);
        clone.pull();
        controller.commit("odd files", Map.of(
                "etc/libvirt/qemu/a b.xml", domainXml("a b", 1), "etc/libvirt/qemu/Upper.xml", domainXml("Upper", 1),
                "etc/libvirt/qemu/networks/default.xml", "<network/>", "etc/libvirt/qemu/notes.txt", "hello",
                "etc/libvirt/qemu/ok.xml", domainXml("ok", 1)), Set.of());
        try {
            controller.commit("escape", Map.of("etc/libvirt/qemu/../../x.xml", domainXml("x", 1)), Set.of());
        } catch (IllegalArgumentException | IOException refused) {
            // the controller's repository may refuse the name itself; either way the agent must not see "x"
        }
        PullResult pulled = clone.pull();
        assertEquals(List.of("ok"), pulled.added());
        assertEquals(List.of(), pulled.changed());
        assertEquals(List.of("etc/libvirt/qemu/Upper.xml", "etc/libvirt/qemu/a b.xml",
                "etc/libvirt/qemu/networks/default.xml", "etc/libvirt/qemu/notes.txt"), pulled.ignored());
        assertFalse(Files.exists(dir.resolve("etc/x.xml")));
        assertFalse(Files.exists(work.resolve("hv1/srv/x.xml")), "nothing written outside the clone");
    }

    @Test
    void aLinkInTheRepositoryIsNeitherADefinitionNorALinkInTheClone() throws IOException {
        Path dir = work.resolve("hv1/srv/common");
        DefinitionsClone clone = controller.cloneFor(controller.agent("hv1"), dir);
        clone.pull();
        String hostile = rawCommit("a link", repo -> {
            DirCache index = DirCache.newInCore();
            DirCacheBuilder builder = index.builder();
            try (ObjectInserter inserter = repo.newObjectInserter()) {
                builder.add(entry(DB, FileMode.REGULAR_FILE, inserter.insert(Constants.OBJ_BLOB, domainXml("db", 2048).getBytes())));
                builder.add(entry("etc/libvirt/qemu/evil.xml", FileMode.SYMLINK,
                        inserter.insert(Constants.OBJ_BLOB, "/etc/passwd".getBytes())));
                builder.add(entry(WEB, FileMode.REGULAR_FILE, inserter.insert(Constants.OBJ_BLOB, domainXml("web", 1024).getBytes())));
                builder.finish();
                ObjectId tree = index.writeTree(inserter);
                inserter.flush();
                return tree;
            }
        });
        PullResult pulled = clone.pull();
        assertEquals(hostile, pulled.commit());
        assertEquals(List.of(), pulled.added());
        assertEquals(List.of("etc/libvirt/qemu/evil.xml"), pulled.ignored());
        Path evil = dir.resolve("etc/libvirt/qemu/evil.xml");
        assertFalse(Files.isSymbolicLink(evil), "checked out as a plain file");
        assertEquals("/etc/passwd", Files.readString(evil));
    }

    @Test
    void aTreeThatClimbsOutOfTheCloneIsRefusedAndTheCloneStaysWhereItWas() throws IOException {
        Path dir = work.resolve("hv1/srv/common");
        DefinitionsClone clone = controller.cloneFor(controller.agent("hv1"), dir);
        String good = clone.pull().commit();
        // etc/libvirt/qemu/../../x.xml, as a tree no git command would write
        rawCommit("climb out", repo -> {
            try (ObjectInserter inserter = repo.newObjectInserter()) {
                ObjectId blob = inserter.insert(Constants.OBJ_BLOB, domainXml("x", 1).getBytes());
                ObjectId tree = tree(inserter, "x.xml", FileMode.REGULAR_FILE, blob);
                for (String name : List.of("..", "..", "qemu", "libvirt", "etc")) {
                    tree = tree(inserter, name, FileMode.TREE, tree);
                }
                inserter.flush();
                return tree;
            }
        });
        IOException refused = assertThrows(IOException.class, clone::pull);
        assertTrue(refused.getMessage().contains(".."), refused.getMessage());
        try (Repository local = new FileRepositoryBuilder().setWorkTree(dir.toFile()).setMustExist(true).build()) {
            assertEquals(good, local.resolve("refs/heads/main").name());
        }
        assertFalse(Files.exists(dir.resolve("etc/x.xml")));
        assertFalse(Files.exists(work.resolve("hv1/srv/x.xml")));
    }

    @Test
    void operatorsAndTheControllerMayFetchToo() throws IOException {
        Path bundle = work.resolve("alice.pem");
        controller.pki.writeOperatorBundle("alice", FleetIdentity.Role.VIEWER, Duration.ofDays(1), bundle);
        for (TlsCredentials who : List.of(CredentialsBundle.read(bundle), controller.pki.credentials())) {
            Path dir = work.resolve(who.identity().name() + "/clone");
            PullResult pulled = controller.cloneFor(who, dir).pull();
            assertEquals(List.of("db", "web"), pulled.added(), who.identity().toString());
            assertEquals(files(controller.repo.root()), files(dir));
        }
    }

    @Test
    void clientsWithoutAFleetCertificateAreRefused() throws Exception {
        // No certificate at all (the client trusts the fleet CA, so only its own side is missing).
        KeyStore trust = KeyStore.getInstance(KeyStore.getDefaultType());
        trust.load(null, null);
        trust.setCertificateEntry("ca", controller.pki.ca().certificate());
        TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        tmf.init(trust);
        SSLContext anonymous = SSLContext.getInstance("TLSv1.3");
        anonymous.init(null, tmf.getTrustManagers(), null);
        assertRefused(() -> controller.raw(anonymous.getSocketFactory(),
                "GET /definitions.git/info/refs?service=git-upload-pack HTTP/1.1", null));

        // A certificate naming an agent, from another CA.
        CertificateAuthority other = CertificateAuthority.loadOrCreate(work.resolve("other-ca"), Clock.systemUTC());
        TlsCredentials foreign = controller.issuedBy(other, FleetIdentity.agent("hv1"));
        Path dir = work.resolve("foreign/clone");
        assertThrows(IOException.class, () -> controller.cloneFor(foreign, dir).pull());
        try (Repository local = new FileRepositoryBuilder().setWorkTree(dir.toFile()).setMustExist(true).build()) {
            assertEquals(null, local.resolve("refs/heads/main"), "nothing was fetched");
        }

        // Plain HTTP on the HTTPS port.
        GitHttpFixture.Raw plain = controller.raw(SocketFactory.getDefault(),
                "GET /definitions.git/info/refs?service=git-upload-pack HTTP/1.1", null);
        assertEquals(-1, plain.status(), "no HTTP answer to plain HTTP: " + plain.text());

        // The server is unharmed and still serves the fleet.
        assertEquals(List.of("db", "web"), controller.cloneFor(controller.agent("hv2"), work.resolve("hv2/c")).pull().added());
    }

    @Test
    void aFleetCaCertificateNamingNoIdentityIsForbidden() throws Exception {
        // Signed by the fleet CA itself, so TLS accepts it, but it names no virtfleet identity.
        PrivateKey caKey = Pem.privateKey(Files.readString(controller.pki.directory().resolve("ca.key")));
        X509Certificate ca = controller.pki.ca().certificate();
        KeyPair keys = Keys.generate();
        Instant now = Instant.now();
        X509Certificate nobody = new JcaX509CertificateConverter().getCertificate(new JcaX509v3CertificateBuilder(ca,
                BigInteger.valueOf(now.toEpochMilli()), Date.from(now.minusSeconds(60)), Date.from(now.plusSeconds(3600)),
                new X500Name("CN=nobody"), keys.getPublic())
                .addExtension(Extension.subjectAlternativeName, false, new GeneralNames(
                        new GeneralName(GeneralName.dNSName, "nobody.virtfleet.internal")))
                .build(new JcaContentSignerBuilder("SHA256withECDSA").build(caKey)));
        KeyStore store = KeyStore.getInstance("PKCS12");
        store.load(null, null);
        store.setKeyEntry("nobody", keys.getPrivate(), new char[0], new Certificate[] {nobody, ca});
        KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
        kmf.init(store, new char[0]);
        KeyStore trust = KeyStore.getInstance("PKCS12");
        trust.load(null, null);
        trust.setCertificateEntry("ca", ca);
        TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        tmf.init(trust);
        SSLContext context = SSLContext.getInstance("TLSv1.3");
        context.init(kmf.getKeyManagers(), tmf.getTrustManagers(), null);

        GitHttpFixture.Raw r = controller.raw(context.getSocketFactory(),
                "GET /definitions.git/info/refs?service=git-upload-pack HTTP/1.1", null);
        assertEquals(403, r.status(), r.text());
        assertTrue(r.text().contains("a certificate naming a virtfleet identity may not read"), r.text());
    }

    @Test
    void tenAgentsCloneAFleetSizedRepositoryAtOnce() throws Exception {
        // 300 definitions with incompressible parts: a pack of several hundred KiB, sent in many chunks.
        Random random = new Random(42);
        Map<String, String> writes = new HashMap<>();
        for (int i = 0; i < 300; i++) {
            byte[] noise = new byte[1024];
            random.nextBytes(noise);
            writes.put("etc/libvirt/qemu/vm" + i + ".xml", domainXml("vm" + i, 1024).replace("<vcpu>",
                    "<description>" + HexFormat.of().formatHex(noise) + "</description>\n  <vcpu>"));
        }
        controller.commit("300 VMs", writes, Set.of());
        PullResult alone = controller.cloneFor(controller.agent("hv0"), work.resolve("hv0/srv/common")).pull();
        assertEquals(302, alone.added().size());
        int agents = 10;
        ExecutorService pool = Executors.newFixedThreadPool(agents);
        try {
            List<Future<PullResult>> pulls = new ArrayList<>();
            long start = System.nanoTime();
            for (int i = 1; i <= agents; i++) {
                DefinitionsClone clone = controller.cloneFor(controller.agent("hv" + i), work.resolve("hv" + i + "/srv/common"));
                pulls.add(pool.submit(clone::pull));
            }
            List<Long> took = new ArrayList<>();
            for (Future<PullResult> pull : pulls) {
                PullResult r = pull.get(120, TimeUnit.SECONDS);
                assertEquals(302, r.added().size());
                took.add(r.took().toMillis());
            }
            long all = (System.nanoTime() - start) / 1_000_000;
            assertEquals(files(controller.repo.root()), files(work.resolve("hv7/srv/common")));

            controller.commit("vm7 changes", Map.of("etc/libvirt/qemu/vm7.xml", domainXml("vm7", 2048)), Set.of());
            PullResult fetched = controller.cloneFor(controller.agent("hv1"), work.resolve("hv1/srv/common")).pull();
            assertEquals(List.of("vm7"), fetched.changed());
            Collections.sort(took);
            System.out.printf("300 definitions (%d KiB of XML): one agent alone cloned in %d ms; %d agents cloned at once"
                    + " in %d ms (each %d..%d ms); then one fetch of one change %d ms%n",
                    writes.values().stream().mapToInt(String::length).sum() / 1024, alone.took().toMillis(),
                    agents, all, took.get(0), took.get(took.size() - 1), fetched.took().toMillis());
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void aServerThatIsNotTheControllerIsNotTrusted() throws IOException {
        // Another party of the fleet (an agent, whose certificate is as valid as the controller's) serving git.
        TlsCredentials hv2 = controller.agent("hv2");
        try (GitHttpServer impostor = GitHttpServer.start(controller.repo, hv2, new InetSocketAddress("127.0.0.1", 0),
                GitHttpServer.Limits.defaults())) {
            DefinitionsClone clone = new DefinitionsClone(work.resolve("hv1/srv/common"),
                    new io.virtfleet.common.validation.Endpoint("127.0.0.1", impostor.port()), controller.agent("hv1"),
                    Duration.ofSeconds(20));
            IOException refused = assertThrows(IOException.class, clone::pull);
            assertTrue(refused.getMessage().contains("virtfleet:agent:hv2") && refused.getMessage().contains("virtfleet:controller"),
                    refused.getMessage());
        }
    }

    @Test
    void aRevokedOperatorIsRefusedFromItsNextRequestOn() throws Exception {
        controller.commit("first", Map.of("etc/libvirt/qemu/db.xml", GitHttpFixture.domainXml("db", 512)), Set.of());
        var revoked = io.virtfleet.controller.trust.RevokedOperators.open(work.resolve("revoked-operators"));
        Path bundle = work.resolve("alice.pem");
        controller.pki.writeOperatorBundle("alice", FleetIdentity.Role.VIEWER, Duration.ofDays(1), bundle);
        try (GitHttpServer guarded = GitHttpServer.start(controller.repo, controller.pki.credentials(),
                new InetSocketAddress("127.0.0.1", 0), GitHttpServer.Limits.defaults(), revoked)) {
            DefinitionsClone clone = new DefinitionsClone(work.resolve("alice/clone"),
                    new io.virtfleet.common.validation.Endpoint("127.0.0.1", guarded.port()), CredentialsBundle.read(bundle),
                    Duration.ofSeconds(20));
            clone.pull();
            revoked.revoke("alice", java.time.Instant.now());
            IOException refused = assertThrows(IOException.class, clone::pull);
            assertTrue(refused.getMessage().contains("not permitted"), refused.getMessage()); // JGit's word for a 403
        }
    }

    @Test
    void pushIsRefused() throws IOException {
        var tls = controller.agent("hv1").httpsClient(FleetIdentity.controller());
        GitHttpFixture.Raw advertise = controller.raw(tls, "GET /definitions.git/info/refs?service=git-receive-pack HTTP/1.1", null);
        assertEquals(403, advertise.status());
        assertTrue(advertise.text().contains("read-only"), advertise.text());
        GitHttpFixture.Raw push = controller.raw(tls, "POST /definitions.git/git-receive-pack HTTP/1.1\r\n"
                + "Content-Type: application/x-git-receive-pack-request", "0000".getBytes(StandardCharsets.US_ASCII));
        assertEquals(403, push.status());
    }

    @Test
    void onlyTheRepositorysTwoPathsAreServed() throws IOException {
        var tls = controller.agent("hv1").httpsClient(FleetIdentity.controller());
        Map<String, Integer> expected = new HashMap<>();
        expected.put("GET /definitions.git/../definitions.git/info/refs?service=git-upload-pack HTTP/1.1", 404);
        expected.put("GET /definitions.git/%2e%2e/etc/passwd HTTP/1.1", 404);
        expected.put("GET /../../etc/passwd HTTP/1.1", 404);
        expected.put("GET /other.git/info/refs?service=git-upload-pack HTTP/1.1", 404);
        expected.put("GET /definitions.git/HEAD HTTP/1.1", 404);
        expected.put("GET /definitions.git/objects/info/packs HTTP/1.1", 404);
        expected.put("GET //definitions.git/info/refs?service=git-upload-pack HTTP/1.1", 404);
        expected.put("GET https://controller.virtfleet.internal/definitions.git/info/refs?service=git-upload-pack HTTP/1.1", 404);
        expected.put("GET /definitions.git/info/refs HTTP/1.1", 403); // the dumb protocol
        expected.put("GET /definitions.git/info/refs?service=git-upload-pack&service=git-receive-pack HTTP/1.1", 403);
        expected.put("POST /definitions.git/info/refs?service=git-upload-pack HTTP/1.1", 405);
        expected.put("GET /definitions.git/git-upload-pack HTTP/1.1", 405);
        expected.put("DELETE /definitions.git/git-upload-pack HTTP/1.1", 405);
        expected.put("POST /definitions.git/git-upload-pack HTTP/1.1\r\nContent-Type: text/plain", 415);
        expected.put("GET /definitions.git/info/refs?service=git-upload-pack HTTP/1.1\r\nX-Long: " + "a".repeat(9000), 431);
        expected.put("GET /" + "a".repeat(5000) + " HTTP/1.1", 414);
        expected.put("GARBAGE", 400);
        for (Map.Entry<String, Integer> e : expected.entrySet()) {
            byte[] body = e.getKey().startsWith("POST") ? new byte[4] : null;
            GitHttpFixture.Raw r = controller.raw(tls, e.getKey(), body);
            assertEquals(e.getValue(), r.status(), e.getKey().substring(0, Math.min(80, e.getKey().length())) + " -> " + r.text());
        }
        assertEquals(200, controller.raw(tls, "GET /definitions.git/info/refs?service=git-upload-pack HTTP/1.1", null).status());
    }

    @Test
    void anOversizedRequestIsRefusedUnread() throws IOException {
        var tls = controller.agent("hv1").httpsClient(FleetIdentity.controller());
        GitHttpFixture.Raw r = controller.raw(tls, "POST /definitions.git/git-upload-pack HTTP/1.1\r\n"
                + "Content-Type: application/x-git-upload-pack-request", new byte[5 * 1024 * 1024]);
        assertEquals(413, r.status());
    }

    @Test
    void aClientThatDoesNotFinishItsRequestIsCutOff() throws IOException {
        try (GitHttpFixture slow = GitHttpFixture.start(work.resolve("slow"), new GitHttpServer.Limits(64 * 1024,
                Duration.ofSeconds(5), Duration.ofSeconds(1), Duration.ofSeconds(30), Duration.ofSeconds(5), 16, 1, 4))) {
            var tls = slow.agent("hv1").httpsClient(FleetIdentity.controller());
            try (Socket socket = tls.socketFactory().createSocket("127.0.0.1", slow.server.port())) {
                socket.setSoTimeout(10_000);
                socket.getOutputStream().write("GET /definitions.git/info/refs?service=git-upload-pack HTTP/1.1\r\nHost: x\r\n"
                        .getBytes(StandardCharsets.US_ASCII));
                socket.getOutputStream().flush();
                long start = System.nanoTime();
                assertEquals(-1, socket.getInputStream().read(), "closed without an answer");
                long waited = (System.nanoTime() - start) / 1_000_000;
                assertTrue(waited >= 500 && waited < 5_000, "cut off after " + waited + " ms");
            }
        }
    }

    @Test
    void closingTheServerStopsItsPort() throws Exception {
        int port = controller.server.port();
        controller.server.close();
        controller.server.close(); // twice is fine
        assertThrows(ConnectException.class, () -> new Socket("127.0.0.1", port).close());
        long deadline = System.nanoTime() + 2_000_000_000L;
        while (serverThreads() > 0 && System.nanoTime() < deadline) {
            Thread.sleep(20);
        }
        assertEquals(0, serverThreads(), "the server's event loop and workers are gone");
    }

    private static long serverThreads() {
        return Thread.getAllStackTraces().keySet().stream().filter(t -> t.getName().startsWith("vf-git-http") && t.isAlive()).count();
    }

    private interface Refusable {
        Object call() throws Exception;
    }

    private static void assertRefused(Refusable call) {
        try {
            Object answer = call.call();
            assertTrue(answer instanceof GitHttpFixture.Raw raw && raw.status() == -1, "expected a refusal, got " + answer);
        } catch (Exception e) {
            // refused during or right after the handshake
        }
    }

    private interface TreeMaker {
        ObjectId make(Repository repo) throws IOException;
    }

    /** Commits a tree built by hand on the controller's main, as a compromised or buggy controller could. */
    private String rawCommit(String message, TreeMaker trees) throws IOException {
        try (Repository repo = new FileRepositoryBuilder().setGitDir(controller.repo.root().resolve(".git").toFile())
                .setMustExist(true).build(); ObjectInserter inserter = repo.newObjectInserter()) {
            ObjectId parent = repo.resolve("refs/heads/main");
            CommitBuilder commit = new CommitBuilder();
            commit.setTreeId(trees.make(repo));
            commit.setParentId(parent);
            PersonIdent who = new PersonIdent("mallory", "mallory@example.invalid");
            commit.setAuthor(who);
            commit.setCommitter(who);
            commit.setMessage(message);
            ObjectId id = inserter.insert(commit);
            inserter.flush();
            RefUpdate update = repo.updateRef("refs/heads/main");
            update.setNewObjectId(id);
            update.setExpectedOldObjectId(parent);
            assertEquals(RefUpdate.Result.FAST_FORWARD, update.update());
            return id.name();
        }
    }

    private static DirCacheEntry entry(String path, FileMode mode, ObjectId blob) {
        DirCacheEntry e = new DirCacheEntry(path);
        e.setFileMode(mode);
        e.setObjectId(blob);
        return e;
    }

    private static ObjectId tree(ObjectInserter inserter, String name, FileMode mode, ObjectId id) throws IOException {
        TreeFormatter tree = new TreeFormatter();
        tree.append(name, mode, id);
        return inserter.insert(tree);
    }
}
