package io.virtfleet.controller.cpu;

import io.virtfleet.common.fingerprint.Sha256;
import io.virtfleet.common.validation.InvalidInputException;
import io.virtfleet.common.xml.Xml;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.regex.Pattern;
import org.w3c.dom.Document;
import org.w3c.dom.Element;
import org.w3c.dom.Node;

/**
 * A guest CPU definition as libvirt writes one (its baseline, a host-model CPU): a named CPU model, its vendor, and
 * features required or disabled on top of it. Checked when read, so what reaches a domain definition is a model
 * name and feature names libvirt could know, never other elements.
 *
 * @param vendor empty when the definition names none
 */
public record CpuModel(String model, String vendor, List<Feature> features) {
    /** A feature and what the definition says of it ({@code require}, {@code disable}, ...). */
    public record Feature(String policy, String name) {}

    /** A guest CPU definition is a model, a vendor and a few hundred features at most: far below this. */
    public static final int MAX_CHARS = 65_536;
    private static final Pattern NAME = Pattern.compile("[A-Za-z0-9][A-Za-z0-9_.+-]{0,63}");
    private static final Set<String> POLICIES = Set.of("force", "require", "optional", "disable", "forbid");

    public CpuModel {
        features = List.copyOf(features);
    }

    /**
     * Reads a guest CPU definition ({@code <cpu>} with a {@code <model>}, an optional {@code <vendor>} and
     * {@code <feature policy=... name=...>} elements), refusing anything else with an error naming {@code field}.
     */
    public static CpuModel parse(String field, String xml) {
        Element cpu = Xml.parse(field, xml, MAX_CHARS).getDocumentElement();
        if (!"cpu".equals(cpu.getLocalName()) || cpu.getNamespaceURI() != null) {
            throw new InvalidInputException(field, xml, "a guest CPU definition, <cpu> as libvirt writes it");
        }
        String model = null;
        String vendor = "";
        List<Feature> features = new ArrayList<>();
        for (Node n = cpu.getFirstChild(); n != null; n = n.getNextSibling()) {
            if (!(n instanceof Element e)) {
                continue;
            }
            String tag = e.getNamespaceURI() == null ? e.getLocalName() : "{" + e.getNamespaceURI() + "}" + e.getLocalName();
            switch (tag) {
                case "model" -> model = name(field + "/model", e.getTextContent().strip());
                case "vendor" -> vendor = name(field + "/vendor", e.getTextContent().strip());
                case "feature" -> {
                    String policy = e.getAttribute("policy").isEmpty() ? "require" : e.getAttribute("policy");
                    if (!POLICIES.contains(policy)) {
                        throw new InvalidInputException(field + "/feature/@policy", policy, "one of " + POLICIES);
                    }
                    features.add(new Feature(policy, name(field + "/feature/@name", e.getAttribute("name"))));
                }
                default -> throw new InvalidInputException(field, "<" + tag + ">",
                        "only <model>, <vendor> and <feature> in a guest CPU definition");
            }
        }
        if (model == null) {
            throw new InvalidInputException(field, xml, "a guest CPU definition with a <model>");
        }
        return new CpuModel(model, vendor, features);
    }

    private static String name(String field, String value) {
        if (!NAME.matcher(value).matches()) {
            throw new InvalidInputException(field, value, "a CPU model, vendor or feature name (letters, digits, _ . + -;"
                    + " at most 64)");
        }
        return value;
    }

    /** The definition as the definitions repository keeps it: {@code <cpu mode='custom' match='exact'>}. */
    public String xml() {
        Document doc = Xml.newDocument();
        Element cpu = doc.createElement("cpu");
        doc.appendChild(cpu);
        fill(cpu, false);
        return Xml.write(doc);
    }

    /** SHA-256 of {@link #xml()}: what hosts report judging when they read the repository's copy. */
    public String sha256() {
        return Sha256.hex(xml());
    }

    /**
     * Adds the model to a domain definition: {@code <cpu mode='custom' match='exact' check='partial'>}, so the guest
     * gets exactly this CPU on every host (or does not start), and libvirt checks it before a start or a migration.
     */
    public void appendTo(Element domain) {
        Element cpu = domain.getOwnerDocument().createElement("cpu");
        domain.appendChild(cpu);
        fill(cpu, true);
    }

    private void fill(Element cpu, boolean checked) {
        Document doc = cpu.getOwnerDocument();
        cpu.setAttribute("mode", "custom");
        cpu.setAttribute("match", "exact");
        if (checked) {
            cpu.setAttribute("check", "partial");
        }
        Element m = doc.createElement("model");
        m.setAttribute("fallback", "forbid"); // a host that lacks the model refuses the guest rather than give another
        m.setTextContent(model);
        cpu.appendChild(m);
        if (!vendor.isEmpty()) {
            Element v = doc.createElement("vendor");
            v.setTextContent(vendor);
            cpu.appendChild(v);
        }
        for (Feature f : features) {
            Element e = doc.createElement("feature");
            e.setAttribute("policy", f.policy());
            e.setAttribute("name", f.name());
            cpu.appendChild(e);
        }
    }

    /** In words, e.g. "EPYC (AMD), 18 features required, 10 disabled". */
    public String summary() {
        long required = features.stream().filter(f -> f.policy().equals("require") || f.policy().equals("force")).count();
        long disabled = features.stream().filter(f -> f.policy().equals("disable") || f.policy().equals("forbid")).count();
        long optional = features.size() - required - disabled;
        return model + (vendor.isEmpty() ? "" : " (" + vendor + ")") + ", " + required + " features required, "
                + disabled + " disabled" + (optional == 0 ? "" : ", " + optional + " optional");
    }
}
