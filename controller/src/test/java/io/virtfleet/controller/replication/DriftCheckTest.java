package io.virtfleet.controller.replication;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.virtfleet.controller.definitions.DefinitionsRepo;
import io.virtfleet.common.fingerprint.Sha256;
import io.virtfleet.controller.definitions.VmStore;
import io.virtfleet.controller.registry.HostRegistry;
import io.virtfleet.controller.registry.Liveness;
import io.virtfleet.proto.v1.DomainInfo;
import io.virtfleet.proto.v1.DomainState;
import io.virtfleet.proto.v1.Drift;
import io.virtfleet.proto.v1.DriftKind;
import io.virtfleet.proto.v1.DriftReport;
import io.virtfleet.proto.v1.HostReport;
import io.virtfleet.proto.v1.HostSync;
import io.virtfleet.proto.v1.NetworkSpec;
import io.virtfleet.proto.v1.StorageTier;
import io.virtfleet.proto.v1.Vm;
import io.virtfleet.proto.v1.VmPhase;
import io.virtfleet.proto.v1.VmSpec;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * How the drift report judges hosts' reports against a real definitions repository: each case builds the
 * fingerprints an agent would report (source, defined, current) and checks the verdict and whether the
 * reconciler is allowed to repair it.
 */
class DriftCheckTest {
    private static final String WEB_XML = "<domain type='kvm'><name>web</name></domain>\n";
    private static final String DB_XML = "<domain type='kvm'><name>db</name></domain>\n";
    private static final String LIBVIRT_WEB = "sha-of-libvirt-web";

    @TempDir
    Path dir;

    private DefinitionsRepo repo;
    private VmStore store;
    private final AtomicLong now = new AtomicLong(1_000_000_000_000L);
    private HostRegistry registry;
    private DriftCheck check;
    private final java.util.Set<String> converging = new java.util.HashSet<>();

    @BeforeEach
    void repositoryWithAReplicatedAndALocalVm() throws Exception {
        repo = DefinitionsRepo.open(dir.resolve("definitions"));
        store = new VmStore(repo);
        store.save(vm("web", "hv1", true), WEB_XML, "create web", "alice");
        store.save(vm("db", "hv2", false), DB_XML, "create db", "alice");
        registry = new HostRegistry(now::get, Clock.systemUTC());
        check = new DriftCheck(store, registry, new Liveness(Duration.ofSeconds(5)), (vm, host) -> converging.contains(vm));
    }

    @AfterEach
    void close() {
        repo.close();
    }

    @Test
    void hostsHoldingTheCurrentDefinitionsUntouchedShowNoDrift() {
        host("hv1", running(home("web")));
        host("hv2", home("db"), replica("web"));
        host("hv3", replica("web"));
        DriftReport report = check.report();
        assertEquals(List.of(), report.getDriftsList());
        assertTrue(report.getHostsList().stream().noneMatch(HostSync::getBehind), report.toString());
    }

    @Test
    void aHostWithoutAReplicaMissesIt_andTheNonReplicatedVmIsWantedOnlyAtHome() {
        host("hv1", running(home("web")));
        host("hv2", home("db"), replica("web"));
        host("hv3");
        Map<String, List<Drift>> byHost = byHost(check.report());
        assertEquals(List.of("hv3"), List.copyOf(byHost.keySet()));
        Drift d = byHost.get("hv3").get(0);
        assertEquals("web", d.getVm());
        assertEquals(DriftKind.DRIFT_KIND_MISSING, d.getKind());
        assertTrue(d.getRepairable());
    }

    @Test
    void aReplicaChangedByHandIsRepairedWhenShutOffAndOnlyReportedWhileRunning() {
        host("hv1", running(home("web")));
        host("hv2", home("db"), replica("web").toBuilder().setDefinitionSha256("edited").build());
        host("hv3", running(replica("web").toBuilder().setDefinitionSha256("edited").build()));
        Map<String, List<Drift>> byHost = byHost(check.report());
        Drift shutOff = byHost.get("hv2").get(0);
        assertEquals(DriftKind.DRIFT_KIND_CHANGED_BY_HAND, shutOff.getKind());
        assertTrue(shutOff.getRepairable());
        Drift running = byHost.get("hv3").get(0);
        assertEquals(DriftKind.DRIFT_KIND_CHANGED_BY_HAND, running.getKind());
        assertFalse(running.getRepairable(), running.toString());
        assertTrue(running.getDetail().contains("not overwritten"), running.getDetail());
    }

