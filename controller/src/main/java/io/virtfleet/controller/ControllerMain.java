package io.virtfleet.controller;

import io.virtfleet.common.cli.ExitCode;
import io.virtfleet.common.cli.VersionProvider;
import io.virtfleet.common.config.ConfigException;
import io.virtfleet.common.config.ConfiguredCommand;
import io.virtfleet.common.logging.Logging;
import io.virtfleet.common.metrics.MetricsEndpoint;
import io.virtfleet.common.validation.Endpoint;
import io.virtfleet.common.validation.InvalidInputException;
import io.virtfleet.common.validation.Ipv4;
import io.virtfleet.common.validation.Names;
import io.virtfleet.controller.dashboard.DashboardCertificate;
import io.virtfleet.controller.dashboard.DashboardSettings;
import io.virtfleet.controller.definitions.DomainSettings;
import io.virtfleet.controller.fencing.FenceSettings;
import io.virtfleet.controller.fencing.HostLoss;
import io.virtfleet.controller.install.BootMode;
import io.virtfleet.controller.install.BootSettings;
import io.virtfleet.controller.install.InstallSettings;
import io.virtfleet.controller.ovh.OvhAccount;
import io.virtfleet.controller.ovh.OvhSettings;
import io.virtfleet.controller.scheduler.Policy;
import io.virtfleet.controller.vm.Provisioning;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code virtfleet-controller}: the central service. Runs until stopped. */
@Command(name = "virtfleet-controller", mixinStandardHelpOptions = true, sortOptions = false,
        versionProvider = VersionProvider.class, subcommands = {ReissueAdminCommand.class, io.virtfleet.controller.backup.BackupCommand.class,
            io.virtfleet.controller.backup.RestoreCommand.class},
        description = {
            "Keeps the fleet's host inventory from agent heartbeats and serves operators (the virtfleet CLI).",
            "Every option can also be set in the configuration file as 'name = value'; options on the",
            "command line win."
        },
        exitCodeListHeading = "%nExit codes:%n",
        exitCodeList = {"1:failed to start (the message says why)",
            "2:bad option or configuration file (file, line and key are named)",
            "143:stopped by SIGTERM (systemctl stop): a clean stop"})
public final class ControllerMain implements Callable<Integer> {
    /** This process's hold on its data directory, for its whole life. */
    private static DataDirectoryLock dataDirectoryLock;
    static final Path DEFAULT_CONFIG = Path.of("/etc/virtfleet/controller.conf");
    /** An OVH service name as it goes into API paths: a server's DNS-like name, nothing that could change the path. */
    private static final java.util.regex.Pattern SERVICE_NAME = java.util.regex.Pattern.compile("[A-Za-z0-9][A-Za-z0-9.-]{0,127}");

    @Option(names = "--config", paramLabel = "FILE", defaultValue = "/etc/virtfleet/controller.conf",
            description = "Configuration file (default: ${DEFAULT-VALUE}; ignored when absent).")
    Path configFile;

    @Option(names = "--listen", paramLabel = "HOST:PORT", defaultValue = "0.0.0.0:7440",
            description = "Where agents and operators reach the controller (default: ${DEFAULT-VALUE}).")
    String listen;

    @Option(names = "--heartbeat-interval", paramLabel = "DURATION", defaultValue = "5s",
            description = "Interval agents are asked to heartbeat at (default: ${DEFAULT-VALUE}).")
    Duration heartbeatInterval;

    @Option(names = "--unreachable-after", paramLabel = "DURATION", defaultValue = "15s",
            description = "Time without a heartbeat before a host is marked unreachable (default: ${DEFAULT-VALUE}).")
    Duration unreachableAfter;

    @Option(names = "--ceph-admin-conf", paramLabel = "FILE",
            description = {"ceph.conf of the cluster, for fencing a lost host: its Ceph client addresses are put on the",
                "OSD blocklist so its VMs can safely start elsewhere (default: none: a host is declared lost only by",
                "'virtfleet host fence NAME --confirm-down')."})
    Path cephAdminConf;

    @Option(names = "--ceph-admin-id", paramLabel = "NAME", defaultValue = FenceSettings.DEFAULT_ID,
            description = {"cephx user that fences, without 'client.'; it needs only mon 'allow command \"osd blocklist\",",
                "allow command \"osd blocklist ls\"' (default: ${DEFAULT-VALUE})."})
    String cephAdminId;

