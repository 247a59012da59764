package io.virtfleet.controller.install;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.virtfleet.common.install.InstallerHook;
import io.virtfleet.common.validation.InvalidInputException;
import io.virtfleet.controller.definitions.Boot;
import io.virtfleet.proto.v1.Vm;
import io.virtfleet.proto.v1.VmSpec;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A failover-IP VM's installer gets its static /32 on its kernel command line, no DHCP, and the gateway for
 * virtfleet's hook, by direct kernel boot and by PXE (the hook then a second initrd in its pxelinux config); its
 * preseed says the same. A LAN VM's installer asks DHCP and is left as Debian's.
 */
class FailoverInstallerNetworkTest {
    @TempDir
    Path work;

    private Installs installs(Map<String, String> publicAddresses, Map<String, VmSpec> vms) throws Exception {
        return installs(BootMode.KERNEL, publicAddresses, vms);
    }

    private Installs installs(BootMode mode, Map<String, String> publicAddresses, Map<String, VmSpec> vms) throws Exception {
        BootSettings boot = new BootSettings(mode, mode == BootMode.PXE ? work.resolve("tftp") : null,
                new InetSocketAddress("127.0.0.1", 7444), "http://192.0.2.10:7444");
        return new Installs(boot, Installer.settings(Installer.SHIPPED, Installer.keyFile(work, Installer.ed25519(7, "ops"))),
                new InstallBook(work.resolve("installs"), System::currentTimeMillis),
                WithheldTokens.open(work.resolve("install-tokens")), new io.virtfleet.controller.install.ProfileCatalog(Installer.SHIPPED),
                vm -> Optional.ofNullable(vms.get(vm)).map(s -> Vm.newBuilder().setSpec(s).setHomeHost("hv1").build()),
                publicAddresses::get);
    }

    @Test
    void theInstallerOfAFailoverVmGetsItsSlash32AndTheOnLinkGatewayBeforeTheInstalledSystemsArguments() throws Exception {
        VmSpec www = Installer.failoverVm("www", "api", "198.51.100.7");
        Boot boot = installs(Map.of("hv1", "203.0.113.20"), Map.of("www", www)).arm(www, "hv1");
        String[] halves = boot.cmdline().split(" --- ");
        assertEquals(2, halves.length, boot.cmdline());
        String installer = halves[0];
        for (String arg : new String[] {"netcfg/disable_autoconfig=true", "netcfg/get_ipaddress=198.51.100.7",
                "netcfg/get_netmask=255.255.255.255", "netcfg/get_gateway=none", "netcfg/get_nameservers=213.186.33.99",
                "netcfg/confirm_static=true", "virtfleet/onlink-gateway=203.0.113.254"}) {
            assertTrue((" " + installer + " ").contains(" " + arg + " "), arg + " in " + installer);
        }
        assertFalse(halves[1].contains("netcfg") || halves[1].contains("virtfleet/"),
                "nothing of the installer's network for the installed system: " + halves[1]);
    }

    @Test
    void aLanVmsInstallerAsksDhcpAndAHostWithoutAPublicAddressIsRefusedByName() throws Exception {
        VmSpec web = Installer.lanVm("web", "api");
        String lan = installs(Map.of(), Map.of("web", web)).arm(web, "hv1").cmdline();
        assertFalse(lan.contains("netcfg/") || lan.contains("onlink"), lan);

        VmSpec www = Installer.failoverVm("www", "api", "198.51.100.7");
        Installs without = installs(Map.of(), Map.of("www", www));
        InvalidInputException e = assertThrows(InvalidInputException.class, () -> without.arm(www, "hv1"));
        assertTrue(e.getMessage().contains("public-address"), e.getMessage());
        assertTrue(without.state("www").isEmpty(), "nothing armed: " + without.state("www"));
        assertTrue(without.withheldToken("www").isEmpty());
    }

    @Test
    void withPxeTheFailoverVmsConfigLoadsTheHookAsASecondInitrdAndGivesTheSameStaticNetwork() throws Exception {
        VmSpec www = Installer.failoverVm("www", "api", "198.51.100.7");
        VmSpec web = Installer.lanVm("web", "api");
        Installs pxe = installs(BootMode.PXE, Map.of("hv1", "203.0.113.20"), Map.of("www", www, "web", web));
        pxe.arm(www, "hv1");
        pxe.arm(web, "hv1");
        PxeConfigs configs = new PxeConfigs(work.resolve("tftp"));
        String failover = Files.readString(configs.fileOf(www.getNetwork().getFailover().getMac()));
        String append = failover.lines().filter(l -> l.strip().startsWith("append ")).findFirst().orElseThrow();
        assertTrue(append.contains(" initrd=debian-installer/amd64/initrd.gz,virtfleet/installer-hook.cpio "), append);
        String installer = append.split(" --- ")[0];
        for (String arg : new String[] {"netcfg/disable_autoconfig=true", "netcfg/get_ipaddress=198.51.100.7",
                "netcfg/get_netmask=255.255.255.255", "netcfg/get_gateway=none", "netcfg/confirm_static=true",
                "virtfleet/onlink-gateway=203.0.113.254"}) {
            assertTrue((" " + installer + " ").contains(" " + arg + " "), arg + " in " + installer);
        }
        assertArrayEquals(InstallerHook.archive(), Files.readAllBytes(work.resolve("tftp/virtfleet/installer-hook.cpio")));
        assertEquals("rw-r--r--", PosixFilePermissions.toString(
                Files.getPosixFilePermissions(work.resolve("tftp/virtfleet/installer-hook.cpio"))), "the TFTP server reads it");

        String lan = Files.readString(configs.fileOf(io.virtfleet.controller.definitions.DomainXml.mac(web)));
        assertFalse(lan.contains("installer-hook") || lan.contains("netcfg/") || lan.contains("onlink"),
                "a LAN VM's installer is left as Debian's: " + lan);
    }

    @Test
    void theFailoverVmsPreseedAnswersTheSameStaticNetwork() throws Exception {
        VmSpec www = Installer.failoverVm("www", "api", "198.51.100.7");
        PreseedRenderer renderer = new PreseedRenderer(Installer.settings(Installer.SHIPPED,
                Installer.keyFile(work, Installer.ed25519(7, "ops"))), new ProfileCatalog(Installer.SHIPPED));
        String preseed = renderer.render(www, "203.0.113.20", Installer.urls("www", "base", "api"));
        assertEquals("true", Installer.answer(preseed, "netcfg/disable_autoconfig"));
        assertEquals("198.51.100.7", Installer.answer(preseed, "netcfg/get_ipaddress"));
        assertEquals("255.255.255.255", Installer.answer(preseed, "netcfg/get_netmask"));
        assertEquals("none", Installer.answer(preseed, "netcfg/get_gateway"));
        assertFalse(preseed.contains("from DHCP"), preseed);
    }
}
