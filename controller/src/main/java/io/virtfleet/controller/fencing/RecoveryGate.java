package io.virtfleet.controller.fencing;

/**
 * Keeps a lost host's recovery and its unfence apart. A recovery starts VMs homed on the host elsewhere; were the
 * host unfenced meanwhile, a VM still homed there (run again by the returned host, its disk no longer blocklisted)
 * could be started on its new home too: two writers on one disk. So a recovery holds the gate for its whole run, and
 * unfence is refused while any recovery of the host holds it; a recovery asked while the host is being unfenced, or
 * once it is, is refused.
 */
public interface RecoveryGate {
    /** Marks a recovery of {@code host} under way if the host is lost; false (nothing marked) when it is not. */
    boolean enter(String host);

    /** Ends what {@link #enter} marked. */
    void leave(String host);

    /** A gate over a view nothing unfences concurrently (tests of other features). */
    static RecoveryGate over(FenceView view) {
        return new RecoveryGate() {
            @Override
            public boolean enter(String host) {
                return view.of(host).isPresent();
            }

            @Override
            public void leave(String host) {
            }
        };
    }
}
