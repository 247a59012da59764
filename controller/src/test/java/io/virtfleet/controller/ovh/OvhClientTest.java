package io.virtfleet.controller.ovh;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grpc.Status;
import java.net.ServerSocket;
import java.net.URI;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.atomic.AtomicLong;
import io.virtfleet.proto.v1.FailoverIp;
import io.virtfleet.proto.v1.NetworkSpec;
import io.virtfleet.proto.v1.VmSpec;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The OVH client against {@link FakeOvhApi} over real HTTP: the signature, OVH's clock, task following and the
 * ways OVH says no, fails or is gone.
 */
class OvhClientTest {
    private static final String IP = "198.51.100.77";
    private static final String S1 = "ns3001234.ip-203-0-113.eu";
    private static final String S2 = "ns3005678.ip-203-0-113.eu";

    private FakeOvhApi fake;
    /** The client's monotonic clock: its waits between looks at a task move it, so no test waits for real time. */
    private final AtomicLong nanos = new AtomicLong();

    @BeforeEach
    void account() throws Exception {
        fake = new FakeOvhApi().server(S1).server(S2).ip(IP, S2);
    }

    @AfterEach
    void stop() {
        fake.close();
    }

    private OvhClient client(OvhAccount account, Duration timeout) {
        return new OvhClient(account, timeout, Duration.ofSeconds(2), () -> System.currentTimeMillis() / 1000, nanos::get,
                d -> nanos.addAndGet(d.toNanos()));
    }

    private FailoverIps ips(Duration taskDeadline) {
        return new FailoverIps(client(fake.account(), Duration.ofSeconds(5)), taskDeadline);
    }

    @Test
    void theSignatureIsOvhsDocumentedSha1OfSecretConsumerMethodUrlBodyAndTimestamp() {
        // Computed outside Java: python3 -c "import hashlib; print('$1$' + hashlib.sha1(b'...').hexdigest())"
        assertEquals("$1$910c282711941cd337bb501977b286bc20356d7b", OvhSignature.of("EXEgWIz07P0HYwtQDs7cNIqCiQaWSuHF",
                "MtSwSrPpNjqfVSmJhLbPyr2i45lSwPU1", "POST", "https://eu.api.ovh.com/1.0/ip/198.51.100.77%2F32/move",
                "{\"to\":\"ns3001234.ip-203-0-113.eu\"}", 1700000000L));
        assertEquals("$1$eabb60438b47911b9e58df2308a9cbc7e09c3cf6", OvhSignature.of("EXEgWIz07P0HYwtQDs7cNIqCiQaWSuHF",
                "MtSwSrPpNjqfVSmJhLbPyr2i45lSwPU1", "GET",
                "https://eu.api.ovh.com/1.0/dedicated/server/ns3001234.ip-203-0-113.eu/virtualMac", "", 1700000000L));
    }

    @Test
    void requestsAreSignedWithOvhsClockMeasuredOnceAndAgainWhenOvhRefusesTheTimestamp() throws Exception {
        fake.clockOffset(Duration.ofHours(1)); // the local clock is an hour behind OVH's
        FailoverIps ips = ips(Duration.ofSeconds(5));
        assertEquals(S2, ips.routedTo(IP));
        assertEquals(Optional.empty(), ips.virtualMacOf(S1, IP));
        assertEquals(1, fake.calls().stream().filter(c -> c.path().equals("/auth/time")).count(), "measured once");

        fake.clockOffset(Duration.ofHours(-2)); // the local clock was stepped
        assertEquals(S2, ips.routedTo(IP));
        List<String> last = fake.calls().stream().skip(fake.calls().size() - 3).map(c -> c.method() + " " + c.path()).toList();
        assertEquals(List.of("GET /ip/198.51.100.77%2F32", "GET /auth/time", "GET /ip/198.51.100.77%2F32"), last,
                "refused once (Query out of time), clock read again, sent again");
    }

