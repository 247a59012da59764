package io.virtfleet.controller.testkit;

import io.virtfleet.common.files.FileSync;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Path;

/** A disk that takes writes but can sync nothing (a failing or full device), for tests of what a store does then. */
public final class FailingSync implements FileSync {
    @Override
    public void force(FileChannel channel, Path file) throws IOException {
        throw new IOException("injected: cannot sync " + file);
    }

    @Override
    public void forceDirectory(Path directory) throws IOException {
        throw new IOException("injected: cannot sync " + directory);
    }
}
