package io.virtfleet.controller.dashboard;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.Status;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import io.grpc.stub.StreamObserver;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.virtfleet.common.security.FleetIdentity;
import io.virtfleet.proto.v1.FleetGrpc;
import io.virtfleet.proto.v1.SetVmRunningRequest;
import io.virtfleet.proto.v1.Vm;
import io.virtfleet.proto.v1.VmSpec;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * The dashboard's login, its guards on posts and its levers, at the routes: a login link's page leaves the link
 * working, its button spends it from this origin only, and a post with the session's token from another origin is
 * refused; a lever's post answers while the controller still works on it, and its outcome follows.
 */
class DashboardRoutesTest {
    private static final String HOST = "dash.example.net:7447";
    private static final String ORIGIN = "https://" + HOST;
    private static final FleetIdentity ALICE = FleetIdentity.operator("alice", FleetIdentity.Role.ADMIN);

    private final DashboardLogins logins = new DashboardLogins(Clock.systemUTC(), Duration.ofHours(1), (name, at) -> false);
    private final DashboardRoutes routes = new DashboardRoutes(logins, new OperatorCalls(null), new LoadHistory(),
            Duration.ofSeconds(10), Clock.systemUTC());

    private static DashboardRequest request(String method, String path, Map<String, String> query, Map<String, String> form,
                                            Map<String, String> cookies, String origin) {
        Map<String, List<String>> q = new HashMap<>();
        query.forEach((k, v) -> q.put(k, List.of(v)));
        Map<String, List<String>> f = new HashMap<>();
        form.forEach((k, v) -> f.put(k, List.of(v)));
        return new DashboardRequest(method, path, q, f, cookies, origin, HOST);
    }

    private static String body(DashboardResponse r) {
        return new String(r.body(), StandardCharsets.UTF_8);
    }

    private static String field(String html, String name) {
        Matcher m = Pattern.compile("name=\"" + name + "\" value=\"([^\"]*)\"").matcher(html);
        assertTrue(m.find(), "no field " + name + " in " + html);
        return m.group(1);
    }

    /** The value a Set-Cookie header gives the cookie {@code name}. */
    private static String cookie(DashboardResponse r, String name) {
        String header = setCookie(r, name);
        return header.substring(name.length() + 1, header.indexOf(';'));
    }

    /** The Max-Age the session cookie of {@code r} was given. */
    private static String cookieMaxAge(DashboardResponse r) {
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("Max-Age=([0-9]+)")
                .matcher(setCookie(r, DashboardRoutes.COOKIE));
        assertTrue(m.find(), r.cookies().toString());
        return m.group(1);
    }

    /** The whole Set-Cookie header for the cookie {@code name}. */
    private static String setCookie(DashboardResponse r, String name) {
        return r.cookies().stream().filter(c -> c.startsWith(name + "=")).findFirst()
                .orElseThrow(() -> new AssertionError("no Set-Cookie for " + name + ": " + r.cookies()));
    }

