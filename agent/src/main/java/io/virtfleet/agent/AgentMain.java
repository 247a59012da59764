package io.virtfleet.agent;

import io.virtfleet.agent.enrollment.Enroller;
import io.virtfleet.agent.enrollment.JoinToken;
import io.virtfleet.agent.hypervisor.Domains;
import io.virtfleet.agent.hypervisor.InstallerFiles;
import io.virtfleet.agent.hypervisor.LibvirtHypervisor;
import io.virtfleet.agent.hypervisor.Migrations;
import io.virtfleet.agent.libvirttls.LibvirtTlsSettings;
import io.virtfleet.agent.storage.CephSettings;
import io.virtfleet.agent.sync.DefinitionsClone;
import io.virtfleet.common.cli.ExitCode;
import io.virtfleet.common.cli.VersionProvider;
import io.virtfleet.common.config.ConfiguredCommand;
import io.virtfleet.common.logging.Logging;
import io.virtfleet.common.validation.Endpoint;
import io.virtfleet.common.validation.InterfaceNames;
import io.virtfleet.common.validation.InvalidInputException;
import io.virtfleet.common.validation.Ipv4;
import io.virtfleet.common.validation.Names;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import io.virtfleet.common.metrics.MetricsEndpoint;
import picocli.CommandLine.Option;

/** {@code virtfleet-agent}: the per-hypervisor service. Runs until stopped; never exits on its own. */
@Command(name = "virtfleet-agent", mixinStandardHelpOptions = true, sortOptions = false,
        versionProvider = VersionProvider.class,
        description = {
            "Reports this hypervisor (OSHI facts and libvirt domains) to the virtfleet controller and carries out",
            "its commands. Every option can also be set in the configuration file as 'name = value'",
            "(e.g. 'heartbeat-interval = 5s'); options on the command line win."
        },
        exitCodeListHeading = "%nExit codes:%n",
        exitCodeList = {"1:failed to start (the message says why)",
            "2:bad option or configuration file (file, line and key are named), or enrollment refused",
            "143:stopped by SIGTERM (systemctl stop): a clean stop"})
public final class AgentMain implements Callable<Integer> {
    static final Path DEFAULT_CONFIG = Path.of("/etc/virtfleet/agent.conf");
    private static final Set<String> TIERS = Set.of("ssd", "sata", "raw");

    @Option(names = "--config", paramLabel = "FILE",
            description = "Configuration file (default: ${DEFAULT-VALUE}; ignored when absent).",
            defaultValue = "/etc/virtfleet/agent.conf")
    Path configFile;

    @Option(names = "--host-name", paramLabel = "NAME",
            description = "Name of this host in the fleet, a DNS label (default: this machine's short host name).")
    String hostName;

    @Option(names = "--controller", paramLabel = "HOST:PORT", required = true,
            description = "Address of the controller's gRPC port, e.g. controller.example:7440.")
    String controller;

    @Option(names = "--listen", paramLabel = "HOST:PORT", defaultValue = "0.0.0.0:7441",
            description = "Where this agent serves its API for the controller (default: ${DEFAULT-VALUE}).")
    String listen;

    @Option(names = "--advertise", paramLabel = "HOST:PORT",
            description = "Address the controller should use to reach this agent (default: host name and listen port).")
    String advertise;

    @Option(names = "--libvirt-uri", paramLabel = "URI", defaultValue = "qemu:///system",
            description = "libvirt connection URI (default: ${DEFAULT-VALUE}).")
    String libvirtUri;

    @Option(names = "--heartbeat-interval", paramLabel = "DURATION", defaultValue = "5s",
            description = "Time between heartbeats, e.g. 1s, 5s (default: ${DEFAULT-VALUE}).")
    Duration heartbeatInterval;

    @Option(names = "--max-backoff", paramLabel = "DURATION", defaultValue = "30s",
            description = "Longest wait between attempts while the controller is unreachable (default: ${DEFAULT-VALUE}).")
    Duration maxBackoff;

