package io.virtfleet.controller.install;

import java.util.ArrayList;
import java.util.List;

/**
 * The installer's {@code preseed/late_command}: shell commands the installer runs ({@code sh -c}) once the
 * system is installed, while it is still mounted on /target. Steps are joined with {@code &&}, so the first
 * that fails stops the rest (the installer then shows the failure) and the callback is reached only after
 * everything worked.
 *
 * <p>Every value from outside this class goes through {@link #quote}, which puts it in single quotes and
 * refuses anything that could end them; callers validate values for their own sake first (URLs, addresses,
 * keys, names), so quoting is the second of two locks, never the only one. No step uses a backslash, which
 * the preseed line would treat as "continued on the next line" at its end.
 */
final class LateCommand {
    private final List<String> steps = new ArrayList<>();

    /** A step written by virtfleet itself; values in it must already be {@link #quote}d. */
    LateCommand step(String command) {
        steps.add(command);
        return this;
    }

    /** Writes {@code lines} to {@code file} (replacing it), one echo per line: echo needs no escapes. */
    LateCommand write(String file, List<String> lines) {
        for (int i = 0; i < lines.size(); i++) {
            steps.add("echo " + quote(lines.get(i)) + (i == 0 ? " > " : " >> ") + quote(file));
        }
        return this;
    }

    /** Appends {@code lines} to {@code file}. */
    LateCommand append(String file, List<String> lines) {
        for (String line : lines) {
            steps.add("echo " + quote(line) + " >> " + quote(file));
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
                throw new IllegalArgumentException("not quotable for the late command: " + io.virtfleet.common
                        .validation.Escape.quoted(value));
            }
        }
        return "'" + value + "'";
    }
}
