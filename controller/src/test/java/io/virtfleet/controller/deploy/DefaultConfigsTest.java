package io.virtfleet.controller.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.virtfleet.agent.AgentMain;
import io.virtfleet.common.config.ConfigFile;
import io.virtfleet.common.config.ConfiguredCommand;
import io.virtfleet.controller.ControllerMain;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;
import picocli.CommandLine.Model.OptionSpec;

/**
 * The configuration files shipped in deploy/etc parse as they are and with every commented default
 * switched on, and document every key the programs accept.
 */
class DefaultConfigsTest {
    private static final Path DEPLOY = Path.of("..", "deploy", "etc");
    private static final Pattern COMMENTED_KEY = Pattern.compile("#([a-z][a-z0-9-]*) = (.*)");

    @TempDir
    Path dir;

    @Test
    void agentConfigParsesAndDocumentsEveryKey() throws Exception {
        check(new AgentMain(), DEPLOY.resolve("agent.conf"));
    }

    @Test
    void controllerConfigParsesAndDocumentsEveryKey() throws Exception {
        check(new ControllerMain(), DEPLOY.resolve("controller.conf"));
    }

    private void check(Object command, Path shipped) throws Exception {
        List<String> lines = Files.readAllLines(shipped);
        ConfigFile asShipped = ConfigFile.load(shipped);
        ConfiguredCommand.prepare(new CommandLine(command), asShipped).parseArgs();

        // Every commented default, switched on, is accepted too.
        Path uncommented = dir.resolve(shipped.getFileName());
        Files.write(uncommented, lines.stream().map(l -> {
            Matcher m = COMMENTED_KEY.matcher(l);
            return m.matches() ? m.group(1) + " = " + m.group(2) : l;
        }).toList());
        ConfigFile all = ConfigFile.load(uncommented);
        CommandLine cli = new CommandLine(command.getClass().getDeclaredConstructor().newInstance());
        ConfiguredCommand.prepare(cli, all).parseArgs();

        Set<String> accepted = new TreeSet<>();
        for (OptionSpec o : cli.getCommandSpec().options()) {
            String key = o.longestName().replaceFirst("^--", "");
            if (!o.usageHelp() && !o.versionHelp() && !key.equals("config") && !key.equals("join-token")) {
                accepted.add(key);
            }
        }
        assertEquals(accepted, new TreeSet<>(all.entries().keySet()), shipped + " documents every key");
        assertTrue(all.entries().size() > asShipped.entries().size(), "defaults are shown commented out");
    }
}
