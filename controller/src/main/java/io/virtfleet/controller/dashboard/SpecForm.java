package io.virtfleet.controller.dashboard;

import io.virtfleet.common.validation.InvalidInputException;
import io.virtfleet.common.validation.Names;
import io.virtfleet.common.validation.Sizes;
import io.virtfleet.common.validation.StorageTiers;
import io.virtfleet.common.validation.VCpus;
import io.virtfleet.common.validation.Vxlan;
import io.virtfleet.proto.v1.NetworkSpec;
import io.virtfleet.proto.v1.VmSpec;

/**
 * The spec typed into the placement and capacity forms, as the fields' text (to show them again), and the spec they
 * make, each field checked by the same validators as {@code virtfleet place}'s flags; the controller checks the whole
 * spec again. Empty when the form was not sent yet.
 */
record SpecForm(String name, String storage, String size, String memory, String vcpus, String lan) {
    static SpecForm of(DashboardRequest r) {
        return new SpecForm(or(r.param("name"), "new-vm"), or(r.param("storage"), "sata"), or(r.param("size"), "20G"),
                or(r.param("memory"), "2G"), or(r.param("vcpus"), "2"), or(r.param("lan"), "1"));
    }

    private static String or(String value, String otherwise) {
        return value.isEmpty() ? otherwise : value;
    }

    /** The spec, or an {@link InvalidInputException} naming the field. */
    VmSpec spec() {
        if (name.length() > 63) {
            throw new InvalidInputException("name", name, "a VM name: a DNS label of at most 63 characters");
        }
        return VmSpec.newBuilder()
                .setName(Names.vmName("name", name))
                .setStorage(StorageTiers.parse("storage", storage))
                .setDiskBytes(Sizes.disk("size", size))
                .setMemoryBytes(Sizes.memory("memory", memory))
                .setVcpus(VCpus.parse("vcpus", vcpus))
                .setProfile("base")
                .setReplicated(!storage.equals("raw"))
                .setNetwork(NetworkSpec.newBuilder().setLan(Vxlan.parse("lan", lan)))
                .build();
    }
}