    @Test
    void aReplicaDefinedFromAnOlderDefinitionIsStale() throws Exception {
        DomainInfo homeBefore = running(home("web"));
        DomainInfo replicaBefore = replica("web");
        DomainInfo db = home("db");
        store.save(vm("web", "hv1", true), WEB_XML.replace("<domain", "<domain id='2'"), "change web", "alice");
        host("hv1", homeBefore);
        host("hv2", db, replicaBefore);
        List<Drift> drifts = check.report().getDriftsList();
        // Both hosts say they are in step with the new commit, yet hold the definition from before the change.
        assertEquals(List.of("hv1:web:DRIFT_KIND_STALE", "hv2:web:DRIFT_KIND_STALE"),
                drifts.stream().map(d -> d.getHost() + ":" + d.getVm() + ":" + d.getKind()).sorted().toList());
    }

    @Test
    void extraDomains_ownReplicasOfGoneVmsAreRepairable_foreignDomainsAreLeftAlone() throws Exception {
        host("hv1", running(home("web")));
        host("hv2", home("db"), replica("web"), replica("old"),
                DomainInfo.newBuilder().setName("legacy").setState(DomainState.DOMAIN_STATE_RUNNING).build());
        host("hv3", replica("web"), DomainInfo.newBuilder().setName("db").setState(DomainState.DOMAIN_STATE_SHUTOFF).build());
        Map<String, Drift> extra = check.report().getDriftsList().stream()
                .collect(Collectors.toMap(d -> d.getHost() + ":" + d.getVm(), d -> d));
        assertEquals(DriftKind.DRIFT_KIND_EXTRA, extra.get("hv2:old").getKind());
        assertTrue(extra.get("hv2:old").getRepairable());
        assertEquals(DriftKind.DRIFT_KIND_EXTRA, extra.get("hv2:legacy").getKind());
        assertFalse(extra.get("hv2:legacy").getRepairable(), "virtfleet never defined it: not its to remove");
        assertTrue(extra.get("hv2:legacy").getForeign());
        assertFalse(extra.get("hv2:old").getForeign(), "virtfleet's own replica");
        assertFalse(extra.get("hv3:db").getForeign(), "named after a VM of the repository");
        assertEquals(DriftKind.DRIFT_KIND_EXTRA, extra.get("hv3:db").getKind());
        assertTrue(extra.get("hv3:db").getDetail().contains("lives on hv2"), extra.get("hv3:db").getDetail());
        assertEquals(3, extra.size(), extra.toString());
    }

    @Test
    void aHostBehindTheHeadIsListedAndAnUnreachableOneIsNotJudged() throws Exception {
        String head = repo.head();
        registry.register("id-hv1", "127.0.0.1:1", "t", List.of("sata"), report("hv1", head, running(home("web"))));
        registry.register("id-hv2", "127.0.0.1:2", "t", List.of("sata"), report("hv2", "0".repeat(40), home("db")));
        now.addAndGet(Duration.ofSeconds(10).toNanos()); // both silent past the grace...
        registry.heartbeat(registry.get("hv1").orElseThrow().sessionId(), report("hv1", head, running(home("web"))));
        DriftReport r = check.report();
        Map<String, HostSync> hosts = r.getHostsList().stream().collect(Collectors.toMap(HostSync::getHost, h -> h));
        assertFalse(hosts.get("hv1").getBehind());
        assertTrue(hosts.get("hv2").getBehind());
        // ...hv2 lacks its replica of web, but its report is too old to judge: no drift is claimed for it.
        assertTrue(r.getDriftsList().stream().noneMatch(d -> d.getHost().equals("hv2")), r.toString());
    }

