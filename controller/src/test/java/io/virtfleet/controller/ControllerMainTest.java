package io.virtfleet.controller;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.virtfleet.common.validation.InvalidInputException;
import io.virtfleet.controller.install.InstallSettings;
import io.virtfleet.controller.scheduler.Policy;
import io.virtfleet.controller.vm.Provisioning;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/** The controller's provisioning and install options: defaults, parsed values, and refusals naming the key. */
class ControllerMainTest {
    private static ControllerMain parse(String... args) {
        ControllerMain main = new ControllerMain();
        new CommandLine(main).registerConverter(java.time.Duration.class, io.virtfleet.common.units.Durations::parse)
                .parseArgs(args);
        return main;
    }

    @Test
    void defaultsPlaceBySpreadOnKvmWithNoFailoverRoutes() {
        Provisioning p = parse().provisioning();
        assertEquals(Policy.Strategy.SPREAD, p.placement().strategy());
        assertEquals(0.9, p.placement().memoryRatio());
        assertFalse(p.placement().nPlusOne(), "n-plus-one is off unless set");
        assertEquals("kvm", p.domain().domainType());
        assertEquals(Map.of(), p.failoverRoutes());
        assertEquals(java.time.Duration.ofSeconds(30), p.reconcileInterval());
    }

    @Test
    void optionsReachPlacementAndDefinitions() {
        Provisioning p = parse("--placement", "pack", "--memory-ratio", "0.8", "--vcpu-overcommit", "2",
                "--domain-type", "qemu", "--ceph-monitors", "10.0.0.1:6789,10.0.0.2:6789",
                "--failover-routes", "203.0.113.7=hv1,203.0.113.8=hv2", "--reconcile-interval", "10s",
                "--n-plus-one", "on").provisioning();
        assertEquals(Policy.Strategy.PACK, p.placement().strategy());
        assertTrue(p.placement().nPlusOne());
        assertEquals(0.8, p.placement().memoryRatio());
        assertEquals(2.0, p.placement().vcpuOvercommit());
        assertEquals("qemu", p.domain().domainType());
        assertEquals(2, p.domain().cephMonitors().size());
        assertEquals(Map.of("203.0.113.7", "hv1", "203.0.113.8", "hv2"), p.failoverRoutes());
    }

    @Test
    void ovhsApiIsOffByDefaultAndOnWithAnOwnerOnlyFileAndTheHostsServiceNames(@org.junit.jupiter.api.io.TempDir Path dir)
            throws Exception {
        assertFalse(parse().provisioning().ovh().enabled());
        Path file = dir.resolve("ovh.conf");
        java.nio.file.Files.writeString(file, "endpoint = ovh-ca\napplication-key = ak1\napplication-secret = as1\n"
                + "consumer-key = ck1\n");
        java.nio.file.Files.setPosixFilePermissions(file, java.nio.file.attribute.PosixFilePermissions.fromString("rw-------"));
        var ovh = parse("--ovh-config", file.toString(), "--ovh-services", "hv1=ns1.ip-203-0-113.eu,hv2=ns2.ip-203-0-113.eu",
                "--ovh-task-deadline", "2m").provisioning().ovh();
        assertTrue(ovh.enabled());
        assertEquals("https://ca.api.ovh.com/1.0", ovh.account().endpoint().toString());
        assertEquals(Map.of("hv1", "ns1.ip-203-0-113.eu", "hv2", "ns2.ip-203-0-113.eu"), ovh.services());
        assertEquals(java.time.Duration.ofMinutes(2), ovh.taskDeadline());

        for (String[] bad : new String[][] {{"--ovh-services", "hv1"}, {"--ovh-services", "hv1=ns1/../x"},
            {"--ovh-services", "hv1=ns1.eu,hv2=ns1.eu"}, {"--ovh-services", "hv1=ns1.eu,hv1=ns2.eu"},
            {"--ovh-task-deadline", "1s"}}) {
            InvalidInputException e = assertThrows(InvalidInputException.class,
                    () -> parse("--ovh-config", file.toString(), bad[0], bad[1]).provisioning(), String.join(" ", bad));
            assertEquals(bad[0].substring(2), e.field());
        }
        assertEquals("ovh-services", assertThrows(InvalidInputException.class,
                () -> parse("--ovh-services", "hv1=ns1.eu").provisioning()).field(), "service names need the API");

        // A file others can read stops the controller: exit 2, naming the file.
        java.nio.file.Files.setPosixFilePermissions(file, java.nio.file.attribute.PosixFilePermissions.fromString("rw-r--r--"));
        java.io.ByteArrayOutputStream err = new java.io.ByteArrayOutputStream();
        java.io.PrintStream before = System.err;
        System.setErr(new java.io.PrintStream(err, true, java.nio.charset.StandardCharsets.UTF_8));
        int code;
        try {
            code = new CommandLine(new ControllerMain()).registerConverter(java.time.Duration.class,
                    io.virtfleet.common.units.Durations::parse).execute("--config", dir.resolve("none.conf").toString(),
                    "--data-dir", dir.resolve("data").toString(), "--ovh-config", file.toString());
        } finally {
            System.setErr(before);
        }
        assertEquals(2, code);
        assertTrue(err.toString(java.nio.charset.StandardCharsets.UTF_8).startsWith("virtfleet-controller: configuration"
                + " error: " + file + ": readable by others than its owner (mode rw-r--r--)"), err.toString());
    }

