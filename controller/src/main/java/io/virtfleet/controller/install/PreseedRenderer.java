package io.virtfleet.controller.install;

import io.virtfleet.common.validation.InvalidInputException;
import io.virtfleet.common.validation.VmSpecs;
import io.virtfleet.proto.v1.VmSpec;
import java.util.List;

/**
 * Writes one VM's preseed: everything the Debian installer asks, answered, so the install runs with nobody
 * at the console. In order: defaults a profile may change (locale, keyboard, clock), the early command, which
 * fetches the profiles' post-install scripts into the installer's RAM disk, then what virtfleet decides for
 * every VM (hostname and network, mirror, user and SSH keys, disk), then the answers of the profiles the VM is
 * installed from (base, then its own), and last the late command, which writes a failover VM's network, gives
 * the user its keys, runs the fetched post-install scripts and calls back.
 *
 * <p>A LAN VM's installer takes its network from DHCP. A failover VM's installer gets its static /32 on the kernel
 * command line (direct kernel boot and PXE alike) and asks no DHCP; the installed system's network is written by the late command either way (see {@link FailoverGuest} for why netcfg cannot be given it
 * whole).
 *
 * <p>Values come from the VM's spec, the controller's {@link InstallSettings} and the caller's URLs; each is
 * checked before use and nothing is ever passed to a shell unquoted (see {@link InstallerCommand}).
 */
public final class PreseedRenderer {
    /** The VM's one disk, as virtio presents it (DomainXml attaches it as vda). */
    static final String DISK = "/dev/vda";
    private static final String DEFAULTS = "Locale, keyboard, clock (a profile may change these)";
    /** Where the early command leaves the post-install scripts, in the installer's RAM disk. */
    static final String STAGED = "/var/lib/virtfleet";
    /** The shell variable the late command keeps the name of the VM's network interface in. */
    private static final String IFACE_VARIABLE = "VIRTFLEET_IFACE";
    /** Stands for the interface's name in the lines of the interfaces file; never in a value of the VM's. */
    private static final String IFACE_PLACEHOLDER = "@IFACE@";

    private final InstallSettings settings;
    private final ProfileCatalog profiles;

    public PreseedRenderer(InstallSettings settings, ProfileCatalog profiles) {
        this.settings = settings;
        this.profiles = profiles;
    }

    /**
     * The preseed of a VM.
     *
     * @param hostPublicAddress public IPv4 address of the VM's home host (its agent's public-address): the gateway of a failover IP is derived
     *                        from it (unused, may be null, for a LAN VM)
     * @param urls            the VM's post-install script and callback URLs, with its token
     */
    public String render(VmSpec requested, String hostPublicAddress, InstallUrls urls) {
        VmSpec spec = VmSpecs.validate(requested);
        List<Profile> chain = profiles.chain("spec.profile", spec.getProfile());
        FailoverGuest failover = spec.getNetwork().hasFailover()
                ? FailoverGuest.of(spec.getNetwork().getFailover().getAddress(), hostPublicAddress) : null;
        List<String> keys = AuthorizedKeys.read(settings.authorizedKeysFile());

        Preseed preseed = new Preseed(List.of(
                "Debian installer answers for VM " + spec.getName() + ", profile " + spec.getProfile()
                        + ", written by the virtfleet controller for this VM alone.",
                "Format: debconf's (owner question type value); checked with debconf-set-selections --checkonly."));
        defaults(preseed);
        // The early command runs once the installer has read this file: its network is up (it fetched the file
        // over it) and nothing is installed yet. Fetching the scripts then, seconds after the preseed, means a
        // missing or refused script stops the install at its start instead of after a ten-minute install, and
        // the scripts run are those of the moment the install was armed, not of whenever the late command runs.
        preseed.answer("Early command: fetches the post-install scripts into " + STAGED,
                "preseed/early_command", "string", earlyCommand(spec, chain, urls));
        network(preseed, spec, failover);
        mirror(preseed);
        user(preseed);
        disk(preseed);
        for (Profile p : chain) {
            for (Answer a : p.answers()) {
                preseed.answer("Profile " + p.name() + " (" + p.name() + "/" + ProfileCatalog.PRESEED + ")", a);
            }
        }
        preseed.answer("Late command: " + (failover == null ? "" : "failover network, ")
                        + "SSH keys, post-install scripts, callback",
                "preseed/late_command", "string", lateCommand(chain, failover, keys, urls));
        preseed.answer("Finish", "finish-install/reboot_in_progress", "note", "");
        return preseed.text();
    }

