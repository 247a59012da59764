package io.virtfleet.controller.install;

import io.virtfleet.common.install.InstallToken;
import io.virtfleet.controller.definitions.Boot;
import io.virtfleet.controller.definitions.DomainXml;
import io.virtfleet.proto.v1.Vm;
import io.virtfleet.proto.v1.VmSpec;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.Consumer;
import java.util.function.Function;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Unattended installs: arms a VM (token, boot config), answers its installer (preseed, post-install scripts) and
 * ends the install at the done callback (token dead, boot config removed, the VM told to boot from its disk).
 * Every answer needs the VM's live token; the HTTP server turns an empty answer into 403.
 */
public final class Installs {
    private static final Logger log = LoggerFactory.getLogger(Installs.class);

    private final BootSettings boot;
    private final InstallSettings settings;
    private final InstallBook book;
    private final PxeConfigs pxe;
    private final PreseedRenderer renderer;
    private final ProfileCatalog profiles;
    private final Function<String, Optional<Vm>> vms;
    private final Function<String, String> hostPublicAddress;
    private final WithheldTokens withheld;
    private volatile Consumer<String> onInstalled = vm -> { };

    /**
     * @param vms               a VM's current record by name (empty for a VM the controller does not have)
     * @param hostPublicAddress the public IPv4 address a host reports (agent setting public-address), by host name
     *                          (null when none)
     */
    public Installs(BootSettings boot, InstallSettings settings, InstallBook book, WithheldTokens withheld,
                    ProfileCatalog profiles, Function<String, Optional<Vm>> vms,
                    Function<String, String> hostPublicAddress) {
        this.withheld = withheld;
        this.boot = boot;
        this.settings = settings;
        this.book = book;
        this.pxe = boot.mode() == BootMode.PXE ? new PxeConfigs(boot.tftpRoot()) : null; // the only mode with a TFTP root
        this.renderer = new PreseedRenderer(settings, profiles);
        this.profiles = profiles;
        this.vms = vms;
        this.hostPublicAddress = hostPublicAddress;
    }

    /** Called with the VM's name once its install is done: the VM's definition is to boot from its disk. */
    public void onInstalled(Consumer<String> then) {
        this.onInstalled = then;
    }

    public BootSettings boot() {
        return boot;
    }

    /**
     * How the VM's domain boots once its install is done: from the network first when the site boots its VMs its own
     * way (boot-mode none), else from its disk only.
     */
    public Boot bootAfterInstall() {
        return boot.arms() ? Boot.disk() : Boot.network();
    }

    public Optional<InstallState> state(String vm) {
        return book.get(vm);
    }

    /**
     * Arms a new install of the VM (at create, and at reinstall): a new token, the old one dead, its boot config
     * written (pxe mode). Returns how the VM's domain is to boot into its installer: from the network (pxe, or
     * none: nothing is armed then), or the installer's kernel with the VM's preseed URL (kernel mode: the URL carries
     * a placeholder instead of the token, as the definitions repository is readable by every host and operator; the
     * token is kept here and sent to the home host only, see {@link #withheldToken}).
     */
    public Boot arm(VmSpec spec, String host) throws IOException {
        if (!boot.arms()) {
            return Boot.network();
        }
        String vm = spec.getName();
        // Before anything is armed: a failover VM's home host without a public address is refused with nothing kept.
        String network = installerNetwork(spec, host);
        InstallBook.Armed armed = book.arm(vm, spec.getProfile());
        if (boot.mode() == BootMode.KERNEL) {
            withheld.keep(vm, armed.token());
            log.info("armed the install of VM {} from profile {}: direct kernel boot", vm, spec.getProfile());
            return Boot.kernel(kernelArguments(vm, InstallToken.PLACEHOLDER, network));
        }
        Path written = pxe.write(DomainXml.mac(spec), vm, kernelArguments(vm, armed.token(), network),
                spec.getNetwork().hasFailover());
        log.info("armed the install of VM {} from profile {}: {}", vm, spec.getProfile(), written);
        return Boot.network();
    }

    /** Forgets a deleted VM's install and boot config. */
    public void forget(VmSpec spec) throws IOException {
        if (boot.mode() == BootMode.PXE) {
            pxe.remove(DomainXml.mac(spec));
        }
        book.forget(spec.getName());
        withheld.drop(spec.getName());
    }

    /**
     * The token the VM's home host puts into its definition's kernel command line in place of the placeholder: that
     * of its live kernel boot install; empty when it has none (or the install ended).
     */
    public Optional<String> withheldToken(String vm) {
        return withheld.get(vm).filter(token -> book.live(vm, token).isPresent());
    }

