package io.virtfleet.controller.dashboard;

import java.util.List;
import java.util.Map;

/** One request to the dashboard, copied off the event loop: nothing here refers to Netty's buffers. */
record DashboardRequest(String method, String path, Map<String, List<String>> query, Map<String, List<String>> form,
                        Map<String, String> cookies, String origin, String host) {
    /** A query parameter's first value, or "" when absent. */
    String param(String name) {
        List<String> v = query.get(name);
        return v == null || v.isEmpty() ? "" : v.get(0);
    }

    /** A form field's first value, or "" when absent. */
    String field(String name) {
        List<String> v = form.get(name);
        return v == null || v.isEmpty() ? "" : v.get(0);
    }
}
