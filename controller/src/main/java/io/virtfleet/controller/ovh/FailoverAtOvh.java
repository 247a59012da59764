package io.virtfleet.controller.ovh;

import io.grpc.Status;
import io.virtfleet.controller.reconcile.Progress;
import io.virtfleet.proto.v1.FailoverIp;
import io.virtfleet.proto.v1.VmSpec;
import java.time.Clock;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.Consumer;

/**
 * A failover-IP VM's side at OVH when the controller has OVH's API: before anything is built for the VM, its IP is
 * routed to the server of the host placement chose (moved there if it is routed elsewhere) and the VM gets the
 * virtual MAC that carries the IP on that server (found, or made). What was made can be undone if the create fails
 * later: a virtual MAC this create made is deleted again; a move is not undone but is reported. An IP is moved away
 * from a server where it has a virtual MAC (OVH moves the MAC with it: a machine there most likely uses it) only when
 * the operator names that MAC, and a MAC the operator names must be the IP's virtual MAC at OVH.
 *
 * <p>Without the API ({@link #enabled()} false) nothing here is used: placement follows the static
 * failover-routes and the operator gives each VM its virtual MAC.
 */
public final class FailoverAtOvh {
    /** What one create has done at OVH: to tell, and to undo if the create fails later. */
    public record Prepared(VmSpec spec, String host, String service, String movedFrom, String madeMac) {
        /** Nothing done at OVH (no API, or a LAN VM). */
        public static Prepared nothing(VmSpec spec) {
            return new Prepared(spec, "", "", null, null);
        }
    }

    private final FailoverIps ips;
    private final Map<String, String> services;
    private final OvhIntents intents;

    private FailoverAtOvh(FailoverIps ips, Map<String, String> services, OvhIntents intents) {
        this.ips = ips;
        this.services = Map.copyOf(services);
        this.intents = intents;
    }

    public static FailoverAtOvh disabled() {
        return new FailoverAtOvh(null, Map.of(), null);
    }

    /** @param intents where a create notes what it asks of OVH, until it ends (see {@link OvhIntents}) */
    public static FailoverAtOvh of(OvhSettings settings, OvhIntents intents) {
        if (!settings.enabled()) {
            return disabled();
        }
        return of(settings, new OvhClient(settings.account(), settings.requestTimeout(), settings.pollInterval(),
                () -> Clock.systemUTC().millis() / 1000), intents);
    }

    /** With this client (tests pass one on their own clock). */
    static FailoverAtOvh of(OvhSettings settings, OvhClient client, OvhIntents intents) {
        return new FailoverAtOvh(new FailoverIps(client, settings.taskDeadline()), settings.services(), intents);
    }

    /** A create's note of what it asks of OVH; closing it (the create ended, whichever way) forgets the note. */
    public interface Noted extends AutoCloseable {
        @Override
        void close();
    }

    /** The note a create of {@code vm} keeps while it runs; nothing without the API. */
    public Noted noting(String vm) {
        return intents == null ? () -> { } : () -> intents.forget(vm);
    }

    /**
     * Tells, at start, what creates the controller did not finish may have left at OVH, and forgets their notes: for
     * each VM name, what was asked of OVH, in words for the operator's log ("" when nothing: the VM was recorded).
     *
     * @param recorded whether a VM of that name is recorded (then its create finished far enough: nothing to tell)
     */
    public Map<String, String> leftByInterruptedCreates(java.util.function.Predicate<String> recorded) {
        Map<String, String> told = new java.util.TreeMap<>();
        if (intents == null) {
            return told;
        }
        intents.left().forEach((vm, words) -> {
            if (!recorded.test(vm)) {
                told.put(vm, "a create of " + vm + " was interrupted before the VM was recorded; at OVH it had "
                        + words + ". Check the OVH panel: a new create of " + vm + " uses a virtual MAC OVH made for it,"
                        + " or delete that MAC");
            }
            intents.forget(vm);
        });
        return told;
    }

    public boolean enabled() {
        return ips != null;
    }

    /** Whether a create of this VM goes through OVH: the API is configured and the VM has a failover IP. */
    public boolean applies(VmSpec spec) {
        return enabled() && spec.getNetwork().hasFailover();
    }

    /**
     * Where OVH routes a failover IP: the service name of the server ("" for none), and the virtual MAC carrying the IP
     * there ("" for none). OVH moves an IP's virtual MAC with the IP.
     */
    public record Route(String service, String mac) {}

    /**
     * Where OVH routes the VM's IP, and its virtual MAC there. Read-only at OVH, so a create asks first, before it
     * claims anything: an IP OVH says is not the account's, or a MAC the operator gave that is not the IP's virtual
     * MAC at OVH (OVH routes the IP to that MAC only), is refused with nothing to undo.
     */
    public Route routedTo(VmSpec spec) throws OvhException {
        FailoverIp failover = spec.getNetwork().getFailover();
        String ip = failover.getAddress();
        String service = ips.routedTo(ip);
        String mac = service.isEmpty() ? "" : ips.virtualMacOf(service, ip).orElse("");
        if (!failover.getMac().isEmpty() && !failover.getMac().equals(mac)) {
            throw new OvhException(Status.Code.FAILED_PRECONDITION, "spec.network.failover.mac (--failover-mac): "
                    + failover.getMac() + " is not the virtual MAC of " + ip + " at OVH, which "
                    + (mac.isEmpty() ? "has none (routed to " + named(service) + "): leave --failover-mac out to have"
                            + " one made" : "is " + mac + " on " + named(service)) + "; OVH routes the IP to its virtual MAC only");
        }
        return new Route(service, mac);
    }

