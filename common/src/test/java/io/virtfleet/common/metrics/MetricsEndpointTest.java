package io.virtfleet.common.metrics;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.virtfleet.common.validation.InvalidInputException;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/** The metrics-listen setting, and the endpoint serving a registry over HTTP on loopback. */
class MetricsEndpointTest {
    @Test
    void offServesNothingAndAnAddressIsHostAndPort() {
        assertEquals(Optional.empty(), MetricsEndpoint.parseListen("metrics-listen", "off"));
        assertEquals(Optional.empty(), MetricsEndpoint.parseListen("metrics-listen", "OFF"));
        assertEquals(Optional.of(new InetSocketAddress("127.0.0.1", 7445)),
                MetricsEndpoint.parseListen("metrics-listen", "127.0.0.1:7445"));
    }

    @Test
    void aValueThatIsNeitherNamesTheKeyTheValueAndWhatIsAccepted() {
        for (String bad : new String[] {"on", "7445", "127.0.0.1:", "127.0.0.1:99999", "a b:1"}) {
            InvalidInputException e = assertThrows(InvalidInputException.class,
                    () -> MetricsEndpoint.parseListen("metrics-listen", bad));
            assertTrue(e.getMessage().contains("metrics-listen") && e.getMessage().contains(bad)
                    && e.getMessage().contains("off, or HOST:PORT"), e.getMessage());
        }
    }

    @Test
    void servesTheRegistryOverHttpUntilClosed() throws Exception {
        PrometheusRegistry registry = new PrometheusRegistry();
        Counter.builder().name("virtfleet_test_events_total").help("events").register(registry).inc(3);
        HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
        URI uri;
        try (MetricsEndpoint endpoint = MetricsEndpoint.start(new InetSocketAddress("127.0.0.1", 0), registry, "t")) {
            uri = URI.create("http://127.0.0.1:" + endpoint.port() + "/metrics");
            HttpResponse<String> r = http.send(HttpRequest.newBuilder(uri).build(), HttpResponse.BodyHandlers.ofString());
            assertEquals(200, r.statusCode());
            assertTrue(r.body().contains("virtfleet_test_events_total 3.0"), r.body());
        }
        assertThrows(IOException.class, () -> http.send(HttpRequest.newBuilder(uri).build(),
                HttpResponse.BodyHandlers.ofString()));
    }

    @Test
    void aPortInUseFailsNamingTheAddress() throws Exception {
        try (ServerSocket taken = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            IOException e = assertThrows(IOException.class, () -> MetricsEndpoint.start(
                    new InetSocketAddress("127.0.0.1", taken.getLocalPort()), new PrometheusRegistry(), "t"));
            assertTrue(e.getMessage().contains("127.0.0.1:" + taken.getLocalPort()), e.getMessage());
        }
    }
}
