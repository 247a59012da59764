package io.virtfleet.controller.reconcile;

/** Where a long operation reports each step as it happens (the CLI shows them as they stream in). */
@FunctionalInterface
public interface Progress {
    Progress NONE = (step, host, detail) -> { };

    void step(String step, String host, String detail);
}