    /**
     * Why a create placed on the server {@code service} must not move the IP, or null: the IP has a virtual MAC on the
     * server it is routed to, so a machine there most likely uses it, and the operator did not name that MAC to take it
     * over (OVH would move the MAC with the IP, cutting that machine off).
     */
    private String inUse(VmSpec spec, Route route, String service) {
        FailoverIp f = spec.getNetwork().getFailover();
        if (service.equals(route.service()) || route.mac().isEmpty() || !f.getMac().isEmpty()) {
            return null;
        }
        return "failover IP " + f.getAddress() + " has virtual MAC " + route.mac() + " on " + named(route.service())
                + ", so a machine there likely uses it; virtfleet does not move it away to " + named(service) + ": if"
                + " that machine is gone, give --failover-mac " + route.mac() + " (spec.network.failover.mac) to take the"
                + " IP and its MAC over for this VM, or delete the virtual MAC in the OVH panel";
    }

    /** What a create would do at OVH if placed on {@code host}, in words (a dry run's plan; nothing is changed). */
    public String plan(VmSpec spec, Route route, String host) {
        FailoverIp f = spec.getNetwork().getFailover();
        String service = services.getOrDefault(host, "");
        String refusal = inUse(spec, route, service);
        if (refusal != null) {
            return "would be refused: " + refusal;
        }
        String words = service.equals(route.service()) ? "failover IP " + f.getAddress() + " is routed to " + named(service)
                : "failover IP " + f.getAddress() + " would be moved from " + named(route.service()) + " to " + named(service);
        return words + (!route.mac().isEmpty() ? ", with its virtual MAC " + route.mac()
                : ", and get a virtual MAC made there at OVH");
    }

    /**
     * Routes the VM's IP to the server of {@code host} and gives the VM the virtual MAC carrying it there, reporting
     * each OVH task as a progress step. Returns the spec with its MAC.
     *
     * @param publicAddress the public-address {@code host} reports: it must be the address OVH gives the server
     *                      ovh-services names for the host (names swapped between hosts
     *                      would route the IP to a server whose gateway the VM does not use)
     * @param route what {@link #routedTo} said before placement
     * @throws OvhException OVH refused, failed or was too slow; the message says what this create did already (a
     *                      move stays made), and what OVH may still do (a task it accepted)
     */
    public Prepared prepare(VmSpec spec, String host, String publicAddress, Route route, Progress progress)
            throws OvhException {
        FailoverIp failover = spec.getNetwork().getFailover();
        String ip = failover.getAddress();
        String service = services.get(host);
        if (service == null) {
            // Placement only chooses hosts with a service name: this is a configuration changed under a create.
            throw new OvhException(Status.Code.FAILED_PRECONDITION, "host " + host + " has no OVH service name"
                    + " (ovh-services in the controller's configuration)");
        }
        String refusal = inUse(spec, route, service);
        if (refusal != null) {
            throw new OvhException(Status.Code.FAILED_PRECONDITION, refusal);
        }
        String routedTo = route.service();
        String movedFrom = null;
        // On every create, not only before a move: with names swapped between hosts, an IP already routed to the
        // misnamed server would otherwise give a VM whose gateway is on another server, unreachable, with no error.
        String serverAddress = ips.addressOf(service);
        if (!serverAddress.isEmpty() && !serverAddress.equals(publicAddress)) {
            throw new OvhException(Status.Code.FAILED_PRECONDITION, "ovh-services names " + service + " for host "
                    + host + ", but OVH gives that server the address " + serverAddress + " while " + host
                    + " reports public-address " + (publicAddress.isEmpty() ? "none" : publicAddress) + ": correct"
                    + " ovh-services (or the agent's public-address); " + ip + " was not moved");
        }
        if (!service.equals(routedTo)) {
            String what = "moving failover IP " + ip + " from " + named(routedTo) + " to " + named(service);
            note(spec, "asked OVH to move failover IP " + ip + " from " + named(routedTo) + " to " + named(service));
            try {
                ips.move(ip, service, watch(progress, "failover-ip", host, what));
            } catch (OvhException e) {
                // OVH may have taken the move: said, so the operator checks before giving the IP to anything else.
                throw e.passing() ? e.withMore("failover IP " + ip + " may be moved to " + named(service) + " by this"
                        + " create (from " + named(routedTo) + ")") : e;
            }
            movedFrom = routedTo;
            progress.step("failover-ip", host, "failover IP " + ip + " is routed to " + named(service) + " (was "
                    + named(routedTo) + ")");
        }
        String mac = route.mac();
        String made = null;
        try {
            if (movedFrom != null && !mac.isEmpty()) {
                // OVH moves the IP's virtual MAC with it: it is on the new server once the move is done.
                Optional<String> arrived = ips.virtualMacOf(service, ip);
                if (!arrived.equals(Optional.of(mac))) {
                    throw new OvhException(Status.Code.FAILED_PRECONDITION, "OVH moved " + ip + " but its virtual MAC "
                            + mac + " is not on " + named(service) + " (OVH has " + arrived.orElse("none") + " there)");
                }
            }
            if (!mac.isEmpty()) {
                progress.step("virtual-mac", host, "using virtual MAC " + mac + " of " + ip + " on " + named(service)
                        + ", which OVH has already");
            } else {
                String what = "creating a virtual MAC for " + ip + " on " + named(service);
                String moved = movedFrom == null ? "" : "moved failover IP " + ip + " from " + named(movedFrom) + " to "
                        + named(service) + ", then ";
                note(spec, moved + "asked OVH to make a virtual MAC for " + ip + " on " + named(service));
                try {
                    mac = ips.createVirtualMac(service, ip, spec.getName(), watch(progress, "virtual-mac", host, what));
                } catch (OvhException e) {
                    mac = e.passing() ? madeAnyway(service, ip) : null;
                    if (mac == null) {
                        throw e.passing() ? e.withMore("if OVH makes the virtual MAC, it stays on " + named(service)
                                + " and a new create of " + spec.getName() + " uses it (or delete it in the OVH panel)") : e;
                    }
                }
                made = mac;
                note(spec, moved + "OVH made virtual MAC " + mac + " for " + ip + " on " + named(service));
                progress.step("virtual-mac", host, "OVH made virtual MAC " + mac + " for " + ip + " on " + named(service));
            }
        } catch (OvhException e) {
            throw movedFrom == null ? e : e.withMore(moved(ip, service, movedFrom));
        }
        VmSpec withMac = spec.toBuilder().setNetwork(spec.getNetwork().toBuilder()
                .setFailover(failover.toBuilder().setMac(mac))).build();
        return new Prepared(withMac, host, service, movedFrom, made);
    }

