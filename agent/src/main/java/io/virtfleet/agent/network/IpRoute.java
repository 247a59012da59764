package io.virtfleet.agent.network;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import io.virtfleet.common.process.Command;
import io.virtfleet.common.process.CommandException;
import io.virtfleet.common.validation.InvalidInputException;
import io.virtfleet.common.validation.Ipv4;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.function.Supplier;

/**
 * iproute2's {@code ip} and {@code bridge}, run from argument lists in one network namespace (the host's own
 * when the name is empty). Reads use their JSON output; changes insist on success. Failures become
 * {@link NetworkException}s carrying the tool's own reason.
 */
final class IpRoute {
    /** Netlink answers in milliseconds; a tool still running after this is stuck. */
    private static final Duration TIMEOUT = Duration.ofSeconds(10);
    /** The FDB address of the entries that say where to flood broadcasts and unknown destinations. */
    static final String ALL_ZERO_MAC = "00:00:00:00:00:00";

    /** Runs one command; tests substitute one that fails on cue. */
    interface Runner {
        Command.Result run(Command command);
    }

    private final String namespace;
    private final Runner runner;

    IpRoute(String namespace) {
        this(namespace, Command::run);
    }

    IpRoute(String namespace, Runner runner) {
        this.namespace = namespace;
        this.runner = runner;
    }

    /** Every interface of the namespace, by name. */
    Map<String, Link> links() {
        String output = read("ip", "-j", "-d", "link", "show");
        return parsing("ip", () -> {
            Map<String, Link> links = new LinkedHashMap<>();
            for (Link link : Link.listFromJson(json("ip", output))) {
                links.put(link.name(), link);
            }
            return links;
        });
    }

    /** The first IPv4 address of an existing interface, if it has one. */
    Optional<Ipv4> firstIpv4(String device) {
        String output = read("ip", "-j", "-4", "addr", "show", "dev", device);
        return parsing("ip", () -> firstIpv4(device, output));
    }

    private static Optional<Ipv4> firstIpv4(String device, String output) {
        for (JsonElement link : json("ip", output)) {
            JsonElement addresses = link.getAsJsonObject().get("addr_info");
            if (addresses == null) {
                continue;
            }
            for (JsonElement a : addresses.getAsJsonArray()) {
                JsonElement local = a.getAsJsonObject().get("local");
                if (local != null && "inet".equals(a.getAsJsonObject().get("family").getAsString())) {
                    try {
                        return Optional.of(Ipv4.parse("address of " + device, local.getAsString()));
                    } catch (InvalidInputException e) {
                        throw unexpected("ip", "an address it printed: " + e.getMessage());
                    }
                }
            }
        }
        return Optional.empty();
    }

    /** The peers a VXLAN interface floods to: the destinations of its all-zero FDB entries. */
    Set<String> floodDestinations(String vxlan) {
        String output = read("bridge", "-j", "fdb", "show", "dev", vxlan);
        return parsing("bridge", () -> {
            Set<String> peers = new LinkedHashSet<>();
            for (JsonElement e : json("bridge", output)) {
                JsonObject entry = e.getAsJsonObject();
                if (entry.has("mac") && entry.get("mac").getAsString().equals(ALL_ZERO_MAC) && entry.has("dst")) {
                    peers.add(entry.get("dst").getAsString());
                }
            }
            return peers;
        });
    }

    /** Runs {@code ip ARGS}, which must succeed. */
    void ip(String... args) {
        change("ip", args);
    }

    /** Runs {@code bridge ARGS}, which must succeed. */
    void bridge(String... args) {
        change("bridge", args);
    }

    private void change(String tool, String... args) {
        Command.Result result = run(tool, args);
        if (result.exitCode() != 0) {
            throw new NetworkException(NetworkException.Kind.PRECONDITION,
                    "'" + result.command() + "' failed: " + reason(result));
        }
    }

    private String read(String tool, String... args) {
        Command.Result result = run(tool, args);
        if (result.exitCode() != 0) {
            throw new NetworkException(NetworkException.Kind.UNAVAILABLE,
                    "cannot read the host's network: '" + result.command() + "' failed: " + reason(result));
        }
        return result.stdout();
    }

    private Command.Result run(String tool, String... args) {
        List<String> argv = new ArrayList<>();
        argv.add(tool);
        if (!namespace.isEmpty()) {
            argv.add("-n");
            argv.add(namespace);
        }
        argv.addAll(List.of(args));
        Command command = Command.of(argv).timeout(TIMEOUT);
        try {
            return runner.run(command);
        } catch (CommandException e) {
            throw new NetworkException(NetworkException.Kind.UNAVAILABLE,
                    e.getMessage() + " (iproute2 provides " + tool + ")");
        }
    }

    /** The tools print one JSON array (nothing at all when there is nothing to list). */
    private static JsonArray json(String tool, String text) {
        JsonElement parsed;
        try {
            parsed = JsonParser.parseString(text.isBlank() ? "[]" : text);
        } catch (JsonParseException e) {
            throw unexpected(tool, "output that is not JSON (" + e.getMessage() + ")");
        }
        if (!parsed.isJsonArray()) {
            throw unexpected(tool, "JSON that is not a list");
        }
        return parsed.getAsJsonArray();
    }

    /** Runs a parse of the tool's JSON, turning a shape other than documented into a refusal that says so. */
    private static <T> T parsing(String tool, Supplier<T> parse) {
        try {
            return parse.get();
        } catch (IllegalStateException | ClassCastException | UnsupportedOperationException | NumberFormatException e) {
            throw unexpected(tool, "JSON of an unexpected shape (" + e.getMessage() + ")");
        }
    }

    private static NetworkException unexpected(String tool, String what) {
        return new NetworkException(NetworkException.Kind.PRECONDITION,
                tool + " printed " + what + "; virtfleet needs iproute2 with JSON output (Debian 10 or later)");
    }

    private static String reason(Command.Result result) {
        String reason = result.reason();
        return reason.isEmpty() ? "exit code " + result.exitCode() : reason;
    }
}
