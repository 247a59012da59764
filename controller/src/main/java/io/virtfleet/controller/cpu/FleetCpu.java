package io.virtfleet.controller.cpu;

import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.virtfleet.agent.hypervisor.HostCpus;
import io.virtfleet.common.fingerprint.Sha256;
import io.virtfleet.common.validation.InvalidInputException;
import io.virtfleet.controller.definitions.DefinitionsRepo;
import io.virtfleet.controller.registry.HostRecord;
import io.virtfleet.controller.registry.HostRegistry;
import io.virtfleet.controller.registry.Liveness;
import io.virtfleet.proto.v1.FleetCpuModel;
import io.virtfleet.proto.v1.HostCpu;
import io.virtfleet.proto.v1.HostCpuVerdict;
import io.virtfleet.proto.v1.HostReport;
import io.virtfleet.proto.v1.HostState;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.stream.Collectors;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The fleet CPU model: the guest CPU every new VM definition names, so that a VM runs the same on every host and can
 * move between hosts of different generations. It is libvirt's baseline of the host-model CPUs of the hosts that
 * are ready when it is first needed (the first VM create once hosts report their CPUs), computed by one of those
 * hosts' libvirt ({@link Baseline}), and kept in the definitions repository ({@value HostCpus#MODEL_FILE}), from
 * which every host's agent reads it and says whether its libvirt can run it.
 *
 * <p>It is never lowered by itself: a host that joins with an older CPU is flagged ({@link #problem}) and placement
 * refuses it; an operator lowers the model deliberately with {@link #recompute}. While no host reports its CPU
 * (libvirt's test driver reports none) there is no model, and definitions name none, as before the model existed.
 *
 * <p>Thread-safe: computing and storing the model is serialized; {@link #problem} reads a snapshot and never blocks,
 * for the heartbeats that call it.
 */
public final class FleetCpu {
    private static final Logger log = LoggerFactory.getLogger(FleetCpu.class);
    private static final Logger audit = LoggerFactory.getLogger("virtfleet.audit");
    /** What lowering the model means, for the operator who meets a flagged host. */
    /** Hosts asked for the baseline before giving up: each call may wait for its deadline on a hung host. */
    static final int BASELINE_TRIES = 3;
    static final String LOWER_HINT = "; virtfleet cpu-model --recompute lowers the model to what the ready hosts run";

    /** libvirt's baseline of guest CPU definitions, computed by one host's libvirt. */
    @FunctionalInterface
    public interface Baseline {
        /**
         * @throws StatusRuntimeException as the host's agent answers (UNAVAILABLE, FAILED_PRECONDITION, INVALID_ARGUMENT)
         */
        String of(String host, List<String> cpus);
    }

    /**
     * The model in force.
     *
     * @param text    the repository file as stored, whose SHA-256 hosts report judging
     * @param sources SHA-256 of each host-model CPU the model was computed from by this controller: those hosts run it
     *                by construction, before their agents have judged it themselves
     */
    record Current(CpuModel model, String text, String sha256, Set<String> sources) {
        String label() {
            return model.model() + " (" + sha256.substring(0, 12) + ")";
        }
    }

    private final DefinitionsRepo repo;
    private final HostRegistry registry;
    private final Liveness liveness;
    private final Baseline baseline;
    private final List<Runnable> listeners = new CopyOnWriteArrayList<>();
    private volatile Current current;

    /** Reads the model the repository holds, if any; one that cannot be read is logged and treated as none. */
    public FleetCpu(DefinitionsRepo repo, HostRegistry registry, Liveness liveness, Baseline baseline) throws IOException {
        this.repo = repo;
        this.registry = registry;
        this.liveness = liveness;
        this.baseline = baseline;
        Optional<byte[]> stored = repo.read(HostCpus.MODEL_FILE);
        if (stored.isPresent()) {
            String text = new String(stored.get(), StandardCharsets.UTF_8);
            try {
                current = new Current(CpuModel.parse(HostCpus.MODEL_FILE, text), text, Sha256.hex(text), Set.of());
            } catch (InvalidInputException e) {
                log.error("ignoring the fleet CPU model {} in the definitions repository (definitions name no CPU model"
                        + " until it is fixed or recomputed): {}", HostCpus.MODEL_FILE, e.getMessage());
            }
        }
    }

    /** Tells {@code listener} each time the model changes (placement judges every host again). */
    public void onChange(Runnable listener) {
        listeners.add(listener);
    }

    /** The model in force; empty while the fleet has none. */
    public Optional<CpuModel> model() {
        Current c = current;
        return c == null ? Optional.empty() : Optional.of(c.model());
    }

    /** The model in words with its fingerprint, e.g. "EPYC (AMD), 18 features required, 10 disabled; 3f2a9c01b2de"; empty when none. */
    public String label() {
        Current c = current;
        return c == null ? "" : c.model().summary() + "; " + c.sha256().substring(0, 12);
    }

    /**
     * The model for a new definition, computed and stored first if the fleet has none yet and some ready host reports
     * its CPU. Empty when no ready host does (libvirt's test driver): the definition then names no CPU model.
     *
     * @param operator who asked for what needs it (the commit's author)
     * @throws StatusRuntimeException UNAVAILABLE when no host could compute the baseline
     * @throws IOException when the model cannot be stored
     */
    public synchronized Optional<CpuModel> ensure(String operator) throws IOException {
        if (current != null) {
            return Optional.of(current.model());
        }
        Inputs inputs = inputs();
        if (inputs.cpus().isEmpty()) {
            return Optional.empty();
        }
        Current computed = compute(inputs);
        store(computed, "fleet CPU model " + computed.model().summary() + ": libvirt's baseline of the CPUs of "
                + String.join(", ", inputs.cpus().keySet()) + " (first needed by a VM create)" + inputs.leftOutText(), operator);
        return Optional.of(computed.model());
    }

    /**
     * Computes the model again from the hosts that are ready now and stores it, unless {@code dryRun} or it is the
     * same. The answer judges every host against the new model.
     *
     * @throws StatusRuntimeException FAILED_PRECONDITION when no ready host reports its CPU, UNAVAILABLE when no host
     *                                could compute the baseline
     */
    public synchronized FleetCpuModel recompute(String operator, boolean dryRun) throws IOException {
        Inputs inputs = inputs();
        if (inputs.cpus().isEmpty()) {
            throw Status.FAILED_PRECONDITION.withDescription("no ready host reports its CPU for guests, so there is"
                    + " nothing to compute a fleet CPU model from" + inputs.leftOutText()
                    + " (hosts on libvirt's test driver report none)").asRuntimeException();
        }
        Current before = current;
        Current computed = compute(inputs);
        boolean same = before != null && before.text().equals(computed.text());
        StringBuilder notice = new StringBuilder();
        if (same) {
            notice.append("The model is unchanged: the ready hosts' baseline is the model in force.");
        } else if (dryRun) {
            notice.append("Dry run: nothing stored. Without --dry-run, new definitions would name this model.");
        } else {
            store(computed, "fleet CPU model " + computed.model().summary() + ": recomputed as libvirt's baseline of the"
                    + " CPUs of " + String.join(", ", inputs.cpus().keySet()) + inputs.leftOutText()
                    + (before == null ? "" : "; was " + before.model().summary() + " (" + before.sha256().substring(0, 12)
                    + ")"), operator);
            notice.append("New definitions name this model. VMs defined before keep the model their definition names")
                    .append(before == null ? "" : " (" + before.label() + ")")
                    .append(" until they are defined again (virtfleet vm reinstall); libvirt refuses to move one to a host")
                    .append(" that cannot run its model.");
        }
        if (!inputs.leftOut().isEmpty()) {
            notice.append(" Left out: ").append(inputs.leftOut().entrySet().stream()
                    .map(e -> e.getKey() + " (" + e.getValue() + ")").collect(Collectors.joining(", "))).append('.');
        }
        Current shown = same || !dryRun ? current : computed;
        return view(shown).toBuilder().setNotice(notice.toString()).build();
    }

    /** The model in force, and every known host's verdict on it. */
    public FleetCpuModel view() throws IOException {
        return view(current);
    }

    private FleetCpuModel view(Current c) throws IOException {
        FleetCpuModel.Builder b = FleetCpuModel.newBuilder();
        if (c != null) {
            b.setCpuXml(c.text()).setSha256(c.sha256()).setSummary(c.model().summary());
            List<DefinitionsRepo.Change> changes = repo.history(HostCpus.MODEL_FILE);
            if (!changes.isEmpty() && c == current) {
                DefinitionsRepo.Change last = changes.get(changes.size() - 1);
                b.setCommit(last.commit()).setComputedBy(last.author()).setMessage(last.message())
                        .setComputedAtUnixMs(last.atUnixMs());
            }
        }
        registry.all().stream().sorted(Comparator.comparing(HostRecord::name)).forEach(r -> b.addHosts(HostCpuVerdict
                .newBuilder().setHost(r.name()).setProblem(problem(c, r.report())).setHostCpu(hostCpu(r.report().getCpu()))));
        return b.build();
    }

    /**
     * Why the host of {@code report} cannot take VMs of the fleet CPU model, as placement's {@code cpu-model} filter
     * and {@code host show} say it; empty when it can, or when the fleet has no model. Never blocks.
     */
    public String problem(HostReport report) {
        return problem(current, report);
    }

    static String problem(Current c, HostReport report) {
        if (c == null) {
            return "";
        }
        HostCpu cpu = report.getCpu();
        if (cpu.getFleetModelSha256().equals(c.sha256())) {
            return cpu.getRunsFleetModel() ? "" : "cannot run the fleet CPU model " + c.label() + ": "
                    + cpu.getFleetModelRefusal() + LOWER_HINT;
        }
        if (!cpu.getHostModelSha256().isEmpty() && c.sources().contains(cpu.getHostModelSha256())) {
            return ""; // the model is the baseline of this very CPU: its own verdict will say so at its next sync
        }
        if (!cpu.getError().isEmpty()) {
            return "cannot tell whether it can run the fleet CPU model " + c.label() + ": " + cpu.getError();
        }
        if (cpu.getHostModelXml().isEmpty()) {
            return "reports nothing of its CPU (an agent older than the fleet CPU model?), so whether it can run the"
                    + " fleet CPU model " + c.label() + " is unknown";
        }
        return "has not judged the fleet CPU model " + c.label() + " yet (its agent does at its next definitions sync)";
    }

    /** A host-model CPU in words, or why it is unknown. */
    static String hostCpu(HostCpu cpu) {
        if (cpu.getHostModelXml().isEmpty()) {
            return "unknown: " + (cpu.getError().isEmpty() ? "its agent does not report it" : cpu.getError());
        }
        try {
            return CpuModel.parse("host_model_xml", cpu.getHostModelXml()).summary();
        } catch (InvalidInputException e) {
            return "not understood: " + e.getMessage();
        }
    }

    /** The CPUs to compute from: ready hosts reporting a host-model CPU, by name; why the other hosts are left out. */
    private record Inputs(Map<String, String> cpus, Map<String, String> leftOut) {
        String leftOutText() {
            return leftOut.isEmpty() ? "" : "; left out: " + String.join(", ", leftOut.keySet());
        }
    }

    private Inputs inputs() {
        Map<String, String> cpus = new java.util.TreeMap<>();
        Map<String, String> leftOut = new java.util.TreeMap<>();
        long now = registry.nanoTime();
        for (HostRecord r : registry.all()) {
            Liveness.Verdict v = liveness.judge(r, now);
            String xml = r.report().getCpu().getHostModelXml();
            if (v.state() != HostState.HOST_STATE_READY) {
                leftOut.put(r.name(), "not ready: " + v.reason());
            } else if (xml.isEmpty()) {
                leftOut.put(r.name(), "CPU " + hostCpu(r.report().getCpu()));
            } else {
                cpus.put(r.name(), xml);
            }
        }
        return new Inputs(cpus, leftOut);
    }

    /** libvirt's baseline of the inputs, asked of the input hosts in turn (at most {@value #BASELINE_TRIES}) until one answers. */
    private Current compute(Inputs inputs) {
        List<String> cpus = List.copyOf(inputs.cpus().values());
        List<String> failures = new ArrayList<>();
        for (String host : inputs.cpus().keySet().stream().limit(BASELINE_TRIES).toList()) {
            String xml;
            try {
                xml = baseline.of(host, cpus);
            } catch (StatusRuntimeException e) {
                failures.add(host + ": " + e.getStatus().getCode() + " " + e.getStatus().getDescription());
                continue;
            }
            CpuModel model;
            try {
                model = CpuModel.parse("the baseline " + host + " computed", xml);
            } catch (InvalidInputException e) {
                failures.add(host + ": " + e.getMessage());
                continue;
            }
            String text = model.xml();
            Set<String> sources = inputs.cpus().values().stream().map(Sha256::hex).collect(Collectors.toUnmodifiableSet());
            return new Current(model, text, Sha256.hex(text), sources);
        }
        throw Status.UNAVAILABLE.withDescription("cannot compute the fleet CPU model from the CPUs of "
                + String.join(", ", inputs.cpus().keySet()) + ": " + String.join("; ", failures)).asRuntimeException();
    }

    private void store(Current computed, String message, String operator) throws IOException {
        repo.commit(message, operator, Map.of(HostCpus.MODEL_FILE, computed.text().getBytes(StandardCharsets.UTF_8)),
                Set.of());
        current = computed;
        audit.info("operator {}: {}", operator == null || operator.isEmpty() ? "(controller)" : operator, message);
        for (Runnable l : listeners) {
            l.run();
        }
    }
}
