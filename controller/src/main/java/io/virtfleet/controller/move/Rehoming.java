package io.virtfleet.controller.move;

import io.virtfleet.controller.definitions.DomainRenderer;
import io.virtfleet.controller.definitions.VmStore;
import io.virtfleet.controller.install.Installs;
import io.virtfleet.controller.scheduler.Request;
import io.virtfleet.controller.scheduler.Scheduler;
import io.virtfleet.proto.v1.Vm;
import java.io.IOException;

/**
 * What every change of a VM's home host does, whether the VM moved (live, or stopped) or was restarted elsewhere after
 * its host was lost: the definition it keeps on its new home, the record naming that home in one commit, and the
 * claims following the record.
 */
public final class Rehoming {
    private final VmStore store;
    private final Scheduler scheduler;
    private final DomainRenderer renderer;
    private final Installs installs;

    public Rehoming(VmStore store, Scheduler scheduler, DomainRenderer renderer, Installs installs) {
        this.store = store;
        this.scheduler = scheduler;
        this.renderer = renderer;
        this.installs = installs;
    }

    /** The VM's definition on {@code target}: the repository's, only its host's own parts changed (see MoveDefinition). */
    public String definitionOn(Vm vm, String target) throws IOException {
        String name = vm.getSpec().getName();
        return MoveDefinition.forTarget(store.domainXml(name).orElseThrow(() -> new IOException(
                "no domain definition for " + name + " in the definitions repository")), vm.getSpec(),
                renderer.render(vm.getSpec(), target, installs.bootAfterInstall()));
    }

    /** Commits the record naming {@code target} as the VM's home, with its definition there; returns the record. */
    public Vm record(Vm vm, String target, String targetXml, String message, String operator) throws IOException {
        Vm now = vm.toBuilder().setHomeHost(target)
                .setDisk(renderer.render(vm.getSpec(), target, installs.bootAfterInstall()).disk()).build();
        store.save(now, targetXml, message, operator);
        return now;
    }

    /**
     * Moves the VM's claim to its recorded home and gives back the claim its target was held under meanwhile
     * ({@code targetClaim}, e.g. "web/move").
     */
    public void claimsFollow(Vm recorded, String targetClaim) {
        String name = recorded.getSpec().getName();
        var own = scheduler.claimOf(name);
        if (own != null && !own.host().equals(recorded.getHomeHost())) {
            scheduler.release(name);
        }
        scheduler.restore(Request.of(recorded.getSpec()), recorded.getHomeHost());
        scheduler.release(targetClaim);
    }
}
