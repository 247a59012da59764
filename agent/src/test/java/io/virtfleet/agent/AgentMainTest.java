package io.virtfleet.agent;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.virtfleet.common.config.ConfigFile;
import io.virtfleet.common.config.ConfiguredCommand;
import io.virtfleet.common.validation.InvalidInputException;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** The agent's flags and configuration file: errors name file, line and key, and exit with 2. */
class AgentMainTest {
    @TempDir
    Path dir;

    private final ByteArrayOutputStream err = new ByteArrayOutputStream();
    private PrintStream savedErr;

    @BeforeEach
    void captureStderr() {
        savedErr = System.err;
        System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
    }

    @AfterEach
    void restoreStderr() {
        System.setErr(savedErr);
    }

    /** Parses flags over a configuration file without running the agent. */
    private static AgentMain parse(Path conf, String... args) {
        AgentMain main = new AgentMain();
        ConfigFile config = Files.exists(conf) ? ConfigFile.load(conf) : ConfigFile.empty(conf);
        ConfiguredCommand.prepare(new CommandLine(main), config).parseArgs(args);
        return main;
    }

    @Test
    void malformedConfigFileExitsTwoNamingFileLineAndKey() throws Exception {
        Path conf = Files.writeString(dir.resolve("agent.conf"),
                "# virtfleet agent\ncontroller = cp1:7440\nheartbeat-interval = every now and then\n");
        assertEquals(2, ConfiguredCommand.run(new AgentMain(), conf));
        String message = err.toString(StandardCharsets.UTF_8);
        assertTrue(message.contains(conf + ":3: key 'heartbeat-interval': "), message);
    }

    @Test
    void unknownKeyInConfigFileExitsTwo() throws Exception {
        Path conf = Files.writeString(dir.resolve("agent.conf"), "controller = cp1:7440\nlibvirt-url = qemu:///system\n");
        assertEquals(2, ConfiguredCommand.run(new AgentMain(), conf));
        String message = err.toString(StandardCharsets.UTF_8);
        assertTrue(message.contains(conf + ":2: "), message);
        assertTrue(message.contains("accepted keys: "), message);
        assertTrue(message.contains("libvirt-uri"), message);
    }

    @Test
    void unknownFlagExitsTwoWithUsage() {
        assertEquals(2, ConfiguredCommand.run(new AgentMain(), dir.resolve("none.conf"), "--controler", "cp1:7440"));
        assertTrue(err.toString(StandardCharsets.UTF_8).contains("Usage: virtfleet-agent"));
    }

    @Test
    void fileAndFlagsMakeTheConfigurationFlagsWinning() throws Exception {
        Path conf = Files.writeString(dir.resolve("agent.conf"),
                "controller = cp1:7440\nhost-name = hv4\nheartbeat-interval = 2s\nstorage-tiers = sata,raw\n");
        AgentConfig config = parse(conf, "--heartbeat-interval", "1s").config();
        assertEquals("hv4", config.hostName());
        assertEquals("cp1:7440", config.controller().toString());
        assertEquals(Duration.ofSeconds(1), config.heartbeatInterval());
        assertEquals(java.util.List.of("sata", "raw"), config.storageTiers());
        assertEquals("qemu:///system", config.libvirtUri());
    }

    @Test
    void invalidHostNameIsRefusedNamingTheKey() {
        AgentMain main = parse(dir.resolve("none.conf"), "--controller", "cp1:7440", "--host-name", "HV 1");
        InvalidInputException e = assertThrows(InvalidInputException.class, main::config);
        assertTrue(e.getMessage().startsWith("host-name: \"HV 1\""), e.getMessage());
    }

    @Test
    void unknownStorageTierIsRefused() {
        AgentMain main = parse(dir.resolve("none.conf"),
                "--controller", "cp1:7440", "--host-name", "hv1", "--storage-tiers", "ssd,nvme");
        InvalidInputException e = assertThrows(InvalidInputException.class, main::config);
        assertTrue(e.getMessage().startsWith("storage-tiers: \"nvme\""), e.getMessage());
    }

