package io.virtfleet.agent.hypervisor;

import org.libvirt.Connect;
import org.libvirt.ErrorCallback;
import org.libvirt.LibvirtException;

/** Turns libvirt failures into one-line messages, and keeps libvirt from also printing them itself. */
final class LibvirtErrors {
    /** Held in a field: JNA callbacks must stay reachable or the native side calls freed memory. */
    private static final ErrorCallback QUIET = new ErrorCallback();
    private static volatile boolean silenced;

    private LibvirtErrors() {}

    /** Without a callback, libvirt writes every error to stderr as well; we log them ourselves. */
    static synchronized void silenceStderr() {
        if (silenced) {
            return;
        }
        try {
            Connect.setErrorCallback(QUIET);
            silenced = true;
        } catch (LibvirtException | RuntimeException e) {
            // not fatal: errors are then also printed by libvirt
        }
    }

    static String message(LibvirtException e) {
        String m = e.getError() != null ? e.getError().getMessage() : e.getMessage();
        return m == null ? e.toString() : m.strip();
    }
}
