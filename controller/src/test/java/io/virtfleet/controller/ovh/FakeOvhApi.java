package io.virtfleet.controller.ovh;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonNull;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A fake of OVH's API, for tests: OVH cannot be reached from here, so the client is tested against this, a real
 * HTTP server on the loopback address that answers the few calls virtfleet makes the way OVH documents them. It is
 * not OVH: what it does not encode below, it does not check.
 *
 * <p>What of OVH's behaviour it encodes:
 * <ul>
 *   <li>{@code GET /auth/time}: unauthenticated, OVH's clock as a plain number of Unix seconds. The fake's clock is
 *       the local one plus {@link #clockOffset}, so a client that signs with its own clock fails.</li>
 *   <li>Every other call is signed: {@code X-Ovh-Application} must be the application key and
 *       {@code X-Ovh-Consumer} the consumer key ({@code 403 INVALID_KEY} / {@code INVALID_CREDENTIAL} otherwise);
 *       {@code X-Ovh-Signature} must be {@code "$1$" + sha1hex(secret+consumer+METHOD+fullUrl+body+timestamp)},
 *       recomputed here from the URL and body as received ({@code 400 INVALID_SIGNATURE}); and
 *       {@code X-Ovh-Timestamp} must be within {@link #TIME_WINDOW} of the fake's clock ({@code 400 QUERY_TIME_OUT,
 *       "Query out of time"}; OVH does not document its window, the fake's is its own choice).</li>
 *   <li>Errors are JSON objects with a {@code message}, as OVH's are: 404 "The requested object (...) does not exist"
 *       for an IP that is not the account's or a server (service name) it does not know.</li>
 *   <li>{@code GET /ip/{ip}} (the IP block, slash encoded: {@code 198.51.100.77%2F32}): {@code routedTo.serviceName},
 *       null when the IP is parked.</li>
 *   <li>{@code GET /ip?ip=X}: the account's IP blocks that hold X (a failover IP's own /32, and any larger
 *       {@link #block}); the fake knows no other filter of that call.</li>
 *   <li>{@code POST /ip/{ip}/move} with exactly {@code {"to": serviceName}} (and optionally {@code nexthop}): an IP
 *       task; refused (400) for a server the account does not have or the IP is already routed to. The route changes
 *       when the task is done, and the IP's virtual MACs move with it to the new server (OVH's guide "Moving a
 *       failover IP": they are suspended during the move and appear on the new server once it is complete).
 *       {@code GET /ip/{ip}/task/{id}} shows it.</li>
 *   <li>{@code GET /dedicated/server/{s}}: the server, with its main IPv4 address in {@code ip}.</li>
 *   <li>{@code GET /dedicated/server/{s}/virtualMac}: the server's virtual MACs;
 *       {@code GET .../virtualMac/{mac}/virtualAddress}: the IPs on one of them.</li>
 *   <li>{@code POST /dedicated/server/{s}/virtualMac} with exactly {@code ipAddress}, {@code type} ({@code ovh} or
 *       {@code vmware}) and {@code virtualMachineName}: a server task; refused (400) if the IP is not routed to that
 *       server or already has a virtual MAC there. The MAC (a new {@code 02:00:00:...}) exists once the task is done;
 *       the task does not name it.</li>
 *   <li>{@code DELETE /dedicated/server/{s}/virtualMac/{mac}/virtualAddress/{ip}}: a server task; when done the IP is
 *       off the MAC, and a MAC left without IPs is gone. {@code GET /dedicated/server/{s}/task/{id}} shows tasks.</li>
 *   <li>Tasks go {@code init → todo → doing → done}, one step each time the client looks at them (so no timer is
 *       involved); {@link #tasksEnd} (or {@link #serverTasksEnd}) makes them end {@code customerError}, {@code ovhError} or {@code cancelled}
 *       with a comment instead, or never leave {@code doing}.</li>
 * </ul>
 * Switches for the unhappy paths: {@link #down} (503 for every call), {@link #failTaskReads} (503 for the next task
 * reads), {@link #downAfterNextPost} (down once a change was accepted), {@link #slow} (each answer delayed),
 * {@link #refuseDeletes} (403 for DELETE), and every call is recorded ({@link #calls}) so tests can assert what
 * was, and was not, asked of OVH.
 */
public final class FakeOvhApi implements AutoCloseable {
    public static final String APPLICATION_KEY = "fakeAppKey7Kb";
    public static final String APPLICATION_SECRET = "fakeAppSecretEXEgWIz07P0H";
    public static final String CONSUMER_KEY = "fakeConsumerKeyMtSwSrPpNjq";
    public static final Duration TIME_WINDOW = Duration.ofSeconds(30);

    /** How the fake's tasks end. */
    public enum TaskEnd { DONE, CUSTOMER_ERROR, OVH_ERROR, CANCELLED, NEVER }

    /** One call as received: method, raw path (after /1.0), body. */
    public record Call(String method, String path, String body) {
        @Override
        public String toString() {
            return method + " " + path + (body.isEmpty() ? "" : " " + body);
        }
    }

    private static final Pattern IP = Pattern.compile("/ip/([^/]+)");
    private static final Pattern IP_MOVE = Pattern.compile("/ip/([^/]+)/move");
    private static final Pattern IP_TASK = Pattern.compile("/ip/([^/]+)/task/([0-9]+)");
    private static final Pattern MACS = Pattern.compile("/dedicated/server/([^/]+)/virtualMac");
    private static final Pattern MAC_IPS = Pattern.compile("/dedicated/server/([^/]+)/virtualMac/([^/]+)/virtualAddress");
    private static final Pattern MAC_IP = Pattern.compile("/dedicated/server/([^/]+)/virtualMac/([^/]+)/virtualAddress/([^/]+)");
    private static final Pattern SERVER = Pattern.compile("/dedicated/server/([^/]+)");
    private static final Pattern SERVER_TASK = Pattern.compile("/dedicated/server/([^/]+)/task/([0-9]+)");

    private final HttpServer server;
    private final ExecutorService threads = Executors.newCachedThreadPool(r -> {
        Thread t = new Thread(r, "fake-ovh");
        t.setDaemon(true);
        return t;
    });
    private final String base;

    // The account, guarded by this.
    private final Set<String> servers = new LinkedHashSet<>();
    /** IP → service name it is routed to ("" parked). */
    private final Map<String, String> routes = new LinkedHashMap<>();
    /** service name → MAC → IPs. */
    private final Map<String, Map<String, Set<String>>> macs = new HashMap<>();
    private final Map<Long, Task> tasks = new HashMap<>();
    private final List<String> blocks = new ArrayList<>();
    private final Map<String, String> addresses = new HashMap<>();
    private final List<Call> calls = new ArrayList<>();
    private long nextTask = 1000;
    private int nextMac = 0x10;
    private TaskEnd ipTaskEnd = TaskEnd.DONE;
    private TaskEnd serverTaskEnd = TaskEnd.DONE;
    private long clockOffset;
    private boolean down;
    private Duration slow = Duration.ZERO;
    private boolean refuseDeletes;
    private int failTaskReads;
    private boolean downAfterPost;

    private final class Task {
        final long id;
        final String owner; // "ip:<ip>" or "server:<service>"
        final String function;
        final Runnable effect;
        String status = "init";
        String comment = null;

        Task(String owner, String function, Runnable effect) {
            this.id = nextTask++;
            this.owner = owner;
            this.function = function;
            this.effect = effect;
        }

        /** One step further, as seen by the client looking at it. */
        void advance() {
            switch (status) {
                case "init" -> status = "todo";
                case "todo" -> status = "doing";
                case "doing" -> {
                    switch (owner.startsWith("ip:") ? ipTaskEnd : serverTaskEnd) {
                        case DONE -> {
                            effect.run();
                            status = "done";
                        }
                        case CUSTOMER_ERROR -> end("customerError", "The IP is blocked for abuse (fake)");
                        case OVH_ERROR -> end("ovhError", "Internal error, the operation was not carried out (fake)");
                        case CANCELLED -> end("cancelled", "Cancelled by OVH (fake)");
                        case NEVER -> { }
                    }
                }
                default -> { }
            }
        }

        private void end(String s, String why) {
            status = s;
            comment = why;
        }

        JsonObject json() {
            JsonObject o = new JsonObject();
            o.addProperty("taskId", id);
            o.addProperty("function", function);
            o.addProperty("status", status);
            o.addProperty("comment", comment);
            return o;
        }
    }

    public FakeOvhApi() throws IOException {
        server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
        server.setExecutor(threads);
        server.createContext("/1.0/", this::handle);
        server.start();
        base = "http://127.0.0.1:" + server.getAddress().getPort() + "/1.0";
    }

    /** The endpoint to put in ovh.conf. */
    public URI endpoint() {
        return URI.create(base);
    }

    /** An account with the fake's keys. */
    public OvhAccount account() {
        return new OvhAccount(endpoint(), APPLICATION_KEY, APPLICATION_SECRET, CONSUMER_KEY);
    }

    /** ovh.conf's text for this fake. */
    public String configFile() {
        return "endpoint = " + base + "\napplication-key = " + APPLICATION_KEY + "\napplication-secret = "
                + APPLICATION_SECRET + "\nconsumer-key = " + CONSUMER_KEY + "\n";
    }

    // ---- the account ---------------------------------------------------------------------------------

    public synchronized FakeOvhApi server(String serviceName) {
        servers.add(serviceName);
        macs.putIfAbsent(serviceName, new LinkedHashMap<>());
        return this;
    }

    /** A dedicated server of the account with its main IPv4 address (without one, the fake's answer has none). */
    public synchronized FakeOvhApi server(String serviceName, String address) {
        addresses.put(serviceName, address);
        return server(serviceName);
    }

    /** A failover IP of the account, routed to {@code serviceName} ("" parked). */
    public synchronized FakeOvhApi ip(String ip, String serviceName) {
        routes.put(ip, serviceName);
        return this;
    }

    /** An IP block of the account larger than one IP (e.g. {@code 198.51.100.72/29}): OVH moves it whole only. */
    public synchronized FakeOvhApi block(String cidr) {
        blocks.add(cidr);
        return this;
    }

    /** A virtual MAC on a server carrying the IP, as one made earlier (by hand, or by a create that did not finish). */
    public synchronized FakeOvhApi virtualMac(String serviceName, String mac, String ip) {
        macs.computeIfAbsent(serviceName, s -> new LinkedHashMap<>()).computeIfAbsent(mac, m -> new LinkedHashSet<>()).add(ip);
        return this;
    }

    public synchronized String routeOf(String ip) {
        return routes.get(ip);
    }

    /** The server's virtual MACs and their IPs. */
    public synchronized Map<String, Set<String>> virtualMacs(String serviceName) {
        Map<String, Set<String>> copy = new LinkedHashMap<>();
        macs.getOrDefault(serviceName, Map.of()).forEach((m, ips) -> copy.put(m, Set.copyOf(ips)));
        return copy;
    }

    // ---- switches ------------------------------------------------------------------------------------

    /** How every task ends from now on. */
    public synchronized FakeOvhApi tasksEnd(TaskEnd end) {
        ipTaskEnd = end;
        serverTaskEnd = end;
        return this;
    }

    /** How the dedicated servers' tasks (virtual MACs) end from now on; IP moves go on as they were. */
    public synchronized FakeOvhApi serverTasksEnd(TaskEnd end) {
        serverTaskEnd = end;
        return this;
    }

    /** The account no longer has this server (OVH then knows no such service name). */
    public synchronized FakeOvhApi removeServer(String serviceName) {
        servers.remove(serviceName);
        macs.remove(serviceName);
        return this;
    }

    /** OVH's clock minus the local one. */
    public synchronized FakeOvhApi clockOffset(Duration offset) {
        clockOffset = offset.toSeconds();
        return this;
    }

    public synchronized FakeOvhApi down(boolean on) {
        down = on;
        return this;
    }

    public synchronized FakeOvhApi slow(Duration delay) {
        slow = delay;
        return this;
    }

    /** The next {@code n} looks at a task (GET .../task/{id}) are answered 503, as when OVH fails for a while. */
    public synchronized FakeOvhApi failTaskReads(int n) {
        failTaskReads = n;
        return this;
    }

    /** OVH goes down (as {@link #down}) right after it accepted the next POST. */
    public synchronized FakeOvhApi downAfterNextPost() {
        downAfterPost = true;
        return this;
    }

    public synchronized FakeOvhApi refuseDeletes(boolean on) {
        refuseDeletes = on;
        return this;
    }

    public synchronized List<Call> calls() {
        return List.copyOf(calls);
    }

    /** The calls with this method, e.g. every POST. */
    public synchronized List<Call> calls(String method) {
        return calls.stream().filter(c -> c.method().equals(method)).toList();
    }

    public synchronized long now() {
        return System.currentTimeMillis() / 1000 + clockOffset;
    }

    // ---- HTTP ----------------------------------------------------------------------------------------

    private void handle(HttpExchange x) throws IOException {
        try (x) {
            String rawPath = x.getRequestURI().getRawPath().substring("/1.0".length());
            String query = x.getRequestURI().getRawQuery();
            String body = new String(x.getRequestBody().readAllBytes(), StandardCharsets.UTF_8);
            String method = x.getRequestMethod();
            Duration delay;
            synchronized (this) {
                calls.add(new Call(method, rawPath, body));
                delay = slow;
            }
            if (!delay.isZero()) {
                try {
                    Thread.sleep(delay.toMillis());
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    return;
                }
            }
            Answer a;
            synchronized (this) {
                boolean taskRead = method.equals("GET") && (IP_TASK.matcher(rawPath).matches()
                        || SERVER_TASK.matcher(rawPath).matches());
                if (down || (taskRead && failTaskReads > 0)) {
                    failTaskReads -= taskRead && !down ? 1 : 0;
                    a = error(503, null, "The service is temporarily unavailable (fake OVH is down)");
                } else if (method.equals("GET") && rawPath.equals("/auth/time")) {
                    a = new Answer(200, Long.toString(now()), "text/plain");
                } else {
                    String url = base + rawPath + (query == null ? "" : "?" + query);
                    a = authenticate(x, method, url, body);
                    if (a == null) {
                        a = method.equals("GET") && rawPath.equals("/ip") ? blocksWith(query)
                                : route(method, rawPath, body, x.getRequestHeaders().getFirst("Content-Type"));
                        if (method.equals("POST") && a.status() == 200 && downAfterPost) {
                            downAfterPost = false;
                            down = true;
                        }
                    }
                }
            }
            byte[] bytes = a.body().getBytes(StandardCharsets.UTF_8);
            x.getResponseHeaders().set("Content-Type", a.type());
            x.sendResponseHeaders(a.status(), bytes.length == 0 ? -1 : bytes.length);
            if (bytes.length > 0) {
                try (OutputStream out = x.getResponseBody()) {
                    out.write(bytes);
                }
            }
        }
    }

    private record Answer(int status, String body, String type) {}

    private static Answer json(JsonElement e) {
        return new Answer(200, e.toString(), "application/json");
    }

    private static Answer error(int status, String code, String message) {
        JsonObject o = new JsonObject();
        if (code != null) {
            o.addProperty("errorCode", code);
            o.addProperty("httpCode", status + (status == 400 ? " Bad Request" : status == 403 ? " Forbidden" : ""));
        }
        o.addProperty("message", message);
        return new Answer(status, o.toString(), "application/json");
    }

    /** OVH's checks on a signed call; null when it passes. */
    private Answer authenticate(HttpExchange x, String method, String url, String body) {
        var h = x.getRequestHeaders();
        if (!APPLICATION_KEY.equals(h.getFirst("X-Ovh-Application"))) {
            return error(403, "INVALID_KEY", "Invalid application key");
        }
        if (!CONSUMER_KEY.equals(h.getFirst("X-Ovh-Consumer"))) {
            return error(403, "INVALID_CREDENTIAL", "This credential does not exist");
        }
        long timestamp;
        try {
            timestamp = Long.parseLong(String.valueOf(h.getFirst("X-Ovh-Timestamp")));
        } catch (NumberFormatException e) {
            return error(400, "INVALID_SIGNATURE", "Invalid signature");
        }
        // Recomputed independently of the client's code: the documented formula, over what was received.
        String expected = "$1$" + sha1Hex(APPLICATION_SECRET + "+" + CONSUMER_KEY + "+" + method + "+" + url + "+" + body
                + "+" + timestamp);
        if (!expected.equals(h.getFirst("X-Ovh-Signature"))) {
            return error(400, "INVALID_SIGNATURE", "Invalid signature");
        }
        if (Math.abs(timestamp - now()) > TIME_WINDOW.toSeconds()) {
            return error(400, "QUERY_TIME_OUT", "Query out of time");
        }
        return null;
    }

    private static String sha1Hex(String text) {
        try {
            byte[] d = java.security.MessageDigest.getInstance("SHA-1").digest(text.getBytes(StandardCharsets.UTF_8));
            StringBuilder sb = new StringBuilder();
            for (byte b : d) {
                sb.append(Character.forDigit((b >> 4) & 0xf, 16)).append(Character.forDigit(b & 0xf, 16));
            }
            return sb.toString();
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    private Answer route(String method, String path, String body, String contentType) {
        Matcher m;
        if (method.equals("GET") && (m = IP.matcher(path)).matches()) {
            String ip = ipOf(m.group(1));
            if (ip == null) {
                return noSuchIp(m.group(1));
            }
            JsonObject o = new JsonObject();
            o.addProperty("ip", ip + "/32");
            o.addProperty("type", "failover");
            JsonObject routed = new JsonObject();
            routed.add("serviceName", routes.get(ip).isEmpty() ? JsonNull.INSTANCE : new com.google.gson.JsonPrimitive(routes.get(ip)));
            o.add("routedTo", routed);
            return json(o);
        }
        if (method.equals("POST") && (m = IP_MOVE.matcher(path)).matches()) {
            String ip = ipOf(m.group(1));
            if (ip == null) {
                return noSuchIp(m.group(1));
            }
            JsonObject b = body(body, contentType, Set.of("to"), Set.of("nexthop"));
            if (b == null) {
                return error(400, null, "Invalid body: expected {\"to\": serviceName} as JSON");
            }
            String to = b.get("to").getAsString();
            if (!servers.contains(to)) {
                return error(400, null, "The destination service " + to + " is not one of your services");
            }
            if (to.equals(routes.get(ip))) {
                return error(400, null, "The IP " + ip + "/32 is already routed to " + to);
            }
            String from = routes.get(ip);
            Task t = task("ip:" + ip, "genericMoveFloatingIp", () -> {
                routes.put(ip, to);
                moveVirtualMacs(ip, from, to);
            });
            return json(t.json());
        }
        if (method.equals("GET") && (m = IP_TASK.matcher(path)).matches()) {
            return showTask("ip:" + ipOf(m.group(1)), Long.parseLong(m.group(2)));
        }
        if ((m = MAC_IP.matcher(path)).matches() && method.equals("DELETE")) {
            String service = decode(m.group(1));
            String mac = decode(m.group(2));
            String ip = decode(m.group(3));
            if (!servers.contains(service)) {
                return noSuchServer(service);
            }
            if (refuseDeletes) {
                return error(403, null, "This call has not been granted");
            }
            Set<String> ips = macs.get(service).get(mac);
            if (ips == null || !ips.contains(ip)) {
                return error(404, null, "The requested object (ipAddress = " + ip + ") does not exist");
            }
            Task t = task("server:" + service, "removeVirtualMac", () -> {
                ips.remove(ip);
                if (ips.isEmpty()) {
                    macs.get(service).remove(mac);
                }
            });
            return json(t.json());
        }
        if (method.equals("GET") && (m = MAC_IPS.matcher(path)).matches()) {
            String service = decode(m.group(1));
            if (!servers.contains(service)) {
                return noSuchServer(service);
            }
            Set<String> ips = macs.get(service).get(decode(m.group(2)));
            if (ips == null) {
                return error(404, null, "The requested object (macAddress = " + decode(m.group(2)) + ") does not exist");
            }
            JsonArray a = new JsonArray();
            ips.forEach(a::add);
            return json(a);
        }
        if ((m = MACS.matcher(path)).matches()) {
            String service = decode(m.group(1));
            if (!servers.contains(service)) {
                return noSuchServer(service);
            }
            if (method.equals("GET")) {
                JsonArray a = new JsonArray();
                macs.get(service).keySet().forEach(a::add);
                return json(a);
            }
            if (method.equals("POST")) {
                JsonObject b = body(body, contentType, Set.of("ipAddress", "type", "virtualMachineName"), Set.of());
                if (b == null || !Set.of("ovh", "vmware").contains(b.get("type").getAsString())) {
                    return error(400, null, "Invalid body: expected ipAddress, type (ovh or vmware) and"
                            + " virtualMachineName as JSON");
                }
                String ip = b.get("ipAddress").getAsString();
                if (!service.equals(routes.get(ip))) {
                    return error(400, null, "The IP " + ip + " is not routed to " + service);
                }
                if (macs.get(service).values().stream().anyMatch(ips -> ips.contains(ip))) {
                    return error(400, null, "The IP " + ip + " already has a virtual MAC on " + service);
                }
                String mac = String.format("02:00:00:%02x:%02x:%02x", (nextMac >> 16) & 0xff, (nextMac >> 8) & 0xff, nextMac & 0xff);
                nextMac++;
                Task t = task("server:" + service, "addVirtualMac",
                        () -> macs.get(service).computeIfAbsent(mac, k -> new LinkedHashSet<>()).add(ip));
                return json(t.json());
            }
        }
        if (method.equals("GET") && (m = SERVER.matcher(path)).matches()) {
            String service = decode(m.group(1));
            if (!servers.contains(service)) {
                return noSuchServer(service);
            }
            JsonObject o = new JsonObject();
            o.addProperty("name", service);
            o.add("ip", addresses.containsKey(service) ? new com.google.gson.JsonPrimitive(addresses.get(service))
                    : JsonNull.INSTANCE);
            return json(o);
        }
        if (method.equals("GET") && (m = SERVER_TASK.matcher(path)).matches()) {
            String service = decode(m.group(1));
            if (!servers.contains(service)) {
                return noSuchServer(service);
            }
            return showTask("server:" + service, Long.parseLong(m.group(2)));
        }
        return error(404, null, "Got an invalid (or empty) URL");
    }

    /** {@code GET /ip?ip=X}: the account's blocks that hold X (a failover IP is its own /32 block). */
    private Answer blocksWith(String query) {
        String ip = query != null && query.startsWith("ip=") ? decode(query.substring(3)) : "";
        JsonArray a = new JsonArray();
        if (routes.containsKey(ip)) {
            a.add(ip + "/32");
        }
        for (String block : blocks) {
            if (inBlock(ip, block)) {
                a.add(block);
            }
        }
        return json(a);
    }

    private static boolean inBlock(String ip, String block) {
        String[] b = block.split("/");
        int bits = Integer.parseInt(b[1]);
        long mask = bits == 0 ? 0 : (0xffffffffL << (32 - bits)) & 0xffffffffL;
        return ip.matches("[0-9.]+") && (number(ip) & mask) == (number(b[0]) & mask);
    }

    private static long number(String ip) {
        long n = 0;
        for (String part : ip.split("\\.")) {
            n = n * 256 + Long.parseLong(part);
        }
        return n;
    }

    /** OVH moves an IP's virtual MACs with the IP: they are on the new server once the move is done. */
    private void moveVirtualMacs(String ip, String from, String to) {
        Map<String, Set<String>> old = macs.getOrDefault(from, Map.of());
        for (String mac : List.copyOf(old.keySet())) {
            if (old.get(mac).remove(ip)) {
                if (old.get(mac).isEmpty()) {
                    old.remove(mac);
                }
                macs.computeIfAbsent(to, s -> new LinkedHashMap<>()).computeIfAbsent(mac, m -> new LinkedHashSet<>()).add(ip);
            }
        }
    }

    /** The IP of a path's block ("198.51.100.77%2F32"), if it is one of the account's. */
    private String ipOf(String block) {
        String text = decode(block);
        String ip = text.endsWith("/32") ? text.substring(0, text.length() - 3) : text;
        return routes.containsKey(ip) ? ip : null;
    }

    private static Answer noSuchIp(String block) {
        return error(404, null, "The requested object (ip = " + decode(block) + ") does not exist");
    }

    private static Answer noSuchServer(String service) {
        return error(404, null, "The requested object (serviceName = " + service + ") does not exist");
    }

    private static String decode(String segment) {
        return URLDecoder.decode(segment, StandardCharsets.UTF_8);
    }

    /** The JSON body if it has exactly the required keys (and maybe optional ones), each a string; else null. */
    private static JsonObject body(String body, String contentType, Set<String> required, Set<String> optional) {
        if (contentType == null || !contentType.startsWith("application/json")) {
            return null;
        }
        try {
            JsonElement e = JsonParser.parseString(body);
            if (!e.isJsonObject()) {
                return null;
            }
            JsonObject o = e.getAsJsonObject();
            for (String k : o.keySet()) {
                if ((!required.contains(k) && !optional.contains(k)) || !o.get(k).isJsonPrimitive()) {
                    return null;
                }
            }
            return o.keySet().containsAll(required) ? o : null;
        } catch (JsonParseException ex) {
            return null;
        }
    }

    private Task task(String owner, String function, Runnable effect) {
        Task t = new Task(owner, function, effect);
        tasks.put(t.id, t);
        return t;
    }

    private Answer showTask(String owner, long id) {
        Task t = tasks.get(id);
        if (t == null || !t.owner.equals(owner)) {
            return error(404, null, "The requested object (taskId = " + id + ") does not exist");
        }
        t.advance();
        return json(t.json());
    }

    @Override
    public void close() {
        server.stop(0);
        threads.shutdownNow();
    }
}
