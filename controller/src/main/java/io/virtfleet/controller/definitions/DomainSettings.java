package io.virtfleet.controller.definitions;

import io.virtfleet.common.validation.Endpoint;
import io.virtfleet.common.validation.InvalidInputException;
import java.nio.file.Path;
import java.util.List;
import java.util.regex.Pattern;

/**
 * Fleet-wide settings every rendered domain definition shares. Each component is checked when the record
 * is built; field names in errors are the configuration keys these settings are meant to be read from.
 *
 * @param domainType       libvirt domain type: {@code kvm} on real hypervisors, {@code qemu} (TCG, slow) where
 *                         there is no /dev/kvm, as on test machines
 * @param machineType      QEMU machine type, e.g. {@code q35} or {@code pc}; libvirt pins an alias to the
 *                         host QEMU's versioned type ({@code pc-q35-7.2}) when it defines the domain
 * @param cephMonitors     Ceph monitors ({@code host:port}, port 6789 for msgr v1) written into every RBD
 *                         disk; empty leaves them out, and QEMU then reads {@code mon_host} from each
 *                         hypervisor's {@code /etc/ceph/ceph.conf}
 * @param cephClient       cephx client id QEMU authenticates as ({@code libvirt} means {@code client.libvirt});
 *                         its key is in the libvirt secret with usage {@code client.<id> secret}, which the
 *                         agent creates
 * @param ssdPool          Ceph pool of the ssd storage tier
 * @param sataPool         Ceph pool of the sata storage tier
 * @param imagesDirectory  directory of raw (local) disk images on every hypervisor, the agents'
 *                         {@code images-dir}; a VM's image is {@code <images-dir>/<vm>.img}
 * @param publicBridge     hypervisor bridge that carries the OVH public network, where VMs with a failover
 *                         IP are attached
 */
public record DomainSettings(String domainType, String machineType, List<Endpoint> cephMonitors, String cephClient,
                             String ssdPool, String sataPool, Path imagesDirectory, String publicBridge) {
    public static final String KVM = "kvm";
    public static final String QEMU = "qemu";

    private static final Pattern MACHINE = Pattern.compile("[a-z0-9][a-z0-9._-]{0,63}");
    /** Ceph client ids and pool names: what Ceph accepts without quoting, and nothing a path could use. */
    private static final Pattern CEPH_NAME = Pattern.compile("[A-Za-z0-9][A-Za-z0-9_.-]{0,99}");
    /** A Linux interface name: at most 15 bytes (IFNAMSIZ - 1), no '/', ':' or whitespace. */
    private static final Pattern INTERFACE = Pattern.compile("[A-Za-z0-9][A-Za-z0-9_.-]{0,14}");

    public DomainSettings {
        if (!KVM.equals(domainType) && !QEMU.equals(domainType)) {
            throw new InvalidInputException("domain-type", domainType,
                    "kvm (hardware virtualisation) or qemu (TCG emulation, for hosts without /dev/kvm)");
        }
        check("machine-type", machineType, MACHINE, "a QEMU machine type such as q35, pc or pc-q35-7.2");
        cephMonitors = List.copyOf(cephMonitors);
        for (Endpoint monitor : cephMonitors) {
            if (monitor.port() == 0) {
                throw new InvalidInputException("ceph-monitors", monitor.toString(),
                        "Ceph monitor addresses host:port with a port from 1 to 65535, e.g. 10.0.0.1:6789");
            }
        }
        check("ceph-client", cephClient, CEPH_NAME, "a cephx client id such as libvirt (letters, digits, _ . -)");
        check("ssd-pool", ssdPool, CEPH_NAME, "a Ceph pool name such as libvirt-ssd (letters, digits, _ . -)");
        check("sata-pool", sataPool, CEPH_NAME, "a Ceph pool name such as libvirt-sata (letters, digits, _ . -)");
        if (imagesDirectory == null || !imagesDirectory.isAbsolute() || !imagesDirectory.normalize().equals(imagesDirectory)
                || imagesDirectory.getNameCount() == 0) {
            throw new InvalidInputException("images-dir", String.valueOf(imagesDirectory),
                    "an absolute directory without . or .. parts, e.g. /var/lib/libvirt/images");
        }
        check("public-bridge", publicBridge, INTERFACE, "a Linux interface name of 1 to 15 letters, digits, _ . -");
    }

    /**
     * The settings of a typical fleet: KVM, q35, monitors from each host's ceph.conf, client
     * {@code libvirt}, pools {@code libvirt-ssd} and {@code libvirt-sata}, images in
     * {@code /var/lib/libvirt/images}, public bridge {@code br0}.
     */
    public static DomainSettings defaults() {
        return new DomainSettings(KVM, "q35", List.of(), "libvirt", "libvirt-ssd", "libvirt-sata",
                Path.of("/var/lib/libvirt/images"), "br0");
    }

    public DomainSettings withDomainType(String type) {
        return new DomainSettings(type, machineType, cephMonitors, cephClient, ssdPool, sataPool, imagesDirectory, publicBridge);
    }

    public DomainSettings withCephMonitors(List<Endpoint> monitors) {
        return new DomainSettings(domainType, machineType, monitors, cephClient, ssdPool, sataPool, imagesDirectory, publicBridge);
    }

    public DomainSettings withImagesDirectory(Path dir) {
        return new DomainSettings(domainType, machineType, cephMonitors, cephClient, ssdPool, sataPool, dir, publicBridge);
    }

    public DomainSettings withPublicBridge(String bridge) {
        return new DomainSettings(domainType, machineType, cephMonitors, cephClient, ssdPool, sataPool, imagesDirectory, bridge);
    }

    private static void check(String field, String value, Pattern rule, String accepted) {
        if (value == null || !rule.matcher(value).matches()) {
            throw new InvalidInputException(field, value, accepted);
        }
    }
}
