package io.virtfleet.controller.dashboard;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

/** What reaches a page is escaped: names and messages come from agents and libvirt. */
class HtmlTest {
    @Test
    void markupAndQuotesAreEscaped() {
        assertEquals("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39;",
                Html.esc("<script>alert(\"x\")</script> & 'y'"));
    }

    @Test
    void barsAndChartsEscapeTheirLabels() {
        String bar = Html.bar(0.5, "<img src=x onerror=alert(1)>");
        assertFalse(bar.contains("<img"), bar);
        assertTrue(bar.contains("width=\"50\""), bar);
        String chart = Html.sparkline(List.of(0.1, 0.2), "\"><script>");
        assertFalse(chart.contains("<script>"), chart);
    }

    @Test
    void aBarIsClampedAndColouredByLevel() {
        assertTrue(Html.bar(3.0, "over").contains("fill high\" width=\"100\""));
        assertTrue(Html.bar(-1, "none").contains("fill low\" width=\"0\""));
        assertTrue(Html.bar(Double.NaN, "n/a").contains("width=\"0\""));
        assertTrue(Html.share(1.0, "3 of 3").contains("fill neutral\" width=\"100\""));
    }
}
