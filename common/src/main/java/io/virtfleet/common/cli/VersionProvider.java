package io.virtfleet.common.cli;

import io.virtfleet.common.Version;
import picocli.CommandLine.IVersionProvider;

/** {@code --version} of every virtfleet program. */
public final class VersionProvider implements IVersionProvider {
    @Override
    public String[] getVersion() {
        return new String[] {"virtfleet " + Version.current()};
    }
}
