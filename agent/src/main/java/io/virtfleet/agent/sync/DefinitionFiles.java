package io.virtfleet.agent.sync;

import io.virtfleet.common.validation.Names;
import java.util.Optional;

/**
 * Which files of the definitions repository are libvirt definitions: exactly {@code etc/libvirt/qemu/<vm>.xml}
 * with {@code <vm>} a valid VM name (the runbook's layout, which the controller keeps). Anything else in that
 * directory (a subdirectory, a name with a space, "..", another extension) is not a definition, whatever the
 * repository holds, so no later step can be led to define it or to a path outside the clone.
 */
final class DefinitionFiles {
    /** The directory of definitions, relative to the repository, '/'-separated. */
    static final String DIRECTORY = "etc/libvirt/qemu/";
    private static final String SUFFIX = ".xml";

    private DefinitionFiles() {}

    /** Whether a repository path lies under {@link #DIRECTORY}, definition or not. */
    static boolean inDirectory(String path) {
        return path.startsWith(DIRECTORY);
    }

    /** The VM a repository path defines, if it is a definition's path. */
    static Optional<String> vmName(String path) {
        if (!inDirectory(path) || !path.endsWith(SUFFIX)) {
            return Optional.empty();
        }
        String name = path.substring(DIRECTORY.length(), path.length() - SUFFIX.length());
        return Names.isDnsLabel(name) ? Optional.of(name) : Optional.empty();
    }

    /** The repository path of a VM's definition. */
    static String pathOf(String vm) {
        return DIRECTORY + Names.vmName("vm", vm) + SUFFIX;
    }
}
