package io.virtfleet.agent;

import io.virtfleet.common.files.StateFiles;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.UUID;

/**
 * The agent installation's stable identity: a random UUID created on first start and kept in the state
 * directory. The controller binds a host name to it, so a second agent claiming the same name is told
 * apart from this one restarting.
 */
public final class AgentIdentity {
    static final String FILE = "agent-id";

    private AgentIdentity() {}

    public static String loadOrCreate(Path stateDirectory) {
        Path file = stateDirectory.resolve(FILE);
        try {
            if (Files.exists(file)) {
                String id = Files.readString(file, StandardCharsets.UTF_8).strip();
                UUID.fromString(id); // reject a corrupted file loudly rather than impersonate another agent
                return id;
            }
            String id = UUID.randomUUID().toString();
            StateFiles.write(file, id + "\n");
            return id;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot keep the agent identity in " + file + ": " + e.getMessage(), e);
        } catch (IllegalArgumentException e) {
            throw new IllegalStateException(file + " does not hold a UUID; remove it to let the agent create a new"
                    + " identity (the controller will then need 'virtfleet host forget')", e);
        }
    }
}
