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
import java.time.Clock;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;

/**
 * The levers an admin pulls from the dashboard: drain and undrain a host, start and stop a VM, move a VM. Each is
 * a page asking for confirmation (a GET, which changes nothing), then a POST with the session's CSRF token that
 * makes the operator's call: a viewer gets the call's refusal (403), and the audit log names the operator.
 *
 * <p>The call is made asynchronously and the POST answered at once: a lever may wait for a host for minutes, and the
 * dashboard's few workers only render pages. A refusal known at once (the access rules, a bad name, the restore
 * hold) is the POST's answer; whatever comes later (done, or failed in the controller's words) is the lever's
 * outcome, shown on the page that follows it and on the VM's or the fleet's page.
 */
final class Actions {
    private static final DateTimeFormatter TIME = DateTimeFormatter.ofPattern("HH:mm:ss 'UTC'").withZone(ZoneOffset.UTC);

    /** What a lever pulled here did last, by subject ("vm web", "host hv1"). Bounded, oldest dropped first. */
    private final Map<String, Outcome> outcomes = new LinkedHashMap<>(16, 0.75f, false) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<String, Outcome> eldest) {
            return size() > 200;
        }
    };
    private final OperatorCalls calls;
    private final Clock clock;

    /** A lever's latest outcome in words, whether it failed, who pulled it and when (e.g. "12:03:04 UTC"). */
    record Outcome(String text, boolean failed, String operator, String at) {}

    Actions(OperatorCalls calls, Clock clock) {
        this.calls = calls;
        this.clock = clock;
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

        /** While it runs, in words. */
        String running() {
            return switch (action) {
                case "drain" -> "Draining host " + host;
                case "undrain" -> "Undraining host " + host;
                case "start" -> "Starting VM " + vm;
                case "stop" -> "Stopping VM " + vm;
                default -> "Moving VM " + vm;
            };
        }

        /** Whose outcome it is: "vm web" or "host hv1". */
        String subject() {
            return host.isEmpty() ? subjectOfVm(vm) : subjectOfHost(host);
        }

        String back() {
            return host.isEmpty() ? "/vm?name=" + url(vm) : "/";
        }

        /** The fragment showing its outcome. */
        String follow() {
            return host.isEmpty() ? "/fragment/outcome?vm=" + url(vm) : "/fragment/outcome?host=" + url(host);
        }
    }

    static String subjectOfVm(String vm) {
        return "vm " + vm;
    }

    static String subjectOfHost(String host) {
        return "host " + host;
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
        Pull pull = new Pull(lever.subject(), page.session().operator().name());
        switch (lever.action()) {
            case "drain", "undrain" -> calls.async(page.secret())
                    .withDeadlineAfter(OperatorCalls.DEADLINE_SECONDS, TimeUnit.SECONDS)
                    .setHostDraining(SetHostDrainingRequest.newBuilder().setName(lever.host())
                            .setDraining(lever.action().equals("drain")).build(), pull.answer(lever, (Host host) ->
                            "Host " + host.getName() + " is " + (lever.action().equals("drain") ? "draining" : "taking new VMs again") + "."));
            case "start", "stop" -> calls.async(page.secret())
                    .withDeadlineAfter(OperatorCalls.LONG_DEADLINE_SECONDS, TimeUnit.SECONDS)
                    .setVmRunning(SetVmRunningRequest.newBuilder().setName(lever.vm())
                            .setRunning(lever.action().equals("start")).build(), pull.answer(lever, (Vm vm) ->
                            "VM " + vm.getSpec().getName() + " is " + (lever.action().equals("start") ? "started" : "stopped") + "."));
            default -> calls.async(page.secret()).moveVm(MoveVmRequest.newBuilder().setName(lever.vm()).setToHost(lever.to())
                    .build(), pull.steps());
        }
        Optional<Status> refused = pull.answered(lever.running() + ": started");
        if (refused.isPresent()) {
            return DashboardRoutes.refused(page, refused.get());
        }
        return DashboardResponse.html(HttpResponseStatus.OK, Pages.layout(page, lever.running(), "<p id=\"done\">"
                + esc(lever.running() + ": started; this page follows it.") + "</p>"
                + Pages.polled("outcome", lever.follow(), outcomeHtml(lever.subject()))
                + "<p><a href=\"" + esc(lever.back()) + "\">Back</a></p>"));
    }

    /**
     * One pull of a lever: what its call answers. A failure heard while the call is being made, on the thread making
     * it (the in-process channel runs the access rules and the request's checks there), is kept for the POST's own
     * answer: a refusal at once. Every other outcome, from the controller's own workers, goes to {@link #outcomes}.
     */
    private final class Pull {
        private final String subject;
        private final String operator;
        /** The thread making the call: a failure it hears before the POST is answered is a refusal at once. */
        private final Thread puller = Thread.currentThread();
        private Status refusedAtOnce;
        private boolean answered;
        private boolean noted;

        Pull(String subject, String operator) {
            this.subject = subject;
            this.operator = operator;
        }

        /** An observer of a one-answer call, whose answer {@code done} puts in words. */
        <T> StreamObserver<T> answer(Lever lever, Function<T, String> done) {
            return new StreamObserver<>() {
                @Override
                public void onNext(T value) {
                    outcome(done.apply(value), false);
                }

                @Override
                public void onError(Throwable t) {
                    failed(lever.running() + " failed: ", Status.fromThrowable(t));
                }

                @Override
                public void onCompleted() {}
            };
        }

        /** An observer of a move, each step of which is its outcome so far. */
        StreamObserver<VmProgress> steps() {
            return new StreamObserver<>() {
                @Override
                public void onNext(VmProgress p) {
                    outcome("move: " + p.getStep() + (p.getDetail().isEmpty() ? "" : ": " + p.getDetail()), false);
                }

                @Override
                public void onError(Throwable t) {
                    failed("move failed: ", Status.fromThrowable(t));
                }

                @Override
                public void onCompleted() {
                    outcome("move done", false);
                }
            };
        }

        synchronized void outcome(String text, boolean failed) {
            noted = true;
            note(subject, new Outcome(text, failed, operator, TIME.format(clock.instant())));
        }

        synchronized void failed(String prefix, Status status) {
            if (!answered && Thread.currentThread() == puller) {
                refusedAtOnce = status;
                return;
            }
            String words = status.getCode() == Status.Code.DEADLINE_EXCEEDED
                    ? "no answer within the dashboard's deadline; the VM's or host's page shows its state now"
                    : status.getDescription() == null ? status.getCode().toString() : status.getDescription();
            outcome(prefix + words, true);
        }

        /** The POST is answered now: with the refusal, when the call was refused at once; else it follows the lever. */
        synchronized Optional<Status> answered(String started) {
            answered = true;
            if (refusedAtOnce == null && !noted) {
                outcome(started, false);
            }
            return Optional.ofNullable(refusedAtOnce);
        }
    }

    private synchronized void note(String subject, Outcome outcome) {
        outcomes.remove(subject);
        outcomes.put(subject, outcome);
    }

    /** The latest outcome of a lever pulled here on {@code subject}. */
    synchronized Optional<Outcome> outcome(String subject) {
        return Optional.ofNullable(outcomes.get(subject));
    }

    /** The latest outcome of a lever on {@code subject} as a paragraph, "" when none. */
    String outcomeHtml(String subject) {
        return outcome(subject).map(o -> html(o, "id=\"lever-outcome\" class=\"" + (o.failed() ? "error" : "muted") + "\""))
                .orElse("");
    }

    /** An outcome as a paragraph with these attributes. */
    static String html(Outcome o, String attributes) {
        return "<p " + attributes + "><span class=\"outcome-text\">" + esc(o.text()) + "</span> <span class=\"muted\">("
                + esc(o.operator()) + ", " + esc(o.at()) + ")</span></p>";
    }

    /** The fragment that follows a lever: {@code ?vm=NAME} or {@code ?host=NAME}. */
    String outcomeFragment(DashboardRequest r) {
        return outcomeHtml(r.param("host").isEmpty() ? subjectOfVm(Names.vmName("vm", r.param("vm")))
                : subjectOfHost(Names.hostName("host", r.param("host"))));
    }

    private static String hidden(String name, String value) {
        return "<input type=\"hidden\" name=\"" + esc(name) + "\" value=\"" + esc(value) + "\">";
    }
}
