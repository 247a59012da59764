package io.virtfleet.controller.install;

import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;

/**
 * A shell command for the Debian installer to run ({@code sh -c}, busybox's): its {@code preseed/early_command},
 * run as soon as the preseed is read, or its {@code preseed/late_command}, run once the system is installed and
 * still mounted on /target. Steps are joined with {@code &&}, so the first that fails stops the rest (the
 * installer then shows the failure and goes no further) and a last step, such as the callback, is reached only
 * after everything worked.
 *
 * <p>Every value from outside this class goes through {@link #quote}, which puts it in single quotes and
 * refuses anything that could end them; callers validate values for their own sake first (URLs, addresses,
 * keys, names), so quoting is the second of two locks, never the only one. No step uses a backslash, which
 * the preseed line would treat as "continued on the next line" at its end.
 */
final class InstallerCommand {
    private final List<String> steps = new ArrayList<>();

    /** A step written by virtfleet itself; values in it must already be {@link #quote}d. */
    InstallerCommand step(String command) {
        steps.add(command);
        return this;
    }

    /** Writes {@code lines} to {@code file} (replacing it), one echo per line: echo needs no escapes. */
    InstallerCommand write(String file, List<String> lines) {
        return write(file, lines, null, null);
    }

    /**
     * Writes {@code lines} to {@code file} (replacing it), each {@code placeholder} in them replaced by the
     * value the shell variable {@code variable} holds when the step runs (a value found inside the installer,
     * such as an interface's name). The rest of each line is quoted as any value.
     */
    InstallerCommand write(String file, List<String> lines, String placeholder, String variable) {
        if (variable != null && !variable.matches("[A-Z][A-Z0-9_]*")) {
            throw new IllegalArgumentException("not a shell variable of ours: " + variable);
        }
        for (int i = 0; i < lines.size(); i++) {
            String line = lines.get(i);
            String word = quote(line);
            if (placeholder != null && line.contains(placeholder)) {
                // 'text '"$VARIABLE"' more text': the variable's value in double quotes, taken as it is.
                word = String.join("\"$" + variable + "\"", List.of(line.split(Pattern.quote(placeholder), -1))
                        .stream().map(piece -> piece.isEmpty() ? "" : quote(piece)).toList());
            }
            steps.add("echo " + word + (i == 0 ? " > " : " >> ") + quote(file));
        }
        return this;
    }

    @Override
    public String toString() {
        return String.join(" && ", steps);
    }

    /**
     * The value in single quotes, inside which a shell interprets nothing; refused if it holds a single quote
     * (which would end them), a backslash or anything but printable ASCII.
     */
    static String quote(String value) {
        for (int i = 0; i < value.length(); i++) {
            char c = value.charAt(i);
            if (c == '\'' || c == '\\' || c < 0x20 || c > 0x7e) {
                throw new IllegalArgumentException("not quotable for an installer command: " + io.virtfleet.common
                        .validation.Escape.quoted(value));
            }
        }
        return "'" + value + "'";
    }
}
