package io.virtfleet.agent.storage;

import io.virtfleet.common.process.Command;
import io.virtfleet.common.units.Bytes;
import io.virtfleet.common.validation.Names;
import io.virtfleet.common.validation.Sizes;
import java.io.IOException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.Optional;

/**
 * The {@code raw} storage tier: one sparse raw image per VM, {@code <images-dir>/<vm>.img} (the name the
 * domain XML points at). A disk is never overwritten, resized or reached through a symbolic link: whatever
 * is found at that name is adopted when it is exactly the wanted disk and refused otherwise.
 */
public final class RawDisks {
    private final Path imagesDirectory;

    public RawDisks(Path imagesDirectory) {
        this.imagesDirectory = imagesDirectory;
    }

    /** Ensures the VM's image exists with {@code bytes} bytes: created if absent, adopted if identical, refused otherwise. */
    public DiskOutcome ensure(String vmName, long bytes) {
        Sizes.diskBytes("size_bytes", bytes);
        Path image = imageOf(vmName);
        Optional<BasicFileAttributes> found = attributes(image);
        if (found.isPresent()) {
            return adopt(image, found.get(), bytes);
        }
        long free = usableSpace(image.getParent());
        if (free < bytes) {
            throw StorageException.wrongState("images-dir " + image.getParent() + " has " + free + " bytes ("
                    + Bytes.human(free) + ") free, the disk of " + vmName + " needs " + bytes + " bytes ("
                    + Sizes.exact(bytes) + "): free space there, or use another host or tier");
        }
        create(image, bytes);
        return DiskOutcome.changed("created " + image + " " + Sizes.exact(bytes) + " raw (sparse)");
    }

    /** Deletes the VM's image; absent is fine, one in use by a running VM or not a plain file is refused. */
    public DiskOutcome delete(String vmName) {
        Path image = imageOf(vmName);
        deleteLeftover(partial(image));
        Optional<BasicFileAttributes> found = attributes(image);
        if (found.isEmpty()) {
            return DiskOutcome.alreadyDone(image + " was already absent");
        }
        refuseOddFile(image, found.get());
        QemuImg.requireUnused(image);
        QemuImg.Info info = QemuImg.info(image);
        try {
            Files.delete(image);
        } catch (NoSuchFileException e) {
            return DiskOutcome.alreadyDone(image + " was already absent");
        } catch (IOException e) {
            throw StorageException.wrongState("cannot delete " + image + ": " + e);
        }
        return DiskOutcome.changed("deleted " + image + " (" + Sizes.exact(info.virtualSize()) + ", " + info.format() + ")");
    }

    /**
     * The image file of a VM, {@code <images-dir>/<vm>.img}. The name is checked again here (whatever the
     * caller did), and the result must sit directly in the images directory: a VM name can never reach
     * another file.
     */
    public Path imageOf(String vmName) {
        String vm = Names.vmName("vm_name", vmName);
        Path directory = imagesDirectory();
        Path image = directory.resolve(vm + ".img").normalize();
        if (!directory.equals(image.getParent())) {
            throw new IllegalStateException("image path " + image + " escapes images-dir " + directory);
        }
        return image;
    }

    /** The VM's image file's format and virtual size, or empty when there is no such file. */
    public Optional<QemuImgInfo> infoOf(String vmName) {
        Path image = imageOf(vmName);
        Optional<BasicFileAttributes> attributes = attributes(image);
        if (attributes.isEmpty()) {
            return Optional.empty();
        }
        refuseOddFile(image, attributes.get());
        QemuImg.Info info = QemuImg.info(image);
        return Optional.of(new QemuImgInfo(image, info.format(), info.virtualSize()));
    }

    /** What qemu-img says of an image file: where it is, its format as probed, and its size as the guest sees it. */
    public record QemuImgInfo(Path image, String format, long virtualSize) {}

    private Path imagesDirectory() {
        try {
            // The directory itself may be a link chosen by the operator (e.g. onto a bigger disk); its entries may not.
            return imagesDirectory.toRealPath();
        } catch (IOException e) {
            throw StorageException.wrongState("images-dir " + imagesDirectory + " is not usable (" + e
                    + "): create it or set images-dir in the agent's configuration");
        }
    }

    private DiskOutcome adopt(Path image, BasicFileAttributes attributes, long bytes) {
        refuseOddFile(image, attributes);
        QemuImg.Info info = QemuImg.info(image);
        if (!info.format().equals("raw")) {
            throw StorageException.wrongState(image + " already exists as a " + info.format() + " image, not raw; "
                    + "virtfleet never overwrites a disk: convert or remove it by hand");
        }
        if (info.virtualSize() != bytes) {
            throw StorageException.wrongState(image + " already exists with " + Sizes.exact(info.virtualSize()) + " ("
                    + info.virtualSize() + " bytes), not the requested " + Sizes.exact(bytes) + " (" + bytes
                    + " bytes); virtfleet never resizes or overwrites a disk: delete it first, or ask for its size");
        }
        return DiskOutcome.alreadyDone("adopted " + image + " (" + Sizes.exact(bytes) + ", raw)");
    }

    /**
     * Creates the image under a temporary name and links it into place, so the image's name never shows a
     * half-made disk, and a file that appeared meanwhile is never replaced (link(2) refuses an existing name).
     */
    private static void create(Path image, long bytes) {
        Path partial = partial(image);
        deleteLeftover(partial);
        try {
            Files.createFile(partial); // O_EXCL: never writes through a planted link
        } catch (IOException e) {
            throw StorageException.wrongState("cannot create " + partial + ": " + e);
        }
        try {
            Command.Result r = QemuImg.run(Command.of("qemu-img", "create", "-q", "-f", "raw", partial.toString(),
                    Long.toString(bytes)).timeout(QemuImg.TIMEOUT));
            if (r.exitCode() != 0) {
                throw StorageException.wrongState("qemu-img cannot create " + image + ": " + r.reason());
            }
            Files.createLink(image, partial);
        } catch (FileAlreadyExistsException e) {
            throw StorageException.wrongState(image + " appeared while the agent was creating it; repeat the step to "
                    + "check what is there now");
        } catch (IOException e) {
            throw StorageException.wrongState("cannot create " + image + ": " + e);
        } finally {
            deleteLeftover(partial);
        }
    }

    private static Path partial(Path image) {
        return image.resolveSibling("." + image.getFileName() + ".partial");
    }

    private static void deleteLeftover(Path partial) {
        try {
            Files.deleteIfExists(partial);
        } catch (IOException e) {
            throw StorageException.wrongState("cannot remove the unfinished image " + partial + ": " + e);
        }
    }

    private static void refuseOddFile(Path image, BasicFileAttributes attributes) {
        if (attributes.isSymbolicLink()) {
            throw StorageException.wrongState(image + " is a symbolic link; the agent never follows links in images-dir: "
                    + "put the image itself there, or remove the link");
        }
        if (!attributes.isRegularFile()) {
            throw StorageException.wrongState(image + " exists but is not a regular file; remove it by hand");
        }
    }

    private static Optional<BasicFileAttributes> attributes(Path image) {
        try {
            return Optional.of(Files.readAttributes(image, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS));
        } catch (NoSuchFileException e) {
            return Optional.empty();
        } catch (IOException e) {
            throw StorageException.wrongState("cannot look at " + image + ": " + e);
        }
    }

    private static long usableSpace(Path directory) {
        try {
            return Files.getFileStore(directory).getUsableSpace();
        } catch (IOException e) {
            throw StorageException.wrongState("cannot read the free space of images-dir " + directory + ": " + e);
        }
    }
}
