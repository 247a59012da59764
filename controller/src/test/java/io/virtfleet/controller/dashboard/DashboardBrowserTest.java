package io.virtfleet.controller.dashboard;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.virtfleet.common.security.CertificateAuthority;
import io.virtfleet.common.security.FleetIdentity;
import io.virtfleet.controller.embedded.EmbeddedFleet;
import io.virtfleet.controller.testkit.Await;
import io.virtfleet.controller.testkit.CliRun;
import io.virtfleet.proto.v1.HostState;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.logging.Handler;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.openqa.selenium.By;
import org.openqa.selenium.JavascriptExecutor;
import org.openqa.selenium.OutputType;
import org.openqa.selenium.TakesScreenshot;
import org.openqa.selenium.chrome.ChromeDriver;
import org.openqa.selenium.chrome.ChromeDriverService;
import org.openqa.selenium.chrome.ChromeOptions;

/**
 * The web dashboard in a real browser: headless Chromium driven through chromedriver, both from Debian's packages
 * (offline: Selenium is given both paths, so its manager never looks for a driver), against an embedded fleet of
 * three test-driver hosts and one VM. An admin logs in with the link {@code virtfleet dashboard} prints, sees the
 * hosts, opens the VM and drains a host (seen draining, and in the audit log under their name); a viewer is refused
 * the same drain. Screenshots go to {@code target/dashboard/}.
 *
 * <p>Chromium trusts the dashboard's certificate as an operator's browser does: the dashboard CA that
 * {@code virtfleet dashboard --save-ca} writes is imported as an authority into the NSS database of the browser's
 * home ({@code certutil}, Debian's libnss3-tools), nothing else is trusted or ignored, and the fleet CA is not there.
 * A site outside {@code dashboard-names} with a certificate from that same CA is refused by Chromium for its name.
 */
class DashboardBrowserTest {
    private static final Path CHROMIUM = Path.of("/usr/bin/chromium");
    private static final Path CHROMEDRIVER = Path.of("/usr/bin/chromedriver");
    private static final Path CERTUTIL = Path.of("/usr/bin/certutil");
    /** A name outside dashboard-names, which Chromium resolves to loopback. */
    private static final String OUTSIDE = "bank.example.com";
    /**
     * What Chromium (Debian's) shows for a certificate its imported authority may not vouch for by its name
     * constraints: its built-in verifier reports the violated constraint as an invalid certificate, not as
     * ERR_CERT_NAME_CONSTRAINT_VIOLATION (which the platform verifiers it replaced used). A site of the same CA for
     * an allowed name loads in the same test, so nothing else about the chain is wrong.
     */
    private static final String OUTSIDE_REFUSAL = "ERR_CERT_INVALID";
    private static final Path SHOTS = Path.of("target", "dashboard");

    @TempDir
    static Path work;

    private static EmbeddedFleet fleet;
    private static Path viewerCredentials;
    /** The operator's home, whose NSS database holds the imported dashboard CA. */
    private static Path home;
    private static final List<String> audit = new CopyOnWriteArrayList<>();
    /** Held here: java.util.logging keeps loggers only weakly, and a collected one would take the handler with it. */
    private static final Logger AUDIT_LOGGER = Logger.getLogger("virtfleet.audit");
    private static final Handler AUDIT = new Handler() {
        @Override
        public void publish(LogRecord record) {
            String text = record.getMessage();
            Object[] params = record.getParameters();
            if (params != null) {
                for (Object p : params) {
                    text = text.replaceFirst("\\{}", java.util.regex.Matcher.quoteReplacement(String.valueOf(p)));
                }
            }
            audit.add(text);
        }

        @Override
        public void flush() {}

        @Override
        public void close() {}
    };

    private ChromeDriver browser;

