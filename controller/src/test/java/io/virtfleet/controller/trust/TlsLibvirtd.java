package io.virtfleet.controller.trust;

import io.virtfleet.common.process.Command;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A real libvirtd listening on libvirt's TLS port (16514) inside a network namespace, with no other way in but its unix
 * sockets. It runs, as the test kit's {@code LibvirtdNode} does, in a private mount namespace where libvirt's
 * directories are the node's; there {@code /etc/pki} is also a directory of the test, so libvirtd finds its CA,
 * certificate and key at its default paths, the ones {@code virt-admin server-update-tls} reloads from. libvirtd.conf
 * admits TLS clients by {@code tls_allowed_dn_list} only. Needs root, util-linux and libvirt-daemon.
 */
final class TlsLibvirtd implements AutoCloseable {
    private static final Duration START_TIMEOUT = Duration.ofSeconds(60);
    /**
     * $1..$6: the node's etc, run, lib, log, cache directories and the test's pki directory; $7: pid file; $8: the
     * listen flag or an empty argument; $9, $10 (optional): passwd and group files. A constant: values never reach the
     * shell as code.
     */
    private static final String NAMESPACE_SCRIPT = String.join("\n",
            "set -e",
            "mount --bind \"$1\" /etc/libvirt",
            "mount --bind \"$2\" /run/libvirt",
            "mount --bind \"$3\" /var/lib/libvirt",
            "mount --bind \"$4\" /var/log/libvirt",
            "mount --bind \"$5\" /var/cache/libvirt",
            "mount --bind \"$6\" /etc/pki",
            "if [ \"$#\" -ge 10 ]; then",
            "  mount --bind \"$9\" /etc/passwd",
            "  mount --bind \"${10}\" /etc/group",
            "fi",
            "if [ -n \"$8\" ]; then exec libvirtd \"$8\" --pid-file \"$7\"; fi",
            "exec libvirtd --pid-file \"$7\"");

    private final Path dir;
    private final Process daemon;

    private TlsLibvirtd(Path dir, Process daemon) {
        this.dir = dir;
        this.daemon = daemon;
    }

    /**
     * Starts libvirtd in {@code networkNamespace} with {@code pki} as its {@code /etc/pki}, admitting TLS clients whose
     * subject matches {@code allowedDn}; returns once its admin socket answers. Without {@code listen} it serves its
     * unix sockets only, as libvirtd does when its TLS socket is not enabled.
     */
    static TlsLibvirtd start(Path dir, String networkNamespace, Path pki, String allowedDn, boolean listen)
            throws IOException {
        dir = dir.toAbsolutePath().normalize();
        for (String sub : List.of("etc", "run", "lib", "log", "cache")) {
            Files.createDirectories(dir.resolve(sub));
        }
        for (String mountPoint : List.of("/etc/libvirt", "/run/libvirt", "/var/lib/libvirt", "/var/log/libvirt",
                "/var/cache/libvirt", "/etc/pki")) {
            Files.createDirectories(Path.of(mountPoint));
        }
        for (String left : List.of("libvirt-sock", "libvirt-sock-ro", "libvirt-admin-sock", "libvirtd.pid")) {
            Files.deleteIfExists(dir.resolve("run").resolve(left)); // from a previous start on this directory
        }
        Files.writeString(dir.resolve("etc/libvirtd.conf"), String.join("\n",
                "listen_tls = 1",
                "listen_tcp = 0",
                "auth_tls = \"none\"",
                "tls_allowed_dn_list = [\"" + allowedDn + "\"]",
                "unix_sock_group = \"root\"",
                "unix_sock_rw_perms = \"0700\"",
                "unix_sock_ro_perms = \"0700\"",
                "unix_sock_admin_perms = \"0700\"",
                "auth_unix_rw = \"none\"",
                "auth_unix_ro = \"none\"",
                "log_outputs = \"3:file:/var/log/libvirt/libvirtd.log\"",
                ""));
        Files.writeString(dir.resolve("etc/qemu.conf"), String.join("\n",
                "user = \"root\"",
                "group = \"root\"",
                "dynamic_ownership = 0",
                "security_driver = \"none\"",
                "cgroup_controllers = [ ]",
                "namespaces = [ ]",
                "stdio_handler = \"file\"",
                "migrate_tls_x509_verify = 1",
                ""));
        List<String> command = new ArrayList<>(List.of("ip", "netns", "exec", networkNamespace,
                "unshare", "--mount", "--propagation", "private", "sh", "-c", NAMESPACE_SCRIPT, "sh"));
        for (String sub : List.of("etc", "run", "lib", "log", "cache")) {
            command.add(dir.resolve(sub).toString());
        }
        command.add(pki.toAbsolutePath().toString());
        command.add(dir.resolve("run/libvirtd.pid").toString());
        command.add(listen ? "--listen" : "");
        if (Command.of("getent", "passwd", "libvirt-qemu").run().exitCode() != 0) {
            // libvirt 9.0 looks this user up before it reads qemu.conf's user = "root".
            Files.writeString(dir.resolve("etc-passwd"), Files.readString(Path.of("/etc/passwd"))
                    + "libvirt-qemu:x:64055:64055::/var/lib/libvirt:/usr/sbin/nologin\n");
            Files.writeString(dir.resolve("etc-group"), Files.readString(Path.of("/etc/group")) + "libvirt-qemu:x:64055:\n");
            command.add(dir.resolve("etc-passwd").toString());
            command.add(dir.resolve("etc-group").toString());
        }
        Process daemon = new ProcessBuilder(command).redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.appendTo(dir.resolve("log/stdout.log").toFile()))
                .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null"))).start();
        TlsLibvirtd node = new TlsLibvirtd(dir, daemon);
        try {
            node.awaitAdminSocket();
        } catch (IOException | RuntimeException e) {
            node.close();
            throw e;
        }
        return node;
    }

    /** The admin URI the agent tells to reload its TLS files. */
    String adminUri() {
        return "libvirtd:///system?socket=" + dir.resolve("run/libvirt-admin-sock");
    }

    /** libvirtd's own log. */
    String log() throws IOException {
        Path log = dir.resolve("log/libvirtd.log");
        return Files.exists(log) ? Files.readString(log, StandardCharsets.UTF_8) : "";
    }

    /** Waits for libvirtd's admin socket to answer; a daemon that exits fails at once, with its logs. */
    private void awaitAdminSocket() throws IOException {
        try {
            io.virtfleet.controller.testkit.Await.until("libvirtd's admin socket in " + dir, START_TIMEOUT,
                    () -> !daemon.isAlive() || Command.of("virt-admin", "-c", adminUri(), "server-list").run().exitCode() == 0);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while waiting for libvirtd", e);
        } catch (AssertionError timedOut) {
            // reported below with the daemon's logs
        }
        if (!daemon.isAlive() || Command.of("virt-admin", "-c", adminUri(), "server-list").run().exitCode() != 0) {
            throw new IOException("libvirtd with TLS did not start in " + dir + ":\n" + log()
                    + Files.readString(dir.resolve("log/stdout.log")));
        }
    }

    @Override
    public void close() {
        // ip netns exec, unshare and sh all exec(): the process started is libvirtd itself.
        daemon.destroy();
        try {
            if (!daemon.waitFor(10, TimeUnit.SECONDS)) {
                daemon.destroyForcibly();
                daemon.waitFor(5, TimeUnit.SECONDS);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            daemon.destroyForcibly();
        }
    }
}
