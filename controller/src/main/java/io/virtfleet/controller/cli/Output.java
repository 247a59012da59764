package io.virtfleet.controller.cli;

/** How a command prints its result: a table for people, JSON for scripts. */
public enum Output {
    table,
    json
}
