package io.virtfleet.agent.metrics;

import io.virtfleet.proto.v1.HostResources;
import java.io.IOException;
import java.nio.file.FileStore;
import java.nio.file.Files;
import io.virtfleet.agent.hypervisor.InstallerFiles;
import io.virtfleet.agent.hypervisor.InstallerPreparation;
import java.nio.file.Path;
import oshi.SystemInfo;
import oshi.hardware.CentralProcessor;
import oshi.hardware.GlobalMemory;

/**
 * The host's CPU, memory and disk facts, read through OSHI. CPU utilisation is measured between two
 * consecutive calls, so callers sample at their heartbeat interval. Not thread-safe: one caller.
 */
public final class HostMetrics {
    private final CentralProcessor cpu;
    private final GlobalMemory memory;
    private final SystemInfo system;
    private final Path imagesDirectory;
    private final InstallerFiles installer;
    private final InstallerPreparation preparation;
    private final String cpuModel;
    private final int physicalCores;
    private final int logicalThreads;
    private long[] previousTicks;

    /** Metrics of a host without the installer's files. */
    public HostMetrics(Path imagesDirectory) {
        this(imagesDirectory, null);
    }

    /**
     * @param installer reported while the files exist (checked at each sample: a package may come later, and its
     *                  initrd is then prepared in the background); may be null
     */
    public HostMetrics(Path imagesDirectory, InstallerFiles installer) {
        this.installer = installer;
        this.preparation = installer == null ? null : new InstallerPreparation(installer);
        this.system = new SystemInfo();
        this.cpu = system.getHardware().getProcessor();
        this.memory = system.getHardware().getMemory();
        this.imagesDirectory = imagesDirectory;
        // Static facts: read once, they do not change while the host runs.
        this.cpuModel = cpu.getProcessorIdentifier().getName().strip();
        this.physicalCores = cpu.getPhysicalProcessorCount();
        this.logicalThreads = cpu.getLogicalProcessorCount();
        this.previousTicks = cpu.getSystemCpuLoadTicks();
    }

    public HostResources sample() {
        double[] load = cpu.getSystemLoadAverage(3);
        long[] ticks = cpu.getSystemCpuLoadTicks();
        double busy = cpu.getSystemCpuLoadBetweenTicks(previousTicks);
        previousTicks = ticks;
        HostResources.Builder out = HostResources.newBuilder()
                .setCpuModel(cpuModel)
                .setPhysicalCores(physicalCores)
                .setLogicalThreads(logicalThreads)
                .setLoadAverage1M(load[0])
                .setLoadAverage5M(load[1])
                .setLoadAverage15M(load[2])
                .setCpuUtilisationPercent(Double.isNaN(busy) ? 0 : Math.max(0, Math.min(100, busy * 100)))
                .setMemoryTotalBytes(memory.getTotal())
                .setMemoryAvailableBytes(memory.getAvailable())
                .setImagesDirectory(imagesDirectory.toString())
                .setUptimeSeconds(system.getOperatingSystem().getSystemUptime());
        if (installer != null && !installer.available()) {
            preparation.soon();
        } else if (installer != null) {
            out.setInstallerKernel(installer.kernel().toString()).setInstallerInitrd(installer.initrd().toString());
        }
        try {
            FileStore store = Files.getFileStore(imagesDirectory);
            out.setImagesFreeBytes(store.getUsableSpace()).setImagesTotalBytes(store.getTotalSpace());
        } catch (IOException e) {
            out.setImagesFreeBytes(-1).setImagesTotalBytes(-1);
        }
        return out.build();
    }
}
