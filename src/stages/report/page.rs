//! `report.html`: one self-contained page, the executive summary, the alerts,
//! the open incidents, the top cases and the charts as inline SVG.
//!
//! No scripts, no stylesheets or fonts from elsewhere: it opens offline. All
//! text from the data is escaped here; the SVG comes from plotters, which
//! escapes the text it draws.

use super::figures::Figures;
use super::summary::Row;

/// Escapes text for HTML element content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1500px;color:#222}\
table{border-collapse:collapse;margin-bottom:1.5em}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left;vertical-align:top}\
th{background:#f3f3f3}.charts{display:flex;flex-wrap:wrap;gap:16px}figure{margin:0;border:1px solid #e5e5e5}\
figcaption{font-size:12px;color:#555;padding:2px 6px}";

fn table(out: &mut String, header: &[&str], rows: &[Vec<String>]) {
    out.push_str("<table><tr>");
    for h in header {
        out.push_str(&format!("<th>{}</th>", escape(h)));
    }
    out.push_str("</tr>\n");
    for row in rows {
        out.push_str("<tr>");
        for cell in row {
            out.push_str(&format!("<td>{}</td>", escape(cell)));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</table>\n");
}

/// The whole page. `charts` are (caption, svg) pairs.
pub fn render(summary: &[Row], f: &Figures, charts: &[(String, String)]) -> String {
    let mut out = String::new();
    out.push_str("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
    out.push_str("<title>tnsflow Trust &amp; Safety report</title><style>");
    out.push_str(STYLE);
    out.push_str("</style></head><body>\n<h1>Trust &amp; Safety pipeline report</h1>\n");
    out.push_str(&format!(
        "<p>{} events from {} users over {} day(s), {} to {}.</p>\n",
        f.n_events,
        f.n_users,
        f.days.len(),
        escape(f.days.first().map_or("", String::as_str)),
        escape(f.days.last().map_or("", String::as_str)),
    ));

    out.push_str("<h2>Executive summary</h2>\n");
    let rows: Vec<Vec<String>> = summary.iter().map(|r| r.to_vec()).collect();
    table(&mut out, &["section", "metric", "value"], &rows);

    out.push_str("<h2>Alerts</h2>\n");
    if f.alerts.is_empty() {
        out.push_str("<p>No alerts.</p>\n");
    } else {
        let rows: Vec<Vec<String>> = f.alerts.iter().map(|r| r.to_vec()).collect();
        table(
            &mut out,
            &["day", "alert_type", "severity", "details"],
            &rows,
        );
    }

    out.push_str("<h2>Incidents</h2>\n");
    if f.incidents.is_empty() {
        out.push_str("<p>No open incident: no high-severity alert.</p>\n");
    } else {
        let rows: Vec<Vec<String>> = f.incidents.iter().map(|r| r.to_vec()).collect();
        table(
            &mut out,
            &["incident_id", "created_ts", "severity", "summary"],
            &rows,
        );
    }

    out.push_str("<h2>Top cases</h2>\n");
    let rows: Vec<Vec<String>> = f.top_cases.iter().map(|r| r.to_vec()).collect();
    table(
        &mut out,
        &[
            "case_id",
            "priority",
            "case_score",
            "recommended_action",
            "findings",
        ],
        &rows,
    );

    out.push_str("<h2>Charts</h2>\n<div class=\"charts\">\n");
    for (caption, svg) in charts {
        out.push_str("<figure>");
        out.push_str(svg.trim_end());
        out.push_str(&format!(
            "<figcaption>{}</figcaption></figure>\n",
            escape(caption)
        ));
    }
    out.push_str("</div>\n</body></html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Data text is escaped everywhere it lands on the page.
    #[test]
    fn escapes_data() {
        assert_eq!(
            escape("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
        let f = Figures {
            top_cases: vec![[
                "case_<u>".into(),
                "P1".into(),
                "9".into(),
                "a".into(),
                "b&c".into(),
            ]],
            ..Figures::default()
        };
        let summary = vec![["s".to_string(), "<m>".to_string(), "1".to_string()]];
        let html = render(&summary, &f, &[("cap <x>".into(), "<svg></svg>".into())]);
        assert!(html.contains("case_&lt;u&gt;") && html.contains("b&amp;c"));
        assert!(html.contains("&lt;m&gt;") && html.contains("cap &lt;x&gt;"));
        assert!(!html.contains("<m>") && !html.contains("<script"));
    }
}
