package io.virtfleet.controller.vm;

/**
 * Fault injection for the crash tests, inert in service. A create has moments that no agent call marks, so a test
 * cannot kill the controller there from outside: the claim journalled ({@code claimed}), a failover IP routed and
 * its virtual MAC found or made at OVH but the VM not recorded yet ({@code at-ovh}), the record committed
 * ({@code recorded}), the VM started but the operator not yet told ({@code started}), and a replicated VM's
 * fan-out with one host answered while the others still sync ({@code fanning-out}); in a lost host's failover, a
 * VM's new home claimed and noted but its record unchanged ({@code failover-claimed}) and its record committed but
 * nothing run on its new home yet ({@code failover-recorded}). A
 * controller JVM started with {@code -Dvirtfleet.test.haltAt=POINT} halts when a create reaches POINT: exit code
 * 137, no shutdown hooks, nothing flushed or closed, as SIGKILL would leave it. Without the property, or with
 * another point, {@link #reached} does nothing. (The points during a step are hit from the agent's side instead.)
 */
public final class CrashPoints {
    /** The system property naming the point to halt at. */
    public static final String PROPERTY = "virtfleet.test.haltAt";

    private static final String HALT_AT = System.getProperty(PROPERTY, "");

    private CrashPoints() {}

    public static void reached(String point) {
        if (HALT_AT.equals(point)) {
            System.err.println("virtfleet-controller: halting at crash point '" + point + "' (" + PROPERTY + ")");
            Runtime.getRuntime().halt(137);
        }
    }
}
