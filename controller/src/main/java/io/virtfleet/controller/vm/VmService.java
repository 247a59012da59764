package io.virtfleet.controller.vm;

import io.grpc.Status;
import io.virtfleet.common.validation.InvalidInputException;
import io.virtfleet.common.validation.Names;
import io.virtfleet.common.validation.VmSpecs;
import io.virtfleet.controller.cpu.FleetCpu;
import io.virtfleet.controller.definitions.Boot;
import io.virtfleet.controller.definitions.DomainRenderer;
import io.virtfleet.controller.definitions.VmStore;
import io.virtfleet.controller.install.BootMode;
import io.virtfleet.controller.install.InstallState;
import io.virtfleet.controller.install.Installs;
import io.virtfleet.controller.install.ProfileCatalog;
import io.virtfleet.controller.ovh.FailoverAtOvh;
import io.virtfleet.controller.ovh.OvhException;
import io.virtfleet.controller.reconcile.Progress;
import io.virtfleet.controller.reconcile.Reconciler;
import io.virtfleet.controller.reconcile.StepFailedException;
import io.virtfleet.controller.reconcile.VmLocks;
import io.virtfleet.controller.registry.HostRegistry;
import io.virtfleet.controller.replication.FanOut;
import io.virtfleet.controller.replication.Replication;
import io.virtfleet.controller.scheduler.Capacity;
import io.virtfleet.controller.scheduler.Decision;
import io.virtfleet.controller.scheduler.Explanation;
import io.virtfleet.controller.scheduler.NoHostFitsException;
import io.virtfleet.controller.scheduler.Request;
import io.virtfleet.controller.scheduler.Scheduler;
import io.virtfleet.proto.v1.DomainInfo;
import io.virtfleet.proto.v1.DriftReport;
import io.virtfleet.proto.v1.VmHistory;
import io.virtfleet.proto.v1.VmInstallPhase;
import io.virtfleet.proto.v1.Vm;
import io.virtfleet.proto.v1.VmPhase;
import io.virtfleet.proto.v1.VmSpec;
import java.io.IOException;
import java.time.Duration;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The operator's VM commands: create (place, record, converge; undone entirely if it fails), delete, start,
 * stop, list, show. Durable order for a create: claim (journal) → record (git commit) → steps on the host;
 * whatever a crash interrupts, the {@link Reconciler} finishes on the next pass, and a claim without a record
 * is released at start. With OVH's API, a failover-IP VM's IP is routed to its host and its virtual MAC found or made
 * at OVH ({@link FailoverAtOvh}) after the claim and before the record: a create that fails undoes what it made
 * there too.
 */
public final class VmService {
    private static final Logger log = LoggerFactory.getLogger(VmService.class);
    private static final Logger audit = LoggerFactory.getLogger("virtfleet.audit");
    /** How long the installer may take, after its callback, to finish and reboot (its last steps, then the reboot). */
    private static final Duration INSTALL_FINISH = Duration.ofMinutes(30);

    /** A create that could not finish now; the VM stays recorded and the reconciler completes it. */
    public static final class CreateIncompleteException extends Exception {
        public CreateIncompleteException(String message) {
            super(message);
        }
    }

    private final VmStore store;
    private final Scheduler scheduler;
    private final Reconciler reconciler;
    private final DomainRenderer renderer;
    private final HostRegistry registry;
    private final Replication replication;
    private final ProfileCatalog profiles;
    private final Installs installs;
    private final LanMacs lanMacs;
    private final FailoverAddresses failoverAddresses;
    private final FailoverAtOvh ovh;
    private final FleetCpu fleetCpu;
    /** See {@link #timeWith}. */
    private volatile io.virtfleet.controller.metrics.OperationTimer timer = io.virtfleet.controller.metrics.OperationTimer.NONE;

