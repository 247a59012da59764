package io.virtfleet.agent.storage;

import io.virtfleet.agent.hypervisor.LibvirtHypervisor;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.List;
import org.libvirt.Connect;
import org.libvirt.LibvirtException;
import org.libvirt.Secret;
import org.libvirt.SecretUsageType;

/**
 * The libvirt secret through which qemu authenticates to Ceph: usage type ceph, usage name
 * {@code client.<ceph-client> secret} (what domain XML names in {@code <secret type='ceph' usage='...'/>}),
 * value the key from the agent's keyring. Without it an RBD-backed VM cannot start, so an RBD disk is not
 * reported ready before it exists.
 *
 * <p>The secret is private, so libvirt never hands its value back: the agent writes the value once per run,
 * and again whenever the keyring's key changes (it remembers a digest of what it wrote, not the key).
 * Thread-safe.
 */
public final class CephSecret {
    /** What libvirt's test driver calls itself (virConnectGetType). */
    private static final String TEST_DRIVER = "TEST";
    private final LibvirtHypervisor hypervisor;
    private final CephSettings ceph;
    /** The secret the agent last wrote, and a digest of the value it wrote there. */
    private String writtenUuid;
    private byte[] writtenDigest;

    public CephSecret(LibvirtHypervisor hypervisor, CephSettings ceph) {
        this.hypervisor = hypervisor;
        this.ceph = ceph;
    }

    /** Ensures the secret exists, persistent and private, with the keyring's current key as its value. */
    public synchronized DiskOutcome ensure() {
        byte[] value = Base64.getDecoder().decode(CephKeyring.key(ceph.keyring(), ceph.client()));
        String usage = ceph.secretUsage();
        try {
            return hypervisor.call(connection -> ensure(connection, usage, value));
        } catch (LibvirtException e) {
            throw StorageException.unavailable("cannot keep the key of client." + ceph.client() + " in the libvirt secret '"
                    + usage + "': " + hypervisor.reason(e), e);
        } finally {
            Arrays.fill(value, (byte) 0);
        }
    }

    private DiskOutcome ensure(Connect connection, String usage, byte[] value) throws LibvirtException {
        if (TEST_DRIVER.equalsIgnoreCase(connection.getType())) {
            // libvirt's test driver (the embedded fleet, dry runs) has no secrets and never opens a disk: nothing
            // would ever read the key. Every real driver keeps it.
            return DiskOutcome.alreadyDone("no libvirt secret on libvirt's test driver, which never opens disks");
        }
        List<String> done = new ArrayList<>();
        Secret secret = find(connection, usage);
        try {
            if (secret == null) {
                secret = connection.secretDefineXML(SecretXml.ceph(usage, null));
                done.add("defined");
            } else {
                SecretXml.Flags flags = SecretXml.flags(secret.getXMLDesc());
                if (flags.ephemeral() || !flags.isPrivate()) {
                    // Redefined under its own UUID: domains and other tools may refer to it by UUID.
                    String uuid = secret.getUUIDString();
                    secret.free();
                    secret = connection.secretDefineXML(SecretXml.ceph(usage, uuid));
                    done.add("made persistent and private");
                }
            }
            String uuid = secret.getUUIDString();
            byte[] digest = digest(value);
            if (!done.isEmpty() || !uuid.equals(writtenUuid) || !Arrays.equals(digest, writtenDigest)) {
                secret.setValue(value);
                writtenUuid = uuid;
                writtenDigest = digest;
                done.add("value set from " + ceph.keyring());
            }
            String what = "libvirt secret '" + usage + "' (" + uuid + ")";
            return done.isEmpty()
                    ? DiskOutcome.alreadyDone(what + " in place")
                    : DiskOutcome.changed(what + " " + String.join(", ", done));
        } finally {
            if (secret != null) {
                secret.free();
            }
        }
    }

    /** The secret of this usage, or null; libvirt-java has no lookup by usage, so every secret is looked at. */
    private static Secret find(Connect connection, String usage) throws LibvirtException {
        for (String uuid : connection.listSecrets()) {
            Secret s;
            try {
                s = connection.secretLookupByUUIDString(uuid);
            } catch (LibvirtException e) {
                continue; // undefined between the listing and the lookup
            }
            // Name first: libvirt-java cannot map usage types newer than it (tls, vtpm) and throws on them.
            if (usage.equals(s.getUsageID()) && s.getUsageType() == SecretUsageType.CEPH) {
                return s;
            }
            s.free();
        }
        return null;
    }

    private static byte[] digest(byte[] value) {
        try {
            return MessageDigest.getInstance("SHA-256").digest(value);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every JDK has SHA-256", e);
        }
    }
}
