package io.virtfleet.controller.definitions;

import io.virtfleet.agent.sync.DefinitionsClone;
import io.virtfleet.common.security.CertificateAuthority;
import io.virtfleet.common.security.FleetIdentity;
import io.virtfleet.common.security.HttpsClientTls;
import io.virtfleet.common.security.Keys;
import io.virtfleet.common.security.TlsCredentials;
import io.virtfleet.common.validation.Endpoint;
import io.virtfleet.controller.trust.ControllerPki;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.stream.Stream;
import javax.net.SocketFactory;

/**
 * A controller's side of replication, for tests: its PKI (the fleet CA), its definitions repository and the
 * git server over it on a free loopback port; and credentials for any party the fleet CA would sign.
 */
final class GitHttpFixture implements AutoCloseable {
    final Path work;
    final ControllerPki pki;
    final DefinitionsRepo repo;
    final GitHttpServer server;

    private GitHttpFixture(Path work, ControllerPki pki, DefinitionsRepo repo, GitHttpServer server) {
        this.work = work;
        this.pki = pki;
        this.repo = repo;
        this.server = server;
    }

    static GitHttpFixture start(Path work, GitHttpServer.Limits limits) throws IOException {
        ControllerPki pki = ControllerPki.open(work.resolve("controller"), Clock.systemUTC(), Duration.ofDays(30));
        DefinitionsRepo repo = DefinitionsRepo.open(work.resolve("controller/definitions"));
        GitHttpServer server = GitHttpServer.start(repo, pki.credentials(), new InetSocketAddress("127.0.0.1", 0), limits);
        return new GitHttpFixture(work, pki, repo, server);
    }

    Endpoint endpoint() {
        return new Endpoint("127.0.0.1", server.port());
    }

    /** Credentials the fleet CA signed for {@code identity}. */
    TlsCredentials credentials(FleetIdentity identity) {
        return issuedBy(pki.ca(), identity);
    }

    TlsCredentials agent(String host) {
        return credentials(FleetIdentity.agent(host));
    }

    /** Credentials signed by {@code ca} (which may not be the fleet's), trusting the fleet CA. */
    TlsCredentials issuedBy(CertificateAuthority ca, FleetIdentity identity) {
        KeyPair keys = Keys.generate();
        try {
            return new TlsCredentials(keys.getPrivate(), ca.issue(keys.getPublic(), identity, Duration.ofDays(1), List.of()),
                    pki.ca().certificate());
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException(e);
        }
    }

    DefinitionsClone cloneFor(TlsCredentials tls, Path dir) {
        return new DefinitionsClone(dir, endpoint(), tls, Duration.ofSeconds(20));
    }

    String commit(String message, Map<String, String> writes, Set<String> deletes) throws IOException {
        Map<String, byte[]> bytes = new TreeMap<>();
        writes.forEach((path, text) -> bytes.put(path, text.getBytes(StandardCharsets.UTF_8)));
        return repo.commit(message, "alice", bytes, deletes);
    }

    static String domainXml(String vm, int memoryMiB) {
        return "<domain type='kvm'>\n  <name>" + vm + "</name>\n  <memory unit='MiB'>" + memoryMiB + "</memory>\n"
                + "  <vcpu>1</vcpu>\n  <os><type arch='x86_64'>hvm</type></os>\n</domain>\n";
    }

    /** Every file of a working tree (outside .git) with its content. */
    static Map<String, String> files(Path root) throws IOException {
        Map<String, String> out = new TreeMap<>();
        try (Stream<Path> all = Files.walk(root)) {
            for (Path p : (Iterable<Path>) all::iterator) {
                String rel = root.relativize(p).toString();
                if (rel.equals(".git") || rel.startsWith(".git/") || !Files.isRegularFile(p)) {
                    continue;
                }
                out.put(rel, Files.readString(p));
            }
        }
        return out;
    }

    /** A response as raw as the request that got it: the status code and the body, or -1 when the connection closed first. */
    record Raw(int status, String text) {}

    /**
     * Sends {@code request} (the request line and headers, CRLF-separated, without the blank line) verbatim
     * over mutual TLS as {@code tls}, so paths reach the server exactly as written.
     */
    Raw raw(HttpsClientTls tls, String request, byte[] body) throws IOException {
        return raw(tls.socketFactory(), request, body);
    }

    Raw raw(SocketFactory sockets, String request, byte[] body) throws IOException {
        try (Socket socket = sockets.createSocket("127.0.0.1", server.port())) {
            socket.setSoTimeout(20_000);
            OutputStream out = socket.getOutputStream();
            String head = request + "\r\nHost: controller.virtfleet.internal\r\nConnection: close\r\n"
                    + (body == null ? "" : "Content-Length: " + body.length + "\r\n") + "\r\n";
            out.write(head.getBytes(StandardCharsets.ISO_8859_1));
            if (body != null) {
                try {
                    out.write(body);
                } catch (IOException e) {
                    // the server may answer and close before reading it all (413)
                }
            }
            out.flush();
            InputStream in = socket.getInputStream();
            ByteArrayOutputStream response = new ByteArrayOutputStream();
            try {
                in.transferTo(response);
            } catch (IOException e) {
                if (response.size() == 0) {
                    throw e;
                }
            }
            String text = response.toString(StandardCharsets.ISO_8859_1);
            if (!text.startsWith("HTTP/1.1 ")) {
                return new Raw(-1, text);
            }
            return new Raw(Integer.parseInt(text.substring(9, 12)), text.substring(text.indexOf("\r\n\r\n") + 4));
        }
    }

    @Override
    public void close() {
        server.close();
        repo.close();
    }
}
