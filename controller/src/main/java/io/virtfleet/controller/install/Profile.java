package io.virtfleet.controller.install;

import java.nio.file.Path;
import java.util.List;

/**
 * An install profile as the controller found it in its profiles directory.
 *
 * @param name        the directory's name, a DNS label ("base", "ui-test")
 * @param description the first comment line of its post-install.sh, for {@code virtfleet profiles}
 * @param answers     what its preseed.cfg answers, in file order
 * @param postInstall its post-install.sh, run inside the installed system at the end of the install
 */
public record Profile(String name, String description, List<Answer> answers, Path postInstall) {
    public Profile {
        answers = List.copyOf(answers);
    }
}