    @Option(names = "--images-dir", paramLabel = "DIR", defaultValue = "/var/lib/libvirt/images",
            description = "Directory of local (raw) disk images (default: ${DEFAULT-VALUE}).")
    Path imagesDir;

    @Option(names = "--installer-dir", paramLabel = "DIR",
            defaultValue = InstallerFiles.PACKAGE_PATH,
            description = {"Where the Debian installer's linux and initrd.gz are, for VMs the controller installs by",
                    "direct kernel boot (boot-mode kernel); the default is where Debian's package",
                    "debian-installer-12-netboot-amd64 puts them (default: ${DEFAULT-VALUE})."})
    Path installerDir;

    @Option(names = "--state-dir", paramLabel = "DIR", defaultValue = "/var/lib/virtfleet/agent",
            description = "Where the agent keeps its identity and what it defined (default: ${DEFAULT-VALUE}).")
    Path stateDir;

    @Option(names = "--storage-tiers", paramLabel = "TIER", split = ",", defaultValue = "ssd,sata,raw",
            description = "Storage tiers this host serves: ssd, sata, raw (default: ${DEFAULT-VALUE}).")
    List<String> storageTiers;

    @Option(names = "--join-token-file", paramLabel = "FILE", defaultValue = "/etc/virtfleet/join-token",
            description = {"File holding the join token, used when the agent has no valid certificate (first start,",
                "or after being off past its certificate's life). Read only then (default: ${DEFAULT-VALUE})."})
    Path joinTokenFile;

    @Option(names = "--join-token", paramLabel = "TOKEN",
            description = "The join token itself (visible to other users in the process list: prefer the file).")
    String joinToken;

    @Option(names = "--ceph-conf", paramLabel = "FILE", defaultValue = "/etc/ceph/ceph.conf",
            description = "ceph.conf of the cluster holding the ssd and sata tiers (default: ${DEFAULT-VALUE}).")
    Path cephConf;

    @Option(names = "--ceph-client", paramLabel = "NAME", defaultValue = "libvirt",
            description = {"cephx user the agent and libvirt act as, without 'client.' (default: ${DEFAULT-VALUE}).",
                "The agent keeps its key in the libvirt secret 'client.NAME secret' that domains name."})
    String cephClient;

    @Option(names = "--ceph-keyring", paramLabel = "FILE", defaultValue = "/etc/ceph/ceph.client.libvirt.keyring",
            description = "Keyring holding that user's key (default: ${DEFAULT-VALUE}).")
    Path cephKeyring;

    @Option(names = "--ceph-pool-ssd", paramLabel = "POOL", defaultValue = "libvirt-ssd",
            description = "RBD pool of the ssd storage tier (default: ${DEFAULT-VALUE}).")
    String cephPoolSsd;

    @Option(names = "--ceph-pool-sata", paramLabel = "POOL", defaultValue = "libvirt-sata",
            description = "RBD pool of the sata storage tier (default: ${DEFAULT-VALUE}).")
    String cephPoolSata;

    @Option(names = "--ceph-timeout", paramLabel = "DURATION", defaultValue = "20s",
            description = "Longest wait for Ceph's monitors or OSDs in one call before Ceph counts as unreachable (default: ${DEFAULT-VALUE}).")
    Duration cephTimeout;

    @Option(names = "--ceph-client-addresses", paramLabel = "IP", split = ",",
            description = {"Local addresses this host reaches Ceph from, reported so the controller can put them on",
                "Ceph's OSD blocklist if the host is lost, e.g. 10.0.1.5; replaces detection (default: every global",
                "address of each interface through which a monitor of ceph-conf's mon_host is reached)."})
    List<String> cephClientAddresses = new java.util.ArrayList<>();

    @Option(names = "--vxlan-device", paramLabel = "INTERFACE",
            description = {"Interface connecting the hypervisors, that VXLAN LANs run over, e.g. eth1",
                "(default: none: this host takes no LAN VMs)."})
    String vxlanDevice;