    @BeforeAll
    static void startFleetWithOneVm() throws Exception {
        for (Path tool : List.of(CHROMIUM, CHROMEDRIVER, CERTUTIL)) {
            assertTrue(Files.isExecutable(tool), tool + " is missing: the dashboard's browser tests need Debian's chromium,"
                    + " chromium-driver and libnss3-tools packages; run deploy/dev/install-deps.sh as root");
        }
        AUDIT_LOGGER.addHandler(AUDIT);
        // Its own level: a test run before in this JVM (the embedded demo's quiet mode) may have left the root at
        // WARNING, which would drop the audit's INFO records before they reach the handler.
        AUDIT_LOGGER.setLevel(java.util.logging.Level.INFO);
        fleet = EmbeddedFleet.builder(work).heartbeat(Duration.ofMillis(500)).simulatedNetwork(true)
                .dashboard(DashboardSettings.localhost().withSampleEvery(Duration.ofSeconds(1))).build().start();
        fleet.awaitRegistered(Duration.ofSeconds(30));
        CliRun created = CliRun.as(fleet.controllerEndpoint(), fleet.adminCredentials(), "vm", "create", "web", "--storage",
                "raw", "--size", "1G", "--lan", "10", "--memory", "1G", "--vcpus", "1");
        assertEquals(0, created.code(), created.out() + created.err());
        viewerCredentials = work.resolve("viewer.pem");
        fleet.controller().pki().writeOperatorBundle("vera", FleetIdentity.Role.VIEWER, Duration.ofDays(1), viewerCredentials);
        Files.createDirectories(SHOTS);
        importTheDashboardCa();
    }

    /** What the README asks of an operator: save the dashboard CA with the CLI, import it as an authority for websites. */
    private static void importTheDashboardCa() throws Exception {
        home = work.resolve("operator-home");
        Path nssdb = home.resolve(".pki").resolve("nssdb");
        Files.createDirectories(nssdb);
        Path saved = home.resolve("virtfleet-dashboard-ca.crt");
        CliRun run = CliRun.as(fleet.controllerEndpoint(), fleet.adminCredentials(), "dashboard", "--save-ca", saved.toString());
        assertEquals(0, run.code(), run.err());
        for (List<String> argv : List.of(
                List.of(CERTUTIL.toString(), "-N", "-d", "sql:" + nssdb, "--empty-password"),
                List.of(CERTUTIL.toString(), "-A", "-d", "sql:" + nssdb, "-n", "virtfleet dashboard CA", "-t", "C,,",
                        "-i", saved.toString()))) {
            io.virtfleet.common.process.Command.Result r = io.virtfleet.common.process.Command.of(argv)
                    .timeout(Duration.ofSeconds(60)).run();
            assertEquals(0, r.exitCode(), argv + ": " + r.stdout() + r.stderr());
        }
    }

    @AfterAll
    static void stopFleet() {
        AUDIT_LOGGER.removeHandler(AUDIT);
        AUDIT_LOGGER.setLevel(null);
        if (fleet != null) {
            fleet.close();
        }
    }

    @BeforeEach
    void openBrowser() throws Exception {
        ChromeOptions options = new ChromeOptions();
        options.setBinary(CHROMIUM.toFile());
        options.addArguments("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1366,768", "--user-data-dir=" + Files.createTempDirectory(work, "chromium"),
                "--host-resolver-rules=MAP " + OUTSIDE + " 127.0.0.1");
        // HOME: Chromium reads the authorities an operator imported from $HOME/.pki/nssdb.
        ChromeDriverService service = new ChromeDriverService.Builder().usingDriverExecutable(CHROMEDRIVER.toFile())
                .usingAnyFreePort().withEnvironment(Map.of("SE_OFFLINE", "true", "HOME", home.toString())).build();
        browser = new ChromeDriver(service, options);
        browser.manage().timeouts().pageLoadTimeout(Duration.ofSeconds(60));
    }

    @AfterEach
    void closeBrowser() {
        if (browser != null) {
            browser.quit();
        }
    }

