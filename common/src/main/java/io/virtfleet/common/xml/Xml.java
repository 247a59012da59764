package io.virtfleet.common.xml;

import io.virtfleet.common.validation.InvalidInputException;
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
import org.w3c.dom.Node;
import org.xml.sax.ErrorHandler;
import org.xml.sax.InputSource;
import org.xml.sax.SAXException;
import org.xml.sax.SAXParseException;

/**
 * The one way virtfleet reads and writes XML (libvirt definitions): documents are built with DOM and
 * written by a Transformer, never by concatenating strings, and text from elsewhere is parsed with DTDs,
 * entities and XInclude off, so a definition can neither expand itself (billion laughs) nor make the
 * reader fetch a file or a URL (XXE).
 */
public final class Xml {
    /** Xerces' switch that makes any DOCTYPE a fatal error, which also rules out every entity declaration. */
    private static final String DISALLOW_DOCTYPE = "http://apache.org/xml/features/disallow-doctype-decl";

    private Xml() {}

    /** An empty, namespace-aware document to build on. */
    public static Document newDocument() {
        try {
            return factory().newDocumentBuilder().newDocument();
        } catch (ParserConfigurationException e) {
            throw new IllegalStateException("the JDK's XML parser cannot be configured safely: " + e.getMessage(), e);
        }
    }

    /**
     * Parses untrusted text given in {@code field}; refuses a DOCTYPE, anything malformed and text longer
     * than {@code maxChars}, each with an {@link InvalidInputException} naming the field and the reason.
     */
    public static Document parse(String field, String text, int maxChars) {
        if (text == null || text.isBlank()) {
            throw new InvalidInputException(field, text, "an XML document");
        }
        if (text.length() > maxChars) {
            throw new InvalidInputException(field, text, "an XML document of at most " + maxChars + " characters");
        }
        try {
            DocumentBuilder builder = factory().newDocumentBuilder();
            builder.setErrorHandler(FAIL_QUIETLY);
            return builder.parse(new InputSource(new StringReader(text)));
        } catch (SAXParseException e) {
            throw new InvalidInputException(field, text, "well-formed XML without DOCTYPE or entity declarations"
                    + " (line " + e.getLineNumber() + ", column " + e.getColumnNumber() + ": " + e.getMessage() + ")");
        } catch (SAXException | IOException e) {
            throw new InvalidInputException(field, text, "well-formed XML (" + e.getMessage() + ")");
        } catch (ParserConfigurationException e) {
            throw new IllegalStateException("the JDK's XML parser cannot be configured safely: " + e.getMessage(), e);
        }
    }

    /**
     * The document as text: no XML declaration, two-space indentation, attributes and elements in the order
     * they were built, so the same document always gives the same bytes. Whitespace-only text between
     * elements is layout, not content (as for libvirt), and is laid out anew; the document is not changed.
     */
    public static String write(Document doc) {
        Document copy = (Document) doc.cloneNode(true);
        dropLayout(copy.getDocumentElement());
        try {
            TransformerFactory tf = TransformerFactory.newInstance();
            tf.setFeature(XMLConstants.FEATURE_SECURE_PROCESSING, true);
            tf.setAttribute(XMLConstants.ACCESS_EXTERNAL_DTD, "");
            tf.setAttribute(XMLConstants.ACCESS_EXTERNAL_STYLESHEET, "");
            Transformer t = tf.newTransformer();
            t.setOutputProperty(OutputKeys.OMIT_XML_DECLARATION, "yes");
            t.setOutputProperty(OutputKeys.ENCODING, "UTF-8");
            t.setOutputProperty(OutputKeys.INDENT, "yes");
            t.setOutputProperty("{http://xml.apache.org/xslt}indent-amount", "2");
            StringWriter out = new StringWriter();
            t.transform(new DOMSource(copy), new StreamResult(out));
            String text = out.toString();
            return text.endsWith("\n") ? text : text + "\n";
        } catch (TransformerException e) {
            throw new IllegalStateException("cannot write XML: " + e.getMessage(), e);
        }
    }

    /** Removes whitespace-only text nodes, which the Transformer would otherwise indent a second time. */
    private static void dropLayout(Node node) {
        if (node == null) {
            return;
        }
        Node child = node.getFirstChild();
        while (child != null) {
            Node next = child.getNextSibling();
            if (child.getNodeType() == Node.TEXT_NODE && child.getNodeValue().isBlank()) {
                node.removeChild(child);
            } else {
                dropLayout(child);
            }
            child = next;
        }
    }

    private static DocumentBuilderFactory factory() throws ParserConfigurationException {
        DocumentBuilderFactory f = DocumentBuilderFactory.newInstance();
        f.setNamespaceAware(true);
        f.setFeature(XMLConstants.FEATURE_SECURE_PROCESSING, true);
        f.setFeature(DISALLOW_DOCTYPE, true);
        f.setFeature("http://xml.org/sax/features/external-general-entities", false);
        f.setFeature("http://xml.org/sax/features/external-parameter-entities", false);
        f.setFeature("http://apache.org/xml/features/nonvalidating/load-external-dtd", false);
        f.setAttribute(XMLConstants.ACCESS_EXTERNAL_DTD, "");
        f.setAttribute(XMLConstants.ACCESS_EXTERNAL_SCHEMA, "");
        f.setXIncludeAware(false);
        f.setExpandEntityReferences(false);
        return f;
    }

    /** The JDK parser prints "[Fatal Error]" to stderr unless told otherwise; the exception says it all. */
    private static final ErrorHandler FAIL_QUIETLY = new ErrorHandler() {
        @Override
        public void warning(SAXParseException e) {
            // warnings do not make a document unusable
        }

        @Override
        public void error(SAXParseException e) throws SAXException {
            throw e;
        }

        @Override
        public void fatalError(SAXParseException e) throws SAXException {
            throw e;
        }
    };
}
