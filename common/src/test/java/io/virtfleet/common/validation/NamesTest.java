package io.virtfleet.common.validation;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class NamesTest {
    @ParameterizedTest
    @ValueSource(strings = {"a", "hv1", "git", "api-test", "a1-b2-c3", "0abc"})
    void dnsLabelsAreAccepted(String name) {
        assertEquals(name, Names.vmName("name", name));
    }

    @ParameterizedTest
    @ValueSource(strings = {"", "a b", "é", "../x", "$(reboot)", "a;b", "-a", "a-", "A", "a_b", "a.b", "a\u0000b",
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"})
    void everythingElseIsRefusedNamingTheFieldAndTheRule(String name) {
        InvalidInputException e = assertThrows(InvalidInputException.class, () -> Names.hostName("host-name", name));
        assertEquals("host-name", e.field());
        assertTrue(e.getMessage().startsWith("host-name: \""), e.getMessage());
        assertTrue(e.getMessage().contains("1-63 characters of a-z, 0-9 and '-'"), e.getMessage());
    }

    @org.junit.jupiter.api.Test
    void controlAndNonAsciiCharactersAreEscapedAndLongValuesCut() {
        InvalidInputException e = assertThrows(InvalidInputException.class, () -> Names.vmName("name", "é\u0000\n"));
        assertTrue(e.getMessage().startsWith("name: \"\\u00e9\\u0000\\u000a\""), e.getMessage());
        String huge = "x".repeat(10_000);
        e = assertThrows(InvalidInputException.class, () -> Names.vmName("name", huge));
        assertTrue(e.getMessage().length() < 300, "message stays short: " + e.getMessage().length());
        assertTrue(e.getMessage().contains("10000 characters"), e.getMessage());
    }

    @ParameterizedTest
    @ValueSource(strings = {"base", "ui", "ui-test", "api", "api-test", "gpu2"})
    void profileNamesFollowTheSameRule(String name) {
        assertEquals(name, Names.profileName("spec.profile", name));
    }

    @ParameterizedTest
    @ValueSource(strings = {"", "UI", "ui_test", "../base", "base;reboot", "ui test"})
    void malformedProfileNamesAreRefused(String name) {
        InvalidInputException e = assertThrows(InvalidInputException.class, () -> Names.profileName("spec.profile", name));
        assertEquals("spec.profile", e.field());
    }
}
