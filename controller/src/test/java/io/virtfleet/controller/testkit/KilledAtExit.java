package io.virtfleet.controller.testkit;

import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Processes a test starts by hand (a controller JVM, dnsmasq, QEMU) that must not outlive the test JVM: a test
 * that fails or times out normally stops them itself, but when the JVM is ended from outside (surefire's fork
 * timeout, Ctrl-C) only shutdown hooks run. The test kit's other daemons (libvirtd, Ceph, agent JVMs, network
 * namespaces) have hooks of their own.
 */
public final class KilledAtExit {
    private static final Set<Process> RUNNING = ConcurrentHashMap.newKeySet();

    static {
        Runtime.getRuntime().addShutdownHook(new Thread(() -> List.copyOf(RUNNING).forEach(Process::destroyForcibly),
                "killed-at-exit"));
    }

    private KilledAtExit() {
    }

    /** Returns {@code process}, which is killed when this JVM exits if it is still running then. */
    public static Process track(Process process) {
        RUNNING.add(process);
        process.onExit().thenRun(() -> RUNNING.remove(process));
        return process;
    }
}
