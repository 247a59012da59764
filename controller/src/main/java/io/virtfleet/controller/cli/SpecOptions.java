package io.virtfleet.controller.cli;

import io.virtfleet.common.validation.InvalidInputException;
import io.virtfleet.common.validation.Ipv4;
import io.virtfleet.common.validation.MacAddress;
import io.virtfleet.common.validation.Sizes;
import io.virtfleet.common.validation.StorageTiers;
import io.virtfleet.common.validation.Vxlan;
import io.virtfleet.proto.v1.FailoverIp;
import io.virtfleet.proto.v1.NetworkSpec;
import io.virtfleet.proto.v1.VmSpec;
import picocli.CommandLine.Option;

/** The flags that describe a VM, shared by {@code vm create} and {@code place}. */
final class SpecOptions {
    @Option(names = "--storage", paramLabel = "TIER", required = true,
            description = "Disk tier: ssd or sata (Ceph pools libvirt-ssd, libvirt-sata) or raw (a local file on the host).")
    String storage;

    @Option(names = "--size", paramLabel = "SIZE", required = true,
            description = "Disk size, e.g. 20G, 500G, 2T (binary units: G = GiB).")
    String size;

    @Option(names = "--lan", paramLabel = "N", description = "Private LAN: the VXLAN number (1..16777215).")
    String lan;

    @Option(names = "--failover-ip", paramLabel = "IPV4",
            description = {"OVH failover IP the VM answers on (instead of --lan). Without --failover-mac, the controller",
                "finds or makes its virtual MAC through OVH's API (ovh-config), moving the IP to the VM's host if needed."})
    String failoverIp;

    @Option(names = "--failover-mac", paramLabel = "MAC",
            description = "The OVH virtual MAC made for that IP, e.g. 02:00:00:aa:bb:cc (needed when the controller has no OVH API).")
    String failoverMac;

    @Option(names = "--profile", paramLabel = "NAME", defaultValue = "base",
            description = {"Install profile: base, ui, ui-test, api, api-test, or your own; virtfleet profiles lists them",
                "(default: ${DEFAULT-VALUE})."})
    String profile;

    @Option(names = "--memory", paramLabel = "SIZE", defaultValue = "2G", description = "Memory (default: ${DEFAULT-VALUE}).")
    String memory;

    @Option(names = "--vcpus", paramLabel = "N", defaultValue = "2", description = "Virtual CPUs (default: ${DEFAULT-VALUE}).")
    int vcpus;

    @Option(names = "--host", paramLabel = "HOST", description = "Put it on this host, or fail: no other host is considered.")
    String host;

    @Option(names = "--spread-group", paramLabel = "GROUP",
            description = "Never on the same host as another VM of this group (e.g. the api servers).")
    String spreadGroup;

    @Option(names = "--replicated", negatable = true,
            description = {"Define it on every host too, so it can be started elsewhere (default: on for ssd and sata,",
                "whose disks are on Ceph; raw disks cannot move, so --replicated is refused for raw)."})
    Boolean replicated;

    @Option(names = "--no-failover",
            description = {"Never restart it on another host when its host is lost (host recover lists it and leaves it",
                "alone): for a VM that must not run twice even briefly, or that an operator restarts by hand."})
    boolean noFailover;

    /** The spec these flags describe; each flag is checked here, the whole spec again by the controller. */
    VmSpec spec(String name) {
        VmSpec.Builder b = VmSpec.newBuilder().setName(name)
                .setStorage(StorageTiers.parse("--storage", storage))
                .setDiskBytes(Sizes.disk("--size", size))
                .setMemoryBytes(Sizes.memory("--memory", memory))
                .setVcpus(vcpus)
                .setProfile(profile)
                .setReplicated(replicated != null ? replicated : !storage.equals("raw"))
                .setNoFailover(noFailover);
        if (lan != null && failoverIp != null) {
            throw new InvalidInputException("--lan", lan, "either --lan or --failover-ip, not both");
        }
        if (lan != null) {
            b.setNetwork(NetworkSpec.newBuilder().setLan(Vxlan.parse("--lan", lan)));
        } else if (failoverIp != null) {
            FailoverIp.Builder failover = FailoverIp.newBuilder()
                    .setAddress(Ipv4.failoverAddress("--failover-ip", failoverIp).toString());
            if (failoverMac != null) {
                failover.setMac(MacAddress.parse("--failover-mac", failoverMac).text());
            }
            b.setNetwork(NetworkSpec.newBuilder().setFailover(failover));
        } else {
            throw new InvalidInputException("--lan", null, "a network: --lan N, or --failover-ip IP (with --failover-mac MAC"
                    + " unless the controller has OVH's API)");
        }
        if (host != null) {
            b.setPinnedHost(host);
        }
        if (spreadGroup != null) {
            b.setSpreadGroup(spreadGroup);
        }
        return b.build();
    }
}
