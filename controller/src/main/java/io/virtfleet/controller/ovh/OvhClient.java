package io.virtfleet.controller.ovh;

import com.google.gson.JsonElement;
import com.google.gson.JsonNull;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import io.grpc.Status;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.function.Consumer;
import java.util.function.LongSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Signed calls to OVH's API, made on the calling thread (a worker: never a gRPC event loop), each with its own
 * timeout, and the following of OVH's tasks until they end or a deadline passes.
 *
 * <p>OVH accepts a signed request only if its timestamp is close to OVH's own clock, so the timestamp is the local
 * time plus the difference to OVH's clock, measured once from {@code GET /auth/time} (unauthenticated, a plain
 * number of seconds) and measured again if OVH ever refuses a timestamp (the local clock was stepped).
 */
public final class OvhClient {
    private static final Logger log = LoggerFactory.getLogger(OvhClient.class);
    /** The error code OVH answers a timestamp too far from its clock with. */
    static final String TIME_ERROR = "QUERY_TIME_OUT";
    /** Its message, the only mark of it in OVH's older error answers (which carry no errorCode). */
    static final String TIME_MESSAGE = "Query out of time";

    private final OvhAccount account;
    private final HttpClient http;
    private final Duration requestTimeout;
    private final Duration pollInterval;
    private final LongSupplier localSeconds;
    private final LongSupplier nanoTime;
    private final Sleeper sleeper;
    /** OVH's clock minus the local one, in seconds; null until measured. */
    private volatile Long delta;

    /**
     * @param requestTimeout how long one request may take, connection included
     * @param pollInterval   time between two looks at a task's status
     * @param localSeconds   the local clock, in Unix seconds
     */
    public OvhClient(OvhAccount account, Duration requestTimeout, Duration pollInterval, LongSupplier localSeconds) {
        this(account, requestTimeout, pollInterval, localSeconds, System::nanoTime, d -> Thread.sleep(d.toMillis()));
    }

    /** Waits between two looks at a task; tests pass one that moves their clock instead. */
    interface Sleeper {
        void sleep(Duration d) throws InterruptedException;
    }

    /**
     * @param nanoTime a monotonic clock in nanoseconds, for task deadlines
     * @param sleeper  how to wait between two looks at a task
     */
    OvhClient(OvhAccount account, Duration requestTimeout, Duration pollInterval, LongSupplier localSeconds,
              LongSupplier nanoTime, Sleeper sleeper) {
        this.nanoTime = nanoTime;
        this.sleeper = sleeper;
        this.account = account;
        this.requestTimeout = requestTimeout;
        this.pollInterval = pollInterval;
        this.localSeconds = localSeconds;
        this.http = HttpClient.newBuilder().connectTimeout(requestTimeout).followRedirects(HttpClient.Redirect.NEVER).build();
    }

    public OvhAccount account() {
        return account;
    }

    /** {@code GET path} (relative to the endpoint, already URL-encoded), signed. */
    JsonElement get(String operation, String path) throws OvhException {
        return call(operation, "GET", path, null);
    }

    /** {@code POST path} with a JSON body, signed. */
    JsonElement post(String operation, String path, JsonObject body) throws OvhException {
        return call(operation, "POST", path, body);
    }

    /** {@code DELETE path}, signed. */
    JsonElement delete(String operation, String path) throws OvhException {
        return call(operation, "DELETE", path, null);
    }

    /** OVH's clock minus the local one, in seconds, measuring it first if it never was. */
    long delta() throws OvhException {
        Long d = delta;
        if (d == null) {
            d = measureDelta();
        }
        return d;
    }

    private long measureDelta() throws OvhException {
        String operation = "reading OVH's clock (GET /auth/time)";
        HttpResponse<String> answer = send(operation, HttpRequest.newBuilder(URI.create(account.endpoint() + "/auth/time"))
                .GET().timeout(requestTimeout).build());
        if (answer.statusCode() != 200) {
            throw refused(operation, answer);
        }
        long ovhTime;
        try {
            ovhTime = Long.parseLong(answer.body().strip());
        } catch (NumberFormatException e) {
            throw new OvhException(Status.Code.UNAVAILABLE, "OVH's API at " + account.endpoint() + " answered "
                    + operation + " with something other than a number of seconds: " + shortened(answer.body()));
        }
        long d = ovhTime - localSeconds.getAsLong();
        delta = d;
        log.debug("OVH's clock is {} s from ours", d);
        return d;
    }