    @Test
    void cephSettingsHaveDebianDefaultsAndComeFromTheFile() throws Exception {
        AgentConfig defaults = parse(dir.resolve("none.conf"), "--controller", "cp1:7440", "--host-name", "hv1").config();
        assertEquals(io.virtfleet.agent.storage.CephSettings.defaults(), defaults.ceph());

        Path conf = Files.writeString(dir.resolve("agent.conf"), "controller = cp1:7440\nhost-name = hv4\n"
                + "ceph-conf = /etc/ceph/other.conf\nceph-client = hv\nceph-keyring = /etc/ceph/hv.keyring\n"
                + "ceph-pool-ssd = fast\nceph-pool-sata = slow\nceph-timeout = 5s\n");
        AgentConfig config = parse(conf).config();
        assertEquals(new io.virtfleet.agent.storage.CephSettings(Path.of("/etc/ceph/other.conf"), "hv",
                Path.of("/etc/ceph/hv.keyring"), "fast", "slow", Duration.ofSeconds(5)), config.ceph());
        assertEquals("client.hv secret", config.ceph().secretUsage());
        assertEquals(List.of(), config.ceph().clientAddresses(), "worked out from ceph.conf unless given");

        Files.writeString(conf, "controller = cp1:7440\nhost-name = hv4\nceph-client-addresses = 10.0.1.5,fd00::5\n");
        assertEquals(List.of("10.0.1.5", "fd00:0:0:0:0:0:0:5"), parse(conf).config().ceph().clientAddresses());
        assertEquals(List.of("10.0.2.5"), parse(conf, "--ceph-client-addresses", "10.0.2.5").config().ceph().clientAddresses(),
                "the flag wins");
    }

    @Test
    void cephSettingsQemuImgWouldMisreadAreRefusedNamingTheKey() {
        String[][] cases = {
            {"--ceph-conf", "/etc/ceph/a:b.conf", "ceph-conf: "},
            {"--ceph-keyring", "relative.keyring", "ceph-keyring: "},
            {"--ceph-client", "client.libvirt:x", "ceph-client: "},
            {"--ceph-pool-ssd", "-rf", "ceph-pool-ssd: "},
            {"--ceph-pool-sata", "a/b", "ceph-pool-sata: "},
            {"--ceph-timeout", "500ms", "ceph-timeout: "},
            {"--ceph-client-addresses", "ceph1.example", "ceph-client-addresses: "},
            {"--ceph-client-addresses", "10.0.0.300", "ceph-client-addresses: "},
        };
        for (String[] c : cases) {
            AgentMain main = parse(dir.resolve("none.conf"), "--controller", "cp1:7440", "--host-name", "hv1", c[0], c[1]);
            InvalidInputException e = assertThrows(InvalidInputException.class, main::config, c[0] + " " + c[1]);
            assertTrue(e.getMessage().startsWith(c[2]), e.getMessage());
        }
    }

    @Test
    void networkOptionsDefaultToNoLansAndTheBr0Bridge() {
        AgentConfig config = parse(dir.resolve("none.conf"), "--controller", "cp1:7440", "--host-name", "hv1").config();
        assertEquals(null, config.vxlanDevice());
        assertEquals(null, config.vxlanLocalAddress());
        assertEquals(4789, config.vxlanPort());
        assertEquals("br0", config.publicBridge());
        assertEquals(null, config.publicAddress(), "no public address: the host takes no failover-IP VMs");
    }

    @Test
    void networkOptionsComeFromTheFile() throws Exception {
        Path conf = Files.writeString(dir.resolve("agent.conf"), "controller = cp1:7440\nhost-name = hv1\n"
                + "vxlan-device = eth1\nvxlan-local-address = 10.0.0.5\nvxlan-port = 8472\npublic-bridge = vmbr0\n"
                + "public-address = 51.38.12.4\n");
        AgentConfig config = parse(conf).config();
        assertEquals("eth1", config.vxlanDevice());
        assertEquals("10.0.0.5", config.vxlanLocalAddress().toString());
        assertEquals(8472, config.vxlanPort());
        assertEquals("vmbr0", config.publicBridge());
        assertEquals("51.38.12.4", config.publicAddress().toString());
    }

