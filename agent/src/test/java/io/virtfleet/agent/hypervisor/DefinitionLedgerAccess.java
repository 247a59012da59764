package io.virtfleet.agent.hypervisor;

/** Lets tests of other packages set a ledger's wish as an interrupted operation would have left it. */
public final class DefinitionLedgerAccess {
    private DefinitionLedgerAccess() {}

    public static boolean wantAutostart(DefinitionLedger ledger, String vm, String uuid, boolean wanted) {
        return ledger.wantAutostart(vm, uuid, wanted);
    }
}
