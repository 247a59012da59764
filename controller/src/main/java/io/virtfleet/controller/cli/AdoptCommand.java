package io.virtfleet.controller.cli;

import io.virtfleet.common.cli.ExitCode;
import io.virtfleet.common.validation.Sizes;
import io.virtfleet.common.validation.StorageTiers;
import io.virtfleet.proto.v1.AdoptVmsRequest;
import io.virtfleet.proto.v1.AdoptVmsResponse;
import io.virtfleet.proto.v1.Adoption;
import io.virtfleet.proto.v1.VmSpec;
import java.io.PrintWriter;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;

/** {@code virtfleet adopt}: take over the domains made by hand (the runbook's), without restarting any. */
@Command(name = "adopt", description = {
    "Take over the libvirt domains virtfleet did not create (those drift --all lists as not managed):",
    "each domain's spec is read from its definition (disk: RBD pool -> tier ssd/sata, or a raw file",
    "in the images directory, its size from the image; memory; vCPUs; MAC; bridge vxbr<N> -> LAN N,",
    "the public bridge -> failover IP, given with --failover-ip), its home is the host where it runs",
    "(or where it is defined, when stopped), and then: its record and libvirt's own definition are",
    "committed (one commit per VM, you as author), its home's agent takes it over as it is, its",
    "claim is taken, and a Ceph-backed VM's definition is replicated to every other host. Nothing",
    "that runs is defined again, stopped or restarted. The profile recorded is --profile (base).",
    "",
    "Names given (VM...) limit the run to those domains; each must be a candidate.",
    "A domain libvirt starts at boot (virsh autostart), and one that runs now, is started by its",
    "agent when its host boots (libvirt's own flag is turned off): AUTOSTART in the answer.",
    "",
    "Refused, each with the reason, and left untouched: a disk that is no RBD image of a tier's pool",
    "named after the VM nor a raw file <images-dir>/<vm>.img; a bridge that is no LAN; a name that",
    "is no DNS label; a domain running on two hosts, or paused; QEMU command-line passthrough; an",
    "unknown device; a console with a password; a tcp/udp serial, console or channel; more than one",
    "disk or NIC; a name virtfleet already manages.",
    "",
    "Enroll every hypervisor of a LAN before adopting its VMs: a LAN's flood list then holds the",
    "registered hosts only, and one without an agent loses broadcast and ARP to the adopted VMs.",
    "",
    "Examples:",
    "  virtfleet adopt --dry-run                      what would be adopted, and what not and why",
    "  virtfleet adopt --host hv1                     only the domains whose home is hv1",
    "  virtfleet adopt --host hv2 db                  only db, its home hv2 (stopped, defined on several)",
    "  virtfleet adopt --from-repo /srv/common        only the VMs of the runbook's repository (a clone,",
    "                                                 or a bare one, read by git, never written; a clone",
    "                                                 an agent took over: its branch runbook)",
    "  virtfleet adopt --from-repo https://git.example.com/ops/common.git --dry-run",
    "  virtfleet adopt --failover-ip www=203.0.113.7  a VM on the public bridge, with its IP",
    "  virtfleet adopt -o json"},
        exitCodeListHeading = "%nExit codes:%n",
        exitCodeList = {"0:every candidate adopted (or would be, with --dry-run), or none found",
            "1:the controller failed the operation", "2:bad flags, an unreadable --from-repo, or a VM name or --failover-ip key that is no candidate",
            "3:the controller could not be reached", "4:no such host",
            "5:not allowed: adopting needs the admin role",
            "9:some domains were refused (each listed with why), or with --dry-run would be;"
                + " the others were adopted (or would be)"})
final class AdoptCommand implements Callable<Integer> {
    @ParentCommand
    VirtfleetCli root;

    @Spec
    CommandSpec spec;

    @Option(names = "--host", paramLabel = "HOST",
            description = "Only domains whose home is HOST; also names the home of a stopped domain defined on several hosts.")
    String host;

    @Option(names = "--from-repo", paramLabel = "URL|DIR", description = "The runbook's repository (a clone's directory,"
            + " or an https/ssh/file URL cloned to a temporary directory): only its etc/libvirt/qemu/<vm>.xml VMs are"
            + " candidates, and where its copy differs from libvirt's the answer says so. Read only; never changed.")
    String fromRepo;

    @Option(names = "--failover-ip", paramLabel = "VM=ADDRESS",
            description = "The failover IP of a VM on the public bridge (its definition has the virtual MAC, not the IP). Repeatable.")
    Map<String, String> failoverIps = Map.of();

    @Option(names = "--profile", paramLabel = "PROFILE", description = "Profile recorded for the adopted VMs (used by a later reinstall only; default base).")
    String profile;

    @picocli.CommandLine.Parameters(arity = "0..*", paramLabel = "VM", description = "Only these domains (each must be"
            + " one the run would otherwise take, or it is refused by name); with --host, the home of a stopped one.")
    java.util.List<String> vms = java.util.List.of();

    @Option(names = "--dry-run", description = "Show what would be adopted (spec, home, replicas, claim) and what not, and change nothing.")
    boolean dryRun;