    @Test
    void anAdminLogsInSeesTheHostsOpensAVmAndDrainsAHost() throws Exception {
        String link = loginLink(fleet.adminCredentials());
        // Opening the link (a chat's preview, say) does not spend it: only the page's button does.
        browser.get(link);
        assertEquals("Log in as admin", browser.findElement(By.tagName("h1")).getText());
        browser.get(link);
        assertEquals("admin (admin)", browser.findElement(By.id("login-as")).getText());
        navigationTiming("the login link's page");
        click(By.id("login"));
        assertEquals("Fleet", text(By.tagName("h1")));
        assertEquals("admin (admin)", browser.findElement(By.id("who")).getText());
        org.openqa.selenium.Cookie cookie = browser.manage().getCookieNamed(DashboardRoutes.COOKIE);
        assertTrue(cookie.isSecure() && cookie.isHttpOnly() && "Strict".equals(cookie.getSameSite()), cookie.toString());
        assertEquals("/", cookie.getPath());
        assertEquals(null, browser.manage().getCookieNamed(DashboardRoutes.LOGIN_COOKIE), "the login form's cookie is dropped");
        // A post without the session's form token (what another page could make the browser send) changes nothing.
        Object status = ((JavascriptExecutor) browser).executeAsyncScript("const done = arguments[arguments.length - 1];"
                + " fetch('/action', {method: 'POST', body: new URLSearchParams({action: 'drain', host: 'hv1'})})"
                + ".then(r => done(r.status), e => done(String(e)));");
        assertEquals(403L, status);
        assertFalse(audit.stream().anyMatch(a -> a.contains("drained host hv1")), "audit log: " + audit);
        for (String host : List.of("hv1", "hv2", "hv3")) {
            String row = text(By.cssSelector("tr[data-host='" + host + "']"));
            assertTrue(row.contains("ready"), row);
        }
        double first = navigationTiming("first page load (the login button's post, its redirect, the fleet page)");
        browser.navigate().refresh();
        browser.findElement(By.cssSelector("tr[data-host='hv1']"));
        double again = navigationTiming("the fleet page again (same connection, scripts and styles cached)");
        System.out.printf("dashboard first page load: %.1f ms, %.2f x the reload%n", first, first / again);
        // The load chart fills as the dashboard samples (every 10 s): the page polls it in.
        Await.until("a load chart on the fleet page", Duration.ofSeconds(60),
                () -> !browser.findElements(By.cssSelector("tr[data-host='hv1'] svg.spark polyline")).isEmpty());
        shot("fleet");

        click(By.linkText("VMs"));
        click(By.linkText("web"));
        assertEquals("VM web", browser.findElement(By.tagName("h1")).getText());
        String home = text(By.id("home"));
        assertTrue(List.of("hv1", "hv2", "hv3").contains(home), home);
        String vmPage = text(By.tagName("main"));
        assertTrue(vmPage.contains("admin: create web on " + home), "the VM's history lists its creation: " + vmPage);
        assertEquals("running", text(By.cssSelector("main dd .badge")));
        shot("vm");

        // Stop it from its page, with confirmation: the commit and the audit log name the admin.
        click(By.linkText("Stop"));
        assertEquals("Stop VM web (a clean shutdown, then off).", text(By.id("confirm-what")));
        click(By.id("confirm"));
        // The page answers at once and follows the stop, which runs on in the controller.
        assertEquals("Stopping VM web: started; this page follows it.", text(By.id("done")));
        awaitOutcome("VM web is stopped.");
        Await.until("the stop in the audit log", Duration.ofSeconds(10), () -> audit.contains("operator admin: stopped VM web"));
        click(By.linkText("Back"));
        assertTrue(text(By.tagName("main")).contains("admin: stop web"));
        assertEquals("VM web is stopped.", text(By.cssSelector("#lever-outcome .outcome-text")), "the VM's page shows it too");
        click(By.linkText("Start"));
        click(By.id("confirm"));
        assertEquals("Starting VM web: started; this page follows it.", text(By.id("done")));
        awaitOutcome("VM web is started.");

        // A move runs on after the page answered; the VM's page follows it. These test-driver hosts cannot migrate
        // (no libvirt TLS), so it ends refused, and the page says so in the controller's words.
        click(By.linkText("Back"));
        click(By.linkText("Move…"));
        click(By.id("confirm"));
        assertEquals("Moving VM web: started; this page follows it.", text(By.id("done")));
        click(By.linkText("Back"));
        Await.until("the move's outcome on the VM's page", Duration.ofSeconds(60), () -> outcome().startsWith("move failed: "));
        assertEquals(home, text(By.id("home")), "a refused move leaves the VM at home");

        browser.get(base() + "/");
        String drained = home; // a host with a VM: draining keeps it running there
        click(By.cssSelector("tr[data-host='" + drained + "'] a.button"));
        assertTrue(text(By.id("confirm-what")).startsWith("Drain host " + drained));
        click(By.id("confirm"));
        assertEquals("Draining host " + drained + ": started; this page follows it.", text(By.id("done")));
        awaitOutcome("Host " + drained + " is draining.");
        assertEquals(HostState.HOST_STATE_DRAINING, fleet.controller().liveness()
                .judge(fleet.controller().registry().get(drained).orElseThrow(), fleet.controller().registry().nanoTime()).state());
        assertTrue(audit.contains("operator admin: drained host " + drained), "audit log: " + audit);
        browser.get(base() + "/");
        assertTrue(text(By.cssSelector("tr[data-host='" + drained + "']")).contains("draining"));
        shot("drained");

        click(By.cssSelector("tr[data-host='" + drained + "'] a.button"));
        click(By.id("confirm"));
        awaitOutcome("Host " + drained + " is taking new VMs again.");
        assertTrue(audit.contains("operator admin: undrained host " + drained), "audit log: " + audit);

        browser.get(base() + "/vms?state=running&name=we");
        assertEquals(1, browser.findElements(By.cssSelector("tr[data-vm='web']")).size());
        browser.get(base() + "/vms?state=stopped");
        assertTrue(browser.findElements(By.cssSelector("tr[data-vm='web']")).isEmpty());
        for (String page : List.of("/drift", "/place", "/capacity")) {
            browser.get(base() + page);
            assertTrue(browser.findElements(By.cssSelector("main .error")).isEmpty(), page + ": "
                    + browser.findElement(By.tagName("main")).getText());
        }
        browser.get(base() + "/place?name=db&storage=raw&size=2G&memory=1G&vcpus=1&lan=10");
        assertEquals(3, browser.findElements(By.cssSelector("table.verdicts tbody tr")).size());
        shot("place");
        // A field the API refuses is named, with the form kept to correct it.
        browser.get(base() + "/capacity?name=db&storage=raw&size=2Q&memory=1G&vcpus=1&lan=10");
        assertTrue(browser.findElement(By.id("refusal")).getText().contains("size"), browser.findElement(By.id("refusal")).getText());
        assertEquals("2Q", browser.findElement(By.name("size")).getAttribute("value"));
    }