    @Test
    void openingALoginLinkAsksToLogInAndLeavesTheLinkWorkingUntilTheButtonIsPressed() {
        String token = logins.issue(ALICE, Instant.now().minusSeconds(60)).token();
        DashboardResponse page = null;
        for (int opened = 0; opened < 2; opened++) { // a link preview, then the operator
            page = routes.handle(request("GET", "/login", Map.of("token", token), Map.of(), Map.of(), null));
            assertEquals(HttpResponseStatus.OK, page.status());
            assertTrue(body(page).contains("Log in as alice"), body(page));
        }
        String formToken = cookie(page, DashboardRoutes.LOGIN_COOKIE);
        assertTrue(setCookie(page, DashboardRoutes.LOGIN_COOKIE).contains("SameSite=Strict"), page.cookies().toString());
        assertEquals(formToken, field(body(page), "csrf"));
        assertEquals(token, field(body(page), "token"));

        DashboardResponse in = routes.handle(request("POST", "/login", Map.of(), Map.of("token", token, "csrf", formToken),
                Map.of(DashboardRoutes.LOGIN_COOKIE, formToken), ORIGIN));
        assertEquals(HttpResponseStatus.SEE_OTHER, in.status(), body(in));
        assertEquals("/", in.headers().get("Location"));
        String session = cookie(in, DashboardRoutes.COOKIE);
        assertTrue(DashboardRoutes.COOKIE.startsWith("__Host-"), "no other site under the dashboard's names may set it");
        assertTrue(setCookie(in, DashboardRoutes.COOKIE).endsWith("; Path=/; Max-Age=" + cookieMaxAge(in)
                + "; Secure; HttpOnly; SameSite=Strict"), in.cookies().toString());
        // The login form's value is dropped with the answer that used it.
        assertEquals(DashboardRoutes.LOGIN_COOKIE + "=; Path=/; Max-Age=0; Secure; HttpOnly; SameSite=Strict",
                setCookie(in, DashboardRoutes.LOGIN_COOKIE));
        assertEquals(ALICE, logins.session(session).orElseThrow().operator());

        // Spent: neither its page nor its button works again.
        assertEquals(HttpResponseStatus.UNAUTHORIZED,
                routes.handle(request("GET", "/login", Map.of("token", token), Map.of(), Map.of(), null)).status());
        assertEquals(HttpResponseStatus.UNAUTHORIZED, routes.handle(request("POST", "/login", Map.of(),
                Map.of("token", token, "csrf", formToken), Map.of(DashboardRoutes.LOGIN_COOKIE, formToken), ORIGIN)).status());
    }

    @Test
    void aLoginPostedFromAnotherSiteOrWithoutTheLoginPagesValueIsRefusedAndSpendsNothing() {
        String token = logins.issue(ALICE, Instant.now().minusSeconds(60)).token();
        String formToken = cookie(routes.handle(request("GET", "/login", Map.of("token", token), Map.of(), Map.of(), null)),
                DashboardRoutes.LOGIN_COOKIE);
        // Another site's page posting someone's link (login CSRF): its origin, and no cookie of this origin.
        DashboardResponse crossSite = routes.handle(request("POST", "/login", Map.of(),
                Map.of("token", token, "csrf", formToken), Map.of(DashboardRoutes.LOGIN_COOKIE, formToken), "https://evil.example"));
        assertEquals(HttpResponseStatus.FORBIDDEN, crossSite.status());
        DashboardResponse noCookie = routes.handle(request("POST", "/login", Map.of(),
                Map.of("token", token, "csrf", formToken), Map.of(), ORIGIN));
        assertEquals(HttpResponseStatus.FORBIDDEN, noCookie.status());
        DashboardResponse otherValue = routes.handle(request("POST", "/login", Map.of(),
                Map.of("token", token, "csrf", "x" + formToken), Map.of(DashboardRoutes.LOGIN_COOKIE, formToken), ORIGIN));
        assertEquals(HttpResponseStatus.FORBIDDEN, otherValue.status());
        // The usual way to get there: a second login link opened in another tab replaced this page's cookie.
        assertTrue(body(otherValue).contains("a login link opened since in another tab"), body(otherValue));
        assertEquals(ALICE, logins.operatorOf(token).orElseThrow(), "the link still works");
    }