    private static void defaults(Preseed p) {
        p.answer(DEFAULTS, "debian-installer/locale", "string", "en_US.UTF-8");
        p.answer(DEFAULTS, "keyboard-configuration/xkb-keymap", "select", "us");
        p.answer(DEFAULTS, "time/zone", "string", "Etc/UTC");
        p.answer(DEFAULTS, "clock-setup/utc", "boolean", "true");
        p.answer(DEFAULTS, "clock-setup/ntp", "boolean", "true");
        // A VM has no hardware needing firmware; asking would stop an unattended install.
        p.answer(DEFAULTS, "hw-detect/load_firmware", "boolean", "false");
        // The installed system speaks on the serial console too, where virsh console finds it.
        p.answer(DEFAULTS, "debian-installer/add-kernel-opts", "string", "console=tty0 console=ttyS0,115200n8");
    }

    private void network(Preseed p, VmSpec spec, FailoverGuest failover) {
        if (failover != null) {
            String heading = "Network: OVH failover IP " + failover.address() + " as a /32, no DHCP";
            p.note(heading, List.of(
                    "The installer was given this network on its kernel command line, as here: the address as a /32",
                    "and no gateway for netcfg (a gateway outside the /32 makes it ask again forever), while",
                    "virtfleet's hook in the installer's initrd keeps the routes to " + failover.gateway()
                            + " (the host's public address with .254),",
                    "on the link, and through it. The installed system gets the same network from the late command."));
            p.answer(heading, "netcfg/choose_interface", "select", "auto");
            p.answer(heading, "netcfg/disable_autoconfig", "boolean", "true");
            p.answer(heading, "netcfg/get_ipaddress", "string", failover.address().toString());
            p.answer(heading, "netcfg/get_netmask", "string", FailoverGuest.NETMASK);
            p.answer(heading, "netcfg/get_gateway", "string", "none");
            p.answer(heading, "netcfg/get_nameservers", "string", String.join(" ", settings.nameservers()));
            p.answer(heading, "netcfg/confirm_static", "boolean", "true");
            p.answer(heading, "netcfg/hostname", "string", spec.getName());
            p.answer(heading, "netcfg/get_hostname", "string", spec.getName());
            p.answer(heading, "netcfg/get_domain", "string", settings.domain());
            return;
        }
        String heading = "Network: LAN " + spec.getNetwork().getLan() + ", address from DHCP";
        p.answer(heading, "netcfg/choose_interface", "select", "auto");
        p.answer(heading, "netcfg/hostname", "string", spec.getName());
        p.answer(heading, "netcfg/get_hostname", "string", spec.getName());
        p.answer(heading, "netcfg/get_domain", "string", settings.domain());
        p.answer(heading, "netcfg/disable_autoconfig", "boolean", "false");
    }

    private void mirror(Preseed p) {
        String heading = "Mirror";
        p.answer(heading, "mirror/country", "string", "manual");
        p.answer(heading, "mirror/http/hostname", "string", settings.mirrorHost());
        p.answer(heading, "mirror/http/directory", "string", settings.mirrorDirectory());
        p.answer(heading, "mirror/http/proxy", "string", settings.proxy());
    }

    private void user(Preseed p) {
        // No root login and a user without any password ('*' matches no password): operators come in with
        // their SSH keys and use sudo, which the late command opens to the user without a password.
        String heading = "User " + settings.user() + ": SSH keys only, root login disabled";
        p.answer(heading, "passwd/root-login", "boolean", "false");
        p.answer(heading, "passwd/make-user", "boolean", "true");
        p.answer(heading, "passwd/user-fullname", "string", "virtfleet operators");
        p.answer(heading, "passwd/username", "string", settings.user());
        p.answer(heading, "passwd/user-password-crypted", "password", "*");
    }

    private static void disk(Preseed p) {
        String heading = "Disk: the VM's one virtio disk " + DISK + ", all files in one partition (atomic)";
        p.answer(heading, "partman-auto/disk", "string", DISK);
        p.answer(heading, "partman-auto/method", "string", "regular");
        p.answer(heading, "partman-auto/choose_recipe", "select", "atomic");
        p.answer(heading, "partman-lvm/device_remove_lvm", "boolean", "true");
        p.answer(heading, "partman-md/device_remove_md", "boolean", "true");
        p.answer(heading, "partman-lvm/confirm", "boolean", "true");
        p.answer(heading, "partman-lvm/confirm_nooverwrite", "boolean", "true");
        p.answer(heading, "partman-partitioning/confirm_write_new_label", "boolean", "true");
        p.answer(heading, "partman/choose_partition", "select", "finish");
        p.answer(heading, "partman/confirm", "boolean", "true");
        p.answer(heading, "partman/confirm_nooverwrite", "boolean", "true");
        p.answer(heading, "partman-efi/non_efi_system", "boolean", "true");
        p.answer(heading, "grub-installer/only_debian", "boolean", "true");
        p.answer(heading, "grub-installer/with_other_os", "boolean", "false");
        p.answer(heading, "grub-installer/bootdev", "string", DISK);
    }

