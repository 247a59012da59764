package io.virtfleet.controller.scheduler;

import io.virtfleet.common.units.Bytes;
import io.virtfleet.proto.v1.HostState;
import java.util.Locale;
import java.util.Map;

/**
 * The placement filters, in the order the explanation applies them: {@code state} (ready only), {@code pinned},
 * {@code failover} (the host the IP is routed to, or with OVH's API any host
 * whose server the IP can be moved to), {@code public-address} (failover-IP VMs: the host reports
 * its public IPv4, the gateway's base), {@code lan} (LAN VMs: the host carries VXLAN), {@code storage} (tier
 * served), {@code installer} (the installer's files, for a VM installed by kernel boot), {@code cpu-model} (the
 * host can run the fleet CPU model, which the VM's definition names), {@code memory}
 * (promised + request ≤ total × ratio), {@code vcpus} (promised + request ≤ threads × overcommit),
 * {@code raw-space} (a raw disk fits the images directory), {@code spread-group} (no other member of the
 * group on the host) and, with the policy's N+1 reserve, {@code n-plus-one} (see {@link NPlusOne}).
 */
final class Filters {
    private Filters() {}

    /** Every filter, in order, with this failover filter (which knows the routes); the reserve's last if kept. */
    static PlacementFilter[] all(Failover failover, boolean nPlusOne) {
        PlacementFilter[] plain = {new State(), new Pinned(), failover, new PublicAddress(), new Lan(),
            new Storage(), new Installer(), new CpuModel(), new Memory(), new Vcpus(), new RawSpace(), new SpreadGroup()};
        if (!nPlusOne) {
            return plain;
        }
        PlacementFilter[] all = java.util.Arrays.copyOf(plain, plain.length + 1);
        all[plain.length] = new NPlusOne();
        return all;
    }

    /** Only ready hosts take new VMs. */
    static final class State implements PlacementFilter {
        @Override
        public String name() {
            return "state";
        }

        @Override
        public boolean fits(HostTable hosts, int slot, Ask ask) {
            return hosts.has(slot, HostTable.READY);
        }

        @Override
        public String reason(HostTable hosts, int slot, Ask ask) {
            HostState s = hosts.known[slot] ? hosts.states[slot] : null;
            String word = s == null ? "unknown" : s.name().substring("HOST_STATE_".length()).toLowerCase(Locale.ROOT);
            return "host is " + word + ", only ready hosts take new VMs";
        }
    }

    /** A VM pinned by the operator goes to its host or nowhere. */
    static final class Pinned implements PlacementFilter {
        @Override
        public String name() {
            return "pinned";
        }

        @Override
        public boolean appliesTo(Request r) {
            return r.pinnedHost() != null;
        }

        @Override
        public boolean fits(HostTable hosts, int slot, Ask ask) {
            return hosts.names[slot].equals(ask.request.pinnedHost());
        }

        @Override
        public String reason(HostTable hosts, int slot, Ask ask) {
            String pinned = ask.request.pinnedHost();
            return "the VM is pinned to " + pinned + (hosts.slotOf(pinned) >= 0 ? "" : ", which is not a known host");
        }
    }

    /** A failover IP reaches only the server OVH routes it to, or one it can be moved to (see {@link FailoverHosts}). */
    static final class Failover implements PlacementFilter {
        private final FailoverHosts hosts;

        Failover(FailoverHosts hosts) {
            this.hosts = hosts;
        }

        /** The one host a static route allows, or null; null too when the IP can be moved (any host may do). */
        String onlyHost(String address) {
            return hosts.movable() ? null : hosts.routedTo(address);
        }

        boolean movable() {
            return hosts.movable();
        }

        @Override
        public String name() {
            return "failover";
        }

        @Override
        public boolean appliesTo(Request r) {
            return r.failoverAddress() != null;
        }

        @Override
        public boolean fits(HostTable table, int slot, Ask ask) {
            return hosts.fits(table.names[slot], ask.request.failoverAddress());
        }

