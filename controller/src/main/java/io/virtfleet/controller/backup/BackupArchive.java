package io.virtfleet.controller.backup;

import io.virtfleet.controller.dashboard.DashboardAuthority;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Instant;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;
import java.util.zip.ZipOutputStream;

/**
 * The backup archive, format 1: a ZIP file (inspectable with {@code unzip -l}) holding the controller's data
 * directory under {@code data/} and a text {@code MANIFEST} that names the format and lists every directory and file
 * with its mode, and every file with its length and SHA-256; the manifest's last line is the SHA-256 of the lines
 * before it. {@link #verify} checks all of it before a restore writes anything.
 */
public final class BackupArchive {
    /** The format this code writes and the only one it reads. */
    public static final int FORMAT = 1;
    static final String MANIFEST = "MANIFEST";
    static final String DATA = "data/";
    private static final String MAGIC = "virtfleet-controller-backup";
    /** A path in the data directory: relative, '/'-separated, no empty, "." or ".." component, printable. */
    private static final Pattern PATH = Pattern.compile("[A-Za-z0-9._+@=,:-]+(/[A-Za-z0-9._+@=,:-]+)*");

    private BackupArchive() {}

    /** One directory or file of the data directory. {@code size} and {@code sha256} are for files only. */
    public record Entry(String path, boolean directory, int mode, long size, String sha256) {}

    /** What an archive says of itself. */
    public record Manifest(int format, Instant takenAt, String definitionsHead, List<Entry> entries) {
        public int files() {
            return (int) entries.stream().filter(e -> !e.directory()).count();
        }

        public long stateBytes() {
            return entries.stream().mapToLong(Entry::size).sum();
        }
    }

    /** An archive that is no backup of format 1, or is damaged: nothing was written. */
    public static final class BadArchiveException extends Exception {
        BadArchiveException(String message) {
            super(message);
        }

        BadArchiveException(String message, Throwable cause) {
            super(message, cause);
        }
    }

    /**
     * Whether a file or directory of the data directory stays out of backups: {@link io.virtfleet.common.files.StateFiles}'
     * temporaries and git's lock files, which only a writer cut short leaves (the write gate keeps any from being
     * half made while the copy is taken); and the dashboard CA ({@code dashboard-ca/}), which the controller makes
     * again when it is missing: a backup holds what cannot be made again, and one key fewer that browsers trust.
     */
    static boolean leftOut(Path relative) {
        String name = relative.getFileName().toString();
        return (name.startsWith(".") && name.endsWith(".tmp")) || name.endsWith(".lock")
                || relative.getName(0).toString().equals(DashboardAuthority.DIRECTORY);
    }

    /**
     * Copies {@code dataDir} into {@code out} as an archive, in one pass. The caller holds the write gate closed: the
     * files do not change while they are read.
     *
     * @throws IOException a file could not be read, or the data directory holds something other than directories and
     *                     regular files (a symbolic link), which a restore could not give back as it was
     */
    static Manifest write(Path dataDir, OutputStream out, Instant takenAt) throws IOException {
        return new Writer(dataDir, out).finish(takenAt);
    }

    /** A file of the definitions repository that never changes once it has its name: a loose object or a pack. */
    private static final Pattern IMMUTABLE = Pattern.compile("definitions/\\.git/objects/(?:[0-9a-f]{2}/[0-9a-f]{38}"
            + "|pack/pack-[0-9a-f]{40}\\.(?:pack|idx|rev|bitmap))");

    /** Whether a path of the data directory (relative, slashed) is an {@link #IMMUTABLE} file of the repository. */
    static boolean immutable(String path) {
        return IMMUTABLE.matcher(path).matches();
    }

