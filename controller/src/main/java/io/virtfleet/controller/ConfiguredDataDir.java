package io.virtfleet.controller;

import io.virtfleet.common.config.ConfigFile;
import io.virtfleet.common.config.ConfigException;
import java.nio.file.Files;
import java.nio.file.Path;
import picocli.CommandLine.Model.CommandSpec;

/**
 * The data directory of a maintenance command run beside the controller ({@code restore}, {@code reissue-admin}):
 * {@code --data-dir} when given, else {@code data-dir} of the controller's configuration file ({@code --config}, or
 * {@value #DEFAULT_CONFIG_TEXT} when it exists), else {@value #DEFAULT_DATA_DIR_TEXT}: the directory the controller
 * itself uses with that file. Read here rather than left to the configuration's defaults, so the answer is the same
 * however the command was started.
 */
public final class ConfiguredDataDir {
    public static final String DEFAULT_CONFIG_TEXT = "/etc/virtfleet/controller.conf";
    public static final String DEFAULT_DATA_DIR_TEXT = "/var/lib/virtfleet/controller";
    public static final Path DEFAULT_CONFIG = Path.of(DEFAULT_CONFIG_TEXT);
    public static final Path DEFAULT_DATA_DIR = Path.of(DEFAULT_DATA_DIR_TEXT);

    private ConfiguredDataDir() {}

    /**
     * @param spec       the command, to tell whether {@code --data-dir} was given
     * @param given      the value of {@code --data-dir} (null when it has none)
     * @param configFile the value of {@code --config}; null: the default file, ignored when absent
     * @throws ConfigException when the file named by {@code --config} is missing or unreadable, or any file is not
     *                         valid configuration syntax
     */
    public static Path resolve(CommandSpec spec, Path given, Path configFile) {
        if (given != null && spec.commandLine().getParseResult().hasMatchedOption("--data-dir")) {
            return given;
        }
        ConfigFile config;
        if (configFile != null) {
            config = ConfigFile.load(configFile);
        } else if (Files.exists(DEFAULT_CONFIG)) {
            config = ConfigFile.load(DEFAULT_CONFIG);
        } else {
            return DEFAULT_DATA_DIR;
        }
        return config.get("data-dir").map(e -> Path.of(e.value().strip())).orElse(DEFAULT_DATA_DIR);
    }
}
