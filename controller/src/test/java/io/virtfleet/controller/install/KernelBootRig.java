package io.virtfleet.controller.install;

import io.virtfleet.common.process.Command;
import io.virtfleet.controller.testkit.Clients;
import io.virtfleet.controller.testkit.ControllerJvm;
import io.virtfleet.controller.testkit.HypervisorRack;
import io.virtfleet.controller.testkit.KilledAtExit;
import io.virtfleet.controller.testkit.Logs;
import io.virtfleet.controller.testkit.NetworkNamespaces;
import io.virtfleet.proto.v1.CreateJoinTokenRequest;
import io.virtfleet.proto.v1.CreateVmRequest;
import io.virtfleet.proto.v1.DeleteVmRequest;
import io.virtfleet.proto.v1.FleetGrpc;
import io.virtfleet.proto.v1.HostState;
import io.virtfleet.proto.v1.ListHostsRequest;
import io.virtfleet.proto.v1.VmSpec;
import java.io.IOException;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.libvirt.Connect;

/**
 * One simulated hypervisor of the test kit (a real libvirtd, QEMU/TCG, and a real agent JVM, in a network namespace
 * on an underlay) and a controller in its own JVM arming direct kernel boot installs: a VM's domain boots the
 * installer of Debian's debian-installer-12-netboot-amd64 from the host, with its preseed URL on the kernel command
 * line. The LAN the VMs are on gets what a site's network gives them: a DHCP server (dnsmasq, real) on the host's
 * LAN bridge and a router (the host's namespace) towards the controller's install server on the underlay.
 */
public final class KernelBootRig implements AutoCloseable {
    public static final String HOST = "hv1";
    private static final String UNDERLAY = "10.251.0";
    /** The VMs' LAN as the site would run it: the router is the host's bridge, DHCP hands out .50 to .99. */
    public static final String LAN_PREFIX = "10.252.10";
    private static final Duration HEARTBEAT = Duration.ofMillis(500);
    private static final Pattern PRESEED_URL = Pattern.compile("preseed/url=(http://[^ <]+/)preseed\\.cfg");
    /** No periodic reconciliation: what the test sees restarted, the install's own watch restarted. */
    private static final Duration NO_PASSES = Duration.ofHours(1);

    public final Path work;
    public final HypervisorRack rack;
    public final ControllerJvm controller;
    public final Clients admin;
    /** The first admin's credentials bundle, as the CLI takes it ({@code --credentials}). */
    public final Path adminCredentials;
    public final FleetGrpc.FleetBlockingStub operator;
    public final Path controllerLog;
    public final String installUrl;
    private final NetworkNamespaces probes = new NetworkNamespaces();
    private Process dhcp;
    private final Path dhcpLog;

    /** hv1's public address in the failover rig (its agent's public-address): OVH's gateway is its .254. */
    public static final String HOST_PUBLIC = "203.0.113.20";
    /** The failover IPs routed to hv1 in the failover rig (the controller's failover-routes name the first). */
    public static final String FAILOVER_IP = "198.51.100.77";
    private static final String FAILOVER_NET = "198.51.100.0/24";
    private final boolean publicSite;
    /** The TFTP root the controller writes PXE configs into (PXE rigs), or null (direct kernel boot). */
    public final Path tftp;
    private Process pxeService;
    private final Path pxeLog;
    /** The PXE service's own subnet on br0, for the firmware only (its TFTP server is .1). */
    private static final String PXE_PREFIX = "192.0.2";

    public KernelBootRig(Path work) throws Exception {
        this(work, false, false, null, 0);
    }

    /**
     * A rig for failover-IP VMs: hv1 has a public bridge br0 and the public address {@link #HOST_PUBLIC}; its
     * namespace plays OVH's router (the gateway {@code .254} on br0, forwarding to the controller on the underlay);
     * {@link #FAILOVER_IP} is routed to hv1. No DHCP server exists anywhere.
     */
    public static KernelBootRig failover(Path work) throws Exception {
        return new KernelBootRig(work, true, false, null, 0);
    }

    /**
     * The failover rig with a controller arming PXE installs into {@link #tftp} (a site's TFTP root: pxelinux and
     * the installer of Debian's netboot package); {@link #pxeFirmwareService} answers the VMs' PXE firmware.
     */
    public static KernelBootRig failoverPxe(Path work) throws Exception {
        return new KernelBootRig(work, true, true, null, 0);
    }

