package io.virtfleet.controller.install;

/** Where a VM's unattended install is, as {@code vm show} words it. */
public enum InstallPhase {
    WAITING("waiting for installer"),
    PRESEED_FETCHED("preseed fetched"),
    INSTALLED("installed");

    private final String words;

    InstallPhase(String words) {
        this.words = words;
    }

    public String words() {
        return words;
    }
}
