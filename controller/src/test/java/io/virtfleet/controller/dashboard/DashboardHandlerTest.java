package io.virtfleet.controller.dashboard;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.http.DefaultFullHttpRequest;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpVersion;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Function;
import java.util.logging.Handler;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * How the dashboard answers on a connection, seen from the wire (Netty's embedded channel, workers run when the test
 * says): answers in the order of the requests, no internal detail in a failure's answer, HSTS only for DNS names.
 */
class DashboardHandlerTest {
    private static final List<String> NAMES = List.of("localhost", "127.0.0.1", "::1", "dash.example.net");
    /** What the handler gave its workers, not run yet. */
    private final Deque<Runnable> tasks = new ArrayDeque<>();

    private EmbeddedChannel connection(Function<DashboardRequest, DashboardResponse> routes) {
        return new EmbeddedChannel(new DashboardHandler(routes, tasks::add, NAMES));
    }

    private static FullHttpRequest get(String uri, String host) {
        FullHttpRequest r = new DefaultFullHttpRequest(HttpVersion.HTTP_1_1, HttpMethod.GET, uri);
        r.headers().set(HttpHeaderNames.HOST, host);
        return r;
    }

    private static String body(FullHttpResponse r) {
        try {
            return r.content().toString(StandardCharsets.UTF_8);
        } finally {
            r.release();
        }
    }

    @Test
    void pipelinedRequestsAreAnsweredInTheOrderTheyCame() {
        EmbeddedChannel connection = connection(r -> DashboardResponse.text(HttpResponseStatus.OK, r.path()));
        // Two requests in one read, as a client that pipelines sends them.
        connection.writeInbound(get("/first", "localhost"), get("/second", "localhost"), get("/third", "localhost"));
        // The workers take the newest task first, as a pool of several may: the answers must still come in order.
        while (!tasks.isEmpty()) {
            tasks.pollLast().run();
        }
        List<String> answers = List.of(body(connection.readOutbound()), body(connection.readOutbound()),
                body(connection.readOutbound()));
        assertEquals(List.of("/first", "/second", "/third"), answers);
        assertTrue(connection.config().isAutoRead(), "read again once every request is answered");
        connection.finishAndReleaseAll();
    }

    @Test
    void aFailureShowsTheBrowserAnIdAndTheLogTheCause() {
        List<String> logged = new CopyOnWriteArrayList<>();
        Logger logger = Logger.getLogger(DashboardHandler.class.getName());
        Handler capture = new Handler() {
            @Override
            public void publish(LogRecord record) {
                String text = record.getMessage();
                if (record.getParameters() != null) {
                    for (Object p : record.getParameters()) {
                        text = text.replaceFirst("\\{}", Matcher.quoteReplacement(String.valueOf(p)));
                    }
                }
                logged.add(text + " / " + record.getThrown());
            }

            @Override
            public void flush() {}

            @Override
            public void close() {}
        };
        logger.addHandler(capture);
        try {
            EmbeddedChannel connection = connection(r -> {
                throw new IllegalStateException("cannot read /var/lib/virtfleet/secret-thing");
            });
            connection.writeInbound(get("/vms", "localhost"));
            tasks.poll().run();
            FullHttpResponse answer = connection.readOutbound();
            assertEquals(HttpResponseStatus.INTERNAL_SERVER_ERROR, answer.status());
            String text = body(answer);
            assertFalse(text.contains("secret-thing") || text.contains("IllegalStateException"), text);
            Matcher id = Pattern.compile("internal error ([0-9a-f]{12})").matcher(text);
            assertTrue(id.find(), text);
            assertTrue(logged.stream().anyMatch(l -> l.contains(id.group(1)) && l.contains("secret-thing")),
                    "the log has the id and the cause: " + logged);
            connection.finishAndReleaseAll();
        } finally {
            logger.removeHandler(capture);
        }
    }

    @Test
    void onlyADnsNameOfTheDashboardIsToldToUseHttpsForGood() {
        EmbeddedChannel connection = connection(r -> DashboardResponse.text(HttpResponseStatus.OK, "ok"));
        for (String host : List.of("localhost:7447", "localhost", "127.0.0.1:7447", "[::1]:7447", "other.example.net:7447")) {
            connection.writeInbound(get("/", host));
            tasks.poll().run();
            FullHttpResponse answer = connection.readOutbound();
            assertNull(answer.headers().get("Strict-Transport-Security"), host);
            answer.release();
        }
        connection.writeInbound(get("/", "Dash.Example.net:7447"));
        tasks.poll().run();
        FullHttpResponse answer = connection.readOutbound();
        assertEquals(DashboardHandler.HSTS, answer.headers().get("Strict-Transport-Security"));
        answer.release();
        connection.finishAndReleaseAll();
    }
}
