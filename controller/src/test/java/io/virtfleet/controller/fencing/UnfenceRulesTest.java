package io.virtfleet.controller.fencing;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grpc.StatusRuntimeException;
import io.virtfleet.controller.definitions.DefinitionsRepo;
import io.virtfleet.controller.definitions.VmStore;
import io.virtfleet.controller.registry.Drains;
import io.virtfleet.controller.registry.HostRegistry;
import io.virtfleet.controller.registry.Liveness;
import io.virtfleet.proto.v1.DomainInfo;
import io.virtfleet.proto.v1.DomainState;
import io.virtfleet.proto.v1.HostReport;
import io.virtfleet.proto.v1.Vm;
import io.virtfleet.proto.v1.VmSpec;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Unfence asks the returning host's own word that it stood down (destroyed what moved away, redefined its
 * replicas) and a domain list libvirt answered for, not only a clean-looking list.
 */
class UnfenceRulesTest {
    @TempDir
    Path work;

    private final AtomicLong now = new AtomicLong(1_000_000_000L);
    private VmStore store;

    private FenceService service(HostRegistry registry) throws Exception {
        Fences fences = Fences.open(work.resolve("fenced-hosts"));
        Liveness liveness = new Liveness(Duration.ofSeconds(15), Drains.inMemory(), fences);
        store = new VmStore(DefinitionsRepo.open(work.resolve("definitions")));
        FenceService service = new FenceService(registry, liveness, fences, FenceSettings.none(), store,
                Clock.systemUTC());
        // hv1 goes silent, and the operator confirms it down (no Ceph admin: nothing to blocklist).
        now.addAndGet(Duration.ofSeconds(16).toNanos());
        service.fence("hv1", true, "alice", p -> { });
        return service;
    }

    private static HostReport report(boolean standingDown, String commit, String error, boolean stale) {
        return HostReport.newBuilder().setHostName("hv1").setStandingDown(standingDown).setStoodDownCommit(commit)
                .setStandDownError(error).setDomainsStale(stale).build();
    }

    private String head() throws Exception {
        return store.repo().head();
    }

    /** Records {@code vm} as homed on {@code host} (a new commit of the definitions). */
    private void home(String vm, String host) throws Exception {
        store.save(Vm.newBuilder().setSpec(VmSpec.newBuilder().setName(vm)).setHomeHost(host).build(),
                "<domain type='kvm'><name>" + vm + "</name></domain>", vm + ": home " + host, "test");
    }

    private String refusal(FenceService service) {
        return assertThrows(StatusRuntimeException.class, () -> service.unfence("hv1", "alice")).getStatus()
                .getDescription();
    }

    @Test
    void unfenceWaitsForACompletedStandDownAndAnsweredDomains() throws Exception {
        HostRegistry registry = new HostRegistry(now::get, Clock.systemUTC());
        registry.register("agent-1", "10.0.0.1:7441", "test", List.of("ssd"), report(false, "", "", false));
        FenceService service = service(registry);

        registry.register("agent-1", "10.0.0.1:7441", "test", List.of("ssd"), report(true, "", "", false));
        String notYet = refusal(service);
        assertTrue(notYet.startsWith("hv1 has not stood down yet: its agent destroys"), notYet);

        registry.register("agent-1", "10.0.0.1:7441", "test", List.of("ssd"),
                report(true, "0123456789abcdef0123456789abcdef01234567", "web: libvirt: Requested operation is not valid",
                        false));
        String failed = refusal(service);
        assertTrue(failed.startsWith("hv1 has not stood down yet (web: libvirt: Requested operation"), failed);

        registry.register("agent-1", "10.0.0.1:7441", "test", List.of("ssd"), report(true, head(), "", true));
        String stale = refusal(service);
        assertTrue(stale.startsWith("hv1's libvirt did not answer its agent's last poll"), stale);

        registry.register("agent-1", "10.0.0.1:7441", "test", List.of("ssd"), report(true, head(), "", false));
        service.unfence("hv1", "alice");
        assertFalse(service.view().of("hv1").isPresent(), "stood down, domains known and clean: the fence is lifted");
    }

