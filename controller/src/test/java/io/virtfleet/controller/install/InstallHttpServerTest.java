package io.virtfleet.controller.install;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.virtfleet.controller.definitions.Boot;
import io.virtfleet.controller.definitions.DefinitionsRepo;
import io.virtfleet.controller.definitions.DomainIdentity;
import io.virtfleet.controller.definitions.VmStore;
import io.virtfleet.proto.v1.Vm;
import io.virtfleet.proto.v1.VmSpec;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.logging.Handler;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The install server over real HTTP on loopback, in PXE mode: a VM recorded in a real definitions repository,
 * armed as a create arms it; what its installer may fetch with its token, and everything else refused with 403,
 * nothing marked, and a log line that does not carry the token.
 */
class InstallHttpServerTest {
    private static final Pattern PRESEED_URL = Pattern.compile("preseed/url=(http://\\S+/install/[a-z0-9-]+/([A-Za-z0-9_-]{43})/preseed\\.cfg)");

    @TempDir
    Path work;

    private Path tftp;
    private VmStore store;
    private InstallBook book;
    private Installs installs;
    private InstallHttpServer server;
    private String base;
    private final List<String> installed = new CopyOnWriteArrayList<>();
    private final List<String> refusals = new CopyOnWriteArrayList<>();
    private final Logger handlerLog = Logger.getLogger(InstallHttpHandler.class.getName());
    private final Handler watch = new Handler() {
        @Override
        public void publish(LogRecord r) {
            if (r.getMessage().startsWith("refused install request")) {
                refusals.add(r.getMessage()); // slf4j hands JUL the message already formatted
            }
        }

        @Override
        public void flush() { }

        @Override
        public void close() { }
    };
    private final HttpClient http = HttpClient.newHttpClient();

    @BeforeEach
    void armedServer() throws Exception {
        handlerLog.addHandler(watch);
        tftp = Files.createDirectories(work.resolve("tftp"));
        store = new VmStore(DefinitionsRepo.open(work.resolve("definitions")));
        store.save(Vm.newBuilder().setSpec(Installer.lanVm("web", "api")).setHomeHost("hv1").build(), "<domain/>", "create web", "admin");
        store.save(Vm.newBuilder().setSpec(Installer.lanVm("db", "base")).setHomeHost("hv1").build(), "<domain/>", "create db", "admin");
        int port;
        try (ServerSocket free = new ServerSocket(0)) {
            port = free.getLocalPort();
        }
        base = "http://127.0.0.1:" + port;
        BootSettings boot = new BootSettings(BootMode.PXE, tftp, new InetSocketAddress("127.0.0.1", port), base);
        book = new InstallBook(work.resolve("installs"), System::currentTimeMillis);
        installs = new Installs(boot, Installer.settings(Installer.SHIPPED, Installer.keyFile(work, Installer.ed25519(7, "ops"))),
                book, WithheldTokens.open(work.resolve("install-tokens")), new ProfileCatalog(Installer.SHIPPED), store::get, host -> null);
        installs.onInstalled(installed::add);
        server = InstallHttpServer.start(installs, boot.listen());
    }

    @AfterEach
    void stop() {
        handlerLog.removeHandler(watch);
        server.close();
    }

    private Path pxeFile(String vm) {
        return tftp.resolve("pxelinux.cfg").resolve("01-" + DomainIdentity.lanMac(vm).replace(':', '-'));
    }

    /** Arms the VM as a create does and returns the token its PXE config carries. */
    private String arm(VmSpec spec) throws IOException {
        assertEquals(Boot.network(), installs.arm(spec, "hv1"), "a PXE install boots the network first");
        Matcher m = PRESEED_URL.matcher(Files.readString(pxeFile(spec.getName())));
        assertTrue(m.find(), Files.readString(pxeFile(spec.getName())));
        return m.group(2);
    }

    private HttpResponse<byte[]> get(String path) throws Exception {
        return http.send(HttpRequest.newBuilder(URI.create(base + path)).GET().build(), HttpResponse.BodyHandlers.ofByteArray());
    }

    private static String text(HttpResponse<byte[]> r) {
        return new String(r.body(), StandardCharsets.UTF_8);
    }