    @Test
    void badNetworkOptionsAreRefusedNamingTheKey() {
        String[][] cases = {
            {"--vxlan-device", "eth1;reboot", "vxlan-device: \"eth1;reboot\""},
            {"--vxlan-local-address", "127.0.0.1", "vxlan-local-address: \"127.0.0.1\""},
            {"--vxlan-port", "0", "vxlan-port: \"0\""},
            {"--vxlan-port", "65536", "vxlan-port: \"65536\""},
            {"--public-bridge", "../br0", "public-bridge: \"../br0\""},
            // The vRack's private address is what a deploy might wrongly give: its .254 is no gateway.
            {"--public-address", "10.0.0.5", "public-address: \"10.0.0.5\" is not accepted; expected a public IPv4"},
            {"--public-address", "127.0.1.1", "public-address: \"127.0.1.1\""},
            {"--public-address", "169.254.3.4", "public-address: \"169.254.3.4\""},
            {"--public-address", "224.0.0.5", "public-address: \"224.0.0.5\""},
            {"--public-address", "hv1.example", "public-address: \"hv1.example\""},
        };
        for (String[] c : cases) {
            AgentMain main = parse(dir.resolve("none.conf"), "--controller", "cp1:7440", "--host-name", "hv1", c[0], c[1]);
            InvalidInputException e = assertThrows(InvalidInputException.class, main::config);
            assertTrue(e.getMessage().startsWith(c[2]), e.getMessage());
        }
    }

    @Test
    void theMigrationTimeoutDefaultsToHalfAnHourComesFromTheFileAndIsBounded() throws Exception {
        Path none = dir.resolve("none.conf");
        assertEquals(Duration.ofMinutes(30), parse(none, "--controller", "cp1:7440", "--host-name", "hv1").config()
                .migrationTimeout());
        Path conf = Files.writeString(dir.resolve("agent.conf"), "controller = cp1:7440\nhost-name = hv1\n"
                + "migration-timeout = 2h\n");
        assertEquals(Duration.ofHours(2), parse(conf).config().migrationTimeout());

        for (String refused : new String[] {"30s", "25h"}) {
            AgentMain main = parse(none, "--controller", "cp1:7440", "--host-name", "hv1", "--migration-timeout", refused);
            InvalidInputException e = assertThrows(InvalidInputException.class, main::config, refused);
            assertTrue(e.getMessage().startsWith("migration-timeout: \"" + refused + "\" is not accepted; expected a"
                    + " duration from 1m to 24h"), e.getMessage());
        }
    }

    @Test
    void theShutdownGraceAndTheDefinitionRefreshDefaultComeFromTheFileAndAreBounded() throws Exception {
        Path none = dir.resolve("none.conf");
        AgentConfig defaults = parse(none, "--controller", "cp1:7440", "--host-name", "hv1").config();
        assertEquals(Duration.ofSeconds(60), defaults.shutdownGrace());
        assertEquals(Duration.ofSeconds(10), defaults.definitionRefresh());
        Path conf = Files.writeString(dir.resolve("agent.conf"), "controller = cp1:7440\nhost-name = hv1\n"
                + "shutdown-grace = 5s\ndefinition-refresh = 2s\n");
        AgentConfig set = parse(conf).config();
        assertEquals(Duration.ofSeconds(5), set.shutdownGrace());
        assertEquals(Duration.ofSeconds(2), set.definitionRefresh());

        String[][] refused = {
            {"--shutdown-grace", "500ms", "shutdown-grace: \"500ms\" is not accepted; expected a duration from 1s to 60s"},
            {"--shutdown-grace", "2m", "shutdown-grace: \"2m\" is not accepted; expected a duration from 1s to 60s"},
            {"--definition-refresh", "500ms", "definition-refresh: \"500ms\" is not accepted; expected a duration from 1s to 10m"},
            {"--definition-refresh", "11m", "definition-refresh: \"11m\" is not accepted; expected a duration from 1s to 10m"},
        };
        for (String[] c : refused) {
            AgentMain main = parse(none, "--controller", "cp1:7440", "--host-name", "hv1", c[0], c[1]);
            InvalidInputException e = assertThrows(InvalidInputException.class, main::config, c[1]);
            assertTrue(e.getMessage().startsWith(c[2]), e.getMessage());
        }
    }