    /**
     * @param fleetCpu the fleet CPU model, which {@code renderer} names in definitions: a create computes it first if the
     *                 fleet has none yet
     */
    public VmService(VmStore store, Scheduler scheduler, Reconciler reconciler, DomainRenderer renderer,
                     HostRegistry registry, Replication replication, ProfileCatalog profiles, Installs installs,
                     FailoverAtOvh ovh, FleetCpu fleetCpu) {
        this.store = store;
        this.scheduler = scheduler;
        this.reconciler = reconciler;
        this.renderer = renderer;
        this.registry = registry;
        this.replication = replication;
        this.profiles = profiles;
        this.installs = installs;
        this.lanMacs = new LanMacs(store, registry);
        this.failoverAddresses = new FailoverAddresses(store);
        this.ovh = ovh;
        this.fleetCpu = fleetCpu;
        installs.onInstalled(this::bootFromDisk);
        reconciler.whenDeleted(this::forgetInstall); // a delete the reconciler finished for an operator
    }

    /**
     * Makes claims and records agree after a restart: a claim whose VM was never recorded (the controller died
     * between the two) is released; a recorded VM without a claim (claims journal lost) is claimed again on its
     * home host.
     */
    public void recover() {
        for (var claim : scheduler.claims()) {
            if (claim.vmName().contains("/")) {
                continue; // a move's claim on its target: the moves in flight settle it (move.Moves)
            }
            if (store.get(claim.vmName()).isEmpty()) {
                scheduler.release(claim.vmName());
                log.info("released the claim of VM {} on {}: its creation never got recorded", claim.vmName(), claim.host());
            }
        }
        ovh.leftByInterruptedCreates(vm -> store.get(vm).isPresent()).forEach((vm, words) -> log.warn("{}", words));
        for (Vm vm : store.all()) {
            var claim = scheduler.claimOf(vm.getSpec().getName());
            if (claim != null && !claim.host().equals(vm.getHomeHost())) {
                // A move recorded just before the controller stopped, its claims not yet swapped: the claim follows
                // the record, or the new home would count as empty and the old one as full.
                scheduler.release(vm.getSpec().getName());
                log.warn("the claim of VM {} was on {}, its recorded home is {}: claimed there instead",
                        vm.getSpec().getName(), claim.host(), vm.getHomeHost());
                claim = null;
            }
            if (claim == null) {
                scheduler.restore(Request.of(vm.getSpec()), vm.getHomeHost());
                log.info("restored the claim of VM {} on {}", vm.getSpec().getName(), vm.getHomeHost());
            }
        }
    }

    /** What placement must find for the VM: a VM installed by direct kernel boot also needs the installer's files. */
    private Request request(VmSpec spec) {
        Request r = Request.of(spec);
        return installs.boot().mode() == BootMode.KERNEL ? r.withInstaller() : r;
    }

    /** Where a VM with this spec would go, and why, for every host. */
    public Explanation explain(VmSpec spec) {
        VmSpec checked = VmSpecs.validateRequest(spec);
        profiles.chain("spec.profile", checked.getProfile()); // what create would refuse first, explained the same way
        return scheduler.explain(request(checked));
    }

    /**
     * How many more VMs with this spec fit, host by host, as {@link #explain} judges one: the profile must be one of
     * the controller's, and a VM installed by kernel boot needs the installer's files.
     *
     * @param nPlusOne whether to keep the N+1 reserve; null: as the controller's placement does
     */
    public Capacity capacity(VmSpec spec, Boolean nPlusOne) {
        return capacity(spec, nPlusOne, () -> false);
    }

    /**
     * As {@link #capacity(VmSpec, Boolean)}, stopped once {@code stop} says so (the caller hung up).
     *
     * @throws java.util.concurrent.CancellationException stopped
     * @throws io.virtfleet.controller.scheduler.Scheduler.CountBusyException another count keeping the reserve runs
     */
    public Capacity capacity(VmSpec spec, Boolean nPlusOne, java.util.function.BooleanSupplier stop) {
        VmSpec checked = VmSpecs.validateRequest(spec);
        profiles.chain("spec.profile", checked.getProfile());
        return scheduler.capacity(request(checked), nPlusOne != null ? nPlusOne : keepsReserve(), stop);
    }

    /** Whether placement keeps the N+1 reserve (n-plus-one = on). */
    public boolean keepsReserve() {
        return scheduler.policy().nPlusOne();
    }

