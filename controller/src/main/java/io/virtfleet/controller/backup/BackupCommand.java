package io.virtfleet.controller.backup;

import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.virtfleet.common.cli.ExitCode;
import io.virtfleet.common.files.StateFiles;
import io.virtfleet.common.security.CredentialsBundle;
import io.virtfleet.common.security.FleetIdentity;
import io.virtfleet.common.security.TlsCredentials;
import io.virtfleet.common.transport.Transport;
import io.virtfleet.common.validation.Endpoint;
import io.virtfleet.common.validation.InvalidInputException;
import io.virtfleet.proto.v1.BackupChunk;
import io.virtfleet.proto.v1.BackupSummary;
import io.virtfleet.proto.v1.BackupsGrpc;
import io.virtfleet.proto.v1.TakeBackupRequest;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Instant;
import java.util.HexFormat;
import java.util.Iterator;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code virtfleet-controller backup}: a consistent copy of a running controller's state, into one file. */
@Command(name = "backup", mixinStandardHelpOptions = true, sortOptions = false, description = {
    "Ask the running controller for a backup of its data directory and write it to a new file, owner-only: it",
    "holds the fleet CA's private key and every credential of the controller, so keep it like that key. The",
    "controller takes the copy at one instant (its state writes wait for the copy, usually well under a",
    "second), so VMs being created, moved or failed over while it runs are restored as a crash at that instant",
    "would leave them, which the controller finishes or undoes by itself. The stream's length and SHA-256 are",
    "checked before the file gets its name; then the named file is read back, every file against its manifest,",
    "and deleted if that fails. Needs an admin's credentials.",
    "",
    "Restore it with 'virtfleet-controller restore --from FILE' (see its --help). Not in the backup: the",
    "configuration in /etc/virtfleet, Ceph images, raw disks and anything else on the hypervisors.",
    "",
    "Example: virtfleet-controller backup --out /var/backups/virtfleet/controller-$(date +%%F).zip"},
    exitCodeListHeading = "%nExit codes:%n",
    exitCodeList = {"0:written and checked", "1:the controller failed the backup, or the file cannot be written",
        "2:bad option, or --out exists", "3:the controller cannot be reached, or could not take a consistent copy now (retry)",
        "5:not allowed: no or unusable credentials, or not an admin's"})
