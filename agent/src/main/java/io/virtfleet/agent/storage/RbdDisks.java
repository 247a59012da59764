package io.virtfleet.agent.storage;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import io.virtfleet.common.process.Command;
import io.virtfleet.common.process.CommandException;
import io.virtfleet.common.validation.Names;
import io.virtfleet.common.validation.Sizes;
import io.virtfleet.common.validation.StorageTiers;
import io.virtfleet.proto.v1.StorageTier;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Optional;

/**
 * The Ceph storage tiers: one RBD image per VM, named after it, in the tier's pool. Created with
 * {@code qemu-img create -f rbd} as the runbook did, inspected and removed with {@code rbd}. Every call
 * names the cephx user, ceph.conf and keyring explicitly and carries librados timeouts, so an unreachable
 * cluster is an answer within {@link CephSettings#timeout()}, not a hung command.
 */
public final class RbdDisks {
    private final CephSettings ceph;

    public RbdDisks(CephSettings ceph) {
        this.ceph = ceph;
    }

    /** Ensures the VM's image exists in the tier's pool with {@code bytes} bytes: created, adopted, or refused. */
    public DiskOutcome ensure(StorageTier tier, String vmName, long bytes) {
        Sizes.diskBytes("size_bytes", bytes);
        Image image = image(tier, vmName);
        Optional<Long> found = size(image);
        if (found.isPresent()) {
            return adopt(image, found.get(), bytes);
        }
        Command.Result r = run(Command.of("qemu-img", "create", "-q", "-f", "rbd", qemuTarget(image), Long.toString(bytes)));
        if (r.exitCode() != 0) {
            if (r.stderr().contains("File exists")) {
                // Created meanwhile, by another host's agent perhaps (pools are shared): judge what is there now.
                return adopt(image, size(image).orElseThrow(() -> failure(image, "create", r)), bytes);
            }
            throw failure(image, "create", r);
        }
        return DiskOutcome.changed("created " + image + " " + Sizes.exact(bytes));
    }

    /** Removes the VM's image from the tier's pool; absent is fine, an image some client has open is refused. */
    public DiskOutcome delete(StorageTier tier, String vmName) {
        Image image = image(tier, vmName);
        Optional<Long> found = size(image);
        if (found.isEmpty()) {
            return DiskOutcome.alreadyDone(image + " was already absent");
        }
        Command.Result r = run(rbd("rm", "--no-progress", image.spec()));
        if (r.exitCode() != 0) {
            if (r.stderr().contains("still has watchers")) {
                throw StorageException.wrongState(image + " is in use by " + watchers(image)
                        + "; stop the VM that uses it (on whichever host runs it) and repeat");
            }
            if (isAbsent(r)) {
                return DiskOutcome.alreadyDone(image + " was already absent");
            }
            throw failure(image, "remove", r);
        }
        return DiskOutcome.changed("deleted " + image + " (" + Sizes.exact(found.get()) + ")");
    }

    /**
     * The size of the VM's image in {@code pool} (a domain someone else defined, being adopted), or empty when there is
     * none; a pool that is neither tier's is refused.
     */
    public Optional<Long> sizeIn(String pool, String vmName) {
        StorageTier tier = pool.equals(ceph.pool(StorageTier.STORAGE_TIER_SSD)) ? StorageTier.STORAGE_TIER_SSD
                : pool.equals(ceph.pool(StorageTier.STORAGE_TIER_SATA)) ? StorageTier.STORAGE_TIER_SATA : null;
        if (tier == null) {
            throw StorageException.wrongState("pool " + pool + " is neither the ssd tier's ("
                    + ceph.pool(StorageTier.STORAGE_TIER_SSD) + ") nor the sata tier's ("
                    + ceph.pool(StorageTier.STORAGE_TIER_SATA) + ")");
        }
        return size(image(tier, vmName));
    }

    /** An RBD image: pool and name, shown the way qemu-img and libvirt write it. */
    record Image(StorageTier tier, String pool, String name) {
        String spec() {
            return pool + "/" + name;
        }

        @Override
        public String toString() {
            return "rbd:" + spec();
        }
    }

    private Image image(StorageTier tier, String vmName) {
        Image image = new Image(tier, ceph.pool(tier), Names.vmName("vm_name", vmName));
        requireConfigured(image);
        return image;
    }

    /** Refuses, naming the setting, when this host lacks the files it needs to reach Ceph for the disk. */
    void requireConfigured(StorageTier tier, String vmName) {
        requireConfigured(new Image(tier, ceph.pool(tier), Names.vmName("vm_name", vmName)));
    }

    private void requireConfigured(Image image) {
        for (Path file : List.of(ceph.conf(), ceph.keyring())) {
            if (!Files.isReadable(file)) {
                String key = file.equals(ceph.conf()) ? "ceph-conf" : "ceph-keyring";
                throw StorageException.wrongState(key + " " + file + " does not exist or cannot be read, so this host "
                        + "cannot reach Ceph for " + image + ": install the file, or set " + key
                        + " (or leave " + StorageTiers.name(image.tier()) + " out of storage-tiers)");
            }
        }
    }

    private DiskOutcome adopt(Image image, long found, long bytes) {
        if (found != bytes) {
            throw StorageException.wrongState(image + " already exists with " + Sizes.exact(found) + " (" + found
                    + " bytes), not the requested " + Sizes.exact(bytes) + " (" + bytes + " bytes); virtfleet never "
                    + "resizes or overwrites a disk: delete it first, or ask for its size");
        }
        return DiskOutcome.alreadyDone("adopted " + image + " (" + Sizes.exact(bytes) + ")");
    }

