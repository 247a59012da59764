package io.virtfleet.bench;

import io.virtfleet.common.units.Durations;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/** {@code --name value} flags of a benchmark main; a flag may repeat. Unknown flags are refused. */
final class BenchArgs {
    private final Map<String, List<String>> values = new LinkedHashMap<>();

    BenchArgs(String[] args, Set<String> known, String usage) {
        for (int i = 0; i < args.length; i++) {
            String arg = args[i];
            if (arg.equals("-h") || arg.equals("--help")) {
                System.out.println(usage);
                System.exit(0);
            }
            String name;
            String value;
            int eq = arg.indexOf('=');
            if (arg.startsWith("--") && eq > 0) {
                name = arg.substring(2, eq);
                value = arg.substring(eq + 1);
            } else if (arg.startsWith("--") && i + 1 < args.length) {
                name = arg.substring(2);
                value = args[++i];
            } else {
                throw new IllegalArgumentException("expected --name value, found '" + arg + "'\n" + usage);
            }
            if (!known.contains(name)) {
                throw new IllegalArgumentException("unknown flag --" + name + "\n" + usage);
            }
            values.computeIfAbsent(name, k -> new ArrayList<>()).add(value);
        }
    }

    String string(String name, String fallback) {
        List<String> v = values.get(name);
        return v == null ? fallback : v.get(v.size() - 1);
    }

    List<String> all(String name) {
        return values.getOrDefault(name, List.of());
    }

    int integer(String name, int fallback) {
        String v = string(name, null);
        return v == null ? fallback : Integer.parseInt(v);
    }

    Duration duration(String name, String fallback) {
        return Durations.parse(string(name, fallback));
    }
}
