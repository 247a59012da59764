package io.virtfleet.controller.backup;

import io.virtfleet.common.cli.ExitCode;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.FileSystems;
import java.nio.file.Path;
import java.nio.file.attribute.GroupPrincipal;
import java.nio.file.attribute.UserPrincipal;
import java.nio.file.attribute.UserPrincipalLookupService;
import java.nio.file.attribute.UserPrincipalNotFoundException;
import java.time.Clock;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code virtfleet-controller restore}: a backup put back as a controller's data directory, with the controller stopped. */
@Command(name = "restore", mixinStandardHelpOptions = true, sortOptions = false, description = {
    "Put a backup made by 'virtfleet-controller backup' in place as the controller's data directory, on this",
    "machine or a new one, with the controller stopped. The whole archive is checked first (format, manifest",
    "checksum, every file's length and SHA-256, the definitions repository's objects); nothing is written",
    "unless all of it is right. A data directory that is not empty is refused unless --force, which moves it",
    "aside (DIR.before-restore-TIME) instead of deleting it. Keys are restored owner-only; run as root, every",
    "file is given to the service user (--owner).",
    "",
    "Agents reconnect to the restored controller by themselves, without new join tokens, when it serves at the",
    "address they know (the server certificate in the backup names it). On a machine with another address, see",
    "README.md, 'Backup and restore'.",
    "",
    "Example: systemctl stop virtfleet-controller",
    "         virtfleet-controller restore --from controller-2026-12-07.zip",
    "         systemctl start virtfleet-controller"},
    exitCodeListHeading = "%nExit codes:%n",
    exitCodeList = {"0:restored", "1:the archive is damaged, truncated, of another format or unreadable, or a file could"
        + " not be written (nothing was changed)", "2:bad option, or the data directory is not empty and no --force"})
public final class RestoreCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--from", required = true, paramLabel = "FILE", description = "The backup archive.")
    Path from;

    @Option(names = "--data-dir", paramLabel = "DIR", defaultValue = "/var/lib/virtfleet/controller",
            description = "The controller's data directory to restore into (default: ${DEFAULT-VALUE}).")
    Path dataDir;

    @Option(names = "--force", description = "Restore even into a data directory that is not empty, moving it aside first.")
    boolean force;

    @Option(names = "--owner", paramLabel = "USER",
            description = {"Give every restored file to USER and its group; only when run as root (default: "
                + Restore.SERVICE_USER + ", the", "package's service user, when run as root; else the files are the caller's)."})
    String owner;

    @Override
    public Integer call() {
        PrintWriter err = spec.commandLine().getErr();
        PrintWriter o = spec.commandLine().getOut();
        String me = "virtfleet-controller restore: ";
        boolean root = runsAsRoot();
        UserPrincipal user = null;
        GroupPrincipal group = null;
        if (owner != null && !root) {
            err.println(me + "--owner " + owner + " needs root (only root gives files away); run it as root, or without"
                    + " --owner as the service user itself");
            err.flush();
            return ExitCode.USAGE;
        }
        if (root) {
            String name = owner == null ? Restore.SERVICE_USER : owner;
            UserPrincipalLookupService users = FileSystems.getDefault().getUserPrincipalLookupService();
            try {
                user = users.lookupPrincipalByName(name);
                group = users.lookupPrincipalByGroupName(name);
            } catch (UserPrincipalNotFoundException e) {
                err.println(me + "--owner: no user or group '" + name + "' on this machine; install the"
                        + " virtfleet-controller package first (it creates " + Restore.SERVICE_USER + "), or name the"
                        + " controller's service user with --owner");
                err.flush();
                return ExitCode.USAGE;
            } catch (IOException e) {
                err.println(me + "cannot look user " + name + " up: " + e.getMessage());
                err.flush();
                return ExitCode.FAILURE;
            }
        }
        try {
            Restore.Result r = Restore.restore(from, dataDir, force, user, group, Clock.systemUTC());
            BackupArchive.Manifest m = r.manifest();
            o.printf("Restored %s into %s: %d files (%d bytes of state) taken at %s, definitions at %s%s.%n", from,
                    r.dataDir(), m.files(), m.stateBytes(), m.takenAt(),
                    m.definitionsHead().isEmpty() ? "(none)" : m.definitionsHead().substring(0, 12),
                    user == null ? "" : ", owned by " + user.getName());
            if (r.movedAside() != null) {
                o.println("The data directory that was there is kept as " + r.movedAside() + ".");
            }
            o.println("Start the controller with this data directory, at the address its agents know.");
            o.flush();
            return ExitCode.OK;
        } catch (Restore.TargetNotEmptyException e) {
            err.println(me + e.getMessage());
            err.flush();
            return ExitCode.USAGE;
        } catch (BackupArchive.BadArchiveException e) {
            err.println(me + "refused, nothing changed: " + e.getMessage());
            err.flush();
            return ExitCode.FAILURE;
        } catch (IOException e) {
            err.println(me + "failed, the data directory is unchanged: " + e.getMessage());
            err.flush();
            return ExitCode.FAILURE;
        }
    }

    private static boolean runsAsRoot() {
        try {
            return Integer.valueOf(0).equals(java.nio.file.Files.getAttribute(Path.of("/proc/self"), "unix:uid"));
        } catch (IOException | UnsupportedOperationException e) {
            return "root".equals(System.getProperty("user.name"));
        }
    }
}