    /** The VM's preseed, if the token is its live one. */
    public Optional<String> preseed(String vm, String token) {
        Optional<InstallState> live = book.live(vm, token);
        Optional<Vm> record = vms.apply(vm);
        if (live.isEmpty() || record.isEmpty()) {
            return Optional.empty();
        }
        Optional<VmSpec> spec = record.map(Vm::getSpec);
        String text = renderer.render(spec.get(), hostPublicAddress.apply(record.get().getHomeHost()),
                urls(vm, token, spec.get()));
        InstallState now = book.preseedFetched(live.get());
        log.info("VM {} fetched its preseed (profile {}, install armed at {})", vm, spec.get().getProfile(), now.armedAtMs());
        return Optional.of(text);
    }

    /** A post-install script of one of the profiles the VM installs from, if the token is its live one. */
    public Optional<byte[]> postInstall(String vm, String token, String profile) {
        Optional<VmSpec> spec = vms.apply(vm).map(Vm::getSpec);
        if (book.live(vm, token).isEmpty() || spec.isEmpty()) {
            return Optional.empty();
        }
        for (Profile p : profiles.chain("spec.profile", spec.get().getProfile())) {
            if (p.name().equals(profile)) {
                try {
                    byte[] script = Files.readAllBytes(p.postInstall());
                    log.info("VM {} fetched the post-install script of profile {}", vm, profile);
                    return Optional.of(script);
                } catch (IOException e) {
                    throw new UncheckedIOException("cannot read " + p.postInstall(), e);
                }
            }
        }
        return Optional.empty(); // a profile the VM does not install from is none of its business
    }

    /** The done callback: true when it ended the live install (its token now dead). */
    public boolean done(String vm, String token) throws IOException {
        Optional<InstallState> live = book.live(vm, token);
        Optional<VmSpec> spec = vms.apply(vm).map(Vm::getSpec);
        if (live.isEmpty() || spec.isEmpty() || !book.installed(live.get())) {
            return false;
        }
        if (boot.mode() == BootMode.PXE) {
            // The PXE config goes first: should the redefinition fail, the VM's network boot still ends on its
            // disk, never in a second install of itself.
            pxe.bootFromDisk(DomainXml.mac(spec.get()), vm);
        }
        try {
            withheld.drop(vm);
        } catch (IOException e) {
            log.warn("cannot remove the spent install token of {}: {}", vm, e.getMessage()); // dead anyway
        }
        log.info("VM {} is installed (profile {}); it boots from its disk from now on", vm, live.get().profile());
        onInstalled.accept(vm);
        return true;
    }

    /**
     * A failover-IP VM's installer network, for the installer's kernel command line (direct kernel boot and PXE
     * alike): netcfg gets the address as a static /32 and no gateway (a gateway outside the /32 makes it loop), no
     * DHCP is asked, and virtfleet's {@code InstallerHook} (appended to the host's installer initrd by the agent, or
     * loaded as a second initrd by pxelinux) keeps the routes to the gateway, on the link, and through it. Empty for a LAN VM, whose installer asks the LAN's DHCP. Only the
     * first nameserver: a space ends a kernel argument (the installed system gets them all from the late command).
     */
    private String installerNetwork(VmSpec spec, String host) {
        if (!spec.getNetwork().hasFailover()) {
            return "";
        }
        FailoverGuest guest = FailoverGuest.of(spec.getNetwork().getFailover().getAddress(), hostPublicAddress.apply(host));
        return " netcfg/disable_autoconfig=true netcfg/get_ipaddress=" + guest.address() + " netcfg/get_netmask="
                + FailoverGuest.NETMASK + " netcfg/get_gateway=none netcfg/get_nameservers="
                + settings.nameservers().get(0) + " netcfg/confirm_static=true virtfleet/onlink-gateway=" + guest.gateway();
    }

    /** The installer's arguments ({@code network} among them), then after "---" those the installed system keeps. */
    private String kernelArguments(String vm, String token, String network) {
        String domain = settings.domain().isEmpty() ? "" : " domain=" + settings.domain();
        return "auto=true priority=critical preseed/url=" + base(vm, token) + "preseed.cfg hostname=" + vm + domain
                + network + " console=ttyS0,115200n8 --- console=ttyS0,115200n8";
    }

    private InstallUrls urls(String vm, String token, VmSpec spec) {
        Map<String, String> scripts = new LinkedHashMap<>();
        List<Profile> chain = profiles.chain("spec.profile", spec.getProfile());
        for (Profile p : chain) {
            scripts.put(p.name(), base(vm, token) + "profiles/" + p.name() + "/post-install.sh");
        }
        return new InstallUrls(scripts, base(vm, token) + "done");
    }

    private String base(String vm, String token) {
        return boot.installUrl() + "/install/" + vm + "/" + token + "/";
    }
}
