package io.virtfleet.controller.definitions;

import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.util.JsonFormat;
import io.virtfleet.common.fingerprint.Sha256;
import io.virtfleet.common.validation.InvalidInputException;
import io.virtfleet.common.validation.VmSpecs;
import io.virtfleet.proto.v1.Vm;
import io.virtfleet.proto.v1.VmEvent;
import io.virtfleet.proto.v1.VmPhase;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The VMs the controller manages, as stored in the definitions repository: {@code vms/<vm>.json} (spec, home
 * host, whether it should run, whether it is being deleted) and {@code etc/libvirt/qemu/<vm>.xml} (its domain
 * definition, as in the runbook's repository). Reads come from memory; every change is one commit.
 */
public final class VmStore {
    private static final Logger log = LoggerFactory.getLogger(VmStore.class);
    private static final JsonFormat.Printer PRINTER = JsonFormat.printer().preservingProtoFieldNames();
    private static final JsonFormat.Parser PARSER = JsonFormat.parser();

    private final DefinitionsRepo repo;
    private final Map<String, Vm> vms = new ConcurrentHashMap<>();
    /** Fingerprint of each VM's definition file, known from the last save or read once: drift checks run every pass. */
    private final Map<String, String> fingerprints = new ConcurrentHashMap<>();

    public VmStore(DefinitionsRepo repo) throws IOException {
        this.repo = repo;
        for (String file : repo.list("vms")) {
            if (!file.endsWith(".json")) {
                continue;
            }
            String text = new String(repo.read("vms/" + file).orElseThrow(), StandardCharsets.UTF_8);
            try {
                Vm.Builder b = Vm.newBuilder();
                PARSER.merge(text, b);
                Vm vm = b.build();
                VmSpecs.validate(vm.getSpec()); // a hand-edited record must not smuggle in a bad name
                vms.put(vm.getSpec().getName(), vm);
            } catch (InvalidProtocolBufferException | InvalidInputException e) {
                log.error("ignoring vms/{} in the definitions repository: {}", file, e.getMessage());
            }
        }
    }

    public static String recordPath(String vm) {
        return "vms/" + vm + ".json";
    }

    public static String domainPath(String vm) {
        return "etc/libvirt/qemu/" + vm + ".xml";
    }

    public DefinitionsRepo repo() {
        return repo;
    }

    public Optional<Vm> get(String name) {
        return Optional.ofNullable(vms.get(name));
    }

    public Collection<Vm> all() {
        return List.copyOf(vms.values());
    }

    /**
     * Records a VM (new or changed) and, when given, its domain XML, in one commit.
     *
     * @param domainXml null to leave the stored definition as it is
     */
    public void save(Vm vm, String domainXml, String message, String operator) throws IOException {
        Vm stored = stored(vm);
        Map<String, byte[]> writes = new HashMap<>();
        writes.put(recordPath(vm.getSpec().getName()), (print(stored) + "\n").getBytes(StandardCharsets.UTF_8));
        if (domainXml != null) {
            writes.put(domainPath(vm.getSpec().getName()), domainXml.getBytes(StandardCharsets.UTF_8));
        }
        repo.commit(message, operator, writes, Set.of());
        vms.put(vm.getSpec().getName(), stored);
        if (domainXml != null) {
            fingerprints.put(vm.getSpec().getName(), Sha256.hex(domainXml));
        }
    }

    /** Removes a VM's record and definition in one commit. */
    public void remove(String name, String message, String operator) throws IOException {
        repo.commit(message, operator, Map.of(), Set.of(recordPath(name), domainPath(name)));
        vms.remove(name);
        fingerprints.remove(name);
    }

    public Optional<String> domainXml(String name) throws IOException {
        return repo.read(domainPath(name)).map(b -> new String(b, StandardCharsets.UTF_8));
    }

    /** Every commit that changed the VM's record or definition, oldest first; also after the VM was deleted. */
    /**
     * The fingerprint agents report for the VM's definition file when they hold it as sent ({@link Sha256}); empty
     * when the VM has no definition.
     */
    public Optional<String> fingerprint(String name) throws IOException {
        String known = fingerprints.get(name);
        if (known != null) {
            return Optional.of(known);
        }
        Optional<String> read = domainXml(name).map(Sha256::hex);
        read.ifPresent(f -> fingerprints.put(name, f));
        return read;
    }

    public List<VmEvent> history(String name) throws IOException {
        List<VmEvent> out = new ArrayList<>();
        for (DefinitionsRepo.Change c : repo.history(recordPath(name), domainPath(name))) {
            VmEvent.Builder e = VmEvent.newBuilder().setAtUnixMs(c.atUnixMs()).setOperator(c.author())
                    .setMessage(c.message()).setCommit(c.commit());
            if (c.paths().contains(recordPath(name))) {
                e.addChanged("record");
            }
            if (c.paths().contains(domainPath(name))) {
                e.addChanged("definition");
            }
            out.add(e.build());
        }
        return out;
    }

    /** Only the desired state goes to git: what the reconciler observes changes too often and is not a decision. */
    private static Vm stored(Vm vm) {
        return Vm.newBuilder().setSpec(vm.getSpec()).setHomeHost(vm.getHomeHost()).setRunningWanted(vm.getRunningWanted())
                .setPhase(vm.getPhase() == VmPhase.VM_PHASE_DELETING ? VmPhase.VM_PHASE_DELETING : VmPhase.VM_PHASE_UNSPECIFIED)
                .setDeleteDiskWanted(vm.getDeleteDiskWanted()).setDisk(vm.getDisk()).setNetwork(vm.getNetwork())
                .build();
    }

    private static String print(Vm vm) {
        try {
            return PRINTER.print(vm);
        } catch (InvalidProtocolBufferException e) {
            throw new IllegalStateException(e);
        }
    }
}
