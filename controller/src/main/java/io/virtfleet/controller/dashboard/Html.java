package io.virtfleet.controller.dashboard;

import java.util.List;
import java.util.Locale;

/** Building blocks of the dashboard's HTML. Every value that reaches a page goes through {@link #esc}. */
final class Html {
    private Html() {}

    /** {@code text} safe in element content and in double-quoted attributes. */
    static String esc(Object value) {
        String text = String.valueOf(value);
        StringBuilder out = new StringBuilder(text.length() + 16);
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            switch (c) {
                case '&' -> out.append("&amp;");
                case '<' -> out.append("&lt;");
                case '>' -> out.append("&gt;");
                case '"' -> out.append("&quot;");
                case '\'' -> out.append("&#39;");
                default -> out.append(c);
            }
        }
        return out.toString();
    }

    /** {@code value} encoded for a URL's query. */
    static String url(String value) {
        return java.net.URLEncoder.encode(value, java.nio.charset.StandardCharsets.UTF_8);
    }

    /**
     * A horizontal bar, filled to {@code fraction} (0..1, more is shown full and marked "over"), as SVG: the page's
     * policy allows no inline style, and SVG geometry is an attribute, not a style.
     */
    static String bar(double fraction, String label) {
        double f = Double.isFinite(fraction) ? Math.max(0, fraction) : 0;
        return bar(f, f >= 0.9 ? "high" : f >= 0.7 ? "mid" : "low", label);
    }

    /** A bar for a share that is neither good nor bad when full (domains running of those defined). */
    static String share(double fraction, String label) {
        return bar(Double.isFinite(fraction) ? Math.max(0, fraction) : 0, "neutral", label);
    }

    private static String bar(double f, String level, String label) {
        int width = (int) Math.round(Math.min(1, f) * 100);
        return "<span class=\"bar\"><svg class=\"barsvg\" viewBox=\"0 0 100 8\" preserveAspectRatio=\"none\" role=\"img\""
                + " aria-label=\"" + esc(label) + "\"><rect class=\"track\" width=\"100\" height=\"8\"/><rect class=\"fill " + level
                + "\" width=\"" + width + "\" height=\"8\"/></svg><span class=\"barlabel\">" + esc(label) + "</span></span>";
    }

    /** A small line chart of {@code values} (load per hardware thread), scaled to at least 1.0. */
    static String sparkline(List<Double> values, String label) {
        int w = 120;
        int h = 24;
        if (values.size() < 2) {
            return "<span class=\"muted\">collecting…</span>";
        }
        double max = Math.max(1.0, values.stream().mapToDouble(Double::doubleValue).max().orElse(1));
        StringBuilder points = new StringBuilder();
        for (int i = 0; i < values.size(); i++) {
            double x = w - (double) (values.size() - 1 - i) * w / (LoadHistory.SAMPLES - 1); // newest at the right
            double y = h - values.get(i) / max * (h - 2) - 1;
            points.append(String.format(Locale.ROOT, "%.1f,%.1f ", x, y));
        }
        return "<svg class=\"spark\" width=\"" + w + "\" height=\"" + h + "\" viewBox=\"0 0 " + w + " " + h + "\" role=\"img\""
                + " aria-label=\"" + esc(label) + "\"><title>" + esc(label) + "</title><polyline points=\"" + points.toString().strip()
                + "\"/></svg>";
    }

    static String badge(String text, String kind) {
        return "<span class=\"badge " + esc(kind) + "\">" + esc(text) + "</span>";
    }
}