    private InstallPhase phase(String vm) {
        return book.get(vm).orElseThrow().phase();
    }

    @Test
    void theInstallerFetchesItsPreseedAndScriptsThenCallsBackAndTheVmBootsFromItsDisk() throws Exception {
        String token = arm(Installer.lanVm("web", "api"));
        String config = Files.readString(pxeFile("web"));
        assertTrue(config.contains("  kernel debian-installer/amd64/linux\n"), config);
        assertTrue(config.contains("  append initrd=debian-installer/amd64/initrd.gz auto=true priority=critical preseed/url="
                + base + "/install/web/" + token + "/preseed.cfg hostname=web domain=vms.example.net"
                + " console=ttyS0,115200n8 --- console=ttyS0,115200n8\n"), config);
        assertEquals(InstallPhase.WAITING, phase("web"));
        assertFalse(Files.readString(work.resolve("installs").resolve("web")).contains(token), "the token itself is not kept");

        HttpResponse<byte[]> preseed = get("/install/web/" + token + "/preseed.cfg");
        assertEquals(200, preseed.statusCode(), text(preseed));
        assertTrue(text(preseed).contains("Debian installer answers for VM web, profile api"), text(preseed));
        String early = Installer.answer(text(preseed), "preseed/early_command");
        for (String p : List.of("base", "api")) {
            assertTrue(early.contains(base + "/install/web/" + token + "/profiles/" + p + "/post-install.sh"), early);
        }
        String late = Installer.answer(text(preseed), "preseed/late_command");
        assertTrue(late.contains(base + "/install/web/" + token + "/done"), late);
        assertEquals(InstallPhase.PRESEED_FETCHED, phase("web"));
        long fetchedAt = book.get("web").orElseThrow().preseedFetchedAt();
        assertTrue(fetchedAt > 0);
        assertEquals(200, get("/install/web/" + token + "/preseed.cfg").statusCode(), "the installer may retry");
        assertEquals(fetchedAt, book.get("web").orElseThrow().preseedFetchedAt(), "the first fetch is the one kept");

        HttpResponse<byte[]> script = get("/install/web/" + token + "/profiles/api/post-install.sh");
        assertEquals(200, script.statusCode());
        assertArrayEquals(Files.readAllBytes(Installer.SHIPPED.resolve("api").resolve("post-install.sh")), script.body());
        assertEquals(200, get("/install/web/" + token + "/profiles/base/post-install.sh").statusCode());

        assertEquals(200, get("/install/web/" + token + "/done").statusCode());
        assertEquals(InstallPhase.INSTALLED, phase("web"));
        assertTrue(book.get("web").orElseThrow().installedAtMs() >= fetchedAt);
        assertTrue(Files.readString(pxeFile("web")).contains("localboot 0"), "per-MAC config now boots the disk");
        assertFalse(Files.readString(pxeFile("web")).contains("preseed"), "no way back into the installer");
        assertEquals(List.of("web"), installed);
        assertEquals(Boot.disk(), installs.bootAfterInstall(), "the VM's definition boots its disk only from now on");

        // The token is spent: nothing more is served with it, and a second done changes nothing.
        assertEquals(403, get("/install/web/" + token + "/preseed.cfg").statusCode());
        assertEquals(403, get("/install/web/" + token + "/profiles/api/post-install.sh").statusCode());
        assertEquals(403, get("/install/web/" + token + "/done").statusCode());
        assertEquals(List.of("web"), installed);

        // The state outlives the controller.
        InstallState reread = new InstallBook(work.resolve("installs"), () -> 0).get("web").orElseThrow();
        assertEquals(book.get("web").orElseThrow(), reread);
    }

