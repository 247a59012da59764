package io.virtfleet.controller.cli;

import com.google.gson.GsonBuilder;
import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import io.grpc.ManagedChannel;
import io.grpc.StatusRuntimeException;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import io.grpc.health.v1.HealthGrpc;
import io.virtfleet.common.cli.ExitCode;
import io.virtfleet.common.security.FleetIdentity;
import io.virtfleet.common.security.TlsCredentials;
import io.virtfleet.common.transport.Transport;
import io.virtfleet.common.units.Durations;
import io.virtfleet.common.validation.Endpoint;
import io.virtfleet.proto.v1.FleetGrpc;
import io.virtfleet.proto.v1.Host;
import io.virtfleet.proto.v1.ListHostsRequest;
import java.io.PrintWriter;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;

/** {@code virtfleet health}: asks the controller (and with --agents each agent) the standard gRPC health question. */
@Command(name = "health", description = {
    "Ask the controller whether it serves, with gRPC's standard health check",
    "(grpc.health.v1.Health/Check, what load balancers and probes ask). It is",
    "SERVING once its state is loaded and it accepts calls, NOT_SERVING from the",
    "moment it starts shutting down. A controller holding after a restore from a",
    "backup still serves (virtfleet drift says that it holds).",
    "",
    "With --agents, the controller's host list is read too (a viewer's",
    "credentials are enough) and each agent is asked directly, at the address it",
    "registered, over mutual TLS with your credentials. An agent is SERVING",
    "while libvirt answers it, NOT_SERVING while its libvirt connection is lost.",
    "The controller's own verdict on the host (ready, degraded...) is shown too.",
    "",
    "Exit codes, for scripts and monitoring checks:",
    "  0   every server asked answered SERVING",
    "  3   the controller could not be reached (no answer within --timeout)",
    "  4   --service names a service the controller does not have",
    "  5   no or unusable credentials, or refused by the controller",
    "  10  the controller answered NOT_SERVING, or (--agents) an agent is not",
    "      SERVING or did not answer",
    "",
    "Examples:",
    "  virtfleet health                      the controller at $VIRTFLEET_CONTROLLER",
    "  virtfleet health --controller cp1:7440 --agents",
    "  virtfleet health --service virtfleet.v1.Fleet    one service by name",
    "  virtfleet health --agents -o json     for scripts: every server's status",
    "",
    "Without virtfleet and without a client certificate (a load balancer, a",
    "probe), give the tool the fleet CA (data-dir/pki/ca.crt on the controller,",
    "also the last certificate of every credentials file), e.g.:",
    "  grpc_health_probe -addr cp1:7440 -tls -tls-ca-cert ca.crt \\",
    "      -tls-server-name controller.virtfleet.internal",
    "Who may call what: README.md, \"Health checks\"."})
final class HealthCommand implements Callable<Integer> {
    @ParentCommand
    VirtfleetCli root;

    @Spec
    CommandSpec spec;

    @Option(names = "--agents", description = "Also ask every agent the controller knows, directly (needs a viewer's credentials).")
    boolean agents;

    @Option(names = "--service", paramLabel = "NAME", defaultValue = "",
            description = "Ask about one service of the controller (e.g. virtfleet.v1.Fleet); default: the controller as a whole.")
    String service;

    @Option(names = "--timeout", paramLabel = "DURATION", defaultValue = "5s",
            description = "How long to wait for each answer, e.g. 2s, 500ms (default: ${DEFAULT-VALUE}).")
    Duration timeout;

    /** One server's answer. */
    private record Answer(String server, String address, String status, String detail) {
        boolean serving() {
            return status.equals(ServingStatus.SERVING.name());
        }
    }

