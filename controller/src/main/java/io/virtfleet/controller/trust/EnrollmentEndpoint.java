package io.virtfleet.controller.trust;

import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.StreamObserver;
import io.virtfleet.common.security.Authorization;
import io.virtfleet.common.security.CertificateAuthority;
import io.virtfleet.common.security.FleetIdentity;
import io.virtfleet.common.security.Pem;
import io.virtfleet.common.validation.Escape;
import io.virtfleet.common.validation.InvalidInputException;
import io.virtfleet.common.validation.Names;
import io.virtfleet.proto.v1.CertificateResponse;
import io.virtfleet.proto.v1.EnrollRequest;
import io.virtfleet.proto.v1.EnrollmentGrpc;
import io.virtfleet.proto.v1.LibvirtCertificateRequest;
import io.virtfleet.proto.v1.LibvirtCertificateResponse;
import io.virtfleet.proto.v1.RenewRequest;
import java.io.IOException;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.Executor;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import org.bouncycastle.pkcs.PKCS10CertificationRequest;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Agents get their certificate here with a join token, and renew it with the certificate itself. Enroll is
 * open to anyone, so it is bounded: a request over {@link #MAX_ENROLL_REQUEST_BYTES} is refused unparsed (see
 * {@link io.virtfleet.common.transport.RequestSizeLimit}), a token that is not a live one is refused before it
 * is queued (from memory), the signing request is parsed and verified only on the worker, and the queue of enrollments waiting for their worker is short, answering RESOURCE_EXHAUSTED
 * when full. Renewals have a worker and queue of their own, so a flood of enrollments cannot delay them.
 */
public final class EnrollmentEndpoint extends EnrollmentGrpc.EnrollmentImplBase {
    private static final Logger log = LoggerFactory.getLogger(EnrollmentEndpoint.class);
    private static final int MAX_CSR_CHARS = 8192;
    /** A signing request of at most {@link #MAX_CSR_CHARS}, a token and a host name, with room to spare. */
    public static final int MAX_ENROLL_REQUEST_BYTES = 16 * 1024;
    /** Enrollments waiting for the worker: an operator enrolls a handful of hosts at once, not hundreds. */
    public static final int ENROLL_QUEUE = 16;
    /** Renewals waiting for theirs: agents renew at a third of their certificate's life left, spread out. */
    public static final int RENEW_QUEUE = 256;

    private final ControllerPki pki;
    private final JoinTokens tokens;
    private final EnrolledHosts hosts;
    private final Duration agentLifetime;
    private final Executor enrollWork;
    private final Executor renewWork;
    private final LibvirtCertificates libvirt;

    /**
     * @param enrollWork where enrollments' token redemption, signing and file writes run: not on the gRPC event
     *                   loops, where they would hold up the heartbeats of every agent sharing that loop; it may
     *                   refuse work (a bounded queue), which the caller is told as RESOURCE_EXHAUSTED
     * @param renewWork  the same for renewals, apart from enrollments' so that anonymous callers cannot delay them;
     *                   hosts' libvirt certificates are signed there too
     */
    public EnrollmentEndpoint(ControllerPki pki, JoinTokens tokens, EnrolledHosts hosts, Duration agentLifetime,
                              Executor enrollWork, Executor renewWork, LibvirtCertificates libvirt) {
        this.enrollWork = enrollWork;
        this.renewWork = renewWork;
        this.libvirt = libvirt;
        this.pki = pki;
        this.tokens = tokens;
        this.hosts = hosts;
        this.agentLifetime = agentLifetime;
    }

    /**
     * One worker thread, started on demand and gone when idle, with at most {@code capacity} tasks waiting:
     * one at a time keeps token redemption and file writes in order, and a full queue refuses more.
     */
    public static ExecutorService worker(String name, int capacity) {
        ThreadPoolExecutor work = new ThreadPoolExecutor(1, 1, 30, TimeUnit.SECONDS, new LinkedBlockingQueue<>(capacity), r -> {
            Thread t = new Thread(r, name);
            t.setDaemon(true);
            return t;
        });
        work.allowCoreThreadTimeOut(true);
        return work;
    }

