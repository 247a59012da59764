package io.virtfleet.controller.fleet;

import io.virtfleet.common.security.Authorization;
import io.virtfleet.common.security.FleetIdentity;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** Every change an operator makes, logged with their name under the logger "virtfleet.audit". */
public final class Audit {
    private static final Logger log = LoggerFactory.getLogger("virtfleet.audit");

    private Audit() {}

    /** The name changes are attributed to: the operator's certificate name, or "(in-process)" for calls from code. */
    public static String operator() {
        return Authorization.caller().map(FleetIdentity::name).orElse("(in-process)");
    }

    public static void record(String change) {
        log.info("operator {}: {}", operator(), change);
    }

    /** A change made for {@code by}: an operator whose call another thread carries on, or "controller" itself. */
    public static void recordBy(String by, String change) {
        log.info("operator {}: {}", by, change);
    }
}
