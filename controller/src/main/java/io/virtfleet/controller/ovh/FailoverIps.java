package io.virtfleet.controller.ovh;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import io.grpc.Status;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import io.virtfleet.common.validation.InvalidInputException;
import io.virtfleet.common.validation.MacAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.function.Consumer;

/**
 * What virtfleet asks of OVH about failover IPs, in OVH's terms: where an IP is routed ({@code GET /ip/{ip}}), moving
 * it to another server ({@code POST /ip/{ip}/move}), and the virtual MACs of a server that carry it
 * ({@code /dedicated/server/{serviceName}/virtualMac...}). A server is named by its OVH service name
 * (e.g. {@code ns3001234.ip-203-0-113.eu}). Changes are OVH tasks, followed until they end.
 */
public final class FailoverIps {
    private final OvhClient ovh;
    private final Duration taskDeadline;

    public FailoverIps(OvhClient ovh, Duration taskDeadline) {
        this.ovh = ovh;
        this.taskDeadline = taskDeadline;
    }

    public Duration taskDeadline() {
        return taskDeadline;
    }

    /**
     * The service name of the server OVH routes the IP to, or "" when it is routed nowhere (parked).
     *
     * @throws OvhException INVALID_ARGUMENT when OVH knows no such IP of this account
     */
    public String routedTo(String ip) throws OvhException {
        String operation = "looking up failover IP " + ip + " (GET /ip/" + ip + "/32)";
        JsonElement answer;
        try {
            answer = ovh.get(operation, ipPath(ip));
        } catch (OvhException e) {
            // 404, or a 403 that is not about the credentials: OVH's answer for an IP of another account.
            if (e.httpStatus() == 404 || (e.httpStatus() == 403 && !OvhClient.credentials(e))) {
                String block = blockOf(ip);
                if (block != null) {
                    // OVH moves whole blocks only: moving this VM's IP would move its neighbours' too.
                    throw e.asInvalidInput("spec.network.failover.address: " + ip + " is in the account's IP block "
                            + block + " at OVH; virtfleet moves single failover IPs (/32) only: give this VM"
                            + " --failover-mac and route the block by hand, on a controller with failover-routes"
                            + " and without ovh-config");
                }
                throw e.asInvalidInput("spec.network.failover.address: OVH says " + ip + " is not an IP of this account"
                        + " (HTTP " + e.httpStatus() + "): " + e.ovhMessage());
            }
            throw e;
        }
        JsonElement routed = answer.isJsonObject() ? answer.getAsJsonObject().get("routedTo") : null;
        if (routed == null || !routed.isJsonObject()) {
            return "";
        }
        JsonElement service = routed.getAsJsonObject().get("serviceName");
        return service == null || service.isJsonNull() ? "" : service.getAsString();
    }

    /** The account's IP block (other than the IP's own /32) that holds the IP ({@code GET /ip?ip=}), or null. */
    private String blockOf(String ip) {
        String operation = "looking for the IP block of " + ip + " (GET /ip?ip=" + ip + ")";
        try {
            for (String block : strings(operation, ovh.get(operation, "/ip?ip=" + segment(ip)))) {
                if (!block.equals(ip + "/32")) {
                    return block;
                }
            }
        } catch (OvhException e) {
            // Only to explain a refusal better: without the answer, OVH's own answer is given.
        }
        return null;
    }

    /** The main IPv4 address OVH gives the server ({@code GET /dedicated/server/{s}}, its {@code ip}), or "". */
    public String addressOf(String service) throws OvhException {
        String operation = "looking up server " + service + " (GET /dedicated/server/" + service + ")";
        JsonElement answer = ovh.get(operation, "/dedicated/server/" + segment(service));
        JsonElement ip = answer.isJsonObject() ? answer.getAsJsonObject().get("ip") : null;
        return ip == null || !ip.isJsonPrimitive() ? "" : ip.getAsString();
    }

    /** Moves the IP to the server {@code service}; returns once OVH's task is done. */
    public OvhTask move(String ip, String service, Consumer<OvhTask> seen) throws OvhException {
        String operation = "moving failover IP " + ip + " to " + service;
        JsonObject body = new JsonObject();
        body.addProperty("to", service);
        OvhTask task = started(operation, () -> ovh.post(operation, ipPath(ip) + "/move", body));
        return ovh.follow(operation, ipPath(ip) + "/task", task, taskDeadline, seen);
    }

