package io.virtfleet.controller.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.virtfleet.proto.v1.DomainInfo;
import org.junit.jupiter.api.Test;

/** {@code host show}'s AUTOSTART column says who starts a domain at boot: the agent, or libvirt before it. */
class HostShowAutostartTest {
    @Test
    void theAgentsAutostartLibvirtsOwnOrNone() {
        assertEquals("yes", HostShowCommand.autostart(DomainInfo.newBuilder().setAutostart(true).build()));
        assertEquals("yes (libvirt)", HostShowCommand.autostart(DomainInfo.newBuilder().setAutostart(true)
                .setLibvirtAutostart(true).build()));
        assertEquals("no", HostShowCommand.autostart(DomainInfo.getDefaultInstance()));
    }
}
