package io.virtfleet.controller.install;

import io.virtfleet.common.validation.InvalidInputException;
import io.virtfleet.common.validation.VmSpecs;
import io.virtfleet.proto.v1.VmSpec;
import java.util.ArrayList;
import java.util.List;

/**
 * Writes one VM's preseed: everything the Debian installer asks, answered, so the install runs with nobody
 * at the console. In order: defaults a profile may change (locale, keyboard, clock), then what virtfleet
 * decides for every VM (hostname and network, mirror, user and SSH keys, disk), then the answers of the
 * profiles the VM is installed from (base, then its own), and last the late command, which routes a
 * failover IP, gives the user its keys, runs the profiles' post-install scripts and calls back.
 *
 * <p>Values come from the VM's spec, the controller's {@link InstallSettings} and the caller's URLs; each is
 * checked before use and nothing is ever passed to a shell unquoted (see {@link LateCommand}).
 */
public final class PreseedRenderer {
    /** The VM's one disk, as virtio presents it (DomainXml attaches it as vda). */
    static final String DISK = "/dev/vda";
    private static final String DEFAULTS = "Locale, keyboard, clock (a profile may change these)";

    private final InstallSettings settings;
    private final ProfileCatalog profiles;

    public PreseedRenderer(InstallSettings settings, ProfileCatalog profiles) {
        this.settings = settings;
        this.profiles = profiles;
    }

    /**
     * The preseed of a VM.
     *
     * @param hostMainAddress main IPv4 address of the VM's home host: the gateway of a failover IP is derived
     *                        from it (unused, may be null, for a LAN VM)
     * @param urls            the VM's post-install script and callback URLs, with its token
     */
    public String render(VmSpec requested, String hostMainAddress, InstallUrls urls) {
        VmSpec spec = VmSpecs.validate(requested);
        List<Profile> chain = profiles.chain("spec.profile", spec.getProfile());
        FailoverGuest failover = spec.getNetwork().hasFailover()
                ? FailoverGuest.of(spec.getNetwork().getFailover().getAddress(), hostMainAddress) : null;
        List<String> keys = AuthorizedKeys.read(settings.authorizedKeysFile());

        Preseed preseed = new Preseed(List.of(
                "Debian installer answers for VM " + spec.getName() + ", profile " + spec.getProfile()
                        + ", written by the virtfleet controller for this VM alone.",
                "Format: debconf's (owner question type value); checked with debconf-set-selections --checkonly."));
        defaults(preseed);
        network(preseed, spec, failover);
        mirror(preseed);
        user(preseed);
        disk(preseed);
        for (Profile p : chain) {
            for (Answer a : p.answers()) {
                preseed.answer("Profile " + p.name() + " (" + p.name() + "/" + ProfileCatalog.PRESEED + ")", a);
            }
        }
        preseed.answer("Late command: routes, SSH keys, post-install scripts, callback",
                "preseed/late_command", "string", lateCommand(spec, chain, failover, keys, urls));
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
        String heading = failover == null
                ? "Network: LAN " + spec.getNetwork().getLan() + ", address from DHCP"
                : "Network: OVH failover IP " + failover.address() + " as a /32, gateway " + failover.gateway()
                        + " (the host's main address with .254)";
        p.answer(heading, "netcfg/choose_interface", "select", "auto");
        p.answer(heading, "netcfg/hostname", "string", spec.getName());
        p.answer(heading, "netcfg/get_hostname", "string", spec.getName());
        p.answer(heading, "netcfg/get_domain", "string", settings.domain());
        if (failover == null) {
            p.answer(heading, "netcfg/disable_autoconfig", "boolean", "false");
            return;
        }
        p.answer(heading, "netcfg/disable_autoconfig", "boolean", "true");
        p.answer(heading, "netcfg/get_ipaddress", "string", failover.address().toString());
        p.answer(heading, "netcfg/get_netmask", "string", FailoverGuest.NETMASK);
        p.answer(heading, "netcfg/get_gateway", "string", failover.gateway().toString());
        p.answer(heading, "netcfg/get_nameservers", "string", String.join(" ", settings.nameservers()));
        p.answer(heading, "netcfg/confirm_static", "boolean", "true");
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

    private String lateCommand(VmSpec spec, List<Profile> chain, FailoverGuest failover, List<String> keys,
                               InstallUrls urls) {
        LateCommand c = new LateCommand();
        if (failover != null) {
            // The installer leaves the primary interface's stanza last in the file: appended lines belong to it.
            c.append("/target/etc/network/interfaces", failover.interfacesLines());
        }
        String user = settings.user();
        String home = "/home/" + user;
        c.step("mkdir -p " + LateCommand.quote("/target" + home + "/.ssh"));
        c.write("/target" + home + "/.ssh/authorized_keys", keys);
        c.step("chmod 0700 " + LateCommand.quote("/target" + home + "/.ssh"));
        c.step("chmod 0600 " + LateCommand.quote("/target" + home + "/.ssh/authorized_keys"));
        c.step("in-target chown -R " + LateCommand.quote(user + ":" + user) + " " + LateCommand.quote(home + "/.ssh"));
        String sudoers = "/target/etc/sudoers.d/90-virtfleet-" + user;
        c.step("mkdir -p /target/etc/sudoers.d");
        c.write(sudoers, List.of(user + " ALL=(ALL:ALL) NOPASSWD: ALL"));
        c.step("chmod 0440 " + LateCommand.quote(sudoers));
        for (Profile p : chain) {
            String url = urls.postInstallScripts().get(p.name());
            if (url == null) {
                throw new InvalidInputException("post-install URLs", String.join(",", urls.postInstallScripts()
                        .keySet()), "a URL for every profile VM " + spec.getName() + " is installed from: "
                        + String.join(", ", chain.stream().map(Profile::name).toList()));
            }
            String script = "/root/virtfleet-post-install-" + p.name();
            c.step("wget -q -O " + LateCommand.quote("/target" + script) + " " + LateCommand.quote(url));
            c.step("chmod 0700 " + LateCommand.quote("/target" + script));
            c.step("in-target " + LateCommand.quote(script));
        }
        c.step("wget -q -O /dev/null " + LateCommand.quote(urls.callback()));
        return c.toString();
    }
}
