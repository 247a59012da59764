package io.virtfleet.controller.cli;

import io.virtfleet.common.cli.ExitCode;
import io.virtfleet.common.units.Bytes;
import io.virtfleet.common.validation.Names;
import io.virtfleet.common.validation.StorageTiers;
import io.virtfleet.proto.v1.CancelMoveRequest;
import io.virtfleet.proto.v1.CancelMoveResponse;
import io.virtfleet.proto.v1.MoveVmRequest;
import io.virtfleet.proto.v1.PlacementExplanation;
import io.virtfleet.proto.v1.DeleteVmRequest;
import io.virtfleet.proto.v1.GetVmRequest;
import io.virtfleet.proto.v1.ListVmsRequest;
import io.virtfleet.proto.v1.ListVmsResponse;
import io.virtfleet.proto.v1.ReinstallVmRequest;
import io.virtfleet.proto.v1.SetVmRunningRequest;
import io.virtfleet.proto.v1.Vm;
import io.virtfleet.proto.v1.VmEvent;
import io.virtfleet.proto.v1.VmHistory;
import io.virtfleet.proto.v1.VmProgress;
import io.virtfleet.proto.v1.VmSpec;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.Iterator;
import java.util.Locale;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;

/** {@code virtfleet vm ...}: the VMs the controller manages. */
@Command(name = "vm", description = {"Create, list, show, start, stop and delete VMs.", "",
    "Examples:",
    "  virtfleet vm create git --storage sata --size 20G --lan 10 --profile api",
    "  virtfleet vm create www --storage ssd --size 40G --failover-ip 203.0.113.7 --failover-mac 02:00:00:aa:bb:cc",
    "  virtfleet vm create db --storage raw --size 100G --lan 10 --host hv3 --dry-run",
    "  virtfleet vm list",
    "  virtfleet vm history git",
    "  virtfleet vm reinstall git --profile api-test",
    "  virtfleet vm move git --to hv2",
    "  virtfleet vm delete git --delete-disk --yes"},
        subcommands = {VmCreateCommand.class})
final class VmCommand {
    @ParentCommand
    VirtfleetCli root;

    @Spec
    CommandSpec spec;

    @Command(name = "list", description = {"Every VM: home host, phase, libvirt state, disk, size, network.",
        "PHASE: creating, ready, deleting, failed (see vm show for the error)."})
    int list() {
        ListVmsResponse vms;
        try (ControllerClient client = root.connect()) {
            vms = client.fleet().listVms(ListVmsRequest.getDefaultInstance());
        }
        PrintWriter out = spec.commandLine().getOut();
        if (root.output == Output.json) {
            out.println(Json.of(vms));
        } else if (vms.getVmsCount() == 0) {
            out.println("No VMs yet. Create one with: virtfleet vm create NAME --storage sata --size 20G --lan 10");
        } else {
            Table t = new Table("VM", "HOST", "PHASE", "STATE", "DISK", "MEMORY", "VCPUS", "NETWORK", "PROFILE");
            for (Vm vm : vms.getVmsList()) {
                VmSpec s = vm.getSpec();
                t.row(s.getName(), vm.getHomeHost(), phase(vm), state(vm),
                        StorageTiers.name(s.getStorage()) + " " + Bytes.human(s.getDiskBytes()),
                        Bytes.human(s.getMemoryBytes()), Integer.toString(s.getVcpus()), network(s), s.getProfile());
            }
            t.print(out);
        }
        out.flush();
        return ExitCode.OK;
    }

