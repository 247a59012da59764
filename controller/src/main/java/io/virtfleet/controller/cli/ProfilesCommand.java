package io.virtfleet.controller.cli;

import io.virtfleet.common.cli.ExitCode;
import io.virtfleet.proto.v1.IgnoredProfile;
import io.virtfleet.proto.v1.InstallProfile;
import io.virtfleet.proto.v1.ListProfilesRequest;
import io.virtfleet.proto.v1.ListProfilesResponse;
import java.io.PrintWriter;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;

/** {@code virtfleet profiles}: the install profiles {@code vm create --profile} accepts. */
@Command(name = "profiles", description = {
    "List the controller's install profiles: what 'vm create --profile' accepts. A profile is a directory",
    "in the controller's profiles directory holding preseed.cfg (answers added to the Debian installer's)",
    "and post-install.sh (run in the installed system); every profile builds on base. Add one by adding",
    "a directory there: it is listed at once. Entries that are not usable profiles are listed with why.",
    "",
    "Examples:",
    "  virtfleet profiles",
    "  virtfleet profiles -o json"})
final class ProfilesCommand implements Callable<Integer> {
    @ParentCommand
    VirtfleetCli root;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() {
        ListProfilesResponse response;
        try (ControllerClient client = root.connect()) {
            response = client.fleet().listProfiles(ListProfilesRequest.getDefaultInstance());
        }
        PrintWriter out = spec.commandLine().getOut();
        if (root.output == Output.json) {
            out.println(Json.of(response));
            out.flush();
            return ExitCode.OK;
        }
        if (response.getProfilesCount() == 0) {
            out.println("No profiles in " + response.getDirectory() + " on the controller: no VM can be created"
                    + " (deploy/profiles holds the shipped ones).");
        } else {
            Table t = new Table("PROFILE", "DESCRIPTION");
            for (InstallProfile p : response.getProfilesList()) {
                t.row(p.getName(), p.getDescription());
            }
            t.print(out);
            out.println();
            out.println("In " + response.getDirectory() + " on the controller.");
        }
        for (IgnoredProfile i : response.getIgnoredList()) {
            out.println("Ignored " + i.getName() + ": " + i.getReason());
        }
        out.flush();
        return ExitCode.OK;
    }
}
