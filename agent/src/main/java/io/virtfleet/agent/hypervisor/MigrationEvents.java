package io.virtfleet.agent.hypervisor;

import io.virtfleet.common.units.Bytes;
import io.virtfleet.common.validation.Ipv4;
import io.virtfleet.proto.v1.MigrationProgress;
import io.virtfleet.proto.v1.MigrationProgress.Phase;
import org.libvirt.DomainJobInfo;

/**
 * The progress events of one migration, in the contract's terms (MigrationProgress), from what libvirt says of its job.
 *
 * @param copiesDisk whether the migration copies a local disk, which libvirt copies before memory
 */
record MigrationEvents(String vm, String targetHost, Ipv4 targetAddress, boolean copiesDisk) {
    MigrationProgress preparing(String detail, long elapsedMs) {
        return MigrationProgress.newBuilder().setPhase(Phase.PHASE_PREPARING).setElapsedMs(elapsedMs).setDetail(detail)
                .build();
    }

    /**
     * Progress from libvirt's running job: nothing counted yet is still preparing; with a disk to copy, libvirt copies
     * it first (memory not started: no memory total yet), then memory.
     */
    MigrationProgress progress(DomainJobInfo job, long elapsedMs) {
        long total = job.getDataTotal();
        long processed = job.getDataProcessed();
        Phase phase;
        String detail;
        if (total == 0 && job.getMemTotal() == 0 && job.getFileTotal() == 0) {
            phase = Phase.PHASE_PREPARING;
            detail = "preparing " + targetHost + " (" + targetAddress + ")";
        } else if (copiesDisk && job.getMemTotal() == 0) {
            phase = Phase.PHASE_COPYING_DISK;
            detail = "disk " + Bytes.human(job.getFileProcessed()) + " of " + Bytes.human(job.getFileTotal())
                    + " copied, " + Bytes.human(job.getFileRemaining()) + " remaining";
        } else {
            phase = Phase.PHASE_COPYING_MEMORY;
            detail = "memory " + Bytes.human(job.getMemProcessed()) + " of " + Bytes.human(job.getMemTotal())
                    + " sent, " + Bytes.human(job.getMemRemaining()) + " remaining";
        }
        int percent = total <= 0 ? 0 : (int) Math.max(0, Math.min(100, processed * 100 / total));
        return MigrationProgress.newBuilder()
                .setPhase(phase)
                .setPercent(percent)
                .setDataTotalBytes(total)
                .setDataProcessedBytes(processed)
                .setDataRemainingBytes(job.getDataRemaining())
                .setElapsedMs(elapsedMs)
                .setDetail(detail)
                .build();
    }

    /**
     * The last event: the target runs the VM.
     *
     * @param lastJob   the job as last seen running, for its data total when libvirt recorded none; null if never seen
     * @param completed libvirt's statistics of the completed job (-1 where it recorded none): the switch-over's pause,
     *                  what was sent and the local disk copied, which progress samples may have missed
     */
    MigrationProgress done(DomainJobInfo lastJob, JobStats.Completed completed, long elapsedMs) {
        long downtimeMs = Math.max(0, completed.downtimeMs());
        long total = completed.dataTotalBytes() >= 0 ? completed.dataTotalBytes()
                : lastJob == null ? 0 : lastJob.getDataTotal();
        return MigrationProgress.newBuilder()
                .setPhase(Phase.PHASE_DONE)
                .setPercent(100)
                .setElapsedMs(elapsedMs)
                .setDowntimeMs(downtimeMs)
                .setDataTotalBytes(total)
                .setDataProcessedBytes(total)
                .setDiskCopiedBytes(copiesDisk ? Math.max(0, completed.diskTotalBytes()) : 0)
                .setDetail(vm + " runs on " + targetHost + " (" + targetAddress + ")"
                        + (downtimeMs > 0 ? ", paused " + downtimeMs + " ms for the switch-over" : ""))
                .build();
    }
}
