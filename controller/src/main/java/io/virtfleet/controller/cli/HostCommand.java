package io.virtfleet.controller.cli;

import picocli.CommandLine.Command;

/** {@code virtfleet host ...}: commands about one host. */
@Command(name = "host", description = "Show or forget one host.",
        subcommands = {HostShowCommand.class, HostForgetCommand.class})
final class HostCommand {
}
