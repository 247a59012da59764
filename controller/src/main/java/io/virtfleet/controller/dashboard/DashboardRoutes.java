package io.virtfleet.controller.dashboard;

import static io.virtfleet.controller.dashboard.Html.esc;
import static io.virtfleet.controller.dashboard.Html.url;

import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.virtfleet.common.security.FleetIdentity;
import io.virtfleet.common.validation.InvalidInputException;
import io.virtfleet.common.validation.Names;
import io.virtfleet.controller.fleet.Audit;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * What each of the dashboard's paths does. Pages need a session (from the cookie a login link set); actions are
 * POSTs carrying the session's CSRF token from this origin, after a confirmation page. Every input is checked with
 * the API's own validators before any call, and the calls are the operator's (see {@link OperatorCalls}).
 */
final class DashboardRoutes {
    /**
     * The session; __Host-: the browser takes it only from this origin over HTTPS, for every path and with no Domain,
     * so a site on a name under the dashboard's cannot plant its own session in the operator's browser.
     */
    static final String COOKIE = "__Host-vf_session";
    /** The login form's anti-forgery value; __Host-: set by this origin only, over HTTPS, for every path. */
    static final String LOGIN_COOKIE = "__Host-vf_login";

    private final DashboardLogins logins;
    private final OperatorCalls calls;
    private final Pages pages;
    private final Actions actions;
    private final Clock clock;

    DashboardRoutes(DashboardLogins logins, OperatorCalls calls, LoadHistory history, java.time.Duration sampleEvery, Clock clock) {
        this.logins = logins;
        this.calls = calls;
        this.clock = clock;
        this.actions = new Actions(calls, clock);
        this.pages = new Pages(calls, history, sampleEvery, actions);
    }

    DashboardResponse handle(DashboardRequest r) {
        if (r.method().equals("GET") && r.path().startsWith("/static/")) {
            return asset(r.path().substring("/static/".length()));
        }
        if (r.path().equals("/login")) {
            return switch (r.method()) {
                case "GET" -> loginPage(r);
                case "POST" -> login(r);
                default -> DashboardResponse.text(HttpResponseStatus.METHOD_NOT_ALLOWED, "GET or POST only");
            };
        }
        String secret = r.cookies().get(COOKIE);
        Optional<DashboardLogins.Session> session = logins.session(secret);
        if (session.isEmpty()) {
            return DashboardResponse.html(HttpResponseStatus.UNAUTHORIZED, Pages.loggedOut());
        }
        Page page = new Page(secret, session.get());
        try {
            if (r.method().equals("POST")) {
                if (!sameOrigin(r) || !DashboardLogins.same(session.get().csrfToken(), r.field("csrf"))) {
                    return DashboardResponse.html(HttpResponseStatus.FORBIDDEN, Pages.layout(page, "Refused",
                            "<p class=\"error\">This form did not come from this dashboard page (its token or origin does"
                                    + " not match). Reload the page and try again.</p>"));
                }
                return switch (r.path()) {
                    case "/action" -> actions.perform(page, r);
                    case "/logout" -> logout(secret);
                    default -> notFound(page);
                };
            }
            if (!r.method().equals("GET")) {
                return DashboardResponse.text(HttpResponseStatus.METHOD_NOT_ALLOWED, "GET or POST only");
            }
            return switch (r.path()) {
                case "/" -> ok(pages.fleet(page));
                case "/fragment/hosts" -> ok(pages.hostsFragment(page));
                case "/vms" -> ok(pages.vms(page, VmFilter.of(r)));
                case "/fragment/vms" -> ok(pages.vmsFragment(page, VmFilter.of(r)));
                case "/vm" -> ok(pages.vm(page, Names.vmName("vm", r.param("name"))));
                case "/fragment/vm" -> ok(pages.vmFragment(page, Names.vmName("vm", r.param("name"))));
                case "/drift" -> ok(pages.drift(page));
                case "/fragment/drift" -> ok(pages.driftFragment(page));
                case "/place" -> ok(pages.place(page, SpecForm.of(r)));
                case "/capacity" -> ok(pages.capacity(page, SpecForm.of(r)));
                case "/confirm" -> ok(actions.confirm(page, r));
                case "/fragment/outcome" -> ok(actions.outcomeFragment(r));
                default -> notFound(page);
            };
        } catch (InvalidInputException e) {
            return DashboardResponse.html(HttpResponseStatus.BAD_REQUEST, Pages.layout(page, "Bad input",
                    "<p class=\"error\">" + esc(e.getMessage()) + "</p>"));
        } catch (StatusRuntimeException e) {
            return refused(page, e.getStatus());
        }
    }

    /** A page as the controller answered a refused or failed call: the status's meaning in HTTP terms, its words. */
    static DashboardResponse refused(Page page, Status status) {
        HttpResponseStatus http = switch (status.getCode()) {
            case PERMISSION_DENIED -> HttpResponseStatus.FORBIDDEN;
            case UNAUTHENTICATED -> HttpResponseStatus.UNAUTHORIZED;
            case NOT_FOUND -> HttpResponseStatus.NOT_FOUND;
            case INVALID_ARGUMENT -> HttpResponseStatus.BAD_REQUEST;
            case FAILED_PRECONDITION, ALREADY_EXISTS, RESOURCE_EXHAUSTED -> HttpResponseStatus.CONFLICT;
            case UNAVAILABLE, DEADLINE_EXCEEDED -> HttpResponseStatus.SERVICE_UNAVAILABLE;
            default -> HttpResponseStatus.INTERNAL_SERVER_ERROR;
        };
        String title = status.getCode() == Status.Code.PERMISSION_DENIED ? "Not allowed" : "Refused";
        String detail = status.getDescription() == null ? status.getCode().toString() : status.getDescription();
        return DashboardResponse.html(http, Pages.layout(page, title, "<p class=\"error\" id=\"refusal\">"
                + esc(detail) + "</p><p><a href=\"/\">Back to the fleet</a></p>"));
    }

