package io.virtfleet.controller.metrics;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * One scrape of a metrics endpoint over HTTP, as Prometheus does it, in the text format: its series by their full
 * text ({@code name{label="value",...}}) with their values.
 */
final class Scrape {
    /** A sample line: name, optional labels, value (no timestamps in what the client writes). */
    private static final Pattern SAMPLE = Pattern.compile("([a-zA-Z_:][a-zA-Z0-9_:]*)(\\{.*})?\\s+(\\S+)");

    final String text;
    final Map<String, Double> series = new LinkedHashMap<>();
    final Set<String> names = new TreeSet<>();

    private Scrape(String text) {
        this.text = text;
        for (String line : text.split("\n")) {
            if (line.isBlank() || line.startsWith("#")) {
                continue;
            }
            Matcher m = SAMPLE.matcher(line);
            assertTrue(m.matches(), "not a sample line: " + line);
            series.put(m.group(1) + (m.group(2) == null ? "" : m.group(2)), Double.parseDouble(m.group(3)));
            names.add(m.group(1));
        }
    }

    static Scrape of(int port) throws IOException, InterruptedException {
        assertTrue(port > 0, "no metrics endpoint (metrics-listen off?)");
        HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();
        // The text format Prometheus asks for, version 0.0.4, which promtool checks.
        HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/metrics"))
                .header("Accept", "text/plain;version=0.0.4").timeout(Duration.ofSeconds(30)).build(),
                HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
        assertEquals(200, r.statusCode(), r.body());
        assertTrue(r.headers().firstValue("Content-Type").orElse("").startsWith("text/plain"),
                "content type " + r.headers().firstValue("Content-Type"));
        return new Scrape(r.body());
    }

    /** The value of one series, failing with what was scraped when it is not there. */
    double value(String series) {
        Double v = this.series.get(series);
        assertTrue(v != null, "no series " + series + " in the scrape:\n" + text);
        return v;
    }

    /** Sum of the values of every series of {@code name} whose labels include all of {@code labels}. */
    double sum(String name, String... labels) {
        double total = 0;
        for (Map.Entry<String, Double> e : series.entrySet()) {
            String s = e.getKey();
            if (!s.equals(name) && !s.startsWith(name + "{")) {
                continue;
            }
            boolean all = true;
            for (String l : labels) {
                all &= s.contains(l);
            }
            if (all) {
                total += e.getValue();
            }
        }
        return total;
    }

    /**
     * Runs {@code promtool check metrics} (Debian's prometheus package) on the scraped text; returns what it
     * said (empty when clean) and its exit code, failing with the install hint when promtool is missing.
     */
    String promtool(Path work) throws IOException, InterruptedException {
        Path promtool = Path.of("/usr/bin/promtool");
        assertTrue(Files.isExecutable(promtool), "promtool is missing (Debian package prometheus): run"
                + " deploy/dev/install-deps.sh as root");
        Path input = Files.createTempFile(work, "scrape", ".txt");
        Files.writeString(input, text);
        Path output = work.resolve(input.getFileName() + ".promtool");
        Process p = new ProcessBuilder(promtool.toString(), "check", "metrics").redirectInput(input.toFile())
                .redirectErrorStream(true).redirectOutput(output.toFile()).start();
        assertTrue(p.waitFor(2, TimeUnit.MINUTES), "promtool did not finish");
        return ("exit " + p.exitValue() + "\n" + Files.readString(output)).strip();
    }
}