    /**
     * Creates a VM, reporting each step. On a step the host refuses (disk exists with another size, pool
     * missing...), everything this create did is undone and the error names the step and the host's reason.
     *
     * @throws io.virtfleet.common.validation.InvalidInputException the profile is not one of the controller's
     *                                   (the message lists them; nothing was changed)
     * @throws NoHostFitsException       no host can take it (nothing was changed)
     * @throws io.grpc.StatusRuntimeException ALREADY_EXISTS: the name is taken, or its LAN MAC or failover IP is
     *                                   (nothing was changed)
     * @throws CreateIncompleteException the home host stopped answering midway; the VM is recorded and will be
     *                                   finished by the reconciler
     * @throws OvhException              OVH refused, failed or did not answer in time (nothing was built; the message
     *                                   says what stays at OVH, such as an IP moved)
     */
    public Vm create(VmSpec requested, boolean dryRun, String operator, Progress steps, java.util.function.Consumer<Explanation> placement)
            throws StepFailedException, CreateIncompleteException, IOException, OvhException {
        // a dry run changes nothing, so it is not counted
        var timing = (dryRun ? io.virtfleet.controller.metrics.OperationTimer.NONE : timer).start("create");
        Vm vm;
        try {
            vm = createNow(requested, dryRun, operator, steps, placement);
        } catch (Throwable e) {
            timing.failed(e);
            throw e;
        }
        return timing.succeeded(vm);
    }

    /** Hears how each create (not a dry run) ended, and how long it took. */
    public void timeWith(io.virtfleet.controller.metrics.OperationTimer timer) {
        this.timer = java.util.Objects.requireNonNull(timer, "timer");
    }