    /**
     * Writes an archive in two passes, so the write gate stays closed for the state that changes, not for the
     * definitions repository's history: {@link #copyImmutable} (gate open) copies the repository's objects and packs,
     * which git writes under a temporary name and never changes once named; {@link #finish} (gate closed) copies
     * everything else, and the objects that appeared since. An object removed in between stays in the archive (an
     * unreferenced object harms nothing); the controller never packs or prunes its repository anyway.
     */
    static final class Writer {
        private final Path dataDir;
        private final ZipOutputStream zip;
        private final byte[] buffer = new byte[64 * 1024];
        private final java.util.Map<String, Entry> early = new java.util.HashMap<>();
        private int copiedLate;

        Writer(Path dataDir, OutputStream out) {
            this.dataDir = dataDir;
            this.zip = new ZipOutputStream(out);
            zip.setLevel(1); // the state is copied while writes wait: speed before size
        }

        /** Copies the repository's objects and packs present now; the gate may be open. Returns how many files. */
        int copyImmutable() throws IOException {
            Path objects = dataDir.resolve("definitions").resolve(".git").resolve("objects");
            if (!Files.isDirectory(objects, LinkOption.NOFOLLOW_LINKS)) {
                return 0;
            }
            List<Path> all;
            try (Stream<Path> walk = Files.walk(objects)) {
                all = walk.filter(p -> Files.isRegularFile(p, LinkOption.NOFOLLOW_LINKS)).sorted().toList();
            }
            for (Path p : all) {
                String path = slashed(dataDir.relativize(p));
                if (immutable(path) && !early.containsKey(path)) {
                    try {
                        early.put(path, copy(p, path));
                    } catch (java.nio.file.NoSuchFileException gone) {
                        // removed since the walk: nothing to keep (the zip entry is not started before the file opens)
                    }
                }
            }
            return early.size();
        }

        /** How many files {@link #finish} copied (those not copied by {@link #copyImmutable} before). */
        int copiedLate() {
            return copiedLate;
        }

        /** Copies everything not copied yet and writes the manifest; the caller holds the write gate closed. */
        Manifest finish(Instant takenAt) throws IOException {
            List<Path> all;
            try (Stream<Path> walk = Files.walk(dataDir)) {
                all = walk.filter(p -> !p.equals(dataDir)).sorted().toList();
            }
            java.util.TreeMap<String, Entry> entries = new java.util.TreeMap<>(early);
            for (Path p : all) {
                Path relative = dataDir.relativize(p);
                String path = slashed(relative);
                if (Files.isSymbolicLink(p)) {
                    throw new IOException("cannot back up " + p + ": a symbolic link in the data directory; the backup"
                            + " holds only directories and regular files");
                }
                if (relative.getName(0).toString().equals(DashboardAuthority.DIRECTORY)) {
                    continue; // the directory too, not only its files (see leftOut)
                }
                int mode = mode(p);
                if (Files.isDirectory(p, LinkOption.NOFOLLOW_LINKS)) {
                    entries.put(path, new Entry(path, true, mode, 0, ""));
                    continue;
                }
                if (leftOut(relative) || early.containsKey(path)) {
                    continue;
                }
                if (!Files.isRegularFile(p, LinkOption.NOFOLLOW_LINKS)) {
                    throw new IOException("cannot back up " + p + ": neither a directory nor a regular file");
                }
                entries.put(path, copy(p, path));
                copiedLate++;
            }
            Manifest manifest = new Manifest(FORMAT, takenAt, definitionsHead(dataDir), List.copyOf(entries.values()));
            zip.putNextEntry(new ZipEntry(MANIFEST));
            zip.write(render(manifest).getBytes(StandardCharsets.UTF_8));
            zip.closeEntry();
            zip.finish();
            zip.flush();
            return manifest;
        }

        private Entry copy(Path p, String path) throws IOException {
            int mode = mode(p);
            MessageDigest sha = sha256();
            long size = 0;
            try (InputStream in = Files.newInputStream(p)) {
                zip.putNextEntry(new ZipEntry(DATA + path));
                for (int n = in.read(buffer); n >= 0; n = in.read(buffer)) {
                    zip.write(buffer, 0, n);
                    sha.update(buffer, 0, n);
                    size += n;
                }
            }
            zip.closeEntry();
            return new Entry(path, false, mode, size, HexFormat.of().formatHex(sha.digest()));
        }
    }

