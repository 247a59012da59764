package io.virtfleet.controller.ovh;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.virtfleet.common.config.ConfigException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** ovh.conf: owner-only, every key, nothing unknown, and an endpoint that is HTTPS (or a local fake's HTTP). */
class OvhAccountTest {
    private static final String KEYS = "application-key = 7kbG7Bk7S9Nt7ZSV\napplication-secret = EXEgWIz07P0HYwtQDs7c\n"
            + "consumer-key = MtSwSrPpNjqfVSmJhLbP\n";

    @TempDir
    Path dir;

    private Path file(String text, String mode) throws Exception {
        Path f = dir.resolve("ovh.conf");
        Files.writeString(f, text);
        Files.setPosixFilePermissions(f, PosixFilePermissions.fromString(mode));
        return f;
    }

    private String refused(String text, String mode) throws Exception {
        Path f = file(text, mode);
        return assertThrows(ConfigException.class, () -> OvhAccount.load(f)).getMessage();
    }

    @Test
    void anOwnerOnlyFileWithTheThreeKeysUsesOvhEuropeByDefault() throws Exception {
        OvhAccount a = OvhAccount.load(file("# OVH\n" + KEYS, "rw-------"));
        assertEquals(URI.create("https://eu.api.ovh.com/1.0"), a.endpoint());
        assertEquals("7kbG7Bk7S9Nt7ZSV", a.applicationKey());
        assertEquals("EXEgWIz07P0HYwtQDs7c", a.applicationSecret());
        assertEquals("MtSwSrPpNjqfVSmJhLbP", a.consumerKey());
        assertFalse(a.toString().contains("EXEgWIz07P0HYwtQDs7c") || a.toString().contains("MtSwSrPpNjqfVSmJhLbP"),
                "secrets stay out of logs: " + a);
        assertEquals(URI.create("https://ca.api.ovh.com/1.0"),
                OvhAccount.load(file("endpoint = ovh-ca\n" + KEYS, "r--------")).endpoint());
        assertEquals(URI.create("http://127.0.0.1:8080/1.0"),
                OvhAccount.load(file("endpoint = http://127.0.0.1:8080/1.0/\n" + KEYS, "rw-------")).endpoint(),
                "plain HTTP to a loopback address: a local fake of OVH");
    }

    @ParameterizedTest
    @ValueSource(strings = {"rw-r-----", "rw----r--", "rw-rw-rw-", "rw---x---"})
    void aFileOthersCanReachIsRefusedNamingItAndItsMode(String mode) throws Exception {
        String m = refused(KEYS, mode);
        assertTrue(m.startsWith(dir.resolve("ovh.conf") + ": readable by others than its owner (mode " + mode + ")"), m);
        assertTrue(m.contains("chmod 600"), m);
    }

    @Test
    void aMissingOrUnknownKeyIsRefusedNamingIt() throws Exception {
        String missing = refused(KEYS.replace("consumer-key = MtSwSrPpNjqfVSmJhLbP\n", ""), "rw-------");
        assertTrue(missing.startsWith(dir.resolve("ovh.conf") + ": missing key 'consumer-key'"), missing);
        String unknown = refused(KEYS + "region = eu\n", "rw-------");
        assertTrue(unknown.startsWith(dir.resolve("ovh.conf") + ":4: key 'region': unknown key; accepted keys: endpoint,"), unknown);
        String quoted = refused(KEYS.replace("= 7kbG7Bk7S9Nt7ZSV", "= \"7kbG7Bk7S9Nt7ZSV\""), "rw-------");
        assertTrue(quoted.contains(":1: key 'application-key': expected letters and digits only"), quoted);
        assertTrue(refused("", "rw-------").contains("missing key 'application-key'"));
    }

    @ParameterizedTest
    @ValueSource(strings = {"http://eu.api.ovh.com/1.0", "http://10.0.0.1:8080/1.0", "ftp://127.0.0.1/1.0", "ovh-mars",
        "https://user:pw@eu.api.ovh.com/1.0", "https://eu.api.ovh.com/1.0?x=1", "http://127.0.0.1.example.net/1.0"})
    void anEndpointThatIsNotHttpsOrLoopbackHttpIsRefused(String endpoint) throws Exception {
        String m = refused("endpoint = " + endpoint + "\n" + KEYS, "rw-------");
        assertTrue(m.startsWith(dir.resolve("ovh.conf") + ":1: key 'endpoint': "), m);
        assertTrue(m.contains("expected ovh-eu, ovh-ca, ovh-us or an https:// URL"), m);
    }

    @Test
    void aMissingFileIsNamed() {
        Path none = dir.resolve("absent.conf");
        assertEquals(none + ": no such file", assertThrows(ConfigException.class, () -> OvhAccount.load(none)).getMessage());
    }

    @Test
    void aLineThatIsNotKeyEqualsValueIsNamedByItsNumberWithoutShowingIt() throws Exception {
        String m = refused("application-key = 7kbG7Bk7S9Nt7ZSV\napplication_secret=S3cretValue\n", "rw-------");
        assertEquals(dir.resolve("ovh.conf") + ":2: expected 'key = value' with a key of endpoint, application-key,"
                + " application-secret, consumer-key (OVH's own format, such as application_secret=, is not this"
                + " file's); the line is not shown, as it may hold a secret", m);
        assertFalse(m.contains("S3cretValue"), m);
        String open = refused("[ovh-eu]\napplication_secret=S3cretValue\n", "rw-r--r--");
        assertTrue(open.contains("chmod 600") && !open.contains("S3cretValue"), "the mode is checked first: " + open);
        // Leading Unicode space (a copy-paste) passes this file's own check; the generic parser's error is not shown.
        String unicode = refused("application-key = 7kbG7Bk7S9Nt7ZSV\n\u2003application-secret = S3cretValue\n", "rw-------");
        assertFalse(unicode.contains("S3cretValue"), unicode);
        String twice = refused("application-secret = S3cretValue\napplication-secret = S3cretValue\n", "rw-------");
        assertFalse(twice.contains("S3cretValue"), twice);
    }
}