    @Command(name = "show", description = "One VM: its spec, home host, state, disk, network and history.")
    int show(@Parameters(paramLabel = "NAME", description = "VM name.") String name) {
        Vm vm;
        try (ControllerClient client = root.connect()) {
            vm = client.fleet().getVm(GetVmRequest.newBuilder().setName(Names.vmName("NAME", name)).build());
        }
        PrintWriter out = spec.commandLine().getOut();
        if (root.output == Output.json) {
            out.println(Json.of(vm));
            out.flush();
            return ExitCode.OK;
        }
        VmSpec s = vm.getSpec();
        out.printf(Locale.ROOT, "VM:        %s%n", s.getName());
        out.printf(Locale.ROOT, "Host:      %s%n", vm.getHomeHost());
        out.printf(Locale.ROOT, "Phase:     %s%s%n", phase(vm), vm.getLastError().isEmpty() ? "" : " (" + vm.getLastError() + ")");
        out.printf(Locale.ROOT, "State:     %s (wanted: %s)%n", state(vm), vm.getRunningWanted() ? "running" : "stopped");
        out.printf(Locale.ROOT, "Disk:      %s %s%s%n", StorageTiers.name(s.getStorage()), Bytes.human(s.getDiskBytes()),
                vm.getDisk().isEmpty() ? "" : ", " + vm.getDisk());
        out.printf(Locale.ROOT, "Memory:    %s, %d vCPUs%n", Bytes.human(s.getMemoryBytes()), s.getVcpus());
        out.printf(Locale.ROOT, "Network:   %s%s%n", network(s), vm.getNetwork().isEmpty() ? "" : ", on " + vm.getNetwork());
        out.printf(Locale.ROOT, "Profile:   %s%n", s.getProfile());
        out.printf(Locale.ROOT, "Install:   %s%n", install(vm));
        if (!s.getSpreadGroup().isEmpty()) {
            out.printf(Locale.ROOT, "Spread:    %s%n", s.getSpreadGroup());
        }
        out.printf(Locale.ROOT, "Replicas:  %s%n", !s.getReplicated() ? "none (not replicated)"
                : vm.getReplicaHostsCount() == 0 ? "replicated; no other host reports its definition yet"
                : "defined on " + String.join(", ", vm.getReplicaHostsList()) + " (autostart off, never started there)");
        out.printf(Locale.ROOT, "Failover:  %s%n", s.getNoFailover() ? "off (--no-failover): stays down while its host"
                + " is lost" : s.getStorage() == io.virtfleet.proto.v1.StorageTier.STORAGE_TIER_RAW
                ? "none (raw disk: down until its host returns)" : "restarted elsewhere when its host is lost");
        if (!vm.getMovePending().isEmpty()) {
            out.printf(Locale.ROOT, "Move:      %s%n", vm.getMovePending());
        }
        out.println("History:");
        for (VmEvent e : vm.getHistoryList()) {
            String first = e.getMessage().lines().findFirst().orElse("");
            out.printf(Locale.ROOT, "  %s  %-10s %s%n", Instant.ofEpochMilli(e.getAtUnixMs()),
                    e.getOperator().isEmpty() ? "controller" : e.getOperator(), first);
        }
        out.flush();
        return ExitCode.OK;
    }

    /** The install's phase with its times, e.g. "preseed fetched 2026-...Z (profile api, armed 2026-...Z)". */
    static String install(Vm vm) {
        return switch (vm.getInstallPhase()) {
            case VM_INSTALL_PHASE_WAITING -> "waiting for installer (profile " + vm.getInstallProfile() + ", armed "
                    + Instant.ofEpochMilli(vm.getInstallArmedAtUnixMs()) + ")";
            case VM_INSTALL_PHASE_PRESEED_FETCHED -> "preseed fetched " + Instant.ofEpochMilli(vm.getPreseedFetchedAtUnixMs())
                    + " (profile " + vm.getInstallProfile() + ", armed " + Instant.ofEpochMilli(vm.getInstallArmedAtUnixMs()) + ")";
            case VM_INSTALL_PHASE_INSTALLED -> "installed " + Instant.ofEpochMilli(vm.getInstalledAtUnixMs()) + " (profile "
                    + vm.getInstallProfile() + ", preseed fetched " + Instant.ofEpochMilli(vm.getPreseedFetchedAtUnixMs()) + ")";
            default -> "not arranged by virtfleet (boot-mode none)";
        };
    }