    /**
     * Reads and checks the whole archive: the manifest's format and checksum, every path, and every file's length and
     * SHA-256; nothing in the archive that the manifest does not list, nothing listed that is missing.
     */
    public static Manifest verify(Path archive) throws BadArchiveException, IOException {
        if (!Files.isRegularFile(archive)) {
            throw new IOException("no backup archive at " + archive);
        }
        try (ZipFile zip = open(archive)) {
            Manifest manifest = manifest(zip, archive);
            Map<String, Entry> files = new LinkedHashMap<>();
            for (Entry e : manifest.entries()) {
                if (!e.directory()) {
                    files.put(DATA + e.path(), e);
                }
            }
            var zipEntries = zip.entries();
            while (zipEntries.hasMoreElements()) {
                String name = zipEntries.nextElement().getName();
                if (!name.equals(MANIFEST) && !files.containsKey(name)) {
                    throw new BadArchiveException(archive + " holds " + name + ", which its manifest does not list");
                }
            }
            for (Entry e : files.values()) {
                ZipEntry z = zip.getEntry(DATA + e.path());
                if (z == null) {
                    throw new BadArchiveException(archive + " lacks " + e.path() + ", which its manifest lists");
                }
                try (InputStream in = zip.getInputStream(z)) {
                    check(archive, e, in, OutputStream.nullOutputStream());
                }
            }
            return manifest;
        }
    }

    /** Copies one file out of the archive into {@code out}, checking its length and SHA-256 on the way. */
    static void extract(ZipFile zip, Path archive, Entry e, OutputStream out) throws BadArchiveException, IOException {
        try (InputStream in = zip.getInputStream(zip.getEntry(DATA + e.path()))) {
            check(archive, e, in, out);
        }
    }

    static ZipFile open(Path archive) throws BadArchiveException, IOException {
        try {
            return new ZipFile(archive.toFile());
        } catch (java.util.zip.ZipException e) {
            throw new BadArchiveException(archive + " is not a whole backup archive (truncated, damaged, or not a"
                    + " backup of virtfleet-controller): " + e.getMessage(), e);
        }
    }

    private static void check(Path archive, Entry e, InputStream in, OutputStream out) throws BadArchiveException, IOException {
        MessageDigest sha = sha256();
        long size = 0;
        byte[] buffer = new byte[64 * 1024];
        try {
            // At most one byte more than the manifest says: a longer entry is refused without being inflated to its
            // end (a small archive must not make the restore write or hash gigabytes).
            for (int n = in.read(buffer, 0, (int) Math.min(buffer.length, e.size() + 1)); n > 0;
                 n = in.read(buffer, 0, (int) Math.min(buffer.length, e.size() + 1 - size))) {
                sha.update(buffer, 0, n);
                out.write(buffer, 0, n);
                size += n;
                if (size > e.size()) {
                    break;
                }
            }
        } catch (java.util.zip.ZipException | java.io.EOFException ex) {
            throw new BadArchiveException(archive + " is damaged at " + e.path() + ": " + ex.getMessage(), ex);
        }
        String got = HexFormat.of().formatHex(sha.digest());
        if (size != e.size() || !got.equals(e.sha256())) {
            throw new BadArchiveException(archive + " is damaged at " + e.path() + ": " + size + " bytes with SHA-256 "
                    + got + ", the manifest says " + e.size() + " bytes with SHA-256 " + e.sha256());
        }
    }

