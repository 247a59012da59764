package io.virtfleet.bench;

import io.virtfleet.controller.install.KernelBootRig;
import io.virtfleet.proto.v1.GetVmRequest;
import io.virtfleet.proto.v1.Vm;
import io.virtfleet.proto.v1.VmInstallPhase;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Locale;
import java.util.Set;

/**
 * From {@code vm create} to the Debian installer's preseed request, under TCG, split into virtfleet's steps and the
 * boot itself (BENCHMARKS.md §8). One real hypervisor of the test kit (libvirtd, QEMU/TCG, an agent JVM in a network
 * namespace), a controller JVM in boot-mode kernel, a LAN with the site's DHCP (dnsmasq): see {@link KernelBootRig}.
 * Each round creates a VM, waits for its preseed request (the controller records its time), measures what serving
 * the preseed and a script costs (the same URLs, fetched again while the token is live) and deletes the VM.
 *
 * <ul>
 *   <li>our steps: the create through the operator API (placement, disk, LAN, definition, start) plus the install
 *       server's answers to the preseed and the first script;</li>
 *   <li>the boot: from the domain's start (the create's answer) to the preseed request: the kernel and initrd
 *       loading, the installer starting, DHCP.</li>
 * </ul>
 */
public final class InstallBootBench {
    private static final String USAGE = "usage: InstallBootBench [--rounds N]   (default 3; about 90 s each under TCG)";

    private InstallBootBench() {}

    public static void main(String[] args) throws Exception {
        BenchArgs a = new BenchArgs(args, Set.of("rounds"), USAGE);
        int rounds = a.integer("rounds", 3);
        Path work = Files.createTempDirectory("vf-install-bench");
        HttpClient http = HttpClient.newHttpClient();
        long[] createMs = new long[rounds];
        long[] bootMs = new long[rounds];
        double[] serveMs = new double[rounds];
        try (KernelBootRig rig = new KernelBootRig(work)) {
            for (int i = 0; i < rounds; i++) {
                String name = "inst" + (i + 1);
                long t0 = System.currentTimeMillis();
                rig.create(KernelBootRig.vm(name, "api"));
                long started = System.currentTimeMillis();
                rig.siteNetwork(10); // once: the LAN bridge exists from the first create on
                Vm vm = awaitPreseed(rig, name, started + 7 * 60_000L);
                createMs[i] = started - t0;
                bootMs[i] = vm.getPreseedFetchedAtUnixMs() - started;
                String base = rig.installBase(name);
                serveMs[i] = median(http, base + "preseed.cfg", 20) + median(http, base + "profiles/base/post-install.sh", 20);
                System.out.printf(Locale.ROOT, "round %d: create %d ms, boot to preseed request %.1f s, serving preseed +"
                        + " first script %.1f ms%n", i + 1, createMs[i], bootMs[i] / 1e3, serveMs[i]);
                rig.delete(name);
            }
        } finally {
            Bench.deleteTree(work);
        }
        long create = median(createMs);
        long boot = median(bootMs);
        double serve = median(serveMs);
        double ours = create + serve;
        System.out.printf(Locale.ROOT, "median of %d: our steps %.0f ms (create %d ms + serving %.1f ms), boot %.1f s;"
                + " our steps are %.1f %% of vm create -> preseed request (%.1f s)%n", rounds, ours, create, serve,
                boot / 1e3, 100 * ours / (ours + boot), (ours + boot) / 1e3);
    }

    private static Vm awaitPreseed(KernelBootRig rig, String name, long deadlineMs) throws Exception {
        while (System.currentTimeMillis() < deadlineMs) {
            Vm vm = rig.operator.getVm(GetVmRequest.newBuilder().setName(name).build());
            if (vm.getInstallPhase() == VmInstallPhase.VM_INSTALL_PHASE_PRESEED_FETCHED) {
                return vm;
            }
            Thread.sleep(200);
        }
        throw new IllegalStateException("no preseed request from " + name + " within 7 min:\n" + rig.diagnostics());
    }

    private static double median(HttpClient http, String url, int times) throws Exception {
        double[] ms = new double[times];
        for (int i = 0; i < times; i++) {
            long t = System.nanoTime();
            HttpResponse<byte[]> r = http.send(HttpRequest.newBuilder(URI.create(url)).GET().build(),
                    HttpResponse.BodyHandlers.ofByteArray());
            ms[i] = (System.nanoTime() - t) / 1e6;
            if (r.statusCode() != 200) {
                throw new IllegalStateException(url + " answered " + r.statusCode());
            }
        }
        return median(ms);
    }

    private static double median(double[] values) {
        double[] sorted = values.clone();
        Arrays.sort(sorted);
        return sorted[sorted.length / 2];
    }

    private static long median(long[] values) {
        long[] sorted = values.clone();
        Arrays.sort(sorted);
        return sorted[sorted.length / 2];
    }
}