    @Option(names = "--ceph-admin-keyring", paramLabel = "FILE",
            description = "Keyring of that user, owner-only (default: what ceph-admin-conf or Ceph's defaults name).")
    Path cephAdminKeyring;

    @Option(names = "--fence-expiry", paramLabel = "DURATION", defaultValue = "7d",
            description = {"How long a fenced host stays on Ceph's blocklist unless unfenced: longer than the host can",
                "stay away, since when it lapses the host's QEMUs may write again; 1h to 3650d (default: ${DEFAULT-VALUE})."})
    Duration fenceExpiry;

    @Option(names = "--host-lost-after", paramLabel = "DURATION", defaultValue = "30s",
            description = {"Silence after which a host is suspected lost; longer than unreachable-after. A suspicion moves",
                "nothing: see failover (default: ${DEFAULT-VALUE})."})
    Duration hostLostAfter;

    @Option(names = "--failover", paramLabel = "MODE", defaultValue = "manual",
            description = {"manual: a suspected host waits for 'virtfleet host fence NAME' (or --confirm-down); automatic:",
                "the controller fences it in Ceph itself (ceph-admin-conf needed) and restarts its VMs elsewhere; it",
                "never declares a host down on its own word (default: ${DEFAULT-VALUE})."})
    String failover;

    @Option(names = "--failover-parallel", paramLabel = "N", defaultValue = "4",
            description = "How many VMs of a lost host host recover restarts elsewhere at once, 1 to 32 (default: ${DEFAULT-VALUE}).")
    int failoverParallel;

    @Option(names = "--data-dir", paramLabel = "DIR", defaultValue = "/var/lib/virtfleet/controller",
            description = "Where the controller keeps its state (default: ${DEFAULT-VALUE}).")
    Path dataDir;

    @Option(names = "--agent-certificate-lifetime", paramLabel = "DURATION", defaultValue = "30d",
            description = "Validity of agent certificates; agents renew them at two thirds (default: ${DEFAULT-VALUE}).")
    Duration agentCertificateLifetime;

    @Option(names = "--certificate-lifetime", paramLabel = "DURATION", defaultValue = "90d",
            description = "Validity of the controller's own certificate, renewed at two thirds (default: ${DEFAULT-VALUE}).")
    Duration certificateLifetime;

    @Option(names = "--git-listen", paramLabel = "HOST:PORT", defaultValue = "0.0.0.0:7443",
            description = {"Where agents fetch the definitions repository (git over HTTPS, mutual TLS, read-only)",
                "(default: ${DEFAULT-VALUE})."})
    String gitListen;

    @Option(names = "--domain-type", paramLabel = "TYPE", defaultValue = "kvm",
            description = "libvirt domain type of every VM: kvm, or qemu on hosts without /dev/kvm (default: ${DEFAULT-VALUE}).")
    String domainType;

    @Option(names = "--ceph-monitors", paramLabel = "HOST:PORT", split = ",",
            description = {"Ceph monitors written into RBD disk definitions, e.g. 10.0.0.1:6789,10.0.0.2:6789",
                "(default: none: QEMU reads mon_host from each host's ceph.conf)."})
    List<String> cephMonitors;

    @Option(names = "--ceph-client", paramLabel = "NAME", defaultValue = "libvirt",
            description = "cephx user of RBD disks, as in the agents' ceph-client (default: ${DEFAULT-VALUE}).")
    String cephClient;

    @Option(names = "--ceph-pool-ssd", paramLabel = "POOL", defaultValue = "libvirt-ssd",
            description = "RBD pool of the ssd tier, as on the agents (default: ${DEFAULT-VALUE}).")
    String cephPoolSsd;

    @Option(names = "--ceph-pool-sata", paramLabel = "POOL", defaultValue = "libvirt-sata",
            description = "RBD pool of the sata tier, as on the agents (default: ${DEFAULT-VALUE}).")
    String cephPoolSata;

    @Option(names = "--public-bridge", paramLabel = "BRIDGE", defaultValue = "br0",
            description = "Hosts' bridge for failover-IP VMs, as in the agents' public-bridge (default: ${DEFAULT-VALUE}).")
    String publicBridge;

