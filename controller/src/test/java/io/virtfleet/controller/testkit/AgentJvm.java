package io.virtfleet.controller.testkit;

import io.virtfleet.agent.AgentMain;
import io.virtfleet.agent.storage.CephSettings;
import io.virtfleet.common.files.StateFiles;
import io.virtfleet.common.validation.Endpoint;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;

/**
 * A real {@code virtfleet-agent} ({@link AgentMain}, with its command-line flags) in a JVM of its own inside a
 * host's network namespace ({@code ip netns exec}): every byte it exchanges with the controller (heartbeats, the
 * controller's commands, git pulls) and with Ceph crosses that namespace's interfaces, so cutting the host's
 * cable ({@link Underlay#cut}) partitions the agent for real, which an agent in the test's own JVM would not be.
 * It reaches its host's libvirtd through the daemon's socket file (unix sockets ignore network namespaces).
 *
 * <p>Its log goes to {@code <state-dir>/agent.log}. {@link #close()} stops it as systemd would (SIGTERM, then
 * SIGKILL after 10 s); agents still running when the test JVM exits are killed by a shutdown hook.
 */
public final class AgentJvm implements AutoCloseable {
    /** The agent's API port inside its namespace: every host has its own network stack, so all use the default. */
    public static final int PORT = 7441;
    private static final Set<AgentJvm> RUNNING = ConcurrentHashMap.newKeySet();

    static {
        Runtime.getRuntime().addShutdownHook(new Thread(() -> List.copyOf(RUNNING).forEach(a -> a.process.destroyForcibly()),
                "agent-jvm-cleanup"));
    }

    /**
     * What the agent is told.
     *
     * @param address    its own address on the underlay, which it advertises to the controller
     * @param controller the controller's gRPC endpoint as seen from the namespace (its git server is on that host too)
     * @param joinToken  the one-time token it enrolls with on its first start (written to a file, not to argv)
     * @param extraArgs  more options, e.g. {@code --public-address}
     */
    public record Settings(String host, String namespace, String address, Endpoint controller, String libvirtUri,
                           Path stateDir, String joinToken, CephSettings ceph, String underlayDevice, Duration heartbeat,
                           Duration maxBackoff, List<String> extraArgs) {}

    private final String host;
    private final Process process;
    private final Path log;

    private AgentJvm(String host, Process process, Path log) {
        this.host = host;
        this.process = process;
        this.log = log;
    }

