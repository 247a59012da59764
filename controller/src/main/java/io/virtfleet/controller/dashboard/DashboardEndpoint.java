package io.virtfleet.controller.dashboard;

import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import io.virtfleet.common.security.Authorization;
import io.virtfleet.common.security.CertificateAuthority;
import io.virtfleet.common.security.FleetIdentity;
import io.virtfleet.common.security.Pem;
import io.virtfleet.controller.fleet.Audit;
import io.virtfleet.proto.v1.CreateLoginRequest;
import io.virtfleet.proto.v1.DashboardGrpc;
import io.virtfleet.proto.v1.DashboardLogin;
import java.security.cert.X509Certificate;

/**
 * {@code virtfleet dashboard}'s call: a one-time login link for the calling operator. In memory only (a random
 * token and its hash), so it runs on the event loop. Answers FAILED_PRECONDITION while the dashboard is off.
 */
public final class DashboardEndpoint extends DashboardGrpc.DashboardImplBase {
    private volatile DashboardServer server;

    /** The dashboard links lead to from now on; null: off. */
    public void serving(DashboardServer server) {
        this.server = server;
    }

    @Override
    public void createLogin(CreateLoginRequest request, StreamObserver<DashboardLogin> response) {
        DashboardServer dashboard = server;
        FleetIdentity caller = Authorization.caller().orElse(null);
        X509Certificate certificate = Authorization.callerCertificate().orElse(null);
        if (dashboard == null) {
            response.onError(Status.FAILED_PRECONDITION.withDescription("the web dashboard is off on this controller:"
                    + " set dashboard-listen in controller.conf (e.g. dashboard-listen = 127.0.0.1:"
                    + DashboardSettings.DEFAULT_PORT + ") and restart it").asRuntimeException());
            return;
        }
        if (caller == null || certificate == null || caller.kind() != FleetIdentity.Kind.OPERATOR) {
            response.onError(Status.PERMISSION_DENIED.withDescription("only operators log in to the dashboard")
                    .asRuntimeException());
            return;
        }
        DashboardLogins.Link link;
        try {
            link = dashboard.logins().issue(caller, CertificateAuthority.issuedAt(certificate));
        } catch (IllegalStateException e) {
            response.onError(Status.RESOURCE_EXHAUSTED.withDescription(e.getMessage()).asRuntimeException());
            return;
        }
        Audit.record("asked for a dashboard login link (valid until " + link.expiresAt() + ")");
        DashboardLogin.Builder login = DashboardLogin.newBuilder()
                .setUrl(dashboard.baseUrl() + "/login?token=" + link.token())
                .setExpiresAtUnixMs(link.expiresAt().toEpochMilli())
                .setOperator(caller.name())
                .setRole(caller.role().name().toLowerCase())
                .setSessionSeconds(dashboard.logins().sessionLifetime().toSeconds())
                .addAllNames(dashboard.names());
        // The dashboard CA, name-constrained to the dashboard's names; never the fleet CA, which browsers must not trust.
        X509Certificate ca = dashboard.authority();
        if (ca == null) {
            login.setOwnCertificate(true);
        } else {
            login.setCaFingerprintSha256(CertificateAuthority.fingerprint(ca)).setCaPem(Pem.of(ca));
        }
        response.onNext(login.build());
        response.onCompleted();
    }
}
