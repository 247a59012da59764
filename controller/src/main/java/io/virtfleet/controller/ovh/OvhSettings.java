package io.virtfleet.controller.ovh;

import java.time.Duration;
import java.util.Map;

/**
 * Whether and how the controller uses OVH's API.
 *
 * @param account        the OVH account from ovh.conf, or null: no API (failover IPs follow the static
 *                       failover-routes, and each VM's virtual MAC is given by the operator)
 * @param services       host → OVH service name of its server (ovh-services). Controller-side configuration on
 *                       purpose: were it reported by the agents, an agent could have IPs moved to any server
 * @param taskDeadline   how long an OVH task (an IP move, a virtual MAC) may take before the create gives up on it
 * @param requestTimeout how long one request to OVH may take
 * @param pollInterval   time between two looks at a task's status
 */
public record OvhSettings(OvhAccount account, Map<String, String> services, Duration taskDeadline,
                          Duration requestTimeout, Duration pollInterval) {
    public static final Duration DEFAULT_TASK_DEADLINE = Duration.ofMinutes(5);
    public static final Duration DEFAULT_REQUEST_TIMEOUT = Duration.ofSeconds(30);
    public static final Duration DEFAULT_POLL_INTERVAL = Duration.ofSeconds(2);

    public OvhSettings {
        services = Map.copyOf(services);
    }

    /** No OVH API. */
    public static OvhSettings none() {
        return new OvhSettings(null, Map.of(), DEFAULT_TASK_DEADLINE, DEFAULT_REQUEST_TIMEOUT, DEFAULT_POLL_INTERVAL);
    }

    /** The API of this account, with the servers' service names, and default timings. */
    public static OvhSettings of(OvhAccount account, Map<String, String> services) {
        return new OvhSettings(account, services, DEFAULT_TASK_DEADLINE, DEFAULT_REQUEST_TIMEOUT, DEFAULT_POLL_INTERVAL);
    }

    public boolean enabled() {
        return account != null;
    }

    public OvhSettings withTimings(Duration task, Duration request, Duration poll) {
        return new OvhSettings(account, services, task, request, poll);
    }
}