    /**
     * A stop whose host takes its time: the post is answered while the call is still open, and the page polls the
     * outcome. The controller's Fleet service is stood in for by one whose SetVmRunning answers when the test says
     * (the test driver's hosts answer at once); it is reached as the dashboard reaches the controller's, in-process
     * with direct executors.
     */
    @Test
    void aLeverIsAnsweredAtOnceAndItsOutcomeFollowsWhenTheControllerAnswers() throws Exception {
        BlockingQueue<StreamObserver<Vm>> held = new LinkedBlockingQueue<>();
        String name = "dashboard-routes-" + UUID.randomUUID();
        Server server = InProcessServerBuilder.forName(name).directExecutor().addService(new FleetGrpc.FleetImplBase() {
            @Override
            public void setVmRunning(SetVmRunningRequest request, StreamObserver<Vm> response) {
                if (request.getName().equals("refused")) {
                    response.onError(Status.PERMISSION_DENIED.withDescription("not for you").asRuntimeException());
                    return;
                }
                held.add(response); // answered later, from another thread, as the controller's VM workers do
            }
        }).build().start();
        ManagedChannel channel = InProcessChannelBuilder.forName(name).directExecutor().build();
        try {
            DashboardRoutes levers = new DashboardRoutes(logins, new OperatorCalls(channel), new LoadHistory(),
                    Duration.ofSeconds(10), Clock.systemUTC());
            DashboardLogins.Started started = logins.redeem(logins.issue(ALICE, Instant.now().minusSeconds(60)).token()).orElseThrow();
            Map<String, String> cookies = Map.of(DashboardRoutes.COOKIE, started.secret());
            Map<String, String> stop = Map.of("csrf", started.session().csrfToken(), "action", "stop", "vm", "web");

            DashboardResponse answer = levers.handle(request("POST", "/action", Map.of(), stop, cookies, ORIGIN));
            assertEquals(HttpResponseStatus.OK, answer.status(), body(answer));
            assertTrue(body(answer).contains("Stopping VM web: started; this page follows it."), body(answer));
            StreamObserver<Vm> call = held.poll(30, TimeUnit.SECONDS);
            assertTrue(call != null, "the stop was asked of the controller");
            String follow = body(levers.handle(request("GET", "/fragment/outcome", Map.of("vm", "web"), Map.of(), cookies, null)));
            assertTrue(follow.contains("Stopping VM web: started"), follow);

            call.onNext(Vm.newBuilder().setSpec(VmSpec.newBuilder().setName("web")).build());
            call.onCompleted();
            follow = body(levers.handle(request("GET", "/fragment/outcome", Map.of("vm", "web"), Map.of(), cookies, null)));
            assertTrue(follow.contains("VM web is stopped.") && follow.contains("alice"), follow);

            // A failure that comes later is the outcome, in the controller's words.
            levers.handle(request("POST", "/action", Map.of(), stop, cookies, ORIGIN));
            held.poll(30, TimeUnit.SECONDS).onError(Status.UNAVAILABLE.withDescription("host hv1 does not answer").asRuntimeException());
            follow = body(levers.handle(request("GET", "/fragment/outcome", Map.of("vm", "web"), Map.of(), cookies, null)));
            assertTrue(follow.contains("class=\"error\"") && follow.contains("Stopping VM web failed: host hv1 does not answer"), follow);

            // A refusal heard while the call is made is the post's own answer.
            DashboardResponse refused = levers.handle(request("POST", "/action", Map.of(),
                    Map.of("csrf", started.session().csrfToken(), "action", "stop", "vm", "refused"), cookies, ORIGIN));
            assertEquals(HttpResponseStatus.FORBIDDEN, refused.status(), body(refused));
            assertTrue(body(refused).contains("not for you"), body(refused));
        } finally {
            channel.shutdownNow();
            server.shutdownNow();
        }
    }

    @Test
    void aPostWithTheSessionsTokenFromAnotherOriginIsRefused() {
        DashboardLogins.Started started = logins.redeem(logins.issue(ALICE, Instant.now().minusSeconds(60)).token()).orElseThrow();
        Map<String, String> cookies = Map.of(DashboardRoutes.COOKIE, started.secret());
        String csrf = started.session().csrfToken();
        DashboardResponse drain = routes.handle(request("POST", "/action", Map.of(),
                Map.of("csrf", csrf, "action", "drain", "host", "hv1"), cookies, "https://evil.example"));
        assertEquals(HttpResponseStatus.FORBIDDEN, drain.status(), body(drain));
        assertTrue(body(drain).contains("origin"), body(drain));
        DashboardResponse logout = routes.handle(request("POST", "/logout", Map.of(), Map.of("csrf", csrf), cookies,
                "https://evil.example"));
        assertEquals(HttpResponseStatus.FORBIDDEN, logout.status());
        assertTrue(logins.session(started.secret()).isPresent(), "still logged in");
        // The same token from the dashboard's own origin is accepted.
        DashboardResponse ownLogout = routes.handle(request("POST", "/logout", Map.of(), Map.of("csrf", csrf), cookies, ORIGIN));
        assertEquals(HttpResponseStatus.SEE_OTHER, ownLogout.status(), body(ownLogout));
        assertTrue(logins.session(started.secret()).isEmpty(), "logged out");
    }
}
