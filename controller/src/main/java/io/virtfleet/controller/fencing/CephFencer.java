package io.virtfleet.controller.fencing;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import com.google.gson.stream.JsonReader;
import io.virtfleet.common.process.Command;
import io.virtfleet.common.process.CommandException;
import io.virtfleet.common.validation.IpLiterals;
import java.io.StringReader;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * Puts addresses on Ceph's OSD blocklist and takes them off, through the {@code ceph} CLI as the controller's Ceph
 * admin user. An entry {@code IP:0/0} blocks every client of that IP (Ceph Pacific): the OSDs refuse its requests
 * and drop its sessions, so a QEMU already running there can no longer write, and a new client cannot start.
 * Calls block on the monitors: never on a gRPC event loop.
 */
public final class CephFencer {
    /** At most this many {@code ceph} runs at once for one host's addresses. */
    static final int PARALLEL = 8;

    private final FenceSettings settings;

    public CephFencer(FenceSettings settings) {
        if (!settings.cephConfigured()) {
            throw new IllegalArgumentException("no Ceph admin configured (ceph-admin-conf)");
        }
        this.settings = settings;
    }

    /**
     * Blocklists {@code address} for the settings' expiry (an entry already there gets the new expiry), then checks
     * Ceph lists it. Throws {@link FenceException} naming the command and Ceph's answer when either fails.
     */
    public void blocklist(String address) {
        String entry = entry(address);
        run("osd", "blocklist", "add", entry, Long.toString(settings.expiry().toSeconds()));
        if (!blocklisted().contains(entry)) {
            throw new FenceException("Ceph accepted 'osd blocklist add " + entry + "' but does not list it in"
                    + " 'osd blocklist ls': the host is not fenced");
        }
    }

    /**
     * Blocklists every address for the settings' expiry, the adds at once (one {@code ceph} run each, up to
     * {@value #PARALLEL} at a time: each run costs a second or more, and a host may report several addresses), then
     * checks them all with one {@code osd blocklist ls}. Tells {@code accepted} each address Ceph accepted, so that a
     * caller can take them off again when another failed. Throws {@link FenceException} naming what failed.
     */
    public void blocklistAll(List<String> addresses, java.util.function.Consumer<String> accepted) {
        if (addresses.isEmpty()) {
            return;
        }
        java.util.concurrent.ExecutorService pool = java.util.concurrent.Executors.newFixedThreadPool(
                Math.min(PARALLEL, addresses.size()), r -> {
                    Thread t = new Thread(r, "vf-blocklist");
                    t.setDaemon(true);
                    return t;
                });
        List<String> failures = java.util.Collections.synchronizedList(new ArrayList<>());
        try {
            List<java.util.concurrent.Future<?>> adds = new ArrayList<>();
            for (String address : addresses) {
                adds.add(pool.submit(() -> {
                    try {
                        run("osd", "blocklist", "add", entry(address), Long.toString(settings.expiry().toSeconds()));
                        accepted.accept(address);
                    } catch (FenceException e) {
                        failures.add(e.getMessage());
                    }
                }));
            }
            for (java.util.concurrent.Future<?> add : adds) {
                add.get();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new FenceException("interrupted while blocklisting " + String.join(", ", addresses));
        } catch (java.util.concurrent.ExecutionException e) {
            throw new FenceException("blocklisting failed: " + e.getCause());
        } finally {
            pool.shutdownNow();
        }
        if (!failures.isEmpty()) {
            throw new FenceException(String.join("; ", failures));
        }
        Set<String> listed = blocklisted();
        List<String> missing = addresses.stream().map(CephFencer::entry).filter(e -> !listed.contains(e)).toList();
        if (!missing.isEmpty()) {
            throw new FenceException("Ceph accepted 'osd blocklist add' for " + String.join(", ", missing) + " but does"
                    + " not list them in 'osd blocklist ls': the host is not fenced");
        }
    }

    /** Takes {@code address} off the blocklist; not being on it is no error (Ceph answers "isn't blocklisted"). */
    public void unblocklist(String address) {
        run("osd", "blocklist", "rm", entry(address));
    }

    /** The entries on the blocklist, as Ceph writes them ({@code 10.0.0.5:0/0}, {@code [fd00::5]:0/0}). */
    public Set<String> blocklisted() {
        return entries(run("osd", "blocklist", "ls", "--format", "json").stdout());
    }

    /** The entries of {@code ceph osd blocklist ls --format json}'s answer, IPv6 in the form {@link #entry} writes. */
    static Set<String> entries(String out) {
        Set<String> entries = new HashSet<>();
        try {
            // Pacific writes the address list, then the range list: two JSON arrays one after the other.
            JsonReader reader = new JsonReader(new StringReader(out));
            reader.setLenient(true);
            JsonArray list = JsonParser.parseReader(reader).getAsJsonArray();
            for (JsonElement e : list) {
                entries.add(normalize(e.getAsJsonObject().get("addr").getAsString()));
            }
        } catch (JsonParseException | IllegalStateException | NullPointerException e) {
            throw new FenceException("cannot read the answer of 'ceph osd blocklist ls --format json': "
                    + out.strip().lines().findFirst().orElse("(nothing)"));
        }
        return entries;
    }

    /** The blocklist entry covering every client of {@code address}: {@code IP:0/0}, IPv6 in brackets. */
    static String entry(String address) {
        String ip = IpLiterals.canonical("ceph client address", address);
        return ip.indexOf(':') >= 0 ? "[" + ip + "]:0/0" : ip + ":0/0";
    }

    /** Ceph writes IPv6 compressed ({@code [fd00::5]}); entries are compared in the canonical form of {@link #entry}. */
    private static String normalize(String cephEntry) {
        int close = cephEntry.lastIndexOf(']');
        if (cephEntry.startsWith("[") && close > 0) {
            try {
                String ip = InetAddress.getByName(cephEntry.substring(1, close)).getHostAddress();
                return "[" + ip + "]" + cephEntry.substring(close + 1);
            } catch (UnknownHostException e) {
                return cephEntry;
            }
        }
        return cephEntry;
    }

    private Command.Result run(String... args) {
        List<String> argv = new ArrayList<>(List.of("ceph", "--conf", settings.adminConf().toString(),
                "--id", settings.adminId()));
        if (settings.adminKeyring() != null) {
            argv.addAll(List.of("--keyring", settings.adminKeyring().toString()));
        }
        argv.addAll(List.of("--connect-timeout", Long.toString(Math.max(1, settings.timeout().toSeconds()))));
        argv.addAll(List.of(args));
        Command command = Command.of(argv).timeout(settings.timeout().plus(Duration.ofSeconds(10)));
        Command.Result result;
        try {
            result = command.run();
        } catch (CommandException e) {
            throw new FenceException(e.getMessage());
        }
        if (result.exitCode() != 0) {
            throw new FenceException("'" + command + "' failed (exit code " + result.exitCode() + "): "
                    + result.stderr().strip());
        }
        return result;
    }

    /** Ceph refused or could not be asked; the message names the command and Ceph's answer. */
    public static final class FenceException extends RuntimeException {
        public FenceException(String message) {
            super(message);
        }
    }
}
