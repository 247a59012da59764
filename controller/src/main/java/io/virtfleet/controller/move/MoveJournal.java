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
 * the note and settles the move from what the hosts report ({@link Moves#settle}). A settled move whose clean-up a
 * host did not answer (the disk made on a lost target, a raw VM's old copy on its old home) keeps its note, at stage
 * STAYED or MOVED, until that clean-up is done. One small file per VM, written whole through {@link StateFiles}.
 */
public final class MoveJournal {
    /** Where a noted move is. */
    public enum Stage {
        /** In flight, or its outcome still unknown: the VM may be on either host. */
        MOVING,
        /** Given up, the VM on its source: the disk the move made on the target is still to be deleted. */
        STAYED,
        /** Recorded on the target: the old home's raw copy (definition and disk) is still to be removed. */
        MOVED
    }

    /**
     * A move in flight, or what a settled one left to clean up.
     *
     * @param copyDisk        the VM's raw disk is copied to the target
     * @param targetDiskMade  the move may have made the target's disk: noted before it is made, kept until it is
     *                        deleted again if the VM stays on its source
     * @param stage           in flight, or settled with something left on a host
     */
    public record Intent(String vm, String source, String target, boolean copyDisk, boolean targetDiskMade,
                         String operator, Stage stage) {
        public Intent(String vm, String source, String target, boolean copyDisk, boolean targetDiskMade, String operator) {
            this(vm, source, target, copyDisk, targetDiskMade, operator, Stage.MOVING);
        }

        Intent withTargetDiskMade(boolean made) {
            return new Intent(vm, source, target, copyDisk, made, operator, stage);
        }

        Intent at(Stage now) {
            return new Intent(vm, source, target, copyDisk, targetDiskMade, operator, now);
        }

        /** What is left of a settled move, in words; empty while it is in flight. */
        public String leftover() {
            return switch (stage) {
                case MOVING -> "";
                case STAYED -> "the disk a failed move made for " + vm + " on " + target + " is to be deleted once "
                        + target + " answers";
                case MOVED -> "the old copy of " + vm + " on " + source + " (definition and disk) is to be removed once "
                        + source + " answers";
            };
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
                    p.getProperty("operator", ""), stage(p.getProperty("stage", "moving")));
        } catch (IOException | RuntimeException e) {
            throw new IOException("cannot read the note of a move of " + vm + " in flight, " + file + ": "
                    + e.getMessage() + ". The controller does not start without knowing where " + vm + " runs: run"
                    + " 'virsh list --all' on both hosts of the move (the note's source and target lines, when"
                    + " legible), make sure " + vm + " runs on at most one of them, then delete " + file
                    + " and start the controller again (its record then names the home host)", e);
        }
    }

    private static Stage stage(String text) {
        for (Stage s : Stage.values()) {
            if (s.name().toLowerCase(java.util.Locale.ROOT).equals(text)) {
                return s;
            }
        }
        throw new IllegalArgumentException("stage " + text + " is not one of moving, stayed, moved");
    }

    /** Writes the intent down (durably) before anything of the move happens. */
    public synchronized void begin(Intent intent) throws IOException {
        write(intent);
        intents.put(intent.vm(), intent);
    }

    /**
     * Notes (durably) whether the move may have made the target's disk: true before it is made, false when the target
     * refused to make it (or had one already, which is not the move's to delete).
     */
    public synchronized Intent targetDiskMade(String vm, boolean made) throws IOException {
        return update(intents.get(vm).withTargetDiskMade(made));
    }

    /** Notes (durably) that the move settled at {@code stage} with something left to clean up on a host. */
    public synchronized Intent settled(String vm, Stage stage) throws IOException {
        return update(intents.get(vm).at(stage));
    }

    private Intent update(Intent updated) throws IOException {
        write(updated);
        intents.put(updated.vm(), updated);
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

    /** Whether a move of the VM is in flight or its outcome unknown (not only a leftover to clean up). */
    public synchronized boolean pending(String vm) {
        Intent i = intents.get(vm);
        return i != null && i.stage() == Stage.MOVING;
    }

    /** Whether any note of the VM is kept: a move in flight, or one that left something to clean up. */
    public synchronized boolean noted(String vm) {
        return intents.containsKey(vm);
    }

    public synchronized java.util.List<Intent> all() {
        return java.util.List.copyOf(intents.values());
    }

    private void write(Intent i) throws IOException {
        StateFiles.createDirectories(dir);
        StateFiles.write(dir.resolve(i.vm()), "source=" + i.source() + "\ntarget=" + i.target() + "\ncopy-disk=" + i.copyDisk()
                + "\ntarget-disk-made=" + i.targetDiskMade() + "\nstage=" + i.stage().name().toLowerCase(java.util.Locale.ROOT)
                + "\noperator=" + escape(i.operator()) + "\n");
    }

    /** Operator names are certificate names: kept on one line whatever they hold. */
    private static String escape(String operator) {
        return operator.replaceAll("[\\r\\n\\\\=:]", "_");
    }
}
