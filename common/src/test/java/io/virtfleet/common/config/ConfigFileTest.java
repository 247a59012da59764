package io.virtfleet.common.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

class ConfigFileTest {
    private static final Path FILE = Path.of("agent.conf");

    @Test
    void readsKeysValuesAndLinesSkippingCommentsAndBlanks() {
        ConfigFile config = ConfigFile.parse(FILE, List.of(
                "# comment", "", "controller = cp1:7440", "  heartbeat-interval=2s  ", "libvirt-uri = qemu:///system?socket=/x"));
        assertEquals("cp1:7440", config.get("controller").orElseThrow().value());
        assertEquals(3, config.get("controller").orElseThrow().line());
        assertEquals("2s", config.get("heartbeat-interval").orElseThrow().value());
        assertEquals("qemu:///system?socket=/x", config.get("libvirt-uri").orElseThrow().value());
    }

    @Test
    void lineWithoutEqualsNamesFileAndLine() {
        ConfigException e = assertThrows(ConfigException.class,
                () -> ConfigFile.parse(FILE, List.of("controller = a:1", "heartbeat-interval 5s")));
        assertTrue(e.getMessage().startsWith("agent.conf:2: "), e.getMessage());
        assertTrue(e.getMessage().contains("expected 'key = value'"), e.getMessage());
    }

    @Test
    void keyGivenTwiceIsRefusedWithBothLines() {
        ConfigException e = assertThrows(ConfigException.class,
                () -> ConfigFile.parse(FILE, List.of("listen = a:1", "# x", "listen = b:2")));
        assertEquals("agent.conf:3: key 'listen': set twice (first on line 1)", e.getMessage());
    }

    @Test
    void emptyValueIsRefused() {
        ConfigException e = assertThrows(ConfigException.class, () -> ConfigFile.parse(FILE, List.of("listen =")));
        assertTrue(e.getMessage().startsWith("agent.conf:1: key 'listen': empty value"), e.getMessage());
    }
}
