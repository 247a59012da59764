package io.virtfleet.common.validation;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.virtfleet.proto.v1.StorageTier;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

class StorageTiersTest {
    @ParameterizedTest
    @CsvSource({"ssd, STORAGE_TIER_SSD", "sata, STORAGE_TIER_SATA", "raw, STORAGE_TIER_RAW"})
    void theThreeTiers(String name, StorageTier tier) {
        assertEquals(tier, StorageTiers.parse("storage", name));
        assertEquals(name, StorageTiers.name(tier));
        assertEquals(tier, StorageTiers.check("spec.storage", tier.getNumber()));
    }

    @ParameterizedTest
    @ValueSource(strings = {"", "SSD", "nvme", "ssd ", "raw;rm", "../raw"})
    void unknownNamesAreRefused(String name) {
        InvalidInputException e = assertThrows(InvalidInputException.class, () -> StorageTiers.parse("storage_tiers", name));
        assertEquals("storage_tiers: " + Escape.quoted(name) + " is not accepted; expected a storage tier: ssd, sata or raw",
                e.getMessage());
    }

    @ParameterizedTest
    @CsvSource({"0, unset", "4, 4", "-1, -1", "2147483647, 2147483647"})
    void unsetAndUnknownEnumValuesAreRefused(int value, String shown) {
        InvalidInputException e = assertThrows(InvalidInputException.class, () -> StorageTiers.check("spec.storage", value));
        assertEquals("spec.storage: \"" + shown + "\" is not accepted; expected STORAGE_TIER_SSD, STORAGE_TIER_SATA or"
                + " STORAGE_TIER_RAW", e.getMessage());
    }
}
