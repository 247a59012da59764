package io.virtfleet.controller.cli;

import picocli.CommandLine.Command;

/** {@code virtfleet agent ...}: bringing hypervisors into the fleet. */
@Command(name = "agent", description = "Enroll hypervisors: join tokens for their agents.",
        subcommands = {AgentTokenCommand.class})
final class AgentCommand {
}