    /** The image's size in bytes, or empty when there is no such image. */
    private Optional<Long> size(Image image) {
        Command.Result r = run(rbd("info", "--format", "json", image.spec()));
        if (r.exitCode() != 0) {
            if (isAbsent(r)) {
                return Optional.empty();
            }
            throw failure(image, "inspect", r);
        }
        try {
            return Optional.of(JsonParser.parseString(r.stdout()).getAsJsonObject().get("size").getAsLong());
        } catch (JsonParseException | IllegalStateException | NullPointerException | UnsupportedOperationException e) {
            throw StorageException.unavailable("rbd info of " + image + " is not what the agent understands: "
                    + r.stdout().strip());
        }
    }

    /** Who has the image open, as Ceph knows them (client addresses). */
    private String watchers(Image image) {
        Command.Result r = run(rbd("status", "--format", "json", image.spec()));
        List<String> out = new ArrayList<>();
        try {
            JsonArray list = JsonParser.parseString(r.stdout()).getAsJsonObject().getAsJsonArray("watchers");
            for (JsonElement w : list) {
                JsonObject o = w.getAsJsonObject();
                out.add("client." + o.get("client").getAsString() + " at " + o.get("address").getAsString());
            }
        } catch (RuntimeException e) {
            return "a client (Ceph would not say which: " + reason(r) + ")";
        }
        return out.isEmpty() ? "a client that just let go" : String.join(", ", out);
    }

    private static boolean isAbsent(Command.Result r) {
        return !isMissingPool(r) && r.stderr().contains("No such file or directory");
    }

    private static boolean isMissingPool(Command.Result r) {
        return r.stderr().contains("error opening pool") && r.stderr().contains("No such file or directory");
    }

    /** The refusal for a failed Ceph call: missing pool, no permission, or Ceph unreachable. */
    private StorageException failure(Image image, String action, Command.Result r) {
        String text = r.stderr().toLowerCase(Locale.ROOT);
        if (isMissingPool(r)) {
            return StorageException.wrongState("Ceph pool " + image.pool() + " (" + CephSettings.poolKey(image.tier())
                    + ") does not exist in the cluster of " + ceph.conf() + ", so there can be no " + image
                    + ": create the pool (ceph osd pool create " + image.pool() + "; rbd pool init " + image.pool()
                    + ") or set " + CephSettings.poolKey(image.tier()));
        }
        if (text.contains("permission denied") || text.contains("operation not permitted")) {
            return StorageException.wrongState("Ceph refused to " + action + " " + image + " for client." + ceph.client()
                    + ": " + reason(r) + "; give it rbd caps on pool " + image.pool()
                    + " (ceph auth caps client." + ceph.client() + " mon 'profile rbd' osd 'profile rbd pool=" + image.pool() + "')");
        }
        return StorageException.unavailable("Ceph did not " + action + " " + image + " (cluster of " + ceph.conf()
                + ", as client." + ceph.client() + ", waiting at most " + seconds() + " s): " + reason(r));
    }

    /** A tool's own reason: its "rbd:" / "qemu-img:" line, not the daemons' timestamped log lines. */
    private static String reason(Command.Result r) {
        for (String line : r.stderr().split("\n")) {
            String l = line.strip();
            if (l.startsWith("rbd: ") || l.startsWith("qemu-img: ")) {
                return l;
            }
        }
        return r.reason().isEmpty() ? "exit code " + r.exitCode() : r.reason();
    }

    private Command rbd(String... args) {
        List<String> argv = new ArrayList<>(List.of("rbd", "--id", ceph.client(), "--conf", ceph.conf().toString(),
                "--keyring", ceph.keyring().toString()));
        for (String option : timeoutOptions()) {
            int eq = option.indexOf('=');
            argv.add("--" + option.substring(0, eq));
            argv.add(option.substring(eq + 1));
        }
        argv.addAll(List.of(args));
        return Command.of(argv);
    }

    /** qemu-img's rbd: target; every part is a validated name or a path without ':' (see {@link CephSettings}). */
    private String qemuTarget(Image image) {
        return "rbd:" + image.spec() + ":id=" + ceph.client() + ":conf=" + ceph.conf() + ":keyring=" + ceph.keyring()
                + ":" + String.join(":", timeoutOptions());
    }

    /** librados' own limits: connecting to the monitors, and each monitor and OSD operation. */
    private List<String> timeoutOptions() {
        long s = seconds();
        return List.of("client_mount_timeout=" + s, "rados_mon_op_timeout=" + s, "rados_osd_op_timeout=" + s);
    }

    private long seconds() {
        return Math.max(1, ceph.timeout().toSeconds());
    }

    /**
     * Runs a Ceph tool under a hard limit above librados' own (connect, then a few operations), for the case
     * where the tool hangs where librados does not count.
     */
    private Command.Result run(Command command) {
        try {
            return command.timeout(ceph.timeout().multipliedBy(3).plus(Duration.ofSeconds(5))).run();
        } catch (CommandException e) {
            throw StorageException.unavailable("Ceph did not answer (cluster of " + ceph.conf() + ", as client."
                    + ceph.client() + "): " + e.getMessage(), e);
        }
    }
}
