package io.virtfleet.controller.backup;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.virtfleet.common.files.StateFiles;
import io.virtfleet.common.files.WriteGate;
import io.virtfleet.controller.dashboard.DashboardAuthority;
import io.virtfleet.controller.definitions.DefinitionsRepo;
import io.virtfleet.controller.trust.ControllerPki;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneId;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.stream.Stream;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;
import java.util.zip.ZipOutputStream;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A backup archive of a real data directory (the fleet CA and the controller's keys as {@link ControllerPki} makes
 * them, a definitions repository with commits as {@link DefinitionsRepo} makes them, journals written through
 * {@link StateFiles}): restored whole with its modes, and refused, with nothing written, when it is truncated,
 * damaged, of another format, or aimed at a directory that is not empty.
 */
class BackupArchiveTest {
    private static final Clock CLOCK = Clock.fixed(Instant.parse("2026-12-07T12:00:00Z"), ZoneOffset.UTC);

    @TempDir
    Path work;
    private Path data;

    @BeforeEach
    void aControllersDataDirectory() throws IOException {
        data = work.resolve("old-machine/controller");
        ControllerPki.open(data, Clock.systemUTC(), Duration.ofDays(90));
        DefinitionsRepo repo = DefinitionsRepo.open(data.resolve("definitions"));
        repo.commit("create web on hv1", "admin", Map.of("vms/web.json", "{\"spec\":{\"name\":\"web\"}}\n"
                .getBytes(StandardCharsets.UTF_8), "etc/libvirt/qemu/web.xml", "<domain/>\n".getBytes(StandardCharsets.UTF_8)), Set.of());
        repo.commit("create db on hv2", "admin", Map.of("vms/db.json", "{\"spec\":{\"name\":\"db\"}}\n"
                .getBytes(StandardCharsets.UTF_8)), Set.of());
        StateFiles.write(data.resolve("claims"), "+ web hv1 2147483648 2 STORAGE_TIER_RAW 10737418240 - 1\n");
        StateFiles.writePrivate(data.resolve("enrolled-hosts"), "hv1 abc\nhv2 def\n");
        StateFiles.write(data.resolve("moves").resolve("web"), "source=hv1\ntarget=hv2\n");
    }

    private Path backup(String name) throws Exception {
        Path archive = work.resolve(name);
        new Snapshot(data, CLOCK, Duration.ofSeconds(5)).takeInto(archive);
        return archive;
    }

