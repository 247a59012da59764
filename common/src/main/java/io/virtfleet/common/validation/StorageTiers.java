package io.virtfleet.common.validation;

import io.virtfleet.proto.v1.StorageTier;

/** Where a VM's disk lives: "ssd" and "sata" (Ceph RBD pools) or "raw" (a local image file). */
public final class StorageTiers {
    private static final String RULE = "a storage tier: ssd, sata or raw";

    private StorageTiers() {}

    /** The tier a name stands for. */
    public static StorageTier parse(String field, String name) {
        if (name == null) {
            throw new InvalidInputException(field, null, RULE);
        }
        return switch (name) {
            case "ssd" -> StorageTier.STORAGE_TIER_SSD;
            case "sata" -> StorageTier.STORAGE_TIER_SATA;
            case "raw" -> StorageTier.STORAGE_TIER_RAW;
            default -> throw new InvalidInputException(field, name, RULE);
        };
    }

    /** Checks an enum value from a message: unset (0) and numbers this build does not know are refused. */
    public static StorageTier check(String field, int protoValue) {
        StorageTier tier = StorageTier.forNumber(protoValue);
        if (tier == null || tier == StorageTier.STORAGE_TIER_UNSPECIFIED) {
            throw new InvalidInputException(field, protoValue == 0 ? "unset" : Integer.toString(protoValue),
                    "STORAGE_TIER_SSD, STORAGE_TIER_SATA or STORAGE_TIER_RAW");
        }
        return tier;
    }

    /** The tier's name as operators write it: "ssd", "sata" or "raw". */
    public static String name(StorageTier tier) {
        return switch (tier) {
            case STORAGE_TIER_SSD -> "ssd";
            case STORAGE_TIER_SATA -> "sata";
            case STORAGE_TIER_RAW -> "raw";
            default -> throw new IllegalArgumentException("no name for " + tier);
        };
    }
}
