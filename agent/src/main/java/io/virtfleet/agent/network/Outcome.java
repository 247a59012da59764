package io.virtfleet.agent.network;

/** What one ensure found and did: whether it changed the host, and an account an operator can read. */
record Outcome(boolean changed, String detail) {}
