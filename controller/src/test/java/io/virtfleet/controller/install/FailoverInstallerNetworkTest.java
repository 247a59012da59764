package io.virtfleet.controller.install;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.virtfleet.common.validation.InvalidInputException;
import io.virtfleet.controller.definitions.Boot;
import io.virtfleet.proto.v1.Vm;
import io.virtfleet.proto.v1.VmSpec;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A failover-IP VM installed by direct kernel boot gets its static /32 on the installer's kernel command line, no
 * DHCP, and the gateway for virtfleet's start-up hook; its preseed says the same. A LAN VM's installer asks DHCP.
 */
class FailoverInstallerNetworkTest {
    @TempDir
    Path work;

    private Installs installs(Map<String, String> publicAddresses, Map<String, VmSpec> vms) throws Exception {
        BootSettings boot = new BootSettings(BootMode.KERNEL, null, new InetSocketAddress("127.0.0.1", 7444),
                "http://192.0.2.10:7444");
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
        InvalidInputException e = assertThrows(InvalidInputException.class,
                () -> installs(Map.of(), Map.of("www", www)).arm(www, "hv1"));
        assertTrue(e.getMessage().contains("public-address"), e.getMessage());
    }

    @Test
    void theFailoverVmsPreseedAnswersTheSameStaticNetwork() throws Exception {
        VmSpec www = Installer.failoverVm("www", "api", "198.51.100.7");
        PreseedRenderer renderer = new PreseedRenderer(Installer.settings(Installer.SHIPPED,
                Installer.keyFile(work, Installer.ed25519(7, "ops"))), new ProfileCatalog(Installer.SHIPPED));
        String preseed = renderer.render(www, "203.0.113.20", Installer.urls("www", "base", "api"), true);
        assertEquals("true", Installer.answer(preseed, "netcfg/disable_autoconfig"));
        assertEquals("198.51.100.7", Installer.answer(preseed, "netcfg/get_ipaddress"));
        assertEquals("255.255.255.255", Installer.answer(preseed, "netcfg/get_netmask"));
        assertEquals("none", Installer.answer(preseed, "netcfg/get_gateway"));
        assertFalse(preseed.contains("DHCP during the install"), preseed);
        String pxe = renderer.render(www, "203.0.113.20", Installer.urls("www", "base", "api"), false);
        assertEquals("false", Installer.answer(pxe, "netcfg/disable_autoconfig"), "PXE: the installer took DHCP");
    }
}
