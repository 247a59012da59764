package io.virtfleet.controller.cli;

import io.virtfleet.common.cli.ExitCode;
import io.virtfleet.common.validation.Names;
import io.virtfleet.controller.registry.HostStates;
import io.virtfleet.proto.v1.EvacuateHostRequest;
import io.virtfleet.proto.v1.FenceHostRequest;
import io.virtfleet.proto.v1.HostProgress;
import io.virtfleet.proto.v1.UnfenceHostRequest;
import io.virtfleet.proto.v1.Host;
import io.virtfleet.proto.v1.VmProgress;
import java.util.Iterator;
import picocli.CommandLine.Option;
import io.virtfleet.proto.v1.SetHostDrainingRequest;
import java.io.PrintWriter;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;

/** {@code virtfleet host ...}: commands about one host. */
@Command(name = "host", description = "Show, drain, undrain, fence, unfence, recover or forget one host.",
        subcommands = {HostShowCommand.class, HostForgetCommand.class})
final class HostCommand {
    @ParentCommand
    VirtfleetCli root;

    @Spec
    CommandSpec spec;

    @Command(name = "drain", description = {"Stop placing new VMs on a host (before maintenance, say). Its VMs keep",
        "running unless --move is given. The drain survives controller restarts; undo it with",
        "host undrain.",
        "With --move, every running VM is then moved off the host live (as vm move does), a",
        "few at a time, one progress line per VM; VMs that cannot move (stopped, pinned,",
        "failover IP, no host fits) are listed with the reason at the end. Run it again to",
        "resume after Ctrl-C or a failure: VMs already moved are not the host's any more.", "",
        "Exit code 0 when the host runs no fleet VM afterwards, 1 when some are left.", "",
        "Examples:",
        "  virtfleet host drain hv3",
        "  virtfleet host drain hv3 --move",
        "  virtfleet host drain hv3 --move --parallel 4"})
    int drain(@Parameters(paramLabel = "NAME", description = "Host name.") String name,
              @Option(names = "--move", description = "Then move its running VMs to other hosts.") boolean move,
              @Option(names = "--parallel", paramLabel = "N", defaultValue = "2",
                      description = "Moves at once with --move (1 to 8; default ${DEFAULT-VALUE}).") int parallel) {
        if (parallel < 1 || parallel > 8) {
            throw new picocli.CommandLine.ParameterException(spec.commandLine(),
                    "--parallel must be 1 to 8 moves at once, not " + parallel);
        }
        int drained = setDraining(name, true);
        if (!move || drained != ExitCode.OK) {
            return drained;
        }
        PrintWriter out = spec.commandLine().getOut();
        boolean[] emptied = {false};
        try (ControllerClient client = root.connect()) {
            Iterator<VmProgress> steps = client.fleetStreaming().evacuateHost(EvacuateHostRequest.newBuilder()
                    .setName(name).setParallel(parallel).build());
            long start = System.nanoTime();
            java.util.Map<String, Integer> shown = new java.util.HashMap<>();
            while (steps.hasNext()) {
                VmProgress p = steps.next();
                if (p.hasVmsLeft()) {
                    emptied[0] = p.getVmsLeft() == 0;
                }
                if (root.output == Output.json) {
                    out.println(Json.line(p));
                } else if (!p.hasPlacement() || !p.getStep().equals("placement")) {
                    String detail = p.hasMigration() ? MoveProgress.line(p.getMigration()) : p.getDetail();
                    if (p.hasMigration()) {
                        // A quarter at a time per VM: several migrations interleave on one screen.
                        int quarter = p.getMigration().getPercent() / 25 + p.getMigration().getPhaseValue() * 10;
                        if (shown.getOrDefault(p.getVmName(), -1) >= quarter) {
                            continue;
                        }
                        shown.put(p.getVmName(), quarter);
                    }
                    out.printf(java.util.Locale.ROOT, "[%6.1fs] %-12s %-9s %s%n", (System.nanoTime() - start) / 1e9,
                            p.getVmName().isEmpty() ? name : p.getVmName(), p.getStep(), detail);
                }
                out.flush();
            }
        }
        return emptied[0] ? ExitCode.OK : ExitCode.FAILURE;
    }

    @Command(name = "recover", description = {"Restart a lost host's VMs on other hosts. Refused unless the host is",
        "fenced (host fence NAME) or confirmed down (host fence NAME --confirm-down). Each Ceph-backed VM",
        "homed there gets a new home from placement (one commit per VM) and is started there; raw-disk VMs,",
        "VMs created with --no-failover and failover-IP VMs whose IP cannot be routed to the new home are",
        "listed with why (and for the latter, what to do). Several VMs at once (controller setting",
        "failover-parallel). Run it again after a failure: what is done stays done.", "",
        "Exit code 0 when every VM is recovered, 8 when some are left, 1 when refused.", "",
        "Example:",
        "  virtfleet host recover hv1"})
    int recover(@Parameters(paramLabel = "NAME", description = "The lost host.") String name) {
        PrintWriter out = spec.commandLine().getOut();
        int left = -1;
        try (ControllerClient client = root.connect()) {
            Iterator<VmProgress> steps = client.fleetStreaming().recoverHost(io.virtfleet.proto.v1.RecoverHostRequest
                    .newBuilder().setName(Names.hostName("NAME", name)).build());
            long start = System.nanoTime();
            while (steps.hasNext()) {
                VmProgress p = steps.next();
                if (p.hasVmsLeft()) {
                    left = p.getVmsLeft();
                }
                if (root.output == Output.json) {
                    out.println(Json.line(p));
                } else {
                    out.printf(java.util.Locale.ROOT, "[%6.1fs] %-12s %-9s %s%n", (System.nanoTime() - start) / 1e9,
                            p.getVmName().isEmpty() ? name : p.getVmName(), p.getStep(), p.getDetail());
                }
                out.flush();
            }
        }
        return left == 0 ? ExitCode.OK : ExitCode.SOME_LEFT;
    }