    /**
     * The failover rig ({@link #failover(Path)}), whose controller gives the VMs {@code authorizedKeys} as the
     * operators' SSH keys and an HTTP proxy for their packages: port {@code proxyPort} of this machine (which the VMs
     * reach at its underlay address, through their host's namespace).
     */
    public static KernelBootRig failover(Path work, Path authorizedKeys, int proxyPort) throws Exception {
        return new KernelBootRig(work, true, false, authorizedKeys, proxyPort);
    }

    private KernelBootRig(Path work, boolean publicSite, boolean pxe, Path authorizedKeys, int proxyPort) throws Exception {
        this.work = work;
        this.publicSite = publicSite;
        this.tftp = pxe ? tftpRoot(Files.createDirectories(work.resolve("tftp"))) : null;
        this.pxeLog = work.resolve("pxe-dnsmasq.log");
        // The VMs' disks are raw: no Ceph, which would take its seconds to come up and its share of the CPU the
        // installer's emulation needs.
        rack = HypervisorRack.withoutCeph(work.resolve("rack"), UNDERLAY, List.of(HOST), what -> { });
        try {
            if (publicSite) {
                publicNetwork();
            }
            Path keys = authorizedKeys != null ? authorizedKeys
                    : Installer.keyFile(Files.createDirectories(work.resolve("keys")), Installer.ed25519(7, "ops"));
            int port;
            try (ServerSocket free = new ServerSocket(0)) {
                port = free.getLocalPort();
            }
            installUrl = "http://" + rack.controllerAddress() + ":" + port;
            Map<String, String> properties = new java.util.HashMap<>(Map.of(ControllerJvm.KERNEL_BOOT_URL, installUrl,
                    ControllerJvm.INSTALL_KEYS, keys.toString(), ControllerJvm.FAILOVER_ROUTES,
                    publicSite ? FAILOVER_IP + "=" + HOST : "", ControllerJvm.INSTALL_PROXY,
                    proxyPort == 0 ? "" : "http://" + rack.controllerAddress() + ":" + proxyPort + "/"));
            if (tftp != null) {
                properties.put(ControllerJvm.PXE_TFTP_ROOT, tftp.toString());
            }
            ControllerJvm.Settings settings = new ControllerJvm.Settings(work.resolve("controller"), 0, HEARTBEAT,
                    HEARTBEAT.multipliedBy(10), NO_PASSES, properties).withListenHost(rack.controllerAddress());
            controllerLog = work.resolve("controller.log");
            controller = ControllerJvm.start(settings, controllerLog);
            adminCredentials = settings.dataDir().resolve("pki").resolve("admin.pem");
            admin = Clients.as(adminCredentials);
            operator = FleetGrpc.newBlockingStub(admin.controller(controller.endpoint()));
            rack.startAgents(controller.endpoint(), host -> operator.withDeadlineAfter(30, TimeUnit.SECONDS)
                    .createJoinToken(CreateJoinTokenRequest.newBuilder().setHostName(host).setTtlSeconds(600).build())
                    .getToken(), HEARTBEAT, host -> publicSite ? List.of("--public-address", HOST_PUBLIC) : List.of());
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(90);
            while (operator.listHosts(ListHostsRequest.getDefaultInstance()).getHostsList().stream().noneMatch(h ->
                    h.getState() == HostState.HOST_STATE_READY && !h.getReport().getResources().getInstallerKernel().isEmpty())) {
                rack.assertAgentsRunning();
                if (System.nanoTime() > deadline) {
                    throw new AssertionError("hv1 not ready with the installer's files within 90 s:\n" + rack.agentLogs(30));
                }
                Thread.sleep(200);
            }
            dhcpLog = work.resolve("dnsmasq.log");
        } catch (Exception | Error e) {
            rack.close();
            throw e;
        }
    }