    @Test
    void aViewerSeesTheFleetButIsRefusedADrain() throws Exception {
        String link = loginLink(viewerCredentials);
        browser.get(link);
        click(By.id("login"));
        assertEquals("vera (viewer)", text(By.id("who")));
        assertTrue(audit.stream().anyMatch(a -> a.startsWith("operator vera: opened a dashboard session")), "audit log: " + audit);
        assertEquals(3, browser.findElements(By.cssSelector("tr[data-host]")).size());
        browser.get(base() + "/confirm?action=drain&host=hv2");
        assertTrue(browser.findElement(By.tagName("main")).getText().contains("You are a viewer"));
        click(By.id("confirm"));
        assertEquals("Not allowed", browser.findElement(By.tagName("h1")).getText(),
                browser.findElement(By.tagName("main")).getText());
        String refusal = browser.findElement(By.id("refusal")).getText();
        assertTrue(refusal.contains("operator vera (viewer) may not call virtfleet.v1.Fleet/SetHostDraining"), refusal);
        shot("viewer-refused");
        assertFalse(audit.stream().anyMatch(a -> a.startsWith("operator vera: drained")), "audit log: " + audit);
        assertEquals(HostState.HOST_STATE_READY, fleet.controller().liveness()
                .judge(fleet.controller().registry().get("hv2").orElseThrow(), fleet.controller().registry().nanoTime()).state());

        // Revoking the operator ends their session at once.
        CliRun revoked = CliRun.as(fleet.controllerEndpoint(), fleet.adminCredentials(), "operator", "revoke", "vera");
        assertEquals(0, revoked.code(), revoked.err());
        browser.get(base() + "/");
        assertEquals("Log in", browser.findElement(By.tagName("h1")).getText());

        // The link was spent by the login.
        browser.manage().deleteAllCookies();
        browser.get(link);
        assertEquals("Login link not valid", browser.findElement(By.tagName("h1")).getText());
        browser.get(base() + "/vms");
        assertEquals("Log in", browser.findElement(By.tagName("h1")).getText(), "no session, no page");
    }