    @Test
    void aClientWithAnotherSecretIsRefusedWithOvhsMessage() {
        OvhAccount wrong = new OvhAccount(fake.endpoint(), FakeOvhApi.APPLICATION_KEY, "notTheSecret", FakeOvhApi.CONSUMER_KEY);
        OvhException e = assertThrows(OvhException.class,
                () -> new FailoverIps(client(wrong, Duration.ofSeconds(5)), Duration.ofSeconds(5)).virtualMacOf(S1, IP));
        assertEquals(Status.Code.FAILED_PRECONDITION, e.code());
        assertEquals("Invalid signature", e.ovhMessage());
        assertTrue(e.getMessage().startsWith("OVH refused listing the virtual MACs of " + S1 + " (HTTP 400): Invalid signature"),
                e.getMessage());
    }

    @Test
    void aMoveIsFollowedThroughItsTaskUntilDone() throws Exception {
        List<String> seen = new ArrayList<>();
        OvhTask done = ips(Duration.ofSeconds(5)).move(IP, S1, t -> seen.add(t.status()));
        assertTrue(done.done());
        assertEquals(List.of("init", "todo", "doing", "done"), seen);
        assertEquals(S1, fake.routeOf(IP));
        assertEquals("{\"to\":\"" + S1 + "\"}", fake.calls("POST").get(0).body());
        assertEquals("/ip/198.51.100.77%2F32/move", fake.calls("POST").get(0).path());
    }

    @Test
    void aVirtualMacIsMadeFoundAndDeletedThroughServerTasks() throws Exception {
        FailoverIps ips = ips(Duration.ofSeconds(5));
        String mac = ips.createVirtualMac(S2, IP, "www", t -> { });
        assertEquals(Map.of(mac, Set.of(IP)), fake.virtualMacs(S2));
        assertEquals("{\"ipAddress\":\"" + IP + "\",\"type\":\"ovh\",\"virtualMachineName\":\"www\"}",
                fake.calls("POST").get(0).body());
        assertEquals(Optional.of(mac), ips.virtualMacOf(S2, IP));
        ips.removeVirtualMac(S2, mac, IP, t -> { });
        assertEquals(Map.of(), fake.virtualMacs(S2));
        assertEquals("/dedicated/server/" + S2 + "/virtualMac/" + mac + "/virtualAddress/" + IP,
                fake.calls("DELETE").get(0).path());
    }

    @Test
    void aTaskThatFailsIsRefusedWithOvhsCommentAndOneThatNeverEndsMeetsTheDeadline() {
        fake.tasksEnd(FakeOvhApi.TaskEnd.CUSTOMER_ERROR);
        OvhException failed = assertThrows(OvhException.class, () -> ips(Duration.ofSeconds(5)).move(IP, S1, t -> { }));
        assertEquals(Status.Code.FAILED_PRECONDITION, failed.code());
        assertTrue(failed.getMessage().matches("OVH task [0-9]+ \\(moving failover IP " + IP + " to " + S1
                + "\\) ended customerError: The IP is blocked for abuse \\(fake\\)"), failed.getMessage());
        assertEquals(S2, fake.routeOf(IP), "not moved");

        fake.tasksEnd(FakeOvhApi.TaskEnd.NEVER);
        OvhException slow = assertThrows(OvhException.class, () -> ips(Duration.ofMillis(300)).move(IP, S1, t -> { }));
        assertEquals(Status.Code.DEADLINE_EXCEEDED, slow.code());
        assertTrue(slow.getMessage().contains("is still todo after 300ms; it may still complete at OVH"), slow.getMessage());
        noSecretIn(failed);
        noSecretIn(slow);
    }

