package io.virtfleet.agent.hypervisor;

import io.virtfleet.common.fingerprint.Sha256;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import com.google.gson.GsonBuilder;
import io.virtfleet.common.files.StateFiles;
import io.virtfleet.common.validation.Names;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Map;
import java.util.Optional;
import java.util.SortedMap;
import java.util.TreeMap;
import java.util.UUID;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What virtfleet defined on this host, per domain name: which XML it sent, what libvirt made of it, whether it
 * was a replica, and whether the controller wants it started with the host. libvirt cannot tell this itself: it is how
 * a report says "changed by hand since", how a sync knows which domains are its replicas to update or remove (and
 * that every other domain is not its business), and how the agent knows what to start once a host boot's start gate
 * opens (libvirt's own autostart flag stays off, see {@link io.virtfleet.agent.autostart.BootStarts}).
 * Kept in {@code <state-dir>/defined-domains.json}, rewritten whole and atomically on every change, so it
 * survives the agent; a file that cannot be read is logged and the ledger starts empty (the next define or sync
 * fills it again).
 */
public final class DefinitionLedger {
    private static final Logger log = LoggerFactory.getLogger(DefinitionLedger.class);
    /** The ledger's file in the agent's state directory. */
    public static final String FILE = "defined-domains.json";

    /**
     * One domain virtfleet defined.
     *
     * @param uuid          the domain's UUID right after the define: a domain of the same name with another UUID
     *                      is someone else's, whatever the ledger says about the name
     * @param sourceSha256  SHA-256 of the XML as given to the define (before the agent added a UUID)
     * @param definedSha256 SHA-256 of libvirt's inactive XML right after the define
     * @param replica       defined by a sync as a replica (another host is its home), not by DefineDomain
     * @param autostart     the controller asked for the domain to be started with the host (DefineDomain's autostart):
     *                      the agent does it once its start gate opens, never libvirt at boot; always false for a
     *                      replica, and cleared when a stand-down or a move takes the VM's home away
     * @param libvirtAutostartTaken the domain was adopted (AdoptDomain) with libvirt's own autostart on, which the agent
     *                      turned off: a release of the adoption turns it on again, so the domain is left as found
     */
    public record Entry(String uuid, String sourceSha256, String definedSha256, boolean replica, boolean autostart,
                        boolean libvirtAutostartTaken) {
        /** An entry of a domain virtfleet defined itself (nothing taken from libvirt's own autostart). */
        public Entry(String uuid, String sourceSha256, String definedSha256, boolean replica, boolean autostart) {
            this(uuid, sourceSha256, definedSha256, replica, autostart, false);
        }

        /** This entry, with the wish to be started with the host as given. */
        public Entry withAutostart(boolean wanted) {
            return new Entry(uuid, sourceSha256, definedSha256, replica, wanted, libvirtAutostartTaken);
        }
    }

    private final Path file;
    /** Whether the last write failed: the file may hold less than memory. */
    private boolean unsaved;
    private final SortedMap<String, Entry> entries;

    private DefinitionLedger(Path file, SortedMap<String, Entry> entries) {
        this.file = file;
        this.entries = entries;
    }

    /** The ledger kept in {@code stateDirectory}, as it was left; empty when there is none yet or it is unreadable. */
    public static DefinitionLedger load(Path stateDirectory) {
        Path file = stateDirectory.resolve(FILE);
        SortedMap<String, Entry> entries = new TreeMap<>();
        try {
            entries.putAll(parse(Files.readString(file, StandardCharsets.UTF_8)));
        } catch (NoSuchFileException e) {
            // first start: virtfleet has defined nothing here yet
        } catch (IOException | RuntimeException e) {
            log.error("cannot read {} ({}): starting with an empty ledger of defined domains; replicas defined before are"
                    + " left alone until a sync defines them again, and reports show no source fingerprints until then",
                    file, e.getMessage());
        }
        return new DefinitionLedger(file, entries);
    }

    /** A ledger that is not kept anywhere (tools and tests that run a hypervisor without an agent). */
    public static DefinitionLedger inMemory() {
        return new DefinitionLedger(null, new TreeMap<>());
    }

    public synchronized Optional<Entry> get(String vm) {
        return Optional.ofNullable(entries.get(vm));
    }

    /** Every entry, by domain name. */
    public synchronized SortedMap<String, Entry> all() {
        return new TreeMap<>(entries);
    }

    synchronized void record(String vm, Entry entry) {
        if (!entry.equals(entries.put(vm, entry))) {
            save();
        }
    }

    /**
     * As {@link #record}, but only once the file holds it: for a change that must not be lost, made before what it
     * stands for (the wish to start a domain with the host, before libvirt's own autostart of it is turned off).
     *
     * @throws DomainOperationException UNAVAILABLE when the file cannot be written; memory is then as it was
     */
    synchronized void recordSaved(String vm, Entry entry) {
        Entry before = entries.put(vm, entry);
        try {
            writeFile();
        } catch (IOException e) {
            if (before == null) {
                entries.remove(vm);
            } else {
                entries.put(vm, before);
            }
            throw new DomainOperationException(DomainOperationException.Reason.UNAVAILABLE, "cannot write the ledger "
                    + file + " (" + e.getMessage() + "): " + vm + " left as it was");
        }
    }

    /**
     * Sets whether {@code vm}, as defined under {@code uuid}, is to be started with the host; nothing when the ledger
     * holds no such entry (a domain virtfleet did not define). Returns whether the entry changed.
     *
     * @throws DomainOperationException UNAVAILABLE when a wish turned off cannot be written: the file would still ask
     *                                  for a start at the next boot, of a VM that may run elsewhere by then, so the
     *                                  caller (a stand-down, a move) must not count it as done. Memory holds the new
     *                                  wish either way.
     */
    synchronized boolean wantAutostart(String vm, String uuid, boolean wanted) {
        Entry entry = entries.get(vm);
        if (entry == null || !entry.uuid().equalsIgnoreCase(uuid) || entry.autostart() == wanted
                || (wanted && entry.replica())) {
            if (!wanted && entry != null && entry.uuid().equalsIgnoreCase(uuid) && unsaved) {
                write(vm); // off in memory already, but a failed write may have left it on in the file
            }
            return false;
        }
        entries.put(vm, entry.withAutostart(wanted));
        if (wanted) {
            save();
        } else {
            write(vm);
        }
        return true;
    }

    /** Whether the last write of the file failed: it may still hold wishes memory has turned off. */
    public synchronized boolean unsaved() {
        return unsaved;
    }

    /** Writes the file, or throws naming {@code vm}'s wish that could not be turned off in it. */
    private void write(String vm) {
        try {
            writeFile();
        } catch (IOException e) {
            throw new DomainOperationException(DomainOperationException.Reason.UNAVAILABLE, "cannot record in the"
                    + " ledger " + file + " that " + vm + " is no longer to be started with the host: " + e.getMessage());
        }
    }

    /** Writes the whole file (nothing for a ledger kept in memory), noting whether it holds what memory does. */
    private void writeFile() throws IOException {
        if (file == null) {
            return;
        }
        unsaved = true;
        StateFiles.write(file, text(entries));
        unsaved = false;
    }

    /**
     * Drops {@code vm}'s entry. Besides undefines, for a sync that finds the domain gone or replaced by another of
     * the same name: what virtfleet defined is no longer there.
     */
    public synchronized void forget(String vm) {
        if (entries.remove(vm) != null) {
            save();
        }
    }

    /**
     * Writes the file. A failure (disk full, read-only state directory) must not undo a define libvirt already
     * made, so it is logged and the ledger goes on in memory; the next change writes the whole file again.
     */
    private void save() {
        try {
            writeFile();
        } catch (IOException e) {
            log.error("cannot write the ledger of defined domains {}: {}; it is kept in memory until the next change",
                    file, e.getMessage());
        }
    }

    static String text(Map<String, Entry> entries) {
        JsonObject domains = new JsonObject();
        entries.forEach((vm, e) -> {
            JsonObject o = new JsonObject();
            o.addProperty("uuid", e.uuid());
            o.addProperty("source_sha256", e.sourceSha256());
            o.addProperty("defined_sha256", e.definedSha256());
            o.addProperty("replica", e.replica());
            o.addProperty("autostart", e.autostart());
            if (e.libvirtAutostartTaken()) {
                o.addProperty("libvirt_autostart_taken", true); // only adoptions: other entries keep their old form
            }
            domains.add(vm, o);
        });
        JsonObject root = new JsonObject();
        root.add("domains", domains);
        return new GsonBuilder().setPrettyPrinting().create().toJson(root) + "\n";
    }

    /**
     * Reads the file's text, refusing anything that is not exactly what {@link #text} writes. A file of an agent from
     * before the autostart wish has no "autostart": read as false (such an agent left libvirt's own flag on instead,
     * which the agent takes over when it starts: {@link io.virtfleet.agent.autostart.BootStarts}).
     */
    static Map<String, Entry> parse(String text) {
        JsonObject domains = JsonParser.parseString(text).getAsJsonObject().getAsJsonObject("domains");
        if (domains == null) {
            throw new IllegalArgumentException("no \"domains\" object");
        }
        Map<String, Entry> out = new TreeMap<>();
        for (Map.Entry<String, JsonElement> d : domains.entrySet()) {
            String vm = Names.vmName("domain name", d.getKey());
            JsonObject o = d.getValue().getAsJsonObject();
            String uuid = UUID.fromString(o.get("uuid").getAsString()).toString();
            String source = o.get("source_sha256").getAsString();
            String defined = o.get("defined_sha256").getAsString();
            if (!Sha256.isHex(source) || !Sha256.isHex(defined)) {
                throw new IllegalArgumentException(vm + ": a fingerprint is not 64 lowercase hex digits");
            }
            boolean replica = o.get("replica").getAsBoolean();
            JsonElement autostart = o.get("autostart");
            boolean wanted = autostart != null && autostart.getAsBoolean() && !replica;
            JsonElement taken = o.get("libvirt_autostart_taken");
            out.put(vm, new Entry(uuid, source, defined, replica, wanted, taken != null && taken.getAsBoolean()));
        }
        return out;
    }
}
