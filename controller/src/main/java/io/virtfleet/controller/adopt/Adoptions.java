package io.virtfleet.controller.adopt;

import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.virtfleet.common.validation.InvalidInputException;
import io.virtfleet.common.validation.Names;
import io.virtfleet.common.validation.Sizes;
import io.virtfleet.controller.agents.AgentClients;
import io.virtfleet.controller.definitions.DomainSettings;
import io.virtfleet.controller.definitions.VmStore;
import io.virtfleet.controller.reconcile.Progress;
import io.virtfleet.controller.reconcile.Reconciler;
import io.virtfleet.controller.reconcile.VmLocks;
import io.virtfleet.controller.registry.HostRecord;
import io.virtfleet.controller.registry.HostRegistry;
import io.virtfleet.controller.registry.Liveness;
import io.virtfleet.proto.v1.HostState;
import io.virtfleet.controller.replication.Replication;
import io.virtfleet.controller.scheduler.Request;
import io.virtfleet.controller.scheduler.Scheduler;
import io.virtfleet.proto.v1.AdoptDomainRequest;
import io.virtfleet.proto.v1.AdoptVmsRequest;
import io.virtfleet.proto.v1.AdoptVmsResponse;
import io.virtfleet.proto.v1.Adoption;
import io.virtfleet.proto.v1.DomainInfo;
import io.virtfleet.proto.v1.DomainState;
import io.virtfleet.proto.v1.ReadDomainRequest;
import io.virtfleet.proto.v1.ReadDomainResponse;
import io.virtfleet.proto.v1.RunbookDefinition;
import io.virtfleet.proto.v1.Vm;
import io.virtfleet.proto.v1.VmPhase;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.SortedMap;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Takes over the domains virtfleet did not create. Each candidate (a domain some host reports that virtfleet never
 * defined) is read on its home host, its spec derived ({@link DomainSpecs}), and then, unless it is a dry run: its
 * record and libvirt's own definition of it (less the host's default emulator) are committed, one commit per VM with
 * the operator as author; its home host's agent takes the domain into its ledger as defined from that very text
 * (nothing is defined, started or stopped); its claim is taken on its home; a Ceph-backed VM's definition goes to the
 * other hosts by the usual sync (the runbook's copies there are defined again from the repository: none runs there).
 * The repository keeps libvirt's definition rather than one rendered from the spec, so the running domain is in step
 * with the repository as it is, and a later live move keeps the machine the guest sees (as every move does).
 */
public final class Adoptions {
    private static final Logger log = LoggerFactory.getLogger(Adoptions.class);
    private static final long AGENT_DEADLINE_MS = 60_000;
    private static final int MAX_RUNBOOK_CHARS = 1 << 20;

    private final HostRegistry registry;
    private final VmStore store;
    private final Scheduler scheduler;
    private final Reconciler reconciler;
    private final AgentClients agents;
    private final Replication replication;
    private final DomainSettings settings;
    private final DomainSpecs specs;
    private final Liveness liveness;

    public Adoptions(HostRegistry registry, Liveness liveness, VmStore store, Scheduler scheduler, Reconciler reconciler,
                     AgentClients agents, Replication replication, DomainSettings settings) {
        this.registry = registry;
        this.liveness = liveness;
        this.store = store;
        this.scheduler = scheduler;
        this.reconciler = reconciler;
        this.agents = agents;
        this.replication = replication;
        this.settings = settings;
        this.specs = new DomainSpecs(settings);
    }

    /** The request as checked at the API: each bad field refused by name before anything is read. */
    public static AdoptVmsRequest validate(AdoptVmsRequest r) {
        if (!r.getHost().isEmpty()) {
            Names.hostName("host", r.getHost());
        }
        if (!r.getProfile().isEmpty()) {
            Names.profileName("profile", r.getProfile());
        }
        for (int i = 0; i < r.getVmsCount(); i++) {
            Names.vmName("vms[" + i + "]", r.getVms(i));
        }
        r.getFailoverIpsMap().forEach((vm, ip) -> {
            Names.vmName("failover_ips key", vm);
            io.virtfleet.common.validation.Ipv4.failoverAddress("failover_ips[" + vm + "]", ip);
        });
        for (RunbookDefinition d : r.getRunbookList()) {
            Names.vmName("runbook.vm", d.getVm());
            if (d.getDomainXml().length() > MAX_RUNBOOK_CHARS) {
                throw new InvalidInputException("runbook[" + d.getVm() + "].domain_xml", "(" + d.getDomainXml().length()
                        + " characters)", "a definition of at most " + MAX_RUNBOOK_CHARS + " characters");
            }
        }
        if (!r.getRunbookCommit().isEmpty() && !r.getRunbookCommit().matches("[0-9a-f]{40}")) {
            throw new InvalidInputException("runbook_commit", r.getRunbookCommit(), "40 lowercase hex digits");
        }
        return r;
    }

    /** What a plan found for one domain: the answer's entry, and what carrying it out needs. */
    private record Plan(Adoption.Builder answer, String xml, String uuid) {}

    /** A domain as one host reports it. */
    private record Seen(String host, DomainInfo domain) {}

    /** Adopt runs one at a time: each checks its UUIDs and MACs against the records and its own earlier plans. */
    private final Object runs = new Object();

    /** What the VMs recorded and the plans accepted so far in this run hold, by UUID and by network (bridge MAC). */
    private static final class Taken {
        final Map<String, String> uuids = new HashMap<>();
        final Map<String, String> networks = new HashMap<>();
    }

    public AdoptVmsResponse adopt(AdoptVmsRequest request, String operator) throws IOException {
        synchronized (runs) {
            return adoptAlone(request, operator);
        }
    }

    private AdoptVmsResponse adoptAlone(AdoptVmsRequest request, String operator) throws IOException {
        validate(request);
        String only = request.getHost().isEmpty() ? null : request.getHost();
        if (only != null && registry.get(only).isEmpty()) {
            throw Status.NOT_FOUND.withDescription("host " + only + " is not registered (virtfleet hosts lists them)")
                    .asRuntimeException();
        }
        Map<String, String> runbook = new LinkedHashMap<>();
        request.getRunbookList().forEach(d -> runbook.put(d.getVm(), d.getDomainXml()));
        SortedMap<String, List<Seen>> candidates = new TreeMap<>();
        Map<String, String> managedElsewhere = new HashMap<>();
        Map<String, Vm> unfinished = unfinished();
        for (HostRecord h : registry.all()) {
            for (DomainInfo d : h.report().getDomainsList()) {
                // An adoption left before its second phase is a candidate again, on its home and wherever the
                // runbook's copies are: this run finishes it.
                Optional<Vm> managed = store.get(d.getName()).filter(vm -> !unfinished.containsKey(d.getName()));
                if (d.getReplica() || (!d.getSourceSha256().isEmpty() && managed.isPresent())) {
                    continue; // virtfleet defined it here, for a VM it records
                }
                // A home entry in the agent's ledger without a record is an adoption (or a create) whose record was
                // removed while the agent still held it: a candidate again (the agent's AdoptDomain of the same
                // text is a no-op), never skipped forever.
                if (managed.isPresent()) {
                    managedElsewhere.put(d.getName(), managed.get().getHomeHost());
                }
                candidates.computeIfAbsent(d.getName(), n -> new ArrayList<>()).add(new Seen(h.name(), d));
            }
        }
        if (!runbook.isEmpty()) {
            candidates.keySet().retainAll(runbook.keySet());
            for (String vm : runbook.keySet()) {
                if (store.get(vm).isEmpty() || unfinished.containsKey(vm)) {
                    candidates.putIfAbsent(vm, List.of()); // a VM adopted before is virtfleet's: nothing to say
                }
            }
        }
        if (request.getVmsCount() > 0) {
            candidates.keySet().retainAll(new TreeSet<>(request.getVmsList()));
        }
        // Every UUID some host reports under another name is taken too (a VM's replica, an unmanaged domain).
        Map<String, TreeSet<String>> reportedUuids = new HashMap<>();
        for (HostRecord h : registry.all()) {
            for (DomainInfo d : h.report().getDomainsList()) {
                reportedUuids.computeIfAbsent(d.getUuid().toLowerCase(java.util.Locale.ROOT), u -> new TreeSet<>())
                        .add(d.getName());
            }
        }
        Taken taken = new Taken();
        List<Plan> plans = new ArrayList<>();
        for (Map.Entry<String, List<Seen>> c : candidates.entrySet()) {
            Plan plan = plan(c.getKey(), c.getValue(), only, request, runbook.get(c.getKey()), managedElsewhere,
                    unfinished.get(c.getKey()));
            if (plan != null && plan.answer().getAdopted()) {
                String clash = clash(c.getKey(), plan, taken, reportedUuids);
                if (clash != null) {
                    plan = refused(plan.answer(), clash);
                } else {
                    taken.uuids.put(plan.uuid(), c.getKey());
                    taken.networks.put(plan.answer().getNetwork(), c.getKey());
                }
            }
            if (plan != null) {
                plans.add(plan);
            }
        }
        refuseStrayNames(request, plans, only);
        AdoptVmsResponse.Builder out = AdoptVmsResponse.newBuilder().setDryRun(request.getDryRun());
        boolean replicate = false;
        for (Plan p : plans) {
            if (!request.getDryRun() && p.answer().getAdopted()) {
                carryOut(p, request.getRunbookCommit(), operator, unfinished.containsKey(p.answer().getVm()));
                replicate |= p.answer().getAdopted() && p.answer().getSpec().getReplicated();
            }
            out.addAdoptions(p.answer());
        }
        if (replicate) {
            for (var result : replication.syncAll(Progress.NONE)) {
                log.info("adoption: replicas on {}: {} {}", result.host(), result.outcome(), result.detail());
            }
        }
        return out.setHeadCommit(store.repo().head()).build();
    }

    /**
     * Refuses (INVALID_ARGUMENT, before anything is changed) a VM named in {@code vms} or {@code failover_ips} that is
     * no domain of this run, and a failover IP for a VM that is not on the public bridge: a typo would otherwise be
     * dropped in silence, and the VM meant left out or adopted without its IP.
     */
    private void refuseStrayNames(AdoptVmsRequest request, List<Plan> plans, String only) {
        Map<String, Adoption.Builder> inRun = new TreeMap<>();
        plans.forEach(p -> inRun.put(p.answer().getVm(), p.answer()));
        String where = "no candidate of this run (a domain some host reports that virtfleet did not define"
                + (only == null ? "" : ", whose home is " + only) + (request.getRunbookCount() > 0
                ? ", with a definition in the runbook's repository" : "") + "; virtfleet drift --all lists them)";
        for (int i = 0; i < request.getVmsCount(); i++) {
            if (!inRun.containsKey(request.getVms(i))) {
                throw new InvalidInputException("vms[" + i + "]", request.getVms(i), where);
            }
        }
        for (String vm : new TreeSet<>(request.getFailoverIpsMap().keySet())) {
            Adoption.Builder a = inRun.get(vm);
            if (a == null) {
                throw new InvalidInputException("failover_ips key", vm, where);
            }
            if (a.getAdopted() && !a.getSpec().getNetwork().hasFailover()) {
                throw new InvalidInputException("failover_ips[" + vm + "]", request.getFailoverIpsMap().get(vm),
                        "none: " + vm + " is on " + a.getNetwork().split(" ")[0] + " (LAN "
                        + a.getSpec().getNetwork().getLan() + "), not the public bridge " + settings.publicBridge());
            }
        }
    }

    /** Null when the domain is not this run's (its home is not the host asked for). */
    private Plan plan(String name, List<Seen> seen, String only, AdoptVmsRequest request, String runbookXml,
                      Map<String, String> managedElsewhere, Vm unfinished) {
        Adoption.Builder a = Adoption.newBuilder().setVm(name);
        String badName = DomainSpecs.nameRefusal(name);
        if (badName != null) {
            return refused(a, badName); // before any host is asked: no agent reads a domain it could not name
        }
        if (seen.isEmpty()) {
            return refused(a, "in the runbook's repository, but defined on no host: virtfleet adopts what libvirt"
                    + " holds (define it on its host first, or create it with virtfleet vm create)");
        }
        List<String> running = seen.stream().filter(s -> active(s.domain().getState())).map(Seen::host).sorted().toList();
        List<String> defined = seen.stream().map(Seen::host).sorted().toList();
        if (managedElsewhere.containsKey(name)) {
            return refused(a, "the name is already managed by virtfleet (VM " + name + " lives on "
                    + managedElsewhere.get(name) + "); the domain defined by hand on " + String.join(", ", defined)
                    + " is someone else's: rename or remove it");
        }
        if (running.size() > 1) {
            return refused(a, "runs on " + String.join(" and ", running) + " at once: two QEMUs on one disk corrupt it;"
                    + " stop all but one (virsh destroy) and adopt again");
        }
        TreeSet<String> uuids = new TreeSet<>();
        seen.forEach(s -> uuids.add(s.domain().getUuid().toLowerCase(java.util.Locale.ROOT)));
        if (uuids.size() > 1) {
            StringBuilder which = new StringBuilder();
            seen.forEach(s -> which.append(which.length() == 0 ? "" : ", ").append(s.host()).append(" ")
                    .append(s.domain().getUuid()));
            return refused(a, "different domains share the name (UUIDs: " + which + "): keep one, remove the others");
        }
        String home;
        if (running.size() == 1) {
            home = running.get(0);
        } else if (defined.size() == 1) {
            home = defined.get(0);
        } else if (only != null && defined.contains(only)) {
            home = only;
        } else {
            if (only != null) {
                return null;
            }
            return refused(a, "stopped, and defined on " + String.join(", ", defined) + ": name its home with --host");
        }
        if (only != null && !only.equals(home)) {
            return null;
        }
        a.setHomeHost(home);
        if (unfinished != null && !unfinished.getHomeHost().equals(home)) {
            return refused(a, "its adoption on " + unfinished.getHomeHost() + " was left unfinished (recorded there, not"
                    + " yet replicated), but its home is " + home + " now (" + (running.isEmpty() ? "defined there only"
                    : "it runs there") + "): virtfleet finishes it on " + unfinished.getHomeHost() + " only; run it"
                    + " there again (virsh) and adopt again");
        }
        if (unfinished != null) {
            a.addNotes("its adoption on " + home + " was left unfinished (recorded, not yet replicated): this run"
                    + " finishes it");
        }
        ReadDomainResponse read;
        try {
            read = agents.agent(home).withDeadlineAfter(AGENT_DEADLINE_MS, TimeUnit.MILLISECONDS)
                    .readDomain(ReadDomainRequest.newBuilder().setVmName(name).build());
        } catch (StatusRuntimeException e) {
            return refused(a, "host " + home + " could not read it: " + e.getStatus().getCode() + " "
                    + e.getStatus().getDescription());
        }
        // Whether it runs is libvirt's answer now, not a report of the last heartbeat.
        a.setRunning(active(read.getState()));
        if (read.getState() == DomainState.DOMAIN_STATE_PAUSED || read.getState() == DomainState.DOMAIN_STATE_SUSPENDED) {
            // Recorded as running, it would be resumed by the first reconcile of the VM (after a controller restart):
            // the operator's pause is theirs to end.
            return refused(a, (read.getState() == DomainState.DOMAIN_STATE_PAUSED ? "paused" : "suspended (pmsuspend)")
                    + " on " + home + ": virtfleet knows running and stopped VMs only, and would resume it; resume it"
                    + " (virsh resume / virsh dompmwakeup) or shut it down, then adopt again");
        }
        if (!read.getRefusal().isEmpty()) {
            return refused(a, "its definition breaks the rules every definition on " + home + " keeps: "
                    + read.getRefusal());
        }
        Path images = registry.get(home).map(h -> h.report().getResources().getImagesDirectory())
                .filter(d -> !d.isEmpty()).map(Path::of).orElse(settings.imagesDirectory());
        DomainSpecs.Facts facts = new DomainSpecs.Facts(images, read.getDiskBytes(), read.getDiskDetail(),
                read.getDiskFormat(), request.getFailoverIpsMap().get(name), request.getProfile());
        DomainSpecs.Derived derived;
        try {
            derived = specs.derive(name, read.getDomainXml(), facts);
        } catch (DomainSpecs.Refused e) {
            return refused(a, e.getMessage());
        }
        a.setSpec(derived.spec()).setDisk(derived.disk()).setNetwork(derived.network());
        List<String> others = defined.stream().filter(h -> !h.equals(home)).toList();
        if (!derived.spec().getReplicated() && !others.isEmpty()) {
            return refused(a, "a raw disk lives on " + home + " only, but the domain is also defined on "
                    + String.join(", ", others) + ": undefine it there first");
        }
        for (Vm vm : store.all()) {
            if (vm.getSpec().getName().equals(name)) {
                continue; // its own unfinished adoption's record
            }
            if (vm.getNetwork().equals(derived.network())) {
                return refused(a, "MAC " + derived.mac() + " on " + derived.network().split(" ")[0]
                        + " is VM " + vm.getSpec().getName() + "'s already");
            }
            if (derived.spec().getNetwork().hasFailover() && vm.getSpec().getNetwork().hasFailover()
                    && vm.getSpec().getNetwork().getFailover().getAddress().equals(
                    derived.spec().getNetwork().getFailover().getAddress())) {
                return refused(a, "failover IP " + derived.spec().getNetwork().getFailover().getAddress()
                        + " is VM " + vm.getSpec().getName() + "'s already");
            }
        }
        if (derived.spec().getReplicated()) {
            // Its disk is shared by every host: a second QEMU on it somewhere corrupts it, and a copy running on a
            // host whose report is missing or old is unseen. Every host must answer for what it runs, now.
            String unsure = unsureHosts();
            if (!unsure.isEmpty()) {
                return refused(a, "its disk is in Ceph, reachable from every host, and whether it runs elsewhere is"
                        + " unknown: " + unsure + "; adopt once every registered host is ready (virtfleet hosts)");
            }
            for (String h : others) {
                try {
                    ReadDomainResponse there = agents.agent(h).withDeadlineAfter(AGENT_DEADLINE_MS, TimeUnit.MILLISECONDS)
                            .readDomain(ReadDomainRequest.newBuilder().setVmName(name).build());
                    if (active(there.getState())) {
                        return refused(a, "runs on " + h + " too (" + there.getState() + " now) besides " + home
                                + ": two QEMUs on one disk corrupt it; stop all but one (virsh destroy) and adopt again");
                    }
                } catch (StatusRuntimeException e) {
                    if (e.getStatus().getCode() != Status.Code.NOT_FOUND) {
                        return refused(a, "host " + h + ", where it is defined too, could not say whether it runs there: "
                                + e.getStatus().getCode() + " " + e.getStatus().getDescription());
                    }
                }
            }
            registry.all().stream().map(HostRecord::name).filter(h -> !h.equals(home)).sorted()
                    .forEach(a::addReplicaHosts);
            for (String h : others) {
                a.addNotes(h + " holds the runbook's copy, stopped: its next sync defines it again from the repository"
                        + " (replica, autostart off)");
            }
        }
        a.setClaim(home + ": " + derived.spec().getVcpus() + " vCPUs, " + Sizes.exact(derived.spec().getMemoryBytes())
                + " memory, disk " + derived.disk() + " " + Sizes.exact(derived.spec().getDiskBytes()));
        // Started with its host as the runbook had it (libvirt's flag), and whenever it runs now: virtfleet starts the
        // VMs it wants running anyway, so a running VM left off at boot would only be started later by the reconciler.
        a.setAutostart(read.getLibvirtAutostart() || a.getRunning());
        if (read.getLibvirtAutostart()) {
            a.addNotes("libvirt's own autostart is turned off; the agent starts it when " + home + " boots instead"
                    + (a.getRunning() ? "" : " (it is stopped now and recorded so: virtfleet stops it again after such a"
                    + " boot; virtfleet vm start it to have it run)"));
        }
        if (derived.spec().getNetwork().getLan() > 0) {
            List<String> registered = registry.all().stream().map(HostRecord::name).sorted().toList();
            a.addNotes("LAN " + derived.spec().getNetwork().getLan() + ": the flood list of vxlan"
                    + derived.spec().getNetwork().getLan() + " becomes virtfleet's (the registered hosts: "
                    + String.join(", ", registered) + "); a hypervisor of this LAN without an agent loses broadcast and ARP"
                    + " to it: enroll every hypervisor of the LAN before adopting");
        }
        if (runbookXml != null) {
            try {
                DomainSpecs.Derived copy = specs.derive(name, runbookXml, facts);
                if (!copy.spec().equals(derived.spec())) {
                    a.addNotes("the runbook's copy describes another VM than libvirt's definition (runbook: "
                            + copy.spec().toString().replace('\n', ' ').strip() + "): libvirt's, which is what runs, is adopted");
                }
            } catch (DomainSpecs.Refused e) {
                a.addNotes("the runbook's copy would be refused (" + e.getMessage() + "); libvirt's definition is adopted");
            }
        }
        return new Plan(a.setAdopted(true), read.getDomainXml(), derived.uuid().toLowerCase(java.util.Locale.ROOT));
    }

    /**
     * Commits, hands the domain to its agent, claims; undoes the commit when the agent refuses. With {@code finishing},
     * the VM's record is that of an adoption left unfinished on the same home: the same steps take it to its end (the
     * agent's AdoptDomain of the text it holds already is a no-op, the claim is taken once).
     */
    private void carryOut(Plan p, String runbookCommit, String operator, boolean finishing) throws IOException {
        Adoption.Builder a = p.answer();
        String name = a.getVm();
        String home = a.getHomeHost();
        try (VmLocks.Held held = reconciler.lock(name)) {
            Optional<Vm> recorded = store.get(name);
            if (recorded.isPresent() && !(finishing && unfinished(recorded.get())
                    && recorded.get().getHomeHost().equals(home))) {
                refused(a, "VM " + name + " was recorded meanwhile");
                return;
            }
            String clash = clash(name, p, recordedTaken(), Map.of());
            if (clash != null) {
                refused(a, clash + " (recorded meanwhile)");
                return;
            }
            Vm vm = Vm.newBuilder().setSpec(a.getSpec()).setHomeHost(home).setRunningWanted(a.getRunning())
                    .setDisk(a.getDisk()).setNetwork(a.getNetwork()).build();
            // Two phases: the record is first committed not replicated, so that no other host's sync touches the
            // runbook's copy there until the home has taken the domain over and its claim is held. A refusal or a
            // rollback then changes the home only.
            Vm firstPhase = vm.toBuilder().setSpec(vm.getSpec().toBuilder().setReplicated(false)).build();
            try {
                store.save(firstPhase, p.xml(), "adopt " + name + " on " + home + " (a domain defined by hand"
                        + (runbookCommit.isEmpty() ? "" : ", runbook commit " + runbookCommit.substring(0, 12)) + ")",
                        operator);
            } catch (IOException e) {
                log.warn("adoption of {} on {}: its record could not be committed", name, home, e);
                refused(a, "its record could not be committed (" + e.getMessage() + "); " + home + " was not asked to"
                        + " take it over, the domain is untouched");
                return;
            }
            try {
                var step = agents.agent(home).withDeadlineAfter(AGENT_DEADLINE_MS, TimeUnit.MILLISECONDS)
                        .adoptDomain(AdoptDomainRequest.newBuilder().setVmName(name).setDomainXml(p.xml())
                                .setAutostart(a.getAutostart()).build());
                a.addNotes(home + ": " + step.getDetail());
            } catch (StatusRuntimeException e) {
                try {
                    store.remove(name, "adoption of " + name + " undone: " + home + " refused it", operator);
                } finally {
                    release(home, name, p.xml());
                }
                refused(a, "host " + home + " refused to take it over (" + e.getStatus().getCode() + " "
                        + e.getStatus().getDescription() + "); its record was removed again, the domain is untouched");
                return;
            }
            try {
                scheduler.restore(Request.of(a.getSpec()), home);
                if (vm.getSpec().getReplicated()) {
                    store.save(vm, null, "adopt " + name + ": replicated on the other hosts (" + home
                            + " holds it and its claim)", operator);
                }
            } catch (IOException | RuntimeException e) {
                // The home holds it and its record says so: adopted. What is left (the claim, which the controller
                // also restores when it starts, and the replication) is a later run's to finish.
                log.warn("adoption of {} on {}: its second phase failed", name, home, e);
                a.addNotes("adopted on " + home + ", but " + (scheduler.claimOf(name) == null
                        ? "its claim failed (" + e.getMessage() + "; the controller takes it again when it starts)"
                        : "recording its replication failed (" + e.getMessage() + ")")
                        + (vm.getSpec().getReplicated() ? ": replication to the other hosts pending; virtfleet adopt "
                        + name + " finishes it" : ""));
            }
            reconciler.observe(name, VmPhase.VM_PHASE_READY, null);
            a.setCommit(store.repo().head());
            log.info("operator {}: adopted VM {} on {}", operator, name, home);
        }
    }

    /**
     * Why {@code p} may not be adopted beside the VMs already recorded and the plans of this run, or null: one UUID
     * for two names makes every replica define of either fail, and one MAC twice on a bridge breaks both VMs.
     */
    private String clash(String name, Plan p, Taken run, Map<String, TreeSet<String>> reportedUuids) throws IOException {
        Taken recorded = recordedTaken();
        for (Taken t : List.of(recorded, run)) {
            String other = t.uuids.get(p.uuid());
            if (other != null && !other.equals(name)) {
                return "UUID " + p.uuid() + " is " + (t == run ? "also that of " + other + ", adopted in this run"
                        : "VM " + other + "'s already") + ": give one of them a new <uuid> (virsh dumpxml, edit, undefine,"
                        + " define) and adopt again";
            }
            String net = p.answer().getNetwork();
            other = t.networks.get(net);
            if (other != null && !other.equals(name)) {
                return "MAC " + net.substring(net.indexOf(' ') + 1) + " on " + net.split(" ")[0] + " is "
                        + (t == run ? "also that of " + other + ", adopted in this run" : "VM " + other + "'s already");
            }
        }
        List<String> others = reportedUuids.getOrDefault(p.uuid(), new TreeSet<>()).stream()
                .filter(n -> !n.equals(name)).toList();
        if (!others.isEmpty()) {
            return "UUID " + p.uuid() + " is also that of domain " + String.join(", ", others) + " on some host: give"
                    + " one of them a new <uuid> and adopt again";
        }
        return null;
    }

    /** The UUIDs (from their definitions in the repository) and networks of the VMs recorded. */
    private Taken recordedTaken() throws IOException {
        Taken t = new Taken();
        for (Vm vm : store.all()) {
            String vmName = vm.getSpec().getName();
            t.networks.put(vm.getNetwork(), vmName);
            Optional<String> xml = store.domainXml(vmName);
            if (xml.isPresent()) {
                try {
                    var uuids = io.virtfleet.common.xml.Xml.parse("domain_xml", xml.get(), Integer.MAX_VALUE)
                            .getDocumentElement().getElementsByTagName("uuid");
                    if (uuids.getLength() > 0) {
                        t.uuids.put(uuids.item(0).getTextContent().strip().toLowerCase(java.util.Locale.ROOT), vmName);
                    }
                } catch (RuntimeException e) {
                    log.warn("the repository's definition of {} cannot be read for its UUID: {}", vmName, e.getMessage());
                }
            }
        }
        return t;
    }

    /**
     * The VMs whose adoption was left before its second phase (a failure or a crash after the home took the domain
     * over): Ceph-backed, recorded not replicated, and with the definition of a domain made by hand (its UUID is not
     * the one virtfleet gives its name). Nothing else records a Ceph-backed adopted VM so: adoption replicates every
     * one, and a VM's replication never changes after it is recorded.
     */
    private Map<String, Vm> unfinished() {
        Map<String, Vm> out = new HashMap<>();
        for (Vm vm : store.all()) {
            if (unfinished(vm)) {
                out.put(vm.getSpec().getName(), vm);
            }
        }
        return out;
    }

    private boolean unfinished(Vm vm) {
        if (vm.getSpec().getReplicated() || vm.getSpec().getStorage() == io.virtfleet.proto.v1.StorageTier.STORAGE_TIER_RAW
                || vm.getSpec().getStorage() == io.virtfleet.proto.v1.StorageTier.STORAGE_TIER_UNSPECIFIED
                || vm.getPhase() == VmPhase.VM_PHASE_DELETING) {
            return false;
        }
        String name = vm.getSpec().getName();
        try {
            Optional<String> xml = store.domainXml(name);
            if (xml.isEmpty()) {
                return false;
            }
            var uuids = io.virtfleet.common.xml.Xml.parse("domain_xml", xml.get(), Integer.MAX_VALUE).getDocumentElement()
                    .getElementsByTagName("uuid");
            return uuids.getLength() > 0 && !uuids.item(0).getTextContent().strip().equalsIgnoreCase(
                    io.virtfleet.controller.definitions.DomainIdentity.uuid(name).toString());
        } catch (IOException | RuntimeException e) {
            log.warn("the repository's definition of {} cannot be read for its UUID: {}", name, e.getMessage());
            return false;
        }
    }

    /** Undoes an agent's adoption that may have happened although its answer was lost. */
    private void release(String home, String name, String xml) {
        try {
            agents.agent(home).withDeadlineAfter(AGENT_DEADLINE_MS, TimeUnit.MILLISECONDS).adoptDomain(
                    AdoptDomainRequest.newBuilder().setVmName(name).setDomainXml(xml).setRelease(true).build());
        } catch (StatusRuntimeException e) {
            log.warn("could not make sure {} forgot adopting {}: {}", home, name, e.getStatus());
        }
    }

    /** The registered hosts whose word on what they run is missing or old, each with why; empty when none. */
    private String unsureHosts() {
        long now = registry.nanoTime();
        List<String> unsure = new ArrayList<>();
        for (HostRecord h : registry.all().stream().sorted(java.util.Comparator.comparing(HostRecord::name)).toList()) {
            Liveness.Verdict v = liveness.judge(h, now);
            if (v.state() != HostState.HOST_STATE_READY && v.state() != HostState.HOST_STATE_DRAINING) {
                unsure.add(h.name() + " (" + v.reason() + ")");
            } else if (h.report().getDomainsStale()) {
                unsure.add(h.name() + " (its libvirt did not answer its last poll)");
            }
        }
        return String.join(", ", unsure);
    }

    private static boolean active(DomainState s) {
        return switch (s) {
            case DOMAIN_STATE_RUNNING, DOMAIN_STATE_BLOCKED, DOMAIN_STATE_PAUSED, DOMAIN_STATE_SHUTTING_DOWN,
                 DOMAIN_STATE_SUSPENDED -> true;
            default -> false;
        };
    }

    private static Plan refused(Adoption.Builder a, String reason) {
        a.setAdopted(false).setRefusal(reason);
        return new Plan(a, null, null);
    }
}
