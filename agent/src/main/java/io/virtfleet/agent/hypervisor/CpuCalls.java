package io.virtfleet.agent.hypervisor;

import com.sun.jna.Native;
import com.sun.jna.Pointer;
import java.lang.reflect.Field;
import java.util.List;
import org.libvirt.Connect;
import org.libvirt.Error.ErrorNumber;
import org.libvirt.jna.ConnectionPointer;
import org.libvirt.jna.virError;

/**
 * libvirt's calls about guest CPUs that libvirt-java 0.5.3 lacks (libvirt 4.4 has them): the domain capabilities,
 * which hold the host-model CPU, and the baseline and comparison of CPUs against what this host's hypervisor can
 * give a guest. libvirt-java's own {@code baselineCPU} and {@code compareCPU} judge the physical CPU instead, which
 * is not what QEMU offers (under TCG it offers more, under KVM less). Called through JNA, on the library and the
 * connection libvirt-java holds; every call goes through {@link LibvirtHypervisor}'s lock like any other.
 */
final class CpuCalls {
    /** virConnectBaselineHypervisorCPU flag VIR_CONNECT_BASELINE_CPU_MIGRATABLE: only features a migration keeps. */
    private static final int BASELINE_MIGRATABLE = 2;
    /** virConnectCompareHypervisorCPU flag VIR_CONNECT_COMPARE_CPU_FAIL_INCOMPATIBLE: an incompatible CPU is an error saying why. */
    private static final int COMPARE_FAIL_INCOMPATIBLE = 1;

    /** The C functions, as libvirt.so declares them; null arguments let libvirt choose (default emulator, arch, machine, virt type). */
    private interface Libvirt extends com.sun.jna.Library {
        Pointer virConnectGetDomainCapabilities(ConnectionPointer conn, String emulatorbin, String arch, String machine,
                                                String virttype, int flags);

        Pointer virConnectBaselineHypervisorCPU(ConnectionPointer conn, String emulator, String arch, String machine,
                                                String virttype, String[] xmlCPUs, int ncpus, int flags);

        int virConnectCompareHypervisorCPU(ConnectionPointer conn, String emulator, String arch, String machine,
                                           String virttype, String xmlCPU, int flags);
    }

    /** A call libvirt refused, with its error code and message. */
    static final class CallFailed extends Exception {
        private final ErrorNumber code;

        CallFailed(ErrorNumber code, String message) {
            super(message);
            this.code = code;
        }

        ErrorNumber code() {
            return code;
        }
    }

    /** What libvirt says of a CPU on this host: it can run it, or not and why. */
    record Comparison(boolean runs, String refusal) {}

    private static final Libvirt LIBVIRT = Native.load("virt", Libvirt.class);
    private static final Field CONNECTION_POINTER = connectionPointer();

    private CpuCalls() {}

    /** The domain capabilities XML of libvirt's default emulator and virtualisation type on this host. */
    static String domainCapabilities(Connect conn) throws CallFailed {
        return string(LIBVIRT.virConnectGetDomainCapabilities(pointer(conn), null, null, null, null, 0));
    }

    /** libvirt's baseline of {@code cpus} (guest CPU definitions) with migratable features only. */
    static String baseline(Connect conn, List<String> cpus) throws CallFailed {
        String[] xml = cpus.toArray(String[]::new);
        return string(LIBVIRT.virConnectBaselineHypervisorCPU(pointer(conn), null, null, null, null, xml, xml.length,
                BASELINE_MIGRATABLE));
    }

    /** Whether this host's hypervisor can give a guest {@code cpu}; libvirt's reason when it cannot. */
    static Comparison compare(Connect conn, String cpu) throws CallFailed {
        int result = LIBVIRT.virConnectCompareHypervisorCPU(pointer(conn), null, null, null, null, cpu,
                COMPARE_FAIL_INCOMPATIBLE);
        if (result > 0) {
            return new Comparison(true, ""); // VIR_CPU_COMPARE_IDENTICAL or VIR_CPU_COMPARE_SUPERSET
        }
        if (result == 0) {
            return new Comparison(false, "libvirt says the CPU is incompatible with this host's");
        }
        CallFailed failed = lastError();
        if (failed.code() == ErrorNumber.VIR_ERR_CPU_INCOMPATIBLE) {
            return new Comparison(false, failed.getMessage());
        }
        throw failed;
    }

    /** A string libvirt allocated, freed once copied; its error when it returned none. */
    private static String string(Pointer p) throws CallFailed {
        if (p == null) {
            throw lastError();
        }
        try {
            return p.getString(0, "UTF-8");
        } finally {
            Native.free(Pointer.nativeValue(p)); // libvirt's strings are the caller's to free()
        }
    }

    /** libvirt keeps the last error per thread; it is read on the thread of the failed call, right after it. */
    private static CallFailed lastError() {
        virError error = org.libvirt.jna.Libvirt.INSTANCE.virGetLastError();
        if (error == null) {
            return new CallFailed(ErrorNumber.VIR_ERR_INTERNAL_ERROR, "libvirt failed without saying why");
        }
        org.libvirt.Error e = new org.libvirt.Error(error);
        String message = e.getMessage() == null ? e.toString() : e.getMessage().strip();
        return new CallFailed(e.getCode(), message);
    }

    private static ConnectionPointer pointer(Connect conn) {
        try {
            return (ConnectionPointer) CONNECTION_POINTER.get(conn);
        } catch (IllegalAccessException e) {
            throw new IllegalStateException("libvirt-java's connection pointer is out of reach", e);
        }
    }

    /** libvirt-java keeps its virConnectPtr in a protected field and hands it to no one: read it as its own calls do. */
    private static Field connectionPointer() {
        try {
            Field f = Connect.class.getDeclaredField("vcp");
            f.setAccessible(true);
            return f;
        } catch (NoSuchFieldException e) {
            throw new IllegalStateException("this libvirt-java has no Connect.vcp (0.5.3 has): update CpuCalls", e);
        }
    }
}
