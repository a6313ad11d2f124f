//! `report.html`: one self-contained page, the executive summary, the alerts,
//! the open incidents, the top cases and the charts as inline SVG.
//!
//! No scripts, no stylesheets or fonts from elsewhere: it opens offline.
//! Rendered with maud, as the workbench's pages are (issue 14: one rendering
//! path for HTML), so all text from the data is escaped by the template; the
//! SVG comes from plotters, which escapes the text it draws, and is the only
//! markup passed through as is.

use maud::{html, Markup, PreEscaped, DOCTYPE};

use super::figures::Figures;
use super::summary::Row;

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1500px;color:#222}\
table{border-collapse:collapse;margin-bottom:1.5em}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left;vertical-align:top}\
th{background:#f3f3f3}.charts{display:flex;flex-wrap:wrap;gap:16px}figure{margin:0;border:1px solid #e5e5e5}\
figcaption{font-size:12px;color:#555;padding:2px 6px}";

fn table<R: AsRef<[String]>>(header: &[&str], rows: &[R]) -> Markup {
    html! {
        table {
            tr { @for h in header { th { (h) } } }
            @for row in rows {
                tr { @for cell in row.as_ref() { td { (cell) } } }
            }
        }
    }
}

/// The whole page. `charts` are (caption, svg) pairs.
pub fn render(summary: &[Row], f: &Figures, charts: &[(String, String)]) -> String {
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                title { "tnsflow Trust & Safety report" }
                style { (PreEscaped(STYLE)) }
            }
            body {
                h1 { "Trust & Safety pipeline report" }
                p {
                    (f.n_events) " events from " (f.n_users) " users over " (f.days.len())
                    " day(s), " (f.days.first().map_or("", String::as_str))
                    " to " (f.days.last().map_or("", String::as_str)) "."
                }
                h2 { "Executive summary" }
                (table(&["section", "metric", "value"], summary))
                h2 { "Alerts" }
                @if f.alerts.is_empty() {
                    p { "No alerts." }
                } @else {
                    (table(&["day", "alert_type", "severity", "details"], &f.alerts))
                }
                h2 { "Incidents" }
                @if f.incidents.is_empty() {
                    p { "No open incident: no high-severity alert." }
                } @else {
                    (table(&["incident_id", "created_ts", "severity", "summary"], &f.incidents))
                }
                h2 { "Top cases" }
                (table(
                    &["case_id", "priority", "case_score", "recommended_action", "findings"],
                    &f.top_cases,
                ))
                h2 { "Charts" }
                div class="charts" {
                    @for (caption, svg) in charts {
                        figure {
                            (PreEscaped(svg.trim_end()))
                            figcaption { (caption) }
                        }
                    }
                }
            }
        }
    };
    let mut out = page.into_string();
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Data text is escaped everywhere it lands on the page.
    #[test]
    fn escapes_data() {
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
        assert!(
            html.contains("<figure><svg></svg><figcaption>"),
            "the SVG as drawn"
        );
    }
}
