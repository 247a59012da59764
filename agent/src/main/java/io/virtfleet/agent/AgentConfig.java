package io.virtfleet.agent;

import io.virtfleet.agent.hypervisor.Domains;
import io.virtfleet.agent.hypervisor.LibvirtHypervisor;
import io.virtfleet.agent.hypervisor.Migrations;
import io.virtfleet.agent.libvirttls.LibvirtTlsSettings;
import io.virtfleet.agent.storage.CephSettings;
import io.virtfleet.common.validation.Endpoint;
import io.virtfleet.common.validation.Ipv4;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

/**
 * Everything an agent is told. Built by {@link AgentMain} from flags and {@code /etc/virtfleet/agent.conf},
 * or directly by tests and the embedded fleet.
 *
 * @param hostName          name the host is known by in the fleet (DNS label)
 * @param controller        where the controller's registry listens
 * @param listen            where this agent serves its own gRPC API
 * @param advertise         address the controller should dial to reach this agent; null derives it
 *                          from the host name and the listen port
 * @param libvirtUri        libvirt connection URI
 * @param heartbeatInterval time between heartbeats
 * @param maxBackoff        longest wait between attempts while the controller is unreachable
 * @param imagesDirectory   where local (raw) disk images live
 * @param stateDirectory    where the agent keeps its identity, its ledger of defined domains and its synced commit
 * @param storageTiers      tiers this host serves: ssd, sata, raw
 * @param joinToken         join token to enroll with when the agent has no valid certificate; may be null
 * @param joinTokenFile     file holding such a token, read when needed (so a new one can be dropped in);
 *                          may be null
 * @param ceph              how to reach Ceph for the ssd and sata tiers (pools, cephx user, keyring, timeout)
 * @param vxlanDevice       underlay interface the VXLAN LANs run over; null when the host takes no LAN VMs
 * @param vxlanLocalAddress source address of VXLAN traffic; null for the first IPv4 address of vxlanDevice
 * @param vxlanPort         UDP port of VXLAN traffic, the same on every host
 * @param publicBridge      bridge carrying the host's uplink, which failover-IP VMs attach to
 * @param definitionsDirectory where the host's clone of the definitions repository lives (the runbook's
 *                          /srv/common)
 * @param definitionsRemote git URL to pull the definitions from instead of the controller's git server
 *                          (https:// or file://); null for the controller's
 * @param installerDirectory where the Debian installer's {@code linux} and {@code initrd.gz} are, for VMs
 *                          installed by direct kernel boot (see {@code InstallerFiles})
 * @param publicAddress     this host's public IPv4 address (at OVH the server's main address, to which its
 *                          failover IPs are routed), reported to the controller as the base of a failover-IP
 *                          VM's gateway; null when not set, and then the host takes no failover-IP VMs
 * @param libvirtTls        where the host's fleet-issued libvirt TLS certificate (live migration) is installed
 * @param migrationAddress  the address other hosts reach this host's libvirtd and QEMU on for live migration;
 *                          null for the default (see {@link #migrationAddress(String)})
 * @param migrationTimeout  how long a live migration away from this host may run before it is aborted
 * @param metricsListen     where Prometheus metrics are served (plain HTTP, GET /metrics); null: nowhere
 * @param shutdownGrace     how long a guest asked to shut down (ACPI) is given before it is destroyed, when the
 *                          request names no grace of its own
 * @param definitionRefresh how long the agent trusts what it read of a domain's definition before reading it from
 *                          libvirt again: a change made by hand (virsh edit) is reported this late at most
 */
