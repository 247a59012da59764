package io.virtfleet.controller.install;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.virtfleet.common.process.Command;
import io.virtfleet.common.process.CommandException;
import io.virtfleet.controller.embedded.EmbeddedFleet;
import io.virtfleet.proto.v1.FailoverIp;
import io.virtfleet.proto.v1.NetworkSpec;
import io.virtfleet.proto.v1.StorageTier;
import io.virtfleet.proto.v1.VmSpec;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** What the install tests share: VM specs, SSH keys, URLs, and the real debconf checking a preseed. */
final class Installer {
    static final Path SHIPPED = EmbeddedFleet.shippedProfiles();

    private Installer() {}

    static VmSpec lanVm(String name, String profile) {
        return VmSpec.newBuilder().setName(name).setStorage(StorageTier.STORAGE_TIER_RAW).setDiskBytes(20L << 30)
                .setMemoryBytes(2L << 30).setVcpus(2).setNetwork(NetworkSpec.newBuilder().setLan(10))
                .setProfile(profile).build();
    }

    static VmSpec failoverVm(String name, String profile, String address) {
        return lanVm(name, profile).toBuilder().setNetwork(NetworkSpec.newBuilder().setFailover(
                FailoverIp.newBuilder().setAddress(address).setMac("02:00:00:ab:cd:ef"))).build();
    }

    /** An ed25519 public key line in ssh-keygen's format, its 32 key bytes all {@code fill}. */
    static String ed25519(int fill, String comment) {
        byte[] type = "ssh-ed25519".getBytes(StandardCharsets.US_ASCII);
        ByteBuffer blob = ByteBuffer.allocate(4 + type.length + 4 + 32);
        blob.putInt(type.length).put(type).putInt(32);
        for (int i = 0; i < 32; i++) {
            blob.put((byte) fill);
        }
        return "ssh-ed25519 " + Base64.getEncoder().encodeToString(blob.array()) + (comment.isEmpty() ? "" : " " + comment);
    }

    static Path keyFile(Path dir, String... lines) throws IOException {
        Path file = dir.resolve("authorized_keys");
        Files.writeString(file, String.join("\n", lines) + "\n");
        return file;
    }

    /** URLs as the controller will build them: one per profile and a callback, all under the VM's token. */
    static InstallUrls urls(String vm, String... profiles) {
        Map<String, String> scripts = new LinkedHashMap<>();
        for (String p : profiles) {
            scripts.put(p, "http://10.0.0.1:7444/install/" + vm + "/t0k3n/profiles/" + p + "/post-install.sh");
        }
        return new InstallUrls(scripts, "http://10.0.0.1:7444/install/" + vm + "/t0k3n/done?result=ok");
    }

    static InstallSettings settings(Path profiles, Path keys) {
        return new InstallSettings(profiles, "vms.example.net", "deb.debian.org", "/debian", "", "debian", keys,
                List.of("213.186.33.99"));
    }

    /** The value of one answer of a rendered preseed; fails when the question is not answered exactly once. */
    static String answer(String preseed, String question) {
        Matcher m = Pattern.compile("(?m)^\\S+ " + Pattern.quote(question) + " \\S+(?: (.*))?$").matcher(preseed);
        assertTrue(m.find(), question + " answered in\n" + preseed);
        String value = m.group(1) == null ? "" : m.group(1);
        assertTrue(!m.find(), question + " answered once in\n" + preseed);
        return value;
    }

    /**
     * Runs the real {@code debconf-set-selections --checkonly} on a preseed and insists on a clean pass: exit 0
     * and nothing on standard error (it only warns about an unknown type, and skips the line).
     */
    static void assertDebconfAccepts(String preseed, Path dir) throws IOException {
        Path file = Files.createTempFile(dir, "preseed", ".cfg");
        Files.writeString(file, preseed);
        Command.Result r = debconf(file);
        assertEquals(0, r.exitCode(), "debconf-set-selections --checkonly refused it: " + r.stderr() + "\n" + preseed);
        assertEquals("", r.stderr().strip(), "debconf-set-selections --checkonly warned:\n" + preseed);
    }

    static Command.Result debconf(Path file) {
        try {
            return Command.of("debconf-set-selections", "--checkonly", file.toString()).run();
        } catch (CommandException e) {
            return fail("debconf-set-selections (Debian package debconf) is needed to check preseeds:"
                    + " apt-get install debconf (" + e.getMessage() + ")");
        }
    }
}
