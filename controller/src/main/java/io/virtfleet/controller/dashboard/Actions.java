package io.virtfleet.controller.dashboard;

import static io.virtfleet.controller.dashboard.Html.esc;
import static io.virtfleet.controller.dashboard.Html.url;

import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.virtfleet.common.validation.InvalidInputException;
import io.virtfleet.common.validation.Names;
import io.virtfleet.controller.dashboard.DashboardRoutes.Page;
import io.virtfleet.proto.v1.Host;
import io.virtfleet.proto.v1.ListHostsRequest;
import io.virtfleet.proto.v1.MoveVmRequest;
import io.virtfleet.proto.v1.SetHostDrainingRequest;
import io.virtfleet.proto.v1.SetVmRunningRequest;
import io.virtfleet.proto.v1.Vm;
import io.virtfleet.proto.v1.VmProgress;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The levers an admin pulls from the dashboard: drain and undrain a host, start and stop a VM, move a VM. Each is
 * a page asking for confirmation (a GET, which changes nothing), then a POST with the session's CSRF token that
 * makes the operator's call: a viewer gets the call's refusal (403), and the audit log names the operator.
 */
final class Actions {
    /** The moves started from this dashboard: each VM's latest step in words. Bounded, oldest dropped first. */
    private final Map<String, String> moves = new LinkedHashMap<>(16, 0.75f, false) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<String, String> eldest) {
            return size() > 100;
        }
    };
    private final OperatorCalls calls;

    Actions(OperatorCalls calls) {
        this.calls = calls;
    }

    /** What a lever asks for, checked by the API's validators. */
    private record Lever(String action, String host, String vm, String to) {
        static Lever of(String action, String host, String vm, String to) {
            switch (action) {
                case "drain", "undrain" -> {
                    return new Lever(action, Names.hostName("host", host), "", "");
                }
                case "start", "stop" -> {
                    return new Lever(action, "", Names.vmName("vm", vm), "");
                }
                case "move" -> {
                    return new Lever(action, "", Names.vmName("vm", vm), to.isEmpty() ? "" : Names.hostName("to", to));
                }
                default -> throw new InvalidInputException("action", action, "drain, undrain, start, stop or move");
            }
        }

        String words() {
            return switch (action) {
                case "drain" -> "Drain host " + host + ": it keeps its VMs, placement gives it no new ones.";
                case "undrain" -> "Undrain host " + host + ": placement may give it new VMs again.";
                case "start" -> "Start VM " + vm + " on its home host.";
                case "stop" -> "Stop VM " + vm + " (a clean shutdown, then off).";
                default -> "Live-migrate VM " + vm + " to " + (to.isEmpty() ? "the host placement chooses" : to)
                        + ", the VM running all along.";
            };
        }

        String back() {
            return host.isEmpty() ? "/vm?name=" + url(vm) : "/";
        }
    }

    String confirm(Page page, DashboardRequest r) {
        Lever lever = Lever.of(r.param("action"), r.param("host"), r.param("vm"), r.param("to"));
        StringBuilder h = new StringBuilder("<p id=\"confirm-what\">").append(esc(lever.words())).append("</p>");
        if (!page.session().admin()) {
            h.append("<p class=\"muted\">You are a viewer: the controller will refuse this (admins only).</p>");
        }
        h.append("<form method=\"post\" action=\"/action\">").append(Pages.csrf(page))
                .append(hidden("action", lever.action())).append(hidden("host", lever.host())).append(hidden("vm", lever.vm()));
        if (lever.action().equals("move")) {
            h.append("<label>To host <select name=\"to\"><option value=\"\">where placement chooses</option>");
            for (Host host : calls.as(page.secret()).listHosts(ListHostsRequest.getDefaultInstance()).getHostsList()) {
                h.append("<option").append(host.getName().equals(lever.to()) ? " selected" : "").append(">")
                        .append(esc(host.getName())).append("</option>");
            }
            h.append("</select></label> ");
        }
        h.append("<button type=\"submit\" id=\"confirm\" class=\"danger\">Confirm</button> <a href=\"")
                .append(esc(lever.back())).append("\">Cancel</a></form>");
        return Pages.layout(page, "Confirm", h.toString());
    }

    DashboardResponse perform(Page page, DashboardRequest r) {
        Lever lever;
        try {
            lever = Lever.of(r.field("action"), r.field("host"), r.field("vm"), r.field("to"));
        } catch (InvalidInputException e) {
            return DashboardResponse.html(HttpResponseStatus.BAD_REQUEST, Pages.layout(page, "Bad input",
                    "<p class=\"error\">" + esc(e.getMessage()) + "</p>"));
        }
        String done;
        switch (lever.action()) {
            case "drain", "undrain" -> {
                Host host = calls.as(page.secret()).setHostDraining(SetHostDrainingRequest.newBuilder()
                        .setName(lever.host()).setDraining(lever.action().equals("drain")).build());
                done = "Host " + host.getName() + " is " + (lever.action().equals("drain") ? "draining" : "taking new VMs again") + ".";
            }
            case "start", "stop" -> {
                Vm vm = calls.asLong(page.secret()).setVmRunning(SetVmRunningRequest.newBuilder()
                        .setName(lever.vm()).setRunning(lever.action().equals("start")).build());
                done = "VM " + vm.getSpec().getName() + " is " + (lever.action().equals("start") ? "started" : "stopped") + ".";
            }
            default -> {
                startMove(page, lever);
                done = "Moving VM " + lever.vm() + "; its page follows the move.";
            }
        }
        return DashboardResponse.html(HttpResponseStatus.OK, Pages.layout(page, "Done", "<p id=\"done\">" + esc(done)
                + "</p><p><a href=\"" + esc(lever.back()) + "\">Back</a></p>"));
    }

    /** Starts a move, which lasts as long as the migration: its steps are kept for the VM's page. */
    private void startMove(Page page, Lever lever) {
        note(lever.vm(), "move requested");
        calls.async(page.secret()).moveVm(MoveVmRequest.newBuilder().setName(lever.vm()).setToHost(lever.to()).build(),
                new StreamObserver<>() {
                    @Override
                    public void onNext(VmProgress p) {
                        note(lever.vm(), "move: " + p.getStep() + (p.getDetail().isEmpty() ? "" : ": " + p.getDetail()));
                    }

                    @Override
                    public void onError(Throwable t) {
                        Status s = Status.fromThrowable(t);
                        note(lever.vm(), "move failed: " + (s.getDescription() == null ? s.getCode() : s.getDescription()));
                    }

                    @Override
                    public void onCompleted() {
                        note(lever.vm(), "move done");
                    }
                });
    }

    private synchronized void note(String vm, String text) {
        moves.remove(vm);
        moves.put(vm, text);
    }

    /** The latest step of a move of {@code vm} started here, "" when none. */
    synchronized String moveProgress(String vm) {
        return moves.getOrDefault(vm, "");
    }

    private static String hidden(String name, String value) {
        return "<input type=\"hidden\" name=\"" + esc(name) + "\" value=\"" + esc(value) + "\">";
    }
}
