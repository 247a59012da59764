package io.virtfleet.controller.dashboard;

import io.netty.handler.codec.http.HttpResponseStatus;
import java.nio.charset.StandardCharsets;
import java.util.Map;

/** What the dashboard answers: status, type, body and the headers beyond the ones every response gets. */
record DashboardResponse(HttpResponseStatus status, String contentType, byte[] body, Map<String, String> headers) {
    static DashboardResponse html(HttpResponseStatus status, String html) {
        return new DashboardResponse(status, "text/html; charset=utf-8", html.getBytes(StandardCharsets.UTF_8), Map.of());
    }

    static DashboardResponse text(HttpResponseStatus status, String text) {
        return new DashboardResponse(status, "text/plain; charset=utf-8", text.getBytes(StandardCharsets.UTF_8), Map.of());
    }

    static DashboardResponse redirect(String location, Map<String, String> headers) {
        java.util.Map<String, String> all = new java.util.LinkedHashMap<>(headers);
        all.put("Location", location);
        return new DashboardResponse(HttpResponseStatus.SEE_OTHER, "text/plain; charset=utf-8", new byte[0], all);
    }
}