    @Test
    void restoredIntoANewDirectoryHoldsEveryFileWithItsModeAndKeysOwnerOnly() throws Exception {
        Path archive = backup("b.zip");
        assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(archive)),
                "the archive holds the CA's key");

        Path target = work.resolve("new-machine/controller");
        Restore.Result r = Restore.restore(archive, target, false, null, null, CLOCK);

        assertEquals(contents(data), withoutHoldMarker(contents(target)), "every file, byte for byte");
        assertEquals("taken-at " + r.manifest().takenAt() + "\nrestored-at " + CLOCK.instant() + "\n",
                Files.readString(target.resolve(RestoreHold.FILE)), "the controller started there holds (RestoreHold)");
        assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(target.resolve(RestoreHold.FILE))));
        assertEquals(null, r.movedAside());
        assertEquals(BackupArchive.definitionsHead(data), r.manifest().definitionsHead());
        assertEquals(40, r.manifest().definitionsHead().length());
        assertEquals("rwx------", PosixFilePermissions.toString(Files.getPosixFilePermissions(target)));
        try (Stream<Path> pki = Files.list(target.resolve("pki"))) {
            for (Path p : pki.toList()) {
                assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(p)), p.toString());
            }
        }
        assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(target.resolve("enrolled-hosts"))));
        // The restored repository is one the controller opens, with both commits.
        DefinitionsRepo restored = DefinitionsRepo.open(target.resolve("definitions"));
        assertEquals(r.manifest().definitionsHead(), restored.head());
        assertEquals(2, restored.history("vms/web.json", "vms/db.json").size(), "both creates");
        try (Stream<Path> left = Files.list(target.getParent())) {
            assertEquals(List.of(target), left.toList(), "no staging directory left");
        }
    }

    /** The dashboard CA is made again by a controller that lacks it: no backup holds it (nor its directory). */
    @Test
    void theDashboardCaIsLeftOutAndMadeAnewAfterARestore() throws Exception {
        List<String> names = List.of("localhost", "127.0.0.1");
        io.virtfleet.common.security.CertificateAuthority before = DashboardAuthority.open(data, names, Duration.ofDays(90),
                Clock.systemUTC());
        Path archive = backup("b.zip");
        try (java.util.zip.ZipFile zip = new java.util.zip.ZipFile(archive.toFile())) {
            List<String> entries = zip.stream().map(java.util.zip.ZipEntry::getName).toList();
            assertTrue(entries.contains("data/pki/ca.key"), entries.toString());
            assertTrue(entries.stream().noneMatch(e -> e.contains(DashboardAuthority.DIRECTORY)), entries.toString());
            String manifest = new String(zip.getInputStream(zip.getEntry("MANIFEST")).readAllBytes(), StandardCharsets.UTF_8);
            assertFalse(manifest.contains(DashboardAuthority.DIRECTORY), manifest);
        }
        Path target = work.resolve("new-machine/controller");
        Restore.restore(archive, target, false, null, null, CLOCK);
        assertFalse(Files.exists(target.resolve(DashboardAuthority.DIRECTORY)));
        io.virtfleet.common.security.CertificateAuthority after = DashboardAuthority.open(target, names, Duration.ofDays(90),
                Clock.systemUTC());
        assertFalse(before.fingerprint().equals(after.fingerprint()), "a new dashboard CA on the restored controller");
    }

    @Test
    void aTruncatedArchiveIsRefusedAndNothingIsWritten() throws Exception {
        Path archive = backup("b.zip");
        byte[] all = Files.readAllBytes(archive);
        Path cut = work.resolve("cut.zip");
        Files.write(cut, java.util.Arrays.copyOf(all, all.length / 2));

        Path target = work.resolve("new-machine/controller");
        BackupArchive.BadArchiveException e = assertThrows(BackupArchive.BadArchiveException.class,
                () -> Restore.restore(cut, target, false, null, null, CLOCK));
        assertTrue(e.getMessage().contains("not a whole backup archive"), e.getMessage());
        assertFalse(Files.exists(target.getParent()), "nothing written");
    }

    @Test
    void aDamagedFileInTheArchiveIsRefusedByItsChecksum() throws Exception {
        Path archive = backup("b.zip");
        // Rebuild the archive with one byte of the claims journal changed and its ZIP checksum right: only the
        // manifest's SHA-256 can tell.
        Path damaged = rewrite(archive, "data/claims", bytes -> {
            bytes[2] = (byte) (bytes[2] ^ 1);
            return bytes;
        });
        Path target = work.resolve("new-machine/controller");
        BackupArchive.BadArchiveException e = assertThrows(BackupArchive.BadArchiveException.class,
                () -> Restore.restore(damaged, target, false, null, null, CLOCK));
        assertTrue(e.getMessage().contains("is damaged at claims"), e.getMessage());
        assertFalse(Files.exists(target.getParent()), "nothing written");

        // A byte of the journal's compressed data flipped in the archive as written: the ZIP's CRC or inflater, or
        // the manifest's SHA-256, catches it.
        byte[] all = Files.readAllBytes(archive);
        byte[] name = "data/claims".getBytes(StandardCharsets.US_ASCII);
        int at = indexOf(all, name); // in its local header, which comes first
        int extra = (all[at - 2] & 0xff) | (all[at - 1] & 0xff) << 8;
        all[at + name.length + extra + 1] ^= 0x10;
        Path flipped = work.resolve("flipped.zip");
        Files.write(flipped, all);
        assertThrows(BackupArchive.BadArchiveException.class, () -> Restore.restore(flipped, target, false, null, null, CLOCK));
        assertFalse(Files.exists(target.getParent()), "nothing written");
    }

    @Test
    void anArchiveOfAnotherFormatIsRefusedNamingBoth() throws Exception {
        Path archive = backup("b.zip");
        Path newer = rewrite(archive, BackupArchive.MANIFEST, bytes -> {
            String text = new String(bytes, StandardCharsets.UTF_8);
            String body = text.substring(0, text.lastIndexOf("end ")).replaceFirst("virtfleet-controller-backup 1",
                    "virtfleet-controller-backup 2");
            BackupArchive.Manifest m;
            try {
                m = BackupArchive.parse(text, archive);
            } catch (BackupArchive.BadArchiveException e) {
                throw new AssertionError(e);
            }
            // A well-made manifest of format 2: its checksum right, so only the version refuses it.
            String rendered = BackupArchive.render(new BackupArchive.Manifest(2, m.takenAt(), m.definitionsHead(), m.entries()));
            assertTrue(rendered.startsWith(body.substring(0, 30)));
            return rendered.getBytes(StandardCharsets.UTF_8);
        });
        Path target = work.resolve("new-machine/controller");
        BackupArchive.BadArchiveException e = assertThrows(BackupArchive.BadArchiveException.class,
                () -> Restore.restore(newer, target, false, null, null, CLOCK));
        assertTrue(e.getMessage().contains("backup format 2; this virtfleet-controller reads format 1"), e.getMessage());
        assertFalse(Files.exists(target.getParent()), "nothing written");

        Path edited = rewrite(archive, BackupArchive.MANIFEST, bytes -> new String(bytes, StandardCharsets.UTF_8)
                .replace("file 0600", "file 0644").getBytes(StandardCharsets.UTF_8));
        e = assertThrows(BackupArchive.BadArchiveException.class, () -> Restore.restore(edited, target, false, null, null, CLOCK));
        assertTrue(e.getMessage().contains("manifest's checksum"), e.getMessage());
    }

    @Test
    void aDirectoryThatIsNotEmptyIsRefusedWithoutForceAndMovedAsideWithIt() throws Exception {
        Path archive = backup("b.zip");
        Path target = work.resolve("new-machine/controller");
        StateFiles.write(target.resolve("claims"), "+ other hv9 1 1 STORAGE_TIER_RAW 0 - 1\n");

        Restore.TargetNotEmptyException e = assertThrows(Restore.TargetNotEmptyException.class,
                () -> Restore.restore(archive, target, false, null, null, CLOCK));
        assertTrue(e.getMessage().contains("--force"), e.getMessage());
        assertEquals("+ other hv9 1 1 STORAGE_TIER_RAW 0 - 1\n", Files.readString(target.resolve("claims")), "untouched");

        Restore.Result r = Restore.restore(archive, target, true, null, null, CLOCK);
        assertEquals(work.resolve("new-machine/controller.before-restore-20261207T120000Z"), r.movedAside());
        assertEquals("+ other hv9 1 1 STORAGE_TIER_RAW 0 - 1\n", Files.readString(r.movedAside().resolve("claims")), "kept");
        assertEquals(contents(data), withoutHoldMarker(contents(target)));
        assertTrue(Files.exists(target.resolve(RestoreHold.FILE)));

        // An empty directory (made by the package) is no reason to refuse.
        Path empty = work.resolve("third/controller");
        Files.createDirectories(empty);
        Restore.restore(archive, empty, false, null, null, CLOCK);
        assertEquals(contents(data), withoutHoldMarker(contents(empty)));
    }

    @Test
    void restoreAndReissueAdminFindTheDataDirectoryInTheControllersConfigurationFile() throws Exception {
        Path archive = backup("b.zip");
        Path configured = work.resolve("elsewhere/controller");
        Path conf = work.resolve("controller.conf");
        Files.writeString(conf, "listen = 127.0.0.1:7443\ndata-dir = " + configured + "\n");
        Path noDefault = work.resolve("no-such-default.conf"); // as on a machine without /etc/virtfleet/controller.conf
        List<String> owner = runsAsRoot() ? List.of("--owner", "root") : List.of();

        List<String> args = new java.util.ArrayList<>(List.of("restore", "--from", archive.toString(), "--config",
                conf.toString()));
        args.addAll(owner);
        assertEquals(0, io.virtfleet.common.config.ConfiguredCommand.run(new io.virtfleet.controller.ControllerMain(),
                noDefault, args.toArray(String[]::new)));
        assertEquals(contents(data), withoutHoldMarker(contents(configured)), "restored into the configured data-dir");

        // --data-dir on the command line wins over the file.
        Path given = work.resolve("given/controller");
        args = new java.util.ArrayList<>(List.of("restore", "--from", archive.toString(), "--config", conf.toString(),
                "--data-dir", given.toString()));
        args.addAll(owner);
        assertEquals(0, io.virtfleet.common.config.ConfiguredCommand.run(new io.virtfleet.controller.ControllerMain(),
                noDefault, args.toArray(String[]::new)));
        assertEquals(contents(data), withoutHoldMarker(contents(given)));

        // reissue-admin signs with the CA of the configured data directory.
        Path pem = work.resolve("admin.pem");
        assertEquals(0, io.virtfleet.common.config.ConfiguredCommand.run(new io.virtfleet.controller.ControllerMain(),
                noDefault, "reissue-admin", "--name", "root-again", "--out", pem.toString(), "--config", conf.toString()));
        var bundle = io.virtfleet.common.security.CredentialsBundle.read(pem);
        var ca = ControllerPki.open(configured, Clock.systemUTC(), Duration.ofDays(90)).credentials().ca();
        assertEquals(ca, bundle.ca(), "the configured directory's CA (the backup's)");
        bundle.certificate().verify(ca.getPublicKey());

        // A --config that does not exist is refused, naming it; nothing is written.
        Path none = work.resolve("none.conf");
        Path untouched = work.resolve("untouched/controller");
        assertEquals(2, io.virtfleet.common.config.ConfiguredCommand.run(new io.virtfleet.controller.ControllerMain(),
                noDefault, "restore", "--from", archive.toString(), "--config", none.toString()));
        assertFalse(Files.exists(untouched));
    }

    @Test
    void restoreDropsEveryUnexpiredJoinTokenSaysHowOldTheBackupIsAndWhatToRedo() throws Exception {
        // The restore command reads the machine's clock, so the tokens are made relative to it: a token of a
        // fixed date would expire under a later run and the command would have nothing to drop.
        Clock now = Clock.fixed(Instant.now().truncatedTo(java.time.temporal.ChronoUnit.SECONDS), ZoneOffset.UTC);
        String ca = "ab".repeat(32);
        Path file = data.resolve("join-tokens");
        new io.virtfleet.controller.trust.JoinTokens(file, Clock.fixed(now.instant().minus(Duration.ofDays(2)),
                ZoneOffset.UTC), ca).create(Duration.ofHours(1), "hv8", false); // expired a day before the backup
        var live = new io.virtfleet.controller.trust.JoinTokens(file, now, ca);
        var unused = live.create(Duration.ofHours(6), "hv9", false);
        live.checkKnown(unused.token(), "hv9"); // valid in the backed-up state
        Path archive = work.resolve("b.zip");
        new Snapshot(data, Clock.offset(now, Duration.ofHours(-3).minusMinutes(5)), Duration.ofSeconds(5)).takeInto(archive);

        Path target = work.resolve("new-machine/controller");
        Restore.Result r = Restore.restore(archive, target, false, null, null, now);
        assertEquals(1, r.joinTokensDropped());
        List<String> kept = Files.readAllLines(target.resolve("join-tokens"));
        assertEquals(1, kept.size(), kept.toString());
        assertTrue(kept.get(0).contains(" hv8 "), "the expired one stays as it was: " + kept);
        assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(target.resolve("join-tokens"))));
        var restored = new io.virtfleet.controller.trust.JoinTokens(target.resolve("join-tokens"), now, ca);
        assertThrows(io.virtfleet.controller.trust.JoinRefusedException.class, () -> restored.checkKnown(unused.token(), "hv9"),
                "a token of the backup enrolls nothing after the restore");

        // The command says how old the backup is and what to redo.
        java.io.StringWriter out = new java.io.StringWriter();
        java.io.StringWriter err = new java.io.StringWriter();
        List<String> args = new java.util.ArrayList<>(List.of("restore", "--from", archive.toString(), "--data-dir",
                work.resolve("third/controller").toString()));
        if (runsAsRoot()) {
            args.addAll(List.of("--owner", "root"));
        }
        picocli.CommandLine cli = new picocli.CommandLine(new io.virtfleet.controller.ControllerMain());
        cli.registerConverter(Duration.class, io.virtfleet.common.units.Durations::parse); // as ConfiguredCommand does
        int code = cli.setOut(new java.io.PrintWriter(out)).setErr(new java.io.PrintWriter(err))
                .execute(args.toArray(String[]::new));
        assertEquals(0, code, err.toString());
        String text = out.toString();
        assertTrue(text.contains("min old (taken at "), text);
        assertTrue(text.contains("1 unexpired token(s) of the backup were dropped"), text);
        assertTrue(text.contains("virtfleet agent token create --host HOST --reenroll"), text);
        assertTrue(text.contains("virtfleet operator revoke NAME"), text);
        assertEquals("The backup is 3h 5min old (taken at 2026-12-07T08:55:00Z).", RestoreCommand.age(
                Instant.parse("2026-12-07T08:55:00Z"), CLOCK.instant()));
        assertEquals("The backup is 2d 0h 1min old (taken at 2026-12-05T11:59:00Z).", RestoreCommand.age(
                Instant.parse("2026-12-05T11:59:00Z"), CLOCK.instant()));
    }

    @Test
    void theRepositorysObjectsAreCopiedBeforeTheGateClosesAndThoseMadeSinceUnderIt() throws Exception {
        Path archive = work.resolve("two-pass.zip");
        DefinitionsRepo repo = DefinitionsRepo.open(data.resolve("definitions"));
        BackupArchive.Manifest m;
        BackupArchive.Writer writer;
        int early;
        try (java.io.OutputStream out = Files.newOutputStream(archive)) {
            writer = new BackupArchive.Writer(data, out);
            early = writer.copyImmutable();
            assertEquals(files(data).stream().filter(BackupArchive::immutable).count(), early,
                    "every object present is copied with the gate open");
            assertTrue(early >= 6, "two commits' commits, trees and blobs: " + early);
            // A commit between the two passes: its objects and the branch's move are in the archive all the same.
            repo.commit("create cache on hv2", "admin", Map.of("vms/cache.json", "{\"spec\":{\"name\":\"cache\"}}\n"
                    .getBytes(StandardCharsets.UTF_8)), Set.of());
            m = writer.finish(CLOCK.instant());
        }
        List<String> now = files(data);
        assertEquals(now.size() - early, writer.copiedLate(), "under the gate: only what the first pass did not copy");
        assertTrue(now.stream().filter(BackupArchive::immutable).count() > early, "the commit made new objects");
        assertEquals(repo.head(), m.definitionsHead());
        BackupArchive.verify(archive);
        Path target = work.resolve("new-machine/controller");
        Restore.restore(archive, target, false, null, null, CLOCK);
        assertEquals(contents(data), withoutHoldMarker(contents(target)), "every file, byte for byte");
        DefinitionsRepo restored = DefinitionsRepo.open(target.resolve("definitions"));
        assertEquals(repo.head(), restored.head());
        assertEquals(3, restored.history("vms/web.json", "vms/db.json", "vms/cache.json").size());
    }

    /** The data directory's regular files as the archive names them, without those a backup leaves out. */
    private static List<String> files(Path dir) throws IOException {
        try (Stream<Path> walk = Files.walk(dir)) {
            return walk.filter(Files::isRegularFile).map(dir::relativize)
                    .filter(p -> !BackupArchive.leftOut(p)).map(BackupArchive::slashed).sorted().toList();
        }
    }

    @Test
    void aManifestListingAFileButNotItsDirectoryIsRefused() throws Exception {
        String sha = "0".repeat(64);
        String withDir = BackupArchive.render(new BackupArchive.Manifest(BackupArchive.FORMAT, CLOCK.instant(), "",
                List.of(new BackupArchive.Entry("pki", true, 0700, 0, ""), new BackupArchive.Entry("pki/ca.key", false, 0600, 0, sha))));
        assertEquals(2, BackupArchive.parse(withDir, work.resolve("a.zip")).entries().size());
        String without = BackupArchive.render(new BackupArchive.Manifest(BackupArchive.FORMAT, CLOCK.instant(), "",
                List.of(new BackupArchive.Entry("pki/ca.key", false, 0600, 0, sha))));
        BackupArchive.BadArchiveException e = assertThrows(BackupArchive.BadArchiveException.class,
                () -> BackupArchive.parse(without, work.resolve("a.zip")));
        assertTrue(e.getMessage().contains("lists pki/ca.key but not its directory pki"), e.getMessage());
    }

    @Test
    void aFailedSwapPutsThePreviousDirectoryBackOrSaysWhereItIs() throws Exception {
        Path target = work.resolve("swap/controller");
        Path staging = work.resolve("swap/.controller.restoring-1");
        Path aside = work.resolve("swap/controller.before-restore-20261207T120000Z");
        StateFiles.write(target.resolve("claims"), "old\n");
        StateFiles.write(staging.resolve("claims"), "new\n");

        // The second rename fails: the first is undone, and the target is said (and is) unchanged.
        int[] calls = {0};
        IOException back = assertThrows(IOException.class, () -> Restore.swap(staging, target, aside, (from, to) -> {
            if (++calls[0] == 2) {
                throw new IOException("injected failure");
            }
            Files.move(from, to, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
        }));
        assertTrue(back.getMessage().contains("moved back from " + aside) && back.getMessage().endsWith(target
                + " is unchanged"), back.getMessage());
        assertEquals("old\n", Files.readString(target.resolve("claims")));
        assertFalse(Files.exists(aside));

        // The move back fails too: the message names where the previous state is, and never says unchanged.
        calls[0] = 0;
        IOException stuck = assertThrows(IOException.class, () -> Restore.swap(staging, target, aside, (from, to) -> {
            if (++calls[0] >= 2) {
                throw new IOException("injected failure " + calls[0]);
            }
            Files.move(from, to, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
        }));
        assertTrue(stuck.getMessage().contains("the previous state is in " + aside), stuck.getMessage());
        assertFalse(stuck.getMessage().contains("unchanged"), stuck.getMessage());
        assertFalse(Files.exists(target));
        assertEquals("old\n", Files.readString(aside.resolve("claims")));

        // The first rename fails: nothing moved.
        Files.move(aside, target);
        IOException first = assertThrows(IOException.class, () -> Restore.swap(staging, target, aside, (from, to) -> {
            throw new IOException("injected failure");
        }));
        assertTrue(first.getMessage().endsWith(target + " is unchanged"), first.getMessage());
        assertEquals("old\n", Files.readString(target.resolve("claims")));
    }

    private static boolean runsAsRoot() throws IOException {
        return Integer.valueOf(0).equals(Files.getAttribute(Path.of("/proc/self"), "unix:uid"));
    }

    @Test
    void aDirectoryARunningControllerHoldsIsRefusedEvenWithForceAndItsLockIsNotBackedUp() throws Exception {
        Path target = work.resolve("new-machine/controller");
        StateFiles.write(target.resolve("claims"), "+ other hv9 1 1 STORAGE_TIER_RAW 0 - 1\n");
        try (io.virtfleet.controller.DataDirectoryLock held = io.virtfleet.controller.DataDirectoryLock.tryTake(target).orElseThrow();
             io.virtfleet.controller.DataDirectoryLock ours = io.virtfleet.controller.DataDirectoryLock.tryTake(data).orElseThrow()) {
            Path archive = backup("b.zip");
            Restore.TargetNotEmptyException e = assertThrows(Restore.TargetNotEmptyException.class,
                    () -> Restore.restore(archive, target, true, null, null, CLOCK));
            assertTrue(e.getMessage().contains("a controller is running"), e.getMessage());
            assertEquals("+ other hv9 1 1 STORAGE_TIER_RAW 0 - 1\n", Files.readString(target.resolve("claims")), "untouched");
            try (Stream<Path> beside = Files.list(target.getParent())) {
                assertEquals(List.of(target), beside.toList(), "nothing moved aside, no staging left");
            }
            try (ZipFile zip = new ZipFile(archive.toFile())) {
                assertEquals(null, zip.getEntry(BackupArchive.DATA + io.virtfleet.controller.DataDirectoryLock.FILE_NAME), "the lock is a process's, not state");
            }
        }
        // Once that controller stopped, the forced restore goes ahead.
        Restore.restore(backup("c.zip"), target, true, null, null, CLOCK);
        assertEquals(contents(data), withoutHoldMarker(contents(target)));
    }

    @Test
    void aControllerStartingWhileTheRestoreWorksFindsTheDirectoryTakenUntilTheSwapIsDone() throws Exception {
        Path archive = backup("b.zip");
        Path target = work.resolve("new-machine/controller");
        StateFiles.write(target.resolve("claims"), "+ other hv9 1 1 STORAGE_TIER_RAW 0 - 1\n");
        // The restore reads its clock after unpacking (to judge the join tokens): the moment a controller started by
        // a timer or by hand would try to take the directory that is about to be renamed aside.
        List<Boolean> takenMidway = new ArrayList<>();
        Clock probing = new Clock() {
            @Override public ZoneId getZone() { return ZoneOffset.UTC; }
            @Override public Clock withZone(ZoneId zone) { return this; }
            @Override public Instant instant() {
                if (takenMidway.isEmpty()) {
                    try {
                        Optional<io.virtfleet.controller.DataDirectoryLock> lock =
                                io.virtfleet.controller.DataDirectoryLock.tryTake(target);
                        takenMidway.add(lock.isPresent());
                        lock.ifPresent(io.virtfleet.controller.DataDirectoryLock::close);
                    } catch (IOException e) {
                        throw new java.io.UncheckedIOException(e);
                    }
                }
                return CLOCK.instant();
            }
        };
        Restore.Result r = Restore.restore(archive, target, true, null, null, probing);
        assertEquals(List.of(false), takenMidway, "a second process could take the data directory during the restore");
        assertEquals(contents(data), withoutHoldMarker(contents(target)));
        try (io.virtfleet.controller.DataDirectoryLock after = io.virtfleet.controller.DataDirectoryLock.tryTake(target)
                .orElseThrow(() -> new AssertionError("the restored directory is still locked after the restore"))) {
            assertTrue(Files.exists(r.movedAside()));
        }
    }

    @Test
    void theGateKeepsStateWritesOutWhileTheCopyIsTaken() throws Exception {
        Path file = data.resolve("drained-hosts");
        CountDownLatch written = new CountDownLatch(1);
        CompletableFuture<Void> writer;
        try (WriteGate.Pass closed = WriteGate.close(Duration.ofSeconds(5))) {
            writer = CompletableFuture.runAsync(() -> {
                try {
                    StateFiles.writePrivate(file, "hv1\n");
                    written.countDown();
                } catch (IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            });
            io.virtfleet.controller.testkit.Await.until("the writer waits at the gate", Duration.ofSeconds(20),
                    () -> WriteGate.waiting() > 0);
            assertFalse(Files.exists(file), "the write waits while the gate is closed");
        }
        writer.get();
        assertTrue(Files.exists(file), "written once the gate opened");

        // A writer inside keeps the gate from closing: the backup gives up and the writer is not disturbed.
        CountDownLatch inside = new CountDownLatch(1);
        CountDownLatch leave = new CountDownLatch(1);
        CompletableFuture<Void> longWrite = CompletableFuture.runAsync(() -> {
            try (WriteGate.Pass pass = WriteGate.enter()) {
                inside.countDown();
                leave.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
        inside.await();
        assertThrows(WriteGate.GateBusyException.class, () -> new Snapshot(data, CLOCK, Duration.ofMillis(200))
                .takeInto(work.resolve("busy.zip")));
        assertFalse(Files.exists(work.resolve("busy.zip")), "no archive left");
        leave.countDown();
        longWrite.get();
        assertFalse(WriteGate.closed());
    }

    // ---- helpers ---------------------------------------------------------------------------------------------

    /** Every regular file under {@code dir} (no temporaries, no git locks), by relative path, with its bytes. */
    private static Map<String, String> contents(Path dir) throws IOException {
        Map<String, String> out = new TreeMap<>();
        try (Stream<Path> walk = Files.walk(dir)) {
            for (Path p : walk.filter(Files::isRegularFile).toList()) {
                Path rel = dir.relativize(p);
                if (!BackupArchive.leftOut(rel)) {
                    out.put(BackupArchive.slashed(rel), java.util.HexFormat.of().formatHex(
                            BackupArchive.sha256().digest(Files.readAllBytes(p))));
                }
            }
        }
        return out;
    }

    /** A copy of the archive with one entry's bytes changed by {@code change} (the ZIP itself well formed). */
    private Path rewrite(Path archive, String entry, java.util.function.UnaryOperator<byte[]> change) throws IOException {
        Path out = work.resolve("rewritten-" + System.nanoTime() + ".zip");
        try (ZipFile in = new ZipFile(archive.toFile()); ZipOutputStream zip = new ZipOutputStream(Files.newOutputStream(out))) {
            var entries = in.entries();
            while (entries.hasMoreElements()) {
                ZipEntry e = entries.nextElement();
                byte[] bytes;
                try (InputStream s = in.getInputStream(e)) {
                    bytes = s.readAllBytes();
                }
                if (e.getName().equals(entry)) {
                    bytes = change.apply(bytes);
                }
                zip.putNextEntry(new ZipEntry(e.getName()));
                zip.write(bytes);
                zip.closeEntry();
            }
        }
        return out;
    }

    private static int indexOf(byte[] all, byte[] part) {
        outer:
        for (int i = 0; i + part.length <= all.length; i++) {
            for (int j = 0; j < part.length; j++) {
                if (all[i + j] != part[j]) {
                    continue outer;
                }
            }
            return i;
        }
        return -1;
    }

    /** A restored directory's files but the restore hold's marker, which restore adds. */
    private static <V> java.util.Map<String, V> withoutHoldMarker(java.util.Map<String, V> files) {
        java.util.Map<String, V> out = new java.util.TreeMap<>(files);
        out.remove(RestoreHold.FILE);
        return out;
    }
}
