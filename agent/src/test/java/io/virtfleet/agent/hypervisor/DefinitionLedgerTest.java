package io.virtfleet.agent.hypervisor;

import io.virtfleet.common.fingerprint.Sha256;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The ledger of defined domains lives in the state directory and survives the agent; a damaged one is not fatal. */
class DefinitionLedgerTest {
    private static final DefinitionLedger.Entry DB = new DefinitionLedger.Entry("0b0f6c0e-6f55-5a3c-9e44-6d1c1d0f2b11",
            Sha256.hex("sent"), Sha256.hex("defined"), true, false);
    private static final DefinitionLedger.Entry WEB = new DefinitionLedger.Entry("1b0f6c0e-6f55-5a3c-9e44-6d1c1d0f2b11",
            Sha256.hex("sent web"), Sha256.hex("defined web"), false, true);

    @TempDir
    Path state;

    @Test
    void entriesAreKeptAcrossLoads() throws Exception {
        DefinitionLedger ledger = DefinitionLedger.load(state);
        ledger.record("db", DB);
        ledger.record("web", WEB);
        ledger.forget("web");

        DefinitionLedger again = DefinitionLedger.load(state);
        assertEquals(Map.of("db", DB), again.all());
        assertEquals(Optional.empty(), again.get("web"));
        try (var files = Files.list(state)) {
            assertEquals(1, files.count(), "no temporary file left behind");
        }
    }

    @Test
    void aDamagedFileIsLoggedAndTheLedgerStartsEmptyThenWritesAGoodOne() throws Exception {
        Files.writeString(state.resolve(DefinitionLedger.FILE), "{\"domains\": {\"db\": {\"uuid\": \"x\"");
        DefinitionLedger ledger = DefinitionLedger.load(state);
        assertTrue(ledger.all().isEmpty());

        ledger.record("db", DB);
        assertEquals(Map.of("db", DB), DefinitionLedger.load(state).all());
    }

    @Test
    void theWishToStartWithTheHostIsKeptAndAFileOfBeforeReadsWithout() throws Exception {
        DefinitionLedger ledger = DefinitionLedger.load(state);
        ledger.record("web", WEB);
        ledger.record("db", DB);
        assertTrue(ledger.wantAutostart("web", WEB.uuid(), false));
        assertFalse(ledger.wantAutostart("web", WEB.uuid(), false), "unchanged");
        assertFalse(ledger.wantAutostart("web", "2b0f6c0e-6f55-5a3c-9e44-6d1c1d0f2b11", true), "another domain's UUID");
        assertFalse(ledger.wantAutostart("db", DB.uuid(), true), "a replica is never started with the host");
        assertFalse(DefinitionLedger.load(state).get("web").orElseThrow().autostart());
        assertTrue(ledger.wantAutostart("web", WEB.uuid(), true));
        assertEquals(Map.of("db", DB, "web", WEB), DefinitionLedger.load(state).all());

        // An agent of before wrote no "autostart" (it left libvirt's own flag on instead).
        Files.writeString(state.resolve(DefinitionLedger.FILE), DefinitionLedger.text(Map.of("web", WEB))
                .replaceAll(",\\s*\"autostart\": true", ""));
        assertFalse(Files.readString(state.resolve(DefinitionLedger.FILE)).contains("autostart"));
        assertEquals(Map.of("web", WEB.withAutostart(false)), DefinitionLedger.load(state).all());
    }

    @Test
    void entriesThatAreNotWhatTheAgentWritesAreRefused() throws Exception {
        Files.writeString(state.resolve(DefinitionLedger.FILE), DefinitionLedger.text(Map.of("db", DB))
                .replace(DB.sourceSha256(), "../../etc/passwd"));
        assertTrue(DefinitionLedger.load(state).all().isEmpty());
    }
}
