package io.virtfleet.common.config;

import java.nio.file.Path;

/** A configuration file that cannot be used; the message names the file, the line and the key. */
public final class ConfigException extends RuntimeException {
    public ConfigException(Path file, int line, String key, String problem) {
        super(file + ":" + line + (key == null ? "" : ": key '" + key + "'") + ": " + problem);
    }

    public ConfigException(Path file, String problem) {
        super(file + ": " + problem);
    }
}
