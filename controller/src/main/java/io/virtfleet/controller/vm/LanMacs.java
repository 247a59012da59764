package io.virtfleet.controller.vm;

import io.grpc.Status;
import io.virtfleet.controller.definitions.DomainIdentity;
import io.virtfleet.controller.definitions.DomainXml;
import io.virtfleet.controller.definitions.VmStore;
import io.virtfleet.controller.registry.HostRecord;
import io.virtfleet.controller.registry.HostRegistry;
import io.virtfleet.proto.v1.DomainInfo;
import io.virtfleet.proto.v1.DomainInterface;
import io.virtfleet.proto.v1.Vm;
import io.virtfleet.proto.v1.VmSpec;
import java.util.HashMap;
import java.util.Map;
import java.util.Optional;

/**
 * Keeps MAC addresses unique on each LAN. A LAN VM's MAC comes from a 24-bit hash of its name
 * ({@link DomainIdentity#lanMac}), so two names can share one, and two guests with one MAC on a LAN lose each
 * other's traffic. A create whose MAC is already on its LAN is refused, naming who has it: a VM recorded on that
 * LAN (its host may not report it yet), a domain any host reports on the LAN's bridge (managed or not), or a
 * create of another name still under way, which holds its MAC here from its check until it ends. A VM keeps its
 * name and LAN for life, so its MAC never changes after the create.
 */
final class LanMacs {
    private record Held(int lan, String mac) {}

    private final VmStore store;
    private final HostRegistry registry;
    /** Creates under way, by VM name. */
    private final Map<String, Held> creating = new HashMap<>();

    LanMacs(VmStore store, HostRegistry registry) {
        this.store = store;
        this.registry = registry;
    }

    /** A create's hold on its MAC; closing it lets the MAC go (the VM's record holds it from then on, if any). */
    interface Hold extends AutoCloseable {
        @Override
        void close();
    }

    /**
     * Holds the LAN MAC of the VM about to be created, or refuses the create (ALREADY_EXISTS) if someone on its LAN
     * has that MAC. A VM without a LAN holds nothing.
     */
    synchronized Hold hold(VmSpec spec) {
        if (!spec.getNetwork().hasLan()) {
            return () -> { };
        }
        String name = spec.getName();
        int lan = spec.getNetwork().getLan();
        String mac = DomainIdentity.lanMac(name);
        Optional<String> user = userOf(name, lan, mac);
        if (user.isPresent()) {
            throw Status.ALREADY_EXISTS.withDescription("spec.name: VM " + name + " would have MAC " + mac + " on LAN " + lan
                    + ", which " + user.get() + " already has there (a LAN VM's MAC comes from its name); choose another"
                    + " name").asRuntimeException();
        }
        creating.put(name, new Held(lan, mac));
        return () -> release(name);
    }

    private synchronized void release(String name) {
        creating.remove(name);
    }

    /** Who other than VM {@code name} has {@code mac} on the LAN, in words. */
    private Optional<String> userOf(String name, int lan, String mac) {
        Held wanted = new Held(lan, mac);
        for (Map.Entry<String, Held> c : creating.entrySet()) {
            if (!c.getKey().equals(name) && c.getValue().equals(wanted)) {
                return Optional.of("VM " + c.getKey() + " (being created)");
            }
        }
        for (Vm vm : store.all()) {
            String other = vm.getSpec().getName();
            if (!other.equals(name) && vm.getSpec().getNetwork().hasLan() && vm.getSpec().getNetwork().getLan() == lan
                    && DomainIdentity.lanMac(other).equals(mac)) {
                return Optional.of("VM " + other + " (on " + vm.getHomeHost() + ")");
            }
        }
        String bridge = DomainXml.lanBridge(lan);
        for (HostRecord host : registry.all()) {
            for (DomainInfo d : host.report().getDomainsList()) {
                if (d.getName().equals(name) && !d.getSourceSha256().isEmpty()) {
                    continue; // this VM's own earlier definition (a replica left behind): defining the VM replaces it
                }
                for (DomainInterface nic : d.getInterfacesList()) {
                    if (nic.getBridge().equals(bridge) && nic.getMac().equals(mac)) {
                        boolean managed = store.get(d.getName()).isPresent();
                        return Optional.of("domain " + d.getName() + " on " + host.name()
                                + (managed ? "" : " (not managed by virtfleet)"));
                    }
                }
            }
        }
        return Optional.empty();
    }
}