    private Vm createNow(VmSpec requested, boolean dryRun, String operator, Progress steps, java.util.function.Consumer<Explanation> placement)
            throws StepFailedException, CreateIncompleteException, IOException, OvhException {
        VmSpec spec = VmSpecs.validateRequest(requested);
        // Before anything is claimed: a VM whose profile the controller lacks could never install.
        profiles.chain("spec.profile", spec.getProfile());
        if (spec.getNetwork().hasFailover() && spec.getNetwork().getFailover().getMac().isEmpty() && !ovh.enabled()) {
            throw new InvalidInputException("spec.network.failover.mac", "", "the OVH virtual MAC of "
                    + spec.getNetwork().getFailover().getAddress() + " (--failover-mac): this controller has no OVH API"
                    + " (ovh-config) to find or make one");
        }
        Progress progress = steps.serialized(); // the fan-out reports from other threads
        String name = spec.getName();
        // The failover IP is held before OVH is asked anything: with OVH's API, a second VM with the IP would move
        // it away from the first.
        try (VmLocks.Held held = reconciler.lock(name); LanMacs.Hold mac = lanMacs.hold(spec);
             LanMacs.Hold ip = failoverAddresses.hold(spec); FailoverAtOvh.Noted atOvhNote = ovh.noting(name)) {
            if (store.get(name).isPresent() || scheduler.claimOf(name) != null) {
                throw Status.ALREADY_EXISTS.withDescription("a VM named " + name + " already exists (virtfleet vm show "
                        + name + ")").asRuntimeException();
            }
            Request request = request(spec);
            // Read-only at OVH, and asked before anything is claimed: an IP OVH says is not the account's stops here.
            FailoverAtOvh.Route routedTo = ovh.applies(spec) ? ovh.routedTo(spec) : null;
            if (dryRun) {
                Explanation e = scheduler.explain(request);
                placement.accept(e);
                if (e.chosenHost() == null) {
                    throw new NoHostFitsException(name, e);
                }
                progress.step("plan", e.chosenHost(), "would create " + name + " on " + e.chosenHost()
                        + ": " + (routedTo == null ? "" : ovh.plan(spec, routedTo, e.chosenHost()) + "; ")
                        + "disk, network, definition, start (dry run: nothing changed)");
                return Vm.newBuilder().setSpec(spec).setHomeHost(e.chosenHost()).setRunningWanted(true).build();
            }
            // Before placement, so it already judges hosts by the model the definition will name. Computed only when the
            // fleet has none: a host that joins later with an older CPU is refused, never lowering the model.
            fleetCpu.ensure(operator);
            Decision decision = scheduler.place(request);
            if (!decision.placed()) {
                placement.accept(decision.explanation());
                throw new NoHostFitsException(name, decision.explanation());
            }
            String host = decision.claim().host();
            CrashPoints.reached("claimed");
            progress.step("placed", host, "placed on " + host + ": " + decision.chosen().reason());
            FailoverAtOvh.Prepared atOvh = FailoverAtOvh.Prepared.nothing(spec);
            if (routedTo != null) {
                try {
                    atOvh = ovh.prepare(spec, host, registry.get(host).map(h -> h.report().getPublicAddress()).orElse(""),
                            routedTo, progress);
                } catch (OvhException | RuntimeException e) {
                    scheduler.release(name);
                    throw e;
                }
                spec = atOvh.spec();
                CrashPoints.reached("at-ovh");
            }
            Vm vm;
            try {
                // Armed before the record: the VM's first boot must find its boot config.
                Boot boot = installs.arm(spec, host);
                DomainRenderer.Rendered rendered = renderer.render(spec, host, boot);
                vm = Vm.newBuilder().setSpec(spec).setHomeHost(host).setRunningWanted(true)
                        .setPhase(VmPhase.VM_PHASE_CREATING).setDisk(rendered.disk()).setNetwork(rendered.network()).build();
                store.save(vm, rendered.xml(), "create " + name + " on " + host + "\n\n" + decision.chosen().reason(),
                        operator);
            } catch (IOException | RuntimeException e) {
                forgetInstall(spec);
                scheduler.release(name);
                String left = undoAtOvh(atOvh, progress);
                if (!left.isEmpty() && e instanceof IOException) {
                    throw new IOException(e.getMessage() + "; " + left, e);
                }
                throw e; // what stays at OVH was a progress step
            }
            CrashPoints.reached("recorded");
            audit.info("operator {}: created VM {} on {}", operator, name, host);
            reconciler.observe(name, VmPhase.VM_PHASE_CREATING, null);
            // Replicas are defined on every other host while the home host builds the VM: nothing there depends
            // on the disk or the network, and no replica is ever started.
            CompletableFuture<List<FanOut.HostResult>> replicas = spec.getReplicated()
                    ? replication.syncAllSoon(fanningOut(progress)) : CompletableFuture.completedFuture(List.of());
            List<Reconciler.Done> done = new java.util.ArrayList<>();
            try {
                reconciler.converge(vm, progress, done);
            } catch (StepFailedException e) {
                replicas.join(); // the undo's commit removes the replicas again; the hosts' next sync undefines them
                if (e.retryable()) {
                    reconciler.observe(name, VmPhase.VM_PHASE_FAILED, e.getMessage());
                    throw new CreateIncompleteException(e.getMessage() + "; VM " + name + " is recorded on " + host
                            + " and will be finished when the host answers (virtfleet vm show " + name
                            + "), or removed with virtfleet vm delete " + name);
                }
                undo(vm, done, e, progress);
                String left = undoAtOvh(atOvh, progress);
                throw left.isEmpty() ? e : new StepFailedException(e.step(), e.host(),
                        e.status().withDescription(e.status().getDescription() + "; " + left));
            }
            if (spec.getNetwork().hasLan()) {
                // The LAN's other hosts learn of this one if it is new to the LAN; the create need not wait.
                reconciler.refreshLanPeersSoon(spec.getNetwork().getLan(), host);
            }
            CrashPoints.reached("started");
            List<FanOut.HostResult> synced = replicas.join();
            String where = name + " is running on " + host;
            if (installs.boot().arms()) {
                where += " and installs itself from profile " + spec.getProfile() + " (" + installs.boot().mode().option()
                        + " boot; virtfleet vm show " + name + " follows it)";
            }
            if (spec.getReplicated()) {
                long others = synced.stream().filter(r -> !r.host().equals(host)).count();
                long inStep = synced.stream().filter(r -> !r.host().equals(host) && r.outcome() == FanOut.Outcome.IN_STEP).count();
                where += "; defined on " + inStep + " of " + others + " other hosts"
                        + (inStep < others ? " (the others catch up by themselves)" : "");
            }
            progress.step("done", host, where);
            return vm;
        }
    }