    private JsonElement call(String operation, String method, String path, JsonObject body) throws OvhException {
        String url = account.endpoint() + path;
        String text = body == null ? "" : body.toString();
        for (int attempt = 1; ; attempt++) {
            long timestamp = localSeconds.getAsLong() + delta();
            HttpRequest.Builder request = HttpRequest.newBuilder(URI.create(url)).timeout(requestTimeout)
                    .header("X-Ovh-Application", account.applicationKey())
                    .header("X-Ovh-Consumer", account.consumerKey())
                    .header("X-Ovh-Timestamp", Long.toString(timestamp))
                    .header("X-Ovh-Signature", OvhSignature.of(account.applicationSecret(), account.consumerKey(), method,
                            url, text, timestamp))
                    .header("Accept", "application/json");
            if (body != null) {
                request.header("Content-Type", "application/json");
            }
            request.method(method, body == null ? HttpRequest.BodyPublishers.noBody()
                    : HttpRequest.BodyPublishers.ofString(text, StandardCharsets.UTF_8));
            HttpResponse<String> answer = send(operation, request.build());
            int code = answer.statusCode();
            if (code >= 200 && code < 300) {
                try {
                    return answer.body().isBlank() ? JsonNull.INSTANCE : JsonParser.parseString(answer.body());
                } catch (JsonParseException e) {
                    throw new OvhException(Status.Code.UNAVAILABLE, "OVH's API answered " + operation
                            + " with something other than JSON: " + shortened(answer.body()));
                }
            }
            if (attempt == 1 && code == 400 && (TIME_ERROR.equals(field(answer.body(), "errorCode"))
                    || TIME_MESSAGE.equals(field(answer.body(), "message")))) {
                // Refused before anything was done: safe to send again, once, with OVH's clock read again.
                log.info("OVH refused our timestamp ({}); reading its clock again", ovhMessage(answer.body()));
                measureDelta();
                continue;
            }
            throw refused(operation, answer);
        }
    }

