package io.virtfleet.controller.dashboard;

import static io.virtfleet.controller.dashboard.Html.bar;
import static io.virtfleet.controller.dashboard.Html.badge;
import static io.virtfleet.controller.dashboard.Html.esc;
import static io.virtfleet.controller.dashboard.Html.url;

import io.virtfleet.common.security.FleetIdentity;
import io.virtfleet.common.units.Bytes;
import io.virtfleet.common.validation.StorageTiers;
import io.virtfleet.controller.dashboard.DashboardRoutes.Page;
import io.virtfleet.proto.v1.CapacityReport;
import io.virtfleet.proto.v1.CapacityRequest;
import io.virtfleet.proto.v1.DomainState;
import io.virtfleet.proto.v1.Drift;
import io.virtfleet.proto.v1.DriftReport;
import io.virtfleet.proto.v1.GetDriftRequest;
import io.virtfleet.proto.v1.GetVmRequest;
import io.virtfleet.proto.v1.Host;
import io.virtfleet.proto.v1.HostCapacity;
import io.virtfleet.proto.v1.HostState;
import io.virtfleet.proto.v1.HostSync;
import io.virtfleet.proto.v1.HostVerdict;
import io.virtfleet.proto.v1.ListHostsRequest;
import io.virtfleet.proto.v1.ListHostsResponse;
import io.virtfleet.proto.v1.ListVmsRequest;
import io.virtfleet.proto.v1.PlaceRequest;
import io.virtfleet.proto.v1.PlacementExplanation;
import io.virtfleet.proto.v1.Vm;
import io.virtfleet.proto.v1.VmEvent;
import io.virtfleet.proto.v1.VmHistory;
import io.virtfleet.proto.v1.VmSpec;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.List;
import java.util.Locale;

/** The dashboard's pages, rendered on the server from the operator's calls; fragments are what the pages poll. */
final class Pages {
    /** How often a page asks for its fragment again, in milliseconds (read by dashboard.js). */
    static final int POLL_MS = 5000;
    private static final DateTimeFormatter TIME = DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm:ss 'UTC'").withZone(ZoneOffset.UTC);

    private final OperatorCalls calls;
    private final LoadHistory history;
    /** What the load chart spans, in words ("10 min"). */
    private final String historySpan;
    private final Actions actions;

    /** @param actions the levers pulled from this dashboard, whose outcomes the VM's and the fleet's pages show */
    Pages(OperatorCalls calls, LoadHistory history, java.time.Duration sampleEvery, Actions actions) {
        this.historySpan = describe(sampleEvery.multipliedBy(LoadHistory.SAMPLES));
        this.calls = calls;
        this.history = history;
        this.actions = actions;
    }

    private static String describe(java.time.Duration d) {
        return d.toMinutes() >= 2 ? d.toMinutes() + " min" : d.toSeconds() + " s";
    }

    // ---- layout

