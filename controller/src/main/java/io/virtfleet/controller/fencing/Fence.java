package io.virtfleet.controller.fencing;

import java.time.Instant;
import java.util.List;

/**
 * The verdict that a host is lost, and how it was reached: its Ceph client addresses put on the OSD blocklist
 * ({@link Kind#CEPH}), or an operator's word that it is down ({@link Kind#CONFIRMED_DOWN}). Only a lost host's
 * Ceph-backed VMs may start elsewhere: with the blocklist in place, its QEMUs cannot write to their disks
 * even if the host comes back.
 *
 * @param host      the host's name in the fleet
 * @param kind      how the verdict was reached
 * @param addresses the Ceph client addresses blocklisted (empty for {@link Kind#CONFIRMED_DOWN} without them)
 * @param fencedAt  when the verdict was recorded
 * @param expires   when the blocklist entries lapse (null when nothing was blocklisted)
 * @param by        who reached it: an operator's name, or "controller" for automatic failover
 */
public record Fence(String host, Kind kind, List<String> addresses, Instant fencedAt, Instant expires, String by) {
    public enum Kind {
        /** Every Ceph client address the host reported is on the OSD blocklist. */
        CEPH,
        /** An operator declared the host down ({@code host fence NAME --confirm-down}). */
        CONFIRMED_DOWN
    }

    public Fence {
        addresses = List.copyOf(addresses);
    }
}
