package io.virtfleet.controller.move;

import io.virtfleet.common.files.StateFiles;
import io.virtfleet.common.validation.Names;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.TreeMap;
import java.util.stream.Stream;

/**
 * The moves in flight, written down before a migration starts and forgotten once its outcome is recorded: a
 * controller that dies during a move (or loses the source's agent mid-way) does not know on which host the VM ended
 * up, and must neither start it on its recorded home nor forget a disk it made on the target. Its next start finds
 * the note and settles the move from what the hosts report ({@link Moves#settle}). One small file per VM, written
 * whole through {@link StateFiles}.
 */
public final class MoveJournal {
    /**
     * A move in flight.
     *
     * @param copyDisk        the VM's raw disk is copied to the target
     * @param targetDiskMade  the move made the target's disk (it is deleted again if the VM stays on its source)
     */
    public record Intent(String vm, String source, String target, boolean copyDisk, boolean targetDiskMade,
                         String operator) {
        Intent withTargetDiskMade() {
            return new Intent(vm, source, target, copyDisk, true, operator);
        }
    }

    private final Path dir;
    private final Map<String, Intent> intents = new TreeMap<>();

    private MoveJournal(Path dir) {
        this.dir = dir;
    }

    /** The journal kept in {@code dir}, with the moves a previous run left unsettled. */
    public static MoveJournal open(Path dir) throws IOException {
        MoveJournal journal = new MoveJournal(dir);
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
     * One note. A note that cannot be read stops the controller's start (failing closed: settling the move needs it, and
     * guessing could start the VM on two hosts), with what the operator should do to get past it.
     */
    private static Intent read(Path file) throws IOException {
        String vm = file.getFileName().toString();
        try {
            Properties p = new Properties();
            p.load(new java.io.StringReader(Files.readString(file, StandardCharsets.UTF_8)));
            return new Intent(Names.vmName("vm", vm), Names.hostName("source", p.getProperty("source", "")),
                    Names.hostName("target", p.getProperty("target", "")),
                    Boolean.parseBoolean(p.getProperty("copy-disk")), Boolean.parseBoolean(p.getProperty("target-disk-made")),
                    p.getProperty("operator", ""));
        } catch (IOException | RuntimeException e) {
            throw new IOException("cannot read the note of a move of " + vm + " in flight, " + file + ": "
                    + e.getMessage() + ". The controller does not start without knowing where " + vm + " runs: run"
                    + " 'virsh list --all' on both hosts of the move (the note's source and target lines, when"
                    + " legible), make sure " + vm + " runs on at most one of them, then delete " + file
                    + " and start the controller again (its record then names the home host)", e);
        }
    }

    /** Writes the intent down (durably) before anything of the move happens. */
    public synchronized void begin(Intent intent) throws IOException {
        write(intent);
        intents.put(intent.vm(), intent);
    }

    /** Notes that the move made the target's disk, before it is used. */
    public synchronized Intent targetDiskMade(String vm) throws IOException {
        Intent updated = intents.get(vm).withTargetDiskMade();
        write(updated);
        intents.put(vm, updated);
        return updated;
    }

    /** Forgets a settled move. */
    public synchronized void end(String vm) {
        intents.remove(vm);
        try {
            StateFiles.delete(dir.resolve(vm));
        } catch (IOException e) {
            // The next start finds the note and settles the move again from the hosts' reports: nothing is lost.
            throw new UncheckedIOException("cannot remove the move note " + dir.resolve(vm), e);
        }
    }

    public synchronized Optional<Intent> get(String vm) {
        return Optional.ofNullable(intents.get(vm));
    }

    public synchronized boolean pending(String vm) {
        return intents.containsKey(vm);
    }

    public synchronized java.util.List<Intent> all() {
        return java.util.List.copyOf(intents.values());
    }

    private void write(Intent i) throws IOException {
        StateFiles.createDirectories(dir);
        StateFiles.write(dir.resolve(i.vm()), "source=" + i.source() + "\ntarget=" + i.target() + "\ncopy-disk=" + i.copyDisk()
                + "\ntarget-disk-made=" + i.targetDiskMade() + "\noperator=" + escape(i.operator()) + "\n");
    }

    /** Operator names are certificate names: kept on one line whatever they hold. */
    private static String escape(String operator) {
        return operator.replaceAll("[\\r\\n\\\\=:]", "_");
    }
}
