package io.virtfleet.controller.cli;

import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.MessageOrBuilder;
import com.google.protobuf.util.JsonFormat;

/**
 * Prints API messages as JSON with the proto's own snake_case field names, so scripts can rely on the
 * documented wire contract (virtfleet.v1) for field meanings and units.
 */
final class Json {
    private static final JsonFormat.Printer PRINTER = JsonFormat.printer()
            .preservingProtoFieldNames()
            .alwaysPrintFieldsWithNoPresence();

    private Json() {}

    /** One message on one line (JSON Lines), for streamed progress. */
    static String line(MessageOrBuilder message) {
        try {
            return PRINTER.omittingInsignificantWhitespace().print(message);
        } catch (InvalidProtocolBufferException e) {
            throw new IllegalStateException("cannot render " + message.getClass().getSimpleName() + " as JSON", e);
        }
    }

    static String of(MessageOrBuilder message) {
        try {
            return PRINTER.print(message);
        } catch (InvalidProtocolBufferException e) {
            throw new IllegalStateException("cannot render " + message.getClass().getSimpleName() + " as JSON", e);
        }
    }
}