    @Option(names = "--failover-routes", paramLabel = "IP=HOST", split = ",",
            description = {"Which host OVH routes each failover IP to, e.g. 203.0.113.7=hv1,203.0.113.8=hv2",
                "(default: none; a VM with a failover IP goes only to the host its IP is routed to). Not used with",
                "ovh-config: OVH's API says where an IP is routed, and moves it."})
    List<String> failoverRoutes;

    @Option(names = "--ovh-config", paramLabel = "FILE",
            description = {"OVH's API: endpoint and keys, owner-only, usually /etc/virtfleet/ovh.conf (default: none, no",
                "API: failover IPs follow failover-routes and need --failover-mac). With it, a failover IP is moved to",
                "the host placement chooses and its virtual MAC is found or made there."})
    Path ovhConfig;

    @Option(names = "--ovh-services", paramLabel = "HOST=SERVICE", split = ",",
            description = {"Each host's OVH service name, e.g. hv1=ns3001234.ip-203-0-113.eu; with ovh-config, failover-IP",
                "VMs go to these hosts only (default: none)."})
    List<String> ovhServices;

    @Option(names = "--ovh-task-deadline", paramLabel = "DURATION", defaultValue = "5m",
            description = "How long a create waits for an OVH task (an IP move, a virtual MAC) to finish (default: ${DEFAULT-VALUE}).")
    Duration ovhTaskDeadline;

    @Option(names = "--placement", paramLabel = "POLICY", defaultValue = "spread",
            description = "spread: least loaded host first; pack: fullest host that fits first (default: ${DEFAULT-VALUE}).")
    String placement;

    @Option(names = "--memory-ratio", paramLabel = "RATIO", defaultValue = "0.9",
            description = "Share of a host's memory that may be promised to VMs (default: ${DEFAULT-VALUE}).")
    double memoryRatio;

    @Option(names = "--vcpu-overcommit", paramLabel = "RATIO", defaultValue = "4",
            description = "Virtual CPUs that may be promised per hardware thread (default: ${DEFAULT-VALUE}).")
    double vcpuOvercommit;

    @Option(names = "--n-plus-one", paramLabel = "off|on", defaultValue = "off",
            description = {"on: refuse a VM (create or move) after which some host's Ceph-backed VMs could not all be",
                "restarted on the other ready hosts, the N+1 reserve (default: ${DEFAULT-VALUE})."})
    String nPlusOne;

    @Option(names = "--reconcile-interval", paramLabel = "DURATION", defaultValue = "30s",
            description = "Time between two passes of the reconciler over every VM (default: ${DEFAULT-VALUE}).")
    Duration reconcileInterval;

    @Option(names = "--sync-deadline", paramLabel = "DURATION", defaultValue = "20s",
            description = "How long one host may take to sync its definitions when a change is fanned out; a slower"
                    + " or unreachable host is reported as catching up, and does so by itself (default: ${DEFAULT-VALUE}).")
    Duration syncDeadline;

    @Option(names = "--profiles-dir", paramLabel = "DIR", defaultValue = "/etc/virtfleet/profiles",
            description = {"Install profiles, one directory each holding preseed.cfg and post-install.sh; read at each",
                "use, so a profile added there is known at once (default: ${DEFAULT-VALUE})."})
    Path profilesDir;

    @Option(names = "--install-domain", paramLabel = "DOMAIN",
            description = "DNS domain of the VMs, whose FQDN becomes NAME.DOMAIN (default: none).")
    String installDomain;

    @Option(names = "--install-mirror", paramLabel = "HOST[:PORT]", defaultValue = "deb.debian.org",
            description = "Debian mirror the installer and the installed VMs use (default: ${DEFAULT-VALUE}).")
    String installMirror;

    @Option(names = "--install-mirror-directory", paramLabel = "PATH", defaultValue = "/debian",
            description = "Debian directory on that mirror (default: ${DEFAULT-VALUE}).")
    String installMirrorDirectory;

    @Option(names = "--install-proxy", paramLabel = "URL",
            description = "HTTP proxy for the installer's downloads, e.g. an apt-cacher-ng (default: none).")
    String installProxy;

    @Option(names = "--install-user", paramLabel = "NAME", defaultValue = "debian",
            description = "The operators' account on every VM: SSH keys only, sudo (default: ${DEFAULT-VALUE}).")
    String installUser;

