package io.virtfleet.controller.dashboard;

import io.virtfleet.common.validation.InvalidInputException;
import io.virtfleet.common.validation.Names;
import io.virtfleet.proto.v1.Vm;
import java.util.List;

/**
 * The VM list's filters, checked as the API checks names: state (one of {@link #STATES}), home host (a host name),
 * and part of the VM's name (letters, digits and '-' as in VM names). Empty: no filter.
 */
record VmFilter(String state, String host, String name) {
    static final List<String> STATES = List.of("running", "stopped", "creating", "failed", "deleting");

    static VmFilter of(DashboardRequest r) {
        String state = r.param("state");
        if (!state.isEmpty() && !STATES.contains(state)) {
            throw new InvalidInputException("state", state, "one of " + String.join(", ", STATES) + ", or empty for all");
        }
        String host = r.param("host");
        if (!host.isEmpty()) {
            Names.hostName("host", host);
        }
        String name = r.param("name");
        if (!name.isEmpty() && !name.matches("[a-z0-9-]{1,63}")) {
            throw new InvalidInputException("name", name, "part of a VM name: up to 63 of a-z, 0-9 and '-'");
        }
        return new VmFilter(state, host, name);
    }

    boolean matches(Vm vm) {
        return (host.isEmpty() || vm.getHomeHost().equals(host))
                && (name.isEmpty() || vm.getSpec().getName().contains(name))
                && (state.isEmpty() || state.equals(stateOf(vm)));
    }

    /** A VM's state in one word, as the filter names them. */
    static String stateOf(Vm vm) {
        return switch (vm.getPhase()) {
            case VM_PHASE_CREATING -> "creating";
            case VM_PHASE_FAILED -> "failed";
            case VM_PHASE_DELETING -> "deleting";
            default -> domainState(vm) == io.virtfleet.proto.v1.DomainState.DOMAIN_STATE_RUNNING ? "running" : "stopped";
        };
    }

    /** The state the home host reported for the VM's domain; UNSPECIFIED when it reported none. */
    static io.virtfleet.proto.v1.DomainState domainState(Vm vm) {
        try {
            return io.virtfleet.proto.v1.DomainState.valueOf(vm.getDomainState());
        } catch (IllegalArgumentException e) {
            return io.virtfleet.proto.v1.DomainState.DOMAIN_STATE_UNSPECIFIED;
        }
    }

    /** That state in virsh's words. */
    static String domainWords(Vm vm) {
        return io.virtfleet.controller.vm.DomainStates.label(domainState(vm), "not reported");
    }

    /** This filter as a query string, "" when it filters nothing. */
    String query() {
        StringBuilder q = new StringBuilder();
        if (!state.isEmpty()) {
            q.append("&state=").append(Html.url(state));
        }
        if (!host.isEmpty()) {
            q.append("&host=").append(Html.url(host));
        }
        if (!name.isEmpty()) {
            q.append("&name=").append(Html.url(name));
        }
        return q.length() == 0 ? "" : "?" + q.substring(1);
    }
}