    private HttpResponse<String> send(String operation, HttpRequest request) throws OvhException {
        try {
            return http.send(request, HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
        } catch (HttpTimeoutException e) {
            throw new OvhException(Status.Code.DEADLINE_EXCEEDED, "OVH's API at " + account.endpoint()
                    + " did not answer within " + words(requestTimeout) + " while " + operation);
        } catch (IOException e) {
            throw new OvhException(Status.Code.UNAVAILABLE, "OVH's API at " + account.endpoint()
                    + " cannot be reached while " + operation + ": " + (e.getMessage() == null ? e.toString() : e.getMessage()));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new OvhException(Status.Code.UNAVAILABLE, "interrupted while " + operation + " at OVH");
        }
    }

    /**
     * OVH's error codes for a request it refuses for who sent it, not for what was asked (python-ovh, OVH's own
     * client, maps the same codes to its authentication errors), with what the operator fixes in ovh.conf.
     */
    private static final java.util.Map<String, String> CREDENTIAL_ERRORS = java.util.Map.of(
            "INVALID_CREDENTIAL", "the consumer-key in ovh.conf is expired, revoked or not validated: create a new one",
            "NOT_CREDENTIAL", "the consumer-key in ovh.conf is expired, revoked or not validated: create a new one",
            "INVALID_KEY", "the application-key in ovh.conf is not one OVH knows (or the application was deleted)",
            "NOT_GRANTED_CALL", "the consumer-key in ovh.conf was not granted this call: create one with the rights"
                    + " deploy/README.md lists (GET/POST/DELETE on /ip/* and /dedicated/server/*)",
            "FORBIDDEN", "the account or the consumer-key in ovh.conf may not do this");

    /**
     * An error answer: OVH's message verbatim; a server error (5xx) or too many requests (429) is OVH's trouble and
     * may pass; a refusal of the credentials says what to fix in ovh.conf.
     */
    private static OvhException refused(String operation, HttpResponse<String> answer) {
        int code = answer.statusCode();
        String message = ovhMessage(answer.body());
        String errorCode = field(answer.body(), "errorCode");
        String fix = errorCode == null ? null : CREDENTIAL_ERRORS.get(errorCode);
        boolean passing = code >= 500 || code == 429;
        Status.Code status = passing ? Status.Code.UNAVAILABLE : Status.Code.FAILED_PRECONDITION;
        return new OvhException(status, "OVH " + (code >= 500 ? "failed" : "refused") + " " + operation + " (HTTP "
                + code + (fix == null ? "" : " " + errorCode) + "): " + message + (fix == null ? "" : "; " + fix),
                code, message, errorCode);
    }

    /** Whether OVH refused the credentials (ovh.conf), not what was asked. */
    static boolean credentials(OvhException e) {
        return e.errorCode() != null && CREDENTIAL_ERRORS.containsKey(e.errorCode());
    }

    /** OVH's {@code message}, or the body itself when it has none. */
    static String ovhMessage(String body) {
        String m = field(body, "message");
        return m != null ? m : body.isBlank() ? "no message" : shortened(body);
    }

    private static String field(String body, String name) {
        try {
            JsonElement e = JsonParser.parseString(body);
            if (e.isJsonObject() && e.getAsJsonObject().has(name) && e.getAsJsonObject().get(name).isJsonPrimitive()) {
                return e.getAsJsonObject().get(name).getAsString();
            }
        } catch (JsonParseException | IllegalStateException e) {
            // not JSON: no such field
        }
        return null;
    }

    static String shortened(String text) {
        String line = text.strip().replaceAll("\\s+", " ");
        return line.length() <= 200 ? line : line.substring(0, 200) + "...";
    }

    /**
     * Follows a task OVH accepted until it is done. Refuses with OVH's comment when the task fails. A look at the
     * task that fails because OVH is down or slow is tried again (it only reads) until {@code deadline}; when the
     * deadline passes (DEADLINE_EXCEEDED, or UNAVAILABLE when OVH could not be read at all), the message names the
     * task and says it may still complete at OVH.
     *
     * @param taskPath the task collection, e.g. {@code /ip/198.51.100.77%2F32/task}
     * @param seen     told each status the task is seen in, from the first
     */
    OvhTask follow(String operation, String taskPath, OvhTask task, Duration deadline, Consumer<OvhTask> seen)
            throws OvhException {
        long end = nanoTime.getAsLong() + deadline.toNanos();
        String accepted = "OVH task " + task.id() + " (" + operation + ")";
        seen.accept(task);
        OvhException unread = null;
        while (!task.done()) {
            if (task.failed()) {
                throw new OvhException(Status.Code.FAILED_PRECONDITION, accepted + " ended " + task.status()
                        + (task.comment().isEmpty() ? "" : ": " + task.comment()), 0, task.comment());
            }
            if (nanoTime.getAsLong() - end >= 0) {
                throw unread == null
                        ? new OvhException(Status.Code.DEADLINE_EXCEEDED, accepted + " is still " + task.status()
                                + " after " + words(deadline) + "; " + MAY_COMPLETE)
                        : new OvhException(unread.code(), accepted + " was last seen " + task.status() + "; OVH could"
                                + " not be asked about it for " + words(deadline) + " (" + unread.getMessage() + "); "
                                + MAY_COMPLETE);
            }
            try {
                sleeper.sleep(pollInterval);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new OvhException(Status.Code.UNAVAILABLE, "interrupted while waiting for " + accepted + "; "
                        + MAY_COMPLETE);
            }
            OvhTask now;
            try {
                now = OvhTask.of(operation, get(operation, taskPath + "/" + task.id()));
                unread = null;
            } catch (OvhException e) {
                if (!e.passing()) {
                    throw e.withMore(accepted + " was accepted; " + MAY_COMPLETE);
                }
                log.info("cannot read {} now, trying again: {}", accepted, e.getMessage());
                unread = e;
                continue;
            }
            if (!now.status().equals(task.status())) {
                seen.accept(now);
            }
            task = now;
        }
        return task;
    }

    static final String MAY_COMPLETE = "it may still complete at OVH (see the OVH panel)";

    /** A duration for a message: whole seconds, or milliseconds below a second. */
    static String words(Duration d) {
        return d.compareTo(Duration.ofSeconds(1)) < 0 ? d.toMillis() + "ms" : d.toSeconds() + "s";
    }
}