    /**
     * The text of an element of a block the page refreshes by itself, or of the page a click led to: read again when
     * the refresh replaced the element between finding and reading it, waited for while the next page is not there.
     */
    private String text(By by) throws InterruptedException {
        String[] read = new String[1];
        Await.until("the text of " + by, Duration.ofSeconds(10), () -> {
            try {
                read[0] = browser.findElement(by).getText();
                return true;
            } catch (org.openqa.selenium.StaleElementReferenceException | org.openqa.selenium.NoSuchElementException e) {
                return false; // replaced by a refresh, or the page a form posted to not there yet
            }
        });
        return read[0];
    }

    /** Clicks an element: found again when a refresh of its block replaced it meanwhile, waited for on a page still loading. */
    private void click(By by) throws InterruptedException {
        Await.until("a click on " + by, Duration.ofSeconds(10), () -> {
            try {
                browser.findElement(by).click();
                return true;
            } catch (org.openqa.selenium.StaleElementReferenceException | org.openqa.selenium.NoSuchElementException e) {
                return false; // replaced by a refresh, or the page a form posted to not there yet
            }
        });
    }

    /** The outcome a page following a lever shows now ("" while none). */
    private String outcome() {
        return String.valueOf(((JavascriptExecutor) browser).executeScript(
                "const p = document.querySelector('#lever-outcome .outcome-text'); return p ? p.textContent : '';"));
    }

    /** Waits for the page following a lever (it polls) to show this outcome. */
    private void awaitOutcome(String expected) throws InterruptedException {
        String[] last = {""};
        try {
            Await.until("the outcome '" + expected + "'", Duration.ofSeconds(60), () -> {
                last[0] = outcome();
                return last[0].equals(expected);
            });
        } catch (AssertionError e) {
            throw new AssertionError(e.getMessage() + "; the page shows '" + last[0] + "'", e);
        }
    }

    /**
     * The dashboard CA's key could sign for any name, but Chromium, with the CA imported, takes it only for the
     * dashboard's names (its name constraints): a site with its certificate for another name is refused, while the
     * same kind of site for {@code localhost} loads.
     */
    @Test
    void theImportedDashboardCaVouchesForTheDashboardNamesOnly() throws Exception {
        CertificateAuthority dashboardCa = DashboardAuthority.open(work.resolve("controller"), List.of("localhost",
                "127.0.0.1"), Duration.ofDays(1), java.time.Clock.systemUTC());
        assertEquals(fleet.controller().dashboard().authority(), dashboardCa.certificate(), "the CA in the data directory");
        com.sun.net.httpserver.HttpsServer inside = site(dashboardCa, "localhost");
        com.sun.net.httpserver.HttpsServer outside = site(dashboardCa, OUTSIDE);
        try {
            browser.get("https://localhost:" + inside.getAddress().getPort() + "/");
            assertEquals("a site signed by the dashboard CA", browser.getTitle(), "the same kind of site, for its name");

            browser.get("https://" + OUTSIDE + ":" + outside.getAddress().getPort() + "/");
            String page = browser.getPageSource();
            shot("outside-names-refused");
            assertFalse(page.contains("a site signed by the dashboard CA"), "Chromium showed it: " + page);
            java.util.regex.Matcher error = java.util.regex.Pattern.compile("(?:NET::)?(ERR_CERT_[A-Z_]+)").matcher(page);
            assertTrue(error.find(), "no certificate error on Chromium's page: " + page);
            System.out.println("Chromium on " + OUTSIDE + " with a certificate of the dashboard CA: " + error.group(1));
            assertEquals(OUTSIDE_REFUSAL, error.group(1), "Chromium's error for a name outside the CA's constraints");
        } finally {
            inside.stop(0);
            outside.stop(0);
        }
    }