    @Test
    void installDefaultsSuitAnOvhFleetAndOptionsReachTheInstallSettings() {
        InstallSettings d = parse().provisioning().install();
        assertEquals(Path.of("/etc/virtfleet/profiles"), d.profilesDirectory());
        assertEquals("", d.domain());
        assertEquals("deb.debian.org", d.mirrorHost());
        assertEquals("", d.proxy());
        assertEquals("debian", d.user());
        assertEquals(List.of("213.186.33.99"), d.nameservers());

        InstallSettings s = parse("--profiles-dir", "/srv/profiles", "--install-domain", "vms.example.net",
                "--install-mirror", "mirror.local:8080", "--install-mirror-directory", "/debian-mirror",
                "--install-proxy", "http://10.0.0.1:3142/", "--install-user", "ops", "--install-ssh-keys", "/etc/keys",
                "--install-nameservers", "10.0.0.53,10.0.0.54").provisioning().install();
        assertEquals(new InstallSettings(Path.of("/srv/profiles"), "vms.example.net", "mirror.local:8080",
                "/debian-mirror", "http://10.0.0.1:3142/", "ops", Path.of("/etc/keys"), List.of("10.0.0.53", "10.0.0.54")), s);
    }

    @Test
    void fencingIsOffByDefaultAndItsSettingsAreCheckedNamingTheKey() {
        io.virtfleet.controller.fencing.FenceSettings none = parse().config().fencing();
        assertFalse(none.cephConfigured(), "no Ceph admin unless ceph-admin-conf is set");
        assertEquals("admin", none.adminId());
        assertEquals(java.time.Duration.ofDays(7), none.expiry());
        io.virtfleet.controller.fencing.FenceSettings set = parse("--ceph-admin-conf", "/etc/ceph/ceph.conf",
                "--ceph-admin-id", "virtfleet-fence", "--ceph-admin-keyring", "/etc/virtfleet/fence.keyring",
                "--fence-expiry", "30d").config().fencing();
        assertTrue(set.cephConfigured());
        assertEquals(Path.of("/etc/virtfleet/fence.keyring"), set.adminKeyring());
        assertEquals(java.time.Duration.ofDays(30), set.expiry());
        String[][] cases = {
            {"--fence-expiry", "10m", "fence-expiry: \"10m\" is not accepted; expected a duration from 1h to 3650d"},
            {"--ceph-admin-id", "client.admin x", "ceph-admin-id: "},
            {"--ceph-admin-conf", "ceph.conf", "ceph-admin-conf: "},
            {"--ceph-admin-keyring", "/etc/ceph/k.keyring", "ceph-admin-keyring: "},
        };
        for (String[] c : cases) {
            InvalidInputException e = assertThrows(InvalidInputException.class, () -> parse(c[0], c[1]).config(),
                    c[0] + " " + c[1]);
            assertTrue(e.getMessage().startsWith(c[2]), e.getMessage());
        }
    }

