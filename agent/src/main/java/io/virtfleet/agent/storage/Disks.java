package io.virtfleet.agent.storage;

import io.virtfleet.common.validation.Names;
import io.virtfleet.common.validation.Sizes;
import io.virtfleet.common.validation.StorageTiers;
import io.virtfleet.proto.v1.StorageTier;
import java.util.List;

/**
 * A host's VM disks, whatever their tier: routes each step to the raw or the Ceph tier, refuses tiers the
 * host does not serve, and does one step at a time per disk (a repeated request waits for the first
 * instead of racing it).
 */
public final class Disks {
    private static final int LOCKS = 64;

    private final String hostName;
    private final List<String> servedTiers;
    private final RawDisks raw;
    private final RbdDisks rbd;
    private final CephSecret secret;
    private final Object[] locks = new Object[LOCKS];

    public Disks(String hostName, List<String> servedTiers, RawDisks raw, RbdDisks rbd, CephSecret secret) {
        this.hostName = hostName;
        this.servedTiers = List.copyOf(servedTiers);
        this.raw = raw;
        this.rbd = rbd;
        this.secret = secret;
        for (int i = 0; i < LOCKS; i++) {
            locks[i] = new Object();
        }
    }

    /**
     * Ensures the VM's disk exists with exactly {@code bytes} bytes. For a Ceph tier the libvirt secret that
     * lets qemu open the image is ensured first: the disk is not ready without it.
     *
     * @throws io.virtfleet.common.validation.InvalidInputException for a bad name or size, before anything runs
     * @throws StorageException when the disk cannot be had as asked (see its kind)
     */
    public DiskOutcome ensure(String vmName, StorageTier tier, long bytes) {
        String vm = Names.vmName("vm_name", vmName);
        Sizes.diskBytes("size_bytes", bytes);
        requireServed(tier);
        synchronized (lock(vm, tier)) {
            if (tier == StorageTier.STORAGE_TIER_RAW) {
                return raw.ensure(vm, bytes);
            }
            rbd.requireConfigured(tier, vm);
            DiskOutcome keyInLibvirt = secret.ensure();
            DiskOutcome disk = rbd.ensure(tier, vm, bytes);
            return disk.and(keyInLibvirt);
        }
    }

    /**
     * Deletes the VM's disk; absent is success.
     *
     * @throws io.virtfleet.common.validation.InvalidInputException for a bad name, before anything runs
     * @throws StorageException when the disk is in use or its storage cannot be reached
     */
    public DiskOutcome delete(String vmName, StorageTier tier) {
        String vm = Names.vmName("vm_name", vmName);
        requireServed(tier);
        synchronized (lock(vm, tier)) {
            return tier == StorageTier.STORAGE_TIER_RAW ? raw.delete(vm) : rbd.delete(tier, vm);
        }
    }

    /**
     * The disk of a domain being adopted, as its image says: {@code file} must be the VM's own image in the images
     * directory, an RBD image must be in a tier's pool and named after the VM.
     *
     * @return the size in bytes, the image in words, and a local file's format ("" for RBD)
     */
    public AdoptedDisk adoptedDisk(String vmName, String file, String pool, String image) {
        String vm = Names.vmName("vm_name", vmName);
        if (file != null) {
            java.nio.file.Path own = raw.imageOf(vm);
            if (!own.toString().equals(file)) {
                throw StorageException.wrongState("disk " + file + " is not this VM's image in the images directory, "
                        + own);
            }
            RawDisks.QemuImgInfo info = raw.infoOf(vm).orElseThrow(() -> StorageException.wrongState(
                    "disk " + file + " does not exist"));
            return new AdoptedDisk(info.virtualSize(), file, info.format());
        }
        if (!vm.equals(image)) {
            throw StorageException.wrongState("RBD image " + pool + "/" + image + " is not named after the VM ("
                    + pool + "/" + vm + ")");
        }
        long size = rbd.sizeIn(pool, vm).orElseThrow(() -> StorageException.wrongState("RBD image " + pool + "/" + vm
                + " does not exist"));
        return new AdoptedDisk(size, "rbd:" + pool + "/" + vm, "");
    }

    /** A disk found for adoption: its virtual size in bytes, where it is in words, a local file's format. */
    public record AdoptedDisk(long bytes, String where, String format) {}

    private void requireServed(StorageTier tier) {
        String name = StorageTiers.name(tier);
        if (!servedTiers.contains(name)) {
            throw StorageException.wrongState("host " + hostName + " does not serve storage tier " + name
                    + " (its storage-tiers: " + String.join(",", servedTiers) + "); place the VM on a host that does");
        }
    }

    private Object lock(String vm, StorageTier tier) {
        return locks[Math.floorMod((tier.getNumber() + "/" + vm).hashCode(), LOCKS)];
    }
}