    @Test
    void anIpOvhDoesNotKnowIsBadInputAndAnUnknownServerIsOvhsRefusal() {
        OvhException notOurs = assertThrows(OvhException.class, () -> ips(Duration.ofSeconds(5)).routedTo("203.0.113.99"));
        assertEquals(Status.Code.INVALID_ARGUMENT, notOurs.code());
        assertEquals("spec.network.failover.address: OVH says 203.0.113.99 is not an IP of this account (HTTP 404): The"
                + " requested object (ip = 203.0.113.99/32) does not exist", notOurs.getMessage());

        OvhException unknown = assertThrows(OvhException.class, () -> ips(Duration.ofSeconds(5)).virtualMacOf("ns404.example", IP));
        assertEquals(Status.Code.FAILED_PRECONDITION, unknown.code());
        assertTrue(unknown.getMessage().endsWith("(HTTP 404): The requested object (serviceName = ns404.example) does not exist"),
                unknown.getMessage());
    }

    @Test
    void ovhDownSlowOrGoneIsUnavailableOrTooLateNamingOvhAndTheOperation() throws Exception {
        fake.down(true);
        OvhException down = assertThrows(OvhException.class, () -> ips(Duration.ofSeconds(5)).routedTo(IP));
        assertEquals(Status.Code.UNAVAILABLE, down.code());
        assertTrue(down.getMessage().startsWith("OVH failed reading OVH's clock (GET /auth/time) (HTTP 503)"), down.getMessage());

        fake.down(false).slow(Duration.ofSeconds(3));
        OvhException slow = assertThrows(OvhException.class,
                () -> new FailoverIps(client(fake.account(), Duration.ofMillis(500)), Duration.ofSeconds(5)).routedTo(IP));
        assertEquals(Status.Code.DEADLINE_EXCEEDED, slow.code());
        assertTrue(slow.getMessage().contains("did not answer within 500ms while reading OVH's clock"), slow.getMessage());
        noSecretIn(down);
        noSecretIn(slow);

        int closed;
        try (ServerSocket s = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            closed = s.getLocalPort();
        }
        OvhAccount gone = new OvhAccount(URI.create("http://127.0.0.1:" + closed + "/1.0"), FakeOvhApi.APPLICATION_KEY,
                FakeOvhApi.APPLICATION_SECRET, FakeOvhApi.CONSUMER_KEY);
        OvhException unreachable = assertThrows(OvhException.class,
                () -> new FailoverIps(client(gone, Duration.ofSeconds(2)), Duration.ofSeconds(5)).routedTo(IP));
        assertEquals(Status.Code.UNAVAILABLE, unreachable.code());
        assertTrue(unreachable.getMessage().startsWith("OVH's API at http://127.0.0.1:" + closed + "/1.0 cannot be"
                + " reached while reading OVH's clock"), unreachable.getMessage());
        noSecretIn(unreachable);
    }