    /** Starts the agent; it runs until closed. Whether it enrolled and registers, the controller's host list tells. */
    public static AgentJvm start(Settings s) throws IOException {
        Path state = s.stateDir().toAbsolutePath();
        Files.createDirectories(state.resolve("images"));
        Path token = state.resolve("join-token");
        StateFiles.writePrivate(token, s.joinToken() + "\n");
        Path config = state.resolve("agent.conf");
        Files.writeString(config, "# virtfleet test kit: every setting is on the command line\n");
        List<String> command = new ArrayList<>(List.of("ip", "netns", "exec", s.namespace(),
                Path.of(System.getProperty("java.home"), "bin", "java").toString()));
        command.addAll(unitJavaOptions());
        command.addAll(List.of(
                "-cp", System.getProperty("surefire.test.class.path", System.getProperty("java.class.path")),
                AgentMain.class.getName(),
                "--config", config.toString(), // never the machine's /etc/virtfleet/agent.conf
                "--host-name", s.host(),
                "--controller", s.controller().toString(),
                "--listen", "0.0.0.0:" + PORT,
                "--advertise", s.address() + ":" + PORT,
                "--libvirt-uri", s.libvirtUri(),
                "--heartbeat-interval", s.heartbeat().toMillis() + "ms",
                "--max-backoff", s.maxBackoff().toMillis() + "ms",
                "--images-dir", state.resolve("images").toString(),
                "--state-dir", state.toString(),
                "--definitions-dir", state.resolve("definitions").toString(), // not the machine's /srv/common
                "--join-token-file", token.toString(),
                "--ceph-conf", s.ceph().conf().toString(),
                "--ceph-client", s.ceph().client(),
                "--ceph-keyring", s.ceph().keyring().toString(),
                "--ceph-pool-ssd", s.ceph().ssdPool(),
                "--ceph-pool-sata", s.ceph().sataPool(),
                "--ceph-timeout", s.ceph().timeout().toMillis() + "ms",
                "--vxlan-device", s.underlayDevice()));
        // The host's libvirt TLS files (fleet-issued once the host reports a migration address) stay in the agent's
        // state directory, never the machine's /etc/pki, unless the test places them itself.
        Path tls = state.resolve("libvirt-host-tls");
        List<String> tlsDefaults = List.of(
                "--libvirt-ca-file", tls.resolve("CA/cacert.pem").toString(),
                "--libvirt-server-cert", tls.resolve("libvirt/servercert.pem").toString(),
                "--libvirt-server-key", tls.resolve("libvirt/private/serverkey.pem").toString(),
                "--libvirt-client-cert", tls.resolve("libvirt/clientcert.pem").toString(),
                "--libvirt-client-key", tls.resolve("libvirt/private/clientkey.pem").toString(),
                "--qemu-tls-dir", tls.resolve("qemu").toString(),
                "--qemu-tls-group", "root",
                "--libvirt-admin-uri", "none");
        for (int i = 0; i < tlsDefaults.size(); i += 2) {
            if (!s.extraArgs().contains(tlsDefaults.get(i))) {
                command.addAll(tlsDefaults.subList(i, i + 2));
            }
        }
        command.addAll(s.extraArgs());
        Path log = state.resolve("agent.log");
        Process p = new ProcessBuilder(command).redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()))
                .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null"))).start();
        AgentJvm agent = new AgentJvm(s.host(), p, log);
        RUNNING.add(agent);
        return agent;
    }

    /**
     * The JVM flags of deploy/systemd/virtfleet-agent.service ({@code Environment="JAVA_OPTS=..."}), so the agent
     * runs as small and as slow to warm up as on a hypervisor, found from the working directory upwards.
     */
    static List<String> unitJavaOptions() throws IOException {
        for (Path dir = Path.of("").toAbsolutePath(); dir != null; dir = dir.getParent()) {
            Path unit = dir.resolve("deploy/systemd/virtfleet-agent.service");
            if (Files.isRegularFile(unit)) {
                for (String line : Files.readAllLines(unit, StandardCharsets.UTF_8)) {
                    String prefix = "Environment=\"JAVA_OPTS=";
                    if (line.startsWith(prefix) && line.endsWith("\"")) {
                        return List.of(line.substring(prefix.length(), line.length() - 1).strip().split("\\s+"));
                    }
                }
                throw new IOException(unit + " has no Environment=\"JAVA_OPTS=...\" line");
            }
        }
        throw new IOException("deploy/systemd/virtfleet-agent.service not found above " + Path.of("").toAbsolutePath());
    }

    public String host() {
        return host;
    }

    public boolean alive() {
        return process.isAlive();
    }

    public long pid() {
        return process.pid();
    }

    /** The last lines of the agent's log, to explain a failure. */
    public String logTail(int lines) {
        return Logs.tail(log, lines);
    }

    /** The agent's whole log. */
    public String log() {
        try {
            return Files.readString(log, StandardCharsets.UTF_8);
        } catch (IOException e) {
            return "";
        }
    }

    /** Kills the agent at once (SIGKILL), as a crash would: nothing of it answers from the moment this returns. */
    public void kill() {
        process.destroyForcibly();
        try {
            process.waitFor(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            RUNNING.remove(this);
        }
    }

    @Override
    public void close() {
        process.destroy();
        try {
            if (!process.waitFor(10, TimeUnit.SECONDS)) {
                process.destroyForcibly();
                process.waitFor(5, TimeUnit.SECONDS);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            process.destroyForcibly();
        } finally {
            RUNNING.remove(this);
        }
    }
}
