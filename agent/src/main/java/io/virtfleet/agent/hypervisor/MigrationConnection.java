package io.virtfleet.agent.hypervisor;

import org.libvirt.Connect;
import org.libvirt.LibvirtException;
import org.libvirt.jna.ConnectionPointer;

/**
 * A libvirt connection of one migration's own (to this host's libvirtd, or to the target's over TLS), whose native
 * handle {@link JobStats} can use for what libvirt-java cannot ask. Opened for the migration and closed after it, so
 * that a call blocking for minutes holds neither the agent's shared connection nor its lock.
 */
final class MigrationConnection extends Connect {
    MigrationConnection(String uri) throws LibvirtException {
        super(uri, false);
    }

    ConnectionPointer pointer() {
        return vcp;
    }

    /** Closes, ignoring failures: the connection may already be broken (a target that died). */
    void closeQuietly() {
        try {
            close();
        } catch (LibvirtException | RuntimeException ignored) {
            // nothing more to release
        }
    }
}