        @Override
        public String reason(HostTable table, int slot, Ask ask) {
            return hosts.reason(table.names[slot], ask.request.failoverAddress());
        }
    }

    /** The base of a capability filter: the host must have one {@link Capabilities} bit. */
    private abstract static class Capability implements PlacementFilter {
        @Override
        public boolean fits(HostTable hosts, int slot, Ask ask) {
            return hosts.has(slot, requires(ask.request));
        }
    }

    /** A failover-IP VM's gateway is its host's public IPv4 with .254, so the host must report one. */
    static final class PublicAddress extends Capability {
        @Override
        public String name() {
            return "public-address";
        }

        @Override
        public boolean appliesTo(Request r) {
            return r.failoverAddress() != null;
        }

        @Override
        public int requires(Request r) {
            return Capabilities.PUBLIC_ADDRESS;
        }

        @Override
        public String reason(HostTable hosts, int slot, Ask ask) {
            return Capabilities.publicAddressProblem(hosts.publicAddress[slot]) + ", from which failover IP "
                    + ask.request.failoverAddress() + " gets its gateway (.254): set public-address in its agent's"
                    + " configuration to the server's main public IPv4 address";
        }
    }

    /** A LAN VM needs a host whose agent runs VXLAN LANs: a vxlan-device with an address other hosts reach. */
    static final class Lan extends Capability {
        @Override
        public String name() {
            return "lan";
        }

        @Override
        public boolean appliesTo(Request r) {
            return r.failoverAddress() == null;
        }

        @Override
        public int requires(Request r) {
            return Capabilities.VXLAN;
        }

        @Override
        public String reason(HostTable hosts, int slot, Ask ask) {
            return Capabilities.vxlanProblem(hosts.vxlanAddress[slot]) + ", so it carries no LAN: set vxlan-device"
                    + " in its agent's configuration to the interface between the hypervisors, with an IPv4 address"
                    + " (or set vxlan-local-address)";
        }
    }

    /** The VM's disk lives in a storage tier the host must serve. */
    static final class Storage extends Capability {
        @Override
        public String name() {
            return "storage";
        }

        @Override
        public int requires(Request r) {
            return Capabilities.tier(r.storage());
        }

        @Override
        public String reason(HostTable hosts, int slot, Ask ask) {
            return "does not serve storage tier " + Capabilities.tierWord(ask.request.storage()) + " (serves: "
                    + Capabilities.tiersOf(hosts.capabilities[slot]) + ")";
        }
    }

    /** A VM installed by direct kernel boot boots the installer's files from its host. */
    static final class Installer extends Capability {
        @Override
        public String name() {
            return "installer";
        }

        @Override
        public boolean appliesTo(Request r) {
            return r.needsInstaller();
        }

        @Override
        public int requires(Request r) {
            return Capabilities.INSTALLER;
        }

        @Override
        public String reason(HostTable hosts, int slot, Ask ask) {
            return "has no Debian installer files, which the VM boots (boot-mode kernel): install"
                    + " debian-installer-12-netboot-amd64 there or set its agent's installer-dir";
        }
    }

    /**
     * A VM's definition names the fleet CPU model: a host whose CPU cannot run it (an older generation that joined
     * after the model was computed, say) would refuse to start it or to receive it by migration.
     */
    static final class CpuModel extends Capability {
        @Override
        public String name() {
            return "cpu-model";
        }

        @Override
        public int requires(Request r) {
            return Capabilities.FLEET_CPU;
        }

        @Override
        public String reason(HostTable hosts, int slot, Ask ask) {
            return hosts.cpuProblem[slot];
        }
    }

    /** Memory promised to VMs stays within the host's total times the policy's ratio. */
    static final class Memory implements PlacementFilter {
        @Override
        public String name() {
            return "memory";
        }

        @Override
        public boolean fits(HostTable hosts, int slot, Ask ask) {
            return ask.request.memoryBytes() <= hosts.memoryFree(slot);
        }

