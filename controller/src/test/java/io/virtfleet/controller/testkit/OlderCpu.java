package io.virtfleet.controller.testkit;

import io.virtfleet.common.xml.Xml;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import java.util.stream.Stream;
import org.w3c.dom.Document;
import org.w3c.dom.Element;
import org.w3c.dom.Node;

/**
 * A hypervisor of an older CPU generation, on a machine that has one CPU: libvirt's cache of QEMU's capabilities
 * ({@code /var/cache/libvirt/qemu/capabilities}, see {@link LibvirtdNode#exportCache}) with some CPU features taken
 * out of what QEMU said it offers guests. A libvirtd started on such a cache ({@link LibvirtdNode.Options#seedCacheFrom})
 * reports a host-model CPU without them and judges guest CPUs that require them incompatible, as one on an older
 * processor does: what the fleet CPU model is computed from and judged by.
 *
 * <p>libvirt keeps the cache as long as QEMU's binary, libvirt itself and the host's CPUID are unchanged (pin the
 * daemons to one CPU, as {@link LibvirtdNode.Options#defaults} does); should it probe QEMU again, the node has the
 * full CPU, and tests that expect an older one fail rather than pass wrongly.
 */
public final class OlderCpu {
    private OlderCpu() {}

    /**
     * Copies the capabilities cache {@code from} (a node's exported cache) to {@code to}, with {@code features} off in
     * the guest CPU QEMU offers (its {@code hostCPU} properties, TCG's and KVM's alike).
     */
    public static Path cacheWithout(Path from, Path to, Set<String> features) throws IOException {
        copy(from, to);
        Path capabilities = to.resolve("qemu").resolve("capabilities");
        List<Path> files;
        try (Stream<Path> list = Files.list(capabilities)) {
            files = list.filter(p -> p.toString().endsWith(".xml")).toList();
        }
        int changed = 0;
        for (Path file : files) {
            Document doc = Xml.parse(file.toString(), Files.readString(file, StandardCharsets.UTF_8), 64 << 20);
            for (Node n = doc.getDocumentElement().getFirstChild(); n != null; n = n.getNextSibling()) {
                if (n instanceof Element hostCpu && "hostCPU".equals(hostCpu.getLocalName())) {
                    changed += switchOff(hostCpu, features);
                }
            }
            Files.writeString(file, Xml.write(doc), StandardCharsets.UTF_8);
        }
        if (changed == 0) {
            throw new IOException("no QEMU capabilities in " + capabilities + " offer any of " + features
                    + ": nothing to take out (has the node probed QEMU yet?)");
        }
        return to;
    }

    private static int switchOff(Element hostCpu, Set<String> features) {
        int changed = 0;
        for (Node n = hostCpu.getFirstChild(); n != null; n = n.getNextSibling()) {
            if (n instanceof Element p && "property".equals(p.getLocalName()) && features.contains(p.getAttribute("name"))
                    && "boolean".equals(p.getAttribute("type")) && "true".equals(p.getAttribute("value"))) {
                p.setAttribute("value", "false");
                p.removeAttribute("migratable");
                changed++;
            }
        }
        return changed;
    }

    private static void copy(Path from, Path to) throws IOException {
        try (Stream<Path> all = Files.walk(from)) {
            for (Path p : all.toList()) {
                Path target = to.resolve(from.relativize(p).toString());
                if (Files.isDirectory(p)) {
                    Files.createDirectories(target);
                } else {
                    Files.copy(p, target, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
                }
            }
        }
    }
}
