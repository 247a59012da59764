package io.virtfleet.controller.fuzz;

import java.security.SecureRandom;
import net.jqwik.api.lifecycle.AroundPropertyHook;
import net.jqwik.api.lifecycle.PropagationMode;
import net.jqwik.api.lifecycle.PropertyExecutionResult;
import net.jqwik.api.lifecycle.PropertyExecutor;
import net.jqwik.api.lifecycle.PropertyLifecycleContext;

/**
 * The seed every property of {@link ApiFuzzTest} draws its values from. Fixed by default, so a run in CI and a
 * run on a laptop send the same requests and a failure is never luck; {@code -Dvirtfleet.fuzz.seed=random}
 * draws a new one (to explore), {@code -Dvirtfleet.fuzz.seed=N} replays run N. The seed is printed either way.
 */
final class FuzzSeed implements AroundPropertyHook {
    static final String PROPERTY = "virtfleet.fuzz.seed";
    /** Any fixed number would do; changing it is a deliberate change of what CI tests. */
    static final String FIXED = "20261206";

    private static final String SEED = choose(System.getProperty(PROPERTY));

    /** The seed for what was asked: nothing (the fixed one), {@code random}, or a seed to replay. */
    static String choose(String asked) {
        if (asked == null || asked.isBlank()) {
            return FIXED;
        }
        if (asked.strip().equals("random")) {
            return Long.toString(new SecureRandom().nextLong());
        }
        try {
            return Long.toString(Long.parseLong(asked.strip()));
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(PROPERTY + ": '" + asked + "' is not accepted; expected a whole"
                    + " number (a seed to replay) or 'random' (a new seed)");
        }
    }

    /** Registered on the test class, it applies to each of its properties. */
    @Override
    public PropagationMode propagateTo() {
        return PropagationMode.DIRECT_DESCENDANTS;
    }

    @Override
    public PropertyExecutionResult aroundProperty(PropertyLifecycleContext context, PropertyExecutor property) {
        context.attributes().setSeed(SEED);
        System.out.printf("%s: seed %s (replay: -D%s=%s; a new seed: -D%s=random)%n",
                context.extendedLabel(), SEED, PROPERTY, SEED, PROPERTY);
        return property.execute();
    }
}
