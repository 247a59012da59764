package io.virtfleet.agent.sync;

import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.util.JsonFormat;
import io.virtfleet.common.validation.Names;
import io.virtfleet.proto.v1.Vm;
import io.virtfleet.proto.v1.VmPhase;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.Map;
import java.util.SortedMap;
import java.util.TreeMap;
import java.util.stream.Stream;

/**
 * The VM records of a definitions clone ({@code vms/<vm>.json}, a {@code virtfleet.v1.Vm} as the controller
 * prints it), reduced to what replication needs. A record that cannot be read is listed as such, not left out:
 * a host must not take an unreadable record for a VM that left the repository and undefine its replica.
 *
 * @param records    readable records by VM name
 * @param unreadable VM name (from the file name) to why its record cannot be read
 */
record VmRecords(SortedMap<String, VmRecord> records, SortedMap<String, String> unreadable) {
    /** One VM as replication sees it. */
    record VmRecord(String name, String homeHost, boolean replicated, boolean deleting, boolean runningWanted) {
        VmRecord(String name, String homeHost, boolean replicated, boolean deleting) {
            this(name, homeHost, replicated, deleting, true);
        }
    }

    static final String DIRECTORY = "vms";
    private static final String SUFFIX = ".json";
    /** Newer controllers may write fields this agent does not know; they do not change what it needs. */
    private static final JsonFormat.Parser PARSER = JsonFormat.parser().ignoringUnknownFields();

    /** Reads every record of the clone in {@code cloneDirectory}. */
    static VmRecords read(Path cloneDirectory) throws IOException {
        SortedMap<String, VmRecord> records = new TreeMap<>();
        SortedMap<String, String> unreadable = new TreeMap<>();
        Path dir = cloneDirectory.resolve(DIRECTORY);
        if (!Files.isDirectory(dir, LinkOption.NOFOLLOW_LINKS)) {
            return new VmRecords(records, unreadable); // a repository without any VM yet
        }
        try (Stream<Path> files = Files.list(dir)) {
            for (Path file : (Iterable<Path>) files.sorted()::iterator) {
                String fileName = file.getFileName().toString();
                String name = fileName.endsWith(SUFFIX) ? fileName.substring(0, fileName.length() - SUFFIX.length()) : "";
                if (!Names.isDnsLabel(name)) {
                    continue; // not a VM record: the controller writes none such
                }
                try {
                    records.put(name, parse(name, file));
                } catch (IOException e) {
                    unreadable.put(name, DIRECTORY + "/" + fileName + ": " + e.getMessage());
                }
            }
        }
        return new VmRecords(records, unreadable);
    }

    private static VmRecord parse(String name, Path file) throws IOException {
        if (!Files.isRegularFile(file, LinkOption.NOFOLLOW_LINKS)) {
            throw new IOException("not a regular file");
        }
        Vm.Builder vm = Vm.newBuilder();
        try {
            PARSER.merge(Files.readString(file, StandardCharsets.UTF_8), vm);
        } catch (InvalidProtocolBufferException | RuntimeException e) {
            throw new IOException("not a virtfleet.v1.Vm in JSON (" + e.getMessage() + ")", e);
        }
        if (!name.equals(vm.getSpec().getName())) {
            throw new IOException("spec.name is \"" + vm.getSpec().getName() + "\", not the file's name \"" + name + "\"");
        }
        return new VmRecord(name, vm.getHomeHost(), vm.getSpec().getReplicated(),
                vm.getPhase() == VmPhase.VM_PHASE_DELETING, vm.getRunningWanted());
    }

    /** The record of {@code vm}, if it has a readable one. */
    VmRecord get(String vm) {
        return records.get(vm);
    }

    Map<String, VmRecord> all() {
        return records;
    }
}