    /**
     * What a login link opens: a page asking to log in as the link's operator, which does not spend the link (a chat's
     * link preview or a mail scanner fetching it leaves it working). Pressing its button posts the token back from
     * this page, a same-site request, so the session cookie (SameSite=Strict) set by the answer is sent on the redirect
     * that follows, however the link was opened. The form carries a random value also set as a cookie of this origin
     * only, which another site's page cannot read or set (login CSRF: logging someone in as the attacker).
     */
    private DashboardResponse loginPage(DashboardRequest r) {
        String token = r.param("token");
        Optional<FleetIdentity> operator = logins.operatorOf(token);
        if (operator.isEmpty()) {
            return DashboardResponse.html(HttpResponseStatus.UNAUTHORIZED, Pages.loginRefused());
        }
        String formToken = DashboardLogins.secret();
        String cookie = LOGIN_COOKIE + "=" + formToken + "; Path=/; Max-Age=" + DashboardLogins.LINK_LIFETIME.toSeconds()
                + "; Secure; HttpOnly; SameSite=Strict";
        return new DashboardResponse(HttpResponseStatus.OK, "text/html; charset=utf-8",
                Pages.login(operator.get(), token, formToken).getBytes(StandardCharsets.UTF_8), Map.of(), List.of(cookie));
    }

    /** The login page's button: spends the link, starts the session, and sends the browser to the fleet. */
    private DashboardResponse login(DashboardRequest r) {
        String formToken = r.cookies().get(LOGIN_COOKIE);
        if (!sameOrigin(r) || formToken == null || !DashboardLogins.same(formToken, r.field("csrf"))) {
            return DashboardResponse.html(HttpResponseStatus.FORBIDDEN, Pages.layout(null, "Refused",
                    "<p class=\"error\" id=\"refusal\">This login form did not come from this dashboard's login page (its"
                            + " token or origin does not match, or a login link opened since in another tab replaced"
                            + " this page's). Open your login link again: it still works.</p>"));
        }
        Optional<DashboardLogins.Started> started = logins.redeem(r.field("token"));
        if (started.isEmpty()) {
            return DashboardResponse.html(HttpResponseStatus.UNAUTHORIZED, Pages.loginRefused());
        }
        Audit.recordBy(started.get().session().operator().name(),
                "opened a dashboard session (until " + started.get().session().expiresAt() + ")");
        long maxAge = started.get().session().expiresAt().getEpochSecond() - clock.instant().getEpochSecond();
        // Secure: HTTPS only; HttpOnly: no script reads it; SameSite=Strict: no other site's page sends it.
        String cookie = COOKIE + "=" + started.get().secret() + "; Path=/; Max-Age=" + maxAge
                + "; Secure; HttpOnly; SameSite=Strict";
        // The login form's value has served: dropped now rather than left for the link's lifetime.
        return DashboardResponse.redirect("/", List.of(cookie, expired(LOGIN_COOKIE)));
    }

    private DashboardResponse logout(String secret) {
        logins.session(secret).ifPresent(s -> Audit.recordBy(s.operator().name(),
                "closed their dashboard session"));
        logins.end(secret);
        return DashboardResponse.redirect("/", List.of(expired(COOKIE)));
    }

    /** A Set-Cookie value that makes the browser drop cookie {@code name} at once. */
    private static String expired(String name) {
        return name + "=; Path=/; Max-Age=0; Secure; HttpOnly; SameSite=Strict";
    }

    /**
     * Whether a POST came from a page of this dashboard: its Origin (sent by browsers on every POST) names the host the
     * request was sent to. The CSRF token is the main guard; this one costs nothing.
     */
    private static boolean sameOrigin(DashboardRequest r) {
        if (r.origin() == null) {
            return true; // not a browser's cross-site form: they all send Origin on POST
        }
        return r.host() != null && r.origin().equals("https://" + r.host());
    }

    private static DashboardResponse ok(String html) {
        return DashboardResponse.html(HttpResponseStatus.OK, html);
    }

    private static DashboardResponse notFound(Page page) {
        return DashboardResponse.html(HttpResponseStatus.NOT_FOUND, Pages.layout(page, "Not found",
                "<p>No such page. <a href=\"/\">The fleet</a></p>"));
    }

    private static DashboardResponse asset(String name) {
        String type = switch (name) {
            case "dashboard.css" -> "text/css; charset=utf-8";
            case "dashboard.js" -> "text/javascript; charset=utf-8";
            default -> null;
        };
        if (type == null) {
            return DashboardResponse.text(HttpResponseStatus.NOT_FOUND, "not found");
        }
        try (InputStream in = DashboardRoutes.class.getResourceAsStream(name)) {
            if (in == null) {
                return DashboardResponse.text(HttpResponseStatus.NOT_FOUND, "not found");
            }
            return new DashboardResponse(HttpResponseStatus.OK, type, in.readAllBytes(), Map.of());
        } catch (IOException e) {
            return DashboardResponse.text(HttpResponseStatus.INTERNAL_SERVER_ERROR, "cannot read " + name);
        }
    }

    /** The session a page is rendered for: who it shows, and the secret its calls are made with. */
    record Page(String secret, DashboardLogins.Session session) {}
}