    @Override
    public Integer call() throws Exception {
        AdoptVmsRequest.Builder request = AdoptVmsRequest.newBuilder().setDryRun(dryRun).putAllFailoverIps(failoverIps)
                .addAllVms(vms);
        java.util.List<Adoption> unread = new java.util.ArrayList<>();
        if (host != null) {
            request.setHost(host);
        }
        if (profile != null) {
            request.setProfile(profile);
        }
        if (fromRepo != null) {
            RunbookRepo.Read read;
            try {
                read = RunbookRepo.read(fromRepo, spec.commandLine().getErr());
            } catch (java.io.IOException e) {
                throw new CommandLine.ParameterException(spec.commandLine(), "--from-repo " + fromRepo + ": " + e.getMessage());
            }
            request.addAllRunbook(read.definitions()).setRunbookCommit(read.commit());
            if (!read.branch().isEmpty()) {
                spec.commandLine().getErr().println("--from-repo " + fromRepo + ": reading its branch " + read.branch()
                        + " (the runbook's history, kept there when an agent took the clone over), not its work tree");
            }
            for (RunbookRepo.Refused r : read.refused()) {
                if (vms.isEmpty() || vms.contains(r.vm())) {
                    unread.add(Adoption.newBuilder().setVm(r.vm()).setRefusal(r.reason()).build());
                }
            }
            if (read.definitions().isEmpty() && read.refused().isEmpty()) {
                throw new CommandLine.ParameterException(spec.commandLine(), "--from-repo " + fromRepo
                        + ": no etc/libvirt/qemu/<vm>.xml in it (is it the runbook's repository?)");
            }
        }
        AdoptVmsResponse response;
        if (fromRepo != null && request.getRunbookCount() == 0) {
            // Every file was refused here: asking the controller with no definitions would mean "every domain".
            response = AdoptVmsResponse.newBuilder().setDryRun(dryRun).build();
        } else {
            try (ControllerClient client = root.connect()) {
                // Reads every candidate on its host (libvirt, Ceph, qemu-img), then commits and replicates: minutes
                // on a big fleet.
                response = client.fleetLong().adoptVms(request.build());
            }
        }
        if (!unread.isEmpty()) {
            // The runbook's files that could not be sent, as refused entries among the controller's, by name.
            java.util.List<Adoption> all = new java.util.ArrayList<>(response.getAdoptionsList());
            all.addAll(unread);
            all.sort(java.util.Comparator.comparing(Adoption::getVm));
            response = response.toBuilder().clearAdoptions().addAllAdoptions(all).build();
        }
        PrintWriter out = spec.commandLine().getOut();
        if (root.output == Output.json) {
            out.println(Json.of(response));
        } else {
            print(response, out);
        }
        out.flush();
        return response.getAdoptionsList().stream().anyMatch(a -> !a.getAdopted()) ? ExitCode.SOME_REFUSED : ExitCode.OK;
    }

    static void print(AdoptVmsResponse r, PrintWriter out) {
        if (r.getAdoptionsCount() == 0) {
            out.println("No domain to adopt: every domain the hosts report is virtfleet's already.");
            return;
        }
        if (r.getDryRun()) {
            out.println("Dry run: nothing was changed.");
        }
        Table t = new Table("VM", "HOME", "RUNNING", "RESULT", "SPEC");
        for (Adoption a : r.getAdoptionsList()) {
            String result = a.getAdopted() ? (r.getDryRun() ? "would adopt" : "adopted") : "refused";
            t.row(a.getVm(), a.getHomeHost().isEmpty() ? "-" : a.getHomeHost(), a.getHomeHost().isEmpty() ? "-"
                    : a.getRunning() ? "yes" : "no", result, a.getAdopted() ? spec(a) : a.getRefusal());
        }
        t.print(out);
        for (Adoption a : r.getAdoptionsList()) {
            if (!a.getAdopted()) {
                continue;
            }
            out.println();
            out.println(a.getVm() + ":");
            out.println("  disk      " + a.getDisk());
            out.println("  network   " + a.getNetwork());
            out.println("  claim     " + a.getClaim());
            out.println("  autostart " + (a.getAutostart() ? "yes (its agent starts it when " + a.getHomeHost()
                    + " boots)" : "no"));
            out.println("  replicas  " + (a.getReplicaHostsCount() == 0 ? "none (" + (a.getSpec().getReplicated()
                    ? "no other host" : "a raw disk stays on its host") + ")" : String.join(", ", a.getReplicaHostsList())));
            a.getNotesList().forEach(n -> out.println("  note      " + n));
            if (!a.getCommit().isEmpty()) {
                out.println("  commit    " + a.getCommit().substring(0, 12));
            }
        }
        long refused = r.getAdoptionsList().stream().filter(a -> !a.getAdopted()).count();
        if (refused > 0) {
            out.println();
            out.println(refused + (r.getDryRun() ? " would be refused" : " refused, left untouched") + "; "
                    + (r.getAdoptionsCount() - refused) + " " + (r.getDryRun() ? "adoptable" : "adopted") + ".");
        }
    }

    private static String spec(Adoption a) {
        VmSpec s = a.getSpec();
        return StorageTiers.name(s.getStorage()) + " " + Sizes.exact(s.getDiskBytes()) + ", " + Sizes.exact(s.getMemoryBytes())
                + ", " + s.getVcpus() + " vCPU" + (s.getVcpus() == 1 ? "" : "s") + ", "
                + (s.getNetwork().hasFailover() ? "failover " + s.getNetwork().getFailover().getAddress()
                : "lan " + s.getNetwork().getLan()) + ", profile " + s.getProfile().toLowerCase(Locale.ROOT);
    }
}
