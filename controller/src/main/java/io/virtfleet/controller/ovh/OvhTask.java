package io.virtfleet.controller.ovh;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import io.grpc.Status;
import java.util.Set;

/**
 * One of OVH's tasks, through which OVH carries out a change that takes time (moving an IP, adding a virtual MAC):
 * the request returns the task at once, and the task's status tells when the change is made. OVH's statuses are
 * {@code init}, {@code todo} and {@code doing} while it works, then {@code done}, or {@code cancelled},
 * {@code customerError} or {@code ovhError}; {@code comment} may say why.
 */
public record OvhTask(long id, String status, String comment) {
    private static final Set<String> FAILED = Set.of("cancelled", "customerError", "ovhError");

    /** The task in OVH's answer; an answer that is not one is OVH's trouble (UNAVAILABLE), quoted. */
    static OvhTask of(String operation, JsonElement json) throws OvhException {
        try {
            JsonObject o = json.getAsJsonObject();
            return new OvhTask(o.get("taskId").getAsLong(), text(o, "status"), text(o, "comment"));
        } catch (RuntimeException e) {
            throw new OvhException(Status.Code.UNAVAILABLE, "OVH answered " + operation + " with something other than"
                    + " a task: " + OvhClient.shortened(String.valueOf(json)));
        }
    }

    private static String text(JsonObject o, String key) {
        JsonElement e = o.get(key);
        return e == null || e.isJsonNull() ? "" : e.getAsString();
    }

    public boolean done() {
        return status.equals("done");
    }

    public boolean failed() {
        return FAILED.contains(status);
    }
}