    /**
     * Stops the enrollment and renewal workers; what is queued is dropped. A stopped controller must not write its
     * successor's files (join tokens, enrolled hosts) from a task still queued here.
     */
    public void close() {
        for (Executor e : java.util.List.of(enrollWork, renewWork)) {
            if (e instanceof java.util.concurrent.ExecutorService service) {
                service.shutdownNow();
            }
        }
    }

    /** Where enrollments wait for their worker: tests hold the worker to fill the queue. */
    Executor enrollWork() {
        return enrollWork;
    }

    @Override
    public void enroll(EnrollRequest request, StreamObserver<CertificateResponse> response) {
        try {
            // From memory: no I/O, no lock held across any. A used token passes only for the host it enrolled (a retry).
            tokens.checkKnown(request.getJoinToken(), request.getHostName());
        } catch (JoinRefusedException e) {
            // Junk (malformed, another CA's, an id never made here) is not logged: anyone can send it, as fast as they
            // like. A token of this fleet's that is used, expired or mistyped is an operator's mistake: logged.
            if (e.ofThisFleet()) {
                log.warn("refused enrollment of host {}: {}", Escape.quoted(request.getHostName()), e.getMessage());
            }
            response.onError(Status.PERMISSION_DENIED.withDescription(e.getMessage()).asRuntimeException());
            return;
        }
        String host = Names.hostName("host_name", request.getHostName());
        // The signing request is parsed and its signature verified on the worker, never on the event loop.
        queue(enrollWork, "enrollments", response, () -> enroll(request, host, response));
    }

    private static void queue(Executor work, String what, StreamObserver<CertificateResponse> response, Runnable task) {
        try {
            work.execute(task);
        } catch (RejectedExecutionException e) {
            response.onError(Status.RESOURCE_EXHAUSTED.withDescription("the controller has too many " + what
                    + " waiting; try again shortly").asRuntimeException());
        }
    }

    private void enroll(EnrollRequest request, String host, StreamObserver<CertificateResponse> response) {
        try {
            PKCS10CertificationRequest csr = csr(request.getCsrPem()); // before the token is used up
            synchronized (hosts) {
                JoinTokens.Grant grant = tokens.redeem(request.getJoinToken(), host, hosts.isEnrolled(host), keySha256(csr));
                X509Certificate cert = pki.ca().issue(csr, FleetIdentity.agent(host), agentLifetime, List.of());
                // On a retry the certificate the agent never received is replaced: only this one speaks for the host.
                hosts.enrolled(host, cert.getSerialNumber());
                if (grant.retry()) {
                    log.info("host {}: re-sent the certificate of enrollment {} after a retry (same key; certificate"
                            + " serial {}, valid until {})", host, grant.tokenId(), cert.getSerialNumber().toString(16),
                            cert.getNotAfter().toInstant());
                } else {
                    log.info("enrolled host {} with join token {} (certificate serial {}, valid until {})", host,
                            grant.tokenId(), cert.getSerialNumber().toString(16), cert.getNotAfter().toInstant());
                }
                reply(response, cert);
            }
        } catch (InvalidInputException e) {
            response.onError(Status.INVALID_ARGUMENT.withDescription(e.getMessage()).asRuntimeException());
        } catch (JoinRefusedException e) {
            log.warn("refused enrollment of host {}: {}", host, e.getMessage());
            response.onError(Status.PERMISSION_DENIED.withDescription(e.getMessage()).asRuntimeException());
        } catch (GeneralSecurityException e) {
            response.onError(badCsr(e));
        } catch (IOException e) {
            log.error("cannot record enrollment of {}", host, e);
            response.onError(Status.UNAVAILABLE.withDescription("controller cannot store the enrollment: " + e.getMessage())
                    .asRuntimeException());
        }
    }

    @Override
    public void renew(RenewRequest request, StreamObserver<CertificateResponse> response) {
        FleetIdentity caller = Authorization.caller().orElseThrow();
        X509Certificate current = Authorization.callerCertificate().orElseThrow();
        queue(renewWork, "renewals", response, () -> renew(caller, current, request.getCsrPem(), response));
    }

