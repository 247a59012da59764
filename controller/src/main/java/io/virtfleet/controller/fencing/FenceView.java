package io.virtfleet.controller.fencing;

import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;

/** Which hosts are lost (fenced or confirmed down). Reads take no lock and do no I/O. */
public interface FenceView {
    Optional<Fence> of(String host);

    /** Every host with a verdict. */
    java.util.Set<String> hosts();

    /** A view held in memory only, for tests of other features: {@code put} records a verdict. */
    static InMemory inMemory() {
        return new InMemory();
    }

    final class InMemory implements FenceView {
        private final Map<String, Fence> fences = new ConcurrentHashMap<>();

        @Override
        public Optional<Fence> of(String host) {
            return Optional.ofNullable(fences.get(host));
        }

        @Override
        public java.util.Set<String> hosts() {
            return java.util.Set.copyOf(fences.keySet());
        }

        public void put(Fence fence) {
            fences.put(fence.host(), fence);
        }

        public void remove(String host) {
            fences.remove(host);
        }
    }
}
