package io.virtfleet.controller.vm;

import io.grpc.Status;
import io.virtfleet.controller.definitions.VmStore;
import io.virtfleet.proto.v1.Vm;
import io.virtfleet.proto.v1.VmSpec;
import java.util.HashMap;
import java.util.Map;
import java.util.Optional;

/**
 * Keeps each failover IP on one VM of the fleet. OVH routes a failover IP to one server and one virtual MAC, so a
 * second VM with the same IP would take the first one's traffic (with OVH's API its create would even move the IP
 * away from the first VM's host). A create whose IP a recorded VM has, or another create under way holds, is refused
 * naming that VM; a create holds its IP here from this check until it ends (the VM's record holds it after that).
 */
final class FailoverAddresses {
    private final VmStore store;
    /** Creates under way: failover IP → VM name. */
    private final Map<String, String> creating = new HashMap<>();

    FailoverAddresses(VmStore store) {
        this.store = store;
    }

    /**
     * Holds the failover IP of the VM about to be created, or refuses the create (ALREADY_EXISTS) if another VM has
     * it. A VM without a failover IP holds nothing.
     */
    synchronized LanMacs.Hold hold(VmSpec spec) {
        if (!spec.getNetwork().hasFailover()) {
            return () -> { };
        }
        String name = spec.getName();
        String ip = spec.getNetwork().getFailover().getAddress();
        Optional<String> user = userOf(name, ip);
        if (user.isPresent()) {
            throw Status.ALREADY_EXISTS.withDescription("spec.network.failover.address: " + ip + " is the failover IP of "
                    + user.get() + "; a failover IP goes to one VM only (delete that VM first, or choose another IP)")
                    .asRuntimeException();
        }
        creating.put(ip, name);
        return () -> release(ip, name);
    }

    private synchronized void release(String ip, String name) {
        creating.remove(ip, name);
    }

    /** Which VM other than {@code name} has the IP, in words. */
    private Optional<String> userOf(String name, String ip) {
        String other = creating.get(ip);
        if (other != null && !other.equals(name)) {
            return Optional.of("VM " + other + " (being created)");
        }
        for (Vm vm : store.all()) {
            var network = vm.getSpec().getNetwork();
            if (!vm.getSpec().getName().equals(name) && network.hasFailover() && network.getFailover().getAddress().equals(ip)) {
                return Optional.of("VM " + vm.getSpec().getName() + " (on " + vm.getHomeHost() + ")");
            }
        }
        return Optional.empty();
    }
}