    /**
     * Undoes at OVH what a failed create made there (a virtual MAC) and returns what stays there in words for the
     * operator's error ("" if nothing): a move, or a MAC OVH would not delete.
     */
    private String undoAtOvh(FailoverAtOvh.Prepared atOvh, Progress progress) {
        if (atOvh.madeMac() == null && atOvh.movedFrom() == null) {
            return "";
        }
        String left = ovh.undo(atOvh, progress);
        if (!left.isEmpty()) {
            log.warn("create of {} undone, but at OVH: {}", atOvh.spec().getName(), left);
            progress.step("ovh", atOvh.host(), left);
        }
        return left;
    }

    /** The fan-out's progress, with the crash point a fan-out passes once a host has answered. */
    private static Progress fanningOut(Progress progress) {
        return (step, host, detail) -> {
            progress.step(step, host, detail);
            CrashPoints.reached("fanning-out");
        };
    }

    /**
     * Undoes a create the host refused: the domain (undefining an absent one is a no-op), the disk only if this
     * create made it (an existing disk it refused to adopt is someone's data), the record and the claim. The
     * network is shared with other VMs of the LAN and stays.
     */
    private void undo(Vm vm, List<Reconciler.Done> done, StepFailedException cause, Progress progress) {
        String name = vm.getSpec().getName();
        String host = vm.getHomeHost();
        boolean diskMade = done.stream().anyMatch(d -> d.step().equals("disk") && d.changed());
        try {
            reconciler.teardown(vm.toBuilder().setDeleteDiskWanted(diskMade).build(), progress);
        } catch (StepFailedException e) {
            log.warn("undoing the create of {} on {}: {}", name, host, e.getMessage());
        }
        try {
            store.remove(name, "undo create " + name + ": " + cause.getMessage(), "");
        } catch (IOException | RuntimeException e) {
            // The record stays (the definitions repository refuses commits until a restart): so do its claim and
            // install, or the reconciler would rebuild a VM without them. It leaves the VM alone meanwhile.
            log.error("cannot remove the record of {} after its failed create", name, e);
            reconciler.leaveAlone(name);
            reconciler.observe(name, VmPhase.VM_PHASE_FAILED, cause.getMessage() + "; the create was undone on " + host
                    + " but the record could not be removed: " + e.getMessage());
            progress.step("undone", host, "removed from " + host + " but " + name + " is still recorded, with its"
                    + " resources claimed: its record could not be removed (" + e.getMessage() + "); restart the"
                    + " controller, then remove it with virtfleet vm delete " + name);
            return;
        }
        scheduler.release(name);
        reconciler.forget(name);
        forgetInstall(vm.getSpec());
        progress.step("undone", host, "nothing left of " + name + " on " + host);
    }

    /** Starts or stops a VM on its home host. */
    public Vm setRunning(String name, boolean running, String operator) throws StepFailedException, IOException {
        try (VmLocks.Held held = reconciler.lock(Names.vmName("name", name))) {
            Vm vm = require(name);
            if (vm.getPhase() == VmPhase.VM_PHASE_DELETING) {
                throw Status.FAILED_PRECONDITION.withDescription("VM " + name + " is being deleted").asRuntimeException();
            }
            reconciler.requireNotHeldOff(name);
            if (vm.getRunningWanted() != running) {
                vm = vm.toBuilder().setRunningWanted(running).build();
                store.save(vm, null, (running ? "start " : "stop ") + name, operator);
                audit.info("operator {}: {} VM {}", operator, running ? "started" : "stopped", name);
            }
            reconciler.converge(vm, Progress.NONE);
            return vm;
        }
    }

