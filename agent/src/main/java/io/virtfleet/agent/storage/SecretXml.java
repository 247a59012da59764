package io.virtfleet.agent.storage;

import java.io.IOException;
import java.io.StringReader;
import java.io.StringWriter;
import javax.xml.XMLConstants;
import javax.xml.parsers.DocumentBuilder;
import javax.xml.parsers.DocumentBuilderFactory;
import javax.xml.parsers.ParserConfigurationException;
import javax.xml.transform.OutputKeys;
import javax.xml.transform.Transformer;
import javax.xml.transform.TransformerException;
import javax.xml.transform.TransformerFactory;
import javax.xml.transform.dom.DOMSource;
import javax.xml.transform.stream.StreamResult;
import org.w3c.dom.Document;
import org.w3c.dom.Element;
import org.xml.sax.InputSource;
import org.xml.sax.SAXException;

/** libvirt secret definitions: written with the DOM, read with DTDs and external entities off. */
final class SecretXml {
    /** The flags virtfleet wants on a Ceph secret, as read back from libvirt. */
    record Flags(boolean ephemeral, boolean isPrivate) {}

    private SecretXml() {}

    /**
     * A persistent, private secret of usage type ceph: kept across libvirtd restarts, and its value can be
     * set but never read back through libvirt's API. {@code uuid} (may be null) keeps an existing secret's identity.
     */
    static String ceph(String usage, String uuid) {
        try {
            Document doc = DocumentBuilderFactory.newInstance().newDocumentBuilder().newDocument();
            Element secret = doc.createElement("secret");
            secret.setAttribute("ephemeral", "no");
            secret.setAttribute("private", "yes");
            doc.appendChild(secret);
            if (uuid != null) {
                child(doc, secret, "uuid").setTextContent(uuid);
            }
            child(doc, secret, "description").setTextContent("Ceph key of " + usage.replace(" secret", "")
                    + ", kept in step with the keyring by virtfleet-agent");
            Element usageElement = child(doc, secret, "usage");
            usageElement.setAttribute("type", "ceph");
            child(doc, usageElement, "name").setTextContent(usage);
            Transformer transformer = TransformerFactory.newInstance().newTransformer();
            transformer.setOutputProperty(OutputKeys.OMIT_XML_DECLARATION, "yes");
            StringWriter out = new StringWriter();
            transformer.transform(new DOMSource(doc), new StreamResult(out));
            return out.toString();
        } catch (ParserConfigurationException | TransformerException e) {
            throw new IllegalStateException("the JDK's XML support is broken: " + e, e);
        }
    }

    /** The ephemeral and private flags of a secret's XML as libvirt describes it (libvirt's defaults: no, no). */
    static Flags flags(String xml) {
        Element secret = parse(xml).getDocumentElement();
        return new Flags("yes".equals(secret.getAttribute("ephemeral")), "yes".equals(secret.getAttribute("private")));
    }

    private static Document parse(String xml) {
        try {
            DocumentBuilderFactory factory = DocumentBuilderFactory.newInstance();
            factory.setFeature("http://apache.org/xml/features/disallow-doctype-decl", true);
            factory.setFeature("http://xml.org/sax/features/external-general-entities", false);
            factory.setFeature("http://xml.org/sax/features/external-parameter-entities", false);
            factory.setFeature(XMLConstants.FEATURE_SECURE_PROCESSING, true);
            factory.setXIncludeAware(false);
            factory.setExpandEntityReferences(false);
            DocumentBuilder builder = factory.newDocumentBuilder();
            builder.setErrorHandler(null);
            return builder.parse(new InputSource(new StringReader(xml)));
        } catch (ParserConfigurationException | SAXException | IOException e) {
            throw StorageException.wrongState("libvirt described a secret in XML the agent cannot read: " + e.getMessage());
        }
    }

    private static Element child(Document doc, Element parent, String tag) {
        Element e = doc.createElement(tag);
        parent.appendChild(e);
        return e;
    }
}
