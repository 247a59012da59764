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
 * later: a virtual MAC this create made is deleted again; a move is not undone (the IP was not in use on its old
 * server, or the operator would not give it to a new VM) but is reported.
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

    private FailoverAtOvh(FailoverIps ips, Map<String, String> services) {
        this.ips = ips;
        this.services = Map.copyOf(services);
    }

    public static FailoverAtOvh disabled() {
        return new FailoverAtOvh(null, Map.of());
    }

    public static FailoverAtOvh of(OvhSettings settings) {
        if (!settings.enabled()) {
            return disabled();
        }
        OvhClient client = new OvhClient(settings.account(), settings.requestTimeout(), settings.pollInterval(),
                () -> Clock.systemUTC().millis() / 1000);
        return new FailoverAtOvh(new FailoverIps(client, settings.taskDeadline()), settings.services());
    }

    public boolean enabled() {
        return ips != null;
    }

    /** Whether a create of this VM goes through OVH: the API is configured and the VM has a failover IP. */
    public boolean applies(VmSpec spec) {
        return enabled() && spec.getNetwork().hasFailover();
    }

    /**
     * The service name of the server OVH routes the VM's IP to ("" for none). Read-only at OVH, so a create asks
     * first, before it claims anything: an IP OVH says is not the account's is refused with nothing to undo.
     */
    public String routedTo(VmSpec spec) throws OvhException {
        return ips.routedTo(spec.getNetwork().getFailover().getAddress());
    }

    /** What a create would do at OVH if placed on {@code host}, in words (a dry run's plan; nothing is changed). */
    public String plan(VmSpec spec, String routedTo, String host) {
        FailoverIp f = spec.getNetwork().getFailover();
        String service = services.getOrDefault(host, "");
        String words = service.equals(routedTo) ? "failover IP " + f.getAddress() + " is routed to " + named(service)
                : "failover IP " + f.getAddress() + " would be moved from " + named(routedTo) + " to " + named(service);
        return words + (f.getMac().isEmpty() ? ", and get a virtual MAC there (found or made at OVH)" : "");
    }

    /**
     * Routes the VM's IP to the server of {@code host} and gives the VM the virtual MAC carrying it there, reporting
     * each OVH task as a progress step. Returns the spec with its MAC.
     *
     * @param routedTo what {@link #routedTo} said before placement
     * @throws OvhException OVH refused, failed or was too slow; the message says what this create did already (a
     *                      move stays made)
     */
    public Prepared prepare(VmSpec spec, String host, String routedTo, Progress progress) throws OvhException {
        FailoverIp failover = spec.getNetwork().getFailover();
        String ip = failover.getAddress();
        String service = services.get(host);
        if (service == null) {
            // Placement only chooses hosts with a service name: this is a configuration changed under a create.
            throw new OvhException(Status.Code.FAILED_PRECONDITION, "host " + host + " has no OVH service name"
                    + " (ovh-services in the controller's configuration)");
        }
        String movedFrom = null;
        if (!service.equals(routedTo)) {
            String what = "moving failover IP " + ip + " from " + named(routedTo) + " to " + named(service);
            ips.move(ip, service, watch(progress, "failover-ip", host, what));
            movedFrom = routedTo;
            progress.step("failover-ip", host, "failover IP " + ip + " is routed to " + named(service) + " (was "
                    + named(routedTo) + ")");
        }
        String mac = failover.getMac();
        String made = null;
        try {
            if (mac.isEmpty()) {
                // Looked for before one is made: a create the controller did not finish (it stopped between OVH
                // making the MAC and the VM's record) left it behind, and a new create of the VM takes it up.
                Optional<String> existing = ips.virtualMacOf(service, ip);
                if (existing.isPresent()) {
                    mac = existing.get();
                    progress.step("virtual-mac", host, "using virtual MAC " + mac + " of " + ip + " on " + named(service)
                            + ", which OVH has already");
                } else {
                    String what = "creating a virtual MAC for " + ip + " on " + named(service);
                    try {
                        mac = ips.createVirtualMac(service, ip, spec.getName(), watch(progress, "virtual-mac", host, what));
                    } catch (OvhException e) {
                        throw e.code() == Status.Code.DEADLINE_EXCEEDED ? e.withMore("if OVH finishes it, the"
                                + " virtual MAC stays on " + named(service) + " and a new create of " + spec.getName()
                                + " uses it") : e;
                    }
                    made = mac;
                    progress.step("virtual-mac", host, "OVH made virtual MAC " + mac + " for " + ip + " on " + named(service));
                }
            }
        } catch (OvhException e) {
            throw movedFrom == null ? e : e.withMore(moved(ip, service, movedFrom));
        }
        VmSpec withMac = spec.toBuilder().setNetwork(spec.getNetwork().toBuilder()
                .setFailover(failover.toBuilder().setMac(mac))).build();
        return new Prepared(withMac, host, service, movedFrom, made);
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
                words += ", waiting for it (up to " + ips.taskDeadline().toSeconds() + "s)";
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
