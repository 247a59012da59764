package io.virtfleet.controller.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.virtfleet.common.units.Bytes;
import io.virtfleet.proto.v1.MigrationProgress;
import io.virtfleet.proto.v1.MigrationProgress.Phase;
import org.junit.jupiter.api.Test;

class MoveProgressTest {
    @Test
    void aCopyingLineSaysHowFarAlongAndWhatIsLeft() {
        MigrationProgress m = MigrationProgress.newBuilder().setPhase(Phase.PHASE_COPYING_MEMORY).setPercent(41)
                .setDataTotalBytes(Bytes.GIB).setDataProcessedBytes(440 * Bytes.MIB)
                .setDataRemainingBytes(584 * Bytes.MIB).build();
        assertEquals("memory 41% (440 MiB of 1.0 GiB sent, 584 MiB left)", MoveProgress.line(m));
    }

    @Test
    void theLastLineNamesTheDiskCopiedAndThePause() {
        MigrationProgress raw = MigrationProgress.newBuilder().setPhase(Phase.PHASE_DONE).setPercent(100)
                .setDiskCopiedBytes(20 * Bytes.GIB).setDowntimeMs(180).build();
        assertEquals("done, disk 20.0 GiB copied, paused 180 ms for the switch-over", MoveProgress.line(raw));
        MigrationProgress ceph = MigrationProgress.newBuilder().setPhase(Phase.PHASE_DONE).setPercent(100).build();
        assertEquals("done", MoveProgress.line(ceph));
    }

    @Test
    void beforeLibvirtCountsAnythingTheDetailIsShown() {
        MigrationProgress m = MigrationProgress.newBuilder().setPhase(Phase.PHASE_PREPARING)
                .setDetail("preparing hv2 (10.0.0.2)").build();
        assertEquals("preparing: preparing hv2 (10.0.0.2)", MoveProgress.line(m));
    }
}