    /**
     * hv1's side of OVH's network, as the failover rig needs it before its agent starts: the public bridge br0 with
     * the gateway's address (the host's public address with .254) as a /32, forwarding in hv1's namespace, the
     * failover network routed onto br0, and back from the controller's namespace through hv1. Then a probe plugged
     * into br0 with a failover address, a /32 and on-link routes, as the installer will have, must reach the
     * install server: the network is proven before any installer counts on it.
     */
    private void publicNetwork() {
        String ns = rack.host(HOST).namespace();
        String gateway = HOST_PUBLIC.substring(0, HOST_PUBLIC.lastIndexOf('.')) + ".254";
        run("ip", "-n", ns, "link", "add", "br0", "type", "bridge");
        run("ip", "-n", ns, "link", "set", "br0", "up");
        run("ip", "-n", ns, "addr", "add", gateway + "/32", "dev", "br0");
        run("ip", "-n", ns, "route", "add", FAILOVER_NET, "dev", "br0");
        run("ip", "netns", "exec", ns, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1");
        // The route dies with the underlay's device when the rack closes.
        run("ip", "route", "replace", FAILOVER_NET, "via", rack.host(HOST).address());
    }

    /** Checks that a /32 on br0 with on-link routes to the gateway reaches the install server (see publicNetwork). */
    public void probePublicNetwork() {
        String ns = rack.host(HOST).namespace();
        String gateway = HOST_PUBLIC.substring(0, HOST_PUBLIC.lastIndexOf('.')) + ".254";
        String probe = probes.vm(ns, "br0", "198.51.100.200/32");
        probes.ip(probe, "route", "add", gateway, "dev", "eth0", "scope", "link");
        probes.ip(probe, "route", "add", "default", "via", gateway, "dev", "eth0");
        Command.Result answer = Command.of("ip", "netns", "exec", probe, "curl", "-sS", "-o", "/dev/null", "-w",
                "%{http_code}", "--max-time", "10", installUrl + "/install/probe").timeout(Duration.ofSeconds(20)).run();
        if (!answer.stdout().strip().equals("403")) {
            throw new AssertionError("a failover address on br0 does not reach the install server " + installUrl + ": "
                    + answer.stdout() + " " + answer.stderr());
        }
    }

    /**
     * What a site's PXE service gives a VM's firmware on the public bridge, and nothing more: dnsmasq answers DHCP
     * requests of PXE firmware only (vendor class PXEClient), with an address of its own subnet and pxelinux from
     * {@link #tftp}, and ignores every other DHCP request, an installer's among them ({@link #dhcpAskedBy} shows
     * whether one came).
     */
    public void pxeFirmwareService() throws Exception {
        String ns = rack.host(HOST).namespace();
        run("ip", "-n", ns, "addr", "add", PXE_PREFIX + ".1/24", "dev", "br0");
        pxeService = dnsmasq(ns, pxeLog, "--port=0", "--user=root", "--interface=br0",
                "--dhcp-range=" + PXE_PREFIX + ".50," + PXE_PREFIX + ".99,255.255.255.0,10m",
                "--dhcp-vendorclass=set:pxe,PXEClient", "--dhcp-ignore=tag:!pxe", "--dhcp-boot=pxelinux.0",
                "--enable-tftp", "--tftp-root=" + tftp, "--dhcp-leasefile=" + work.resolve("pxe.leases"),
                "--pid-file=" + work.resolve("pxe.pid"));
    }

    /** The vendor classes of the DHCP requests the PXE service saw from {@code mac} (PXEClient... for firmware). */
    public List<String> dhcpAskedBy(String mac) throws IOException {
        // dnsmasq --log-dhcp logs each request as "<id> available DHCP range" ... "<id> vendor class: X" and
        // "<id> DHCPDISCOVER(br0) <mac>": the transaction id ties them together.
        List<String> lines = Files.readAllLines(pxeLog);
        java.util.Set<String> ids = new java.util.HashSet<>();
        for (String line : lines) {
            Matcher m = Pattern.compile("dnsmasq-dhcp\\[\\d+\\]: (\\d+) DHCP[A-Z]+\\(br0\\) (?:[0-9.]+ )?"
                    + Pattern.quote(mac.toLowerCase(java.util.Locale.ROOT))).matcher(line);
            if (m.find()) {
                ids.add(m.group(1));
            }
        }
        List<String> classes = new java.util.ArrayList<>();
        for (String line : lines) {
            Matcher m = Pattern.compile("dnsmasq-dhcp\\[\\d+\\]: (\\d+) vendor class: (.*)").matcher(line);
            if (m.find() && ids.contains(m.group(1))) {
                classes.add(m.group(2).strip());
            }
        }
        return classes;
    }

    /**
     * dnsmasq in namespace {@code ns}, logging DHCP to {@code log}, with {@code options} after the ones every use
     * shares; returned once it says its sockets are bound (an exit before that is a failure to start).
     */
    private static Process dnsmasq(String ns, Path log, String... options) throws Exception {
        List<String> argv = new java.util.ArrayList<>(List.of("ip", "netns", "exec", ns, "dnsmasq", "--keep-in-foreground",
                "--conf-file=/dev/null", "--no-resolv", "--no-hosts", "--bind-interfaces", "--log-dhcp", "--log-facility=-"));
        argv.addAll(List.of(options));
        Process p = KilledAtExit.track(new ProcessBuilder(argv).redirectErrorStream(true).redirectOutput(log.toFile()).start());
        long bindDeadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
        while (!Files.readString(log).contains("DHCP, sockets bound")) {
            if (!p.isAlive()) {
                throw new AssertionError("dnsmasq exited " + p.exitValue() + ": " + Files.readString(log));
            }
            if (System.nanoTime() > bindDeadline) {
                throw new AssertionError("dnsmasq did not bind its sockets within 30 s: " + Files.readString(log));
            }
            p.waitFor(50, TimeUnit.MILLISECONDS);
        }
        return p;
    }

    /** pxelinux and the installer of Debian's netboot package, as a site's TFTP root holds them. */
    static Path tftpRoot(Path tftp) throws IOException {
        Path netboot = io.virtfleet.agent.hypervisor.InstallerFiles.PACKAGE_DIRECTORY.getParent().getParent();
        Path installer = Files.createDirectories(tftp.resolve("debian-installer/amd64"));
        Files.copy(netboot.resolve("pxelinux.0"), tftp.resolve("pxelinux.0")); // follows the package's symlinks
        Files.copy(netboot.resolve("ldlinux.c32"), tftp.resolve("ldlinux.c32"));
        for (String f : List.of("linux", "initrd.gz")) {
            Files.copy(netboot.resolve("debian-installer/amd64").resolve(f), installer.resolve(f));
        }
        return tftp;
    }

    /** A failover-IP VM light enough for TCG, with {@link #FAILOVER_IP}. */
    public static VmSpec failoverVm(String name, String profile) {
        return Installer.failoverVm(name, profile, FAILOVER_IP).toBuilder().setVcpus(1).setMemoryBytes(1L << 30).build();
    }

    /** A LAN VM light enough for TCG: one vCPU, 1 GiB (the installer's minimum without its low-memory mode). */
    public static VmSpec vm(String name, String profile) {
        return Installer.lanVm(name, profile).toBuilder().setVcpus(1).setMemoryBytes(1L << 30).build();
    }

    public void create(VmSpec spec) {
        operator.withDeadlineAfter(2, TimeUnit.MINUTES).createVm(CreateVmRequest.newBuilder().setSpec(spec).build())
                .forEachRemaining(p -> { });
    }

    public void delete(String name) {
        operator.withDeadlineAfter(2, TimeUnit.MINUTES).deleteVm(DeleteVmRequest.newBuilder().setName(name).build())
                .forEachRemaining(p -> { });
    }

    /**
     * Makes the site's side of LAN {@code lan} on the host, once the agent has made its bridge: the router's address
     * on it, forwarding in the host's namespace, a route back from the controller's, and dnsmasq answering DHCP and
     * DNS (names it has none for: the installer only needs a name server to exist, it asks for one otherwise).
     */
    public void siteNetwork(int lan) throws Exception {
        if (dhcp != null) {
            return;
        }
        String ns = rack.host(HOST).namespace();
        String bridge = "vxbr" + lan;
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (Command.of("ip", "-n", ns, "link", "show", bridge).timeout(Duration.ofSeconds(10)).run().exitCode() != 0) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("the agent made no " + bridge + " in " + ns);
            }
            Thread.sleep(100);
        }
        run("ip", "-n", ns, "addr", "add", LAN_PREFIX + ".1/24", "dev", bridge);
        run("ip", "netns", "exec", ns, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1");
        // The route dies with the underlay's device when the rack closes.
        run("ip", "route", "replace", LAN_PREFIX + ".0/24", "via", rack.host(HOST).address());
        dhcp = dnsmasq(ns, dhcpLog, "--interface=" + bridge,
                "--dhcp-range=" + LAN_PREFIX + ".50," + LAN_PREFIX + ".99,255.255.255.0,1h",
                "--dhcp-option=option:router," + LAN_PREFIX + ".1",
                "--dhcp-leasefile=" + work.resolve("dnsmasq.leases"), "--pid-file=" + work.resolve("dnsmasq.pid"));
        // The site's network must carry a VM's HTTP to the install server before any installer counts on it: a
        // probe on the LAN (a namespace plugged into the bridge) asks the server for a page it refuses.
        String probe = probes.vm(ns, bridge, LAN_PREFIX + ".200/24");
        probes.ip(probe, "route", "add", "default", "via", LAN_PREFIX + ".1");
        Command.Result answer = Command.of("ip", "netns", "exec", probe, "curl", "-sS", "-o", "/dev/null", "-w",
                "%{http_code}", "--max-time", "10", installUrl + "/install/probe").timeout(Duration.ofSeconds(20)).run();
        if (!answer.stdout().strip().equals("403")) {
            throw new AssertionError("the LAN does not reach the install server " + installUrl + ": " + answer.stdout()
                    + " " + answer.stderr());
        }
    }

