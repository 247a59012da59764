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

    @BeforeEach
    void account() throws Exception {
        fake = new FakeOvhApi().server(S1).server(S2).ip(IP, S2);
    }

    @AfterEach
    void stop() {
        fake.close();
    }

    private OvhClient client(OvhAccount account, Duration timeout) {
        return new OvhClient(account, timeout, Duration.ofMillis(5), () -> System.currentTimeMillis() / 1000);
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
        assertTrue(slow.getMessage().contains("is still doing after 0s; it may still finish at OVH"), slow.getMessage());
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
        assertTrue(slow.getMessage().contains("did not answer within 0s while reading OVH's clock"), slow.getMessage());

        int closed;
        try (ServerSocket s = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            closed = s.getLocalPort();
        }
        OvhAccount gone = new OvhAccount(URI.create("http://127.0.0.1:" + closed + "/1.0"), "k", "s", "c");
        OvhException unreachable = assertThrows(OvhException.class,
                () -> new FailoverIps(client(gone, Duration.ofSeconds(2)), Duration.ofSeconds(5)).routedTo(IP));
        assertEquals(Status.Code.UNAVAILABLE, unreachable.code());
        assertTrue(unreachable.getMessage().startsWith("OVH's API at http://127.0.0.1:" + closed + "/1.0 cannot be"
                + " reached while reading OVH's clock"), unreachable.getMessage());
        assertFalse(unreachable.getMessage().contains("s+c"), "no secret in messages");
    }
}
