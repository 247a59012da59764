package io.virtfleet.controller.vm;

import io.virtfleet.controller.definitions.DomainSettings;
import io.virtfleet.controller.scheduler.Policy;
import java.time.Duration;
import java.util.Map;

/**
 * How the controller places and builds VMs.
 *
 * @param placement         filters' ratios and the scoring policy
 * @param failoverRoutes    failover IP address → the host OVH routes it to (the OVH panel's attachment)
 * @param domain            fleet-wide settings of the libvirt domain definitions
 * @param reconcileInterval time between two reconciliation passes over every VM
 */
public record Provisioning(Policy placement, Map<String, String> failoverRoutes, DomainSettings domain,
                           Duration reconcileInterval) {
    public Provisioning {
        failoverRoutes = Map.copyOf(failoverRoutes);
    }

    public static Provisioning defaults() {
        return new Provisioning(Policy.defaults(), Map.of(), DomainSettings.defaults(), Duration.ofSeconds(30));
    }

    public Provisioning withDomain(DomainSettings d) {
        return new Provisioning(placement, failoverRoutes, d, reconcileInterval);
    }

    public Provisioning withReconcileInterval(Duration interval) {
        return new Provisioning(placement, failoverRoutes, domain, interval);
    }

    public Provisioning withFailoverRoutes(Map<String, String> routes) {
        return new Provisioning(placement, routes, domain, reconcileInterval);
    }

    public Provisioning withPlacement(Policy p) {
        return new Provisioning(p, failoverRoutes, domain, reconcileInterval);
    }
}
