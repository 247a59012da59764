package io.virtfleet.controller.install;

import io.virtfleet.common.validation.InvalidInputException;
import java.util.regex.Pattern;

/**
 * URLs handed to the installer (the post-install scripts, the callback, the mirror's proxy). They end up in
 * a preseed file and, quoted, in the installer's late command, so only a plain subset is accepted: http or
 * https, a host name or IPv4 address, an optional port, and a path and query of unreserved characters,
 * {@code / ? = & %} and {@code + :}. No quote, blank, backslash, {@code $}, backquote, {@code ;} or
 * {@code |}: nothing a shell or a preseed line could read differently, whatever the quoting. No user name or
 * password either: the preseed is served over plain HTTP.
 */
public final class HttpUrls {
    private static final String LABEL = "[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?";
    private static final Pattern URL = Pattern.compile("https?://(" + LABEL + "(\\." + LABEL + ")*)"
            + "(:[0-9]{1,5})?(/[A-Za-z0-9._~%/?=&+:-]*)?");
    private static final String ACCEPTED = "an http:// or https:// URL with a host name or IPv4 address, an"
            + " optional port and a path of letters, digits and . _ ~ % / ? = & + : - (no quotes, blanks,"
            + " credentials or shell characters), e.g. http://10.0.0.1:7444/install/vm1/post-install";
    private static final int MAX_LENGTH = 2_000;

    private HttpUrls() {}

    /** Returns the URL when it is accepted, otherwise throws naming the field. */
    public static String check(String field, String url) {
        if (url == null || url.length() > MAX_LENGTH || !URL.matcher(url).matches()) {
            throw new InvalidInputException(field, url, ACCEPTED);
        }
        int at = url.indexOf("://") + 3;
        int end = url.indexOf('/', at);
        String authority = end < 0 ? url.substring(at) : url.substring(at, end);
        int colon = authority.indexOf(':');
        if (colon >= 0) {
            int port = Integer.parseInt(authority.substring(colon + 1));
            if (port < 1 || port > 65_535) {
                throw new InvalidInputException(field, url, "a port of 1 to 65535");
            }
        }
        return url;
    }
}