    @Test
    void theMigrationAddressIsTheSettingElseTheVxlanAddressElseAnIpv4Advertised() throws Exception {
        Path none = dir.resolve("none.conf");
        AgentConfig set = parse(none, "--controller", "cp1:7440", "--host-name", "hv1", "--migration-address", "10.0.0.9")
                .config();
        assertEquals("10.0.0.9", set.migrationAddress("10.0.0.5"), "the setting wins over the VXLAN address");

        AgentConfig unset = parse(none, "--controller", "cp1:7440", "--host-name", "hv1", "--advertise", "10.0.0.7:7441")
                .config();
        assertEquals(null, unset.migrationAddress());
        assertEquals("10.0.0.5", unset.migrationAddress("10.0.0.5"));
        assertEquals("10.0.0.7", unset.migrationAddress(""), "no VXLAN address: the advertised one");

        AgentConfig byName = parse(none, "--controller", "cp1:7440", "--host-name", "hv1", "--advertise", "hv1.example:7441")
                .config();
        assertEquals("", byName.migrationAddress(""), "a host name is no address to migrate to");
        AgentConfig listening = parse(none, "--controller", "cp1:7440", "--host-name", "hv1").config();
        assertEquals("", listening.migrationAddress(""), "advertised as its host name by default");

        Path conf = Files.writeString(dir.resolve("agent.conf"), "controller = cp1:7440\nhost-name = hv1\n"
                + "migration-address = 10.0.0.11\n");
        assertEquals("10.0.0.11", parse(conf).config().migrationAddress().toString());
        assertEquals(dir.resolve("state").resolve("libvirt-tls"), AgentConfig.libvirtTlsDirectory(dir.resolve("state")));

        for (String bad : new String[] {"127.0.0.1", "hv1.example", "224.0.0.5", "10.0.0.256"}) {
            AgentMain main = parse(none, "--controller", "cp1:7440", "--host-name", "hv1", "--migration-address", bad);
            InvalidInputException e = assertThrows(InvalidInputException.class, main::config);
            assertTrue(e.getMessage().startsWith("migration-address: \"" + bad + "\""), e.getMessage());
        }
    }

    @Test
    void definitionsComeFromSrvCommonAndTheControllerUnlessConfigured() throws Exception {
        AgentConfig defaults = parse(dir.resolve("none.conf"), "--controller", "cp1:7440", "--host-name", "hv1").config();
        assertEquals(Path.of("/srv/common"), defaults.definitionsDirectory());
        assertEquals(null, defaults.definitionsRemote());
        assertEquals(io.virtfleet.agent.hypervisor.InstallerFiles.PACKAGE_DIRECTORY, defaults.installerDirectory());

        Path conf = Files.writeString(dir.resolve("agent.conf"), "controller = cp1:7440\nhost-name = hv1\n"
                + "definitions-dir = /var/lib/virtfleet/definitions\n"
                + "definitions-remote = https://git.example/virtfleet/definitions.git\n");
        AgentConfig config = parse(conf).config();
        assertEquals(Path.of("/var/lib/virtfleet/definitions"), config.definitionsDirectory());
        assertEquals("https://git.example/virtfleet/definitions.git", config.definitionsRemote());
        assertEquals("file:///srv/mirror/definitions.git", parse(dir.resolve("none.conf"), "--controller", "cp1:7440",
                "--host-name", "hv1", "--definitions-remote", "file:///srv/mirror/definitions.git").config().definitionsRemote());
    }

