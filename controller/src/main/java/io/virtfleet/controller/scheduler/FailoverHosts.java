package io.virtfleet.controller.scheduler;

import java.util.Map;
import java.util.Set;

/**
 * Which hosts a failover-IP VM may go to. Without OVH's API, the one host the static failover-routes say OVH routes
 * the IP to: nobody can move the IP. With the API, any host whose server's OVH service name the controller knows
 * (ovh-services): the create moves the IP to the chosen host's server if it is routed elsewhere.
 */
public final class FailoverHosts {
    private final Map<String, String> routes;
    private final Set<String> movableTo;

    private FailoverHosts(Map<String, String> routes, Set<String> movableTo) {
        this.routes = Map.copyOf(routes);
        this.movableTo = movableTo == null ? null : Set.copyOf(movableTo);
    }

    /** @param routes failover IP address → the host OVH routes it to */
    public static FailoverHosts routed(Map<String, String> routes) {
        return new FailoverHosts(routes, null);
    }

    /** @param hosts the hosts with an OVH service name, to whose servers the API can move an IP */
    public static FailoverHosts movable(Set<String> hosts) {
        return new FailoverHosts(Map.of(), hosts);
    }

    /** Whether any host with a service name may take the VM (else only the static route's). */
    boolean movable() {
        return movableTo != null;
    }

    /** The host the static routes send the address to, or null. */
    String routedTo(String address) {
        return routes.get(address);
    }

    boolean fits(String host, String address) {
        return movable() ? movableTo.contains(host) : host.equals(routes.get(address));
    }

    String reason(String host, String address) {
        if (movable()) {
            return "has no OVH service name, so failover IP " + address + " cannot be moved to it (add " + host
                    + "=SERVICE_NAME to the controller's ovh-services)";
        }
        String routed = routes.get(address);
        return routed == null
                ? "failover IP " + address + " is not routed to any host (attach it to a server at OVH, then list"
                        + " it in the controller's failover-routes, or configure OVH's API: ovh-config)"
                : "failover IP " + address + " is routed to " + routed;
    }
}
