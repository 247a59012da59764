package io.virtfleet.controller.scheduler;

import io.virtfleet.common.validation.InvalidInputException;
import io.virtfleet.common.validation.Ipv4;
import io.virtfleet.proto.v1.StorageTier;
import java.util.Locale;
import java.util.TreeSet;

/**
 * What a host offers beside capacity, one bit each: the storage tiers it serves, the installer's files, a
 * VXLAN underlay, a public address and a CPU that runs the fleet CPU model. Filters ask for bits ({@link PlacementFilter#requires}) and
 * {@link BoundIndex} files hosts by them, so that a decision never visits a kind of host lacking a bit it
 * needs.
 */
final class Capabilities {
    private Capabilities() {}

    /** The Debian installer's files, which a VM installed by direct kernel boot boots. */
    static final int INSTALLER = 1 << 8;
    /** A VXLAN underlay address, which LAN VMs need. */
    static final int VXLAN = 1 << 9;
    /** A public IPv4 address, from which a failover-IP VM's gateway is derived. */
    static final int PUBLIC_ADDRESS = 1 << 10;
    /** A CPU that can run the fleet CPU model, which every new VM's definition names (or no such model yet). */
    static final int FLEET_CPU = 1 << 11;

    /** The bit of a storage tier: 1 << its number (1 to 3). */
    static int tier(StorageTier t) {
        return 1 << t.getNumber();
    }

    /** Every bit of storage tiers. */
    static final int TIERS = tier(StorageTier.STORAGE_TIER_SSD) | tier(StorageTier.STORAGE_TIER_SATA)
            | tier(StorageTier.STORAGE_TIER_RAW);

    /** The bits of the tiers a host serves, and of the installer's files if it has them. */
    static int ofTiers(HostSnapshot s) {
        int mask = 0;
        for (StorageTier t : s.tiers()) {
            mask |= tier(t);
        }
        return s.installer() ? mask | INSTALLER : mask;
    }

    /** The bits of the addresses a host reports, each only when valid: a report is not trusted blindly. */
    static int ofAddresses(String vxlanAddress, String publicAddress) {
        return (vxlanProblem(vxlanAddress) == null ? VXLAN : 0)
                | (publicAddressProblem(publicAddress) == null ? PUBLIC_ADDRESS : 0);
    }

    /** Why a reported VXLAN address carries no LAN, or null when it does. */
    static String vxlanProblem(String reported) {
        if (reported.isEmpty()) {
            return "reports no VXLAN underlay address";
        }
        try {
            Ipv4.unicastAddress("vxlan_address", reported);
            return null;
        } catch (InvalidInputException e) {
            return "reports a VXLAN underlay address that is not trusted (" + e.getMessage() + ")";
        }
    }

    /** Why a reported public address gives no gateway, or null when it does. */
    static String publicAddressProblem(String reported) {
        if (reported.isEmpty()) {
            return "reports no public address";
        }
        try {
            Ipv4.publicAddress("public_address", reported);
            return null;
        } catch (InvalidInputException e) {
            return "reports a public address that is not trusted (" + e.getMessage() + ")";
        }
    }

    static String tierWord(StorageTier t) {
        return t.name().substring("STORAGE_TIER_".length()).toLowerCase(Locale.ROOT);
    }

    /** The tiers of a mask in words, e.g. "raw, ssd", or "none". */
    static String tiersOf(int mask) {
        TreeSet<String> out = new TreeSet<>();
        for (StorageTier t : StorageTier.values()) {
            if (t != StorageTier.UNRECOGNIZED && t != StorageTier.STORAGE_TIER_UNSPECIFIED && (mask & tier(t)) != 0) {
                out.add(tierWord(t));
            }
        }
        return out.isEmpty() ? "none" : String.join(", ", out);
    }
}
