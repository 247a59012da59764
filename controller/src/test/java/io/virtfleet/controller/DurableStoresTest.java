package io.virtfleet.controller;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.virtfleet.agent.AgentIdentity;
import io.virtfleet.common.files.FileSync;
import io.virtfleet.common.security.CredentialsBundle;
import io.virtfleet.common.security.Keys;
import io.virtfleet.common.security.FleetIdentity;
import io.virtfleet.controller.install.InstallBook;
import io.virtfleet.controller.install.PxeConfigs;
import io.virtfleet.controller.registry.Drains;
import io.virtfleet.controller.testkit.SyncRecorder;
import io.virtfleet.controller.trust.ControllerPki;
import io.virtfleet.controller.trust.EnrolledHosts;
import io.virtfleet.controller.trust.JoinTokens;
import java.math.BigInteger;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.KeyPair;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Every state file of the controller (and the agent identity the same code path writes) reaches the disk whole:
 * its content synced in a temporary file, renamed into place, then its directory synced, seen through the syncs
 * themselves (a killed process would not show it: the page cache survives a kill, only a power loss does not).
 */
class DurableStoresTest {
    @TempDir
    Path dir;

    private final SyncRecorder syncs = new SyncRecorder();

    @Test
    void keysCertificatesAndTheAdminBundleOfANewController() throws Exception {
        try (var scope = FileSync.during(syncs)) {
            ControllerPki.open(dir, Clock.systemUTC(), Duration.ofDays(30));
        }
        Path pki = dir.resolve("pki");
        for (String file : List.of("ca.key", "ca.crt", "admin.pem")) {
            syncs.assertReplacedDurably(pki.resolve(file));
            assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(pki.resolve(file))), file);
        }
        assertEquals("rwx------", PosixFilePermissions.toString(Files.getPosixFilePermissions(pki)));
        assertTrue(syncs.events().stream().anyMatch(e -> e.directory() && e.path().equals(dir.toAbsolutePath())),
                "the new pki directory's entry synced in its parent: " + syncs.events());
    }

    @Test
    void joinTokensWhenCreatedAndWhenRedeemed() throws Exception {
        JoinTokens tokens = new JoinTokens(dir.resolve("join-tokens"), Clock.systemUTC(), "ab".repeat(32));
        JoinTokens.Issued issued;
        try (var scope = FileSync.during(syncs)) {
            issued = tokens.create(Duration.ofHours(1), "hv1", false);
        }
        syncs.assertReplacedDurably(dir.resolve("join-tokens"));
        syncs.clear();
        try (var scope = FileSync.during(syncs)) {
            tokens.redeem(issued.token(), "hv1", false, "e".repeat(64));
        }
        syncs.assertReplacedDurably(dir.resolve("join-tokens"));
    }

    @Test
    void enrolledHostsWhenEnrolledRenewedAndForgotten() throws Exception {
        EnrolledHosts hosts = new EnrolledHosts(dir.resolve("enrolled-hosts"));
        try (var scope = FileSync.during(syncs)) {
            hosts.enrolled("hv1", BigInteger.TEN);
            hosts.enrolled("hv2", BigInteger.TWO);
        }
        syncs.assertReplacedDurably(dir.resolve("enrolled-hosts"));
        syncs.clear();
        try (var scope = FileSync.during(syncs)) {
            hosts.renewed("hv1", BigInteger.TEN, BigInteger.ONE);
        }
        syncs.assertReplacedDurably(dir.resolve("enrolled-hosts"));
        syncs.clear();
        try (var scope = FileSync.during(syncs)) {
            hosts.forget("hv2");
        }
        syncs.assertReplacedDurably(dir.resolve("enrolled-hosts"));
    }

    @Test
    void drains() throws Exception {
        Drains drains = new Drains(dir.resolve("drained-hosts"));
        try (var scope = FileSync.during(syncs)) {
            drains.set("hv1", true);
        }
        syncs.assertReplacedDurably(dir.resolve("drained-hosts"));
        syncs.clear();
        try (var scope = FileSync.during(syncs)) {
            drains.set("hv1", false);
        }
        syncs.assertReplacedDurably(dir.resolve("drained-hosts"));
    }

    @Test
    void installStatesAndPxeConfigs() throws Exception {
        InstallBook book = new InstallBook(dir.resolve("installs"), System::currentTimeMillis);
        PxeConfigs pxe = new PxeConfigs(dir.resolve("tftp"));
        Path config;
        try (var scope = FileSync.during(syncs)) {
            book.arm("web1", "base");
            config = pxe.write("52:54:00:12:34:56", "web1", "auto=true", true);
        }
        syncs.assertReplacedDurably(dir.resolve("installs").resolve("web1"));
        syncs.assertReplacedDurably(config);
        syncs.assertReplacedDurably(dir.resolve("tftp").resolve("virtfleet/installer-hook.cpio"));
        syncs.clear();
        try (var scope = FileSync.during(syncs)) {
            pxe.bootFromDisk("52:54:00:12:34:56", "web1");
        }
        syncs.assertReplacedDurably(config);
        syncs.clear();
        try (var scope = FileSync.during(syncs)) {
            book.forget("web1");
            pxe.remove("52:54:00:12:34:56");
        }
        assertDeletedDurably(dir.resolve("installs").resolve("web1"));
        assertDeletedDurably(config);
    }

    /** The file is gone and its directory was synced once it no longer held it. */
    private void assertDeletedDurably(Path file) {
        assertTrue(!Files.exists(file), file + " deleted");
        Path directory = file.toAbsolutePath().getParent();
        assertTrue(syncs.events().stream().anyMatch(e -> e.directory() && e.path().equals(directory)
                && !e.files().containsKey(file.getFileName().toString())),
                directory + " synced without " + file.getFileName() + ": " + syncs.events());
    }

    @Test
    void credentialBundlesAndTheAgentIdentity() throws Exception {
        KeyPair keys = Keys.generate();
        ControllerPki pki = ControllerPki.open(dir, Clock.systemUTC(), Duration.ofDays(30));
        var cert = pki.ca().issue(keys.getPublic(), FleetIdentity.agent("hv1"), Duration.ofDays(1), List.of());
        try (var scope = FileSync.during(syncs)) {
            CredentialsBundle.write(dir.resolve("agent/credentials.pem"), keys.getPrivate(), cert, pki.ca().certificate());
            pki.writeOperatorBundle("alice", FleetIdentity.Role.VIEWER, Duration.ofDays(1), dir.resolve("alice.pem"));
            AgentIdentity.loadOrCreate(dir.resolve("agent"));
        }
        syncs.assertReplacedDurably(dir.resolve("agent/credentials.pem"));
        syncs.assertReplacedDurably(dir.resolve("alice.pem"));
        syncs.assertReplacedDurably(dir.resolve("agent/agent-id"));
    }
}