    @Command(name = "reinstall", description = {"Install a VM again, unattended: its boot config is re-armed with a new",
        "one-time token, it is restarted into the Debian installer, and its disk is overwritten.",
        "Needs the controller's boot-mode pxe or kernel.", "",
        "Examples:",
        "  virtfleet vm reinstall git",
        "  virtfleet vm reinstall git --profile api-test"})
    int reinstall(@Parameters(paramLabel = "NAME", description = "VM name.") String name,
                  @Option(names = "--profile", paramLabel = "PROFILE",
                          description = "Install from this profile (it becomes the VM's); default: the VM's own.")
                  String profile) {
        ReinstallVmRequest.Builder request = ReinstallVmRequest.newBuilder().setName(Names.vmName("NAME", name));
        if (profile != null) {
            request.setProfile(Names.profileName("--profile", profile));
        }
        Vm vm;
        try (ControllerClient client = root.connect()) {
            vm = client.fleetLong().reinstallVm(request.build());
        }
        PrintWriter out = spec.commandLine().getOut();
        out.println(root.output == Output.json ? Json.of(vm)
                : vm.getSpec().getName() + " restarted into the installer on " + vm.getHomeHost() + ": " + install(vm));
        out.flush();
        return ExitCode.OK;
    }

    @Command(name = "history", description = {"Every change to a VM in the definitions repository, oldest first:",
        "when, who, the commit, what it touched (its record, its libvirt definition) and why.",
        "Works for deleted VMs too: their history stays in the repository.", "",
        "Examples:",
        "  virtfleet vm history git",
        "  virtfleet vm history git -o json     one object per change, with the full commit id"})
    int history(@Parameters(paramLabel = "NAME", description = "VM name.") String name) {
        VmHistory history;
        try (ControllerClient client = root.connect()) {
            history = client.fleet().getVmHistory(GetVmRequest.newBuilder().setName(Names.vmName("NAME", name)).build());
        }
        PrintWriter out = spec.commandLine().getOut();
        if (root.output == Output.json) {
            out.println(Json.of(history));
        } else {
            Table t = new Table("WHEN", "WHO", "COMMIT", "CHANGED", "WHAT");
            for (VmEvent e : history.getEventsList()) {
                t.row(Instant.ofEpochMilli(e.getAtUnixMs()).toString(), e.getOperator().isEmpty() ? "controller" : e.getOperator(),
                        e.getCommit().substring(0, Math.min(12, e.getCommit().length())),
                        String.join("+", e.getChangedList()), e.getMessage().lines().findFirst().orElse(""));
            }
            t.print(out);
            if (!history.getExists()) {
                out.println(name + " no longer exists; the last change deleted it.");
            }
        }
        out.flush();
        return ExitCode.OK;
    }

    @Command(name = "start", description = "Start a VM on its home host (already running is fine).")
    int start(@Parameters(paramLabel = "NAME", description = "VM name.") String name) {
        return setRunning(name, true);
    }

    @Command(name = "stop", description = {"Stop a VM: ACPI shutdown, then forced off after 60 s.",
        "It stays stopped until vm start (the reconciler keeps it so)."})
    int stop(@Parameters(paramLabel = "NAME", description = "VM name.") String name) {
        return setRunning(name, false);
    }

    private int setRunning(String name, boolean running) {
        Vm vm;
        try (ControllerClient client = root.connect()) {
            vm = client.fleetLong().setVmRunning(SetVmRunningRequest.newBuilder().setName(Names.vmName("NAME", name))
                    .setRunning(running).build());
        }
        PrintWriter out = spec.commandLine().getOut();
        out.println(root.output == Output.json ? Json.of(vm)
                : vm.getSpec().getName() + " " + (running ? "started" : "stopped") + " on " + vm.getHomeHost());
        out.flush();
        return ExitCode.OK;
    }

