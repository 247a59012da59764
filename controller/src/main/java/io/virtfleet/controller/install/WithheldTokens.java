package io.virtfleet.controller.install;

import io.virtfleet.common.files.StateFiles;
import io.virtfleet.common.validation.Names;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The live tokens of direct kernel boot installs, kept by the controller alone: the VM's committed definition
 * carries a placeholder instead ({@link io.virtfleet.common.install.InstallToken}), and the home host is sent the
 * token at each define, also after a controller restart. One file per VM in an owner-only directory, removed when
 * the install ends.
 */
public final class WithheldTokens {
    private final Path directory;
    private final Map<String, String> tokens = new ConcurrentHashMap<>();

    private WithheldTokens(Path directory) {
        this.directory = directory;
    }

    public static WithheldTokens open(Path directory) throws IOException {
        StateFiles.createPrivateDirectory(directory);
        WithheldTokens withheld = new WithheldTokens(directory);
        try (var files = Files.list(directory)) {
            for (Path f : (Iterable<Path>) files::iterator) {
                String vm = f.getFileName().toString();
                if (Names.isDnsLabel(vm)) { // not a temporary file a crash left
                    withheld.tokens.put(vm, Files.readString(f, StandardCharsets.US_ASCII).strip());
                }
            }
        }
        return withheld;
    }

    void keep(String vm, String token) throws IOException {
        StateFiles.writePrivate(directory.resolve(vm), token + "\n");
        tokens.put(vm, token);
    }

    Optional<String> get(String vm) {
        return Optional.ofNullable(tokens.get(vm));
    }

    void drop(String vm) throws IOException {
        StateFiles.delete(directory.resolve(vm)); // first: a token still on the disk must still be in memory
        tokens.remove(vm);
    }
}
