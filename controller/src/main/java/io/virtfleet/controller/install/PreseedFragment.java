package io.virtfleet.controller.install;

import io.virtfleet.common.validation.InvalidInputException;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A profile's {@code preseed.cfg}: the installer answers the profile adds or changes, one per line in
 * debconf's format, with {@code #} comment lines and blank lines. Stricter than debconf on purpose: a line
 * continued with a backslash (debconf would silently join the next line, even to a comment) and a question
 * virtfleet answers for every VM are refused, so a fragment can neither break the VM's own answers nor
 * replace them (its hostname, network, mirror, user, disk and late command).
 */
public final class PreseedFragment {
    /** debconf's own split: owner, question, type, then the rest of the line after one blank. */
    private static final Pattern LINE = Pattern.compile("\\s*(\\S+)\\s+(\\S+)\\s+(\\S+)(?:\\s(.*))?");
    /** Questions virtfleet answers for every VM; prefixes end in '/' except partman's many packages. */
    private static final List<String> OWNED = List.of("netcfg/", "mirror/", "passwd/", "user-setup/", "partman",
            "grub-installer/", "preseed/", "finish-install/");

    private PreseedFragment() {}

    /** Whether virtfleet answers this question for every VM, so no profile may. */
    public static boolean ownedByVirtfleet(String question) {
        return OWNED.stream().anyMatch(question::startsWith);
    }

    /**
     * Parses a fragment; {@code source} names it in errors ({@code ui/preseed.cfg}), each of which gives the
     * line number and says what is accepted.
     */
    public static List<Answer> parse(String source, String text) {
        List<Answer> answers = new ArrayList<>();
        String[] lines = text.split("\n", -1);
        for (int i = 0; i < lines.length; i++) {
            String line = lines[i];
            String where = source + " line " + (i + 1);
            if (line.endsWith("\\")) {
                throw new InvalidInputException(where, line, "one answer per line, not continued with a backslash");
            }
            String trimmed = line.strip();
            if (trimmed.isEmpty() || trimmed.startsWith("#")) {
                continue;
            }
            Matcher m = LINE.matcher(line);
            if (!m.matches()) {
                throw new InvalidInputException(where, line, "owner question type value, e.g."
                        + " 'd-i pkgsel/include string nginx'");
            }
            Answer answer;
            try {
                answer = new Answer(m.group(1), m.group(2), m.group(3), m.group(4) == null ? "" : m.group(4));
            } catch (InvalidInputException e) {
                throw new InvalidInputException(where, line, "a valid answer (" + e.getMessage() + ")");
            }
            if (ownedByVirtfleet(answer.question())) {
                throw new InvalidInputException(where, line, "a question virtfleet does not answer itself: hostname,"
                        + " network, mirror, user, disk, boot loader and late command (netcfg/, mirror/, passwd/,"
                        + " user-setup/, partman*, grub-installer/, preseed/, finish-install/) are set for each VM;"
                        + " do the profile's own work in its post-install.sh");
            }
            answers.add(answer);
        }
        return List.copyOf(answers);
    }
}
