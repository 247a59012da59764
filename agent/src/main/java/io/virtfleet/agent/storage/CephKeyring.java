package io.virtfleet.agent.storage;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Base64;
import java.util.List;

/** Reads one cephx user's key from a Ceph keyring file ({@code [client.NAME]} section, {@code key = ...} line). */
final class CephKeyring {
    private CephKeyring() {}

    /** The key of {@code client.<client>} as written in the keyring (base64, as libvirt takes it). */
    static String key(Path keyring, String client) {
        List<String> lines;
        try {
            lines = Files.readAllLines(keyring, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw StorageException.wrongState("ceph-keyring " + keyring + " cannot be read (" + e + "): put the key of "
                    + "client." + client + " there (ceph auth get client." + client + " -o " + keyring
                    + ") or set ceph-keyring");
        }
        String section = "[client." + client + "]";
        boolean inSection = false;
        for (String raw : lines) {
            String line = raw.strip();
            if (line.startsWith("[")) {
                inSection = line.equals(section);
            } else if (inSection) {
                int eq = line.indexOf('=');
                if (eq > 0 && line.substring(0, eq).strip().equals("key")) {
                    return checked(keyring, client, line.substring(eq + 1).strip());
                }
            }
        }
        throw StorageException.wrongState("ceph-keyring " + keyring + " has no key for client." + client
                + " (expected a " + section + " section with a 'key = ...' line): fix the file, or set ceph-client "
                + "to the user it is for");
    }

    private static String checked(Path keyring, String client, String key) {
        try {
            byte[] secret = Base64.getDecoder().decode(key);
            if (secret.length > 0) {
                return key;
            }
        } catch (IllegalArgumentException e) {
            // reported below, without the key itself: it is a secret
        }
        throw StorageException.wrongState("ceph-keyring " + keyring + ": the key of client." + client
                + " is not base64 as Ceph writes it; copy it again from 'ceph auth get client." + client + "'");
    }
}