    static Manifest manifest(ZipFile zip, Path archive) throws BadArchiveException, IOException {
        ZipEntry m = zip.getEntry(MANIFEST);
        if (m == null) {
            throw new BadArchiveException(archive + " has no " + MANIFEST + ": not a backup of virtfleet-controller");
        }
        String text;
        try (InputStream in = zip.getInputStream(m)) {
            text = new String(in.readNBytes(16 * 1024 * 1024), StandardCharsets.UTF_8);
        } catch (java.util.zip.ZipException e) {
            throw new BadArchiveException(archive + " is damaged at its manifest: " + e.getMessage(), e);
        }
        return parse(text, archive);
    }

    static String render(Manifest m) {
        StringBuilder body = new StringBuilder();
        body.append(MAGIC).append(' ').append(m.format()).append('\n');
        body.append("taken-at ").append(m.takenAt()).append('\n');
        body.append("definitions-head ").append(m.definitionsHead().isEmpty() ? "-" : m.definitionsHead()).append('\n');
        for (Entry e : m.entries()) {
            if (e.directory()) {
                body.append("dir ").append(octal(e.mode())).append(' ').append(e.path()).append('\n');
            } else {
                body.append("file ").append(octal(e.mode())).append(' ').append(e.size()).append(' ').append(e.sha256())
                        .append(' ').append(e.path()).append('\n');
            }
        }
        return body + "end " + hex(body.toString()) + "\n";
    }

    static Manifest parse(String text, Path archive) throws BadArchiveException {
        String[] lines = text.split("\n", -1);
        String first = lines[0];
        if (!first.startsWith(MAGIC + " ")) {
            throw new BadArchiveException(archive + ": its manifest does not start with '" + MAGIC + " FORMAT'; not a"
                    + " backup of virtfleet-controller");
        }
        int format;
        try {
            format = Integer.parseInt(first.substring(MAGIC.length() + 1).strip());
        } catch (NumberFormatException e) {
            throw new BadArchiveException(archive + ": backup format '" + first.substring(MAGIC.length() + 1)
                    + "' is no number; this virtfleet-controller reads format " + FORMAT);
        }
        if (format != FORMAT) {
            throw new BadArchiveException(archive + " is of backup format " + format + "; this virtfleet-controller reads"
                    + " format " + FORMAT + " only (restore it with the virtfleet-controller version that made it)");
        }
        int end = text.lastIndexOf("end ");
        if (end < 0 || !text.endsWith("\n") || text.indexOf('\n', end) != text.length() - 1) {
            throw new BadArchiveException(archive + ": its manifest has no final 'end CHECKSUM' line (cut short)");
        }
        String body = text.substring(0, end);
        String sum = text.substring(end + 4, text.length() - 1);
        if (!sum.equals(hex(body))) {
            throw new BadArchiveException(archive + ": its manifest's checksum is " + sum + " but its lines hash to "
                    + hex(body) + " (the manifest was changed or damaged)");
        }
        Instant takenAt = null;
        String head = "";
        List<Entry> entries = new ArrayList<>();
        java.util.Set<String> seen = new java.util.HashSet<>();
        String[] bodyLines = body.split("\n");
        for (int i = 1; i < bodyLines.length; i++) {
            String line = bodyLines[i];
            String[] f = line.split(" ");
            try {
                switch (f[0]) {
                    case "taken-at" -> takenAt = Instant.parse(f[1]);
                    case "definitions-head" -> head = f[1].equals("-") ? "" : f[1];
                    case "dir" -> entries.add(new Entry(path(f[2], archive), true, Integer.parseInt(f[1], 8), 0, ""));
                    case "file" -> {
                        if (f.length != 5 || !f[3].matches("[0-9a-f]{64}")) {
                            throw new IllegalArgumentException("not 'file MODE SIZE SHA256 PATH'");
                        }
                        entries.add(new Entry(path(f[4], archive), false, Integer.parseInt(f[1], 8), Long.parseLong(f[2]), f[3]));
                    }
                    default -> throw new IllegalArgumentException("unknown line");
                }
            } catch (IllegalArgumentException | ArrayIndexOutOfBoundsException | java.time.DateTimeException e) {
                throw new BadArchiveException(archive + ": manifest line " + (i + 1) + " is unreadable ('" + line + "': "
                        + e.getMessage() + ")");
            }
            if (!entries.isEmpty() && (f[0].equals("dir") || f[0].equals("file"))) {
                Entry last = entries.get(entries.size() - 1);
                if (!seen.add(last.path())) {
                    throw new BadArchiveException(archive + ": its manifest lists " + last.path() + " twice");
                }
                if ((last.mode() & ~0777) != 0) {
                    throw new BadArchiveException(archive + ": mode " + octal(last.mode()) + " of " + last.path()
                            + " is not a permission mode (0 to 0777)");
                }
            }
        }
        if (takenAt == null) {
            throw new BadArchiveException(archive + ": its manifest has no 'taken-at' line");
        }
        // Every parent is listed as a directory (the writer lists them all): a restore gives each its recorded mode
        // and owner, and makes none with the umask's.
        java.util.Set<String> dirs = new java.util.HashSet<>();
        for (Entry e : entries) {
            if (e.directory()) {
                dirs.add(e.path());
            }
        }
        for (Entry e : entries) {
            int slash = e.path().lastIndexOf('/');
            if (slash > 0 && !dirs.contains(e.path().substring(0, slash))) {
                throw new BadArchiveException(archive + ": its manifest lists " + e.path() + " but not its directory "
                        + e.path().substring(0, slash));
            }
        }
        return new Manifest(format, takenAt, head, List.copyOf(entries));
    }

