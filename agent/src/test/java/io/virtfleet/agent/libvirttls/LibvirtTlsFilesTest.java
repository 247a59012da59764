package io.virtfleet.agent.libvirttls;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.virtfleet.common.security.CertificateAuthority;
import io.virtfleet.common.security.Keys;
import io.virtfleet.common.security.Pem;
import io.virtfleet.common.validation.Ipv4;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFileAttributes;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.KeyPair;
import java.security.cert.X509Certificate;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The files of a host's libvirt certificate: exactly these, with these modes, written only when they differ. */
class LibvirtTlsFilesTest {
    /** A group other than the test's own, that every Debian system has. */
    private static final String QEMU_GROUP = "daemon";

    @TempDir
    Path dir;

    private CertificateAuthority ca;
    private LibvirtTlsSettings settings;

    @BeforeEach
    void setUp() throws Exception {
        ca = CertificateAuthority.loadOrCreate(dir.resolve("ca"), Clock.systemUTC());
        Path etc = dir.resolve("etc");
        settings = new LibvirtTlsSettings(etc.resolve("pki/CA/cacert.pem"), etc.resolve("pki/libvirt/servercert.pem"),
                etc.resolve("pki/libvirt/private/serverkey.pem"), etc.resolve("pki/libvirt/clientcert.pem"),
                etc.resolve("pki/libvirt/private/clientkey.pem"), etc.resolve("pki/qemu"), QEMU_GROUP,
                dir.resolve("state/libvirt-tls"), null);
    }

    @Test
    void everyFileHasItsContentModeAndGroup() throws Exception {
        LibvirtTlsFiles.Installed installed = issue("10.213.0.11");
        List<Path> written = new LibvirtTlsFiles(settings).install(installed);

        String cert = Pem.of(installed.certificate());
        String key = Pem.of(installed.key());
        String caPem = Pem.of(ca.certificate());
        Path etc = dir.resolve("etc/pki");
        Path state = dir.resolve("state/libvirt-tls");
        Map<Path, String> expected = new TreeMap<>(Map.ofEntries(
                Map.entry(etc.resolve("CA/cacert.pem"), "rw-r--r-- root " + caPem),
                Map.entry(etc.resolve("libvirt/servercert.pem"), "rw-r--r-- root " + cert),
                Map.entry(etc.resolve("libvirt/clientcert.pem"), "rw-r--r-- root " + cert),
                Map.entry(etc.resolve("libvirt/private/serverkey.pem"), "rw------- root " + key),
                Map.entry(etc.resolve("libvirt/private/clientkey.pem"), "rw------- root " + key),
                Map.entry(etc.resolve("qemu/ca-cert.pem"), "rw-r--r-- root " + caPem),
                Map.entry(etc.resolve("qemu/server-cert.pem"), "rw-r--r-- root " + cert),
                Map.entry(etc.resolve("qemu/client-cert.pem"), "rw-r--r-- root " + cert),
                Map.entry(etc.resolve("qemu/server-key.pem"), "rw-r----- " + QEMU_GROUP + " " + key),
                Map.entry(etc.resolve("qemu/client-key.pem"), "rw-r----- " + QEMU_GROUP + " " + key),
                Map.entry(state.resolve("cacert.pem"), "rw-r--r-- root " + caPem),
                Map.entry(state.resolve("clientcert.pem"), "rw-r--r-- root " + cert),
                Map.entry(state.resolve("clientkey.pem"), "rw------- root " + key)));
        assertEquals(expected, files());
        assertEquals(expected.keySet(), new java.util.TreeSet<>(written));
        // Certificates before keys, so that directories QEMU's user must cross are made rwxr-xr-x.
        assertEquals(8, written.indexOf(etc.resolve("libvirt/private/serverkey.pem")));
        assertEquals("rwxr-xr-x", mode(etc));
        assertEquals("rwxr-xr-x", mode(etc.resolve("libvirt")));
        assertEquals("rwxr-xr-x", mode(etc.resolve("qemu")));
        assertEquals("rwx------", mode(etc.resolve("libvirt/private")));
        LibvirtTlsFiles.Installed read = new LibvirtTlsFiles(settings).installed().orElseThrow();
        assertEquals(installed.certificate(), read.certificate());
        assertEquals(installed.ca(), read.ca());
        assertEquals(((java.security.interfaces.ECPrivateKey) installed.key()).getS(),
                ((java.security.interfaces.ECPrivateKey) read.key()).getS());
    }

