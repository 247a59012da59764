package io.virtfleet.agent.storage;

import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import io.virtfleet.common.process.Command;
import io.virtfleet.common.process.CommandException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Locale;

/** qemu's tools on local image files: what an image is, and whether a running VM holds it. */
final class QemuImg {
    /** Local files answer at once; a minute means the disk or the kernel is in trouble. */
    static final Duration TIMEOUT = Duration.ofMinutes(1);

    /** What qemu-img says of an image: its format as probed and its size as the guest sees it. */
    record Info(String format, long virtualSize) {}

    private QemuImg() {}

    /** The image's format (as probed) and size; read even while a running VM holds the image, as it only looks. */
    static Info info(Path image) {
        Command.Result r = run(Command.of("qemu-img", "info", "--output=json", "--force-share", image.toString())
                .timeout(TIMEOUT));
        if (r.exitCode() != 0) {
            throw StorageException.wrongState("qemu-img cannot read " + image + ": " + r.reason());
        }
        try {
            JsonObject json = JsonParser.parseString(r.stdout()).getAsJsonObject();
            return new Info(json.get("format").getAsString(), json.get("virtual-size").getAsLong());
        } catch (JsonParseException | IllegalStateException | NullPointerException | UnsupportedOperationException e) {
            throw StorageException.wrongState("qemu-img info of " + image + " is not what the agent understands: "
                    + r.stdout().strip());
        }
    }

    /**
     * Refuses an image that a running qemu holds. qemu locks the images it writes; opening one for writing
     * (and writing nothing) is how its own tools find out, since a read-only look is allowed beside a VM.
     */
    static void requireUnused(Path image) {
        Command.Result r = run(Command.of("qemu-io", "--format", "raw", "--cmd", "quit", image.toString()).timeout(TIMEOUT));
        if (r.exitCode() != 0) {
            String reason = r.stderr().lines().filter(l -> !l.isBlank()).findFirst().orElse("exit code " + r.exitCode());
            if (reason.toLowerCase(Locale.ROOT).contains("lock")) {
                throw StorageException.wrongState(image + " is in use: a running VM holds its lock (" + reason.strip()
                        + "); stop the VM first");
            }
            throw StorageException.wrongState("qemu-io cannot open " + image + ": " + reason.strip());
        }
    }

    /** Runs a command, turning a failure to start or a timeout into a refusal naming the command. */
    static Command.Result run(Command command) {
        try {
            return command.run();
        } catch (CommandException e) {
            throw StorageException.unavailable(e.getMessage(), e);
        }
    }
}
