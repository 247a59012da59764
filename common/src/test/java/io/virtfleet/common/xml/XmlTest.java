package io.virtfleet.common.xml;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.virtfleet.common.validation.InvalidInputException;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.w3c.dom.Document;
import org.w3c.dom.Element;

class XmlTest {
    @TempDir
    Path tmp;

    @Test
    void aDocumentBuiltWithDomIsWrittenEscapedAndReadBackAsItWas() {
        Document doc = Xml.newDocument();
        Element domain = doc.createElement("domain");
        domain.setAttribute("type", "qemu\"'<>&");
        domain.appendChild(doc.createElement("name")).setTextContent("</name><evil/>&amp;");
        doc.appendChild(domain);

        String text = Xml.write(doc);
        assertFalse(text.contains("<evil/>"), text);
        assertFalse(text.startsWith("<?xml"), "no declaration: " + text);
        Document back = Xml.parse("xml", text, 10_000);
        assertEquals("qemu\"'<>&", back.getDocumentElement().getAttribute("type"));
        assertEquals("</name><evil/>&amp;", back.getElementsByTagName("name").item(0).getTextContent());
        assertEquals(text, Xml.write(back), "writing is deterministic");
    }

    @Test
    void anExternalEntityIsRefusedAndTheFileIsNeverRead() throws Exception {
        Path secret = Files.writeString(tmp.resolve("secret"), "TOP-SECRET");
        String xxe = "<?xml version=\"1.0\"?>\n<!DOCTYPE domain [<!ENTITY x SYSTEM \"file://" + secret + "\">]>\n"
                + "<domain><name>&x;</name></domain>";
        InvalidInputException e = refusedQuietly(xxe);
        assertEquals("domain_xml", e.field());
        assertTrue(e.getMessage().contains("DOCTYPE"), e.getMessage());
        assertFalse(e.getMessage().contains("TOP-SECRET"), e.getMessage());
    }

    @Test
    void entityExpansionAndAnyDoctypeAreRefused() {
        String laughs = "<!DOCTYPE d [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\">]><d>&b;</d>";
        assertTrue(refusedQuietly(laughs).getMessage().contains("line 1"));
        refusedQuietly("<!DOCTYPE domain SYSTEM \"http://127.0.0.1:9/x.dtd\"><domain/>");
    }

    @Test
    void malformedEmptyAndOversizedTextIsRefusedNamingTheField() {
        InvalidInputException e = refusedQuietly("<domain><name>x</domain>");
        assertTrue(e.getMessage().startsWith("domain_xml: \"<domain><name>x</domain>\" is not accepted; expected well-formed XML"),
                e.getMessage());
        refusedQuietly("");
        assertThrows(InvalidInputException.class, () -> Xml.parse("domain_xml", null, 100));
        assertTrue(assertThrows(InvalidInputException.class, () -> Xml.parse("domain_xml", "<a>" + "x".repeat(100) + "</a>", 100))
                .getMessage().contains("at most 100 characters"));
    }

    /** Parses expecting a refusal, and checks the parser printed nothing of its own to stderr. */
    private static InvalidInputException refusedQuietly(String text) {
        PrintStream stderr = System.err;
        ByteArrayOutputStream captured = new ByteArrayOutputStream();
        System.setErr(new PrintStream(captured, true, StandardCharsets.UTF_8));
        try {
            return assertThrows(InvalidInputException.class, () -> Xml.parse("domain_xml", text, 100_000));
        } finally {
            System.setErr(stderr);
            assertEquals("", captured.toString(StandardCharsets.UTF_8), "nothing printed by the parser");
        }
    }
}