    /** Notes what this create is about to ask of OVH (see {@link OvhIntents}). */
    private void note(VmSpec spec, String words) throws OvhException {
        if (intents != null) {
            intents.note(spec.getName(), words);
        }
    }

    /** The virtual MAC OVH made for the IP although following its task failed, or null: looked up once more. */
    private String madeAnyway(String service, String ip) {
        try {
            return ips.virtualMacOf(service, ip).orElse(null);
        } catch (OvhException again) {
            return null;
        }
    }

    /**
     * Undoes what {@link #prepare} made for a create that failed later: deletes the virtual MAC it made. Returns what
     * stays at OVH, in words for the operator's error ("" when nothing does): the move, and a MAC OVH would not
     * delete, named so it can be deleted by hand.
     */
    public String undo(Prepared done, Progress progress) {
        List<String> left = new ArrayList<>();
        FailoverIp failover = done.spec().getNetwork().hasFailover() ? done.spec().getNetwork().getFailover() : null;
        if (done.madeMac() != null && failover != null) {
            String what = "deleting virtual MAC " + done.madeMac() + " of " + failover.getAddress() + " on "
                    + named(done.service());
            try {
                ips.removeVirtualMac(done.service(), done.madeMac(), failover.getAddress(),
                        watch(progress, "virtual-mac", done.host(), what));
                progress.step("virtual-mac", done.host(), "deleted virtual MAC " + done.madeMac() + " at OVH again");
            } catch (OvhException e) {
                left.add("virtual MAC " + done.madeMac() + " that this create made for " + failover.getAddress() + " is"
                        + " left on " + named(done.service()) + " at OVH (" + e.getMessage() + "): delete it in the OVH"
                        + " panel, or let a new create of " + done.spec().getName() + " use it");
            }
        }
        if (done.movedFrom() != null && failover != null) {
            left.add(moved(failover.getAddress(), done.service(), done.movedFrom()));
        }
        return String.join("; ", left);
    }

    private String moved(String ip, String service, String from) {
        return "failover IP " + ip + " was moved to " + named(service) + " by this create (from " + named(from)
                + ") and stays there";
    }

    /** A progress step for each status an OVH task is seen in, the first saying how long the create waits. */
    private Consumer<OvhTask> watch(Progress progress, String step, String host, String what) {
        boolean[] first = {true};
        return task -> {
            String words = what + ": OVH task " + task.id() + " " + task.status();
            if (first[0]) {
                words += ", waiting for it (up to " + OvhClient.words(ips.taskDeadline()) + ")";
                first[0] = false;
            }
            progress.step(step, host, words);
        };
    }

    /** A server by its service name, with the host it is when it is one of the fleet's. */
    private String named(String service) {
        if (service == null || service.isEmpty()) {
            return "no server";
        }
        for (Map.Entry<String, String> e : services.entrySet()) {
            if (e.getValue().equals(service)) {
                return service + " (" + e.getKey() + ")";
            }
        }
        return service;
    }
}