public final class BackupCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--out", required = true, paramLabel = "FILE", description = "Where to write the backup (a new file).")
    Path out;

    @Option(names = "--controller", paramLabel = "HOST:PORT", defaultValue = "${env:VIRTFLEET_CONTROLLER:-127.0.0.1:7440}",
            description = "The running controller (default: $VIRTFLEET_CONTROLLER, else 127.0.0.1:7440).")
    String controller;

    @Option(names = "--credentials", paramLabel = "FILE",
            defaultValue = "${env:VIRTFLEET_CREDENTIALS:-${sys:user.home}/.config/virtfleet/credentials.pem}",
            description = {"An admin's credentials: key, certificate and fleet CA in one PEM file",
                "(default: $VIRTFLEET_CREDENTIALS, else ~/.config/virtfleet/credentials.pem)."})
    Path credentials;

    @Override
    public Integer call() {
        PrintWriter err = spec.commandLine().getErr();
        PrintWriter o = spec.commandLine().getOut();
        String me = "virtfleet-controller backup: ";
        Endpoint endpoint;
        try {
            endpoint = Endpoint.parse("--controller", controller);
        } catch (InvalidInputException e) {
            err.println(me + e.getMessage());
            err.flush();
            return ExitCode.USAGE;
        }
        if (Files.exists(out)) {
            err.println(me + out + " exists; name a new file (a backup never replaces one)");
            err.flush();
            return ExitCode.USAGE;
        }
        if (!Files.isRegularFile(credentials)) {
            err.println(me + "no admin credentials at " + credentials + "; point to an admin's with --credentials or"
                    + " VIRTFLEET_CREDENTIALS (the first admin's are in the controller's data directory, pki/admin.pem)");
            err.flush();
            return ExitCode.DENIED;
        }
        TlsCredentials tls;
        try {
            tls = CredentialsBundle.read(credentials);
        } catch (IOException e) {
            err.println(me + "admin credentials " + credentials + " are unusable: " + e.getMessage()
                    + "; point to an admin's with --credentials or VIRTFLEET_CREDENTIALS");
            err.flush();
            return ExitCode.DENIED;
        }
        Transport transport = Transport.secure("backup", 1, tls);
        ManagedChannel channel = transport.channel(endpoint, FleetIdentity.controller(), Runnable::run);
        try {
            o.println("Taking a backup from the controller at " + endpoint + "...");
            o.flush();
            Iterator<BackupChunk> chunks = BackupsGrpc.newBlockingStub(channel).withDeadlineAfter(30, TimeUnit.MINUTES)
                    .takeBackup(TakeBackupRequest.getDefaultInstance());
            BackupSummary[] summary = new BackupSummary[1];
            StateFiles.createPrivate(out, stream -> {
                MessageDigest sha = BackupArchive.sha256();
                long bytes = 0;
                while (chunks.hasNext()) {
                    BackupChunk c = chunks.next();
                    if (c.hasSummary()) {
                        summary[0] = c.getSummary();
                        break;
                    }
                    c.getData().writeTo(stream);
                    c.getData().asReadOnlyByteBufferList().forEach(sha::update);
                    bytes += c.getData().size();
                }
                BackupSummary s = summary[0];
                if (s == null) {
                    throw new IOException("the controller ended the backup without its summary after " + bytes + " bytes");
                }
                String got = HexFormat.of().formatHex(sha.digest());
                if (bytes != s.getArchiveBytes() || !got.equals(s.getArchiveSha256())) {
                    throw new IOException("received " + bytes + " bytes with SHA-256 " + got + ", the controller sent "
                            + s.getArchiveBytes() + " bytes with SHA-256 " + s.getArchiveSha256());
                }
            });
            BackupArchive.Manifest m;
            try {
                m = BackupArchive.verify(out);
            } catch (BackupArchive.BadArchiveException | IOException e) {
                StateFiles.delete(out);
                throw new IOException("the archive received does not check out, deleted: " + e.getMessage(), e);
            }
            BackupSummary s = summary[0];
            o.printf("Wrote %s: backup format %d, %d files (%d bytes of state), definitions at %s, taken at %s;"
                            + " the controller's writes waited %d ms.%n", out, m.format(), m.files(), m.stateBytes(),
                    m.definitionsHead().isEmpty() ? "(none)" : m.definitionsHead().substring(0, 12),
                    Instant.ofEpochMilli(s.getTakenAtUnixMs()), s.getBarrierMillis());
            o.println("It holds the fleet CA's private key: keep it as secret as that key.");
            o.flush();
            return ExitCode.OK;
        } catch (StatusRuntimeException e) {
            Status st = e.getStatus();
            String detail = st.getDescription() != null ? st.getDescription() : st.getCode().toString();
            switch (st.getCode()) {
                case PERMISSION_DENIED, UNAUTHENTICATED -> {
                    err.println(me + "not allowed: " + detail + " (a backup needs an admin's credentials)");
                    err.flush();
                    return ExitCode.DENIED;
                }
                case UNAVAILABLE, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED -> {
                    err.println(me + "cannot take the backup from " + endpoint + ": " + detail
                            + (st.getCause() != null && st.getCause().getMessage() != null ? " (" + st.getCause().getMessage() + ")" : ""));
                    err.flush();
                    return ExitCode.UNAVAILABLE;
                }
                default -> {
                    err.println(me + "the controller failed the backup: " + detail);
                    err.flush();
                    return ExitCode.FAILURE;
                }
            }
        } catch (IOException e) {
            err.println(me + "cannot write " + out + ": " + e.getMessage());
            err.flush();
            return ExitCode.FAILURE;
        } finally {
            channel.shutdownNow();
            transport.close();
        }
    }
}
