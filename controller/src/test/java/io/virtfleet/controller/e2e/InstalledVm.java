package io.virtfleet.controller.e2e;

import io.virtfleet.common.process.Command;
import io.virtfleet.controller.install.KernelBootRig;
import io.virtfleet.controller.testkit.NetworkNamespaces;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.libvirt.Connect;
import org.libvirt.Domain;

/**
 * The installed system, proven (run by {@code deploy/e2e/installed-vm.sh}, which says what it needs): a LAN VM
 * (profile ui) and a failover-IP VM (profile api) are created through the CLI on a real libvirtd host in a network
 * namespace (the failover {@link KernelBootRig}: hv1's namespace plays OVH's .254 router, no DHCP on its public
 * bridge; the LAN gets the site's DHCP). Debian's netboot installer cannot get past "Loading additional components"
 * where the registry serves no .udeb files, so each VM's installer domain is switched off at once and
 * {@code play-installer.sh} plays the installer from the preseed the controller serves that VM (its URL read from
 * the domain's kernel command line), in the VM's own network, up to and including the preseed's late command as
 * served; {@code disk-image.sh} makes the VM's disk of the result (MBR, ext4, GRUB); the VM is started through the
 * CLI and boots from that disk through its BIOS. Then, from outside: SSH with the operator's key as the install
 * user, root refused, the profile's service, the failover network, and {@code vm show} saying installed.
 *
 * <p>Every phase is printed with its time; the first failed check ends the run with its name and exit code 1.
 */
public final class InstalledVm {
    private static final String USAGE = "usage: InstalledVm --work DIR --scripts DIR --base DIR --ssh-key FILE"
            + " --proxy-port N";
    private static final String USER = "debian"; // the controller's install-user (its default)
    private static final String LAN_ADDRESS_OF_INSTALLER = KernelBootRig.LAN_PREFIX + ".240/24";
    private static final Pattern CMDLINE = Pattern.compile("<cmdline>([^<]*)</cmdline>");
    private static final Pattern PRESEED_URL = Pattern.compile("preseed/url=(\\S+)");
    private static final Pattern DISK = Pattern.compile("<disk type='file'[^>]*>.*?<source file='([^']+)'", Pattern.DOTALL);
    private static final Pattern NIC = Pattern.compile("<interface type='bridge'>(.*?)</interface>", Pattern.DOTALL);
    private static final Pattern MAC = Pattern.compile("<mac address='([0-9a-f:]+)'/>");
    private static final Pattern PCI = Pattern.compile(
            "<address type='pci' domain='0x0000' bus='0x([0-9a-f]+)' slot='0x([0-9a-f]+)' function='0x([0-9a-f]+)'/>");
    private static final int VIR_DOMAIN_XML_INACTIVE = 2;

    /** One VM of the run. */
    private record Target(String name, String profile, boolean failover) {}

    /** A check that did not hold: its name is what the run prints as failed. */
    static final class CheckFailed extends Exception {
        CheckFailed(String check, String detail) {
            super(check + ": " + detail);
        }
    }

    @FunctionalInterface
    private interface Step<T> {
        T run() throws Exception;
    }

    /**
     * What the run is given: its work directory, the e2e scripts, the cached base system, the operator's SSH key
     * (its public half beside it, {@code .pub}).
     */
    private record Inputs(Path work, Path scripts, Path base, Path sshKey) {}

    private final Inputs in;
    private final List<String> summary = new ArrayList<>();
    private KernelBootRig rig;

    private InstalledVm(Inputs in) {
        this.in = in;
    }

    public static void main(String[] args) throws Exception {
        java.util.Map<String, String> a = new java.util.HashMap<>();
        for (int i = 0; i + 1 < args.length; i += 2) {
            if (!args[i].startsWith("--")) {
                throw new IllegalArgumentException(USAGE);
            }
            a.put(args[i].substring(2), args[i + 1]);
        }
        for (String k : List.of("work", "scripts", "base", "ssh-key", "proxy-port")) {
            if (!a.containsKey(k)) {
                System.err.println(USAGE);
                System.exit(2);
            }
        }
        InstalledVm run = new InstalledVm(new Inputs(Path.of(a.get("work")), Path.of(a.get("scripts")),
                Path.of(a.get("base")), Path.of(a.get("ssh-key"))));
        int status = run.run(Integer.parseInt(a.get("proxy-port")));
        System.exit(status);
    }

