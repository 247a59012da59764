package io.virtfleet.controller.fencing;

import io.virtfleet.common.validation.InvalidInputException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.regex.Pattern;

/**
 * How the controller reaches Ceph to fence a lost host: the cluster's ceph.conf, a cephx user allowed to change
 * the OSD blocklist and its keyring, and how long a blocklist entry lasts. Field names in errors are the
 * controller's configuration keys, because that is where an operator fixes them.
 *
 * @param adminConf    ceph.conf of the cluster ({@code ceph-admin-conf}); null when the controller fences nothing
 *                     in Ceph (a verdict then needs the operator's {@code --confirm-down})
 * @param adminId      cephx user, without "client." ({@code ceph-admin-id})
 * @param adminKeyring its keyring ({@code ceph-admin-keyring}); null for what ceph.conf or Ceph's default names
 * @param expiry       how long a fence's blocklist entries last ({@code fence-expiry}): long enough to outlast the
 *                     outage, since an entry that lapses lets the lost host's QEMUs write again
 * @param timeout      how long one ceph call may wait for the monitors
 */
public record FenceSettings(Path adminConf, String adminId, Path adminKeyring, Duration expiry, Duration timeout) {
    public static final String DEFAULT_ID = "admin";
    public static final Duration DEFAULT_EXPIRY = Duration.ofDays(7);
    private static final Pattern NAME = Pattern.compile("[A-Za-z0-9_.][A-Za-z0-9_.-]{0,127}");

    public FenceSettings {
        if (adminConf != null && (!adminConf.isAbsolute() || !adminConf.normalize().equals(adminConf))) {
            throw new InvalidInputException("ceph-admin-conf", adminConf.toString(), "an absolute path without '.' or '..' parts");
        }
        if (adminKeyring != null && (!adminKeyring.isAbsolute() || !adminKeyring.normalize().equals(adminKeyring))) {
            throw new InvalidInputException("ceph-admin-keyring", adminKeyring.toString(),
                    "an absolute path without '.' or '..' parts");
        }
        if (adminKeyring != null && adminConf == null) {
            throw new InvalidInputException("ceph-admin-keyring", adminKeyring.toString(),
                    "no value without ceph-admin-conf, the cluster the key is for");
        }
        if (adminId == null || !NAME.matcher(adminId).matches()) {
            throw new InvalidInputException("ceph-admin-id", adminId,
                    "a cephx user name without 'client.': 1-128 of A-Z, a-z, 0-9, '_', '.', '-', not starting with '-'");
        }
        if (expiry == null || expiry.compareTo(Duration.ofHours(1)) < 0 || expiry.compareTo(Duration.ofDays(3650)) > 0) {
            throw new InvalidInputException("fence-expiry", expiry == null ? null : io.virtfleet.common.units.Durations.shortText(expiry),
                    "a duration from 1h to 3650d, longer than the host can stay away (default 7d)");
        }
        if (timeout == null || timeout.isNegative() || timeout.isZero()) {
            throw new IllegalArgumentException("timeout must be positive");
        }
    }

    /** No Ceph admin: the controller can record an operator's verdict only. */
    public static FenceSettings none() {
        return new FenceSettings(null, DEFAULT_ID, null, DEFAULT_EXPIRY, Duration.ofSeconds(20));
    }

    /** Whether the controller can blocklist (ceph-admin-conf is set). */
    public boolean cephConfigured() {
        return adminConf != null;
    }
}