    @Test
    void hostLossSettingsDefaultToManualAfter30sAndAreCheckedNamingTheKey() {
        io.virtfleet.controller.fencing.HostLoss.Settings defaults = parse().config().hostLoss();
        assertEquals(java.time.Duration.ofSeconds(30), defaults.lostAfter());
        assertEquals(io.virtfleet.controller.fencing.HostLoss.Mode.MANUAL, defaults.mode());
        assertEquals(io.virtfleet.controller.fencing.HostLoss.Mode.AUTOMATIC, parse("--failover", "automatic",
                "--ceph-admin-conf", "/etc/ceph/ceph.conf").config().hostLoss().mode());
        String[][] cases = {
            {"--failover", "auto", "failover: \"auto\""},
            {"--host-lost-after", "10s", "host-lost-after: "},
            {"--failover", "automatic", "failover: \"automatic\""},
        };
        for (String[] c : cases) {
            InvalidInputException e = assertThrows(InvalidInputException.class, () -> parse(c[0], c[1]).config(),
                    c[0] + " " + c[1]);
            assertTrue(e.getMessage().startsWith(c[2]), e.getMessage());
        }
        assertTrue(assertThrows(InvalidInputException.class, () -> parse("--failover", "automatic").config())
                .getMessage().contains("automatic together with ceph-admin-conf"));
        assertTrue(assertThrows(InvalidInputException.class, () -> parse("--host-lost-after", "15s").config())
                .getMessage().contains("longer than unreachable-after"));
    }

    @Test
    void theDashboardIsOffByDefaultAndItsCertificateNamesWhereOperatorsReachIt() {
        assertFalse(parse().dashboard().on());
        var local = parse("--dashboard-listen", "127.0.0.1:7447").dashboard();
        assertEquals(new java.net.InetSocketAddress("127.0.0.1", 7447), local.listen());
        assertEquals(java.util.List.of("127.0.0.1", "localhost"), local.names());
        assertEquals(java.time.Duration.ofHours(8), local.sessionLifetime());
        assertEquals(java.util.List.of("localhost", "127.0.0.1"), parse("--dashboard-listen", "0.0.0.0:7447").dashboard().names());
        assertEquals(java.util.List.of("controller.example.net", "192.0.2.10"), parse("--dashboard-listen", "0.0.0.0:7447",
                "--dashboard-names", "Controller.example.net,192.0.2.10").dashboard().names());
        for (String[] c : new String[][] {{"--dashboard-listen", "nowhere"}, {"--dashboard-names", "x"},
                {"--dashboard-session-lifetime", "8d"}}) {
            InvalidInputException e = assertThrows(InvalidInputException.class, () -> parse(c[0], c[1]).dashboard(),
                    String.join(" ", c));
            assertTrue(e.getMessage().contains(c[0].substring(2)), e.getMessage());
        }
        InvalidInputException badName = assertThrows(InvalidInputException.class, () -> parse("--dashboard-listen",
                "127.0.0.1:7447", "--dashboard-names", "bad_name!").dashboard());
        assertTrue(badName.getMessage().contains("dashboard-names"), badName.getMessage());
    }

