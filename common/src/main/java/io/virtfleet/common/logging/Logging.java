package io.virtfleet.common.logging;

import java.util.logging.ConsoleHandler;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogManager;
import java.util.logging.Logger;
import java.util.logging.SimpleFormatter;

/**
 * One-line logs on stderr, which systemd's journal collects. java.util.logging keeps the agent
 * small; SLF4J users (OSHI, JGit) are routed to it by slf4j-jdk14.
 */
public final class Logging {
    private Logging() {}

    public static void configure(boolean verbose) {
        if (System.getProperty("java.util.logging.config.file") != null) {
            return; // the operator brought their own configuration
        }
        System.setProperty("java.util.logging.SimpleFormatter.format",
                "%1$tF %1$tT.%1$tL %4$-7s %3$s: %5$s%6$s%n");
        LogManager.getLogManager().reset();
        Logger root = Logger.getLogger("");
        Handler handler = new ConsoleHandler();
        handler.setFormatter(new SimpleFormatter());
        handler.setLevel(Level.ALL);
        root.addHandler(handler);
        root.setLevel(verbose ? Level.FINE : Level.INFO);
        // gRPC and Netty are chatty at FINE; keep them at INFO even in verbose mode.
        Logger.getLogger("io.grpc").setLevel(Level.INFO);
        Logger.getLogger("io.netty").setLevel(Level.INFO);
    }
}
