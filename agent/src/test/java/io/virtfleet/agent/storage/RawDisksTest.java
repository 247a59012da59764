package io.virtfleet.agent.storage;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import io.virtfleet.common.process.Command;
import io.virtfleet.common.units.Bytes;
import io.virtfleet.common.validation.InvalidInputException;
import io.virtfleet.common.validation.Sizes;
import io.virtfleet.proto.v1.StorageTier;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** The raw tier against a real qemu-img in a temporary images directory. */
class RawDisksTest {
    private static final long GIB = Bytes.GIB;

    @TempDir
    Path tmp;

    private Path images;
    private RawDisks raw;
    /** Raw only: a Ceph step would fail the test by trying to reach a cluster that is not there. */
    private Disks disks;

    @BeforeEach
    void setUp() throws IOException {
        images = Files.createDirectory(tmp.resolve("images"));
        raw = new RawDisks(images);
        disks = new Disks("hv1", List.of("raw"), raw, null, null);
    }

    @Test
    void createsASparseRawImageNamedAfterTheVm() throws Exception {
        DiskOutcome created = disks.ensure("git", StorageTier.STORAGE_TIER_RAW, 20 * GIB);

        Path image = images.resolve("git.img");
        assertTrue(created.changed());
        assertEquals("created " + image + " 20 GiB raw (sparse)", created.detail());
        JsonObject info = qemuImgInfo(image);
        assertEquals("raw", info.get("format").getAsString());
        assertEquals(20 * GIB, info.get("virtual-size").getAsLong());
        assertTrue(info.get("actual-size").getAsLong() < Bytes.MIB, "sparse: " + info);
        try (Stream<Path> files = Files.list(images)) {
            assertEquals(List.of(image), files.toList(), "no temporary file left behind");
        }
    }

    @Test
    void theSameDiskAskedAgainIsAdoptedUntouched() throws Exception {
        disks.ensure("git", StorageTier.STORAGE_TIER_RAW, 2 * GIB);
        Path image = images.resolve("git.img");
        FileTime before = Files.getLastModifiedTime(image);

        DiskOutcome again = disks.ensure("git", StorageTier.STORAGE_TIER_RAW, 2 * GIB);

        assertFalse(again.changed());
        assertEquals("adopted " + image + " (2 GiB, raw)", again.detail());
        assertEquals(before, Files.getLastModifiedTime(image));
    }

    @Test
    void aDiskOfAnotherSizeIsRefusedAndLeftAsItIs() throws Exception {
        disks.ensure("git", StorageTier.STORAGE_TIER_RAW, 2 * GIB);
        Path image = images.resolve("git.img");
        Files.write(image, new byte[] {1, 2, 3}, java.nio.file.StandardOpenOption.WRITE); // data of the "guest"

        StorageException e = assertThrows(StorageException.class,
                () -> disks.ensure("git", StorageTier.STORAGE_TIER_RAW, 3 * GIB));

        assertEquals(StorageException.Kind.WRONG_STATE, e.kind());
        assertTrue(e.getMessage().contains("already exists with 2 GiB (2147483648 bytes), not the requested 3 GiB"
                + " (3221225472 bytes)"), e.getMessage());
        assertEquals(2 * GIB, Files.size(image));
        try (var in = Files.newInputStream(image)) {
            assertEquals(List.of(1, 2, 3), List.of(in.read(), in.read(), in.read()), "the guest's data is still there");
        }
    }

    @Test
    void anImageInAnotherFormatIsNeverAdopted() throws Exception {
        Path image = images.resolve("git.img");
        Command.of("qemu-img", "create", "-q", "-f", "qcow2", image.toString(), Long.toString(2 * GIB)).runChecked();

        StorageException e = assertThrows(StorageException.class,
                () -> disks.ensure("git", StorageTier.STORAGE_TIER_RAW, 2 * GIB));

        assertTrue(e.getMessage().contains("already exists as a qcow2 image, not raw"), e.getMessage());
        assertEquals("qcow2", qemuImgInfo(image).get("format").getAsString());
    }

    @Test
    void deleteRemovesTheImageAndAnAbsentOneIsFine() throws Exception {
        disks.ensure("git", StorageTier.STORAGE_TIER_RAW, GIB);
        Path image = images.resolve("git.img");

        DiskOutcome deleted = disks.delete("git", StorageTier.STORAGE_TIER_RAW);
        assertTrue(deleted.changed());
        assertEquals("deleted " + image + " (1 GiB, raw)", deleted.detail());
        assertFalse(Files.exists(image));

        DiskOutcome again = disks.delete("git", StorageTier.STORAGE_TIER_RAW);
        assertFalse(again.changed());
        assertEquals(image + " was already absent", again.detail());
    }

    @ParameterizedTest
    @ValueSource(strings = {"../x", "a b", "$(reboot)", "", "Git", "-rf", "x/../../etc/passwd", "git.img"})
    void hostileNamesAreRefusedBeforeAnythingRuns(String name) throws Exception {
        for (StorageTier tier : StorageTier.values()) {
            if (tier == StorageTier.UNRECOGNIZED || tier == StorageTier.STORAGE_TIER_UNSPECIFIED) {
                continue;
            }
            InvalidInputException e = assertThrows(InvalidInputException.class, () -> disks.ensure(name, tier, GIB));
            assertEquals("vm_name", e.field());
            assertThrows(InvalidInputException.class, () -> disks.delete(name, tier));
        }
        assertThrows(InvalidInputException.class, () -> raw.ensure(name, GIB), "checked again by the tier itself");
        assertThrows(InvalidInputException.class, () -> raw.delete(name));
        try (Stream<Path> files = Files.list(tmp)) {
            assertEquals(List.of(images), files.toList(), "nothing created beside the images directory");
        }
        try (Stream<Path> files = Files.list(images)) {
            assertEquals(List.of(), files.toList(), "nothing created inside it");
        }
    }

