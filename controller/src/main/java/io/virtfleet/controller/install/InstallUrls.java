package io.virtfleet.controller.install;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Where one VM's installer fetches its post-install scripts and whom it tells it is done: built by the caller,
 * each URL carrying the VM's one-time token. Checked by {@link HttpUrls} on the way in.
 *
 * @param postInstallScripts profile name → URL of that profile's post-install.sh, for every profile the VM
 *                           is installed from (base and its own)
 * @param callback           fetched once everything succeeded, as the installer's last act
 */
public record InstallUrls(Map<String, String> postInstallScripts, String callback) {
    public InstallUrls {
        Map<String, String> checked = new LinkedHashMap<>();
        postInstallScripts.forEach((profile, url) ->
                checked.put(profile, HttpUrls.check("post-install URL of profile " + profile, url)));
        postInstallScripts = Map.copyOf(checked);
        HttpUrls.check("callback URL", callback);
    }
}