    /** Neither the application secret nor the consumer key is ever in a message (they are distinctive enough to see). */
    private static void noSecretIn(Exception e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            String m = String.valueOf(t.getMessage());
            assertFalse(m.contains(FakeOvhApi.APPLICATION_SECRET) || m.contains(FakeOvhApi.CONSUMER_KEY), m);
        }
    }

    @Test
    void aConsumerKeyOvhNoLongerKnowsIsOvhConfsFaultNotTheIps() {
        OvhAccount expired = new OvhAccount(fake.endpoint(), FakeOvhApi.APPLICATION_KEY, FakeOvhApi.APPLICATION_SECRET,
                "expiredKey");
        OvhException e = assertThrows(OvhException.class,
                () -> new FailoverIps(client(expired, Duration.ofSeconds(5)), Duration.ofSeconds(5)).routedTo(IP));
        assertEquals(Status.Code.FAILED_PRECONDITION, e.code());
        assertEquals("INVALID_CREDENTIAL", e.errorCode());
        assertEquals("OVH refused looking up failover IP " + IP + " (GET /ip/" + IP + "/32) (HTTP 403 INVALID_CREDENTIAL):"
                + " This credential does not exist; the consumer-key in ovh.conf is expired, revoked or not validated:"
                + " create a new one", e.getMessage());
        noSecretIn(e);

        OvhAccount wrongApp = new OvhAccount(fake.endpoint(), "otherApp", FakeOvhApi.APPLICATION_SECRET,
                FakeOvhApi.CONSUMER_KEY);
        OvhException app = assertThrows(OvhException.class,
                () -> new FailoverIps(client(wrongApp, Duration.ofSeconds(5)), Duration.ofSeconds(5)).routedTo(IP));
        assertEquals(Status.Code.FAILED_PRECONDITION, app.code());
        assertTrue(app.getMessage().endsWith("the application-key in ovh.conf is not one OVH knows (or the application"
                + " was deleted)"), app.getMessage());
    }

    @Test
    void anIpInsideALargerBlockIsRefusedSayingOnlySingleFailoverIpsAreMoved() {
        fake.block("198.51.100.72/29");
        OvhException e = assertThrows(OvhException.class, () -> ips(Duration.ofSeconds(5)).routedTo("198.51.100.75"));
        assertEquals(Status.Code.INVALID_ARGUMENT, e.code());
        assertEquals("spec.network.failover.address: 198.51.100.75 is in the account's IP block 198.51.100.72/29 at OVH;"
                + " virtfleet moves single failover IPs (/32) only: give this VM --failover-mac and route the block by"
                + " hand, on a controller with failover-routes and without ovh-config", e.getMessage());
        FakeOvhApi.Call last = fake.calls().get(fake.calls().size() - 1);
        assertEquals("GET /ip", last.method() + " " + last.path(), "asked OVH which block holds it");
    }

    @Test
    void aTaskOvhCannotBeAskedAboutForAWhileIsLookedAtAgainUntilItsDeadline() throws Exception {
        fake.failTaskReads(2);
        List<String> seen = new ArrayList<>();
        assertTrue(ips(Duration.ofSeconds(60)).move(IP, S1, t -> seen.add(t.status())).done());
        assertEquals(List.of("init", "todo", "doing", "done"), seen);
        assertEquals(S1, fake.routeOf(IP));
    }

    @Test
    void ovhGoingDownOnceItAcceptedAChangeIsReportedWithTheTaskThatMayStillComplete() throws Exception {
        FailoverAtOvh atOvh = FailoverAtOvh.of(OvhSettings.of(fake.account(), Map.of("hv1", S1, "hv2", S2))
                .withTimings(Duration.ofSeconds(60), Duration.ofSeconds(5), Duration.ofSeconds(2)),
                client(fake.account(), Duration.ofSeconds(5)), null);
        VmSpec www = VmSpec.newBuilder().setName("www")
                .setNetwork(NetworkSpec.newBuilder().setFailover(FailoverIp.newBuilder().setAddress(IP))).build();
        FailoverAtOvh.Route route = atOvh.routedTo(www);
        fake.downAfterNextPost();
        OvhException move = assertThrows(OvhException.class, () -> atOvh.prepare(www, "hv1", "", route, (s, h, d) -> { }));
        assertEquals(Status.Code.UNAVAILABLE, move.code());
        assertTrue(move.getMessage().matches("OVH task [0-9]+ \\(moving failover IP " + IP + " to " + S1 + "\\) was last"
                + " seen init; OVH could not be asked about it for 60s \\(.*\\); it may still complete at OVH \\(see the"
                + " OVH panel\\); failover IP " + IP + " may be moved to " + S1 + " \\(hv1\\) by this create \\(from "
                + S2 + " \\(hv2\\)\\)"), move.getMessage());
        assertTrue(nanos.get() >= Duration.ofSeconds(60).toNanos(), "followed until the deadline");
        noSecretIn(move);

        fake.down(false).ip(IP, S1);
        FailoverAtOvh.Route here = atOvh.routedTo(www);
        fake.downAfterNextPost();
        OvhException mac = assertThrows(OvhException.class, () -> atOvh.prepare(www, "hv1", "", here, (s, h, d) -> { }));
        assertTrue(mac.getMessage().matches("OVH task [0-9]+ \\(creating a virtual MAC for " + IP + " on " + S1 + "\\).*"
                + "it may still complete at OVH.*; if OVH makes the virtual MAC, it stays on " + S1 + " \\(hv1\\) and a"
                + " new create of www uses it \\(or delete it in the OVH panel\\)"), mac.getMessage());
    }
}