    private int run(int proxyPort) throws Exception {
        Path keys = Files.writeString(in.work().resolve("authorized_keys"),
                Files.readString(Path.of(in.sshKey() + ".pub")));
        try (KernelBootRig r = phase("fleet", "fleet up: controller, hv1, Ceph", () ->
                KernelBootRig.failover(in.work().resolve("rig"), keys, proxyPort))) {
            rig = r;
            // The package proxy listened on 127.0.0.1 only; the VMs reach it at this machine's underlay address,
            // which exists from now on: bound there too, and nowhere else.
            phase("fleet", "package proxy bound to the underlay (" + rig.rack.controllerAddress() + ")", () -> {
                runScript("fleet", "apt-proxy.sh", List.of(in.scripts().resolve("apt-proxy.sh").toString()),
                        Map.of("PORT", String.valueOf(proxyPort), "BIND", "127.0.0.1 " + rig.rack.controllerAddress()),
                        2);
                return null;
            });
            phase("fleet", "OVH-like public network probed", () -> {
                rig.probePublicNetwork();
                return null;
            });
            for (Target t : List.of(new Target("ui1", "ui", false), new Target("api1", "api", true))) {
                install(t);
            }
        } catch (CheckFailed e) {
            System.out.println();
            System.out.println("e2e FAILED: " + e.getMessage());
            if (rig != null) {
                System.out.println(rig.diagnostics());
            }
            return 1;
        }
        System.out.println();
        System.out.println("== summary (s)");
        summary.forEach(System.out::println);
        System.out.println("e2e PASSED: both VMs installed from their served preseeds, booted from their disks, checked");
        return 0;
    }

    private void install(Target t) throws Exception {
        String vm = t.name();
        List<String> create = new ArrayList<>(List.of("vm", "create", vm, "--storage", "raw", "--size", "4G",
                "--memory", "1G", "--vcpus", "1", "--profile", t.profile()));
        create.addAll(t.failover()
                ? List.of("--failover-ip", KernelBootRig.FAILOVER_IP, "--failover-mac", "02:00:00:ab:cd:ef")
                : List.of("--lan", "10"));
        phase(vm, "vm create --profile " + t.profile() + " (CLI)", () -> cli(vm + ": vm create", create));
        if (!t.failover()) {
            phase(vm, "site LAN: router and DHCP (dnsmasq)", () -> {
                rig.siteNetwork(10);
                return null;
            });
        }
        // The real installer would stop at "Loading additional components" here: switched off at once (a power
        // cut: it ignores ACPI), and kept off by the controller (vm stop) until its disk is made.
        phase(vm, "installer switched off (destroy, vm stop)", () -> {
            withDomain(vm, d -> {
                if (d.isActive() == 1) {
                    d.destroy();
                }
                return null;
            });
            return cli(vm + ": vm stop", List.of("vm", "stop", vm));
        });
        String xml = withDomain(vm, d -> d.getXMLDesc(VIR_DOMAIN_XML_INACTIVE));
        String cmdline = unescape(find(CMDLINE, xml, "kernel command line", vm));
        String preseedUrl = find(PRESEED_URL, cmdline, "preseed URL on the kernel command line", vm);
        String disk = find(DISK, xml, "disk file", vm);
        String nicXml = find(NIC, xml, "network interface", vm);
        String mac = find(MAC, nicXml, "MAC address", vm);
        String nic = nicName(nicXml, vm);
        Path dir = Files.createDirectories(in.work().resolve(vm));

        // The installer's network: the VM's own, seen from a namespace plugged into the VM's bridge.
        String hostNs = rig.rack.host(KernelBootRig.HOST).namespace();
        try (NetworkNamespaces installerNet = new NetworkNamespaces()) {
            String ns = phase(vm, "installer network (" + nic + ", " + mac + ")", () -> installerNetwork(installerNet,
                    hostNs, t, nic, mac));
            phase(vm, "installer played to its late command", () -> {
                runScript(vm, "play-installer.sh", List.of("ip", "netns", "exec", ns,
                        in.scripts().resolve("play-installer.sh").toString(),
                        preseedUrl, cmdline, in.base().toString(), dir.toString()), 40);
                return null;
            });
        }
        // The VM will answer ARP for its address with the same MAC, but the bridge's host forgets the installer's.
        Command.of("ip", "-n", hostNs, "neigh", "flush", "all").timeout(Duration.ofSeconds(10)).run();
        checkInstalled(vm, "callback reached the controller: installed");
        String definition = withDomain(vm, d -> d.getXMLDesc(VIR_DOMAIN_XML_INACTIVE));
        checkThat(vm, "definition boots from its disk", !definition.contains("<kernel>"), definition);

        String uuid = Files.readString(dir.resolve("root-uuid")).strip();
        phase(vm, "disk: MBR + ext4 -d + GRUB (no loop)", () -> {
            runScript(vm, "disk-image.sh", List.of(in.scripts().resolve("disk-image.sh").toString(),
                    dir.resolve("root").toString(), uuid, disk, dir.toString()), 10);
            return null;
        });
        phase(vm, "vm start (CLI): boots its disk", () -> cli(vm + ": vm start", List.of("vm", "start", vm)));
        String address = phase(vm, "boot from disk to SSH login", () -> awaitSsh(vm, t, mac));
        verify(t, address);
        phase(vm, "vm stop (CLI): ACPI shutdown", () -> cli(vm + ": vm stop", List.of("vm", "stop", vm)));
    }

