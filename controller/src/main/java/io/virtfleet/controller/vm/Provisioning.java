package io.virtfleet.controller.vm;

import io.virtfleet.controller.definitions.DomainSettings;
import io.virtfleet.controller.install.BootSettings;
import io.virtfleet.controller.install.InstallSettings;
import io.virtfleet.controller.ovh.OvhSettings;
import io.virtfleet.controller.scheduler.Policy;
import java.time.Duration;
import java.util.Map;

/**
 * How the controller places and builds VMs.
 *
 * @param placement         filters' ratios and the scoring policy
 * @param failoverRoutes    failover IP address → the host OVH routes it to (the OVH panel's attachment); used
 *                          only without OVH's API
 * @param domain            fleet-wide settings of the libvirt domain definitions
 * @param reconcileInterval time between two reconciliation passes over every VM
 * @param syncDeadline      how long one host may take to sync its definitions during a fan-out; a host slower
 *                          than that is reported as catching up, and does so by itself
 * @param install           how VMs install Debian: profiles, mirror, user and keys, resolvers
 * @param boot              how VMs reach their installer (boot mode, TFTP root, install server)
 * @param ovh               OVH's API, if the controller has it: failover IPs are then moved to the chosen host and
 *                          their virtual MACs made there
 */
public record Provisioning(Policy placement, Map<String, String> failoverRoutes, DomainSettings domain,
                           Duration reconcileInterval, Duration syncDeadline, InstallSettings install,
                           BootSettings boot, OvhSettings ovh) {
    public Provisioning {
        failoverRoutes = Map.copyOf(failoverRoutes);
    }

    /** Without OVH's API. */
    public Provisioning(Policy placement, Map<String, String> failoverRoutes, DomainSettings domain,
                        Duration reconcileInterval, Duration syncDeadline, InstallSettings install, BootSettings boot) {
        this(placement, failoverRoutes, domain, reconcileInterval, syncDeadline, install, boot, OvhSettings.none());
    }

    /** Without unattended boot (boot mode none). */
    public Provisioning(Policy placement, Map<String, String> failoverRoutes, DomainSettings domain,
                        Duration reconcileInterval, Duration syncDeadline, InstallSettings install) {
        this(placement, failoverRoutes, domain, reconcileInterval, syncDeadline, install, BootSettings.defaults());
    }

    public Provisioning withBoot(BootSettings b) {
        return new Provisioning(placement, failoverRoutes, domain, reconcileInterval, syncDeadline, install, b, ovh);
    }

    public static Provisioning defaults() {
        return new Provisioning(Policy.defaults(), Map.of(), DomainSettings.defaults(), Duration.ofSeconds(30),
                Duration.ofSeconds(20), InstallSettings.defaults());
    }

    public Provisioning withDomain(DomainSettings d) {
        return new Provisioning(placement, failoverRoutes, d, reconcileInterval, syncDeadline, install, boot, ovh);
    }

    public Provisioning withReconcileInterval(Duration interval) {
        return new Provisioning(placement, failoverRoutes, domain, interval, syncDeadline, install, boot, ovh);
    }

    public Provisioning withFailoverRoutes(Map<String, String> routes) {
        return new Provisioning(placement, routes, domain, reconcileInterval, syncDeadline, install, boot, ovh);
    }

    public Provisioning withPlacement(Policy p) {
        return new Provisioning(p, failoverRoutes, domain, reconcileInterval, syncDeadline, install, boot, ovh);
    }

    public Provisioning withInstall(InstallSettings settings) {
        return new Provisioning(placement, failoverRoutes, domain, reconcileInterval, syncDeadline, settings, boot, ovh);
    }

    public Provisioning withSyncDeadline(Duration deadline) {
        return new Provisioning(placement, failoverRoutes, domain, reconcileInterval, deadline, install, boot, ovh);
    }

    public Provisioning withOvh(OvhSettings settings) {
        return new Provisioning(placement, failoverRoutes, domain, reconcileInterval, syncDeadline, install, boot, settings);
    }
}