    @Test
    void sizesOutsideTheDiskBoundsAreRefused() {
        for (long bytes : new long[] {0, -1, GIB - 1, Sizes.DISK.max() + 1, Long.MIN_VALUE}) {
            InvalidInputException e = assertThrows(InvalidInputException.class,
                    () -> disks.ensure("git", StorageTier.STORAGE_TIER_RAW, bytes));
            assertEquals("size_bytes", e.field());
        }
        assertFalse(Files.exists(images.resolve("git.img")));
    }

    @Test
    void aSymbolicLinkPlantedInTheImagesDirectoryIsNeverFollowed() throws Exception {
        Path victim = Files.writeString(tmp.resolve("precious"), "do not touch");
        Path link = Files.createSymbolicLink(images.resolve("git.img"), victim);

        StorageException ensure = assertThrows(StorageException.class,
                () -> disks.ensure("git", StorageTier.STORAGE_TIER_RAW, GIB));
        StorageException delete = assertThrows(StorageException.class,
                () -> disks.delete("git", StorageTier.STORAGE_TIER_RAW));

        assertTrue(ensure.getMessage().contains("is a symbolic link"), ensure.getMessage());
        assertTrue(delete.getMessage().contains("is a symbolic link"), delete.getMessage());
        assertEquals("do not touch", Files.readString(victim));
        assertTrue(Files.isSymbolicLink(link), "the link is left for an operator to look at");
    }

    @Test
    void aDiskBiggerThanTheFreeSpaceIsRefusedNamingBoth() throws Exception {
        long free = Files.getFileStore(images).getUsableSpace();
        long wanted = Sizes.DISK.max();
        assertTrue(free < wanted, "this test needs less than 16 TiB free under " + images + "; has " + free);

        StorageException e = assertThrows(StorageException.class,
                () -> disks.ensure("big", StorageTier.STORAGE_TIER_RAW, wanted));

        assertEquals(StorageException.Kind.WRONG_STATE, e.kind());
        assertTrue(e.getMessage().contains("free, the disk of big needs " + wanted + " bytes (16 TiB)"), e.getMessage());
        assertTrue(e.getMessage().matches("images-dir .* has \\d+ bytes .*"), e.getMessage());
        assertFalse(Files.exists(images.resolve("big.img")));
    }

    @Test
    void aTierTheHostDoesNotServeIsRefused() {
        StorageException e = assertThrows(StorageException.class,
                () -> disks.ensure("git", StorageTier.STORAGE_TIER_SSD, GIB));
        assertEquals(StorageException.Kind.WRONG_STATE, e.kind());
        assertEquals("host hv1 does not serve storage tier ssd (its storage-tiers: raw); place the VM on a host that does",
                e.getMessage());
    }

    @Test
    void aMissingImagesDirectoryIsNamed() throws Exception {
        Files.delete(images);
        StorageException e = assertThrows(StorageException.class,
                () -> disks.ensure("git", StorageTier.STORAGE_TIER_RAW, GIB));
        assertTrue(e.getMessage().startsWith("images-dir " + images + " is not usable"), e.getMessage());
    }

    @Test
    void anImageARunningVmHoldsIsNotDeleted() throws Exception {
        disks.ensure("git", StorageTier.STORAGE_TIER_RAW, GIB);
        Path image = images.resolve("git.img");
        // A VM (paused before its first instruction) with the image as its disk: qemu holds the image's lock.
        Process holder = new ProcessBuilder("qemu-system-x86_64", "-nodefaults", "-display", "none", "-S",
                "-machine", "pc,accel=tcg", "-m", "32", "-drive", "file=" + image + ",format=raw,if=none,id=d0",
                "-device", "virtio-blk-pci,drive=d0")
                .redirectErrorStream(true).redirectOutput(tmp.resolve("qemu.log").toFile()).start();
        try {
            awaitLocked(image);
            StorageException e = assertThrows(StorageException.class,
                    () -> disks.delete("git", StorageTier.STORAGE_TIER_RAW));
            assertTrue(e.getMessage().startsWith(image + " is in use: a running VM holds its lock"), e.getMessage());
            assertTrue(Files.exists(image));
            assertFalse(disks.ensure("git", StorageTier.STORAGE_TIER_RAW, GIB).changed(), "adopting it still works");
        } finally {
            holder.destroy();
            holder.waitFor();
        }
        assertTrue(disks.delete("git", StorageTier.STORAGE_TIER_RAW).changed());
    }

    private static void awaitLocked(Path image) throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
        while (Command.of("qemu-io", "--format", "raw", "--cmd", "quit", image.toString()).run().exitCode() == 0) {
            assertTrue(System.nanoTime() < deadline, "qemu did not open " + image);
            Thread.sleep(50);
        }
    }

    private static JsonObject qemuImgInfo(Path image) {
        String json = Command.of("qemu-img", "info", "--output=json", image.toString()).runChecked().stdout();
        return JsonParser.parseString(json).getAsJsonObject();
    }
}
