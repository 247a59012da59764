package io.virtfleet.common.security;

import io.virtfleet.common.validation.Names;
import java.security.cert.CertificateParsingException;
import java.security.cert.X509Certificate;
import java.util.Collection;
import java.util.List;
import java.util.Optional;

/**
 * Who a certificate speaks for, written into it by the fleet CA as a URI subject alternative name:
 * {@code virtfleet:controller}, {@code virtfleet:agent:<host>}, {@code virtfleet:operator:<role>:<name>}.
 * Servers decide what a caller may do from this alone; the certificate chain proves it.
 */
public record FleetIdentity(Kind kind, String name, Role role) {
    /** What kind of party holds the certificate. */
    public enum Kind { CONTROLLER, AGENT, OPERATOR }

    /** What an operator may do: viewers read, admins also change. */
    public enum Role { NONE, VIEWER, ADMIN }

    private static final String SCHEME = "virtfleet:";
    /** DNS names are what TLS hostname verification checks; they live under a zone nobody resolves. */
    private static final String DNS_ZONE = ".virtfleet.internal";
    private static final int SAN_URI = 6;

    public static FleetIdentity controller() {
        return new FleetIdentity(Kind.CONTROLLER, "controller", Role.NONE);
    }

    public static FleetIdentity agent(String host) {
        return new FleetIdentity(Kind.AGENT, Names.hostName("host", host), Role.NONE);
    }

    public static FleetIdentity operator(String name, Role role) {
        if (role == Role.NONE) {
            throw new IllegalArgumentException("an operator needs a role");
        }
        return new FleetIdentity(Kind.OPERATOR, Names.vmName("operator", name), role);
    }

    public String uri() {
        return switch (kind) {
            case CONTROLLER -> SCHEME + "controller";
            case AGENT -> SCHEME + "agent:" + name;
            case OPERATOR -> SCHEME + "operator:" + role.name().toLowerCase() + ":" + name;
        };
    }

    /** The DNS name clients verify when dialing this party: controller.virtfleet.internal, hv1.agent.virtfleet.internal. */
    public String dnsName() {
        return switch (kind) {
            case CONTROLLER -> "controller" + DNS_ZONE;
            case AGENT -> name + ".agent" + DNS_ZONE;
            case OPERATOR -> name + ".operator" + DNS_ZONE;
        };
    }

    public static FleetIdentity parseUri(String uri) {
        if (uri == null || !uri.startsWith(SCHEME)) {
            throw new IllegalArgumentException("not a virtfleet identity: " + uri);
        }
        List<String> parts = List.of(uri.substring(SCHEME.length()).split(":", -1));
        if (parts.equals(List.of("controller"))) {
            return controller();
        }
        if (parts.size() == 2 && parts.get(0).equals("agent")) {
            return agent(parts.get(1));
        }
        if (parts.size() == 3 && parts.get(0).equals("operator")) {
            Role role = switch (parts.get(1)) {
                case "viewer" -> Role.VIEWER;
                case "admin" -> Role.ADMIN;
                default -> throw new IllegalArgumentException("unknown operator role in " + uri);
            };
            return operator(parts.get(2), role);
        }
        throw new IllegalArgumentException("not a virtfleet identity: " + uri);
    }

    /** The identity a certificate names, if it names exactly one. */
    public static Optional<FleetIdentity> of(X509Certificate certificate) {
        Collection<List<?>> names;
        try {
            names = certificate.getSubjectAlternativeNames();
        } catch (CertificateParsingException e) {
            return Optional.empty();
        }
        if (names == null) {
            return Optional.empty();
        }
        List<String> uris = names.stream()
                .filter(n -> n.size() == 2 && Integer.valueOf(SAN_URI).equals(n.get(0)))
                .map(n -> String.valueOf(n.get(1)))
                .filter(u -> u.startsWith(SCHEME))
                .toList();
        if (uris.size() != 1) {
            return Optional.empty();
        }
        try {
            return Optional.of(parseUri(uris.get(0)));
        } catch (IllegalArgumentException e) {
            return Optional.empty();
        }
    }

    @Override
    public String toString() {
        return uri();
    }
}
