package io.virtfleet.controller.testkit;

import io.virtfleet.agent.Agent;
import io.virtfleet.agent.AgentConfig;
import io.virtfleet.agent.network.NetworkSettings;
import io.virtfleet.agent.storage.CephSettings;
import io.virtfleet.common.validation.Ipv4;
import io.virtfleet.controller.embedded.EmbeddedFleet;
import java.nio.file.Path;

/**
 * An agent of an embedded fleet for a simulated hypervisor whose network lives in a namespace of its own: it
 * runs in the test's JVM, drives the host's libvirt (e.g. a {@link LibvirtdNode}), and makes the host's LANs
 * (VXLAN over {@code underlayDevice}) inside {@code namespace}, as a real agent would in its host's own.
 */
public final class NamespacedAgent {
    private NamespacedAgent() {}

    /**
     * Enrolls (with a join token of the fleet) and starts the agent of {@code host}; the caller closes it.
     *
     * @param stateDir its state directory; raw images go to {@code stateDir/images}
     * @param ceph     how it reaches Ceph, or null for the fleet's default (no cluster: Ceph tiers refused)
     */
    public static Agent start(EmbeddedFleet fleet, String host, Path stateDir, String libvirtUri, String namespace,
                              String underlayDevice, CephSettings ceph) throws Exception {
        return start(fleet, host, stateDir, libvirtUri, namespace, underlayDevice, ceph, null);
    }

    /**
     * As above, for a host that takes failover-IP VMs: it reports {@code publicAddress} (the gateway's base), and its
     * namespace must have the public bridge br0.
     */
    public static Agent start(EmbeddedFleet fleet, String host, Path stateDir, String libvirtUri, String namespace,
                              String underlayDevice, CephSettings ceph, Ipv4 publicAddress) throws Exception {
        AgentConfig base = fleet.agentConfig(host, stateDir, libvirtUri);
        AgentConfig config = new AgentConfig(base.hostName(), base.controller(), base.listen(), null, base.libvirtUri(),
                base.heartbeatInterval(), base.maxBackoff(), base.imagesDirectory(), base.stateDirectory(),
                base.storageTiers(), fleet.joinToken(host), null, ceph == null ? base.ceph() : ceph, underlayDevice, null,
                NetworkSettings.IANA_VXLAN_PORT, base.publicBridge(), base.definitionsDirectory(), base.definitionsRemote(),
                base.installerDirectory(), publicAddress);
        NetworkSettings network = NetworkSettings.ofHost(underlayDevice, null, NetworkSettings.IANA_VXLAN_PORT,
                base.publicBridge()).inNamespace(namespace);
        Agent agent = Agent.create(config, binder -> binder.bind(NetworkSettings.class).toInstance(network));
        try {
            agent.start();
        } catch (Exception | Error e) {
            agent.close();
            throw e;
        }
        return agent;
    }
}
