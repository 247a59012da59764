package io.virtfleet.controller.install;

import static io.virtfleet.controller.install.Installer.SHIPPED;
import static io.virtfleet.controller.install.Installer.answer;
import static io.virtfleet.controller.install.Installer.assertDebconfAccepts;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.virtfleet.common.process.Command;
import io.virtfleet.proto.v1.VmSpec;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The profiles deploy/profiles ships: all five usable, their scripts valid bash, and each one's preseed, for a
 * LAN VM and for a failover-IP VM, accepted as it is by Debian's own debconf-set-selections.
 */
class ShippedProfilesTest {
    private static final List<String> FIVE = List.of("api", "api-test", "base", "ui", "ui-test");

    @TempDir
    Path dir;

    @Test
    void theFiveProfilesAreShippedEachWithADescriptionAndNothingIsIgnored() {
        ProfileCatalog.Contents contents = new ProfileCatalog(SHIPPED).read();
        assertEquals(FIVE, contents.names());
        assertEquals(java.util.Map.of(), contents.ignored());
        for (Profile p : contents.profiles()) {
            assertFalse(p.description().isBlank(), p.name() + " has a description");
            assertFalse(p.answers().isEmpty(), p.name() + " adds answers of its own");
        }
        assertEquals("Minimal hardened Debian: SSH by key only, no root login, automatic security updates.",
                contents.profiles().get(2).description());
    }

    @Test
    void everyPostInstallScriptIsValidBashAndStopsAtTheFirstError() throws Exception {
        for (String name : FIVE) {
            Path script = SHIPPED.resolve(name).resolve("post-install.sh");
            Command.Result r = Command.of("bash", "-n", script.toString()).run();
            assertEquals(0, r.exitCode(), name + ": " + r.stderr());
            List<String> lines = Files.readAllLines(script);
            assertEquals("#!/bin/bash", lines.get(0), name);
            assertTrue(lines.contains("set -euo pipefail"), name + " stops at the first failing command");
            assertTrue(Files.isExecutable(script), name + " is executable");
        }
    }

    @Test
    void bashSyntaxCheckCatchesABrokenScript() throws Exception {
        Path broken = dir.resolve("post-install.sh");
        Files.writeString(broken, "#!/bin/bash\nif true; then\n  echo unfinished\n");
        assertEquals(2, Command.of("bash", "-n", broken.toString()).run().exitCode(), "the check above can fail");
    }

    static Stream<Arguments> profilesAndNetworks() {
        return FIVE.stream().flatMap(p -> Stream.of(
                Arguments.of(p, Installer.lanVm("vm-" + p, p), null),
                Arguments.of(p, Installer.failoverVm("vm-" + p, p, "203.0.113.10"), "198.51.100.7")));
    }

    @ParameterizedTest(name = "{0}, {1}")
    @MethodSource("profilesAndNetworks")
    void everyProfileOnEitherNetworkRendersAPreseedDebconfAccepts(String profile, VmSpec vm, String host)
            throws Exception {
        Path keys = Installer.keyFile(dir, Installer.ed25519(7, "alice@laptop"), Installer.ed25519(9, ""));
        PreseedRenderer renderer = new PreseedRenderer(Installer.settings(SHIPPED, keys), new ProfileCatalog(SHIPPED));
        String[] chain = profile.equals("base") ? new String[] {"base"} : new String[] {"base", profile};
        String preseed = renderer.render(vm, host, Installer.urls(vm.getName(), chain));

        assertDebconfAccepts(preseed, dir);
        assertEquals(vm.getName(), answer(preseed, "netcfg/get_hostname"));
        String late = answer(preseed, "preseed/late_command");
        int base = late.indexOf("in-target '/root/virtfleet-post-install-base'");
        int own = late.indexOf("in-target '/root/virtfleet-post-install-" + profile + "'");
        int callback = late.indexOf("/done?result=ok'");
        assertTrue(base > 0 && own >= base && callback > own, "base's script, then the profile's, then the callback: "
                + late);
        String early = answer(preseed, "preseed/early_command");
        int fetchBase = early.indexOf("/profiles/base/post-install.sh'");
        int fetchOwn = early.indexOf("/profiles/" + profile + "/post-install.sh'");
        assertTrue(fetchBase > 0 && fetchOwn >= fetchBase, "fetched early, base's script first: " + early);
        assertFalse(late.contains("post-install.sh"), "and not fetched again late: " + late);
        assertEquals(vm.getNetwork().hasFailover(), late.contains("> '/target/etc/network/interfaces'"), late);
        assertEquals(vm.getNetwork().hasFailover() ? "true" : "false", answer(preseed, "netcfg/disable_autoconfig"),
                "a LAN VM's installer takes DHCP, a failover VM's its static /32");
        assertTrue(answer(preseed, "pkgsel/include").startsWith("sudo ca-certificates"), "base's packages are kept");
    }

    @Test
    void debconfCheckCatchesAMalformedPreseed() throws Exception {
        Path bad = dir.resolve("bad.cfg");
        Files.writeString(bad, "d-i netcfg/get_hostname\n");
        assertEquals(1, Installer.debconf(bad).exitCode(), "the check above can fail");
        Files.writeString(bad, "d-i netcfg/get_hostname strnig web\n");
        assertTrue(Installer.debconf(bad).stderr().contains("Unknown type"), "and sees an unknown type");
    }
}
