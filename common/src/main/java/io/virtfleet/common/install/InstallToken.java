package io.virtfleet.common.install;

import io.virtfleet.common.validation.InvalidInputException;
import java.util.regex.Pattern;

/**
 * A direct kernel boot install's token is withheld from the VM's definition in the definitions repository, which
 * every host and operator can fetch: the committed kernel command line carries {@link #PLACEHOLDER} where the token
 * goes, and only the VM's home host is sent the token, apart, with DefineDomain. The home host puts it in before
 * defining the domain, and fingerprints the definition as sent, so the fingerprints still match the repository's.
 */
public final class InstallToken {
    /** Where the token goes in a committed definition: URL-, XML- and command-line-safe, and never a token itself. */
    public static final String PLACEHOLDER = "WITHHELD-INSTALL-TOKEN";
    /** base64url of 32 bytes, unpadded. */
    private static final Pattern TOKEN = Pattern.compile("[A-Za-z0-9_-]{43}");

    private InstallToken() {}

    /**
     * The definition with the token in place of the placeholder; unchanged when {@code token} is empty.
     *
     * @throws InvalidInputException when the token is not one (its value is not repeated: it is a secret)
     */
    public static String fill(String definition, String token) {
        if (token.isEmpty()) {
            return definition;
        }
        if (!TOKEN.matcher(token).matches()) {
            throw new InvalidInputException("install_token", "(" + token.length() + " characters, withheld)",
                    "43 base64url characters (a live install's token), or empty");
        }
        return definition.replace(PLACEHOLDER, token);
    }
}
