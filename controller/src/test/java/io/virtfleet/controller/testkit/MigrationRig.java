package io.virtfleet.controller.testkit;

import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.ServerInterceptors;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import io.virtfleet.agent.api.AgentService;
import io.virtfleet.agent.hypervisor.DefinitionLedger;
import io.virtfleet.agent.hypervisor.Domains;
import io.virtfleet.agent.hypervisor.InstallerFiles;
import io.virtfleet.agent.hypervisor.LibvirtHypervisor;
import io.virtfleet.agent.hypervisor.Migrations;
import io.virtfleet.agent.storage.CephSecret;
import io.virtfleet.common.process.Command;
import io.virtfleet.common.transport.StatusMapping;
import io.virtfleet.common.units.Bytes;
import io.virtfleet.common.validation.Endpoint;
import io.virtfleet.controller.definitions.Boot;
import io.virtfleet.controller.definitions.DomainSettings;
import io.virtfleet.controller.definitions.DomainXml;
import io.virtfleet.controller.testkit.HypervisorRack.Host;
import io.virtfleet.controller.testkit.HypervisorRack.LibvirtListening;
import io.virtfleet.proto.v1.NetworkSpec;
import io.virtfleet.proto.v1.StorageTier;
import io.virtfleet.proto.v1.VmSpec;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.function.Function;

/**
 * Hypervisors that migrate running VMs to each other: a {@link HypervisorRack} whose libvirtds listen on TLS
 * ({@link LibvirtListening}), every host with the cephx secret and LAN 10's bridge a rendered VM needs, and on each
 * host the agent's domain operations and migrations served as the agent's gRPC API in this JVM (in-process), on that
 * host's libvirtd with its libvirt TLS client certificate. The controller's side (placement, records) is not here:
 * callers call {@code Agent.MigrateDomain} as the controller would.
 *
 * <p>VMs are rendered as the controller renders them ({@link #render}), booting the Debian installer's kernel and
 * initrd, which keep running under TCG. Needs root, the packages of deploy/dev/install-deps.sh and
 * debian-installer-12-netboot-amd64.
 */
public final class MigrationRig implements AutoCloseable {
    /** The images directory every host's agent uses: in each libvirtd's mount namespace, the node's own. */
    public static final Path IMAGES = Path.of("/var/lib/libvirt/images");
    public static final InstallerFiles INSTALLER = new InstallerFiles(InstallerFiles.PACKAGE_DIRECTORY);
    /** The LAN of rendered VMs; its bridge exists on every host. */
    public static final int LAN = 10;

    /** One host's agent parts in this JVM. */
    public record HostAgent(LibvirtHypervisor hypervisor, Domains domains, Migrations migrations,
                            io.virtfleet.agent.hypervisor.HypervisorPoller poller, Server server, ManagedChannel channel) {}

    private final HypervisorRack rack;
    private final Map<String, HostAgent> agents = new LinkedHashMap<>();
    private final DomainXml renderer;

    private MigrationRig(HypervisorRack rack) {
        this.rack = rack;
        this.renderer = new DomainXml(DomainSettings.defaults().withDomainType(DomainSettings.QEMU)
                .withImagesDirectory(IMAGES).withCephMonitors(List.of(Endpoint.parse("monitor", rack.ceph().monitor()))));
    }

    /** Starts the rack (each host listening as {@code listening} says) and every host's agent API. */
    public static MigrationRig start(Path work, String underlay, List<String> hosts,
                                     Function<String, LibvirtListening> listening, Consumer<String> lap) throws IOException {
        HypervisorRack rack = HypervisorRack.start(work, underlay, hosts, listening, lap);
        MigrationRig rig = new MigrationRig(rack);
        try {
            for (Host h : rack.hosts()) {
                rig.prepare(h);
            }
        } catch (IOException | RuntimeException | Error e) {
            rig.close();
            throw e;
        }
        lap.accept("agent APIs up on " + hosts);
        return rig;
    }

