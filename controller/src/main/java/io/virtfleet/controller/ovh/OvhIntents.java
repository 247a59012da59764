package io.virtfleet.controller.ovh;

import io.virtfleet.common.files.StateFiles;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;

/**
 * What a create is asking of OVH, written down before each OVH change (a move, a virtual MAC) and forgotten when the
 * create ends, whichever way. A controller that dies in between (after OVH's change, before the VM's record) finds
 * the note at its next start and tells the operator what OVH may have made for a VM that was never recorded: no
 * virtual MAC or move stays unreported. One file per VM name in its directory, each written whole
 * ({@link StateFiles}); a note is words for the operator, never read back as instructions.
 */
public final class OvhIntents {
    private final Path dir;

    public OvhIntents(Path dir) {
        this.dir = dir;
    }

    /** Notes what a create of {@code vm} has asked of OVH so far (the whole story, replacing an earlier note). */
    void note(String vm, String words) throws OvhException {
        try {
            StateFiles.createDirectories(dir);
            StateFiles.write(dir.resolve(vm), words);
        } catch (IOException e) {
            // Not written: then OVH is not asked, so nothing can go unreported.
            throw new OvhException(io.grpc.Status.Code.UNAVAILABLE, "cannot note in " + dir + " what this create asks"
                    + " of OVH, so OVH was not asked: " + e.getMessage());
        }
    }

    /** Forgets the note of a create that ended (recorded, or refused and undone, with its error given). */
    public void forget(String vm) {
        if (!Files.exists(dir.resolve(vm))) {
            return; // nothing was asked of OVH
        }
        try {
            StateFiles.delete(dir.resolve(vm));
        } catch (IOException e) {
            // The create's own outcome stands (its VM may be recorded): a note left behind is only logged again at
            // the next start, for a VM that then exists.
            org.slf4j.LoggerFactory.getLogger(OvhIntents.class).warn("cannot remove the OVH note {}: {}", dir.resolve(vm),
                    e.toString());
        }
    }

    /** The notes of creates that never ended (the controller stopped during them), by VM name. */
    public Map<String, String> left() {
        Map<String, String> notes = new TreeMap<>();
        if (!Files.isDirectory(dir)) {
            return notes;
        }
        try (Stream<Path> files = Files.list(dir)) {
            for (Path f : files.filter(Files::isRegularFile).toList()) {
                notes.put(f.getFileName().toString(), Files.readString(f, StandardCharsets.UTF_8).strip());
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + dir, e);
        }
        return notes;
    }
}
