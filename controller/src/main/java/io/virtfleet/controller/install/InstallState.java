package io.virtfleet.controller.install;

/**
 * One VM's install: which profile, the SHA-256 of its one-time token (the token itself is never kept: whoever
 * reads the data directory cannot impersonate an installer), and when each phase was reached.
 *
 * @param tokenSha256      hex SHA-256 of the token the VM's URLs carry; dead once the install is done
 * @param armedAtMs        Unix ms of the arming (create or reinstall)
 * @param preseedFetchedAt Unix ms of the first preseed fetch of this install, 0 before
 * @param installedAtMs    Unix ms of the done callback, 0 before
 */
public record InstallState(String vm, String profile, String tokenSha256, InstallPhase phase, long armedAtMs,
                           long preseedFetchedAt, long installedAtMs) {
    public InstallState withPreseedFetched(long atMs) {
        return phase != InstallPhase.WAITING ? this
                : new InstallState(vm, profile, tokenSha256, InstallPhase.PRESEED_FETCHED, armedAtMs, atMs, 0);
    }

    public InstallState withInstalled(long atMs) {
        return new InstallState(vm, profile, tokenSha256, InstallPhase.INSTALLED, armedAtMs, preseedFetchedAt, atMs);
    }
}