    @Option(names = "--install-ssh-keys", paramLabel = "FILE", defaultValue = "/etc/virtfleet/authorized_keys",
            description = {"The operators' SSH public keys, one per line, given to every VM's user; read at each",
                "install (default: ${DEFAULT-VALUE})."})
    Path installSshKeys;

    @Option(names = "--install-nameservers", paramLabel = "IP", split = ",", defaultValue = InstallSettings.OVH_RESOLVER,
            description = {"DNS resolvers of VMs with a failover IP, up to three (LAN VMs get theirs from DHCP)",
                "(default: ${DEFAULT-VALUE}, OVH's resolver)."})
    List<String> installNameservers;

    @Option(names = "--boot-mode", paramLabel = "MODE", defaultValue = "none",
            description = {"How new VMs reach the Debian installer with nobody at the console: none (the site boots",
                "them its own way), pxe (a per-MAC pxelinux config in tftp-root) or kernel (the domain boots the",
                "installer's kernel from its host, see the agent's installer-dir, with the VM's preseed URL on its",
                "command line: for sites without PXE) (default: ${DEFAULT-VALUE})."})
    String bootMode;

    @Option(names = "--tftp-root", paramLabel = "DIR", defaultValue = "/srv/tftp",
            description = {"The site's TFTP root (dnsmasq, tftpd) holding pxelinux.0 and debian-installer/; the",
                "controller writes pxelinux.cfg/01-<mac> there in pxe mode (default: ${DEFAULT-VALUE})."})
    Path tftpRoot;

    @Option(names = "--install-listen", paramLabel = "HOST:PORT", defaultValue = "0.0.0.0:7444",
            description = {"Where the installers fetch their preseed and scripts (plain HTTP, one-time token per VM);",
                "only served when boot-mode is not none (default: ${DEFAULT-VALUE})."})
    String installListen;

    @Option(names = "--install-url", paramLabel = "URL",
            description = {"The install server's base URL as the VMs reach it, e.g. http://10.0.0.1:7444; required",
                "with boot-mode pxe or kernel."})
    String installUrl;

    @Option(names = "--metrics-listen", paramLabel = "HOST:PORT|off", defaultValue = MetricsEndpoint.OFF,
            description = {"Where Prometheus scrapes the controller's metrics (plain HTTP, GET /metrics, no authentication:",
                "keep it on loopback or a management network), e.g. 127.0.0.1:7445; off serves nothing",
                "(default: ${DEFAULT-VALUE})."})
    String metricsListen;

    @Option(names = "--dashboard-listen", paramLabel = "HOST:PORT|off", defaultValue = "off",
            description = {"Where the web dashboard listens (HTTPS; operators log in with a one-time link from",
                "'virtfleet dashboard'), e.g. 127.0.0.1:7447; off: no dashboard (default: ${DEFAULT-VALUE}). Its certificate is",
                "dashboard-tls-cert if set, else one of the dashboard CA, which can vouch only for dashboard-names."})
    String dashboardListen;

    @Option(names = "--dashboard-names", paramLabel = "NAME", split = ",",
            description = {"Host names and IP addresses operators open the dashboard by: written into its certificate, and",
                "the only names the dashboard CA may vouch for (a change makes a new dashboard CA, which browsers import",
                "again); login links use the first (default: the dashboard-listen host unless a wildcard, then localhost,",
                "127.0.0.1)."})
    List<String> dashboardNames;

    @Option(names = "--dashboard-tls-cert", paramLabel = "FILE",
            description = {"The dashboard's own certificate, PEM, intermediates after it (the site's PKI or ACME; recommended",
                "for production), with dashboard-tls-key; read at start, so a renewed one is served after a restart",
                "(default: none, a certificate of the dashboard CA in <data-dir>/dashboard-ca)."})
    Path dashboardTlsCert;

    @Option(names = "--dashboard-tls-key", paramLabel = "FILE",
            description = {"The private key of dashboard-tls-cert, PEM, unencrypted, readable by the controller's user only."})
    Path dashboardTlsKey;

    @Option(names = "--dashboard-session-lifetime", paramLabel = "DURATION", defaultValue = "8h",
            description = "How long a dashboard login lasts, 1m to 7d (default: ${DEFAULT-VALUE}).")
    Duration dashboardSessionLifetime;

