package io.virtfleet.controller.fencing;

import com.google.gson.GsonBuilder;
import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonNull;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import io.virtfleet.common.files.StateFiles;
import io.virtfleet.common.validation.Names;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The verdicts that hosts are lost, kept in one file so a fence survives a controller restart: forgetting one would
 * let placement choose a host whose disks are cut, and let its VMs be thought still at home. The file is written
 * first, then memory (a failed write changes nothing, the operator's retry writes it again); reads take no lock
 * (liveness asks on every judgement).
 */
public final class Fences implements FenceView {
    private final Path file;
    private final Map<String, Fence> fences = new ConcurrentHashMap<>();

    private Fences(Path file) {
        this.file = file;
    }

    /**
     * The verdicts kept in {@code file}. A file that cannot be read stops the controller's start (failing closed: a
     * fenced host taken for a live one could be given VMs whose disks Ceph refuses it).
     */
    public static Fences open(Path file) throws IOException {
        Fences store = new Fences(file);
        if (Files.exists(file)) {
            try {
                for (JsonElement e : JsonParser.parseString(Files.readString(file, StandardCharsets.UTF_8)).getAsJsonArray()) {
                    Fence f = fromJson(e.getAsJsonObject());
                    store.fences.put(f.host(), f);
                }
            } catch (RuntimeException e) {
                throw new IOException("cannot read the fenced hosts in " + file + ": " + e.getMessage() + ". The"
                        + " controller does not start without knowing which hosts are fenced: check 'ceph osd blocklist"
                        + " ls' for the hosts' addresses and repair the file (a JSON array of the verdicts) from it, then start it again."
                        + " Never delete it while a host is fenced: its agent would no longer be told to stand down,"
                        + " and VMs started elsewhere could run twice once its blocklist entries lapse", e);
            }
        }
        return store;
    }

    @Override
    public Optional<Fence> of(String host) {
        return Optional.ofNullable(fences.get(host));
    }

    /** Every verdict, by host name. */
    public Map<String, Fence> all() {
        return Map.copyOf(fences);
    }

    @Override
    public java.util.Set<String> hosts() {
        return java.util.Set.copyOf(fences.keySet());
    }

    /** Records a verdict, replacing the host's previous one. */
    public synchronized void record(Fence fence) throws IOException {
        Map<String, Fence> next = new TreeMap<>(fences);
        next.put(fence.host(), fence);
        write(next);
        fences.put(fence.host(), fence);
    }

    /** Drops a host's verdict; returns whether it had one. */
    public synchronized boolean remove(String host) throws IOException {
        if (!fences.containsKey(host)) {
            return false;
        }
        Map<String, Fence> next = new TreeMap<>(fences);
        next.remove(host);
        write(next);
        fences.remove(host);
        return true;
    }

    private void write(Map<String, Fence> all) throws IOException {
        JsonArray list = new JsonArray();
        all.values().forEach(f -> list.add(toJson(f)));
        StateFiles.writePrivate(file, new GsonBuilder().setPrettyPrinting().create().toJson(list) + "\n");
    }

    private static JsonObject toJson(Fence f) {
        JsonObject o = new JsonObject();
        o.addProperty("host", f.host());
        o.addProperty("kind", f.kind().name());
        JsonArray addresses = new JsonArray();
        f.addresses().forEach(addresses::add);
        o.add("addresses", addresses);
        o.addProperty("fenced_at", f.fencedAt().toString());
        if (f.expires() == null) {
            o.add("expires", JsonNull.INSTANCE);
        } else {
            o.addProperty("expires", f.expires().toString());
        }
        o.addProperty("by", f.by());
        return o;
    }

    private static Fence fromJson(JsonObject o) {
        List<String> addresses = new ArrayList<>();
        o.getAsJsonArray("addresses").forEach(a -> addresses.add(a.getAsString()));
        JsonElement expires = o.get("expires");
        return new Fence(Names.hostName("host", o.get("host").getAsString()), Fence.Kind.valueOf(o.get("kind").getAsString()),
                addresses, Instant.parse(o.get("fenced_at").getAsString()),
                expires == null || expires.isJsonNull() ? null : Instant.parse(expires.getAsString()), o.get("by").getAsString());
    }
}
