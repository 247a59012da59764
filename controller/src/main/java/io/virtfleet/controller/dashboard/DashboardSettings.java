package io.virtfleet.controller.dashboard;

import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

/**
 * The web dashboard's settings (controller.conf).
 *
 * @param listen          where it listens (HTTPS); null: off
 * @param names           the host names and IP addresses operators reach it by: written into its certificate, the only
 *                        names the dashboard CA may vouch for, and the first one into login links
 * @param sessionLifetime how long a browser session lasts after its login
 * @param sampleEvery     how often each host's load is sampled for the charts (which show the last
 *                        {@link LoadHistory#SAMPLES} samples)
 * @param tlsCertificate  the operator's own certificate for it (PEM, intermediates after it); null: one of the
 *                        dashboard CA ({@link DashboardAuthority})
 * @param tlsKey          that certificate's private key (PEM); set exactly when {@code tlsCertificate} is
 */
public record DashboardSettings(InetSocketAddress listen, List<String> names, Duration sessionLifetime, Duration sampleEvery,
                                Path tlsCertificate, Path tlsKey) {
    public static final Duration DEFAULT_SAMPLE_EVERY = Duration.ofSeconds(10);
    public static final int DEFAULT_PORT = 7447;
    public static final Duration DEFAULT_SESSION_LIFETIME = Duration.ofHours(8);

    public DashboardSettings {
        names = List.copyOf(names);
        if (sampleEvery.compareTo(Duration.ofMillis(100)) < 0) {
            throw new IllegalArgumentException("load samples every " + sampleEvery + ": at least 100 ms apart");
        }
        if (listen != null && names.isEmpty()) {
            throw new IllegalArgumentException("the dashboard needs at least one name to be reached by");
        }
        if ((tlsCertificate == null) != (tlsKey == null)) {
            throw new IllegalArgumentException("the dashboard's own certificate needs both " + DashboardCertificate.CERT_SETTING
                    + " and " + DashboardCertificate.KEY_SETTING);
        }
    }

    public DashboardSettings(InetSocketAddress listen, List<String> names, Duration sessionLifetime, Duration sampleEvery) {
        this(listen, names, sessionLifetime, sampleEvery, null, null);
    }

    public static DashboardSettings off() {
        return new DashboardSettings(null, List.of(), DEFAULT_SESSION_LIFETIME, DEFAULT_SAMPLE_EVERY);
    }

    /** On localhost, any free port: tests and the embedded fleet. */
    public static DashboardSettings localhost() {
        return new DashboardSettings(new InetSocketAddress("127.0.0.1", 0), List.of("localhost", "127.0.0.1"),
                DEFAULT_SESSION_LIFETIME, DEFAULT_SAMPLE_EVERY);
    }

    /** The same, sampling the hosts' load this often (tests: a chart fills in a minute). */
    public DashboardSettings withSampleEvery(Duration every) {
        return new DashboardSettings(listen, names, sessionLifetime, every, tlsCertificate, tlsKey);
    }

    /** The same, serving the operator's own certificate and key (PEM files) instead of one of the dashboard CA. */
    public DashboardSettings withOwnCertificate(Path certificate, Path key) {
        return new DashboardSettings(listen, names, sessionLifetime, sampleEvery, certificate, key);
    }

    public boolean on() {
        return listen != null;
    }

    /** Whether the operator gave the dashboard its certificate ({@code dashboard-tls-cert}). */
    public boolean ownCertificate() {
        return tlsCertificate != null;
    }
}
