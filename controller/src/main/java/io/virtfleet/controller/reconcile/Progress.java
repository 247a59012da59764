package io.virtfleet.controller.reconcile;

/** Where a long operation reports each step as it happens (the CLI shows them as they stream in). */
@FunctionalInterface
public interface Progress {
    Progress NONE = (step, host, detail) -> { };

    void step(String step, String host, String detail);

    /**
     * This progress, safe to call from several threads at once (a fan-out reports each host from the thread its
     * answer arrives on, while the create goes on with its own steps): one step at a time reaches the sink.
     */
    default Progress serialized() {
        Progress sink = this;
        Object lock = new Object();
        return (step, host, detail) -> {
            synchronized (lock) {
                sink.step(step, host, detail);
            }
        };
    }
}
