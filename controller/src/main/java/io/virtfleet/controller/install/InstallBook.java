package io.virtfleet.controller.install;

import io.virtfleet.common.files.StateFiles;
import io.virtfleet.common.validation.Names;
import java.io.IOException;
import java.io.StringReader;
import java.io.StringWriter;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.SecureRandom;
import java.util.Base64;
import java.util.HexFormat;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.LongSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The VMs' installs, one small file each under the controller's data directory ({@code installs/<vm>}), written
 * atomically and read back at start. Not in the definitions repository: every hypervisor clones that one, and a
 * token's hash and the installer's fetch times are neither desired state nor anything a host needs.
 *
 * <p>A token is 256 random bits, handed out once (in the VM's boot config and URLs) and kept only as its SHA-256;
 * it is good while the install runs (the installer retries fetches) and dead after the done callback.
 */
public final class InstallBook {
    private static final Logger log = LoggerFactory.getLogger(InstallBook.class);
    private static final SecureRandom RANDOM = new SecureRandom();
    /** base64url of 32 bytes, unpadded: what a token looks like; anything else is refused before hashing. */
    private static final java.util.regex.Pattern TOKEN = java.util.regex.Pattern.compile("[A-Za-z0-9_-]{43}");

    private final Path directory;
    private final LongSupplier clock;
    private final Map<String, InstallState> installs = new ConcurrentHashMap<>();

    public InstallBook(Path directory, LongSupplier clockMs) throws IOException {
        StateFiles.createDirectories(directory);
        this.directory = directory;
        this.clock = clockMs;
        try (var files = Files.list(directory)) {
            for (Path f : (Iterable<Path>) files::iterator) {
                String name = f.getFileName().toString();
                if (!Names.isDnsLabel(name)) {
                    continue; // a temporary file a crash left, or something put there by hand
                }
                try {
                    installs.put(name, read(name, Files.readString(f)));
                } catch (RuntimeException e) {
                    log.error("ignoring the install state {}: {}", f, e.getMessage());
                }
            }
        }
    }

    /** An armed install: its state and the token, which exists nowhere else once the caller used it. */
    public record Armed(InstallState state, String token) {}

    /** Starts a new install of the VM from the profile: a new token, the old one (if any) dead. */
    public synchronized Armed arm(String vm, String profile) {
        byte[] raw = new byte[32];
        RANDOM.nextBytes(raw);
        String token = Base64.getUrlEncoder().withoutPadding().encodeToString(raw);
        InstallState state = new InstallState(vm, profile, sha256(token), InstallPhase.WAITING, clock.getAsLong(), 0, 0);
        write(state);
        return new Armed(state, token);
    }

    /** The VM's install if {@code token} is its live token (the install not done yet); empty otherwise. */
    public Optional<InstallState> live(String vm, String token) {
        InstallState s = installs.get(vm);
        if (s == null || s.phase() == InstallPhase.INSTALLED || token == null || !TOKEN.matcher(token).matches()) {
            return Optional.empty();
        }
        boolean same = MessageDigest.isEqual(s.tokenSha256().getBytes(StandardCharsets.US_ASCII),
                sha256(token).getBytes(StandardCharsets.US_ASCII));
        return same ? Optional.of(s) : Optional.empty();
    }

    public Optional<InstallState> get(String vm) {
        return Optional.ofNullable(installs.get(vm));
    }

    /** Records the first preseed fetch of the install the token belongs to; later fetches change nothing. */
    public synchronized InstallState preseedFetched(InstallState of) {
        InstallState now = installs.get(of.vm());
        if (now == null || !now.tokenSha256().equals(of.tokenSha256()) || now.phase() != InstallPhase.WAITING) {
            return now == null ? of : now;
        }
        InstallState next = now.withPreseedFetched(clock.getAsLong());
        write(next);
        return next;
    }

    /**
     * Ends the install the token belongs to: its token dies. False when it had ended already (a second done, a
     * reinstall in between): the caller then does nothing.
     */
    public synchronized boolean installed(InstallState of) {
        InstallState now = installs.get(of.vm());
        if (now == null || !now.tokenSha256().equals(of.tokenSha256()) || now.phase() == InstallPhase.INSTALLED) {
            return false;
        }
        write(now.withInstalled(clock.getAsLong()));
        return true;
    }

    /** Forgets a deleted VM's install. */
    public synchronized void forget(String vm) {
        try {
            StateFiles.delete(directory.resolve(vm));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot remove the install state of " + vm, e);
        }
        installs.remove(vm);
    }

    static String sha256(String token) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256")
                    .digest(token.getBytes(StandardCharsets.US_ASCII)));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is missing from this JDK", e);
        }
    }

    private void write(InstallState s) {
        Properties p = new Properties();
        p.setProperty("profile", s.profile());
        p.setProperty("token-sha256", s.tokenSha256());
        p.setProperty("phase", s.phase().name());
        p.setProperty("armed-at-ms", Long.toString(s.armedAtMs()));
        p.setProperty("preseed-fetched-at-ms", Long.toString(s.preseedFetchedAt()));
        p.setProperty("installed-at-ms", Long.toString(s.installedAtMs()));
        StringWriter text = new StringWriter();
        try {
            p.store(text, "install of VM " + s.vm() + " (virtfleet controller)");
            StateFiles.write(directory.resolve(s.vm()), text.toString());
        } catch (IOException e) {
            throw new UncheckedIOException("cannot record the install state of " + s.vm(), e);
        }
        installs.put(s.vm(), s);
    }

    private static InstallState read(String vm, String text) {
        Properties p = new Properties();
        try {
            p.load(new StringReader(text));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        String hash = p.getProperty("token-sha256", "");
        if (!hash.matches("[0-9a-f]{64}")) {
            throw new IllegalArgumentException("token-sha256: expected 64 hex digits");
        }
        return new InstallState(vm, Names.profileName("profile", p.getProperty("profile", "")), hash,
                InstallPhase.valueOf(p.getProperty("phase", "")), Long.parseLong(p.getProperty("armed-at-ms", "0")),
                Long.parseLong(p.getProperty("preseed-fetched-at-ms", "0")),
                Long.parseLong(p.getProperty("installed-at-ms", "0")));
    }
}
