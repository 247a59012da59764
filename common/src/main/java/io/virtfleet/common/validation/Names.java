package io.virtfleet.common.validation;

import java.util.regex.Pattern;

/**
 * Names that end up in hostnames, libvirt domain names, disk image names and file names. The rule is
 * the runbook's (ASCII, no spaces) tightened to a DNS label, so a VM name is always a valid hostname
 * and can never contain a path separator or a shell metacharacter.
 */
public final class Names {
    private static final Pattern DNS_LABEL = Pattern.compile("[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?");
    private static final String DNS_LABEL_RULE =
            "1-63 characters of a-z, 0-9 and '-', starting and ending with a letter or digit";

    private Names() {}

    /** Returns the host name when it is a valid DNS label, otherwise throws naming the field. */
    public static String hostName(String field, String value) {
        return dnsLabel(field, value);
    }

    /** Returns the VM name when it is a valid DNS label, otherwise throws naming the field. */
    public static String vmName(String field, String value) {
        return dnsLabel(field, value);
    }

    /**
     * Returns the install profile's name when it is a valid DNS label ("base", "ui-test"), otherwise
     * throws naming the field. Whether such a profile exists is for the caller to check.
     */
    public static String profileName(String field, String value) {
        return dnsLabel(field, value);
    }

    public static boolean isDnsLabel(String value) {
        return value != null && DNS_LABEL.matcher(value).matches();
    }

    private static String dnsLabel(String field, String value) {
        if (!isDnsLabel(value)) {
            throw new InvalidInputException(field, value, DNS_LABEL_RULE);
        }
        return value;
    }
}
