package io.virtfleet.bench;

import java.time.Duration;

/**
 * What one A/B pair of {@link ScrapeLoadBench} comes to: phase A with a scraper, phase B without, each over the same
 * number of heartbeats. The controller's CPU that B took for as many heartbeats as A is what A would have taken
 * without scrapes; the rest of A's CPU is the scrapes'. Divided by A's scrapes, that is one scrape's CPU, which gives
 * the share of a core at any scrape interval (a scrape's cost does not depend on how often it comes: it reads the
 * state as it is then).
 */
record ScrapeCost(Phase scraped, Phase quiet) {
    /**
     * One measured phase.
     *
     * @param seconds    its length (wall clock)
     * @param heartbeats heartbeats answered in it
     * @param cpuNanos   the controller process's CPU time (user + system, every thread) over it
     * @param scrapes    scrapes started in it (0 for a phase without scraper)
     */
    record Phase(double seconds, long heartbeats, long cpuNanos, int scrapes) {
        Phase {
            if (seconds <= 0 || heartbeats <= 0 || cpuNanos < 0 || scrapes < 0) {
                throw new IllegalArgumentException("a phase needs time, heartbeats, CPU >= 0 and scrapes >= 0: " + seconds
                        + " s, " + heartbeats + " heartbeats, " + cpuNanos + " ns, " + scrapes + " scrapes");
            }
        }

        /** Share of one core, in %. */
        double cpuPercent() {
            return cpuNanos / 1e9 / seconds * 100;
        }

        double cpuMicrosPerHeartbeat() {
            return cpuNanos / 1e3 / heartbeats;
        }
    }

    ScrapeCost {
        if (scraped.scrapes() == 0) {
            throw new IllegalArgumentException("the scraped phase has no scrape");
        }
    }

    /** A's CPU over B's, heartbeat for heartbeat: what scraping as often as A did costs. */
    double ratio() {
        return scraped.cpuMicrosPerHeartbeat() / quiet.cpuMicrosPerHeartbeat();
    }

    /** The CPU A took beyond what B took for as many heartbeats, in ns (negative when noise outweighs the scrapes). */
    double extraCpuNanos() {
        return scraped.cpuNanos() - (double) quiet.cpuNanos() * scraped.heartbeats() / quiet.heartbeats();
    }

    /** The controller's CPU for one scrape, in ms. */
    double cpuMillisPerScrape() {
        return extraCpuNanos() / 1e6 / scraped.scrapes();
    }

    /** The share of one core (%) that one scrape every {@code interval} adds. */
    double extraPercentAt(Duration interval) {
        return cpuMillisPerScrape() / interval.toNanos() * 1e6 * 100;
    }

    /** The controller's CPU with one scrape every {@code interval} over its CPU without: B's rate plus the scrapes'. */
    double ratioAt(Duration interval) {
        return (quiet.cpuPercent() + extraPercentAt(interval)) / quiet.cpuPercent();
    }
}