    /**
     * Installs the VM again, from {@code profile} (empty: its own): the domain boots into its installer again,
     * a new install is armed (the old token dies) and the VM is restarted into the installer. Its disk is the
     * installer's to overwrite.
     */
    public Vm reinstall(String name, String profile, String operator) throws StepFailedException, IOException {
        try (VmLocks.Held held = reconciler.lock(Names.vmName("name", name))) {
            Vm vm = require(name);
            reconciler.requireNotHeldOff(name);
            if (!installs.boot().arms()) {
                throw Status.FAILED_PRECONDITION.withDescription("the controller's boot-mode is none: it arranges no"
                        + " install (set boot-mode pxe and tftp-root, or boot-mode kernel, and install-url)").asRuntimeException();
            }
            if (vm.getPhase() == VmPhase.VM_PHASE_DELETING) {
                throw Status.FAILED_PRECONDITION.withDescription("VM " + name + " is being deleted").asRuntimeException();
            }
            refuseAdopted(name);
            VmSpec spec = profile.isEmpty() ? vm.getSpec() : vm.getSpec().toBuilder().setProfile(profile).build();
            profiles.chain("profile", spec.getProfile()); // refused with the list of profiles, nothing changed
            vm = vm.toBuilder().setSpec(spec).setRunningWanted(true).build();
            DomainRenderer.Rendered rendered = renderer.render(spec, vm.getHomeHost(), installs.arm(spec, vm.getHomeHost()));
            store.save(vm, rendered.xml(), "reinstall " + name + " from profile " + spec.getProfile(), operator);
            audit.info("operator {}: reinstalling VM {} from profile {}", operator, name, spec.getProfile());
            // A running domain keeps the boot order it was started with: it is stopped, then started with the new one.
            reconciler.converge(vm.toBuilder().setRunningWanted(false).build(), Progress.NONE);
            reconciler.converge(vm, Progress.NONE);
            return withInstall(withObservations(vm));
        }
    }

    /**
     * Refuses to render a new definition of an adopted VM: its domain keeps the UUID it was defined with by hand,
     * while a rendered definition carries virtfleet's UUID for its name, which libvirt refuses for an existing domain
     * on every host (the repository would hold a definition no host accepts).
     */
    private void refuseAdopted(String name) throws IOException {
        java.util.Optional<String> xml = store.domainXml(name);
        if (xml.isEmpty()) {
            return;
        }
        var uuids = io.virtfleet.common.xml.Xml.parse("domain_xml", xml.get(), Integer.MAX_VALUE).getDocumentElement()
                .getElementsByTagName("uuid");
        String own = io.virtfleet.controller.definitions.DomainIdentity.uuid(name).toString();
        if (uuids.getLength() > 0 && !uuids.item(0).getTextContent().strip().equalsIgnoreCase(own)) {
            throw Status.FAILED_PRECONDITION.withDescription("VM " + name + " was adopted (its domain keeps the UUID "
                    + uuids.item(0).getTextContent().strip() + " it was defined with by hand): virtfleet does not"
                    + " reinstall an adopted VM; install it again by hand, or create a new VM with virtfleet vm create")
                    .asRuntimeException();
        }
    }

    /**
     * The install callback's consequence: the VM's definition boots from its disk only, so neither the site's default
     * PXE config nor a stale one can ever install it again. Applied at the VM's next start: a PXE-booted installer's
     * reboot keeps the running domain's boot order (its PXE config now boots the disk); a kernel-booted one's stops
     * the domain, which the reconciler starts again. A host that does not answer gets it from the reconciler.
     */
    private void bootFromDisk(String name) {
        try (VmLocks.Held held = reconciler.lock(name)) {
            Vm vm = store.get(name).orElse(null);
            if (vm == null || vm.getPhase() == VmPhase.VM_PHASE_DELETING) {
                return;
            }
            DomainRenderer.Rendered rendered = renderer.render(vm.getSpec(), vm.getHomeHost(), installs.bootAfterInstall());
            store.save(vm, rendered.xml(), "installed " + name + " (profile " + vm.getSpec().getProfile()
                    + "): boots from its disk", "");
            reconciler.converge(vm, Progress.NONE);
            if (installs.boot().mode() == BootMode.KERNEL) {
                // The installer's reboot will stop the domain: start it from its disk as soon as the host says so.
                reconciler.restartOnceStopped(name, Duration.ofSeconds(1), INSTALL_FINISH);
            }
        } catch (IOException | StepFailedException | RuntimeException e) {
            log.warn("VM {} is installed but its definition could not be switched to disk boot yet: {}", name, e.getMessage());
        }
    }

    private void forgetInstall(VmSpec spec) {
        try {
            installs.forget(spec);
        } catch (IOException | RuntimeException e) {
            log.warn("cannot remove the install state or boot config of {}: {}", spec.getName(), e.getMessage());
        }
    }