    @Test
    void aHostBehindIsJudgedOnlyOnHandChanges_itsSyncDoesTheRest() throws Exception {
        host("hv1", running(home("web")));
        registry.register("id-hv2", "127.0.0.1:2", "t", List.of("sata"), report("hv2", "0".repeat(40),
                home("db").toBuilder().setDefinitionSha256("edited").build(), replica("gone")));
        List<Drift> drifts = check.report().getDriftsList();
        // No "missing web" (its replica comes with the sync) and no "extra gone" (the sync undefines it).
        assertEquals(List.of("hv2:db:DRIFT_KIND_CHANGED_BY_HAND"),
                drifts.stream().map(d -> d.getHost() + ":" + d.getVm() + ":" + d.getKind()).toList());
    }

    @Test
    void aVmTheReconcilerIsStillBuildingIsNotMissingAtHome() {
        converging.add("db");
        host("hv1", running(home("web")));
        host("hv2", replica("web"));
        assertEquals(List.of(), check.report().getDriftsList());
        converging.clear();
        assertEquals(List.of("hv2:db:DRIFT_KIND_MISSING"), check.report().getDriftsList().stream()
                .map(d -> d.getHost() + ":" + d.getVm() + ":" + d.getKind()).toList());
    }

    @Test
    void aVmBeingDeletedIsWantedNowhere() throws Exception {
        store.save(vm("web", "hv1", true).toBuilder().setPhase(VmPhase.VM_PHASE_DELETING).build(), null, "delete web", "alice");
        host("hv1", home("web"));
        host("hv2", home("db"));
        List<Drift> drifts = check.report().getDriftsList();
        assertEquals(List.of("hv1:web:DRIFT_KIND_EXTRA"), drifts.stream().map(d -> d.getHost() + ":" + d.getVm() + ":" + d.getKind()).toList());
    }

    // ---------------------------------------------------------------------------------------------------

    private static Vm vm(String name, String home, boolean replicated) {
        return Vm.newBuilder().setHomeHost(home).setRunningWanted(true).setSpec(VmSpec.newBuilder().setName(name)
                .setStorage(replicated ? StorageTier.STORAGE_TIER_SATA : StorageTier.STORAGE_TIER_RAW)
                .setDiskBytes(10L << 30).setMemoryBytes(1L << 30).setVcpus(1).setReplicated(replicated)
                .setNetwork(NetworkSpec.newBuilder().setLan(10)).setProfile("base")).build();
    }

    private DomainInfo home(String vm) {
        return defined(vm, false);
    }

    private DomainInfo replica(String vm) {
        return defined(vm, true);
    }

    /** A domain as an agent reports it right after defining it from the repository's current file. */
    private DomainInfo defined(String vm, boolean replica) {
        String source;
        try {
            source = store.domainXml(vm).map(Sha256::hex).orElse("sha-of-a-file-no-longer-there");
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        String libvirt = vm.equals("web") ? LIBVIRT_WEB : "sha-of-libvirt-" + vm;
        return DomainInfo.newBuilder().setName(vm).setState(DomainState.DOMAIN_STATE_SHUTOFF).setReplica(replica)
                .setSourceSha256(source).setDefinedSha256(libvirt).setDefinitionSha256(libvirt).build();
    }

    private static DomainInfo running(DomainInfo d) {
        return d.toBuilder().setState(DomainState.DOMAIN_STATE_RUNNING).build();
    }

    private void host(String name, DomainInfo... domains) {
        try {
            registry.register("id-" + name, "127.0.0.1:1", "t", List.of("sata", "raw"), report(name, repo.head(), domains));
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    private static HostReport report(String name, String synced, DomainInfo... domains) {
        return HostReport.newBuilder().setHostName(name).setSyncedCommit(synced).addAllDomains(List.of(domains)).build();
    }

    private static Map<String, List<Drift>> byHost(DriftReport r) {
        return r.getDriftsList().stream().collect(Collectors.groupingBy(Drift::getHost, java.util.TreeMap::new, Collectors.toList()));
    }
}