    @Command(name = "delete", description = {"Delete a VM: its domain is undefined on every host.",
        "Its disk is kept unless --delete-disk is given (asks to confirm unless --yes)."})
    int delete(@Parameters(paramLabel = "NAME", description = "VM name.") String name,
               @Option(names = "--delete-disk", description = "Also remove the disk: its data is lost.") boolean deleteDisk,
               @Option(names = "--yes", description = "Do not ask for confirmation.") boolean yes) throws IOException {
        Names.vmName("NAME", name);
        PrintWriter out = spec.commandLine().getOut();
        if (deleteDisk && !yes) {
            out.printf("Delete VM %s and its disk? Its data will be lost. Type the VM name to confirm: ", name);
            out.flush();
            String answer = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8)).readLine();
            if (answer == null || !answer.strip().equals(name)) {
                spec.commandLine().getErr().println("virtfleet: not confirmed; nothing deleted");
                return ExitCode.FAILURE;
            }
        }
        try (ControllerClient client = root.connect()) {
            Iterator<VmProgress> steps = client.fleetLong().deleteVm(DeleteVmRequest.newBuilder().setName(name)
                    .setDeleteDisk(deleteDisk).build());
            Progress.print(steps, out, root.output);
        }
        return ExitCode.OK;
    }

    @Command(name = "move", description = {"Move a running VM to another host live (libvirt migration over TLS): it runs all",
        "along. Placement chooses the target unless --to names one. A Ceph-backed VM's disk",
        "stays where it is (every host reaches it); a raw disk is copied to a new disk on the",
        "target first. The VM's record names its new home only once libvirt reports success;",
        "its old home keeps a replica (Ceph) or loses its copy (raw).",
        "Ctrl-C, or vm move --cancel NAME from another terminal, aborts the migration: the VM",
        "keeps running where it was, its record unchanged.",
        "A stopped Ceph-backed VM moves without a migration once its host confirms it is off",
        "(the record only); a stopped raw-disk VM must be started first.",
        "With --dry-run, the exit code the move itself would give: 6 when the target (--to, or",
        "placement's choice) would refuse the VM, 2 for its own home, 4 for an unknown host, 1 when",
        "the VM cannot move now (stopped raw disk, failover IP, still installing).", "",
        "Examples:",
        "  virtfleet vm move git                 to the host placement picks",
        "  virtfleet vm move git --to hv2",
        "  virtfleet vm move git --dry-run       every host's verdict, nothing moves",
        "  virtfleet vm move git --cancel        abort a move in flight"})
    int move(@Parameters(paramLabel = "NAME", description = "VM name.") String name,
             @Option(names = "--to", paramLabel = "HOST", description = "Target host; default: placement chooses.") String to,
             @Option(names = "--dry-run", description = "Show every host's verdict; move nothing.") boolean dryRun,
             @Option(names = "--cancel", description = "Abort the move of NAME in flight.") boolean cancel) {
        Names.vmName("NAME", name);
        if (to != null) {
            Names.hostName("--to", to);
        }
        PrintWriter out = spec.commandLine().getOut();
        if (cancel) {
            if (to != null || dryRun) {
                throw new picocli.CommandLine.ParameterException(spec.commandLine(), "--cancel takes no --to or --dry-run");
            }
            try (ControllerClient client = root.connect()) {
                CancelMoveResponse r = client.fleet().cancelMove(CancelMoveRequest.newBuilder().setName(name).build());
                out.println(root.output == Output.json ? Json.of(r) : r.getDetail());
            }
            out.flush();
            return ExitCode.OK;
        }
        MoveVmRequest request = MoveVmRequest.newBuilder().setName(name).setToHost(to == null ? "" : to)
                .setDryRun(dryRun).build();
        PlacementExplanation[] placement = new PlacementExplanation[1];
        try (ControllerClient client = root.connect()) {
            Iterator<VmProgress> steps = client.fleetStreaming().moveVm(request);
            MoveProgress.print(steps, out, root.output, p -> placement[0] = p);
            if (dryRun && placement[0] != null && root.output != Output.json) {
                PlaceCommand.printVerdicts(placement[0], out);
            }
        } catch (io.grpc.StatusRuntimeException e) {
            if (placement[0] != null && root.output != Output.json) {
                PlaceCommand.printVerdicts(placement[0], out);
            }
            throw e;
        }
        out.flush();
        return ExitCode.OK;
    }

    static String phase(Vm vm) {
        return vm.getPhase().name().substring("VM_PHASE_".length()).toLowerCase(Locale.ROOT);
    }

    static String state(Vm vm) {
        if (vm.getDomainState().isEmpty()) {
            return "not reported yet"; // the home host's next heartbeat will show it
        }
        return io.virtfleet.controller.vm.DomainStates.label(io.virtfleet.proto.v1.DomainState.valueOf(vm.getDomainState()), "no state");
    }

    static String network(VmSpec s) {
        return s.getNetwork().hasFailover()
                ? "failover " + s.getNetwork().getFailover().getAddress() + " " + s.getNetwork().getFailover().getMac()
                : "lan " + s.getNetwork().getLan();
    }
}
