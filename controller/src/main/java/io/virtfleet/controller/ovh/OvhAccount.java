package io.virtfleet.controller.ovh;

import io.virtfleet.common.config.ConfigException;
import io.virtfleet.common.config.ConfigFile;
import java.io.IOException;
import java.net.URI;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.EnumSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * The OVH account the controller acts as: the API's endpoint and the three keys OVH hands out (application key and
 * secret, and the consumer key that carries the rights granted to the application), read from {@code ovh.conf}
 * (usually {@code /etc/virtfleet/ovh.conf}). The file uses the controller's own format ({@code key = value},
 * {@code #} comments) with the keys {@code endpoint}, {@code application-key}, {@code application-secret} and
 * {@code consumer-key}.
 *
 * <p>The secret and the consumer key let whoever holds them move the account's IPs, so the file must be readable by
 * its owner only, and the endpoint must be HTTPS. Plain HTTP is accepted to a loopback address only: that is where
 * a local fake of OVH's API listens in tests and development, and no request ever leaves the machine there.
 */
public final class OvhAccount {
    /** OVH's regional API endpoints, by the names OVH's own clients give them. */
    static final Map<String, String> ENDPOINTS = Map.of(
            "ovh-eu", "https://eu.api.ovh.com/1.0",
            "ovh-ca", "https://ca.api.ovh.com/1.0",
            "ovh-us", "https://api.us.ovhcloud.com/1.0");
    static final String DEFAULT_ENDPOINT = ENDPOINTS.get("ovh-eu");
    private static final List<String> KEYS = List.of("endpoint", "application-key", "application-secret", "consumer-key");
    /** OVH's keys are letters and digits; anything else (a quote, a space) is a copy-paste accident. */
    private static final Pattern KEY_TEXT = Pattern.compile("[A-Za-z0-9]{1,128}");
    /** A line the controller's configuration format accepts: a lowercase key, '=', a value. */
    private static final Pattern LINE = Pattern.compile("[a-z][a-z0-9-]*\\s*=\\s*\\S.*");
    private static final Set<PosixFilePermission> NOT_OWNER = EnumSet.of(PosixFilePermission.GROUP_READ,
            PosixFilePermission.GROUP_WRITE, PosixFilePermission.GROUP_EXECUTE, PosixFilePermission.OTHERS_READ,
            PosixFilePermission.OTHERS_WRITE, PosixFilePermission.OTHERS_EXECUTE);

    private final URI endpoint;
    private final String applicationKey;
    private final String applicationSecret;
    private final String consumerKey;

    public OvhAccount(URI endpoint, String applicationKey, String applicationSecret, String consumerKey) {
        this.endpoint = endpoint;
        this.applicationKey = applicationKey;
        this.applicationSecret = applicationSecret;
        this.consumerKey = consumerKey;
    }

    /**
     * Reads and checks the file.
     *
     * @throws ConfigException naming the file (and the line and key, where there is one) when it is missing, readable
     *                         by group or others, lacks a key, has an unknown one, or names an endpoint that is not
     *                         HTTPS (or HTTP to a loopback address)
     */
    public static OvhAccount load(Path file) {
        // The mode first, and the lines checked here before the generic parser, whose errors quote the line: no line
        // of this file, which holds secrets, ever reaches an error message or the journal.
        try {
            Set<PosixFilePermission> mode = Files.getPosixFilePermissions(file);
            if (mode.stream().anyMatch(NOT_OWNER::contains)) {
                throw new ConfigException(file, "readable by others than its owner (mode " + PosixFilePermissions.toString(mode)
                        + "); it holds the OVH API's secret and consumer key: chmod 600 " + file);
            }
            List<String> lines = Files.readAllLines(file);
            for (int i = 0; i < lines.size(); i++) {
                String line = lines.get(i).strip();
                if (!line.isEmpty() && !line.startsWith("#") && !LINE.matcher(line).matches()) {
                    throw new ConfigException(file, i + 1, null, "expected 'key = value' with a key of "
                            + String.join(", ", KEYS) + " (OVH's own format, such as application_secret=, is not this"
                            + " file's); the line is not shown, as it may hold a secret");
                }
            }
        } catch (NoSuchFileException e) {
            throw new ConfigException(file, "no such file");
        } catch (IOException e) {
            throw new ConfigException(file, "cannot read: " + e.getMessage());
        }
        ConfigFile config;
        try {
            config = ConfigFile.load(file);
        } catch (ConfigException e) {
            // ConfigFile's messages may quote a line (one this file's own check let through, e.g. with Unicode
            // spaces): never a line of this file in an error.
            java.util.regex.Matcher at = Pattern.compile(Pattern.quote(file.toString()) + ":(\\d+)")
                    .matcher(String.valueOf(e.getMessage()));
            String where = at.lookingAt() ? "line " + at.group(1) + " is" : "a line is";
            throw new ConfigException(file, where + " not in the 'key = value' format, or a key appears twice (the"
                    + " line is not shown, as it may hold a secret)");
        }
        for (ConfigFile.Entry e : config.entries().values()) {
            if (!KEYS.contains(e.key())) {
                throw new ConfigException(file, e.line(), e.key(), "unknown key; accepted keys: " + String.join(", ", KEYS));
            }
        }
        String[] keys = new String[3];
        for (int i = 0; i < 3; i++) {
            String key = KEYS.get(i + 1);
            ConfigFile.Entry entry = config.get(key).orElseThrow(() -> new ConfigException(file, "missing key '" + key
                    + "' (the OVH API's application key, application secret and consumer key are all needed; see"
                    + " the comments of the shipped ovh.conf for how to create them)"));
            if (!KEY_TEXT.matcher(entry.value()).matches()) {
                throw new ConfigException(file, entry.line(), key, "expected letters and digits only, as OVH issues it");
            }
            keys[i] = entry.value();
        }
        URI endpoint = config.get("endpoint").map(e -> endpoint(file, e)).orElse(URI.create(DEFAULT_ENDPOINT));
        return new OvhAccount(endpoint, keys[0], keys[1], keys[2]);
    }

    /** An alias (ovh-eu, ovh-ca, ovh-us) or a URL: https, or http to a loopback address (a local fake of OVH). */
    static URI endpoint(Path file, ConfigFile.Entry entry) {
        String text = ENDPOINTS.getOrDefault(entry.value(), entry.value());
        String accepted = "ovh-eu, ovh-ca, ovh-us or an https:// URL such as " + DEFAULT_ENDPOINT + " (http:// only to"
                + " a loopback address, for a local fake of OVH's API)";
        URI uri;
        try {
            uri = new URI(text.endsWith("/") ? text.substring(0, text.length() - 1) : text);
        } catch (URISyntaxException e) {
            throw new ConfigException(file, entry.line(), entry.key(), "not a URL; expected " + accepted);
        }
        String scheme = uri.getScheme() == null ? "" : uri.getScheme().toLowerCase(Locale.ROOT);
        boolean ok = uri.getHost() != null && uri.getRawQuery() == null && uri.getRawFragment() == null
                && uri.getRawUserInfo() == null
                && (scheme.equals("https") || (scheme.equals("http") && loopback(uri.getHost())));
        if (!ok) {
            throw new ConfigException(file, entry.line(), entry.key(), entry.value() + " is not accepted; expected " + accepted);
        }
        return uri;
    }

    /** A loopback host by its text alone (no name lookup): localhost, 127.x.x.x or [::1]. */
    private static boolean loopback(String host) {
        return host.equals("localhost") || host.equals("[::1]") || host.matches("127(\\.(25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9])){3}");
    }

    /** The API's base URL, without a trailing slash, e.g. {@code https://eu.api.ovh.com/1.0}. */
    public URI endpoint() {
        return endpoint;
    }

    String applicationKey() {
        return applicationKey;
    }

    String applicationSecret() {
        return applicationSecret;
    }

    String consumerKey() {
        return consumerKey;
    }

    /** The endpoint and the application key only: the secrets never reach a log. */
    @Override
    public String toString() {
        return "OVH API " + endpoint + " (application " + applicationKey + ")";
    }
}
