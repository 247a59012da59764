package io.virtfleet.controller;

import com.google.inject.AbstractModule;
import com.google.inject.Provides;
import com.google.inject.Singleton;
import io.virtfleet.common.transport.Transport;
import io.virtfleet.controller.fleet.FleetEndpoint;
import io.virtfleet.controller.registry.HostRegistry;
import io.virtfleet.controller.registry.Liveness;
import io.virtfleet.controller.registry.LivenessWatch;
import io.virtfleet.controller.registry.RegistryEndpoint;

/** Wires the controller's features from its configuration. */
final class ControllerModule extends AbstractModule {
    private final ControllerConfig config;

    ControllerModule(ControllerConfig config) {
        this.config = config;
    }

    @Override
    protected void configure() {
        bind(ControllerConfig.class).toInstance(config);
    }

    @Provides
    @Singleton
    HostRegistry registry() {
        return new HostRegistry();
    }

    @Provides
    @Singleton
    Liveness liveness() {
        return new Liveness(config.unreachableAfter());
    }

    @Provides
    @Singleton
    LivenessWatch livenessWatch(HostRegistry registry, Liveness liveness) {
        return new LivenessWatch(registry, liveness);
    }

    @Provides
    @Singleton
    RegistryEndpoint registryEndpoint(HostRegistry registry) {
        return new RegistryEndpoint(registry, config.heartbeatInterval(), config.unreachableAfter());
    }

    @Provides
    @Singleton
    FleetEndpoint fleetEndpoint(HostRegistry registry, Liveness liveness) {
        return new FleetEndpoint(registry, liveness);
    }

    @Provides
    @Singleton
    Transport transport() {
        return new Transport("controller", Math.max(1, Runtime.getRuntime().availableProcessors()));
    }
}