    /** The virtual MAC of server {@code service} that carries the IP, if one does. */
    public Optional<String> virtualMacOf(String service, String ip) throws OvhException {
        String operation = "listing the virtual MACs of " + service;
        for (String m : strings(operation, ovh.get(operation, macsPath(service)))) {
            String listing = "listing the IPs of virtual MAC " + m + " of " + service;
            if (strings(listing, ovh.get(listing, macsPath(service) + "/" + segment(m) + "/virtualAddress")).contains(ip)) {
                try {
                    return Optional.of(MacAddress.parse("virtual MAC", m).text());
                } catch (InvalidInputException e) {
                    throw new OvhException(Status.Code.UNAVAILABLE, "OVH answered " + operation + " with " + e.getMessage());
                }
            }
        }
        return Optional.empty();
    }

    /**
     * Has OVH make a virtual MAC for the IP on server {@code service}, named after the VM, and returns it once OVH's
     * task is done. OVH's task does not say which MAC it made: it is found by the IP it carries.
     */
    public String createVirtualMac(String service, String ip, String vmName, Consumer<OvhTask> seen) throws OvhException {
        String operation = "creating a virtual MAC for " + ip + " on " + service;
        JsonObject body = new JsonObject();
        body.addProperty("ipAddress", ip);
        body.addProperty("type", "ovh");
        body.addProperty("virtualMachineName", vmName);
        OvhTask task = started(operation, () -> ovh.post(operation, macsPath(service), body));
        ovh.follow(operation, taskPath(service), task, taskDeadline, seen);
        return virtualMacOf(service, ip).orElseThrow(() -> new OvhException(Status.Code.FAILED_PRECONDITION, "OVH task "
                + task.id() + " (" + operation + ") is done, but no virtual MAC of " + service + " carries " + ip));
    }

    /** Has OVH take the IP off the virtual MAC (which OVH then deletes); returns once OVH's task is done. */
    public void removeVirtualMac(String service, String mac, String ip, Consumer<OvhTask> seen) throws OvhException {
        String operation = "deleting virtual MAC " + mac + " of " + ip + " on " + service;
        OvhTask task = started(operation, () -> ovh.delete(operation, macsPath(service) + "/" + segment(mac)
                + "/virtualAddress/" + segment(ip)));
        ovh.follow(operation, taskPath(service), task, taskDeadline, seen);
    }

    /** The task of a change OVH was asked for; when OVH failed or was slow to answer, it may have taken it anyway. */
    private static OvhTask started(String operation, Request request) throws OvhException {
        JsonElement answer;
        try {
            answer = request.send();
        } catch (OvhException e) {
            throw e.passing() ? e.withMore("OVH may have taken the request all the same; " + OvhClient.MAY_COMPLETE) : e;
        }
        return OvhTask.of(operation, answer);
    }

    private interface Request {
        JsonElement send() throws OvhException;
    }

    /** OVH's answer as a list of strings (its lists of MACs and IPs); anything else is OVH's trouble, quoted. */
    private static List<String> strings(String operation, JsonElement answer) throws OvhException {
        List<String> list = new ArrayList<>();
        if (answer.isJsonArray()) {
            for (JsonElement e : answer.getAsJsonArray()) {
                if (!e.isJsonPrimitive()) {
                    list = null;
                    break;
                }
                list.add(e.getAsString());
            }
        }
        if (list == null || !answer.isJsonArray()) {
            throw new OvhException(Status.Code.UNAVAILABLE, "OVH answered " + operation + " with something other than a"
                    + " list: " + OvhClient.shortened(answer.toString()));
        }
        return list;
    }

    /** An IP's path: OVH names a failover IP by its block, 198.51.100.77/32, with the slash encoded. */
    static String ipPath(String ip) {
        return "/ip/" + segment(ip + "/32");
    }

    private static String macsPath(String service) {
        return "/dedicated/server/" + segment(service) + "/virtualMac";
    }

    private static String taskPath(String service) {
        return "/dedicated/server/" + segment(service) + "/task";
    }

    /** One path segment, encoded: the IP block's slash becomes %2F; a MAC's colons stay, as OVH writes them. */
    private static String segment(String text) {
        return URLEncoder.encode(text, StandardCharsets.UTF_8).replace("%3A", ":");
    }
}