    @Test
    void wrongStaleOrForeignTokensUnknownVmsAndPathTricksAre403AndMarkNothing() throws Exception {
        String web = arm(Installer.lanVm("web", "api"));
        String db = arm(Installer.lanVm("db", "base"));
        String wrong = "A".repeat(43);
        List<String> refused = List.of(
                "/install/web/" + wrong + "/preseed.cfg",
                "/install/web/" + wrong + "/done",
                "/install/web/" + db + "/preseed.cfg",          // another VM's token
                "/install/web/" + db + "/done",
                "/install/nope/" + web + "/preseed.cfg",        // no such VM
                "/install/web/" + web.substring(1) + "/preseed.cfg",
                "/install/web/" + web + "/profiles/ui/post-install.sh",      // a profile web does not install from
                "/install/web/" + web + "/profiles/../post-install.sh",
                "/install/web/" + web + "/profiles/%2e%2e/post-install.sh",
                "/install/../install/web/" + web + "/preseed.cfg",
                "/install/%2e%2e/" + web + "/preseed.cfg",
                "/install/web/" + web + "/preseed.cfg?x=1",
                "/install/WEB/" + web + "/preseed.cfg",
                "/install/web/" + web + "/../db/preseed.cfg");
        for (String path : refused) {
            HttpResponse<byte[]> r = get(path);
            assertEquals(403, r.statusCode(), path);
            assertEquals("refused\n", text(r), "the same answer whatever the reason: " + path);
        }
        assertEquals(InstallPhase.WAITING, phase("web"));
        assertEquals(InstallPhase.WAITING, phase("db"));
        assertTrue(Files.exists(pxeFile("web")) && Files.exists(pxeFile("db")));
        assertEquals(List.of(), installed);
        assertEquals(refused.size(), refusals.size(), String.join("\n", refusals));
        for (String line : refusals) {
            assertFalse(line.contains(web) || line.contains(db), "no live token in the log: " + line);
        }
        assertTrue(refusals.get(4).contains("unknown VM nope"), refusals.get(4));

        assertEquals(404, get("/definitions.git/info/refs").statusCode());
        HttpResponse<byte[]> post = http.send(HttpRequest.newBuilder(URI.create(base + "/install/web/" + web + "/done"))
                .POST(HttpRequest.BodyPublishers.noBody()).build(), HttpResponse.BodyHandlers.ofByteArray());
        assertEquals(405, post.statusCode());
        assertEquals(InstallPhase.WAITING, phase("web"));
    }

    @Test
    void aReinstallKillsTheOldTokenAndRewritesTheConfigWithANewOne() throws Exception {
        String first = arm(Installer.lanVm("web", "api"));
        assertEquals(200, get("/install/web/" + first + "/done").statusCode());
        assertTrue(Files.readString(pxeFile("web")).contains("localboot 0"));

        String second = arm(Installer.lanVm("web", "api"));
        assertNotEquals(first, second);
        assertEquals(InstallPhase.WAITING, phase("web"));
        assertEquals(InstallPhase.WAITING, installs.state("web").orElseThrow().phase());
        assertEquals(403, get("/install/web/" + first + "/preseed.cfg").statusCode());
        assertEquals(200, get("/install/web/" + second + "/preseed.cfg").statusCode());
        assertEquals(InstallPhase.PRESEED_FETCHED, phase("web"));

        String third = arm(Installer.lanVm("web", "api"));
        assertEquals(403, get("/install/web/" + second + "/done").statusCode(), "re-armed midway: the running install's token is dead");
        assertEquals(InstallPhase.WAITING, phase("web"));
        assertEquals(200, get("/install/web/" + third + "/done").statusCode());
    }

    @Test
    void aRequestWithABodyOrAHugeLineIsRefusedWithoutReachingTheInstalls() throws Exception {
        String web = arm(Installer.lanVm("web", "api"));
        assertTrue(raw("GET /install/web/" + web + "/done HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 10\r\n\r\n0123456789")
                .startsWith("HTTP/1.1 413"));
        assertTrue(raw("GET /install/" + "a".repeat(5000) + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").matches("(?s)HTTP/1.1 (400|414).*"));
        assertEquals(InstallPhase.WAITING, phase("web"));
    }

    private String raw(String request) throws IOException {
        try (Socket s = new Socket("127.0.0.1", server.port())) {
            s.setSoTimeout(10_000);
            OutputStream out = s.getOutputStream();
            out.write(request.getBytes(StandardCharsets.US_ASCII));
            out.flush();
            InputStream in = s.getInputStream();
            return new String(in.readAllBytes(), StandardCharsets.US_ASCII);
        }
    }
}
