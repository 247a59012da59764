package io.virtfleet.controller.testkit;

import io.virtfleet.controller.embedded.EmbeddedFleet;
import java.time.Duration;

/** The embedded fleet a CLI test talks to: a fast heartbeat, started, every host registered; the CLI run as admin. */
public final class CliFleet {
    private CliFleet() {}

    /** Builds and starts {@code fleet} with a 200 ms heartbeat and waits (30 s at most) until every host registered. */
    public static EmbeddedFleet start(EmbeddedFleet.Builder fleet) throws Exception {
        EmbeddedFleet started = fleet.heartbeat(Duration.ofMillis(200)).build().start();
        started.awaitRegistered(Duration.ofSeconds(30));
        return started;
    }

    /** Runs {@code virtfleet ARGS...} against {@code fleet}'s controller with its admin credentials. */
    public static CliRun cli(EmbeddedFleet fleet, String... args) {
        return CliRun.as(fleet.controllerEndpoint(), fleet.adminCredentials(), args);
    }
}
