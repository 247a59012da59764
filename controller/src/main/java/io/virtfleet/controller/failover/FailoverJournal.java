package io.virtfleet.controller.failover;

import io.virtfleet.common.files.StateFiles;
import io.virtfleet.common.validation.Names;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.TreeMap;
import java.util.stream.Stream;

/**
 * The VMs of a lost host being restarted elsewhere, written down before their new home is claimed and forgotten once
 * they run there (or the attempt is undone). A controller that dies in between finds the note at its next start and,
 * from the VM's record, either finishes (the record names the new home: defined and started there, claims following)
 * or undoes and tries again (it does not: the new home's claim given back). One small file per VM, written whole
 * through {@link StateFiles}.
 */
public final class FailoverJournal {
    /**
     * A VM being restarted elsewhere.
     *
     * @param vm     the VM
     * @param lost   the lost host it was homed on
     * @param target the host claimed as its new home
     * @param by     who asked (an operator, or "controller")
     */
    public record Intent(String vm, String lost, String target, String by) {}

    private final Path dir;
    private final Map<String, Intent> intents = new TreeMap<>();

    private FailoverJournal(Path dir) {
        this.dir = dir;
    }

    /** The journal kept in {@code dir}, with the failovers a previous run left unfinished. */
    public static FailoverJournal open(Path dir) throws IOException {
        FailoverJournal journal = new FailoverJournal(dir);
        if (Files.isDirectory(dir)) {
            try (Stream<Path> files = Files.list(dir)) {
                for (Path f : files.filter(Files::isRegularFile).toList()) {
                    String name = f.getFileName().toString();
                    if (name.startsWith(".")) {
                        continue; // a temporary file of an interrupted write: never renamed, so never acknowledged
                    }
                    journal.intents.put(name, read(f));
                }
            }
        }
        return journal;
    }

    /**
     * One note. A note that cannot be read stops the controller's start (failing closed: guessing could start the VM
     * on two hosts or leave a claim behind), saying what the operator should do to get past it.
     */
    private static Intent read(Path file) throws IOException {
        String vm = file.getFileName().toString();
        try {
            Properties p = new Properties();
            p.load(new java.io.StringReader(Files.readString(file, StandardCharsets.UTF_8)));
            return new Intent(Names.vmName("vm", vm), Names.hostName("lost", p.getProperty("lost", "")),
                    Names.hostName("target", p.getProperty("target", "")), p.getProperty("by", ""));
        } catch (IOException | RuntimeException e) {
            throw new IOException("cannot read the note of the failover of " + vm + ", " + file + ": " + e.getMessage()
                    + ". The controller does not start without knowing where " + vm + " may run: run 'virsh list"
                    + " --all' on the note's target host (its target line, when legible), make sure " + vm + " runs"
                    + " only on the host its record names (virtfleet vm show " + vm + "), then delete " + file
                    + " and start the controller again", e);
        }
    }

    /** Writes the intent down (durably) before the new home is claimed. */
    public synchronized void begin(Intent intent) throws IOException {
        StateFiles.createDirectories(dir);
        StateFiles.write(dir.resolve(intent.vm()), "lost=" + intent.lost() + "\ntarget=" + intent.target()
                + "\nby=" + intent.by().replaceAll("[\\r\\n\\\\=:]", "_") + "\n");
        intents.put(intent.vm(), intent);
    }

    /** Forgets a finished or undone failover. */
    public synchronized void end(String vm) {
        try {
            StateFiles.delete(dir.resolve(vm));
        } catch (IOException e) {
            // Kept in memory as on disk: the passes settle it again from the VM's record; nothing is done twice.
            throw new UncheckedIOException("cannot remove the failover note " + dir.resolve(vm), e);
        }
        intents.remove(vm); // the file first, as every state change here
    }

    public synchronized Optional<Intent> get(String vm) {
        return Optional.ofNullable(intents.get(vm));
    }

    public synchronized boolean noted(String vm) {
        return intents.containsKey(vm);
    }

    public synchronized List<Intent> all() {
        return List.copyOf(intents.values());
    }
}