    private void renew(FleetIdentity caller, X509Certificate current, String csrPem,
                       StreamObserver<CertificateResponse> response) {
        try {
            PKCS10CertificationRequest csr = csr(csrPem);
            synchronized (hosts) {
                if (!hosts.accepts(caller.name(), current.getSerialNumber())) {
                    response.onError(Status.PERMISSION_DENIED.withDescription("this certificate no longer speaks for host "
                            + caller.name() + "; re-enroll with a fresh token").asRuntimeException());
                    return;
                }
                X509Certificate cert = pki.ca().issue(csr, caller, agentLifetime, List.of());
                tokens.endRetriesFor(caller.name()); // the host has its certificate: its join token is spent for good
                hosts.renewed(caller.name(), current.getSerialNumber(), cert.getSerialNumber());
                log.info("renewed certificate of host {} (serial {}, valid until {})", caller.name(),
                        cert.getSerialNumber().toString(16), cert.getNotAfter().toInstant());
                reply(response, cert);
            }
        } catch (InvalidInputException e) {
            response.onError(Status.INVALID_ARGUMENT.withDescription(e.getMessage()).asRuntimeException());
        } catch (GeneralSecurityException e) {
            response.onError(badCsr(e));
        } catch (IOException e) {
            response.onError(Status.UNAVAILABLE.withDescription("controller cannot store the renewal: " + e.getMessage())
                    .asRuntimeException());
        }
    }

    @Override
    public void issueLibvirtCertificate(LibvirtCertificateRequest request, StreamObserver<LibvirtCertificateResponse> response) {
        FleetIdentity caller = Authorization.caller().orElseThrow();
        X509Certificate current = Authorization.callerCertificate().orElseThrow();
        try {
            renewWork.execute(() -> {
                try {
                    response.onNext(libvirt.issue(caller, current, request.getCsrPem()));
                    response.onCompleted();
                } catch (InvalidInputException e) {
                    response.onError(Status.INVALID_ARGUMENT.withDescription(e.getMessage()).asRuntimeException());
                } catch (StatusRuntimeException e) {
                    if (e.getStatus().getCode() != Status.Code.PERMISSION_DENIED) {
                        log.warn("refused the libvirt certificate of host {}: {}", caller.name(), e.getStatus().getDescription());
                    }
                    response.onError(e);
                }
            });
        } catch (RejectedExecutionException e) {
            response.onError(Status.RESOURCE_EXHAUSTED.withDescription("the controller has too many renewals"
                    + " waiting; try again shortly").asRuntimeException());
        }
    }

    /**
     * A signing request as received: PEM of bounded size, for a key of a type and size agents use, signed by that key.
     * Checked on the worker before anything else is done with the request, so that one the CA cannot sign uses up no
     * join token; the key is looked at before its signature is verified, which for an oversized key is costly.
     */
    static PKCS10CertificationRequest csr(String pem) {
        if (pem.length() > MAX_CSR_CHARS) {
            throw new InvalidInputException("csr_pem", pem, "a PEM certificate signing request of at most " + MAX_CSR_CHARS + " characters");
        }
        PKCS10CertificationRequest csr;
        try {
            csr = Pem.signingRequest(pem);
        } catch (IOException e) {
            throw new InvalidInputException("csr_pem", pem, "a PEM certificate signing request");
        }
        CsrKeys.check("csr_pem", csr);
        try {
            CertificateAuthority.verifiedKey(csr);
        } catch (GeneralSecurityException e) {
            throw new InvalidInputException("csr_pem", e.getMessage(), "a PKCS#10 request signed by its own key");
        }
        return csr;
    }

    /**
     * Hex SHA-256 of the DER SubjectPublicKeyInfo the request is for: what a used join token remembers, so that
     * only the same key (whose holder signed the request, checked by {@link #csr}) can retry with it.
     */
    static String keySha256(PKCS10CertificationRequest csr) throws IOException {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(
                    csr.getSubjectPublicKeyInfo().getEncoded()));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    private static RuntimeException badCsr(GeneralSecurityException e) {
        return Status.INVALID_ARGUMENT.withDescription(new InvalidInputException("csr_pem", e.getMessage(),
                "a PKCS#10 request signed by its own key").getMessage()).asRuntimeException();
    }

    private void reply(StreamObserver<CertificateResponse> response, X509Certificate cert) {
        response.onNext(CertificateResponse.newBuilder()
                .setCertificatePem(Pem.of(cert))
                .setCaPem(Pem.of(pki.ca().certificate()))
                .setNotAfterUnixMs(cert.getNotAfter().getTime())
                .build());
        response.onCompleted();
    }
}