    /** Deletes a VM: recorded as deleting first (so a crash cannot lose the intent), then torn down, then removed. */
    public void delete(String name, boolean deleteDisk, String operator, Progress progress)
            throws StepFailedException, IOException {
        try (VmLocks.Held held = reconciler.lock(Names.vmName("name", name))) {
            reconciler.requireNotHeldOff(name);
            Vm vm = require(name).toBuilder().setPhase(VmPhase.VM_PHASE_DELETING).setDeleteDiskWanted(deleteDisk).build();
            store.save(vm, null, "delete " + name + (deleteDisk ? " with its disk" : " (disk kept)"), operator);
            audit.info("operator {}: deleting VM {}{}", operator, name, deleteDisk ? " and its disk" : "");
            reconciler.observe(name, VmPhase.VM_PHASE_DELETING, null);
            reconciler.teardown(vm, progress);
            store.remove(name, "deleted " + name, operator);
            scheduler.release(name);
            reconciler.forget(name);
            forgetInstall(vm.getSpec());
            progress.step("done", vm.getHomeHost(), name + " deleted" + (deleteDisk ? " with its disk" : "; its disk was kept"));
        }
    }

    /** The definitions repository's current commit (every change to the desired state moves it). */
    public String definitionsHead() {
        try {
            return store.repo().head();
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    public List<Vm> list() {
        return store.all().stream().map(this::withObservations).map(this::withInstall).sorted(Comparator.comparing(v -> v.getSpec().getName())).toList();
    }

    public Vm get(String name) throws IOException {
        Vm vm = require(name);
        // Replicas only here: finding them reads every host's domain list, too much to do for each VM of a list.
        return withInstall(withObservations(vm)).toBuilder().addAllReplicaHosts(replication.replicaHosts(vm))
                .addAllHistory(store.history(name)).build();
    }

    private Vm require(String name) {
        return store.get(Names.vmName("name", name)).orElseThrow(() -> Status.NOT_FOUND
                .withDescription("no VM named " + name + " (virtfleet vm list shows them all)").asRuntimeException());
    }

    /** Syncs every host to the definitions repository's current commit, reporting each host's result. */
    public List<FanOut.HostResult> syncHosts(Progress progress) {
        return replication.syncAll(progress);
    }

    public DriftReport drift() {
        return replication.drift();
    }

    /** The VM's changes in the definitions repository; NOT_FOUND only for a name that never had any. */
    public VmHistory history(String name) throws IOException {
        Names.vmName("name", name);
        List<io.virtfleet.proto.v1.VmEvent> events = store.history(name);
        if (events.isEmpty()) {
            throw Status.NOT_FOUND.withDescription("no VM named " + name + " was ever recorded (virtfleet vm list shows"
                    + " the current ones)").asRuntimeException();
        }
        return VmHistory.newBuilder().setName(name).addAllEvents(events).setExists(store.get(name).isPresent()).build();
    }

    private Vm withInstall(Vm vm) {
        InstallState s = installs.state(vm.getSpec().getName()).orElse(null);
        if (s == null) {
            return vm;
        }
        VmInstallPhase phase = switch (s.phase()) {
            case WAITING -> VmInstallPhase.VM_INSTALL_PHASE_WAITING;
            case PRESEED_FETCHED -> VmInstallPhase.VM_INSTALL_PHASE_PRESEED_FETCHED;
            case INSTALLED -> VmInstallPhase.VM_INSTALL_PHASE_INSTALLED;
        };
        return vm.toBuilder().setInstallPhase(phase).setInstallProfile(s.profile())
                .setInstallArmedAtUnixMs(s.armedAtMs()).setPreseedFetchedAtUnixMs(s.preseedFetchedAt())
                .setInstalledAtUnixMs(s.installedAtMs()).build();
    }

    private Vm withObservations(Vm vm) {
        Reconciler.Observed o = reconciler.observed(vm.getSpec().getName());
        Vm.Builder b = vm.toBuilder().setPhase(vm.getPhase() == VmPhase.VM_PHASE_DELETING ? VmPhase.VM_PHASE_DELETING : o.phase())
                .setLastError(o.lastError());
        registry.get(vm.getHomeHost()).ifPresent(h -> {
            for (DomainInfo d : h.report().getDomainsList()) {
                if (d.getName().equals(vm.getSpec().getName())) {
                    b.setDomainState(d.getState().name());
                }
            }
        });
        return b.build();
    }
}
