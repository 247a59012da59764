package io.virtfleet.controller;

import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Duration;

/**
 * Everything a controller is told. Built by {@link ControllerMain} from flags and
 * {@code /etc/virtfleet/controller.conf}, or directly by tests and the embedded fleet.
 *
 * @param listen            where the controller serves agents and operators (gRPC)
 * @param heartbeatInterval interval agents are asked to heartbeat at
 * @param unreachableAfter  grace without a heartbeat before a host is marked unreachable
 * @param dataDirectory     where the controller keeps its state
 */
public record ControllerConfig(InetSocketAddress listen, Duration heartbeatInterval, Duration unreachableAfter,
                               Path dataDirectory) {}