    private static String path(String path, Path archive) throws BadArchiveException {
        if (!PATH.matcher(path).matches() || Stream.of(path.split("/")).anyMatch(c -> c.equals(".") || c.equals(".."))) {
            throw new BadArchiveException(archive + ": its manifest names path '" + path + "', which is not a plain"
                    + " relative path inside the data directory");
        }
        return path;
    }

    /** The definitions repository's branch commit, read from git's files as they are (no lock of the repository). */
    static String definitionsHead(Path dataDir) throws IOException {
        Path git = dataDir.resolve("definitions").resolve(".git");
        Path headFile = git.resolve("HEAD");
        if (!Files.isRegularFile(headFile)) {
            return "";
        }
        String head = Files.readString(headFile).strip();
        if (!head.startsWith("ref: ")) {
            return head;
        }
        String ref = head.substring(5);
        Path loose = git.resolve(ref);
        if (Files.isRegularFile(loose)) {
            return Files.readString(loose).strip();
        }
        Path packed = git.resolve("packed-refs");
        if (Files.isRegularFile(packed)) {
            for (String line : Files.readAllLines(packed)) {
                if (line.endsWith(" " + ref)) {
                    return line.substring(0, line.indexOf(' '));
                }
            }
        }
        return "";
    }

    static String slashed(Path relative) {
        StringBuilder s = new StringBuilder();
        for (Path part : relative) {
            if (s.length() > 0) {
                s.append('/');
            }
            s.append(part);
        }
        return s.toString();
    }

    static int mode(Path p) throws IOException {
        Set<PosixFilePermission> perms = Files.getPosixFilePermissions(p, LinkOption.NOFOLLOW_LINKS);
        int mode = 0;
        for (PosixFilePermission perm : perms) {
            mode |= 1 << (8 - perm.ordinal());
        }
        return mode;
    }

    static Set<PosixFilePermission> permissions(int mode) {
        Set<PosixFilePermission> out = EnumSet.noneOf(PosixFilePermission.class);
        for (PosixFilePermission perm : PosixFilePermission.values()) {
            if ((mode & (1 << (8 - perm.ordinal()))) != 0) {
                out.add(perm);
            }
        }
        return out;
    }

    static String octal(int mode) {
        return String.format("%04o", mode);
    }

    static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    private static String hex(String s) {
        return HexFormat.of().formatHex(sha256().digest(s.getBytes(StandardCharsets.UTF_8)));
    }
}
