package io.virtfleet.controller.install;

import io.virtfleet.common.validation.InvalidInputException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * The operators' SSH public keys ({@code install-ssh-keys}), which every VM's user gets in its
 * authorized_keys. One key per line as {@code ssh-keygen} writes it: type, base64 key, optional comment;
 * blank lines and {@code #} comments are skipped. Each key goes into the installer's late command, so it is
 * checked, not trusted: a known type, a body that decodes and names that same type, and a comment of plain
 * characters. Lines with authorized_keys options ({@code from=...}, {@code command=...}) are refused rather
 * than parsed.
 */
public final class AuthorizedKeys {
    private static final Set<String> TYPES = Set.of("ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256",
            "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521", "sk-ssh-ed25519@openssh.com",
            "sk-ecdsa-sha2-nistp256@openssh.com");
    private static final Pattern BASE64 = Pattern.compile("[A-Za-z0-9+/]+={0,2}");
    private static final Pattern COMMENT = Pattern.compile("[A-Za-z0-9 @._+=:,-]{0,200}");
    private static final String ACCEPTED = "an SSH public key as ssh-keygen writes it: a type (ssh-ed25519,"
            + " ssh-rsa, ecdsa-sha2-nistp256/384/521 or their sk- variants), its base64 body and an optional comment"
            + " of letters, digits, blanks and @ . _ + = : , - (no authorized_keys options)";
    private static final long MAX_BYTES = 256 * 1024;

    private AuthorizedKeys() {}

    /** The keys of the file, each as {@code type base64 [comment]}; at least one. */
    public static List<String> read(Path file) {
        String text;
        try {
            if (Files.size(file) > MAX_BYTES) {
                throw new InvalidInputException("install-ssh-keys", file.toString(), "a file of at most 256 KiB");
            }
            text = StandardCharsets.UTF_8.newDecoder().decode(ByteBuffer.wrap(Files.readAllBytes(file))).toString();
        } catch (CharacterCodingException e) {
            throw new InvalidInputException("install-ssh-keys", file.toString(), "a text file of SSH public keys");
        } catch (IOException e) {
            throw new InvalidInputException("install-ssh-keys", file.toString(), "a readable file of the operators'"
                    + " SSH public keys, one per line (" + e + ")");
        }
        List<String> keys = parse(file.toString(), text);
        if (keys.isEmpty()) {
            throw new InvalidInputException("install-ssh-keys", file.toString(), "at least one SSH public key:"
                    + " password logins are off, so a VM without a key could not be reached");
        }
        return keys;
    }

    /** The keys of a text; {@code source} names it in errors. */
    static List<String> parse(String source, String text) {
        List<String> keys = new ArrayList<>();
        String[] lines = text.split("\n", -1);
        for (int i = 0; i < lines.length; i++) {
            String line = lines[i].endsWith("\r") ? lines[i].substring(0, lines[i].length() - 1) : lines[i];
            String trimmed = line.strip();
            if (trimmed.isEmpty() || trimmed.startsWith("#")) {
                continue;
            }
            keys.add(key(source + " line " + (i + 1), trimmed));
        }
        return List.copyOf(keys);
    }

    private static String key(String where, String line) {
        String[] parts = line.split(" ", 3);
        if (parts.length < 2 || !TYPES.contains(parts[0]) || !BASE64.matcher(parts[1]).matches()) {
            throw new InvalidInputException(where, line, ACCEPTED);
        }
        String comment = parts.length == 3 ? parts[2].strip() : "";
        if (!COMMENT.matcher(comment).matches()) {
            throw new InvalidInputException(where, line, ACCEPTED);
        }
        byte[] blob;
        try {
            blob = Base64.getDecoder().decode(parts[1]);
        } catch (IllegalArgumentException e) {
            throw new InvalidInputException(where, line, ACCEPTED);
        }
        // The key's wire form starts with its own type name (RFC 4253 section 6.6): a pasted-together or
        // truncated line fails here instead of in sshd on the VM.
        if (!parts[0].equals(typeInside(blob))) {
            throw new InvalidInputException(where, line, "a key whose base64 body is of the type the line names ("
                    + parts[0] + ")");
        }
        return comment.isEmpty() ? parts[0] + " " + parts[1] : parts[0] + " " + parts[1] + " " + comment;
    }

    private static String typeInside(byte[] blob) {
        if (blob.length < 4) {
            return "";
        }
        int length = ByteBuffer.wrap(blob, 0, 4).getInt();
        if (length <= 0 || length > 64 || blob.length < 4 + length) {
            return "";
        }
        return new String(blob, 4, length, StandardCharsets.US_ASCII);
    }
}