    @Test
    void theDashboardsOwnCertificateNeedsBothFilesAndABadPairStopsTheControllerBeforeItStarts(@org.junit.jupiter.api.io.TempDir Path dir)
            throws Exception {
        var own = parse("--dashboard-listen", "127.0.0.1:7447", "--dashboard-tls-cert", "/etc/virtfleet/dashboard.crt",
                "--dashboard-tls-key", "/etc/virtfleet/dashboard.key").dashboard();
        assertTrue(own.ownCertificate());
        assertEquals(Path.of("/etc/virtfleet/dashboard.crt"), own.tlsCertificate());
        assertEquals(Path.of("/etc/virtfleet/dashboard.key"), own.tlsKey());
        assertFalse(parse("--dashboard-listen", "127.0.0.1:7447").dashboard().ownCertificate(), "the dashboard CA by default");
        assertEquals("dashboard-tls-key", assertThrows(InvalidInputException.class, () -> parse("--dashboard-listen",
                "127.0.0.1:7447", "--dashboard-tls-cert", "/etc/virtfleet/dashboard.crt").dashboard()).field());
        assertEquals("dashboard-tls-cert", assertThrows(InvalidInputException.class, () -> parse("--dashboard-listen",
                "127.0.0.1:7447", "--dashboard-tls-key", "/etc/virtfleet/dashboard.key").dashboard()).field());
        assertEquals("dashboard-tls-cert", assertThrows(InvalidInputException.class, () -> parse(
                "--dashboard-tls-cert", "/a.crt", "--dashboard-tls-key", "/a.key").dashboard()).field(), "with the dashboard off");

        // A key that is not the certificate's: exit 2 naming the setting and the file, before the data directory is touched.
        io.virtfleet.common.security.CertificateAuthority site = io.virtfleet.common.security.CertificateAuthority
                .loadOrCreate(dir.resolve("site"), java.time.Clock.systemUTC());
        Path cert = dir.resolve("dashboard.crt");
        java.nio.file.Files.writeString(cert, io.virtfleet.common.security.Pem.of(site.issueWebServer(
                io.virtfleet.common.security.Keys.generate().getPublic(), "dashboard", List.of("localhost"),
                java.time.Duration.ofDays(1))));
        Path key = dir.resolve("dashboard.key");
        java.nio.file.Files.writeString(key, io.virtfleet.common.security.Pem.of(
                io.virtfleet.common.security.Keys.generate().getPrivate()));
        java.io.ByteArrayOutputStream err = new java.io.ByteArrayOutputStream();
        java.io.PrintStream before = System.err;
        System.setErr(new java.io.PrintStream(err, true, java.nio.charset.StandardCharsets.UTF_8));
        int code;
        try {
            code = new CommandLine(new ControllerMain()).registerConverter(java.time.Duration.class,
                    io.virtfleet.common.units.Durations::parse).execute("--config", dir.resolve("none.conf").toString(),
                    "--data-dir", dir.resolve("data").toString(), "--listen", "127.0.0.1:0", "--dashboard-listen",
                    "127.0.0.1:0", "--dashboard-tls-cert", cert.toString(), "--dashboard-tls-key", key.toString());
        } finally {
            System.setErr(before);
        }
        String said = err.toString(java.nio.charset.StandardCharsets.UTF_8);
        assertEquals(2, code, said);
        assertTrue(said.startsWith("virtfleet-controller: dashboard-tls-key: \"" + key + "\" is not accepted; expected the"
                + " private key of the certificate in dashboard-tls-cert (" + cert + ")"), said);
        assertFalse(java.nio.file.Files.exists(dir.resolve("data")), "nothing started");
    }

    @Test
    void badValuesAreRefusedNamingTheKey() {
        String[][] cases = {
            {"--placement", "random", "placement: "},
            {"--domain-type", "xen", "domain-type: "},
            {"--failover-routes", "203.0.113.7", "failover-routes: "},
            {"--failover-routes", "10.0.0.300=hv1", "failover-routes: "},
            {"--failover-routes", "203.0.113.7=h v", "failover-routes: "},
            {"--memory-ratio", "1.5", "memory-ratio: "},
            {"--n-plus-one", "yes", "n-plus-one: \"yes\" is not accepted; expected off or on"},
            {"--ceph-monitors", "mon1", "ceph-monitors: "},
            {"--reconcile-interval", "10ms", "reconcile-interval: "},
            {"--install-domain", "Vms.Example.net", "install-domain: "},
            {"--install-domain", "vms.example.net;reboot", "install-domain: "},
            {"--install-mirror", "http://deb.debian.org", "install-mirror: "},
            {"--install-mirror", "mirror:70000", "install-mirror: "},
            {"--install-mirror-directory", "/debian/../etc", "install-mirror-directory: "},
            {"--install-mirror-directory", "debian", "install-mirror-directory: "},
            {"--install-proxy", "http://proxy:3142/' && reboot '", "install-proxy: "},
            {"--install-user", "root", "install-user: "},
            {"--install-user", "Ops Team", "install-user: "},
            {"--install-nameservers", "10.0.0.1,10.0.0.2,10.0.0.3,10.0.0.4", "install-nameservers: "},
            {"--install-nameservers", "dns.example.net", "install-nameservers: "},
        };
        for (String[] c : cases) {
            InvalidInputException e = assertThrows(InvalidInputException.class, () -> parse(c[0], c[1]).provisioning(),
                    c[0] + " " + c[1]);
            assertTrue(e.getMessage().startsWith(c[2]), e.getMessage());
        }
    }
}