        @Override
        public String reason(HostTable hosts, int slot, Ask ask) {
            long request = ask.request.memoryBytes();
            return "needs " + Bytes.human(request) + ": " + Bytes.human(hosts.memoryAllocated[slot]) + " promised + "
                    + Bytes.human(request) + " > " + Bytes.human(hosts.memoryLimit[slot]) + " ("
                    + Bytes.human(hosts.memoryTotal[slot]) + " × " + num(hosts.policy.memoryRatio()) + ")";
        }
    }

    /** vCPUs promised to VMs stay within the host's threads times the policy's overcommit. */
    static final class Vcpus implements PlacementFilter {
        @Override
        public String name() {
            return "vcpus";
        }

        @Override
        public boolean fits(HostTable hosts, int slot, Ask ask) {
            return ask.request.vcpus() <= hosts.vcpusFree(slot);
        }

        @Override
        public String reason(HostTable hosts, int slot, Ask ask) {
            int request = ask.request.vcpus();
            return "needs " + request + " vCPUs: " + hosts.vcpusAllocated[slot] + " promised + " + request + " > "
                    + num(hosts.vcpuLimit[slot]) + " (" + hosts.threads[slot] + " threads × "
                    + num(hosts.policy.vcpuOvercommit()) + ")";
        }
    }

    /**
     * A raw disk fits both the images directory's free space and its size less what other raw disks were
     * promised (they are sparse files: free space does not show them until they fill).
     */
    static final class RawSpace implements PlacementFilter {
        @Override
        public String name() {
            return "raw-space";
        }

        @Override
        public boolean appliesTo(Request r) {
            return r.rawBytes() != 0;
        }

        @Override
        public boolean fits(HostTable hosts, int slot, Ask ask) {
            return ask.request.rawBytes() <= hosts.rawFree(slot);
        }

        @Override
        public String reason(HostTable hosts, int slot, Ask ask) {
            long request = ask.request.rawBytes();
            return request > hosts.imagesFree[slot]
                    ? "needs " + Bytes.human(request) + " for the raw disk, " + Bytes.human(hosts.imagesFree[slot])
                            + " free in the images directory"
                    : "needs " + Bytes.human(request) + ": " + Bytes.human(hosts.rawAllocated[slot])
                            + " promised to raw disks + " + Bytes.human(request) + " > "
                            + Bytes.human(hosts.imagesTotal[slot]) + " in the images directory";
        }
    }

    /** Members of a spread group never share a host. */
    static final class SpreadGroup implements PlacementFilter {
        @Override
        public String name() {
            return "spread-group";
        }

        @Override
        public boolean appliesTo(Request r) {
            return r.spreadGroup() != null;
        }

        @Override
        public boolean fits(HostTable hosts, int slot, Ask ask) {
            return ask.groupMembers == null || ask.groupMembers[slot] <= 0;
        }

        @Override
        public String reason(HostTable hosts, int slot, Ask ask) {
            int members = ask.groupMembers[slot];
            return "already holds " + members + (members == 1 ? " VM" : " VMs") + " of spread group "
                    + ask.request.spreadGroup();
        }
    }

    /**
     * The N+1 reserve ({@code n-plus-one = on}): once the VM runs on the host, every host's Ceph-backed VMs could
     * still all be restarted on the other ready hosts ({@link Reserve}). Last, and judged by a decision only on a
     * host whose score would win: it looks at the whole fleet, the others at one host.
     */
    static final class NPlusOne implements PlacementFilter {
        @Override
        public String name() {
            return "n-plus-one";
        }

        @Override
        public boolean fits(HostTable hosts, int slot, Ask ask) {
            return hosts.reserve.check(slot, ask.claim(), -1) == null;
        }

        @Override
        public String reason(HostTable hosts, int slot, Ask ask) {
            return "after this, " + hosts.reserve.check(slot, ask.claim(), -1).text();
        }
    }

    /** A ratio or a limit: one decimal when whole, else two ({@link Decimals}, not the formatter: see there). */
    static String num(double d) {
        return Decimals.appendRatio(new StringBuilder(8), d).toString();
    }
}
