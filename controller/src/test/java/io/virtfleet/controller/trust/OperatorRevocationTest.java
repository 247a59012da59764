package io.virtfleet.controller.trust;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.virtfleet.common.config.ConfigFile;
import io.virtfleet.common.config.ConfiguredCommand;
import io.virtfleet.controller.ControllerMain;
import io.virtfleet.controller.cli.VirtfleetCli;
import io.virtfleet.controller.embedded.EmbeddedFleet;
import io.virtfleet.controller.testkit.Clients;
import io.virtfleet.proto.v1.FleetGrpc;
import io.virtfleet.proto.v1.ListHostsRequest;
import io.virtfleet.proto.v1.RevokeOperatorRequest;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * An admin revokes an operator: their certificates are refused from the next call on, also on a connection opened
 * before, and after a controller restart; credentials issued to the name afterwards work. Admin access lost (here: the
 * only admin revoked itself) comes back with {@code virtfleet-controller reissue-admin} on the controller's host.
 */
class OperatorRevocationTest {
    /** The CLI's exit code for a call the controller refused to this caller. */
    private static final int NOT_ALLOWED = 5;

    @TempDir
    Path work;

    private EmbeddedFleet fleet;

    @AfterEach
    void stop() {
        if (fleet != null) {
            fleet.close();
        }
    }

    @Test
    void aRevokedOperatorIsRefusedAtOnceAndForGoodWhileANewCertificateForTheNameWorks() throws Exception {
        fleet = EmbeddedFleet.builder(work.resolve("fleet")).nodes(List.of()).build().start();
        Path admin = fleet.adminCredentials();
        Path bob = work.resolve("bob.pem");
        Path alice = work.resolve("alice.pem");
        cli(0, admin, "operator", "add", "bob", "--role", "viewer", "--out", bob.toString());
        cli(0, admin, "operator", "add", "alice", "--role", "admin", "--out", alice.toString());

        try (Clients asBob = Clients.as(bob)) {
            FleetGrpc.FleetBlockingStub open = FleetGrpc.newBlockingStub(asBob.controller(fleet.controllerEndpoint()));
            open.listHosts(ListHostsRequest.getDefaultInstance()); // the connection is up
            StatusRuntimeException viewer = assertThrows(StatusRuntimeException.class,
                    () -> open.revokeOperator(RevokeOperatorRequest.newBuilder().setName("alice").build()));
            assertEquals(Status.Code.PERMISSION_DENIED, viewer.getStatus().getCode(), "only admins revoke");

            assertTrue(cli(0, alice, "operator", "revoke", "bob").contains("Revoked the certificates of operator bob"));

            StatusRuntimeException refused = assertThrows(StatusRuntimeException.class,
                    () -> open.listHosts(ListHostsRequest.getDefaultInstance()));
            assertEquals(Status.Code.UNAUTHENTICATED, refused.getStatus().getCode());
            assertTrue(refused.getStatus().getDescription().contains("operator bob was revoked"), refused.getStatus().toString());
        }
        assertTrue(cli(NOT_ALLOWED, bob, "hosts").contains("was revoked"), "a new connection is refused too");

        // Issued to the name after the revocation (within the same second, likely): works.
        Path bob2 = work.resolve("bob2.pem");
        cli(0, alice, "operator", "add", "bob", "--role", "viewer", "--out", bob2.toString());
        cli(0, bob2, "hosts");

        fleet.restartController();
        assertTrue(cli(NOT_ALLOWED, bob, "hosts").contains("was revoked"), "the revocation outlives a restart");
        cli(0, bob2, "hosts");
        cli(0, admin, "hosts");
    }

    @Test
    void reissueAdminBringsBackAdminAccessAfterTheLastAdminWasRevoked() throws Exception {
        fleet = EmbeddedFleet.builder(work.resolve("fleet")).nodes(List.of()).build().start();
        Path admin = fleet.adminCredentials();
        Path dataDir = fleet.controller().pki().directory().getParent();
        cli(0, admin, "operator", "revoke", "admin");
        assertTrue(cli(NOT_ALLOWED, admin, "hosts").contains("was revoked"), "locked out");

        // Without the CA: a clear refusal, nothing written.
        Path none = work.resolve("nowhere.pem");
        StringWriter err = new StringWriter();
        assertEquals(1, controllerMain(new PrintWriter(new StringWriter()), new PrintWriter(err), "reissue-admin",
                "--data-dir", work.resolve("empty").toString(), "--name", "admin", "--out", none.toString()));
        assertTrue(err.toString().contains("no readable fleet CA in"), err.toString());
        assertFalse(Files.exists(none));

        Path fresh = work.resolve("admin-again.pem");
        StringWriter out = new StringWriter();
        err = new StringWriter();
        assertEquals(0, controllerMain(new PrintWriter(out), new PrintWriter(err), "reissue-admin",
                "--data-dir", dataDir.toString(), "--name", "admin", "--out", fresh.toString()), err.toString());
        assertTrue(out.toString().contains("Wrote admin credentials of admin to " + fresh), out.toString());
        assertEquals("rw-------", java.nio.file.attribute.PosixFilePermissions.toString(Files.getPosixFilePermissions(fresh)));

        // The running controller takes it, as an admin.
        cli(0, fresh, "hosts");
        cli(0, fresh, "operator", "add", "carol", "--role", "viewer", "--out", work.resolve("carol.pem").toString());
        assertTrue(cli(NOT_ALLOWED, admin, "hosts").contains("was revoked"), "the revoked bundle stays revoked");
        // Never over an existing file.
        err = new StringWriter();
        assertEquals(2, controllerMain(new PrintWriter(new StringWriter()), new PrintWriter(err), "reissue-admin",
                "--data-dir", dataDir.toString(), "--name", "admin", "--out", fresh.toString()));
        assertTrue(err.toString().contains("does not exist yet"), err.toString());
    }

    private String cli(int expectedCode, Path credentials, String... command) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        String[] args = new String[command.length + 4];
        args[0] = "--controller";
        args[1] = fleet.controllerEndpoint().toString();
        args[2] = "--credentials";
        args[3] = credentials.toString();
        System.arraycopy(command, 0, args, 4, command.length);
        int code = VirtfleetCli.run(new PrintWriter(out), new PrintWriter(err), args);
        assertEquals(expectedCode, code, () -> String.join(" ", command) + ": " + out + err);
        return out + err.toString();
    }

    private int controllerMain(PrintWriter out, PrintWriter err, String... args) {
        CommandLine cli = new CommandLine(new ControllerMain());
        ConfiguredCommand.prepare(cli, ConfigFile.empty(work.resolve("controller.conf")));
        cli.setOut(out).setErr(err);
        return cli.execute(args);
    }
}