    static String layout(Page page, String title, String body) {
        StringBuilder h = new StringBuilder(4096);
        h.append("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">")
                .append("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">")
                .append("<title>").append(esc(title)).append(" · virtfleet</title>")
                .append("<link rel=\"stylesheet\" href=\"/static/dashboard.css\">")
                .append("<script src=\"/static/dashboard.js\" defer></script></head><body>");
        if (page != null) {
            var s = page.session();
            h.append("<header><a class=\"brand\" href=\"/\">virtfleet</a><nav>")
                    .append("<a href=\"/\">Fleet</a><a href=\"/vms\">VMs</a><a href=\"/drift\">Drift</a>")
                    .append("<a href=\"/place\">Placement</a><a href=\"/capacity\">Capacity</a></nav>")
                    .append("<span class=\"who\" id=\"who\">").append(esc(s.operator().name())).append(" (")
                    .append(s.admin() ? "admin" : "viewer").append(")</span>")
                    .append("<form method=\"post\" action=\"/logout\" class=\"inline\">").append(csrf(page))
                    .append("<button type=\"submit\" class=\"link\">Log out</button></form></header>");
        }
        h.append("<main><h1>").append(esc(title)).append("</h1>").append(body).append("</main></body></html>");
        return h.toString();
    }

    static String csrf(Page page) {
        return "<input type=\"hidden\" name=\"csrf\" value=\"" + esc(page.session().csrfToken()) + "\">";
    }

    /** A block the page's script replaces every few seconds with the fragment at {@code url}. */
    static String polled(String id, String url, String content) {
        return "<div id=\"" + esc(id) + "\" data-poll=\"" + esc(url) + "\" data-poll-ms=\"" + POLL_MS + "\">" + content + "</div>";
    }

    static String loggedOut() {
        return layout(null, "Log in", "<p>This dashboard needs a login link. On a machine with your virtfleet credentials, run"
                + " <code>virtfleet dashboard</code> and open the link it prints (it works once, for a few minutes).</p>");
    }

    /** A login link's page: who it logs in as, and the button that does (see DashboardRoutes#loginPage). */
    static String login(FleetIdentity operator, String token, String formToken) {
        String who = operator.name() + " (" + (operator.role() == FleetIdentity.Role.ADMIN
                ? "admin" : "viewer") + ")";
        return layout(null, "Log in as " + operator.name(), "<p>This login link starts a dashboard session as <strong id=\"login-as\">"
                + esc(who) + "</strong>.</p><form method=\"post\" action=\"/login\">"
                + "<input type=\"hidden\" name=\"token\" value=\"" + esc(token) + "\">"
                + "<input type=\"hidden\" name=\"csrf\" value=\"" + esc(formToken) + "\">"
                + "<button type=\"submit\" id=\"login\">Log in as " + esc(operator.name()) + "</button></form>"
                + "<p class=\"muted\">The link works once: pressing the button spends it (opening the link did not).</p>");
    }

    static String loginRefused() {
        return layout(null, "Login link not valid", "<p class=\"error\" id=\"refusal\">This login link was used already,"
                + " has expired, or was never issued. Run <code>virtfleet dashboard</code> for a new one.</p>");
    }

    // ---- fleet at a glance

    String fleet(Page page) {
        return layout(page, "Fleet", polled("hosts", "/fragment/hosts", hostsFragment(page)));
    }

    String hostsFragment(Page page) {
        ListHostsResponse hosts = calls.as(page.secret()).listHosts(ListHostsRequest.getDefaultInstance());
        StringBuilder h = new StringBuilder();
        long ready = hosts.getHostsList().stream().filter(x -> x.getState() == HostState.HOST_STATE_READY).count();
        long vms = 0;
        long running = 0;
        for (Host host : hosts.getHostsList()) {
            vms += host.getReport().getDomainsCount();
            running += host.getReport().getDomainsList().stream().filter(d -> d.getState() == DomainState.DOMAIN_STATE_RUNNING).count();
        }
        h.append("<p class=\"summary\">").append(hosts.getHostsCount()).append(" hosts, ").append(ready).append(" ready; ")
                .append(running).append(" domains running of ").append(vms).append(" defined. Updated ")
                .append(esc(TIME.format(Instant.ofEpochMilli(hosts.getTakenAtUnixMs())))).append(".</p>");
        if (!hosts.getRestoreHoldBackupTakenAt().isEmpty()) {
            h.append("<p class=\"error\">Holding after a restore from a backup taken at ")
                    .append(esc(hosts.getRestoreHoldBackupTakenAt())).append(": no domain is changed until an admin releases the hold.</p>");
        }
        h.append("<div class=\"scroll\"><table class=\"hosts\"><thead><tr><th>Host</th><th>State</th><th>Load (1 min, per thread)</th>")
                .append("<th>Load, last ").append(historySpan).append("</th><th>Memory</th><th>Domains running</th><th></th></tr></thead><tbody>");
        for (Host host : hosts.getHostsList()) {
            var res = host.getReport().getResources();
            int threads = Math.max(1, res.getLogicalThreads());
            double load = res.getLoadAverage1M() / threads;
            long total = res.getMemoryTotalBytes();
            long used = Math.max(0, total - res.getMemoryAvailableBytes());
            int defined = host.getReport().getDomainsCount();
            long up = host.getReport().getDomainsList().stream().filter(d -> d.getState() == DomainState.DOMAIN_STATE_RUNNING).count();
            String name = host.getName();
            h.append("<tr data-host=\"").append(esc(name)).append("\"><td><a href=\"/vms?host=").append(esc(url(name))).append("\">")
                    .append(esc(name)).append("</a></td><td>").append(state(host)).append("</td><td>")
                    .append(res.getLoadAverage1M() < 0 ? "<span class=\"muted\">n/a</span>"
                            : bar(load, String.format(Locale.ROOT, "%.2f (%.2f on %d threads)", load, res.getLoadAverage1M(), threads)))
                    .append("</td><td>").append(Html.sparkline(history.of(name), "load per thread of " + name + ", oldest first"))
                    .append("</td><td>").append(total <= 0 ? "<span class=\"muted\">n/a</span>"
                            : bar((double) used / total, Bytes.human(used) + " of " + Bytes.human(total)))
                    .append("</td><td>").append(Html.share(defined == 0 ? 0 : (double) up / defined, up + " of " + defined))
                    .append("</td><td>").append(hostAction(host))
                    .append(actions.outcome(Actions.subjectOfHost(name)).map(o -> Actions.html(o, "class=\"lever-outcome "
                            + (o.failed() ? "error" : "muted") + "\"")).orElse(""))
                    .append("</td></tr>");
        }
        h.append("</tbody></table></div>");
        return h.toString();
    }

    private static String state(Host host) {
        String word = switch (host.getState()) {
            case HOST_STATE_READY -> "ready";
            case HOST_STATE_DEGRADED -> "degraded";
            case HOST_STATE_UNREACHABLE -> "unreachable";
            case HOST_STATE_DRAINING -> "draining";
            case HOST_STATE_FENCED -> "fenced";
            default -> "unknown";
        };
        String kind = switch (host.getState()) {
            case HOST_STATE_READY -> "ok";
            case HOST_STATE_DRAINING, HOST_STATE_DEGRADED -> "warn";
            default -> "bad";
        };
        return "<span class=\"state\" title=\"" + esc(host.getStateReason()) + "\">" + badge(word, kind) + "</span>";
    }

    private static String hostAction(Host host) {
        String name = url(host.getName());
        if (host.getState() == HostState.HOST_STATE_DRAINING) {
            return "<a class=\"button\" href=\"/confirm?action=undrain&amp;host=" + esc(name) + "\">Undrain</a>";
        }
        if (host.getState() == HostState.HOST_STATE_READY || host.getState() == HostState.HOST_STATE_DEGRADED) {
            return "<a class=\"button\" href=\"/confirm?action=drain&amp;host=" + esc(name) + "\">Drain</a>";
        }
        return "";
    }

    // ---- VMs

    String vms(Page page, VmFilter filter) {
        StringBuilder form = new StringBuilder("<form method=\"get\" action=\"/vms\" class=\"filters\">");
        form.append("<label>State <select name=\"state\"><option value=\"\">any</option>");
        for (String s : VmFilter.STATES) {
            form.append("<option").append(s.equals(filter.state()) ? " selected" : "").append(">").append(esc(s)).append("</option>");
        }
        form.append("</select></label><label>Host <input name=\"host\" value=\"").append(esc(filter.host()))
                .append("\" size=\"10\"></label><label>Name contains <input name=\"name\" value=\"").append(esc(filter.name()))
                .append("\" size=\"12\"></label><button type=\"submit\">Filter</button></form>");
        return layout(page, "VMs", form + polled("vms", "/fragment/vms" + filter.query(), vmsFragment(page, filter)));
    }

    String vmsFragment(Page page, VmFilter filter) {
        List<Vm> vms = calls.as(page.secret()).listVms(ListVmsRequest.getDefaultInstance()).getVmsList();
        StringBuilder h = new StringBuilder("<div class=\"scroll\"><table class=\"vms\"><thead><tr><th>VM</th><th>State</th>")
                .append("<th>Home</th><th>vCPUs</th><th>Memory</th><th>Disk</th><th>Install</th></tr></thead><tbody>");
        int shown = 0;
        for (Vm vm : vms) {
            if (!filter.matches(vm)) {
                continue;
            }
            shown++;
            VmSpec s = vm.getSpec();
            h.append("<tr data-vm=\"").append(esc(s.getName())).append("\"><td><a href=\"/vm?name=").append(esc(url(s.getName())))
                    .append("\">").append(esc(s.getName())).append("</a></td><td>").append(vmState(vm)).append("</td><td>")
                    .append(esc(vm.getHomeHost())).append("</td><td>").append(s.getVcpus()).append("</td><td>")
                    .append(esc(Bytes.human(s.getMemoryBytes()))).append("</td><td>")
                    .append(esc(StorageTiers.name(s.getStorage()) + " " + Bytes.human(s.getDiskBytes()))).append("</td><td>")
                    .append(esc(install(vm))).append("</td></tr>");
        }
        h.append("</tbody></table></div><p class=\"muted\">").append(shown).append(" of ").append(vms.size()).append(" VMs shown.</p>");
        return h.toString();
    }

    private static String vmState(Vm vm) {
        String s = VmFilter.stateOf(vm);
        return badge(s, switch (s) {
            case "running" -> "ok";
            case "failed" -> "bad";
            default -> "warn";
        });
    }

    private static String install(Vm vm) {
        return switch (vm.getInstallPhase()) {
            case VM_INSTALL_PHASE_WAITING -> "waiting for the installer";
            case VM_INSTALL_PHASE_PRESEED_FETCHED -> "installing";
            case VM_INSTALL_PHASE_INSTALLED -> "installed";
            default -> "none armed";
        };
    }

    String vm(Page page, String name) {
        return layout(page, "VM " + name, polled("vm", "/fragment/vm?name=" + url(name), vmFragment(page, name)));
    }

    String vmFragment(Page page, String name) {
        Vm vm = calls.as(page.secret()).getVm(GetVmRequest.newBuilder().setName(name).build());
        VmHistory history = calls.as(page.secret()).getVmHistory(GetVmRequest.newBuilder().setName(name).build());
        VmSpec s = vm.getSpec();
        StringBuilder h = new StringBuilder("<div class=\"cols\"><section><h2>Spec</h2><dl>");
        dl(h, "State", vmState(vm) + " <span class=\"muted\">(libvirt: " + esc(VmFilter.domainWords(vm))
                + "; wanted " + (vm.getRunningWanted() ? "running" : "stopped") + ")</span>");
        dl(h, "Home host", "<span id=\"home\">" + esc(vm.getHomeHost()) + "</span>");
        dl(h, "Replicas", esc(vm.getReplicaHostsList().isEmpty() ? "none" : String.join(", ", vm.getReplicaHostsList())));
        dl(h, "vCPUs", String.valueOf(s.getVcpus()));
        dl(h, "Memory", esc(Bytes.human(s.getMemoryBytes())));
        dl(h, "Disk", esc(StorageTiers.name(s.getStorage()) + " " + Bytes.human(s.getDiskBytes()) + " (" + vm.getDisk() + ")"));
        dl(h, "Network", esc(vm.getNetwork()));
        dl(h, "Profile", esc(s.getProfile()));
        dl(h, "Install", esc(install(vm) + (vm.getInstallProfile().isEmpty() ? "" : " (profile " + vm.getInstallProfile() + ")")));
        if (!s.getSpreadGroup().isEmpty()) {
            dl(h, "Spread group", esc(s.getSpreadGroup()));
        }
        if (!s.getPinnedHost().isEmpty()) {
            dl(h, "Pinned to", esc(s.getPinnedHost()));
        }
        if (!vm.getLastError().isEmpty()) {
            dl(h, "Last error", "<span class=\"error\">" + esc(vm.getLastError()) + "</span>");
        }
        if (!vm.getMovePending().isEmpty()) {
            dl(h, "Move pending", esc(vm.getMovePending()));
        }
        h.append("</dl><h2>Actions</h2><p class=\"actions\">");
        String q = "&amp;vm=" + esc(url(name));
        h.append(vm.getRunningWanted()
                ? "<a class=\"button\" href=\"/confirm?action=stop" + q + "\">Stop</a>"
                : "<a class=\"button\" href=\"/confirm?action=start" + q + "\">Start</a>");
        h.append("<a class=\"button\" href=\"/confirm?action=move" + q + "\">Move…</a></p>");
        h.append(actions.outcomeHtml(Actions.subjectOfVm(name)));
        h.append("</section><section><h2>History</h2><ol class=\"history\">");
        for (VmEvent e : history.getEventsList()) {
            h.append("<li><span class=\"muted\">").append(esc(TIME.format(Instant.ofEpochMilli(e.getAtUnixMs())))).append("</span> ")
                    .append(esc(e.getOperator().isEmpty() ? "controller" : e.getOperator())).append(": ")
                    .append(esc(e.getMessage())).append(" <code>").append(esc(e.getCommit().substring(0, Math.min(12, e.getCommit().length()))))
                    .append("</code></li>");
        }
        h.append("</ol></section></div>");
        return h.toString();
    }

    private static void dl(StringBuilder h, String term, String html) {
        h.append("<dt>").append(esc(term)).append("</dt><dd>").append(html).append("</dd>");
    }

    // ---- drift

    String drift(Page page) {
        return layout(page, "Drift", polled("drift", "/fragment/drift", driftFragment(page)));
    }

    String driftFragment(Page page) {
        DriftReport report = calls.as(page.secret()).getDrift(GetDriftRequest.getDefaultInstance());
        StringBuilder h = new StringBuilder("<p>Definitions repository at <code>")
                .append(esc(report.getHeadCommit().substring(0, Math.min(12, report.getHeadCommit().length())))).append("</code>.</p>");
        h.append("<h2>Hosts</h2><div class=\"scroll\"><table><thead><tr><th>Host</th><th>Synced to</th><th>Sync error</th></tr></thead><tbody>");
        for (HostSync s : report.getHostsList()) {
            h.append("<tr><td>").append(esc(s.getHost())).append("</td><td>")
                    .append(s.getBehind() ? badge("behind", "warn") : badge("up to date", "ok")).append(" <code>")
                    .append(esc(s.getSyncedCommit().substring(0, Math.min(12, s.getSyncedCommit().length())))).append("</code></td><td>")
                    .append(esc(s.getSyncError())).append("</td></tr>");
        }
        h.append("</tbody></table></div><h2>Differences</h2>");
        if (report.getDriftsCount() == 0) {
            h.append("<p id=\"no-drift\">None: every host holds what the repository says.</p>");
        } else {
            h.append("<div class=\"scroll\"><table><thead><tr><th>Host</th><th>VM</th><th>Kind</th><th>Detail</th><th>Repaired by itself</th></tr></thead><tbody>");
            for (Drift d : report.getDriftsList()) {
                h.append("<tr><td>").append(esc(d.getHost())).append("</td><td>").append(esc(d.getVm())).append("</td><td>")
                        .append(esc(d.getKind().name().replace("DRIFT_KIND_", "").toLowerCase(Locale.ROOT).replace('_', ' ')))
                        .append("</td><td>").append(esc(d.getDetail())).append("</td><td>").append(d.getRepairable() ? "yes" : "no")
                        .append("</td></tr>");
            }
            h.append("</tbody></table></div>");
        }
        return h.toString();
    }

    // ---- placement and capacity

    private static String specForm(String action, SpecForm f, String button) {
        return "<form method=\"get\" action=\"" + action + "\" class=\"spec\">"
                + field("Name", "name", f.name(), 12) + "<label>Storage <select name=\"storage\">"
                + option("sata", f.storage()) + option("ssd", f.storage()) + option("raw", f.storage()) + "</select></label>"
                + field("Disk", "size", f.size(), 6) + field("Memory", "memory", f.memory(), 6)
                + field("vCPUs", "vcpus", f.vcpus(), 3) + field("LAN", "lan", f.lan(), 8)
                + "<button type=\"submit\" name=\"go\" value=\"1\">" + esc(button) + "</button></form>";
    }

    private static String field(String label, String name, String value, int size) {
        return "<label>" + esc(label) + " <input name=\"" + esc(name) + "\" value=\"" + esc(value) + "\" size=\"" + size + "\"></label>";
    }

    private static String option(String value, String selected) {
        return "<option" + (value.equals(selected) ? " selected" : "") + ">" + esc(value) + "</option>";
    }

    String place(Page page, SpecForm form) {
        StringBuilder h = new StringBuilder("<p>Where a VM of this spec would go, and why not elsewhere. Changes nothing.</p>")
                .append(specForm("/place", form, "Explain"));
        VmSpec spec;
        try {
            spec = form.spec();
        } catch (io.virtfleet.common.validation.InvalidInputException bad) {
            return layout(page, "Placement", h + "<p class=\"error\" id=\"refusal\">" + esc(bad.getMessage()) + "</p>");
        }
        PlacementExplanation e = calls.as(page.secret()).place(PlaceRequest.newBuilder().setSpec(spec).build());
        h.append("<p id=\"chosen\">").append(e.getChosenHost().isEmpty() ? "<strong>No host fits.</strong>"
                : "Would go to <strong>" + esc(e.getChosenHost()) + "</strong>.").append("</p>");
        h.append("<div class=\"scroll\"><table class=\"verdicts\"><thead><tr><th>Host</th><th>Fits</th><th>Score</th><th>Why not</th></tr></thead><tbody>");
        for (HostVerdict v : e.getVerdictsList()) {
            h.append("<tr><td>").append(esc(v.getHost())).append("</td><td>").append(v.getFits() ? badge("yes", "ok") : badge("no", "bad"))
                    .append("</td><td>").append(v.getFits() ? String.format(Locale.ROOT, "%.3f", v.getScore()) : "")
                    .append("</td><td>").append(v.getFits() ? "" : esc(v.getFailedFilter() + ": " + v.getReason())).append("</td></tr>");
        }
        h.append("</tbody></table></div>");
        return layout(page, "Placement", h.toString());
    }

    String capacity(Page page, SpecForm form) {
        StringBuilder h = new StringBuilder("<p>How many more VMs of this spec fit, host by host, as placement would place them.</p>")
                .append(specForm("/capacity", form, "Count"));
        VmSpec spec;
        try {
            spec = form.spec();
        } catch (io.virtfleet.common.validation.InvalidInputException bad) {
            return layout(page, "Capacity", h + "<p class=\"error\" id=\"refusal\">" + esc(bad.getMessage()) + "</p>");
        }
        CapacityReport r = calls.as(page.secret()).capacity(CapacityRequest.newBuilder().setSpec(spec).build());
        h.append("<p id=\"total\"><strong>").append(r.getTotal()).append("</strong> more fit in all")
                .append(r.getNPlusOne() ? ", keeping the N+1 reserve" : "").append(".</p>");
        long most = r.getHostsList().stream().mapToLong(HostCapacity::getFits).max().orElse(0);
        h.append("<div class=\"scroll\"><table><thead><tr><th>Host</th><th>Fit</th><th>Stopped by</th></tr></thead><tbody>");
        for (HostCapacity c : r.getHostsList()) {
            h.append("<tr><td>").append(esc(c.getHost())).append("</td><td>").append(Html.share(most == 0 ? 0 : (double) c.getFits() / most,
                    String.valueOf(c.getFits()))).append("</td><td>").append(esc(c.getLimit() + (c.getReason().isEmpty() ? "" : ": " + c.getReason())))
                    .append("</td></tr>");
        }
        h.append("</tbody></table></div>");
        return layout(page, "Capacity", h.toString());
    }
}