    @Command(name = "undrain", description = "Let placement use a drained host again.")
    int undrain(@Parameters(paramLabel = "NAME", description = "Host name.") String name) {
        return setDraining(name, false);
    }

    @Command(name = "fence", description = {"Declare an unreachable host lost, so that its VMs may start elsewhere",
        "without the host ever writing to their disks again: every Ceph client address the host",
        "reported is put on Ceph's OSD blocklist (an IP:0/0 entry cuts every client of that",
        "address, sessions already open included, until fence-expiry or unfence), checked there,",
        "then the verdict is recorded. The host is then 'fenced': placement, moves and drains",
        "never choose it. Refused while the host heartbeats: fencing a running host cuts its",
        "VMs off their disks. Fencing a fenced host shows its fence and changes nothing.", "",
        "--confirm-down records your word that the host is down (powered off) even when Ceph",
        "cannot be asked (no ceph-admin-conf on the controller, no addresses reported, Ceph",
        "refused); the blocklist is still applied where it can be. Written to the audit log.", "",
        "Once the host is lost, its VMs are restarted elsewhere as host recover does, and each",
        "VM's steps are shown (e.g. web: fenced hv1, placed on hv3, started).", "",
        "Exit code 0 when fenced and every VM recovered, 8 when some VMs are left (listed with",
        "why; host recover NAME retries), 1 when refused (the message says why and what to do),",
        "3 when Ceph could not be asked (nothing recorded), 4 for an unknown host.", "",
        "Examples:",
        "  virtfleet host fence hv3",
        "  virtfleet host fence hv3 --confirm-down"})
    int fence(@Parameters(paramLabel = "NAME", description = "Host name.") String name,
              @Option(names = "--confirm-down", description = {"I checked the host is down (powered off, cut from",
                  "the storage network): record it lost even without the blocklist."}) boolean confirmDown) {
        PrintWriter out = spec.commandLine().getOut();
        try (ControllerClient client = root.connect()) {
            Iterator<HostProgress> steps = client.fleetStreaming().fenceHost(FenceHostRequest.newBuilder()
                    .setName(Names.hostName("NAME", name)).setConfirmDown(confirmDown).build());
            long left = 0;
            while (steps.hasNext()) {
                HostProgress p = steps.next();
                if (p.hasVmsLeft()) {
                    left = p.getVmsLeft();
                } else if (p.getStep().equals("recovery-refused")) {
                    left = Math.max(left, 1); // fenced, but its VMs were not recovered: something is left
                }
                if (root.output == Output.json) {
                    out.println(Json.line(p));
                } else {
                    out.println((p.getVm().isEmpty() ? name : p.getVm()) + " " + p.getStep() + ": " + p.getDetail());
                }
                out.flush();
            }
            return left == 0 ? ExitCode.OK : ExitCode.SOME_LEFT;
        }
    }

    @Command(name = "unfence", description = {"Lift a host's fence once it is back and stood down (its agent destroyed",
        "the domains of VMs that started elsewhere): its addresses leave Ceph's blocklist, then",
        "the verdict is dropped and placement may use the host again. Refused while the host is",
        "unreachable (nothing proves what it runs) or still runs a VM whose home is now another",
        "host. A host that is not fenced is shown as it is.",
        "While the controller holds after a restore (no stand-down is ordered), it does not wait",
        "for one: a VM the host runs that is recorded on another host is allowed while every other",
        "host, its recorded home included, reports and does not run it.", "",
        "Exit code 0 when not fenced afterwards, 1 when refused, 3 when Ceph could not be asked.", "",
        "Example: virtfleet host unfence hv3"})
    int unfence(@Parameters(paramLabel = "NAME", description = "Host name.") String name) {
        Host host;
        try (ControllerClient client = root.connect()) {
            host = client.fleetLong().unfenceHost(UnfenceHostRequest.newBuilder().setName(Names.hostName("NAME", name)).build());
        }
        PrintWriter out = spec.commandLine().getOut();
        out.println(root.output == Output.json ? Json.of(host)
                : host.getName() + " is " + HostStates.label(host.getState()) + ": " + host.getStateReason());
        out.flush();
        return ExitCode.OK;
    }

    private int setDraining(String name, boolean draining) {
        Host host;
        try (ControllerClient client = root.connect()) {
            host = client.fleet().setHostDraining(SetHostDrainingRequest.newBuilder()
                    .setName(Names.hostName("NAME", name)).setDraining(draining).build());
        }
        PrintWriter out = spec.commandLine().getOut();
        out.println(root.output == Output.json ? Json.of(host)
                : host.getName() + " is " + HostStates.label(host.getState()) + ": " + host.getStateReason());
        out.flush();
        return ExitCode.OK;
    }
}