    @Override
    public Integer call() {
        if (timeout.isNegative() || timeout.isZero()) {
            spec.commandLine().getErr().println("virtfleet: --timeout " + Durations.shortText(timeout)
                    + " is not accepted: give a positive duration such as 5s or 500ms");
            return ExitCode.USAGE;
        }
        Endpoint endpoint = Endpoint.parse("--controller", root.controller);
        TlsCredentials credentials = OperatorBundle.load(root.credentials);
        Answer controller;
        List<Answer> agentAnswers = new ArrayList<>();
        try (Transport transport = Transport.secure("cli-health", 1, credentials)) {
            ManagedChannel channel = transport.channel(endpoint, FleetIdentity.controller(), Runnable::run);
            // A status other than an answer (UNAVAILABLE, NOT_FOUND for an unknown --service, PERMISSION_DENIED) goes to
            // the CLI's common handler, which gives it its exit code (3, 4, 5).
            try {
                controller = ask(channel, "controller", endpoint.toString(), service);
                if (agents && controller.serving()) {
                    List<Host> hosts = FleetGrpc.newBlockingStub(channel).withDeadlineAfter(timeout.toMillis(), TimeUnit.MILLISECONDS)
                            .listHosts(ListHostsRequest.getDefaultInstance()).getHostsList();
                    agentAnswers = askAgents(transport, hosts);
                }
            } finally {
                channel.shutdownNow();
            }
        }
        PrintWriter out = spec.commandLine().getOut();
        boolean allServing = controller.serving() && agentAnswers.stream().allMatch(Answer::serving);
        if (root.output == Output.json) {
            JsonObject json = new JsonObject();
            json.addProperty("serving", allServing);
            json.add("controller", json(controller));
            if (agents) {
                JsonArray list = new JsonArray();
                agentAnswers.forEach(a -> list.add(json(a)));
                json.add("agents", list);
            }
            out.println(new GsonBuilder().setPrettyPrinting().create().toJson(json));
        } else {
            Table t = new Table("SERVER", "ADDRESS", "STATUS", "DETAIL");
            t.row(controller.server(), controller.address(), controller.status(), controller.detail());
            agentAnswers.forEach(a -> t.row(a.server(), a.address(), a.status(), a.detail()));
            t.print(out);
            if (agents && !controller.serving()) {
                out.println("The agents were not asked: the controller does not serve.");
            }
        }
        out.flush();
        return allServing ? ExitCode.OK : ExitCode.NOT_SERVING;
    }

    private Answer ask(ManagedChannel channel, String server, String address, String name) {
        ServingStatus status = HealthGrpc.newBlockingStub(channel).withDeadlineAfter(timeout.toMillis(), TimeUnit.MILLISECONDS)
                .check(HealthCheckRequest.newBuilder().setService(name).build()).getStatus();
        return new Answer(server, address, status.name(), name.isEmpty() ? "" : "service " + name);
    }

    /** Asks every agent at once, each with its own deadline; an agent that does not answer is reported, not fatal. */
    private List<Answer> askAgents(Transport transport, List<Host> hosts) {
        List<CompletableFuture<Answer>> pending = new ArrayList<>();
        for (Host host : hosts.stream().sorted(Comparator.comparing(Host::getName)).toList()) {
            String seen = "controller sees it " + host.getState().name().substring("HOST_STATE_".length()).toLowerCase(Locale.ROOT)
                    + (host.getStateReason().isEmpty() ? "" : ": " + host.getStateReason());
            if (host.getAgentEndpoint().isEmpty()) {
                pending.add(CompletableFuture.completedFuture(new Answer(host.getName(), "-", "UNKNOWN",
                        "no agent address registered; " + seen)));
                continue;
            }
            pending.add(CompletableFuture.supplyAsync(() -> {
                ManagedChannel channel = null;
                try {
                    Endpoint at = Endpoint.parse("agent_endpoint", host.getAgentEndpoint());
                    channel = transport.channel(at, FleetIdentity.agent(host.getName()), Runnable::run);
                    Answer a = ask(channel, host.getName(), host.getAgentEndpoint(), "");
                    return new Answer(a.server(), a.address(), a.status(), seen);
                } catch (StatusRuntimeException e) {
                    String why = e.getStatus().getDescription() != null ? e.getStatus().getDescription() : "";
                    return new Answer(host.getName(), host.getAgentEndpoint(), "NO_ANSWER",
                            e.getStatus().getCode() + (why.isEmpty() ? "" : " (" + why + ")") + "; " + seen);
                } catch (RuntimeException e) {
                    return new Answer(host.getName(), host.getAgentEndpoint(), "NO_ANSWER", e.getMessage() + "; " + seen);
                } finally {
                    if (channel != null) {
                        channel.shutdownNow();
                    }
                }
            }));
        }
        return pending.stream().map(CompletableFuture::join).toList();
    }

    private static JsonObject json(Answer a) {
        JsonObject o = new JsonObject();
        o.addProperty("server", a.server());
        o.addProperty("address", a.address());
        o.addProperty("status", a.status());
        o.addProperty("detail", a.detail());
        return o;
    }
}