    @Test
    void onlyWhatDiffersIsRewritten() throws Exception {
        LibvirtTlsFiles files = new LibvirtTlsFiles(settings);
        LibvirtTlsFiles.Installed first = issue("10.213.0.11");
        files.install(first);
        Map<Path, Long> inodes = inodes();

        assertEquals(List.of(), files.install(first), "nothing differs");
        assertEquals(inodes, inodes());

        Path qemuKey = settings.qemuDirectory().resolve("server-key.pem");
        Files.setPosixFilePermissions(qemuKey, PosixFilePermissions.fromString("rw-r--r--"));
        Files.delete(settings.pkiPath().resolve("clientcert.pem"));
        assertEquals(List.of(settings.pkiPath().resolve("clientcert.pem"), qemuKey), files.install(first));
        assertEquals("rw-r-----", mode(qemuKey));

        // A new key and certificate from the same CA: the CA's three files stay as they are.
        List<Path> renewed = files.install(issue("10.213.0.11"));
        assertEquals(10, renewed.size(), renewed.toString());
        assertTrue(renewed.stream().noneMatch(p -> p.getFileName().toString().matches("ca-?cert\\.pem")), renewed.toString());
        assertTrue(files.libvirtdReads(renewed));
        assertTrue(!files.libvirtdReads(List.of(settings.qemuDirectory().resolve("client-key.pem"))));
    }

    @Test
    void aQemuGroupThatDoesNotExistIsNamedAndNothingIsWritten() throws Exception {
        LibvirtTlsSettings wrong = new LibvirtTlsSettings(settings.caFile(), settings.serverCert(), settings.serverKey(),
                settings.clientCert(), settings.clientKey(), settings.qemuDirectory(), "no-such-group", settings.pkiPath(), null);
        IOException e = assertThrows(IOException.class, () -> new LibvirtTlsFiles(wrong).install(issue("10.213.0.11")));
        assertTrue(e.getMessage().startsWith("qemu-tls-group: group \"no-such-group\" does not exist"), e.getMessage());
        assertTrue(!Files.exists(dir.resolve("etc")), "nothing written");
    }

    private LibvirtTlsFiles.Installed issue(String address) throws Exception {
        KeyPair keys = Keys.generate();
        X509Certificate certificate = ca.issueLibvirt(Keys.signingRequest(keys, "hv1"), "hv1",
                Ipv4.unicastAddress("address", address), Duration.ofDays(30));
        return new LibvirtTlsFiles.Installed(keys.getPrivate(), certificate, ca.certificate());
    }

    /** Every file written, as "mode group content". */
    private Map<Path, String> files() throws IOException {
        Map<Path, String> out = new TreeMap<>();
        for (Path f : regularFiles()) {
            PosixFileAttributes a = Files.readAttributes(f, PosixFileAttributes.class);
            out.put(f, PosixFilePermissions.toString(a.permissions()) + " " + a.group().getName() + " " + Files.readString(f));
        }
        return out;
    }

    private Map<Path, Long> inodes() throws IOException {
        Map<Path, Long> out = new TreeMap<>();
        for (Path f : regularFiles()) {
            out.put(f, (Long) Files.getAttribute(f, "unix:ino"));
        }
        return out;
    }

    private List<Path> regularFiles() throws IOException {
        try (Stream<Path> etc = Files.walk(dir.resolve("etc")); Stream<Path> state = Files.walk(dir.resolve("state"))) {
            return Stream.concat(etc, state).filter(Files::isRegularFile).sorted().toList();
        }
    }

    private static String mode(Path p) throws IOException {
        return PosixFilePermissions.toString(Files.getPosixFilePermissions(p));
    }
}
