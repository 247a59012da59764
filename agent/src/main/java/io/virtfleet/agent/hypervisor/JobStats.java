package io.virtfleet.agent.hypervisor;

import com.sun.jna.Library;
import com.sun.jna.Native;
import com.sun.jna.Pointer;
import com.sun.jna.ptr.IntByReference;
import com.sun.jna.ptr.LongByReference;
import com.sun.jna.ptr.PointerByReference;
import java.util.Optional;
import org.libvirt.jna.ConnectionPointer;

/**
 * The statistics libvirt keeps of a domain's last completed job (virDomainGetJobStats), which libvirt-java 0.5.3
 * does not offer: for a finished migration, how long the VM was paused for the switch-over ("downtime") and what was
 * sent, its local disks included (progress samples taken every half second can miss a short disk copy entirely).
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
    /** VIR_DOMAIN_JOB_DATA_TOTAL: bytes of memory and disks the job had to send. */
    private static final String DATA_TOTAL = "data_total";
    /** VIR_DOMAIN_JOB_DISK_TOTAL: bytes of local disks the job had to copy (0 for shared storage). */
    private static final String DISK_TOTAL = "disk_total";

    /** A completed migration's figures as libvirt recorded them; -1 where libvirt did not record one. */
    record Completed(long downtimeMs, long dataTotalBytes, long diskTotalBytes) {}

    private static volatile Libvirt libvirt;

    private JobStats() {}

    /**
     * The statistics of the domain {@code uuid}'s last completed job as libvirt at {@code connection} recorded them;
     * empty when that libvirt has none (or no such domain).
     */
    static Optional<Completed> completed(MigrationConnection connection, String uuid) {
        Libvirt lib = library();
        Pointer domain = lib.virDomainLookupByUUIDString(connection.pointer(), uuid);
        if (domain == null) {
            return Optional.empty();
        }
        try {
            IntByReference type = new IntByReference();
            PointerByReference params = new PointerByReference();
            IntByReference count = new IntByReference();
            if (lib.virDomainGetJobStats(domain, type, params, count, COMPLETED) < 0 || params.getValue() == null) {
                return Optional.empty();
            }
            try {
                return Optional.of(new Completed(value(lib, params.getValue(), count.getValue(), DOWNTIME),
                        value(lib, params.getValue(), count.getValue(), DATA_TOTAL),
                        value(lib, params.getValue(), count.getValue(), DISK_TOTAL)));
            } finally {
                lib.virTypedParamsFree(params.getValue(), count.getValue());
            }
        } finally {
            lib.virDomainFree(domain);
        }
    }

    private static long value(Libvirt lib, Pointer params, int count, String name) {
        LongByReference value = new LongByReference();
        return lib.virTypedParamsGetULLong(params, count, name, value) == 1 ? value.getValue() : -1;
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
