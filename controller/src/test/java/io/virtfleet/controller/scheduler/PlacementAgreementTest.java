package io.virtfleet.controller.scheduler;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.virtfleet.proto.v1.HostState;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * On generated fleets, the fast decision and the explanation agree on every request, the choice is the best
 * fitting host, and no sequence of decisions ever promises a host more than its limits.
 */
class PlacementAgreementTest {
    @Test
    void theDecisionIsAlwaysTheExplanationsBestFittingHost() {
        for (long seed = 1; seed <= 20; seed++) {
            for (Policy policy : List.of(Policy.defaults(), Policy.defaults().withStrategy(Policy.Strategy.PACK))) {
                Random rnd = new Random(seed);
                List<HostSnapshot> fleet = Fleets.random(5 + rnd.nextInt(60), seed);
                Scheduler s = new Scheduler(policy, Map.of(), ClaimBook.inMemory(), () -> 0L);
                fleet.forEach(s::update);
                Map<String, HostSnapshot> byName = new HashMap<>();
                fleet.forEach(h -> byName.put(h.name(), h));
                for (int i = 0; i < 300; i++) {
                    Request r = Fleets.randomVm("vm" + i, rnd);
                    Explanation e = s.explain(r);
                    Decision d = s.place(r);
                    String where = "seed " + seed + " " + policy.strategy() + " request " + r;
                    assertEquals(e.chosenHost(), d.placed() ? d.claim().host() : null, where);
                    double bestFitting = e.verdicts().stream().filter(Verdict::fits).mapToDouble(Verdict::score)
                            .max().orElse(Double.NaN);
                    if (d.placed()) {
                        assertEquals(bestFitting, d.chosen().score(), where);
                        assertEquals(e.verdicts().get(0).host(), d.claim().host(), "chosen host listed first");
                        HostSnapshot h = byName.get(d.claim().host());
                        assertEquals(HostState.HOST_STATE_READY, h.state(), where);
                        assertTrue(h.tiers().contains(r.storage()), where);
                    } else {
                        assertTrue(Double.isNaN(bestFitting), "nothing fits according to the explanation too: " + where);
                        assertEquals(e.verdicts().size(), d.explanation().verdicts().size());
                    }
                    if (rnd.nextInt(5) == 0) {
                        s.release("vm" + rnd.nextInt(i + 1)); // deletions free capacity as the fleet lives
                    }
                }
                for (HostSnapshot h : fleet) {
                    long[] promised = s.allocated(h.name());
                    assertTrue(promised[0] <= Fit.memoryLimit(h.memoryTotal(), policy.memoryRatio()), h.name() + " memory");
                    assertTrue(promised[1] <= Fit.vcpuLimit(h.threads(), policy.vcpuOvercommit()), h.name() + " vCPUs");
                    assertTrue(promised[2] <= h.imagesTotal(), h.name() + " raw");
                }
                Map<String, Map<String, Integer>> groups = new HashMap<>();
                for (Claim c : s.claims()) {
                    if (c.spreadGroup() != null) {
                        int n = groups.computeIfAbsent(c.spreadGroup(), g -> new HashMap<>()).merge(c.host(), 1, Integer::sum);
                        assertEquals(1, n, "two members of " + c.spreadGroup() + " on " + c.host());
                    }
                }
            }
        }
    }
}