    /** The address the LAN's DHCP server (see {@link #siteNetwork}) leased to {@code mac}, if it did. */
    public java.util.Optional<String> leasedAddress(String mac) throws IOException {
        Path leases = work.resolve("dnsmasq.leases");
        if (!Files.exists(leases)) {
            return java.util.Optional.empty();
        }
        // dnsmasq's lease lines: EXPIRY MAC ADDRESS HOSTNAME CLIENT-ID
        return Files.readAllLines(leases).stream().map(l -> l.split(" ")).filter(f -> f.length > 2
                && f[1].equalsIgnoreCase(mac)).map(f -> f[2]).findFirst();
    }

    /** The base of a VM's install URLs, with its live token, from its running domain's kernel command line. */
    public String installBase(String vm) throws Exception {
        Connect libvirt = rack.host(HOST).libvirt();
        try {
            String xml = libvirt.domainLookupByName(vm).getXMLDesc(0);
            Matcher m = PRESEED_URL.matcher(xml);
            if (!m.find()) {
                throw new AssertionError("no preseed URL on the kernel command line of " + vm + ": " + xml);
            }
            return m.group(1);
        } finally {
            libvirt.close();
        }
    }

    /**
     * Waits until {@code vm}'s install phase says its preseed was fetched, at most until {@code deadline}
     * (System.nanoTime()); fails with the diagnostics otherwise.
     */
    public void awaitPreseedFetched(String vm, long deadline) throws Exception {
        io.virtfleet.proto.v1.Vm seen = null;
        while (System.nanoTime() < deadline) {
            seen = operator.getVm(io.virtfleet.proto.v1.GetVmRequest.newBuilder().setName(vm).build());
            if (seen.getInstallPhase() == io.virtfleet.proto.v1.VmInstallPhase.VM_INSTALL_PHASE_PRESEED_FETCHED) {
                return;
            }
            Thread.sleep(250);
        }
        throw new AssertionError("no preseed fetch by " + vm + " in time (phase " + (seen == null ? "?" : seen.getInstallPhase())
                + "):\n" + diagnostics());
    }

