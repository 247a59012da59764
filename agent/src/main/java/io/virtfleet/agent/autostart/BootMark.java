package io.virtfleet.agent.autostart;

import io.virtfleet.common.files.StateFiles;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Optional;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The boot whose autostart the agent has made, kept in {@code <state-dir>/autostarted-boot}: the agent starts the
 * domains it should start with the host once per boot, as libvirt's autostart does, whatever number of times the
 * agent itself starts during that boot.
 *
 * <p>The mark is written before the first start, so a boot is served at most once: an agent that dies halfway does not
 * start, after its restart, a VM an operator stopped meanwhile. What it did not start, the controller's reconciler
 * starts if the VM is wanted running.
 */
public final class BootMark {
    private static final Logger log = LoggerFactory.getLogger(BootMark.class);
    /** The mark's file in the agent's state directory. */
    static final String FILE = "autostarted-boot";

    /** What to do for the running boot. */
    public enum Decision {
        /** A boot not served yet: start the domains to start with the host. */
        START,
        /** The agent restarted during a boot it already served: start nothing. */
        ALREADY_SERVED,
        /**
         * No mark yet: the first start of an agent that starts domains at boot. The running boot was served by
         * libvirt's own autostart (agents of before left it on), or there is nothing to start (a new host). Start
         * nothing, and serve every later boot.
         */
        FIRST_RUN
    }

    private final Path file;

    BootMark(Path stateDirectory) {
        this.file = stateDirectory.resolve(FILE);
    }

    /** The rule, on the mark as read (empty: no mark) and the running boot. */
    static Decision decide(Optional<String> marked, String boot) {
        if (marked.isEmpty()) {
            return Decision.FIRST_RUN;
        }
        return marked.get().equals(boot) ? Decision.ALREADY_SERVED : Decision.START;
    }

    /**
     * At the agent's start, before it turns libvirt's own autostart off: with no mark yet (the first start of an agent
     * that starts domains at boot), {@code boot} is marked served, by libvirt's autostart. So when the host boots again
     * before the controller ever answered, that next boot is the agent's to serve, though libvirt's flags are off by
     * then. Returns whether it marked.
     */
    boolean markFirstRun(String boot) throws IOException {
        if (Files.exists(file)) {
            return false;
        }
        StateFiles.write(file, boot + "\n");
        return true;
    }

    /**
     * Decides for {@code boot} and marks it served (before anything is started). An unreadable mark counts as none:
     * nothing is started rather than maybe a second time.
     *
     * @throws IOException when the mark cannot be written: then nothing may be started, as it could be again later
     */
    Decision serve(String boot) throws IOException {
        Optional<String> marked;
        try {
            marked = Optional.of(Files.readString(file, StandardCharsets.UTF_8).strip());
        } catch (NoSuchFileException e) {
            marked = Optional.empty();
        } catch (IOException e) {
            log.error("cannot read {} ({}): starting no domain at this boot; the controller starts those wanted"
                    + " running", file, e.getMessage());
            marked = Optional.empty();
        }
        Decision decision = decide(marked, boot);
        if (decision != Decision.ALREADY_SERVED) {
            StateFiles.write(file, boot + "\n");
        }
        return decision;
    }
}
