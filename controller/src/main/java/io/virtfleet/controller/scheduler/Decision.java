package io.virtfleet.controller.scheduler;

/**
 * The outcome of placing one VM: the claim made on the chosen host, or why no host fits.
 *
 * @param claim       the claim now held for the VM, null when nothing fits
 * @param chosen      the chosen host's verdict (score and parts), null when nothing fits
 * @param explanation every host's verdict when nothing fits (the fast path does not compute it otherwise);
 *                    null after a successful decision
 */
public record Decision(Claim claim, Verdict chosen, Explanation explanation) {
    public boolean placed() {
        return claim != null;
    }
}
