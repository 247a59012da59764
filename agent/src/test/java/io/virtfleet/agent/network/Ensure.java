package io.virtfleet.agent.network;

import io.virtfleet.proto.v1.EnsureNetworkRequest;
import io.virtfleet.proto.v1.StepResult;
import java.util.concurrent.CompletionException;

/** Runs an ensure to its end, as the gRPC service waits for it, and throws its failure as it was raised. */
final class Ensure {
    private Ensure() {}

    static StepResult now(Networks networks, EnsureNetworkRequest request) {
        try {
            return networks.ensure(request).join();
        } catch (CompletionException e) {
            throw e.getCause() instanceof RuntimeException cause ? cause : e;
        }
    }
}
