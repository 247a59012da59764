package io.virtfleet.controller.install;

import io.grpc.Status;
import io.virtfleet.common.validation.Escape;
import io.virtfleet.common.validation.InvalidInputException;
import io.virtfleet.common.validation.Names;
import java.io.IOException;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The install profiles in the controller's profiles directory ({@code profiles-dir}): each is a directory
 * named after the profile holding {@code preseed.cfg} and {@code post-install.sh}. The directory is read
 * again on every call, so an operator adds a profile by adding a directory, without a restart; anything else
 * in it is ignored, with a warning logged once.
 *
 * <p>Every profile builds on {@value #BASE}: its preseed answers come after base's, and its post-install
 * script runs after base's ({@link #chain}).
 */
public final class ProfileCatalog {
    public static final String BASE = "base";
    static final String PRESEED = "preseed.cfg";
    static final String POST_INSTALL = "post-install.sh";
    /** Far above any real fragment or script; keeps a stray file from being read into memory. */
    private static final long MAX_FILE_BYTES = 1 << 20;
    private static final int MAX_DESCRIPTION = 200;
    private static final Logger log = LoggerFactory.getLogger(ProfileCatalog.class);

    /** What one reading of the directory found: usable profiles, and why the other entries were ignored (by name). */
    public record Contents(List<Profile> profiles, Map<String, String> ignored) {
        public Contents {
            profiles = List.copyOf(profiles);
            ignored = java.util.Collections.unmodifiableMap(new TreeMap<>(ignored)); // by name, as listed
        }

        public List<String> names() {
            return profiles.stream().map(Profile::name).toList();
        }
    }

    private final Path directory;
    /** Entry and reason already warned about, so a directory read on every call logs each problem once. */
    private final Set<String> warned = ConcurrentHashMap.newKeySet();

    public ProfileCatalog(Path directory) {
        this.directory = directory;
    }

    public Path directory() {
        return directory;
    }

    /** Reads the directory: the usable profiles by name, and each ignored entry with its reason. */
    public Contents read() {
        List<Profile> profiles = new ArrayList<>();
        Map<String, String> ignored = new TreeMap<>();
        try (DirectoryStream<Path> entries = Files.newDirectoryStream(directory)) {
            for (Path entry : entries) {
                String name = entry.getFileName().toString();
                try {
                    profiles.add(load(name, entry));
                } catch (InvalidInputException e) {
                    ignored.put(name, e.getMessage());
                    warnOnce(name, e.getMessage());
                }
            }
        } catch (NoSuchFileException e) {
            warnOnce("", "profiles directory " + directory + " does not exist: no VM can be created until it"
                    + " holds profiles (deploy/profiles has the shipped ones)");
        } catch (IOException e) {
            warnOnce("", "cannot read the profiles directory " + directory + ": " + e.getMessage());
        }
        profiles.sort(Comparator.comparing(Profile::name));
        return new Contents(profiles, ignored);
    }

    /**
     * The profile of that name. Otherwise throws {@link InvalidInputException} naming {@code field} and listing
     * the profiles there are, with the reason when a directory of that name exists but is not usable.
     */
    public Profile require(String field, String name) {
        Names.profileName(field, name); // before any path is built from it: no '..', no '/'
        Contents contents = read();
        for (Profile p : contents.profiles()) {
            if (p.name().equals(name)) {
                return p;
            }
        }
        String known = contents.profiles().isEmpty() ? "(none in " + directory + ")" : String.join(", ", contents.names());
        String why = contents.ignored().containsKey(name) ? "; " + directory.resolve(name) + " is not usable: "
                + contents.ignored().get(name) : "";
        throw new InvalidInputException(field, name, "one of the controller's profiles: " + known + why);
    }

    /**
     * The profiles a VM of profile {@code name} is installed from, in order: base, then the profile itself
     * (just base for base). Refuses an unknown profile as {@link #require} does, and a profile while base is
     * missing (FAILED_PRECONDITION: the controller's setup, not the request, is wrong).
     */
    public List<Profile> chain(String field, String name) {
        Profile profile = require(field, name);
        if (name.equals(BASE)) {
            return List.of(profile);
        }
        Profile base;
        try {
            base = require(field, BASE);
        } catch (InvalidInputException e) {
            throw Status.FAILED_PRECONDITION.withDescription("profile " + name + " builds on profile " + BASE
                    + ", which is missing from " + directory + ": " + e.getMessage()).asRuntimeException();
        }
        return List.of(base, profile);
    }

    private Profile load(String name, Path dir) {
        if (!Names.isDnsLabel(name)) {
            throw new InvalidInputException("profile", name, "a directory named as a profile: 1-63 characters of"
                    + " a-z, 0-9 and '-', starting and ending with a letter or digit");
        }
        if (!Files.isDirectory(dir)) {
            throw new InvalidInputException("profile " + name, dir.toString(), "a directory holding " + PRESEED
                    + " and " + POST_INSTALL);
        }
        Path preseed = dir.resolve(PRESEED);
        Path script = dir.resolve(POST_INSTALL);
        List<Answer> answers = PreseedFragment.parse(name + "/" + PRESEED, text(name, preseed));
        String description = description(text(name, script));
        return new Profile(name, description, answers, script);
    }

    private static String text(String profile, Path file) {
        String field = profile + "/" + file.getFileName();
        try {
            if (!Files.isRegularFile(file)) {
                throw new InvalidInputException(field, file.toString(), "a regular file (each profile directory"
                        + " holds " + PRESEED + " and " + POST_INSTALL + "; " + (Files.exists(file) ? "this is not a file"
                        : "there is none") + ")");
            }
            if (Files.size(file) > MAX_FILE_BYTES) {
                throw new InvalidInputException(field, file.toString(), "a file of at most 1 MiB");
            }
            return StandardCharsets.UTF_8.newDecoder().decode(java.nio.ByteBuffer.wrap(Files.readAllBytes(file)))
                    .toString();
        } catch (CharacterCodingException e) {
            throw new InvalidInputException(field, file.toString(), "UTF-8 text");
        } catch (IOException e) {
            throw new InvalidInputException(field, file.toString(), "a readable file (" + e.getMessage() + ")");
        }
    }

    /** The script's first comment line after the #! line, shown by {@code virtfleet profiles}. */
    static String description(String script) {
        for (String line : script.split("\n")) {
            String s = line.strip();
            if (s.startsWith("#!") || s.isEmpty()) {
                continue;
            }
            if (!s.startsWith("#")) {
                break;
            }
            String text = s.replaceFirst("^#+\\s*", "");
            if (!text.isEmpty()) {
                // Shown in a terminal: nothing that could move the cursor or change colours.
                String printable = text.codePoints().filter(c -> c >= 0x20 && c != 0x7f && !(c >= 0x80 && c < 0xa0))
                        .collect(StringBuilder::new, StringBuilder::appendCodePoint, StringBuilder::append).toString();
                return printable.length() > MAX_DESCRIPTION ? printable.substring(0, MAX_DESCRIPTION) : printable;
            }
        }
        return "";
    }

    private void warnOnce(String entry, String reason) {
        if (warned.add(entry + "\n" + reason)) {
            if (entry.isEmpty()) {
                log.warn("{}", reason);
            } else {
                log.warn("ignoring {} in the profiles directory {}: {}", Escape.quoted(entry), directory, reason);
            }
        }
    }
}