public record AgentConfig(String hostName, Endpoint controller, InetSocketAddress listen, Endpoint advertise,
                          String libvirtUri, Duration heartbeatInterval, Duration maxBackoff,
                          Path imagesDirectory, Path stateDirectory, List<String> storageTiers,
                          String joinToken, Path joinTokenFile, CephSettings ceph,
                          String vxlanDevice, Ipv4 vxlanLocalAddress, int vxlanPort, String publicBridge,
                          Path definitionsDirectory, String definitionsRemote, Path installerDirectory,
                          Ipv4 publicAddress, LibvirtTlsSettings libvirtTls, Ipv4 migrationAddress,
                          Duration migrationTimeout, InetSocketAddress metricsListen, Duration shutdownGrace,
                          Duration definitionRefresh) {
    /** Where, under the state directory, the host's libvirt TLS client certificate lives ({@link #libvirtTlsDirectory}). */
    public static final String LIBVIRT_TLS_DIRECTORY = LibvirtTlsSettings.PKI_PATH;

    public AgentConfig {
        storageTiers = List.copyOf(storageTiers);
        java.util.Objects.requireNonNull(libvirtTls, "libvirtTls");
        java.util.Objects.requireNonNull(ceph, "ceph");
        java.util.Objects.requireNonNull(definitionsDirectory, "definitionsDirectory");
        java.util.Objects.requireNonNull(installerDirectory, "installerDirectory");
        java.util.Objects.requireNonNull(migrationTimeout, "migrationTimeout");
        java.util.Objects.requireNonNull(shutdownGrace, "shutdownGrace");
        java.util.Objects.requireNonNull(definitionRefresh, "definitionRefresh");
    }

    /**
     * A configuration that keeps the libvirt TLS files in the state directory and tells no libvirtd of them
     * ({@link LibvirtTlsSettings#inside}): tests and the embedded fleet, which must write nothing outside it.
     */
    public AgentConfig(String hostName, Endpoint controller, InetSocketAddress listen, Endpoint advertise,
                       String libvirtUri, Duration heartbeatInterval, Duration maxBackoff,
                       Path imagesDirectory, Path stateDirectory, List<String> storageTiers,
                       String joinToken, Path joinTokenFile, CephSettings ceph,
                       String vxlanDevice, Ipv4 vxlanLocalAddress, int vxlanPort, String publicBridge,
                       Path definitionsDirectory, String definitionsRemote, Path installerDirectory,
                       Ipv4 publicAddress) {
        this(hostName, controller, listen, advertise, libvirtUri, heartbeatInterval, maxBackoff, imagesDirectory,
                stateDirectory, storageTiers, joinToken, joinTokenFile, ceph, vxlanDevice, vxlanLocalAddress, vxlanPort,
                publicBridge, definitionsDirectory, definitionsRemote, installerDirectory, publicAddress,
                LibvirtTlsSettings.inside(stateDirectory), null, Migrations.MIGRATION_TIMEOUT, null,
                Domains.DEFAULT_SHUTDOWN_TIMEOUT, LibvirtHypervisor.DEFINITION_REFRESH);
    }

    /**
     * The directory of the agent's own libvirt TLS client files, in libvirt's flat layout (cacert.pem,
     * clientcert.pem, clientkey.pem): what its connections to other hosts' libvirtd name as
     * {@code qemu+tls://ADDRESS/system?pkipath=DIR}.
     */
    public Path libvirtPkiPath() {
        return libvirtTls.pkiPath();
    }

    /** The same configuration with a join token to enroll with. */
    public AgentConfig withJoinToken(String token) {
        return new AgentConfig(hostName, controller, listen, advertise, libvirtUri, heartbeatInterval, maxBackoff,
                imagesDirectory, stateDirectory, storageTiers, token, joinTokenFile, ceph,
                vxlanDevice, vxlanLocalAddress, vxlanPort, publicBridge,
                definitionsDirectory, definitionsRemote, installerDirectory, publicAddress, libvirtTls, migrationAddress, migrationTimeout, metricsListen, shutdownGrace, definitionRefresh);
    }

    /** The same configuration with VXLAN LANs over {@code device}. */
    public AgentConfig withVxlanDevice(String device) {
        return new AgentConfig(hostName, controller, listen, advertise, libvirtUri, heartbeatInterval, maxBackoff,
                imagesDirectory, stateDirectory, storageTiers, joinToken, joinTokenFile, ceph,
                device, vxlanLocalAddress, vxlanPort, publicBridge,
                definitionsDirectory, definitionsRemote, installerDirectory, publicAddress, libvirtTls, migrationAddress, migrationTimeout, metricsListen, shutdownGrace, definitionRefresh);
    }

    /** The same configuration with a public IPv4 address, for failover-IP VMs. */
    public AgentConfig withPublicAddress(Ipv4 address) {
        return new AgentConfig(hostName, controller, listen, advertise, libvirtUri, heartbeatInterval, maxBackoff,
                imagesDirectory, stateDirectory, storageTiers, joinToken, joinTokenFile, ceph,
                vxlanDevice, vxlanLocalAddress, vxlanPort, publicBridge,
                definitionsDirectory, definitionsRemote, installerDirectory, address, libvirtTls, migrationAddress, migrationTimeout, metricsListen, shutdownGrace, definitionRefresh);
    }

    /** The same configuration with the libvirt TLS files placed as {@code settings} say. */
    public AgentConfig withLibvirtTls(LibvirtTlsSettings settings) {
        return new AgentConfig(hostName, controller, listen, advertise, libvirtUri, heartbeatInterval, maxBackoff,
                imagesDirectory, stateDirectory, storageTiers, joinToken, joinTokenFile, ceph,
                vxlanDevice, vxlanLocalAddress, vxlanPort, publicBridge,
                definitionsDirectory, definitionsRemote, installerDirectory, publicAddress, settings, migrationAddress, migrationTimeout, metricsListen, shutdownGrace, definitionRefresh);
    }

    /** The same configuration with other Ceph settings. */
    public AgentConfig withCeph(CephSettings settings) {
        return new AgentConfig(hostName, controller, listen, advertise, libvirtUri, heartbeatInterval, maxBackoff,
                imagesDirectory, stateDirectory, storageTiers, joinToken, joinTokenFile, settings,
                vxlanDevice, vxlanLocalAddress, vxlanPort, publicBridge,
                definitionsDirectory, definitionsRemote, installerDirectory, publicAddress, libvirtTls, migrationAddress, migrationTimeout, metricsListen, shutdownGrace, definitionRefresh);
    }

    /** The same configuration with a migration address of its own. */
    public AgentConfig withMigrationAddress(Ipv4 address) {
        return new AgentConfig(hostName, controller, listen, advertise, libvirtUri, heartbeatInterval, maxBackoff,
                imagesDirectory, stateDirectory, storageTiers, joinToken, joinTokenFile, ceph,
                vxlanDevice, vxlanLocalAddress, vxlanPort, publicBridge,
                definitionsDirectory, definitionsRemote, installerDirectory, publicAddress, libvirtTls, address, migrationTimeout, metricsListen, shutdownGrace, definitionRefresh);
    }

    /** The same configuration with another migration timeout. */
    public AgentConfig withMigrationTimeout(Duration timeout) {
        return new AgentConfig(hostName, controller, listen, advertise, libvirtUri, heartbeatInterval, maxBackoff,
                imagesDirectory, stateDirectory, storageTiers, joinToken, joinTokenFile, ceph,
                vxlanDevice, vxlanLocalAddress, vxlanPort, publicBridge,
                definitionsDirectory, definitionsRemote, installerDirectory, publicAddress, libvirtTls, migrationAddress,
                timeout, metricsListen, shutdownGrace, definitionRefresh);
    }

    /** The same configuration with another grace for a guest's clean shutdown. */
    public AgentConfig withShutdownGrace(Duration grace) {
        return new AgentConfig(hostName, controller, listen, advertise, libvirtUri, heartbeatInterval, maxBackoff,
                imagesDirectory, stateDirectory, storageTiers, joinToken, joinTokenFile, ceph,
                vxlanDevice, vxlanLocalAddress, vxlanPort, publicBridge,
                definitionsDirectory, definitionsRemote, installerDirectory, publicAddress, libvirtTls, migrationAddress,
                migrationTimeout, metricsListen, grace, definitionRefresh);
    }

    /** The same configuration re-reading domain definitions every {@code refresh} or so. */
    public AgentConfig withDefinitionRefresh(Duration refresh) {
        return new AgentConfig(hostName, controller, listen, advertise, libvirtUri, heartbeatInterval, maxBackoff,
                imagesDirectory, stateDirectory, storageTiers, joinToken, joinTokenFile, ceph,
                vxlanDevice, vxlanLocalAddress, vxlanPort, publicBridge,
                definitionsDirectory, definitionsRemote, installerDirectory, publicAddress, libvirtTls, migrationAddress,
                migrationTimeout, metricsListen, shutdownGrace, refresh);
    }

    /** The same configuration serving Prometheus metrics on {@code address} (port 0: any free port); null: off. */
    public AgentConfig withMetricsListen(InetSocketAddress address) {
        return new AgentConfig(hostName, controller, listen, advertise, libvirtUri, heartbeatInterval, maxBackoff,
                imagesDirectory, stateDirectory, storageTiers, joinToken, joinTokenFile, ceph,
                vxlanDevice, vxlanLocalAddress, vxlanPort, publicBridge,
                definitionsDirectory, definitionsRemote, installerDirectory, publicAddress, libvirtTls, migrationAddress,
                migrationTimeout, address, shutdownGrace, definitionRefresh);
    }

    /**
     * The directory holding a host's libvirt TLS client certificate in libvirt's flat {@code pkipath} layout
     * ({@code cacert.pem}, {@code clientcert.pem}, {@code clientkey.pem}) when its files are kept in the state
     * directory (the default).
     */
    public static Path libvirtTlsDirectory(Path stateDirectory) {
        return stateDirectory.resolve(LIBVIRT_TLS_DIRECTORY);
    }

    /** This agent's libvirt TLS client directory ({@link #libvirtPkiPath}). */
    public Path libvirtTlsDirectory() {
        return libvirtPkiPath();
    }

    /**
     * The address reported for live migration: the migration-address setting, else the VXLAN underlay address
     * {@code vxlanAddress} (empty when none), else the advertised endpoint's host when it is a unicast IPv4 address;
     * empty when none applies (the host then takes part in no migration).
     */
    public String migrationAddress(String vxlanAddress) {
        if (migrationAddress != null) {
            return migrationAddress.toString();
        }
        if (vxlanAddress != null && !vxlanAddress.isEmpty()) {
            return vxlanAddress;
        }
        String host = advertised(0).bareHost();
        try {
            return Ipv4.unicastAddress("advertise", host).toString();
        } catch (IllegalArgumentException notAnAddress) {
            return ""; // a host name, or loopback (the embedded fleet): no address other hosts could dial
        }
    }

    /** The endpoint reported to the controller, using the actually bound port when listen asked for port 0. */
    public Endpoint advertised(int boundPort) {
        if (advertise != null) {
            return advertise.port() == 0 ? new Endpoint(advertise.host(), boundPort) : advertise;
        }
        String host = listen.getAddress() != null && listen.getAddress().isLoopbackAddress()
                ? listen.getAddress().getHostAddress()
                : hostName;
        return new Endpoint(host, boundPort);
    }

    /** Like the record's, but never shows the join token: configurations end up in logs. */
    @Override
    public String toString() {
        return "AgentConfig[hostName=" + hostName + ", controller=" + controller + ", listen=" + listen
                + ", advertise=" + advertise + ", libvirtUri=" + libvirtUri + ", heartbeatInterval=" + heartbeatInterval
                + ", maxBackoff=" + maxBackoff + ", imagesDirectory=" + imagesDirectory + ", stateDirectory="
                + stateDirectory + ", storageTiers=" + storageTiers + ", joinToken=" + (joinToken == null ? "none" : "(set)")
                + ", joinTokenFile=" + joinTokenFile + ", ceph=" + ceph + ", vxlanDevice=" + vxlanDevice
                + ", vxlanLocalAddress=" + vxlanLocalAddress + ", vxlanPort=" + vxlanPort + ", publicBridge="
                + publicBridge + ", definitionsDirectory=" + definitionsDirectory + ", definitionsRemote="
                + (definitionsRemote == null ? "the controller" : definitionsRemote) + ", installerDirectory="
                + installerDirectory + ", publicAddress=" + publicAddress + ", libvirtTls=" + libvirtTls
                + ", migrationAddress=" + migrationAddress + ", migrationTimeout=" + migrationTimeout
                + ", metricsListen=" + (metricsListen == null ? "off" : metricsListen) + "]";
    }
}