    @Option(names = {"-v", "--verbose"}, description = "Log debugging detail.")
    boolean verbose;

    public static void main(String[] args) {
        int code = ConfiguredCommand.run(new ControllerMain(), DEFAULT_CONFIG, args);
        if (code != ExitCode.OK) {
            System.exit(code);
        }
    }

    @Override
    public Integer call() throws Exception {
        Logging.configure(verbose);
        ControllerConfig config;
        DashboardSettings dashboard;
        try {
            config = config();
            dashboard = dashboard();
            if (dashboard.on() && dashboard.ownCertificate()) {
                // Checked before anything starts; the dashboard reads the files again when it starts.
                DashboardCertificate.own(dashboard.tlsCertificate(), dashboard.tlsKey(), dashboard.names(),
                        Clock.systemUTC());
            }
        } catch (InvalidInputException e) {
            System.err.println("virtfleet-controller: " + e.getMessage());
            return ExitCode.USAGE;
        } catch (ConfigException e) {
            System.err.println("virtfleet-controller: configuration error: " + e.getMessage());
            return ExitCode.USAGE;
        }
        // Held until the process ends: no second controller, and no restore, on a directory this one writes.
        // Kept in a field: a lock only a local variable referenced could be released by the garbage collector.
        Optional<DataDirectoryLock> owned = DataDirectoryLock.tryTake(dataDir);
        dataDirectoryLock = owned.orElse(null);
        if (owned.isEmpty()) {
            System.err.println("virtfleet-controller: another controller runs with the data directory " + dataDir
                    + " (it holds " + dataDir.resolve(DataDirectoryLock.FILE_NAME) + "); stop it first");
            return ExitCode.FAILURE;
        }
        try (DataDirectoryLock held = owned.get()) {
            Controller controller = Controller.create(config);
            Runtime.getRuntime().addShutdownHook(new Thread(controller::close, "vf-controller-shutdown"));
            try {
                controller.start();
                controller.startDashboard(dashboard);
            } catch (Exception e) {
                System.err.println("virtfleet-controller: cannot start on " + listen + ": " + e.getMessage());
                controller.close();
                return ExitCode.FAILURE;
            }
            controller.blockUntilShutdown();
            return ExitCode.OK;
        } finally {
            dataDirectoryLock = null;
        }
    }

    ControllerConfig config() {
        Endpoint at = Endpoint.parse("listen", listen);
        if (unreachableAfter.compareTo(heartbeatInterval) <= 0) {
            throw new InvalidInputException("unreachable-after", unreachableAfter.toString(),
                    "a duration longer than heartbeat-interval (" + heartbeatInterval + "), ideally 3x");
        }
        atLeastTenMinutes("agent-certificate-lifetime", agentCertificateLifetime);
        atLeastTenMinutes("certificate-lifetime", certificateLifetime);
        return ControllerConfig.of(new InetSocketAddress(at.bareHost(), at.port()), heartbeatInterval,
                unreachableAfter, dataDir).withCertificateLifetimes(agentCertificateLifetime, certificateLifetime)
                .withProvisioning(provisioning())
                .withGitListen(gitAddress())
                .withFencing(new FenceSettings(cephAdminConf, cephAdminId, cephAdminKeyring, fenceExpiry,
                        Duration.ofSeconds(20)))
                .withFailoverParallel(failoverParallel)
                .withHostLoss(hostLoss())
                .withMetricsListen(MetricsEndpoint.parseListen("metrics-listen", metricsListen).orElse(null));
    }