    @Test
    void badDefinitionsOptionsAreRefusedNamingTheKey() {
        String[][] cases = {
            {"--definitions-dir", "srv/common", "definitions-dir: \"srv/common\""},
            {"--definitions-dir", "/srv/../etc", "definitions-dir: \"/srv/../etc\""},
            {"--definitions-remote", "http://git.example/defs.git", "definitions-remote: \"http://git.example/defs.git\""},
            {"--definitions-remote", "ssh://git@git.example/defs.git", "definitions-remote: "},
            {"--definitions-remote", "https://alice:secret@git.example/defs.git", "definitions-remote: "},
            {"--definitions-remote", "file://relative/defs.git", "definitions-remote: "},
            {"--definitions-remote", "file:///srv/../etc", "definitions-remote: "},
            {"--definitions-remote", "/srv/mirror/defs.git", "definitions-remote: "},
            {"--installer-dir", "usr/lib/debian-installer", "installer-dir: \"usr/lib/debian-installer\""},
            {"--installer-dir", "/usr/lib/../../etc", "installer-dir: \"/usr/lib/../../etc\""},
        };
        for (String[] c : cases) {
            AgentMain main = parse(dir.resolve("none.conf"), "--controller", "cp1:7440", "--host-name", "hv1", c[0], c[1]);
            InvalidInputException e = assertThrows(InvalidInputException.class, main::config, c[0] + " " + c[1]);
            assertTrue(e.getMessage().startsWith(c[2]), e.getMessage());
        }
    }

    @Test
    void libvirtTlsSettingsDefaultToDebiansPathsAndBadOnesAreNamed() throws Exception {
        Path conf = Files.writeString(dir.resolve("agent.conf"), "controller = cp1:7440\nhost-name = hv4\n");
        AgentConfig config = parse(conf, "--state-dir", "/var/lib/virtfleet/agent").config();
        assertEquals(new io.virtfleet.agent.libvirttls.LibvirtTlsSettings(Path.of("/etc/pki/CA/cacert.pem"),
                Path.of("/etc/pki/libvirt/servercert.pem"), Path.of("/etc/pki/libvirt/private/serverkey.pem"),
                Path.of("/etc/pki/libvirt/clientcert.pem"), Path.of("/etc/pki/libvirt/private/clientkey.pem"),
                Path.of("/etc/pki/qemu"), "libvirt-qemu", Path.of("/var/lib/virtfleet/agent/libvirt-tls"),
                "libvirtd:///system"), config.libvirtTls());
        assertEquals(Path.of("/var/lib/virtfleet/agent/libvirt-tls"), config.libvirtPkiPath());
        assertEquals(null, parse(conf, "--libvirt-admin-uri", "none").config().libvirtTls().adminUri());

        InvalidInputException relative = assertThrows(InvalidInputException.class,
                () -> parse(conf, "--qemu-tls-dir", "etc/pki/qemu").config());
        assertTrue(relative.getMessage().startsWith("qemu-tls-dir: \"etc/pki/qemu\" is not accepted"), relative.getMessage());
        InvalidInputException group = assertThrows(InvalidInputException.class,
                () -> parse(conf, "--qemu-tls-group", "qemu;reboot").config());
        assertTrue(group.getMessage().startsWith("qemu-tls-group: \"qemu;reboot\" is not accepted; expected a group name"),
                group.getMessage());
        InvalidInputException uri = assertThrows(InvalidInputException.class,
                () -> parse(conf, "--libvirt-admin-uri", "qemu:///system").config());
        assertTrue(uri.getMessage().startsWith("libvirt-admin-uri: \"qemu:///system\" is not accepted; expected libvirtd:///system"),
                uri.getMessage());
    }
}
