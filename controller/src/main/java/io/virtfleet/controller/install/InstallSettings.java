package io.virtfleet.controller.install;

import io.virtfleet.common.validation.InvalidInputException;
import io.virtfleet.common.validation.Ipv4;
import java.nio.file.Path;
import java.util.List;
import java.util.regex.Pattern;

/**
 * How the controller has VMs install themselves: fleet-wide answers of every VM's preseed. Checked when
 * built, so a value that could break a preseed line or the late command never gets that far.
 *
 * @param profilesDirectory  where the install profiles live, one directory each
 * @param domain             DNS domain of the VMs (their FQDN is name.domain); empty for none
 * @param mirrorHost         Debian mirror, {@code host} or {@code host:port}
 * @param mirrorDirectory    the mirror's Debian directory, e.g. {@code /debian}
 * @param proxy              HTTP proxy for the installer's downloads (e.g. an apt-cacher-ng); empty for none
 * @param user               the operators' account on every VM: SSH keys only, sudo without password
 * @param authorizedKeysFile the operators' SSH public keys, read at each install
 * @param nameservers        DNS resolvers of VMs with a failover IP (LAN VMs get theirs from DHCP)
 */
public record InstallSettings(Path profilesDirectory, String domain, String mirrorHost, String mirrorDirectory,
                              String proxy, String user, Path authorizedKeysFile, List<String> nameservers) {
    /** OVH's resolver, reachable from every OVH server; the fleet's hypervisors are rented there. */
    public static final String OVH_RESOLVER = "213.186.33.99";
    private static final String LABEL = "[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?";
    private static final Pattern DOMAIN = Pattern.compile(LABEL + "(\\." + LABEL + ")*");
    private static final Pattern HOST_PORT = Pattern.compile("(" + LABEL + "(\\." + LABEL + ")*)(:[0-9]{1,5})?");
    private static final Pattern DIRECTORY = Pattern.compile("/([A-Za-z0-9._~-]+/?)*");
    private static final Pattern USER = Pattern.compile("[a-z][a-z0-9-]{0,31}");

    public InstallSettings {
        if (profilesDirectory == null) {
            throw new InvalidInputException("profiles-dir", null, "a directory");
        }
        if (!domain.isEmpty() && (domain.length() > 200 || !DOMAIN.matcher(domain).matches())) {
            throw new InvalidInputException("install-domain", domain, "a DNS domain of lowercase labels, e.g."
                    + " vms.example.net");
        }
        if (!HOST_PORT.matcher(mirrorHost).matches() || mirrorHost.length() > 200 || !portInRange(mirrorHost)) {
            throw new InvalidInputException("install-mirror", mirrorHost, "a mirror's host name or IPv4 address,"
                    + " optionally with :port (1-65535), e.g. deb.debian.org");
        }
        if (!DIRECTORY.matcher(mirrorDirectory).matches() || mirrorDirectory.contains("..")
                || mirrorDirectory.length() > 200) {
            throw new InvalidInputException("install-mirror-directory", mirrorDirectory, "an absolute path of letters,"
                    + " digits and . _ ~ - without '..', e.g. /debian");
        }
        if (!proxy.isEmpty()) {
            HttpUrls.check("install-proxy", proxy);
        }
        if (!USER.matcher(user).matches() || user.equals("root")) {
            throw new InvalidInputException("install-user", user, "a user name of 1-32 characters of a-z, 0-9 and"
                    + " '-', starting with a letter, other than root");
        }
        if (authorizedKeysFile == null) {
            throw new InvalidInputException("install-ssh-keys", null, "a file of SSH public keys");
        }
        if (nameservers.isEmpty() || nameservers.size() > 3) {
            throw new InvalidInputException("install-nameservers", String.join(",", nameservers),
                    "one to three IPv4 addresses (the installer takes at most three)");
        }
        for (String ns : nameservers) {
            Ipv4.unicastAddress("install-nameservers", ns);
        }
        nameservers = List.copyOf(nameservers);
    }

    public static InstallSettings defaults() {
        return new InstallSettings(Path.of("/etc/virtfleet/profiles"), "", "deb.debian.org", "/debian", "", "debian",
                Path.of("/etc/virtfleet/authorized_keys"), List.of(OVH_RESOLVER));
    }

    public InstallSettings withProfilesDirectory(Path dir) {
        return new InstallSettings(dir, domain, mirrorHost, mirrorDirectory, proxy, user, authorizedKeysFile,
                nameservers);
    }

    public InstallSettings withAuthorizedKeysFile(Path file) {
        return new InstallSettings(profilesDirectory, domain, mirrorHost, mirrorDirectory, proxy, user, file,
                nameservers);
    }

    private static boolean portInRange(String hostPort) {
        int colon = hostPort.indexOf(':');
        if (colon < 0) {
            return true;
        }
        int port = Integer.parseInt(hostPort.substring(colon + 1));
        return port >= 1 && port <= 65_535;
    }
}
