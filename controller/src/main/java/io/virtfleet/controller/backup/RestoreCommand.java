package io.virtfleet.controller.backup;

import io.virtfleet.common.cli.ExitCode;
import io.virtfleet.common.config.ConfigException;
import io.virtfleet.controller.ConfiguredDataDir;
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
    "address they know: they check its identity (a certificate from the restored CA), not its address. On a",
    "machine with another address, see README.md, 'Backup and restore'. On a new machine --force is needed: the",
    "package started a controller there, which made a fresh CA. Unexpired join tokens of the backup are dropped;",
    "the end of the output says how old the backup is and what to redo.",
    "",
    "Example: systemctl stop virtfleet-controller",
    "         virtfleet-controller restore --from controller-2026-12-07.zip --force",
    "         systemctl start virtfleet-controller"},
    exitCodeListHeading = "%nExit codes:%n",
    exitCodeList = {"0:restored", "1:the archive is damaged, truncated, of another format or unreadable, or a file could"
        + " not be written (nothing was changed)", "2:bad option, or the data directory is not empty and no --force"})
public final class RestoreCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--from", required = true, paramLabel = "FILE", description = "The backup archive.")
    Path from;

    @Option(names = "--data-dir", paramLabel = "DIR",
            description = {"The controller's data directory to restore into (default: data-dir of the configuration",
                "file, else " + ConfiguredDataDir.DEFAULT_DATA_DIR_TEXT + ")."})
    Path dataDir;

    @Option(names = "--config", paramLabel = "FILE",
            description = {"The controller's configuration file, read for its data-dir (default: "
                + ConfiguredDataDir.DEFAULT_CONFIG_TEXT + ", ignored", "when absent)."})
    Path config;

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
        Path target;
        try {
            target = ConfiguredDataDir.resolve(spec, dataDir, config);
        } catch (ConfigException e) {
            err.println(me + "--config: " + e.getMessage() + "; name the data directory with --data-dir instead");
            err.flush();
            return ExitCode.USAGE;
        }
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
            Restore.Result r = Restore.restore(from, target, force, user, group, Clock.systemUTC());
            BackupArchive.Manifest m = r.manifest();
            o.printf("Restored %s into %s: %d files (%d bytes of state) taken at %s, definitions at %s%s.%n", from,
                    r.dataDir(), m.files(), m.stateBytes(), m.takenAt(),
                    m.definitionsHead().isEmpty() ? "(none)" : m.definitionsHead().substring(0, 12),
                    user == null ? "" : ", owned by " + user.getName());
            if (r.movedAside() != null) {
                o.println("The data directory that was there is kept as " + r.movedAside() + " (it holds a CA key: delete"
                        + " it once the restored controller works).");
            }
            java.time.Instant now = Clock.systemUTC().instant();
            o.println();
            o.println(age(m.takenAt(), now) + " What happened since is not in it; redo:");
            o.println("  - join tokens: " + (r.joinTokensDropped() == 0 ? "the backup held no unexpired one"
                    : r.joinTokensDropped() + " unexpired token(s) of the backup were dropped (one used since would"
                    + " enroll a host again)") + "; hosts still to enroll need a new one: virtfleet agent token"
                    + " create --host HOST");
            o.println("  - hosts enrolled (or re-enrolled) since: their certificates are refused; on each, a token from"
                    + " virtfleet agent token create --host HOST --reenroll, then as README.md, 'Backup and restore'"
                    + " says (agent.pem set aside, the token in /etc/virtfleet/join-token, systemctl restart"
                    + " virtfleet-agent)");
            o.println("  - operators revoked since: no longer revoked; revoke them again at once: virtfleet operator"
                    + " revoke NAME");
            o.println("  - operators added since, and VMs created, moved or failed over since: see virtfleet drift --all");
            o.println("  - the CLI's credentials: those another CA issued (such as the admin.pem a freshly installed"
                    + " package's controller wrote) are refused by this one; use " + r.dataDir().resolve("pki/admin.pem")
                    + " from the backup, or the credentials you had for the old controller");
            o.println("The controller started on it holds (changes no domain) until an admin has compared the records"
                    + " with what runs: virtfleet drift, then virtfleet restore-hold release --help.");
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
            // The message says what state the data directory is in (unchanged, or where the previous one is).
            err.println(me + "failed: " + e.getMessage());
            err.flush();
            return ExitCode.FAILURE;
        }
    }

    /** How old the backup taken at {@code then} is, as a sentence. */
    static String age(java.time.Instant then, java.time.Instant now) {
        java.time.Duration d = java.time.Duration.between(then, now);
        if (d.isNegative()) {
            return "The backup was taken at " + then + ", later than this machine's clock says it is now (" + now
                    + "): check both clocks.";
        }
        long days = d.toDays();
        long hours = d.toHoursPart();
        return "The backup is " + (days > 0 ? days + "d " : "") + (days > 0 || hours > 0 ? hours + "h " : "")
                + d.toMinutesPart() + "min old (taken at " + then + ").";
    }

    private static boolean runsAsRoot() {
        try {
            return Integer.valueOf(0).equals(java.nio.file.Files.getAttribute(Path.of("/proc/self"), "unix:uid"));
        } catch (IOException | UnsupportedOperationException e) {
            return "root".equals(System.getProperty("user.name"));
        }
    }
}
