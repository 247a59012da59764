package io.virtfleet.common.validation;

import io.virtfleet.proto.v1.FailoverIp;
import io.virtfleet.proto.v1.NetworkSpec;
import io.virtfleet.proto.v1.VmSpec;

/**
 * Checks a {@link VmSpec} field by field where it enters the system (operator request, agent command,
 * definitions repository), so nothing further in can meet a malformed one. The first field found wrong
 * is named as in the proto ({@code spec.network.failover.mac}). Cross-checks against the fleet (does
 * the profile exist, does the pinned host) belong to the caller.
 */
public final class VmSpecs {
    private VmSpecs() {}

    /** Validates a spec given in a field named "spec"; returns it with the MAC address lowercased. */
    public static VmSpec validate(VmSpec spec) {
        return validate("spec", spec);
    }

    /** Validates a spec given in the field {@code field}; returns it with the MAC address lowercased. */
    public static VmSpec validate(String field, VmSpec spec) {
        return validate(field, spec, false);
    }

    /**
     * Validates a spec as an operator asks for a VM, in a field named "spec": as {@link #validate}, except that a
     * failover IP's virtual MAC may be left empty, for a controller with OVH's API to find or make, and that a failover
     * IP must be a public address (every failover IP OVH sells is). A recorded VM always has its MAC, and is read back
     * with any unicast failover address: a VM recorded before the public-address rule is kept, never dropped.
     */
    public static VmSpec validateRequest(VmSpec spec) {
        return validate("spec", spec, true);
    }

    private static VmSpec validate(String field, VmSpec spec, boolean request) {
        if (spec == null) {
            throw new InvalidInputException(field, null, "a VM spec");
        }
        Names.vmName(field + ".name", spec.getName());
        StorageTiers.check(field + ".storage", spec.getStorageValue());
        Sizes.diskBytes(field + ".disk_bytes", spec.getDiskBytes());
        Sizes.memoryBytes(field + ".memory_bytes", spec.getMemoryBytes());
        VCpus.count(field + ".vcpus", spec.getVcpus());
        NetworkSpec network = network(field + ".network", spec.getNetwork(), request);
        Names.profileName(field + ".profile", spec.getProfile());
        if (!spec.getSpreadGroup().isEmpty()) {
            Names.vmName(field + ".spread_group", spec.getSpreadGroup()); // same rule as a name; empty for none
        }
        if (!spec.getPinnedHost().isEmpty()) {
            Names.hostName(field + ".pinned_host", spec.getPinnedHost());
        }
        if (spec.getReplicated() && spec.getStorage() == io.virtfleet.proto.v1.StorageTier.STORAGE_TIER_RAW) {
            throw new InvalidInputException(field + ".replicated", "true", "false for raw storage: a local disk cannot"
                    + " move with its VM, so a definition elsewhere could never run (use ssd or sata to replicate)");
        }
        return network.equals(spec.getNetwork()) ? spec : spec.toBuilder().setNetwork(network).build();
    }

    /**
     * Validates a VM's network attachment given in the field {@code field}; returns it with the failover MAC
     * address lowercased.
     */
    public static NetworkSpec network(String field, NetworkSpec network) {
        return network(field, network, false);
    }

    private static NetworkSpec network(String field, NetworkSpec network, boolean request) {
        switch (network.getAttachmentCase()) {
            case LAN -> {
                Vxlan.fromUint32(field + ".lan", network.getLan());
                return network;
            }
            case FAILOVER -> {
                FailoverIp failover = network.getFailover();
                if (request) {
                    Ipv4.failoverAddress(field + ".failover.address", failover.getAddress());
                } else {
                    Ipv4.unicastAddress(field + ".failover.address", failover.getAddress());
                }
                if (request && failover.getMac().isEmpty()) {
                    return network;
                }
                MacAddress mac = MacAddress.parse(field + ".failover.mac", failover.getMac());
                return mac.text().equals(failover.getMac()) ? network
                        : network.toBuilder().setFailover(failover.toBuilder().setMac(mac.text())).build();
            }
            default -> throw new InvalidInputException(field, null,
                    "an attachment: lan (a VXLAN number) or failover (address and MAC)");
        }
    }
}