    @Option(names = "--vxlan-local-address", paramLabel = "IPV4",
            description = {"Address this host's VXLAN traffic leaves from and other hosts send to",
                "(default: the first IPv4 address of vxlan-device)."})
    String vxlanLocalAddress;

    @Option(names = "--vxlan-port", paramLabel = "PORT", defaultValue = "4789",
            description = "UDP port of VXLAN traffic, the same on every host (default: ${DEFAULT-VALUE}).")
    int vxlanPort;

    @Option(names = "--public-bridge", paramLabel = "BRIDGE", defaultValue = "br0",
            description = {"Bridge carrying this host's uplink, which failover-IP VMs attach to; checked, never",
                "created (default: ${DEFAULT-VALUE})."})
    String publicBridge;

    @Option(names = "--public-address", paramLabel = "IPV4",
            description = {"This host's public IPv4 address, to which its failover IPs are routed (at OVH the",
                "server's main IPv4 address): a failover-IP VM's gateway is it with .254 as last number",
                "(default: none: this host takes no failover-IP VMs)."})
    String publicAddress;

    @Option(names = "--migration-address", paramLabel = "IPV4",
            description = {"Address other hypervisors reach this host's libvirtd (TLS, port 16514) and QEMU (ports",
                "49152-49215) on when VMs move here by live migration; the host's fleet-issued libvirt",
                "certificate names it (default: the VXLAN address, else the advertised address if an IPv4 one)."})
    String migrationAddress;

    @Option(names = "--migration-timeout", paramLabel = "DURATION", defaultValue = "30m",
            description = {"How long a live migration away from this host may run before it is aborted, the VM left",
                "running here: a guest that writes memory faster than it can be sent never finishes, even",
                "slowed down by libvirt's auto-converge; 1m to 24h (default: ${DEFAULT-VALUE})."})
    Duration migrationTimeout;

    @Option(names = "--shutdown-grace", paramLabel = "DURATION", defaultValue = "60s",
            description = {"How long a guest asked to shut down (ACPI power button) is given before it is destroyed,",
                "for stops that name no grace (virtfleet vm stop); 1s to 60s (default: ${DEFAULT-VALUE})."})
    Duration shutdownGrace;

    @Option(names = "--definition-refresh", paramLabel = "DURATION", defaultValue = "10s",
            description = {"How long what the agent read of a domain's definition is trusted before it reads it from",
                "libvirt again: a definition changed by hand (virsh edit) is reported as drift this late at",
                "most; shorter costs more CPU with many domains; 1s to 10m (default: ${DEFAULT-VALUE})."})
    Duration definitionRefresh;

    @Option(names = "--definitions-dir", paramLabel = "DIR", defaultValue = "/srv/common",
            description = {"This host's clone of the definitions repository, from which it defines the replicas of",
                "other hosts' VMs; owned by virtfleet, edits in it are undone (default: ${DEFAULT-VALUE})."})
    Path definitionsDir;

    @Option(names = "--definitions-remote", paramLabel = "URL",
            description = {"Pull the definitions from this git repository instead of the controller's git server:",
                "https://host/path (server trusted as the JVM trusts web servers) or file:///path. No credentials",
                "are sent; who may read it is the remote's business (default: the controller's)."})
    String definitionsRemote;

    @Option(names = "--libvirt-ca-file", paramLabel = "FILE", defaultValue = "/etc/pki/CA/cacert.pem",
            description = {"Where the agent installs the fleet CA for libvirtd (libvirtd.conf ca_file) and libvirt",
                "clients on this host (default: ${DEFAULT-VALUE})."})
    Path libvirtCaFile;

    @Option(names = "--libvirt-server-cert", paramLabel = "FILE", defaultValue = "/etc/pki/libvirt/servercert.pem",
            description = {"Where the agent installs this host's fleet-issued libvirt certificate for libvirtd",
                "(libvirtd.conf cert_file) (default: ${DEFAULT-VALUE})."})
    Path libvirtServerCert;

