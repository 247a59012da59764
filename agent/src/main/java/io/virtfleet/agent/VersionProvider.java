package io.virtfleet.agent;

import io.virtfleet.common.Version;
import picocli.CommandLine.IVersionProvider;

final class VersionProvider implements IVersionProvider {
    @Override
    public String[] getVersion() {
        return new String[] {"virtfleet " + Version.current()};
    }
}
