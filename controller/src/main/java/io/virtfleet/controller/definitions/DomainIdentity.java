package io.virtfleet.controller.definitions;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.UUID;

/**
 * What a VM is known by besides its name, derived from the name alone so that every hypervisor holding
 * its definition, and every later rendering, agrees without anyone storing it: the libvirt UUID and the
 * MAC address of its LAN interface (which the PXE boot configuration is keyed by).
 */
public final class DomainIdentity {
    /** Namespace of virtfleet VM names for name-based (version 5) UUIDs; never change it. */
    private static final UUID NAMESPACE = UUID.fromString("f32de8f8-e3b3-4d1c-87d2-ec52cbad7adb");
    /** QEMU's locally administered prefix, the one libvirt uses for the MACs it makes up. */
    private static final String MAC_PREFIX = "52:54:00";

    private DomainIdentity() {}

    /** The VM's domain UUID: RFC 4122 version 5 (SHA-1) of the name in virtfleet's namespace. */
    public static UUID uuid(String vmName) {
        byte[] hash = sha("SHA-1", NAMESPACE, vmName);
        hash[6] = (byte) ((hash[6] & 0x0f) | 0x50); // version 5
        hash[8] = (byte) ((hash[8] & 0x3f) | 0x80); // IETF variant
        ByteBuffer b = ByteBuffer.wrap(hash, 0, 16);
        return new UUID(b.getLong(), b.getLong());
    }

    /**
     * The MAC of the VM's LAN interface, {@code 52:54:00:xx:xx:xx} with the last three octets from a hash
     * of the name. 24 bits: two names on one LAN share a MAC with a chance of about n²/33.5 million (0.1%
     * for 200 VMs), which whoever keeps the fleet's definitions must check before accepting a new name.
     */
    public static String lanMac(String vmName) {
        byte[] hash = sha("SHA-256", NAMESPACE, "mac:" + vmName);
        return MAC_PREFIX + ":" + HexFormat.ofDelimiter(":").formatHex(hash, 0, 3);
    }

    private static byte[] sha(String algorithm, UUID namespace, String name) {
        try {
            MessageDigest digest = MessageDigest.getInstance(algorithm);
            digest.update(ByteBuffer.allocate(16).putLong(namespace.getMostSignificantBits())
                    .putLong(namespace.getLeastSignificantBits()).array());
            digest.update(name.getBytes(StandardCharsets.UTF_8));
            return digest.digest();
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(algorithm + " is missing from this JDK", e);
        }
    }
}
