package io.virtfleet.controller;

import io.virtfleet.common.security.Authorization.Rule;
import io.virtfleet.controller.trust.EnrollmentEndpoint;
import io.virtfleet.proto.v1.EnrollmentGrpc;
import io.virtfleet.proto.v1.FleetGrpc;
import io.virtfleet.proto.v1.RegistryGrpc;
import io.grpc.health.v1.HealthGrpc;
import io.virtfleet.common.health.ServerHealth;
import java.util.HashMap;
import java.util.Map;

/**
 * Who may call which of the controller's methods. A method missing here is refused to everyone, so a new
 * RPC stays closed until it is listed.
 */
final class AccessRules {
    private AccessRules() {}

    /** The request-size cap of each method open to {@link Rule#ANYONE}: far below the transport's. */
    static Map<String, Integer> anonymousRequestBytes() {
        return Map.of(EnrollmentGrpc.getEnrollMethod().getFullMethodName(), EnrollmentEndpoint.MAX_ENROLL_REQUEST_BYTES,
                HealthGrpc.getCheckMethod().getFullMethodName(), MAX_HEALTH_CHECK_REQUEST_BYTES);
    }

    /** A health check names one service ("virtfleet.v1.Fleet"): a few dozen bytes. */
    static final int MAX_HEALTH_CHECK_REQUEST_BYTES = 512;

    static Map<String, Rule> controller() {
        Map<String, Rule> rules = new HashMap<>(operations());
        // Health's Check without a certificate: load balancers and probes often have none, and it tells only whether
        // the controller serves. Watch (a stream held open) and reflection (the API's shape): any fleet certificate.
        rules.putAll(ServerHealth.rules(Rule.ANYONE, Rule.FLEET));
        return Map.copyOf(rules);
    }

    private static Map<String, Rule> operations() {
        return Map.ofEntries(
                Map.entry(RegistryGrpc.getRegisterMethod().getFullMethodName(), Rule.AGENTS),
                Map.entry(RegistryGrpc.getHeartbeatMethod().getFullMethodName(), Rule.AGENTS),
                Map.entry(EnrollmentGrpc.getEnrollMethod().getFullMethodName(), Rule.ANYONE),
                Map.entry(EnrollmentGrpc.getRenewMethod().getFullMethodName(), Rule.AGENTS),
                Map.entry(EnrollmentGrpc.getIssueLibvirtCertificateMethod().getFullMethodName(), Rule.AGENTS),
                Map.entry(FleetGrpc.getListHostsMethod().getFullMethodName(), Rule.VIEWERS),
                Map.entry(FleetGrpc.getGetHostMethod().getFullMethodName(), Rule.VIEWERS),
                Map.entry(FleetGrpc.getPlaceMethod().getFullMethodName(), Rule.VIEWERS),
                Map.entry(FleetGrpc.getCapacityMethod().getFullMethodName(), Rule.VIEWERS),
                Map.entry(FleetGrpc.getForgetHostMethod().getFullMethodName(), Rule.ADMINS),
                Map.entry(FleetGrpc.getSetHostDrainingMethod().getFullMethodName(), Rule.ADMINS),
                Map.entry(FleetGrpc.getFenceHostMethod().getFullMethodName(), Rule.ADMINS),
                Map.entry(FleetGrpc.getUnfenceHostMethod().getFullMethodName(), Rule.ADMINS),
                Map.entry(FleetGrpc.getCreateJoinTokenMethod().getFullMethodName(), Rule.ADMINS),
                Map.entry(FleetGrpc.getAddOperatorMethod().getFullMethodName(), Rule.ADMINS),
                Map.entry(FleetGrpc.getRevokeOperatorMethod().getFullMethodName(), Rule.ADMINS),
                Map.entry(FleetGrpc.getCreateVmMethod().getFullMethodName(), Rule.ADMINS),
                Map.entry(FleetGrpc.getListVmsMethod().getFullMethodName(), Rule.VIEWERS),
                Map.entry(FleetGrpc.getGetVmMethod().getFullMethodName(), Rule.VIEWERS),
                Map.entry(FleetGrpc.getSetVmRunningMethod().getFullMethodName(), Rule.ADMINS),
                Map.entry(FleetGrpc.getReinstallVmMethod().getFullMethodName(), Rule.ADMINS),
                Map.entry(FleetGrpc.getDeleteVmMethod().getFullMethodName(), Rule.ADMINS),
                Map.entry(FleetGrpc.getMoveVmMethod().getFullMethodName(), Rule.ADMINS),
                Map.entry(FleetGrpc.getCancelMoveMethod().getFullMethodName(), Rule.ADMINS),
                Map.entry(FleetGrpc.getEvacuateHostMethod().getFullMethodName(), Rule.ADMINS),
                Map.entry(FleetGrpc.getRecoverHostMethod().getFullMethodName(), Rule.ADMINS),
                Map.entry(FleetGrpc.getSyncHostsMethod().getFullMethodName(), Rule.ADMINS),
                Map.entry(FleetGrpc.getGetDriftMethod().getFullMethodName(), Rule.VIEWERS),
                Map.entry(FleetGrpc.getGetVmHistoryMethod().getFullMethodName(), Rule.VIEWERS),
                Map.entry(FleetGrpc.getListProfilesMethod().getFullMethodName(), Rule.VIEWERS),
                Map.entry(FleetGrpc.getGetCpuModelMethod().getFullMethodName(), Rule.VIEWERS),
                Map.entry(FleetGrpc.getRecomputeCpuModelMethod().getFullMethodName(), Rule.ADMINS),
                Map.entry(FleetGrpc.getAdoptVmsMethod().getFullMethodName(), Rule.ADMINS),
                Map.entry(FleetGrpc.getReleaseRestoreHoldMethod().getFullMethodName(), Rule.ADMINS),
                // Any operator may open the dashboard; what they may do there is these same rules.
                Map.entry(io.virtfleet.proto.v1.DashboardGrpc.getCreateLoginMethod().getFullMethodName(), Rule.VIEWERS),
                // A backup holds the fleet CA's key and every secret of the controller: admins only.
                Map.entry(io.virtfleet.proto.v1.BackupsGrpc.getTakeBackupMethod().getFullMethodName(), Rule.ADMINS));
    }
}
