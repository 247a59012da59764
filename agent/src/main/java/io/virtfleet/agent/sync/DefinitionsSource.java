package io.virtfleet.agent.sync;

import io.virtfleet.common.security.TlsCredentials;
import io.virtfleet.common.validation.Endpoint;
import java.nio.file.Path;
import java.time.Duration;

/**
 * Where this host pulls the definitions from: the remote the operator configured ({@code definitions-remote}),
 * else the controller's git server, once the controller has said on which port it serves it (at registration)
 * and the agent holds its fleet certificate. Hands out one {@link DefinitionsClone} per remote, made again when
 * the controller's port changes.
 */
public final class DefinitionsSource {
    /** Bound on connecting to the remote and on each read from it. */
    static final Duration PULL_TIMEOUT = Duration.ofSeconds(30);

    private final Path directory;
    private final String remote;
    private final String controllerHost;
    private TlsCredentials credentials;
    private int controllerGitPort;
    private DefinitionsClone clone;

    /**
     * @param directory      the clone's directory ({@code definitions-dir})
     * @param remote         the operator's remote ({@code definitions-remote}); null for the controller's
     * @param controllerHost the controller's address, as the agent reaches its registry
     */
    public DefinitionsSource(Path directory, String remote, String controllerHost) {
        this.directory = directory;
        this.remote = remote;
        this.controllerHost = controllerHost;
        if (remote != null) {
            clone = DefinitionsClone.ofRemote(directory, remote, PULL_TIMEOUT);
        }
    }

    /** The agent's fleet credentials (renewed in place), once it has them. */
    public synchronized void useCredentials(TlsCredentials tls) {
        if (credentials != tls) {
            credentials = tls;
            if (remote == null) {
                clone = null;
            }
        }
    }

    /** The controller's git port, as it said at registration; 0 when it serves no repository. */
    public synchronized void controllerServes(int gitPort) {
        if (gitPort != controllerGitPort) {
            controllerGitPort = gitPort;
            if (remote == null) {
                clone = null;
            }
        }
    }

    /** Whether a pull has somewhere to go. */
    public synchronized boolean known() {
        return remote != null || (controllerGitPort > 0 && credentials != null);
    }

    /** The clone to pull into, from the current remote. */
    synchronized DefinitionsClone current() {
        if (clone == null) {
            if (controllerGitPort <= 0) {
                throw new SyncException(SyncException.Kind.PRECONDITION,
                        "the controller serves no definitions repository and no definitions-remote is configured");
            }
            if (credentials == null) {
                throw new SyncException(SyncException.Kind.UNAVAILABLE,
                        "the agent has no fleet certificate yet to fetch the definitions from the controller with");
            }
            clone = new DefinitionsClone(directory, new Endpoint(controllerHost, controllerGitPort), credentials, PULL_TIMEOUT);
        }
        return clone;
    }
}
