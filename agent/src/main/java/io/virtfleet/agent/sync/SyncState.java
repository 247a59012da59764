package io.virtfleet.agent.sync;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import io.virtfleet.common.files.StateFiles;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.regex.Pattern;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What this host's syncs achieved, for its reports: the commit of the last complete sync and why the latest one
 * did not complete. The commit is kept in {@code <state-dir>/definitions-sync.json}, so that a restarted agent
 * reports what it last brought its replicas in step with, not more (its clone may be further on: a pull does not
 * make a sync) and not less (an empty commit would make every restart look like a host that never synced). The
 * error is not kept: a restarted agent syncs again before long and reports the new outcome.
 */
public final class SyncState {
    private static final Logger log = LoggerFactory.getLogger(SyncState.class);
    static final String FILE = "definitions-sync.json";
    private static final Pattern COMMIT = Pattern.compile("[0-9a-f]{40}");

    /**
     * @param syncedCommit commit of the last complete sync; empty before the first
     * @param error        why the latest sync did not complete; empty when it did
     */
    public record Status(String syncedCommit, String error) {}

    private final Path file;
    private Status status;

    private SyncState(Path file, Status status) {
        this.file = file;
        this.status = status;
    }

    /** The state kept in {@code stateDirectory}; empty when there is none or it cannot be read (logged). */
    public static SyncState load(Path stateDirectory) {
        Path file = stateDirectory.resolve(FILE);
        String commit = "";
        try {
            JsonObject o = JsonParser.parseString(Files.readString(file, StandardCharsets.UTF_8)).getAsJsonObject();
            commit = o.get("synced_commit").getAsString();
            if (!COMMIT.matcher(commit).matches()) {
                throw new IllegalArgumentException("synced_commit is not 40 lowercase hex digits: " + commit);
            }
        } catch (NoSuchFileException e) {
            // never synced
        } catch (IOException | RuntimeException e) {
            log.error("cannot read {} ({}): reporting no synced commit until the next complete sync", file, e.getMessage());
            commit = "";
        }
        return new SyncState(file, new Status(commit, ""));
    }

    public synchronized Status status() {
        return status;
    }

    /** A sync brought every replica in step with {@code commit}. */
    synchronized void completed(String commit) {
        if (!commit.equals(status.syncedCommit())) {
            JsonObject o = new JsonObject();
            o.addProperty("synced_commit", commit);
            try {
                StateFiles.write(file, o + "\n");
            } catch (IOException e) {
                log.error("cannot write {}: {}; the synced commit is kept in memory only", file, e.getMessage());
            }
        }
        status = new Status(commit, "");
    }

    /** A sync did not complete; the synced commit stays. */
    synchronized void failed(String error) {
        status = new Status(status.syncedCommit(), error);
    }
}
