package io.virtfleet.agent.hypervisor;

import io.virtfleet.common.fingerprint.Sha256;
import io.virtfleet.common.validation.InvalidInputException;
import io.virtfleet.proto.v1.HostCpu;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.libvirt.Error.ErrorNumber;
import org.libvirt.LibvirtException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * This host's CPU for guests as its report carries it ({@link HostCpu}): libvirt's host-model CPU, asked once per
 * libvirt connection, and libvirt's verdict on whether this host can run the fleet CPU model, the definitions
 * repository's {@value #MODEL_FILE} as the host's clone has it. The model is read when the agent starts and after
 * each pull of the definitions ({@link #definitionsPulled}); it is compared again when it changes and on each new
 * connection. A look that failed because libvirt was out of reach is repeated after the next poll that reaches it.
 *
 * <p>Thread-safe: looks are serialized; {@link #current} never blocks.
 */
public final class HostCpus {
    /** Where the definitions repository keeps the fleet CPU model, relative to its top. */
    public static final String MODEL_FILE = "fleet/cpu-model.xml";
    /** At most this many CPUs in one baseline: a fleet is far smaller. */
    public static final int MAX_BASELINE_CPUS = 4096;
    private static final Logger log = LoggerFactory.getLogger(HostCpus.class);

    private final LibvirtHypervisor hypervisor;
    private final Path definitions;
    private volatile HostCpu current;
    /** The fleet model as last read from the clone; null when it has none. */
    private String model;
    /** The connection the last complete look was made on; -1 when none was, or the last look failed. */
    private long lookedOn = -1;
    /** The model the current verdict judges (null: none). */
    private String judged;

    /**
     * @param definitions the host's clone of the definitions repository (the agent's definitions-dir)
     */
    public HostCpus(LibvirtHypervisor hypervisor, Path definitions) {
        this.hypervisor = hypervisor;
        this.definitions = definitions;
        this.current = HostCpu.newBuilder().setError("libvirt at " + hypervisor.uri() + ": not asked yet").build();
        this.model = readModel();
    }

    /** What the host's next report says of its CPU. */
    public HostCpu current() {
        return current;
    }

    /** After a poll of libvirt: looks again when libvirt is on a new connection since, or the last look failed. */
    public synchronized void afterPoll(boolean libvirtAnswered) {
        if (libvirtAnswered && lookedOn != hypervisor.connections()) {
            look();
        }
    }

    /** After a pull of the definitions (on the sync's thread): compares the clone's fleet model if it changed. */
    public synchronized void definitionsPulled() {
        String pulled = readModel();
        boolean changed = pulled == null ? model != null : !pulled.equals(model);
        model = pulled;
        if (changed || lookedOn != hypervisor.connections() || !sameModel(judged, model)) {
            look();
        }
    }

    /**
     * libvirt's baseline of guest CPU definitions on this host's hypervisor, with migratable features only.
     *
     * @throws InvalidInputException naming the CPU that is not a guest CPU definition, or that libvirt refuses
     * @throws DomainOperationException UNAVAILABLE when libvirt is unreachable, WRONG_STATE when this libvirt computes
     *                                  no baselines (libvirt's test driver)
     */
    public String baseline(List<String> cpus) throws LibvirtException {
        if (cpus.isEmpty() || cpus.size() > MAX_BASELINE_CPUS) {
            throw new InvalidInputException("cpu_xml", cpus.size() + " CPUs", "1 to " + MAX_BASELINE_CPUS
                    + " guest CPU definitions");
        }
        List<String> checked = new ArrayList<>();
        for (int i = 0; i < cpus.size(); i++) {
            checked.add(GuestCpuXml.check("cpu_xml[" + i + "]", cpus.get(i)));
        }
        return hypervisor.withConnection(conn -> {
            try {
                return CpuCalls.baseline(conn, checked);
            } catch (CpuCalls.CallFailed e) {
                throw refusal("baseline", e);
            }
        });
    }

    /** Asks libvirt for the host-model CPU and the verdict on the fleet model; keeps what it says, or why it could not. */
    private void look() {
        long connection = hypervisor.connections();
        String model = this.model;
        HostCpu.Builder facts = HostCpu.newBuilder();
        try {
            Optional<String> hostModel = hypervisor.withConnection(conn -> {
                try {
                    return GuestCpuXml.hostModel(CpuCalls.domainCapabilities(conn));
                } catch (CpuCalls.CallFailed e) {
                    throw refusal("domain capabilities", e);
                }
            });
            if (hostModel.isEmpty()) {
                facts.setError("libvirt at " + hypervisor.uri() + " offers no host-model CPU on this host");
            } else {
                facts.setHostModelXml(hostModel.get()).setHostModelSha256(Sha256.hex(hostModel.get()));
            }
            if (model != null) {
                CpuCalls.Comparison verdict = hypervisor.withConnection(conn -> {
                    try {
                        return CpuCalls.compare(conn, model);
                    } catch (CpuCalls.CallFailed e) {
                        throw refusal("comparison with the fleet CPU model", e);
                    }
                });
                facts.setFleetModelSha256(Sha256.hex(model)).setRunsFleetModel(verdict.runs())
                        .setFleetModelRefusal(verdict.refusal());
                if (!verdict.runs() && !sameModel(judged, model)) {
                    log.warn("this host cannot run the fleet CPU model ({}): {}", MODEL_FILE, verdict.refusal());
                }
            }
            lookedOn = connection;
            judged = model;
        } catch (LibvirtException | DomainOperationException | InvalidInputException e) {
            String reason = e instanceof LibvirtException le ? hypervisor.reason(le) : e.getMessage();
            facts.clearFleetModelSha256().clearRunsFleetModel().clearFleetModelRefusal().setError(reason);
            // libvirt out of reach: asked again after the next poll that reaches it. Anything else (a driver without
            // these calls, a model libvirt refuses) stands until a new connection or another model.
            boolean unreachable = e instanceof LibvirtException || e instanceof DomainOperationException d
                    && d.reason() == DomainOperationException.Reason.UNAVAILABLE;
            lookedOn = unreachable ? -1 : connection;
            judged = unreachable ? null : model;
            log.debug("cannot tell this host's CPU for guests: {}", reason);
        }
        current = facts.build();
    }

    /** A failed CPU call as the agent's errors say it; a driver without it (libvirt's test driver) is WRONG_STATE. */
    private RuntimeException refusal(String what, CpuCalls.CallFailed e) {
        if (e.code() == ErrorNumber.VIR_ERR_NO_SUPPORT) {
            return new DomainOperationException(DomainOperationException.Reason.WRONG_STATE, "libvirt at "
                    + hypervisor.uri() + " has no " + what + " of guest CPUs: " + e.getMessage());
        }
        if (e.code() == ErrorNumber.VIR_ERR_XML_ERROR || e.code() == ErrorNumber.VIR_ERR_INVALID_ARG
                || e.code() == ErrorNumber.VIR_ERR_CPU_INCOMPATIBLE || e.code() == ErrorNumber.VIR_ERR_CONFIG_UNSUPPORTED
                || e.code() == ErrorNumber.VIR_ERR_XML_DETAIL) {
            return new InvalidInputException("cpu_xml", "(" + what + ")", "CPUs libvirt accepts; libvirt at "
                    + hypervisor.uri() + " says: " + e.getMessage());
        }
        return new DomainOperationException(DomainOperationException.Reason.WRONG_STATE, "libvirt at "
                + hypervisor.uri() + " refused the " + what + ": " + e.getMessage());
    }

    private static boolean sameModel(String a, String b) {
        return a == null ? b == null : a.equals(b);
    }

    /** The clone's fleet model, or null when it has none (or it cannot be read: then logged, and none is judged). */
    private String readModel() {
        Path file = definitions.resolve(MODEL_FILE);
        try {
            if (Files.size(file) > GuestCpuXml.MAX_CHARS) {
                log.warn("{} is larger than {} bytes: no fleet CPU model is judged", file, GuestCpuXml.MAX_CHARS);
                return null;
            }
            return Files.readString(file, StandardCharsets.UTF_8);
        } catch (NoSuchFileException e) {
            return null;
        } catch (IOException e) {
            log.warn("cannot read the fleet CPU model {}: {}", file, e.toString());
            return null;
        }
    }
}