    /** The web dashboard's settings: off unless dashboard-listen names an address. */
    DashboardSettings dashboard() {
        if (dashboardSessionLifetime.compareTo(Duration.ofMinutes(1)) < 0 || dashboardSessionLifetime.compareTo(Duration.ofDays(7)) > 0) {
            throw new InvalidInputException("dashboard-session-lifetime", dashboardSessionLifetime.toString(), "1m to 7d");
        }
        if ((dashboardTlsCert == null) != (dashboardTlsKey == null)) {
            String missing = dashboardTlsCert == null ? DashboardCertificate.CERT_SETTING : DashboardCertificate.KEY_SETTING;
            String set = dashboardTlsCert == null ? DashboardCertificate.KEY_SETTING : DashboardCertificate.CERT_SETTING;
            throw new InvalidInputException(missing, "", "a file: " + set + " is set, and the dashboard's own certificate"
                    + " needs both " + DashboardCertificate.CERT_SETTING + " and " + DashboardCertificate.KEY_SETTING);
        }
        if (dashboardListen.equals("off")) {
            if (dashboardNames != null && !dashboardNames.isEmpty()) {
                throw new InvalidInputException("dashboard-names", String.join(",", dashboardNames),
                        "no value while dashboard-listen is off");
            }
            if (dashboardTlsCert != null) {
                throw new InvalidInputException(DashboardCertificate.CERT_SETTING, dashboardTlsCert.toString(),
                        "no value while dashboard-listen is off");
            }
            return DashboardSettings.off();
        }
        Endpoint at = Endpoint.parse("dashboard-listen", dashboardListen);
        List<String> names = new ArrayList<>();
        for (String n : dashboardNames == null ? List.<String>of() : dashboardNames) {
            names.add(dashboardName(n.strip()));
        }
        if (names.isEmpty()) {
            String host = at.bareHost();
            boolean wildcard = host.equals("0.0.0.0") || host.equals("::");
            if (!wildcard) {
                names.add(dashboardName(host));
            }
            for (String local : List.of("localhost", "127.0.0.1")) {
                if (!names.contains(local)) {
                    names.add(local);
                }
            }
        }
        return new DashboardSettings(new InetSocketAddress(at.bareHost(), at.port()), names, dashboardSessionLifetime,
                DashboardSettings.DEFAULT_SAMPLE_EVERY, dashboardTlsCert, dashboardTlsKey);
    }

    /** A name for the dashboard's certificate: a DNS name (labels) or an IP literal. */
    private static String dashboardName(String name) {
        boolean dns = name.length() <= 253 && Arrays.stream(name.split("\\.", -1)).allMatch(l -> !l.isEmpty()
                && l.length() <= 63 && l.matches("[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?"));
        if (dns && !name.matches("[0-9.]+")) {
            return name.toLowerCase(Locale.ROOT);
        }
        try {
            return io.virtfleet.common.validation.IpLiterals.canonical("dashboard-names", name);
        } catch (InvalidInputException e) {
            throw new InvalidInputException("dashboard-names", name, "DNS names or IP addresses, comma-separated,"
                    + " e.g. controller.example.net,192.0.2.10");
        }
    }

    private HostLoss.Settings hostLoss() {
        HostLoss.Mode mode;
        try {
            mode = HostLoss.Mode.parse(failover);
        } catch (IllegalArgumentException e) {
            throw new InvalidInputException("failover", failover, "manual or automatic");
        }
        if (hostLostAfter.compareTo(unreachableAfter) <= 0) {
            throw new InvalidInputException("host-lost-after", hostLostAfter.toString(),
                    "a duration longer than unreachable-after (" + unreachableAfter + "): a host is first unreachable,"
                            + " and suspected lost only after that");
        }
        if (mode == HostLoss.Mode.AUTOMATIC && cephAdminConf == null) {
            throw new InvalidInputException("failover", failover, "manual, or automatic together with ceph-admin-conf:"
                    + " automatic failover fences a lost host in Ceph before restarting its VMs");
        }
        return new HostLoss.Settings(hostLostAfter, mode);
    }

    private InetSocketAddress gitAddress() {
        Endpoint git = Endpoint.parse("git-listen", gitListen);
        return new InetSocketAddress(git.bareHost(), git.port());
    }

