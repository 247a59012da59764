package io.virtfleet.common.metrics;

import io.prometheus.metrics.instrumentation.jvm.JvmMetrics;
import io.prometheus.metrics.model.registry.PrometheusRegistry;

/** A registry of a daemon's own (each daemon has its own, so an embedded fleet's controller and agents never mix). */
public final class DaemonMetrics {
    private DaemonMetrics() {}

    /** A new registry holding the JVM's metrics (memory, GC, threads, class loading, process CPU and files). */
    public static PrometheusRegistry registryWithJvm() {
        PrometheusRegistry registry = new PrometheusRegistry();
        JvmMetrics.builder().register(registry);
        return registry;
    }
}