    /** The installer's network namespace for {@code t}: its NIC's name and MAC, the address it would have had. */
    private String installerNetwork(NetworkNamespaces net, String hostNs, Target t, String nic, String mac) {
        String ns;
        if (t.failover()) {
            // As virtfleet's hook in the installer's initrd leaves it: the /32, on-link and default routes to .254.
            String gateway = KernelBootRig.HOST_PUBLIC.substring(0, KernelBootRig.HOST_PUBLIC.lastIndexOf('.')) + ".254";
            ns = net.vm(hostNs, "br0", KernelBootRig.FAILOVER_IP + "/32", nic);
            net.ip(ns, "route", "add", gateway, "dev", nic, "scope", "link");
            net.ip(ns, "route", "add", "default", "via", gateway, "dev", nic);
        } else {
            // An address of the LAN's (outside the DHCP range) and its router, as DHCP would have given.
            ns = net.vm(hostNs, "vxbr10", LAN_ADDRESS_OF_INSTALLER, nic);
            net.ip(ns, "route", "add", "default", "via", KernelBootRig.LAN_PREFIX + ".1");
        }
        net.ip(ns, "link", "set", "dev", nic, "address", mac);
        return ns;
    }

    /** Waits until the installed VM answers SSH as the install user with the operator's key; returns its address. */
    private String awaitSsh(String vm, Target t, String mac) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(5);
        Command.Result last = null;
        while (System.nanoTime() < deadline) {
            Optional<String> address = t.failover() ? Optional.of(KernelBootRig.FAILOVER_IP) : rig.leasedAddress(mac);
            if (address.isPresent()) {
                last = ssh(USER, address.get(), "true");
                if (last.exitCode() == 0) {
                    return address.get();
                }
            }
            Thread.sleep(3000);
        }
        throw new CheckFailed(vm + ": SSH as " + USER + " with the operator's key", "no login within 5 minutes"
                + (last == null ? " (no DHCP lease for " + mac + ")" : ": " + last.stderr().strip()));
    }

    private void verify(Target t, String address) throws Exception {
        String vm = t.name();
        String who = sshOk(vm, address, "id -un").strip();
        checkThat(vm, "operator's key logs in as " + USER + " (" + address + ")", who.equals(USER), who);
        Command.Result root = ssh("root", address, "true");
        checkThat(vm, "root login refused", root.exitCode() == 255 && root.stderr().contains("Permission denied"),
                "ssh root@" + address + " exited " + root.exitCode() + ": " + root.stderr().strip());
        String sshd = sshOk(vm, address, "sudo -n sshd -T");
        checkThat(vm, "sshd: PermitRootLogin no, no passwords", sshd.contains("permitrootlogin no")
                && sshd.contains("passwordauthentication no"), sshd);
        if (t.profile().equals("ui")) {
            String page = curl(vm, "http://" + address + "/");
            checkThat(vm, "nginx answers on port 80", page.contains("ready for the UI"), page);
        } else {
            String active = ssh(USER, address, "systemctl is-active api.service").stdout().strip();
            checkThat(vm, "api.service active", active.equals("active"), "systemctl is-active api.service: " + active);
            String health = curl(vm, "http://" + address + "/health");
            checkThat(vm, "api answers /health through nginx", health.strip().equals("ok"), health);
        }
        if (t.failover()) {
            String gateway = KernelBootRig.HOST_PUBLIC.substring(0, KernelBootRig.HOST_PUBLIC.lastIndexOf('.')) + ".254";
            String addresses = sshOk(vm, address, "ip -4 -o addr show scope global");
            checkThat(vm, "failover IP as a /32", addresses.contains(" " + KernelBootRig.FAILOVER_IP + "/32 "), addresses);
            String routes = sshOk(vm, address, "ip -4 route show");
            checkThat(vm, "on-link route to " + gateway, Pattern.compile("(?m)^" + Pattern.quote(gateway)
                    + " dev \\S+ scope link").matcher(routes).find(), routes);
            checkThat(vm, "default route via " + gateway, Pattern.compile("(?m)^default via " + Pattern.quote(gateway)
                    + " dev ").matcher(routes).find(), routes);
            URI install = URI.create(rig.installUrl);
            // The install server refuses a path that is no install file with 403: an answer from the controller.
            String answer = sshOk(vm, address, "bash -c 'exec 3<>/dev/tcp/" + install.getHost() + "/" + install.getPort()
                    + " && printf \"GET /install/probe HTTP/1.0\\r\\n\\r\\n\" >&3 && head -n 1 <&3'");
            checkThat(vm, "reaches the controller (" + install.getHost() + ")", answer.contains(" 403 "), answer);
        }
        checkInstalled(vm, "vm show -o json: installed");
    }

    /** {@code vm show NAME -o json} through the CLI must say the VM is installed. */
    private void checkInstalled(String vm, String check) throws CheckFailed {
        String shown;
        try {
            shown = cli(vm + ": vm show", List.of("-o", "json", "vm", "show", vm));
        } catch (IllegalStateException e) {
            throw new CheckFailed(vm + ": " + check, e.getMessage());
        }
        checkThat(vm, check, shown.contains("\"install_phase\": \"VM_INSTALL_PHASE_INSTALLED\""), shown);
        System.out.printf(Locale.ROOT, "%-12s   %s%n", vm, String.join(" ", shown.lines().filter(l ->
                l.contains("\"install_phase\"") || l.contains("\"domain_state\"") || l.contains("\"running_wanted\""))
                .map(String::strip).toList()));
    }

    private void checkThat(String vm, String check, boolean holds, String detail) throws CheckFailed {
        System.out.printf(Locale.ROOT, "%-12s %-50s %4s%n", vm, "check: " + check, holds ? "ok" : "FAILED");
        if (!holds) {
            throw new CheckFailed(vm + ": " + check, detail);
        }
    }

    private Command.Result ssh(String user, String address, String command) {
        return Command.of("ssh", "-F", "/dev/null", "-i", in.sshKey().toString(), "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
                "-o", "UserKnownHostsFile=/dev/null", "-o", "ConnectTimeout=5", "-o", "LogLevel=ERROR",
                "-o", "IdentitiesOnly=yes", user + "@" + address, command).timeout(Duration.ofSeconds(30)).run();
    }

    private String sshOk(String vm, String address, String command) throws CheckFailed {
        Command.Result r = ssh(USER, address, command);
        if (r.exitCode() != 0) {
            throw new CheckFailed(vm + ": ssh " + USER + "@" + address + " " + command, "exit " + r.exitCode() + ": "
                    + r.stderr().strip());
        }
        return r.stdout();
    }

    private String curl(String vm, String url) throws CheckFailed {
        Command.Result r = Command.of("curl", "-sS", "--max-time", "10", url).timeout(Duration.ofSeconds(20)).run();
        if (r.exitCode() != 0) {
            throw new CheckFailed(vm + ": GET " + url, r.stderr().strip());
        }
        return r.stdout();
    }

    /** The operator CLI as a child process, with the rig's admin credentials; fails the run unless it exits 0. */
    private String cli(String what, List<String> args) {
        List<String> argv = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-XX:TieredStopAtLevel=1", "-cp", System.getProperty("java.class.path"),
                "io.virtfleet.controller.cli.VirtfleetCli", "--controller", rig.controller.endpoint().toString(),
                "--credentials", rig.adminCredentials.toString()));
        argv.addAll(args);
        Command.Result r = Command.of(argv).timeout(Duration.ofMinutes(3)).run();
        if (r.exitCode() != 0) {
            throw new IllegalStateException(what + " exited " + r.exitCode() + ": " + r.stdout() + r.stderr());
        }
        if (!args.contains("json")) {
            r.stdout().lines().forEach(l -> System.out.println("             | " + l));
        }
        return r.stdout();
    }

    /** Runs one of the e2e scripts, its output going to ours; fails the run unless it exits 0 within its time. */
    private void runScript(String vm, String script, List<String> argv, int minutes) throws Exception {
        runScript(vm, script, argv, Map.of(), minutes);
    }

    private void runScript(String vm, String script, List<String> argv, Map<String, String> env, int minutes)
            throws Exception {
        ProcessBuilder pb = new ProcessBuilder(argv).inheritIO();
        pb.environment().put("E2E_LABEL", vm);
        pb.environment().putAll(env);
        Process p = pb.start();
        if (!p.waitFor(minutes, TimeUnit.MINUTES)) {
            // With everything it started (unshare, chroot, apt-get): they would keep the installer's network
            // namespace, and its MAC and address, alive beside the VM, and write into the work directory.
            p.descendants().forEach(ProcessHandle::destroyForcibly);
            p.destroyForcibly();
            throw new CheckFailed(vm + ": " + script, "still running after " + minutes + " minutes");
        }
        if (p.exitValue() != 0) {
            throw new CheckFailed(vm + ": " + script, "exited " + p.exitValue() + " (logs in " + in.work().resolve(vm)
                    + ")");
        }
    }

    private <T> T phase(String label, String name, Step<T> step) throws Exception {
        long t0 = System.nanoTime();
        try {
            T result = step.run();
            double s = (System.nanoTime() - t0) / 1e9;
            String line = String.format(Locale.ROOT, "%-12s %-50s %6.1f s", label, name, s);
            System.out.println(line);
            summary.add(line);
            return result;
        } catch (CheckFailed e) {
            throw e;
        } catch (Exception e) {
            System.out.printf(Locale.ROOT, "%-12s %-50s %6.1f s  FAILED%n", label, name, (System.nanoTime() - t0) / 1e9);
            throw new CheckFailed(label + ": " + name, String.valueOf(e.getMessage()));
        }
    }

    @FunctionalInterface
    private interface OnDomain<T> {
        T apply(Domain d) throws Exception;
    }

    private <T> T withDomain(String vm, OnDomain<T> what) throws Exception {
        Connect libvirt = rig.rack.host(KernelBootRig.HOST).libvirt();
        try {
            return what.apply(libvirt.domainLookupByName(vm));
        } finally {
            libvirt.close();
        }
    }

    /**
     * The name the guest's udev gives its virtio NIC (systemd's predictable names, from the PCI address libvirt
     * gave it): enpBsS on a PCI Express port (q35), ensS on the root bus. The installed system's network uses that
     * name, as the installer's does; the booted VM's own network proves it right.
     */
    static String nicName(String interfaceXml, String vm) throws CheckFailed {
        Matcher m = PCI.matcher(interfaceXml);
        if (!m.find()) {
            throw new CheckFailed(vm + ": NIC's PCI address", "none in " + interfaceXml);
        }
        int bus = Integer.parseInt(m.group(1), 16);
        int slot = Integer.parseInt(m.group(2), 16);
        int function = Integer.parseInt(m.group(3), 16);
        return (bus == 0 ? "ens" + slot : "enp" + bus + "s" + slot) + (function == 0 ? "" : "f" + function);
    }

    private static String find(Pattern p, String text, String what, String vm) throws CheckFailed {
        Matcher m = p.matcher(text);
        if (!m.find()) {
            throw new CheckFailed(vm + ": " + what + " in the domain's definition", text);
        }
        return m.group(1);
    }

    private static String unescape(String xmlText) {
        return xmlText.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", "\"").replace("&apos;", "'")
                .replace("&amp;", "&");
    }
}