    @Option(names = "--libvirt-server-key", paramLabel = "FILE", defaultValue = "/etc/pki/libvirt/private/serverkey.pem",
            description = "Its private key, owner-only (libvirtd.conf key_file) (default: ${DEFAULT-VALUE}).")
    Path libvirtServerKey;

    @Option(names = "--libvirt-client-cert", paramLabel = "FILE", defaultValue = "/etc/pki/libvirt/clientcert.pem",
            description = {"Where the agent installs the same certificate for libvirt clients on this host (libvirtd's",
                "peer-to-peer migrations, an operator's virsh) (default: ${DEFAULT-VALUE})."})
    Path libvirtClientCert;

    @Option(names = "--libvirt-client-key", paramLabel = "FILE", defaultValue = "/etc/pki/libvirt/private/clientkey.pem",
            description = "Its private key, owner-only (default: ${DEFAULT-VALUE}).")
    Path libvirtClientKey;

    @Option(names = "--qemu-tls-dir", paramLabel = "DIR", defaultValue = "/etc/pki/qemu",
            description = {"QEMU's TLS directory for migration streams (qemu.conf migrate_tls_x509_cert_dir or",
                "default_tls_x509_cert_dir); the agent writes ca-cert.pem, server-cert.pem, server-key.pem,",
                "client-cert.pem and client-key.pem there (default: ${DEFAULT-VALUE})."})
    Path qemuTlsDir;

    @Option(names = "--qemu-tls-group", paramLabel = "GROUP", defaultValue = "libvirt-qemu",
            description = {"Group QEMU runs as (qemu.conf group): the keys in qemu-tls-dir are readable by it",
                "(default: ${DEFAULT-VALUE})."})
    String qemuTlsGroup;

    @Option(names = "--libvirt-admin-uri", paramLabel = "URI", defaultValue = "libvirtd:///system",
            description = {"libvirt admin URI of the daemon serving libvirt's TLS port, asked to load a new certificate",
                "without a restart (virt-admin server-update-tls): libvirtd:///system, virtproxyd:///system with",
                "modular daemons, or none (restart it yourself) (default: ${DEFAULT-VALUE})."})
    String libvirtAdminUri;

    @Option(names = "--metrics-listen", paramLabel = "HOST:PORT|off", defaultValue = MetricsEndpoint.OFF,
            description = {"Where Prometheus scrapes the agent's metrics (plain HTTP, GET /metrics, no authentication:",
                "keep it on loopback or a management network), e.g. 127.0.0.1:7446; off serves nothing",
                "(default: ${DEFAULT-VALUE})."})
    String metricsListen;

    @Option(names = {"-v", "--verbose"}, description = "Log debugging detail.")
    boolean verbose;

    public static void main(String[] args) {
        int code = ConfiguredCommand.run(new AgentMain(), DEFAULT_CONFIG, args);
        if (code != ExitCode.OK) {
            System.exit(code);
        }
    }

    @Override
    public Integer call() throws Exception {
        Logging.configure(verbose);
        AgentConfig config;
        try {
            config = config();
        } catch (InvalidInputException e) {
            System.err.println("virtfleet-agent: " + e.getMessage());
            return ExitCode.USAGE;
        }
        Agent agent = Agent.create(config);
        Runtime.getRuntime().addShutdownHook(new Thread(agent::close, "vf-agent-shutdown"));
        try {
            agent.start();
        } catch (Enroller.RefusedException e) {
            System.err.println("virtfleet-agent: cannot get a certificate: " + e.getMessage());
            agent.close();
            return ExitCode.USAGE;
        } catch (Exception e) {
            System.err.println("virtfleet-agent: cannot start: " + e.getMessage());
            agent.close();
            return ExitCode.FAILURE;
        }
        agent.blockUntilShutdown();
        return ExitCode.OK;
    }