    /**
     * Fetches every post-install script of the VM's chain, in chain order, with the installer's (busybox) wget
     * into {@link #STAGED}; the first failure stops the command, and with it the install.
     */
    private static String earlyCommand(VmSpec spec, List<Profile> chain, InstallUrls urls) {
        InstallerCommand c = new InstallerCommand();
        c.step("mkdir -p " + InstallerCommand.quote(STAGED));
        for (Profile p : chain) {
            String url = urls.postInstallScripts().get(p.name());
            if (url == null) {
                throw new InvalidInputException("post-install URLs", String.join(",", urls.postInstallScripts()
                        .keySet()), "a URL for every profile VM " + spec.getName() + " is installed from: "
                        + String.join(", ", chain.stream().map(Profile::name).toList()));
            }
            c.step("wget -q -O " + InstallerCommand.quote(staged(p)) + " " + InstallerCommand.quote(url));
        }
        return c.toString();
    }

    private static String staged(Profile p) {
        return STAGED + "/post-install-" + p.name();
    }

    private String lateCommand(List<Profile> chain, FailoverGuest failover, List<String> keys, InstallUrls urls) {
        InstallerCommand c = new InstallerCommand();
        if (failover != null) {
            failoverNetwork(c, failover);
        }
        String user = settings.user();
        String home = "/home/" + user;
        c.step("mkdir -p " + InstallerCommand.quote("/target" + home + "/.ssh"));
        c.write("/target" + home + "/.ssh/authorized_keys", keys);
        c.step("chmod 0700 " + InstallerCommand.quote("/target" + home + "/.ssh"));
        c.step("chmod 0600 " + InstallerCommand.quote("/target" + home + "/.ssh/authorized_keys"));
        c.step("in-target chown -R " + InstallerCommand.quote(user + ":" + user) + " "
                + InstallerCommand.quote(home + "/.ssh"));
        String sudoers = "/target/etc/sudoers.d/90-virtfleet-" + user;
        c.step("mkdir -p /target/etc/sudoers.d");
        c.write(sudoers, List.of(user + " ALL=(ALL:ALL) NOPASSWD: ALL"));
        c.step("chmod 0440 " + InstallerCommand.quote(sudoers));
        // The scripts the early command fetched, run in chain order from the installed system.
        for (Profile p : chain) {
            String script = "/root/virtfleet-post-install-" + p.name();
            c.step("cp " + InstallerCommand.quote(staged(p)) + " " + InstallerCommand.quote("/target" + script));
            c.step("chmod 0700 " + InstallerCommand.quote("/target" + script));
            c.step("in-target " + InstallerCommand.quote(script));
        }
        c.step("wget -q -O /dev/null " + InstallerCommand.quote(urls.callback()));
        return c.toString();
    }

    /**
     * Replaces the installed system's network configuration (the DHCP stanza netcfg wrote) with the failover
     * IP's, and its resolv.conf with the configured nameservers.
     *
     * <p>The interface's name is the one the installer itself uses for the VM's one virtio NIC: the interface
     * of its default route, the one it fetched this preseed and the scripts through. The installed system, same
     * kernel and same udev naming rules on the same virtual hardware, gives the NIC the same name; netcfg relies
     * on that too when it writes the installer's name into the installed system. (netcfg/choose_interface is
     * preseeded "auto", so debconf does not hold a name to read.) The lookup reads {@code ip route} line by
     * line, which busybox's and iproute2's ip print alike ("default via GATEWAY dev NAME ..."), and stops the
     * install unless the name found is a network interface of the installer's. It is virtfleet's own constant
     * text; the name only ever reaches the file in double quotes, and every value of the VM's through quote().
     */
    private void failoverNetwork(InstallerCommand c, FailoverGuest failover) {
        String v = IFACE_VARIABLE;
        c.step(v + "=$(ip route show | while read -r dst via gateway dev name rest; do"
                + " if [ \"$dst $via $dev\" = \"default via dev\" ]; then echo \"$name\"; break; fi; done)");
        c.step("[ -n \"$" + v + "\" ]");
        c.step("[ -e \"/sys/class/net/$" + v + "\" ]");
        c.write("/target/etc/network/interfaces", failover.interfacesFile(IFACE_PLACEHOLDER, settings.nameservers()),
                IFACE_PLACEHOLDER, v);
        c.write("/target/etc/resolv.conf", FailoverGuest.resolvConf(settings.nameservers()));
    }
}
