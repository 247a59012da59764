package io.virtfleet.controller.testkit;

import io.virtfleet.common.validation.Endpoint;
import io.virtfleet.controller.cli.VirtfleetCli;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** One run of the {@code virtfleet} CLI as an operator types it: its exit code and what it printed on each stream. */
public record CliRun(int code, String out, String err) {
    /** Runs {@code virtfleet --controller CONTROLLER --credentials CREDENTIALS ARGS...} in this JVM. */
    public static CliRun as(Endpoint controller, Path credentials, String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        List<String> argv = new ArrayList<>(List.of("--controller", controller.toString(), "--credentials",
                credentials.toString()));
        argv.addAll(List.of(args));
        int code = VirtfleetCli.run(new PrintWriter(out), new PrintWriter(err), argv.toArray(String[]::new));
        return new CliRun(code, out.toString(), err.toString());
    }
}
