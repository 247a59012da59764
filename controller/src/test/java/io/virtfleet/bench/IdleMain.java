package io.virtfleet.bench;

/**
 * The baseline JVM of the agent footprint benchmark: started with the agent's own JVM flags, it loads nothing
 * and sleeps, so its RSS and CPU are what the JVM itself costs with those flags. Given a libvirt URI it first
 * opens that connection (see {@link LibvirtProbe}), to show what libvirt alone adds.
 */
public final class IdleMain {
    private IdleMain() {}

    public static void main(String[] args) throws Exception {
        if (args.length > 0) {
            LibvirtProbe.open(args[0]);
        }
        Thread.sleep(Long.MAX_VALUE);
    }
}