    /** An HTTPS site on loopback whose certificate for {@code name} the dashboard CA signed. */
    private static com.sun.net.httpserver.HttpsServer site(CertificateAuthority ca, String name) throws Exception {
        java.security.KeyPair keys = io.virtfleet.common.security.Keys.generate();
        java.security.cert.X509Certificate leaf = ca.issueWebServer(keys.getPublic(), "forged", List.of(name),
                Duration.ofDays(1));
        java.security.KeyStore store = java.security.KeyStore.getInstance("PKCS12");
        store.load(null, null);
        char[] password = "test".toCharArray();
        store.setKeyEntry("site", keys.getPrivate(), password, new java.security.cert.Certificate[] {leaf, ca.certificate()});
        javax.net.ssl.KeyManagerFactory keyManagers = javax.net.ssl.KeyManagerFactory.getInstance("PKIX");
        keyManagers.init(store, password);
        javax.net.ssl.SSLContext context = javax.net.ssl.SSLContext.getInstance("TLSv1.3");
        context.init(keyManagers.getKeyManagers(), null, null);
        com.sun.net.httpserver.HttpsServer server = com.sun.net.httpserver.HttpsServer.create(
                new java.net.InetSocketAddress("127.0.0.1", 0), 0);
        server.setHttpsConfigurator(new com.sun.net.httpserver.HttpsConfigurator(context));
        server.createContext("/", exchange -> {
            byte[] body = "<!doctype html><title>a site signed by the dashboard CA</title><p>inside"
                    .getBytes(java.nio.charset.StandardCharsets.UTF_8);
            exchange.getResponseHeaders().add("Content-Type", "text/html; charset=utf-8");
            exchange.sendResponseHeaders(200, body.length);
            try (java.io.OutputStream out = exchange.getResponseBody()) {
                out.write(body);
            }
        });
        server.start();
        return server;
    }

    /** What an operator runs: {@code virtfleet dashboard}, whose first line is the link. */
    private static String loginLink(Path credentials) {
        CliRun run = CliRun.as(fleet.controllerEndpoint(), credentials, "dashboard");
        assertEquals(0, run.code(), run.err());
        String link = run.out().lines().findFirst().orElseThrow();
        assertTrue(link.startsWith(base() + "/login?token="), link);
        assertTrue(run.out().contains(CertificateAuthority.fingerprint(fleet.controller().dashboard().authority())), run.out());
        // The fleet CA is named only to ask for its removal from browsers that imported it for an earlier version.
        String fleetCa = fleet.controller().pki().ca().fingerprint();
        assertEquals(List.of(DashboardAuthority.fleetCaWarning(fleetCa) + "."),
                run.out().lines().filter(l -> l.contains(fleetCa)).toList(), "the fleet CA: " + run.out());
        return link;
    }

    private static String base() {
        return fleet.controller().dashboard().baseUrl();
    }


    /** Chromium's own timing of the page just loaded, printed; returns the time to its load event, in ms. */
    private double navigationTiming(String what) throws InterruptedException {
        Await.until("the page's load event to end", Duration.ofSeconds(30), () -> Boolean.TRUE.equals(((JavascriptExecutor) browser)
                .executeScript("return performance.getEntriesByType('navigation')[0].loadEventEnd > 0;")));
        @SuppressWarnings("unchecked")
        Map<String, Object> t = (Map<String, Object>) ((JavascriptExecutor) browser).executeScript(
                "const n = performance.getEntriesByType('navigation')[0];"
                        + " return {redirect: n.redirectEnd - n.redirectStart, connect: n.connectEnd - n.connectStart,"
                        + " ttfb: n.responseStart - n.startTime, dcl: n.domContentLoadedEventEnd - n.startTime,"
                        + " load: n.loadEventEnd - n.startTime, bytes: n.transferSize};");
        System.out.printf("dashboard navigation timing, %s: load %.1f ms, DOMContentLoaded %.1f ms, first byte %.1f ms,"
                + " redirect %.1f ms, TLS+TCP connect %.1f ms, %s bytes%n", what, num(t.get("load")), num(t.get("dcl")),
                num(t.get("ttfb")), num(t.get("redirect")), num(t.get("connect")), t.get("bytes"));
        return num(t.get("load"));
    }

    private static double num(Object o) {
        return o instanceof Number n ? n.doubleValue() : Double.NaN;
    }

    private void shot(String name) throws Exception {
        Path png = ((TakesScreenshot) browser).getScreenshotAs(OutputType.FILE).toPath();
        Files.copy(png, SHOTS.resolve(name + ".png"), StandardCopyOption.REPLACE_EXISTING);
    }
}
