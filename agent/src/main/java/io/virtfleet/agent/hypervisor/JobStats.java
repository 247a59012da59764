package io.virtfleet.agent.hypervisor;

import com.sun.jna.Library;
import com.sun.jna.Native;
import com.sun.jna.Pointer;
import com.sun.jna.ptr.IntByReference;
import com.sun.jna.ptr.LongByReference;
import com.sun.jna.ptr.PointerByReference;
import java.util.OptionalLong;
import org.libvirt.jna.ConnectionPointer;

/**
 * The statistics libvirt keeps of a domain's last completed job (virDomainGetJobStats), which libvirt-java 0.5.3
 * does not offer: for a finished migration, how long the VM was paused for the switch-over ("downtime").
 */
final class JobStats {
    /** The few libvirt functions needed, bound to the libvirt.so libvirt-java loads as well. */
    private interface Libvirt extends Library {
        Pointer virDomainLookupByUUIDString(ConnectionPointer connection, String uuid);

        int virDomainGetJobStats(Pointer domain, IntByReference type, PointerByReference params, IntByReference count,
                                 int flags);

        int virTypedParamsGetULLong(Pointer params, int count, String name, LongByReference value);

        void virTypedParamsFree(Pointer params, int count);

        int virDomainFree(Pointer domain);
    }

    /** virDomainGetJobStatsFlags VIR_DOMAIN_JOB_STATS_COMPLETED: the last completed job, not the running one. */
    private static final int COMPLETED = 1;
    /** VIR_DOMAIN_JOB_DOWNTIME: milliseconds the domain was paused, in the statistics of a completed migration. */
    private static final String DOWNTIME = "downtime";

    private static volatile Libvirt libvirt;

    private JobStats() {}

    /**
     * The downtime of the last completed migration of the domain {@code uuid} as libvirt at {@code connection} recorded
     * it; empty when that libvirt has no such statistics (or no such domain).
     */
    static OptionalLong downtimeMs(MigrationConnection connection, String uuid) {
        Libvirt lib = library();
        Pointer domain = lib.virDomainLookupByUUIDString(connection.pointer(), uuid);
        if (domain == null) {
            return OptionalLong.empty();
        }
        try {
            IntByReference type = new IntByReference();
            PointerByReference params = new PointerByReference();
            IntByReference count = new IntByReference();
            if (lib.virDomainGetJobStats(domain, type, params, count, COMPLETED) < 0 || params.getValue() == null) {
                return OptionalLong.empty();
            }
            try {
                LongByReference value = new LongByReference();
                return lib.virTypedParamsGetULLong(params.getValue(), count.getValue(), DOWNTIME, value) == 1
                        ? OptionalLong.of(value.getValue()) : OptionalLong.empty();
            } finally {
                lib.virTypedParamsFree(params.getValue(), count.getValue());
            }
        } finally {
            lib.virDomainFree(domain);
        }
    }

    private static Libvirt library() {
        Libvirt lib = libvirt;
        if (lib == null) {
            synchronized (JobStats.class) {
                if (libvirt == null) {
                    libvirt = Native.load("virt", Libvirt.class);
                }
                lib = libvirt;
            }
        }
        return lib;
    }
}