    @Test
    void noUnfenceWhileARecoveryOfTheHostRunsOrIsNotedAndNoRecoveryAfterIt() throws Exception {
        HostRegistry registry = new HostRegistry(now::get, Clock.systemUTC());
        registry.register("agent-1", "10.0.0.1:7441", "test", List.of("ssd"), report(false, "", "", false));
        FenceService service = service(registry);
        registry.register("agent-1", "10.0.0.1:7441", "test", List.of("ssd"), report(true, head(), "", false));

        assertTrue(service.enter("hv1"), "a recovery of a fenced host may start");
        String running = refusal(service);
        assertTrue(running.startsWith("a recovery of hv1's VMs is under way"), running);
        service.leave("hv1");

        java.util.concurrent.atomic.AtomicBoolean noted = new java.util.concurrent.atomic.AtomicBoolean(true);
        service.recoveryNoted(host -> noted.get() && host.equals("hv1"));
        String interrupted = refusal(service);
        assertTrue(interrupted.startsWith("a recovery of hv1's VMs is under way"), interrupted);
        noted.set(false);

        service.unfence("hv1", "alice");
        assertFalse(service.enter("hv1"), "once unfenced, no recovery of its VMs starts");
    }

    @Test
    void aStandDownOlderThanTheDefinitionsHeadIsNotEnough() throws Exception {
        HostRegistry registry = new HostRegistry(now::get, Clock.systemUTC());
        registry.register("agent-1", "10.0.0.1:7441", "test", List.of("ssd"), report(false, "", "", false));
        FenceService service = service(registry);
        home("web", "hv1");
        String before = head();
        registry.register("agent-1", "10.0.0.1:7441", "test", List.of("ssd"), report(true, before, "", false));

        // web moves off hv1 after hv1 stood down: that stand-down never looked at web's new home.
        home("web", "hv3");
        String stale = refusal(service);
        assertTrue(stale.startsWith("hv1 stood down against definitions commit " + before.substring(0, 12)
                + " but the definitions are at " + head().substring(0, 12)), stale);
        assertTrue(stale.contains("hv1 is catching up") && stale.contains("retry `virtfleet host unfence hv1` in a few"
                + " seconds"), stale);
        assertTrue(service.view().of("hv1").isPresent(), "still fenced");

        // Its word at the head, but no longer told to stand down (an answer it has not heard yet): not enough either.
        registry.register("agent-1", "10.0.0.1:7441", "test", List.of("ssd"), report(false, head(), "", false));
        assertTrue(refusal(service).startsWith("hv1 has not stood down yet"));

        registry.register("agent-1", "10.0.0.1:7441", "test", List.of("ssd"), report(true, head(), "", false));
        service.unfence("hv1", "alice");
        assertFalse(service.view().of("hv1").isPresent(), "stood down at the head: the fence is lifted");
    }

    @Test
    void aMovedDomainShutOffWithAutostartOnIsRefusedAsMuchAsARunningOne() throws Exception {
        HostRegistry registry = new HostRegistry(now::get, Clock.systemUTC());
        registry.register("agent-1", "10.0.0.1:7441", "test", List.of("ssd"), report(false, "", "", false));
        FenceService service = service(registry);
        home("web", "hv3");
        home("db", "hv1");
        DomainInfo webOffAutostart = DomainInfo.newBuilder().setName("web").setState(DomainState.DOMAIN_STATE_SHUTOFF)
                .setAutostart(true).setPersistent(true).build();
        // db is homed here: its autostart is the host's own business.
        DomainInfo db = DomainInfo.newBuilder().setName("db").setState(DomainState.DOMAIN_STATE_SHUTOFF)
                .setAutostart(true).setPersistent(true).build();
        registry.register("agent-1", "10.0.0.1:7441", "test", List.of("ssd"), report(true, head(), "", false).toBuilder()
                .addDomains(webOffAutostart).addDomains(db).build());

        String autostart = refusal(service);
        assertTrue(autostart.startsWith("hv1 has web (home now hv3) defined with autostart on (the agent's, or"
                + " libvirt's own): they would start at its next boot"), autostart);
        assertTrue(autostart.contains("`virsh autostart --disable` them on hv1"), autostart);

        registry.register("agent-1", "10.0.0.1:7441", "test", List.of("ssd"), report(true, head(), "", false).toBuilder()
                .addDomains(webOffAutostart.toBuilder().setState(DomainState.DOMAIN_STATE_RUNNING)).addDomains(db)
                .build());
        assertTrue(refusal(service).startsWith("hv1 still runs web (home now hv3)"));

        // What the stand-down leaves: web destroyed and its autostart off.
        registry.register("agent-1", "10.0.0.1:7441", "test", List.of("ssd"), report(true, head(), "", false).toBuilder()
                .addDomains(webOffAutostart.toBuilder().setAutostart(false)).addDomains(db).build());
        service.unfence("hv1", "alice");
        assertFalse(service.view().of("hv1").isPresent(), "no moved domain would start: the fence is lifted");
    }
}
