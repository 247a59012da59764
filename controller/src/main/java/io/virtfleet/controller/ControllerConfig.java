package io.virtfleet.controller;

import io.virtfleet.controller.failover.Failover;
import io.virtfleet.controller.fencing.FenceSettings;
import io.virtfleet.controller.fencing.HostLoss;
import io.virtfleet.controller.vm.Provisioning;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Duration;

/**
 * Everything a controller is told. Built by {@link ControllerMain} from flags and
 * {@code /etc/virtfleet/controller.conf}, or directly by tests and the embedded fleet.
 *
 * @param listen                   where the controller serves agents and operators (gRPC, mutual TLS)
 * @param heartbeatInterval        interval agents are asked to heartbeat at
 * @param unreachableAfter         grace without a heartbeat before a host is marked unreachable
 * @param dataDirectory            where the controller keeps its state (CA and keys under pki/)
 * @param agentCertificateLifetime validity of the certificates issued to agents (renewed at 2/3)
 * @param ownCertificateLifetime   validity of the controller's own certificate (renewed at 2/3)
 * @param plaintextForTests        no TLS and no caller identities: only for tests measuring TLS itself
 * @param provisioning             how VMs are placed and built
 * @param gitListen                where the definitions repository is served read-only to agents (git over
 *                                 HTTPS, mutual TLS)
 * @param fencing                  how lost hosts are fenced in Ceph (admin credential, blocklist expiry)
 * @param hostLoss                 when a silent host is suspected lost, and whether the controller fences it and
 *                                 restarts its VMs by itself
 * @param failoverParallel         how many VMs of a lost host are restarted elsewhere at once
 * @param metricsListen            where Prometheus metrics are served (plain HTTP, GET /metrics); null: nowhere
 */
public record ControllerConfig(InetSocketAddress listen, Duration heartbeatInterval, Duration unreachableAfter,
                               Path dataDirectory, Duration agentCertificateLifetime, Duration ownCertificateLifetime,
                               boolean plaintextForTests, Provisioning provisioning, InetSocketAddress gitListen,
                               FenceSettings fencing, HostLoss.Settings hostLoss, int failoverParallel,
                               InetSocketAddress metricsListen) {
    public static final Duration DEFAULT_AGENT_CERTIFICATE_LIFETIME = Duration.ofDays(30);
    public static final Duration DEFAULT_OWN_CERTIFICATE_LIFETIME = Duration.ofDays(90);

    /** A secure controller with default certificate lifetimes. */
    public static ControllerConfig of(InetSocketAddress listen, Duration heartbeatInterval, Duration unreachableAfter,
                                      Path dataDirectory) {
        return new ControllerConfig(listen, heartbeatInterval, unreachableAfter, dataDirectory,
                DEFAULT_AGENT_CERTIFICATE_LIFETIME, DEFAULT_OWN_CERTIFICATE_LIFETIME, false, Provisioning.defaults(),
                new InetSocketAddress(listen.getAddress(), 0), FenceSettings.none(), HostLoss.Settings.defaults(),
                Failover.DEFAULT_PARALLEL, null);
    }

    public ControllerConfig withCertificateLifetimes(Duration agents, Duration own) {
        return new ControllerConfig(listen, heartbeatInterval, unreachableAfter, dataDirectory, agents, own,
                plaintextForTests, provisioning, gitListen, fencing, hostLoss,
                failoverParallel, metricsListen);
    }

    public ControllerConfig withListen(InetSocketAddress address) {
        return new ControllerConfig(address, heartbeatInterval, unreachableAfter, dataDirectory,
                agentCertificateLifetime, ownCertificateLifetime, plaintextForTests, provisioning, gitListen, fencing, hostLoss,
                failoverParallel, metricsListen);
    }

    public ControllerConfig withPlaintextForTests() {
        return new ControllerConfig(listen, heartbeatInterval, unreachableAfter, dataDirectory,
                agentCertificateLifetime, ownCertificateLifetime, true, provisioning, gitListen, fencing, hostLoss,
                failoverParallel, metricsListen);
    }

    public ControllerConfig withGitListen(InetSocketAddress address) {
        return new ControllerConfig(listen, heartbeatInterval, unreachableAfter, dataDirectory,
                agentCertificateLifetime, ownCertificateLifetime, plaintextForTests, provisioning, address, fencing, hostLoss,
                failoverParallel, metricsListen);
    }

    public ControllerConfig withFencing(FenceSettings f) {
        return new ControllerConfig(listen, heartbeatInterval, unreachableAfter, dataDirectory,
                agentCertificateLifetime, ownCertificateLifetime, plaintextForTests, provisioning, gitListen, f, hostLoss,
                failoverParallel, metricsListen);
    }

    public ControllerConfig withProvisioning(Provisioning p) {
        return new ControllerConfig(listen, heartbeatInterval, unreachableAfter, dataDirectory,
                agentCertificateLifetime, ownCertificateLifetime, plaintextForTests, p, gitListen, fencing, hostLoss,
                failoverParallel, metricsListen);
    }

    public ControllerConfig withHostLoss(HostLoss.Settings h) {
        return new ControllerConfig(listen, heartbeatInterval, unreachableAfter, dataDirectory,
                agentCertificateLifetime, ownCertificateLifetime, plaintextForTests, provisioning, gitListen, fencing, h,
                failoverParallel, metricsListen);
    }

    public ControllerConfig withFailoverParallel(int parallel) {
        return new ControllerConfig(listen, heartbeatInterval, unreachableAfter, dataDirectory,
                agentCertificateLifetime, ownCertificateLifetime, plaintextForTests, provisioning, gitListen, fencing,
                hostLoss, Failover.parallel(parallel), metricsListen);
    }

    /** The same configuration serving Prometheus metrics on {@code address} (port 0: any free port); null: off. */
    public ControllerConfig withMetricsListen(InetSocketAddress address) {
        return new ControllerConfig(listen, heartbeatInterval, unreachableAfter, dataDirectory,
                agentCertificateLifetime, ownCertificateLifetime, plaintextForTests, provisioning, gitListen, fencing,
                hostLoss, failoverParallel, address);
    }
}