    Provisioning provisioning() {
        List<Endpoint> monitors = new ArrayList<>();
        for (String m : cephMonitors == null ? List.<String>of() : cephMonitors) {
            monitors.add(Endpoint.parse("ceph-monitors", m));
        }
        DomainSettings defaults = DomainSettings.defaults();
        DomainSettings domain = new DomainSettings(domainType, defaults.machineType(), monitors, cephClient, cephPoolSsd,
                cephPoolSata, defaults.imagesDirectory(), publicBridge);
        Map<String, String> routes = new LinkedHashMap<>();
        for (String r : failoverRoutes == null ? List.<String>of() : failoverRoutes) {
            int eq = r.indexOf('=');
            if (eq < 0) {
                throw new InvalidInputException("failover-routes", r, "IP=HOST pairs, e.g. 203.0.113.7=hv1");
            }
            String ip = Ipv4.failoverAddress("failover-routes", r.substring(0, eq)).toString();
            routes.put(ip, Names.hostName("failover-routes", r.substring(eq + 1)));
        }
        if (reconcileInterval.compareTo(Duration.ofSeconds(1)) < 0) {
            throw new InvalidInputException("reconcile-interval", reconcileInterval.toString(), "at least 1s");
        }
        Policy policy = new Policy(memoryRatio, vcpuOvercommit, Policy.Strategy.parse("placement", placement), 0.4, 0.4, 0.2,
                Policy.parseNPlusOne("n-plus-one", nPlusOne));
        if (syncDeadline.compareTo(Duration.ofSeconds(1)) < 0 || syncDeadline.compareTo(Duration.ofMinutes(10)) > 0) {
            throw new InvalidInputException("sync-deadline", syncDeadline.toString(), "1s to 10m");
        }
        OvhSettings ovh = ovh();
        if (ovh.enabled() && !routes.isEmpty()) {
            org.slf4j.LoggerFactory.getLogger(ControllerMain.class).warn("failover-routes is ignored: with ovh-config,"
                    + " OVH's API says where each failover IP is routed");
        }
        return new Provisioning(policy, routes, domain, reconcileInterval, syncDeadline, install(), boot(), ovh);
    }

    /**
     * OVH's API, if ovh-config names its file: read and checked now, so a controller with a file readable by others,
     * a key missing or an endpoint that is not HTTPS does not start.
     */
    OvhSettings ovh() {
        Map<String, String> services = new LinkedHashMap<>();
        for (String pair : ovhServices == null ? List.<String>of() : ovhServices) {
            int eq = pair.indexOf('=');
            String service = eq < 0 ? "" : pair.substring(eq + 1);
            if (eq < 0 || !SERVICE_NAME.matcher(service).matches()) {
                throw new InvalidInputException("ovh-services", pair, "HOST=SERVICE_NAME pairs, the service name as OVH"
                        + " shows it (letters, digits, '.', '-'), e.g. hv1=ns3001234.ip-203-0-113.eu");
            }
            String host = Names.hostName("ovh-services", pair.substring(0, eq));
            if (services.containsKey(host)) {
                throw new InvalidInputException("ovh-services", pair, "one service name per host (" + host + " is"
                        + " listed twice)");
            }
            if (services.containsValue(service)) {
                throw new InvalidInputException("ovh-services", pair, "one host per OVH service name");
            }
            services.put(host, service);
        }
        if (ovhConfig == null) {
            if (!services.isEmpty()) {
                throw new InvalidInputException("ovh-services", String.join(",", ovhServices), "no value without"
                        + " ovh-config: service names are only used through OVH's API");
            }
            return OvhSettings.none();
        }
        if (ovhTaskDeadline.compareTo(Duration.ofSeconds(10)) < 0 || ovhTaskDeadline.compareTo(Duration.ofHours(1)) > 0) {
            throw new InvalidInputException("ovh-task-deadline", ovhTaskDeadline.toString(), "10s to 1h");
        }
        OvhSettings settings = OvhSettings.of(OvhAccount.load(ovhConfig), services);
        return settings.withTimings(ovhTaskDeadline, settings.requestTimeout(), settings.pollInterval());
    }

    BootSettings boot() {
        Endpoint at = Endpoint.parse("install-listen", installListen);
        return new BootSettings(BootMode.parse("boot-mode", bootMode), tftpRoot,
                new InetSocketAddress(at.bareHost(), at.port()), installUrl == null ? "" : installUrl);
    }

    InstallSettings install() {
        return new InstallSettings(profilesDir, installDomain == null ? "" : installDomain, installMirror,
                installMirrorDirectory, installProxy == null ? "" : installProxy, installUser, installSshKeys,
                installNameservers);
    }

    /** Shorter lives would have hosts renewing all the time; tests set lifetimes directly instead. */
    private static void atLeastTenMinutes(String key, Duration lifetime) {
        if (lifetime.compareTo(Duration.ofMinutes(10)) < 0) {
            throw new InvalidInputException(key, lifetime.toString(), "at least 10m");
        }
    }
}
