package io.virtfleet.agent.sync;

import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.util.JsonFormat;
import io.virtfleet.proto.v1.StorageTier;
import io.virtfleet.proto.v1.Vm;
import io.virtfleet.proto.v1.VmPhase;
import io.virtfleet.proto.v1.VmSpec;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.UUID;
import org.eclipse.jgit.api.Git;
import org.eclipse.jgit.api.errors.GitAPIException;

/**
 * A definitions repository as the controller keeps it (vms/<vm>.json printed by JsonFormat with proto field names,
 * etc/libvirt/qemu/<vm>.xml), in a real git repository that agents pull over file://.
 */
final class UpstreamRepo implements AutoCloseable {
    private static final JsonFormat.Printer PRINTER = JsonFormat.printer().preservingProtoFieldNames();

    private final Path dir;
    private final Git git;

    private UpstreamRepo(Path dir, Git git) {
        this.dir = dir;
        this.git = git;
    }

    static UpstreamRepo create(Path dir) throws GitAPIException {
        return new UpstreamRepo(dir, Git.init().setDirectory(dir.toFile()).setInitialBranch("main").call());
    }

    String url() {
        return "file://" + dir.toAbsolutePath();
    }

    Path dir() {
        return dir;
    }

    /** The VM's UUID, as the controller derives it from the name. */
    static String uuid(String vm) {
        return UUID.nameUUIDFromBytes(("virtfleet:" + vm).getBytes(StandardCharsets.UTF_8)).toString();
    }

    /** A definition the agent accepts: the VM's own RBD image, nothing else of the host's. */
    static String domainXml(String vm, int memoryMiB) {
        return """
                <domain type='kvm'>
                  <name>%s</name>
                  <uuid>%s</uuid>
                  <memory unit='MiB'>%d</memory>
                  <vcpu>1</vcpu>
                  <os><type arch='x86_64'>hvm</type></os>
                  <devices>
                    <disk type='network' device='disk'>
                      <driver name='qemu' type='raw'/>
                      <source protocol='rbd' name='libvirt-sata/%s'><host name='10.0.0.1' port='6789'/></source>
                      <target dev='vda' bus='virtio'/>
                    </disk>
                  </devices>
                </domain>
                """.formatted(vm, uuid(vm), memoryMiB, vm);
    }

    /** Writes a VM's record and definition (not committed yet). */
    UpstreamRepo vm(String name, String homeHost, boolean replicated, String domainXml) {
        record(Vm.newBuilder()
                .setSpec(VmSpec.newBuilder().setName(name).setStorage(StorageTier.STORAGE_TIER_SATA).setReplicated(replicated))
                .setHomeHost(homeHost).setRunningWanted(true).build());
        write("etc/libvirt/qemu/" + name + ".xml", domainXml);
        return this;
    }

    UpstreamRepo record(Vm vm) {
        try {
            write("vms/" + vm.getSpec().getName() + ".json", PRINTER.print(vm) + "\n");
        } catch (InvalidProtocolBufferException e) {
            throw new IllegalStateException(e);
        }
        return this;
    }

    Vm read(String name) throws IOException {
        Vm.Builder b = Vm.newBuilder();
        JsonFormat.parser().merge(Files.readString(dir.resolve("vms/" + name + ".json")), b);
        return b.build();
    }

    /** Marks a VM as being deleted, as the controller does before it removes it. */
    UpstreamRepo deleting(String name) throws IOException {
        return record(read(name).toBuilder().setPhase(VmPhase.VM_PHASE_DELETING).build());
    }

    UpstreamRepo homeHost(String name, String host) throws IOException {
        return record(read(name).toBuilder().setHomeHost(host).build());
    }

    UpstreamRepo replicated(String name, boolean replicated) throws IOException {
        Vm vm = read(name);
        return record(vm.toBuilder().setSpec(vm.getSpec().toBuilder().setReplicated(replicated)).build());
    }

    UpstreamRepo remove(String name) throws IOException {
        Files.deleteIfExists(dir.resolve("vms/" + name + ".json"));
        Files.deleteIfExists(dir.resolve("etc/libvirt/qemu/" + name + ".xml"));
        return this;
    }

    UpstreamRepo write(String path, String text) {
        try {
            Path file = dir.resolve(path);
            Files.createDirectories(file.getParent());
            Files.writeString(file, text);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return this;
    }

    /** Commits everything on main; returns the commit. */
    String commit(String message) throws GitAPIException {
        git.add().addFilepattern(".").call();
        git.add().addFilepattern(".").setUpdate(true).call();
        return git.commit().setMessage(message).setAuthor("alice", "alice@example.org")
                .setCommitter("controller", "controller@example.org").call().name();
    }

    /** A commit of the empty tree, as a new repository's first. */
    String commitEmpty(String message) throws GitAPIException {
        return git.commit().setMessage(message).setAllowEmpty(true).setAuthor("controller", "controller@example.org")
                .setCommitter("controller", "controller@example.org").call().name();
    }

    /** Commits on a branch other than main (then back on main): a commit main does not contain. */
    String commitElsewhere(String branch, String path, String text) throws GitAPIException {
        git.checkout().setCreateBranch(true).setName(branch).call();
        write(path, text);
        String commit = commit("on " + branch);
        git.checkout().setName("main").call();
        return commit;
    }

    @Override
    public void close() {
        git.close();
    }
}