    /** Waits until {@code vm} fetched {@code count} post-install scripts; returns the controller's lines saying so. */
    public List<String> awaitScripts(String vm, int count, long deadline) throws Exception {
        List<String> scripts = List.of();
        while (System.nanoTime() < deadline) {
            scripts = controllerSaid("VM " + vm + " fetched the post-install script of profile ");
            if (scripts.size() >= count) {
                return scripts;
            }
            Thread.sleep(250);
        }
        throw new AssertionError(scripts.size() + " of " + count + " scripts fetched by " + vm + ":\n" + diagnostics());
    }

    /** The controller's log lines so far that contain {@code text}. */
    public List<String> controllerSaid(String text) throws IOException {
        return Files.readAllLines(controllerLog).stream().filter(l -> l.contains(text)).toList();
    }

    public String diagnostics() throws IOException {
        // Most telling first: a long report is cut at its end.
        return "--- controller ---\n" + controller.logTail(30) + "\n" + rack.agentLogs(20)
                + "\n--- libvirtd ---\n" + rack.host(HOST).node().diagnostics()
                + "\n--- dnsmasq (last lines) ---\n" + (Files.exists(dhcpLog) ? Logs.tail(dhcpLog, 15) : "(none)")
                + (Files.exists(pxeLog) ? "\n--- PXE dnsmasq (last lines) ---\n" + Logs.tail(pxeLog, 15) : "");
    }

    private static void run(String... argv) {
        Command.of(argv).timeout(Duration.ofSeconds(20)).runChecked();
    }

    @Override
    public void close() throws Exception {
        for (Process p : new Process[] {dhcp, pxeService}) {
            if (p != null) {
                p.destroy();
                p.waitFor(5, TimeUnit.SECONDS);
            }
        }
        try {
            admin.close();
            controller.close();
        } finally {
            probes.close();
            if (publicSite) { // also gone with the underlay's device, unless a run dies before the rack closes
                Command.of("ip", "route", "del", FAILOVER_NET).timeout(Duration.ofSeconds(10)).run();
            }
            rack.close();
        }
    }
}