    AgentConfig config() {
        String name = Names.hostName("host-name", hostName != null ? hostName : localHostName());
        Endpoint listenAt = Endpoint.parse("listen", listen);
        for (String tier : storageTiers) {
            if (!TIERS.contains(tier)) {
                throw new InvalidInputException("storage-tiers", tier, "a comma-separated list of ssd, sata, raw");
            }
        }
        if (heartbeatInterval.isZero() || heartbeatInterval.isNegative()) {
            throw new InvalidInputException("heartbeat-interval", heartbeatInterval.toString(), "a positive duration");
        }
        if (vxlanPort < 1 || vxlanPort > 65535) {
            throw new InvalidInputException("vxlan-port", Integer.toString(vxlanPort), "a UDP port from 1 to 65535");
        }
        if (!installerDir.isAbsolute() || !installerDir.normalize().equals(installerDir)) {
            throw new InvalidInputException("installer-dir", installerDir.toString(),
                    "an absolute path without '.' or '..' parts, e.g. " + InstallerFiles.PACKAGE_DIRECTORY);
        }
        if (!definitionsDir.isAbsolute() || !definitionsDir.normalize().equals(definitionsDir)) {
            throw new InvalidInputException("definitions-dir", definitionsDir.toString(),
                    "an absolute path without '.' or '..' parts, e.g. " + DefinitionsClone.DEFAULT_DIRECTORY);
        }
        LibvirtTlsSettings libvirtTls = new LibvirtTlsSettings(absolute("libvirt-ca-file", libvirtCaFile),
                absolute("libvirt-server-cert", libvirtServerCert), absolute("libvirt-server-key", libvirtServerKey),
                absolute("libvirt-client-cert", libvirtClientCert), absolute("libvirt-client-key", libvirtClientKey),
                absolute("qemu-tls-dir", qemuTlsDir), LibvirtTlsSettings.checkGroup("qemu-tls-group", qemuTlsGroup),
                stateDir.toAbsolutePath().normalize().resolve(LibvirtTlsSettings.PKI_PATH),
                libvirtAdminUri.equals("none") ? null : LibvirtTlsSettings.checkAdminUri("libvirt-admin-uri", libvirtAdminUri));
        return new AgentConfig(name, Endpoint.parse("controller", controller),
                new InetSocketAddress(listenAt.bareHost(), listenAt.port()),
                advertise == null ? null : Endpoint.parse("advertise", advertise),
                libvirtUri, heartbeatInterval, maxBackoff, imagesDir, stateDir, storageTiers,
                joinToken == null ? null : JoinToken.parse("join-token", joinToken).text(), joinTokenFile,
                new CephSettings(cephConf, cephClient, cephKeyring, cephPoolSsd, cephPoolSata, cephTimeout,
                        cephClientAddresses),
                vxlanDevice == null ? null : InterfaceNames.check("vxlan-device", vxlanDevice),
                vxlanLocalAddress == null ? null : Ipv4.unicastAddress("vxlan-local-address", vxlanLocalAddress),
                vxlanPort, InterfaceNames.check("public-bridge", publicBridge), definitionsDir,
                definitionsRemote == null ? null : DefinitionsClone.checkRemote("definitions-remote", definitionsRemote),
                installerDir, publicAddress == null ? null : Ipv4.publicAddress("public-address", publicAddress),
                libvirtTls,
                migrationAddress == null ? null : Ipv4.unicastAddress("migration-address", migrationAddress),
                Migrations.checkTimeout("migration-timeout", migrationTimeout),
                MetricsEndpoint.parseListen("metrics-listen", metricsListen).orElse(null),
                Domains.checkShutdownGrace("shutdown-grace", shutdownGrace),
                LibvirtHypervisor.checkDefinitionRefresh("definition-refresh", definitionRefresh));
    }

    private static Path absolute(String field, Path path) {
        if (!path.isAbsolute() || !path.normalize().equals(path)) {
            throw new InvalidInputException(field, path.toString(), "an absolute path without '.' or '..' parts");
        }
        return path;
    }

    private static String localHostName() {
        try {
            String full = InetAddress.getLocalHost().getHostName();
            int dot = full.indexOf('.');
            return (dot > 0 ? full.substring(0, dot) : full).toLowerCase(Locale.ROOT);
        } catch (UnknownHostException e) {
            return "";
        }
    }
}
