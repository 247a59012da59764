package io.virtfleet.agent.libvirttls;

import io.grpc.Channel;
import io.grpc.StatusRuntimeException;
import io.virtfleet.common.security.CertificateAuthority;
import io.virtfleet.common.security.Keys;
import io.virtfleet.common.security.LibvirtCertificate;
import io.virtfleet.common.security.Pem;
import io.virtfleet.proto.v1.EnrollmentGrpc;
import io.virtfleet.proto.v1.LibvirtCertificateRequest;
import io.virtfleet.proto.v1.LibvirtCertificateResponse;
import io.virtfleet.proto.v1.LibvirtTlsStatus;
import java.io.IOException;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.cert.X509Certificate;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Keeps the host's libvirt TLS certificate installed and current: gets one from the controller (for a key made here)
 * when none is installed, when the installed one names another address than the host reports, and when two thirds of
 * its life have passed (as {@link io.virtfleet.agent.enrollment.CertificateRenewer} renews the agent's own); puts back
 * any of its files found missing or changed; and has libvirtd load new server files. Migration is one feature among
 * many: whatever fails here is logged and reported in {@link #status()}, and the agent carries on.
 */
public final class LibvirtCertificateKeeper implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(LibvirtCertificateKeeper.class);
    private static final Duration CALL_DEADLINE = Duration.ofSeconds(10);
    /** How often the files and the host's address are looked at: an address change is acted on within this. */
    static final Duration RECHECK = Duration.ofMinutes(1);
    private static final Duration MIN_RETRY = Duration.ofSeconds(1);
    /** Before the host's first report there is no address to compare with: nothing is done, nothing logged. */
    private static final String BEFORE_FIRST_REPORT = "waiting for the host's first report";

    private final String hostName;
    private final LibvirtTlsSettings settings;
    private final LibvirtTlsFiles files;
    private final Clock clock;
    private final ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "vf-libvirt-tls");
        t.setDaemon(true);
        return t;
    });
    private Channel controller;
    private Supplier<X509Certificate> fleetCa;
    private Supplier<String> migrationAddress;
    /**
     * Whether libvirtd loaded the files as they are now, as far as this agent knows: false at start (it may run with
     * older ones) and after each change to them, until a reload succeeds. Without an admin URI it stays false, and the
     * host keeps reporting that libvirtd must be restarted, until the agent itself restarts.
     */
    private boolean loaded;
    private Duration retry = MIN_RETRY;
    private volatile LibvirtTlsStatus status = LibvirtTlsStatus.newBuilder()
            .setProblem("not checked yet since the agent started").build();

    public LibvirtCertificateKeeper(String hostName, LibvirtTlsSettings settings, Clock clock) {
        this.hostName = hostName;
        this.settings = settings;
        this.files = new LibvirtTlsFiles(settings);
        this.clock = clock;
    }

    /**
     * Connects the keeper to what it needs once the agent has its certificate.
     *
     * @param controller       a channel to the controller authenticated with the agent's certificate
     * @param fleetCa          the fleet CA the agent trusts: a certificate from any other is refused
     * @param migrationAddress the migration address the host reports now (empty when none, null before its first
     *                         report)
     */
    public synchronized LibvirtCertificateKeeper connect(Channel controller, Supplier<X509Certificate> fleetCa,
                                                         Supplier<String> migrationAddress) {
        this.controller = controller;
        this.fleetCa = fleetCa;
        this.migrationAddress = migrationAddress;
        return this;
    }

    /** Checks now, in the background, then every {@link #RECHECK} (sooner, backing off, while something is wrong). */
    public void start() {
        timer.execute(this::checkAndReschedule);
    }

    /** What the host reports about its libvirt certificate. */
    public LibvirtTlsStatus status() {
        return status;
    }

    private void checkAndReschedule() {
        LibvirtTlsStatus previous = status;
        LibvirtTlsStatus now;
        try {
            now = check();
        } catch (RuntimeException e) {
            log.error("checking the libvirt certificate failed unexpectedly", e);
            now = status.toBuilder().setProblem("checking the libvirt certificate failed: " + e).build();
            status = now;
        }
        if (!now.getProblem().isEmpty() && !now.getProblem().equals(previous.getProblem())
                && !now.getProblem().equals(BEFORE_FIRST_REPORT)) {
            log.warn("libvirt TLS: {}", now.getProblem());
        }
        Duration next = RECHECK;
        if (!now.getProblem().isEmpty()) {
            next = retry;
            retry = retry.multipliedBy(2).compareTo(RECHECK) > 0 ? RECHECK : retry.multipliedBy(2);
        } else {
            retry = MIN_RETRY;
        }
        try {
            timer.schedule(this::checkAndReschedule, next.toMillis(), TimeUnit.MILLISECONDS);
        } catch (java.util.concurrent.RejectedExecutionException closed) {
            // the agent is stopping
        }
    }

    /**
     * One pass: decides whether a new certificate is needed, gets and installs it or puts back the installed one's
     * files, tells libvirtd when its files changed (and once after the agent starts), and returns the outcome, which
     * {@link #status()} then reports.
     */
    public synchronized LibvirtTlsStatus check() {
        status = pass();
        return status;
    }

    private LibvirtTlsStatus pass() {
        String address = migrationAddress.get();
        Optional<LibvirtTlsFiles.Installed> installed;
        try {
            installed = files.installed().filter(this::issuedForThisHost);
        } catch (IOException e) {
            return outcome(null, "cannot read the installed libvirt certificate: " + e.getMessage());
        }
        if (address == null) {
            return outcome(installed.orElse(null), BEFORE_FIRST_REPORT);
        }
        if (address.isEmpty()) {
            return outcome(installed.orElse(null), "this host reports no migration address (agent setting"
                    + " migration-address), so no libvirt certificate can name it; it takes part in no migration");
        }
        String reason = installed.isEmpty() ? "none is installed"
                : !LibvirtCertificate.addresses(installed.get().certificate()).contains(address)
                        ? "the installed one names " + LibvirtCertificate.addresses(installed.get().certificate())
                                + ", but this host reports migration address " + address
                : !clock.instant().isBefore(renewAt(installed.get().certificate())) ? "the installed one is due for renewal"
                : null;
        LibvirtTlsFiles.Installed wanted = installed.orElse(null);
        String refused = null;
        if (reason != null) {
            try {
                wanted = issue(installed.map(i -> new KeyPair(i.certificate().getPublicKey(), i.key())));
                log.info("host {} got a libvirt certificate for {} ({}); valid until {}", hostName,
                        LibvirtCertificate.addresses(wanted.certificate()), reason, wanted.certificate().getNotAfter().toInstant());
            } catch (StatusRuntimeException e) {
                refused = "the controller did not issue a libvirt certificate (" + reason + "): "
                        + e.getStatus().getCode() + " " + e.getStatus().getDescription();
            } catch (IOException e) {
                refused = "the controller sent an unusable libvirt certificate (" + reason + "): " + e.getMessage();
            }
        }
        if (wanted == null) {
            return outcome(null, refused);
        }
        List<java.nio.file.Path> written;
        try {
            written = files.install(wanted);
        } catch (IOException e) {
            return outcome(installed.orElse(null), "cannot install the libvirt certificate: " + e.getMessage());
        }
        if (!written.isEmpty()) {
            log.info("libvirt TLS: wrote {}", written);
        }
        if (files.libvirtdReads(written)) {
            loaded = false; // until libvirtd says it took them: a failed reload is tried again at every pass
        }
        String notLoaded = loaded ? null : load(wanted);
        if (refused != null) {
            return outcome(wanted, refused);
        }
        if (!LibvirtCertificate.addresses(wanted.certificate()).contains(address)) {
            // The controller took the address from a report older than ours; the next pass asks again.
            return outcome(wanted, "the controller issued the libvirt certificate for "
                    + LibvirtCertificate.addresses(wanted.certificate()) + " while this host reports " + address);
        }
        return notLoaded != null ? outcome(wanted, notLoaded) : outcome(wanted, "");
    }

    /** Tells libvirtd to load its server files; null when it did, else what the operator must do. */
    private String load(LibvirtTlsFiles.Installed installed) {
        Instant since = CertificateAuthority.issuedAt(installed.certificate());
        if (settings.adminUri() == null) {
            return "libvirtd must be restarted to load the libvirt certificate issued at " + since
                    + " (no libvirt-admin-uri to ask it to reload)";
        }
        Optional<LibvirtdTlsReload.Refusal> failed = LibvirtdTlsReload.reload(settings.adminUri());
        if (failed.isPresent() && failed.get().notListening()) {
            return "libvirtd does not listen on TLS, so no host can migrate a VM to this one: enable it (Debian 12:"
                    + " systemctl enable --now libvirtd-tls.socket, see deploy/README.md); the libvirt certificate issued"
                    + " at " + since + " is installed for it";
        }
        if (failed.isPresent()) {
            return "libvirtd must be restarted to load the libvirt certificate issued at " + since + " ("
                    + failed.get().detail() + ")";
        }
        loaded = true;
        log.info("libvirtd loaded the libvirt certificate issued at {}", since);
        return null;
    }

    /**
     * A certificate from the controller for the installed key ({@code installed}), or for a new key when none is
     * installed, checked before anything is written. Keeping the key across renewals and address changes keeps
     * every file consistent while they are rewritten one by one: a crash (or QEMU loading its files) in between finds
     * older and newer certificates, all for the key beside them.
     */
    private LibvirtTlsFiles.Installed issue(Optional<KeyPair> installed) throws IOException {
        KeyPair keys = installed.orElseGet(Keys::generate);
        LibvirtCertificateResponse response = EnrollmentGrpc.newBlockingStub(controller)
                .withDeadlineAfter(CALL_DEADLINE.toMillis(), TimeUnit.MILLISECONDS)
                .issueLibvirtCertificate(LibvirtCertificateRequest.newBuilder()
                        .setCsrPem(Pem.of(Keys.signingRequest(keys, hostName))).build());
        List<X509Certificate> certificates = Pem.certificates(response.getCertificatePem());
        List<X509Certificate> cas = Pem.certificates(response.getCaPem());
        if (certificates.size() != 1 || cas.size() != 1) {
            throw new IOException(certificates.size() + " certificates and " + cas.size() + " CAs, expected one each");
        }
        X509Certificate certificate = certificates.get(0);
        X509Certificate ca = cas.get(0);
        if (!CertificateAuthority.fingerprint(ca).equals(CertificateAuthority.fingerprint(fleetCa.get()))) {
            throw new IOException("its CA is not the fleet CA this agent trusts");
        }
        if (!certificate.getPublicKey().equals(keys.getPublic())) {
            throw new IOException("it is for another key");
        }
        LibvirtTlsFiles.Installed issued = new LibvirtTlsFiles.Installed(keys.getPrivate(), certificate, ca);
        if (!issuedForThisHost(issued)) {
            throw new IOException("it is not a libvirt certificate of host " + hostName + " signed by the fleet CA: "
                    + certificate.getSubjectX500Principal());
        }
        if (!LibvirtCertificate.addresses(certificate).equals(List.of(response.getAddress()))) {
            throw new IOException("it names " + LibvirtCertificate.addresses(certificate) + ", not " + response.getAddress());
        }
        return issued;
    }

    /** Signed by the fleet CA this agent trusts, for this host, not expired. */
    private boolean issuedForThisHost(LibvirtTlsFiles.Installed installed) {
        X509Certificate certificate = installed.certificate();
        try {
            certificate.verify(fleetCa.get().getPublicKey());
        } catch (GeneralSecurityException e) {
            return false;
        }
        return installed.ca().equals(fleetCa.get())
                && LibvirtCertificate.host(certificate).filter(hostName::equals).isPresent()
                && clock.instant().isBefore(certificate.getNotAfter().toInstant());
    }

    /** Two thirds into the certificate's life, as agents renew their own. */
    private static Instant renewAt(X509Certificate certificate) {
        Instant issued = CertificateAuthority.issuedAt(certificate);
        Duration life = Duration.between(issued, certificate.getNotAfter().toInstant());
        return issued.plus(life.multipliedBy(2).dividedBy(3));
    }

    /** What is installed (null: nothing usable) and what is wrong (empty: nothing). */
    private static LibvirtTlsStatus outcome(LibvirtTlsFiles.Installed installed, String problem) {
        LibvirtTlsStatus.Builder status = LibvirtTlsStatus.newBuilder().setProblem(problem);
        if (installed != null) {
            List<String> addresses = LibvirtCertificate.addresses(installed.certificate());
            status.setAddress(addresses.isEmpty() ? "" : addresses.get(0))
                    .setNotAfterUnixMs(installed.certificate().getNotAfter().getTime());
        }
        return status.build();
    }

    @Override
    public void close() {
        timer.shutdownNow();
    }
}
