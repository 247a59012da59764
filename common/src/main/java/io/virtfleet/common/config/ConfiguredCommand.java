package io.virtfleet.common.config;

import io.virtfleet.common.cli.ExitCode;
import io.virtfleet.common.units.Durations;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.TreeSet;
import picocli.CommandLine;
import picocli.CommandLine.Model.ArgSpec;
import picocli.CommandLine.Model.OptionSpec;

/**
 * Runs a picocli command whose flags may also be set in a configuration file. The file is chosen by
 * {@code --config FILE} (an error if missing) or else the default path (ignored if missing). File
 * values become the flags' defaults; flags on the command line win. Any problem in the file — bad
 * syntax, unknown key, a value the flag rejects — exits with {@link ExitCode#USAGE} and a message
 * naming the file, the line and the key.
 */
public final class ConfiguredCommand {
    private ConfiguredCommand() {}

    public static int run(Object command, Path defaultConfig, String... args) {
        CommandLine cli = new CommandLine(command);
        ConfigFile config;
        try {
            config = load(defaultConfig, args);
            prepare(cli, config);
        } catch (ConfigException e) {
            cli.getErr().println("virtfleet: configuration error: " + e.getMessage());
            return ExitCode.USAGE;
        }
        cli.setParameterExceptionHandler((ex, ignored) -> {
            ArgSpec spec = ex.getArgSpec();
            if (spec instanceof OptionSpec option
                    && config.get(key(option)).isPresent()
                    && !ex.getCommandLine().getParseResult().hasMatchedOption(option)) {
                ConfigFile.Entry entry = config.get(key(option)).get();
                cli.getErr().println("virtfleet: configuration error: "
                        + new ConfigException(config.path(), entry.line(), entry.key(), ex.getMessage()).getMessage());
            } else {
                cli.getErr().println("virtfleet: " + ex.getMessage());
                ex.getCommandLine().usage(cli.getErr());
            }
            return ExitCode.USAGE;
        });
        return cli.execute(args);
    }

    /**
     * Makes the configuration's values the command's defaults and registers virtfleet's converters.
     *
     * @throws ConfigException when the file holds a key that is not one of the command's options
     */
    public static CommandLine prepare(CommandLine cli, ConfigFile config) {
        cli.registerConverter(Duration.class, Durations::parse);
        checkKeys(cli, config);
        cli.setDefaultValueProvider(arg -> arg instanceof OptionSpec option
                ? config.get(key(option)).map(ConfigFile.Entry::value).orElse(null)
                : null);
        return cli;
    }

    private static ConfigFile load(Path defaultConfig, String[] args) {
        for (int i = 0; i < args.length; i++) {
            if (args[i].equals("--config") && i + 1 < args.length) {
                return ConfigFile.load(Path.of(args[i + 1]));
            }
            if (args[i].startsWith("--config=")) {
                return ConfigFile.load(Path.of(args[i].substring("--config=".length())));
            }
        }
        return Files.exists(defaultConfig) ? ConfigFile.load(defaultConfig) : ConfigFile.empty(defaultConfig);
    }

    private static void checkKeys(CommandLine cli, ConfigFile config) {
        Map<String, OptionSpec> options = cli.getCommandSpec().optionsMap();
        TreeSet<String> accepted = new TreeSet<>();
        for (OptionSpec option : cli.getCommandSpec().options()) {
            if (settableFromFile(option)) {
                accepted.add(key(option));
            }
        }
        for (ConfigFile.Entry entry : config.entries().values()) {
            OptionSpec option = options.get("--" + entry.key());
            if (option == null || !settableFromFile(option)) {
                throw new ConfigException(config.path(), entry.line(), entry.key(),
                        "unknown key; accepted keys: " + String.join(", ", accepted));
            }
        }
    }

    private static boolean settableFromFile(OptionSpec option) {
        return option.longestName().startsWith("--")
                && !option.usageHelp() && !option.versionHelp()
                && !option.longestName().equals("--config");
    }

    private static String key(OptionSpec option) {
        return option.longestName().replaceFirst("^--", "");
    }
}
