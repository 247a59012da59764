package io.virtfleet.agent.storage;

import io.virtfleet.common.validation.InvalidInputException;
import io.virtfleet.common.validation.IpLiterals;
import io.virtfleet.proto.v1.StorageTier;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.regex.Pattern;

/**
 * How the agent reaches Ceph for the {@code ssd} and {@code sata} storage tiers. Field names in errors are
 * the agent's configuration keys, because that is where an operator fixes them.
 *
 * @param conf     ceph.conf of the cluster (monitor addresses), option {@code ceph-conf}
 * @param client   cephx user the agent and libvirt act as, without "client." ({@code ceph-client})
 * @param keyring  keyring holding that user's key ({@code ceph-keyring}); the key also goes into libvirt's secret
 * @param ssdPool  RBD pool of the ssd tier ({@code ceph-pool-ssd})
 * @param sataPool RBD pool of the sata tier ({@code ceph-pool-sata})
 * @param timeout  how long one Ceph call may wait for the monitors or an OSD before Ceph counts as
 *                 unreachable ({@code ceph-timeout})
 * @param clientAddresses the local addresses this host reaches Ceph from, as the operator gives them
 *                 ({@code ceph-client-addresses}); empty to work them out from conf (see {@link CephClientAddresses})
 */
public record CephSettings(Path conf, String client, Path keyring, String ssdPool, String sataPool, Duration timeout,
                           List<String> clientAddresses) {
    /** Ceph's own rule for pool and user names, minus a leading '-' (it would read as a flag). */
    private static final Pattern NAME = Pattern.compile("[A-Za-z0-9_.][A-Za-z0-9_.-]{0,127}");
    private static final String NAME_RULE = "1-128 characters of A-Z, a-z, 0-9, '_', '.' and '-', not starting with '-'";

    public CephSettings {
        conf = path("ceph-conf", conf);
        keyring = path("ceph-keyring", keyring);
        client = name("ceph-client", client);
        ssdPool = name("ceph-pool-ssd", ssdPool);
        sataPool = name("ceph-pool-sata", sataPool);
        if (timeout == null || timeout.compareTo(Duration.ofSeconds(1)) < 0) {
            throw new InvalidInputException("ceph-timeout", timeout == null ? null : timeout.toString(),
                    "a duration of at least 1s");
        }
        clientAddresses = clientAddresses.stream().map(a -> IpLiterals.canonical("ceph-client-addresses", a)).toList();
    }

    /** Settings whose client addresses are worked out from conf. */
    public CephSettings(Path conf, String client, Path keyring, String ssdPool, String sataPool, Duration timeout) {
        this(conf, client, keyring, ssdPool, sataPool, timeout, List.of());
    }

    /** The same settings with the client addresses given ({@code ceph-client-addresses}). */
    public CephSettings withClientAddresses(List<String> addresses) {
        return new CephSettings(conf, client, keyring, ssdPool, sataPool, timeout, addresses);
    }

    /** Debian's paths for a cephx user named libvirt, the runbook's pools, 20 s per call. */
    public static CephSettings defaults() {
        return new CephSettings(Path.of("/etc/ceph/ceph.conf"), "libvirt", Path.of("/etc/ceph/ceph.client.libvirt.keyring"),
                "libvirt-ssd", "libvirt-sata", Duration.ofSeconds(20));
    }

    /** The pool of a Ceph tier. */
    public String pool(StorageTier tier) {
        return switch (tier) {
            case STORAGE_TIER_SSD -> ssdPool;
            case STORAGE_TIER_SATA -> sataPool;
            default -> throw new IllegalArgumentException(tier + " is not a Ceph tier");
        };
    }

    /** The configuration key that names the pool of a Ceph tier, for messages. */
    public static String poolKey(StorageTier tier) {
        return tier == StorageTier.STORAGE_TIER_SSD ? "ceph-pool-ssd" : "ceph-pool-sata";
    }

    /** The usage name of the libvirt secret holding this user's key, as domain XML refers to it. */
    public String secretUsage() {
        return "client." + client + " secret";
    }

    private static String name(String field, String value) {
        if (value == null || !NAME.matcher(value).matches()) {
            throw new InvalidInputException(field, value, NAME_RULE);
        }
        return value;
    }

    /**
     * qemu-img reads its rbd: argument as ':'-separated key=value pairs, so a path holding ':' or '\' would be
     * read as something else; no real ceph.conf or keyring path needs them.
     */
    private static Path path(String field, Path value) {
        if (value == null || !value.isAbsolute() || value.toString().matches(".*[:\\\\,@\\s].*")) {
            throw new InvalidInputException(field, value == null ? null : value.toString(),
                    "an absolute path without ':', '\\', ',', '@' or spaces");
        }
        return value.normalize();
    }
}
