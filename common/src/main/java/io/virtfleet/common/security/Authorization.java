package io.virtfleet.common.security;

import io.grpc.Context;
import io.grpc.Contexts;
import io.grpc.Grpc;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import java.security.cert.Certificate;
import java.security.cert.X509Certificate;
import java.util.Map;
import java.util.Optional;
import javax.net.ssl.SSLPeerUnverifiedException;
import javax.net.ssl.SSLSession;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Decides, for every call, whether the caller's certificate allows it. The certificate was already
 * verified against the fleet CA by TLS; this reads the identity it names and applies the rule of the
 * method. Methods without a rule are refused: a new RPC is closed until someone decides who may call it.
 * The caller's identity is then available to the service through {@link #caller()}.
 */
public final class Authorization implements ServerInterceptor {
    private static final Logger log = LoggerFactory.getLogger(Authorization.class);
    private static final Context.Key<FleetIdentity> CALLER = Context.key("virtfleet-caller");
    private static final Context.Key<X509Certificate> CALLER_CERTIFICATE = Context.key("virtfleet-caller-certificate");

    /** Who may call a method. */
    public enum Rule {
        /** No certificate needed (enrollment: the join token is the credential). */
        ANYONE,
        CONTROLLER,
        AGENTS,
        /** Operators of any role. */
        VIEWERS,
        /** Operators with the admin role. */
        ADMINS,
        /** Any identity the fleet CA certified: the controller, an agent, an operator of any role. */
        FLEET;

        public boolean allows(FleetIdentity id) {
            return switch (this) {
                case ANYONE -> true;
                case CONTROLLER -> id.kind() == FleetIdentity.Kind.CONTROLLER;
                case AGENTS -> id.kind() == FleetIdentity.Kind.AGENT;
                case VIEWERS -> id.kind() == FleetIdentity.Kind.OPERATOR;
                case ADMINS -> id.kind() == FleetIdentity.Kind.OPERATOR && id.role() == FleetIdentity.Role.ADMIN;
                case FLEET -> true;
            };
        }
    }

    /** Certificates the CA issued that no longer speak for their holder, checked on every call. */
    public interface Revocations {
        /** Why this certificate of {@code holder} is refused, or empty when it is not revoked. Called on every call: cheap. */
        Optional<String> refusal(FleetIdentity holder, X509Certificate certificate);
    }

    /**
     * Who makes a call that carries no certificate of its own: a browser session of the controller's web dashboard,
     * whose calls reach the services in-process. Reads the call's headers; empty when they name no live session.
     */
    public interface SessionCallers {
        Optional<FleetIdentity> caller(Metadata headers);
    }

    private final Map<String, Rule> rules;
    private final Revocations revocations;
    private final SessionCallers sessions;

    /** @param rules full method name ("virtfleet.v1.Fleet/ListHosts") to the rule guarding it */
    public Authorization(Map<String, Rule> rules) {
        this(rules, (holder, certificate) -> Optional.empty());
    }

    /**
     * @param revocations asked on every call with a certificate, so a revoked one is refused from its next call on,
     *                    also on a connection made before the revocation
     */
    public Authorization(Map<String, Rule> rules, Revocations revocations) {
        this(rules, revocations, null);
    }

    private Authorization(Map<String, Rule> rules, Revocations revocations, SessionCallers sessions) {
        this.rules = Map.copyOf(rules);
        this.revocations = revocations;
        this.sessions = sessions;
    }

    /**
     * The same rules for calls made in-process on behalf of a browser session (the web dashboard): the caller is the
     * operator {@code sessions} names from the call's headers, never a certificate; a session ends when its operator
     * is revoked, so there is no certificate to check here.
     */
    public static Authorization forSessions(Map<String, Rule> rules, SessionCallers sessions) {
        return new Authorization(rules, (holder, certificate) -> Optional.empty(), sessions);
    }

    /** The identity of the party making the current call; empty for anonymous calls. */
    public static Optional<FleetIdentity> caller() {
        return Optional.ofNullable(CALLER.get());
    }

    /** The certificate the current caller presented (verified by TLS); empty for anonymous calls. */
    public static Optional<X509Certificate> callerCertificate() {
        return Optional.ofNullable(CALLER_CERTIFICATE.get());
    }

    @Override
    public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers,
                                                       ServerCallHandler<Q, R> next) {
        String method = call.getMethodDescriptor().getFullMethodName();
        Rule rule = rules.get(method);
        X509Certificate certificate = sessions != null ? null
                : peerCertificate(call.getAttributes().get(Grpc.TRANSPORT_ATTR_SSL_SESSION)).orElse(null);
        FleetIdentity caller = sessions != null ? sessions.caller(headers).orElse(null)
                : certificate == null ? null : FleetIdentity.of(certificate).orElse(null);
        Status refusal = null;
        Optional<String> revoked = caller == null || certificate == null ? Optional.empty()
                : revocations.refusal(caller, certificate);
        if (revoked.isPresent()) {
            refusal = Status.UNAUTHENTICATED.withDescription(revoked.get());
        } else if (rule == null) {
            refusal = Status.PERMISSION_DENIED.withDescription(method + " is not open to anyone");
        } else if (caller == null && rule != Rule.ANYONE) {
            refusal = Status.UNAUTHENTICATED.withDescription(method + " needs a virtfleet certificate");
        } else if (caller != null && !rule.allows(caller)) {
            refusal = Status.PERMISSION_DENIED.withDescription(describe(caller) + " may not call " + method
                    + "; it is for " + rule.name().toLowerCase());
        }
        if (refusal != null) {
            log.warn("refused {} from {} at {}: {}", method, caller == null ? "an anonymous caller" : caller,
                    call.getAttributes().get(Grpc.TRANSPORT_ATTR_REMOTE_ADDR), refusal.getDescription());
            call.close(refusal, new Metadata());
            return new ServerCall.Listener<>() {};
        }
        Context context = Context.current().withValue(CALLER, caller).withValue(CALLER_CERTIFICATE, certificate);
        return Contexts.interceptCall(context, call, headers, next);
    }

    static Optional<X509Certificate> peerCertificate(SSLSession session) {
        if (session == null) {
            return Optional.empty();
        }
        try {
            Certificate[] chain = session.getPeerCertificates();
            return chain.length > 0 && chain[0] instanceof X509Certificate leaf ? Optional.of(leaf) : Optional.empty();
        } catch (SSLPeerUnverifiedException e) {
            return Optional.empty();
        }
    }

    private static String describe(FleetIdentity id) {
        return id.kind() == FleetIdentity.Kind.OPERATOR
                ? "operator " + id.name() + " (" + id.role().name().toLowerCase() + ")"
                : id.kind().name().toLowerCase() + " " + id.name();
    }
}