    private void prepare(Host h) throws IOException {
        String bridge = DomainXml.lanBridge(LAN);
        Command.of("ip", "-n", h.namespace(), "link", "add", bridge, "type", "bridge").runChecked();
        Command.of("ip", "-n", h.namespace(), "link", "set", bridge, "up").runChecked();
        Files.createDirectories(images(h));
        LibvirtHypervisor hypervisor = new LibvirtHypervisor(h.node().uri(), DefinitionLedger.load(h.stateDir()));
        new CephSecret(hypervisor, rack.cephSettings()).ensure();
        Domains domains = new Domains(hypervisor, IMAGES, INSTALLER, () -> { });
        Migrations migrations = new Migrations(hypervisor, IMAGES, INSTALLER,
                new Migrations.Settings(h.name(), h.libvirtTlsDirectory(), () -> Set.of(h.address())), () -> { });
        // Reports on demand only (DescribeHost): polled when asked, never on a schedule that would compete with QEMU.
        var poller = new io.virtfleet.agent.hypervisor.HypervisorPoller(hypervisor, java.time.Duration.ofHours(1),
                java.time.Duration.ofSeconds(30)).start();
        var reporter = new io.virtfleet.agent.report.HostReporter(h.name(),
                new io.virtfleet.agent.metrics.HostMetrics(images(h)), poller, () -> "",
                () -> new io.virtfleet.agent.sync.SyncState.Status("", ""), "");
        String name = InProcessServerBuilder.generateName();
        Server server = InProcessServerBuilder.forName(name).addService(ServerInterceptors.intercept(
                new AgentService(reporter, domains, null, null, null, null, migrations), new StatusMapping())).build().start();
        agents.put(h.name(), new HostAgent(hypervisor, domains, migrations, poller, server,
                InProcessChannelBuilder.forName(name).build()));
    }

    public HypervisorRack rack() {
        return rack;
    }

    public Host host(String name) {
        return rack.host(name);
    }

    /** The agent of {@code host}: its API's channel ({@code AgentGrpc} stubs), domains and migrations. */
    public HostAgent agent(String host) {
        HostAgent a = agents.get(host);
        if (a == null) {
            throw new IllegalArgumentException("no agent on " + host + ": " + agents.keySet());
        }
        return a;
    }

    /** Where {@code host}'s libvirtd finds the raw disk image of {@code vm} (its {@link #IMAGES}). */
    public static Path disk(Host host, String vm) {
        return images(host).resolve(vm + ".img");
    }

    private static Path images(Host host) {
        return host.node().dir().resolve("lib").resolve("images");
    }

    /** The VM's definition as the controller renders it, booting the installer's kernel (which keeps running). */
    public String render(String vm, StorageTier tier, long memoryBytes) {
        VmSpec spec = VmSpec.newBuilder().setName(vm).setStorage(tier).setDiskBytes(Bytes.GIB).setMemoryBytes(memoryBytes)
                .setVcpus(1).setNetwork(NetworkSpec.newBuilder().setLan(LAN)).setProfile("base").build();
        return renderer.render(spec, Boot.kernel("console=ttyS0,115200n8 priority=critical")
                .withFiles(INSTALLER.kernel().toString(), INSTALLER.initrd().toString()));
    }

    /** The agent of {@code host} defines {@code vm} as its home and starts it. */
    public void startOn(String host, String vm, String xml) throws Exception {
        Domains domains = agent(host).domains();
        domains.define(vm, xml, "", false).get(60, TimeUnit.SECONDS);
        domains.setRunning(vm, true, java.time.Duration.ZERO).get(120, TimeUnit.SECONDS);
    }

    /** Agents first, then the rack (libvirtds with their domains, Ceph, namespaces). */
    @Override
    public void close() {
        try {
            for (HostAgent a : agents.values()) {
                a.channel().shutdownNow();
                a.server().shutdownNow();
                a.migrations().close();
                a.poller().close();
                a.domains().close();
                a.hypervisor().close();
            }
            agents.clear();
        } finally {
            rack.close();
        }
    }
}
