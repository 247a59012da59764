package io.virtfleet.common.config;

import java.io.IOException;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A virtfleet configuration file: one {@code key = value} per line, {@code #} starts a comment line,
 * blank lines are ignored. Keys are the long names of the program's command-line flags, so
 * {@code heartbeat-interval = 5s} in the file and {@code --heartbeat-interval 5s} on the command
 * line mean the same, and the flag wins. Deliberately tiny: no quoting, no includes, no sections.
 */
public final class ConfigFile {
    private static final Pattern LINE = Pattern.compile("\\s*([a-z][a-z0-9-]*)\\s*=\\s*(.*?)\\s*");

    /** One setting and where it was written. */
    public record Entry(String key, String value, int line) {}

    private final Path path;
    private final Map<String, Entry> entries;

    private ConfigFile(Path path, Map<String, Entry> entries) {
        this.path = path;
        this.entries = Collections.unmodifiableMap(entries);
    }

    /** A configuration with no settings, for when the default file does not exist. */
    public static ConfigFile empty(Path path) {
        return new ConfigFile(path, new LinkedHashMap<>());
    }

    /** Reads and parses the file; a syntax error is reported with file and line. */
    public static ConfigFile load(Path path) {
        List<String> lines;
        try {
            lines = Files.readAllLines(path, StandardCharsets.UTF_8);
        } catch (NoSuchFileException e) {
            throw new ConfigException(path, "no such file");
        } catch (CharacterCodingException e) {
            throw new ConfigException(path, "not valid UTF-8 text");
        } catch (IOException e) {
            throw new ConfigException(path, "cannot read: " + e.getMessage());
        }
        return parse(path, lines);
    }

    static ConfigFile parse(Path path, List<String> lines) {
        Map<String, Entry> entries = new LinkedHashMap<>();
        for (int i = 0; i < lines.size(); i++) {
            int lineNo = i + 1;
            String line = lines.get(i);
            String trimmed = line.strip();
            if (trimmed.isEmpty() || trimmed.startsWith("#")) {
                continue;
            }
            Matcher m = LINE.matcher(line);
            if (!m.matches()) {
                throw new ConfigException(path, lineNo, null,
                        "expected 'key = value' (key: lowercase letters, digits and '-'), found "
                                + io.virtfleet.common.validation.Escape.quoted(trimmed));
            }
            String key = m.group(1);
            String value = m.group(2);
            if (value.isEmpty()) {
                throw new ConfigException(path, lineNo, key, "empty value; remove the line to use the default");
            }
            Entry previous = entries.put(key, new Entry(key, value, lineNo));
            if (previous != null) {
                throw new ConfigException(path, lineNo, key, "set twice (first on line " + previous.line() + ")");
            }
        }
        return new ConfigFile(path, entries);
    }

    public Path path() {
        return path;
    }

    public Map<String, Entry> entries() {
        return entries;
    }

    public Optional<Entry> get(String key) {
        return Optional.ofNullable(entries.get(key));
    }
}
