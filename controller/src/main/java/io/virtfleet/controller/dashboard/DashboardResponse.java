package io.virtfleet.controller.dashboard;

import io.netty.handler.codec.http.HttpResponseStatus;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * What the dashboard answers: status, type, body, the headers beyond the ones every response gets, and the cookies
 * it sets (each its own Set-Cookie header, which a map of headers cannot hold twice).
 */
record DashboardResponse(HttpResponseStatus status, String contentType, byte[] body, Map<String, String> headers,
                         List<String> cookies) {
    DashboardResponse(HttpResponseStatus status, String contentType, byte[] body, Map<String, String> headers) {
        this(status, contentType, body, headers, List.of());
    }

    static DashboardResponse html(HttpResponseStatus status, String html) {
        return new DashboardResponse(status, "text/html; charset=utf-8", html.getBytes(StandardCharsets.UTF_8), Map.of());
    }

    static DashboardResponse text(HttpResponseStatus status, String text) {
        return new DashboardResponse(status, "text/plain; charset=utf-8", text.getBytes(StandardCharsets.UTF_8), Map.of());
    }

    /** A redirect to {@code location} (303) that sets {@code cookies}. */
    static DashboardResponse redirect(String location, List<String> cookies) {
        Map<String, String> headers = new LinkedHashMap<>();
        headers.put("Location", location);
        return new DashboardResponse(HttpResponseStatus.SEE_OTHER, "text/plain; charset=utf-8", new byte[0], headers,
                List.copyOf(cookies));
    }
}
