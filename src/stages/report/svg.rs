//! Small, dependency-free SVG charts for the self-contained HTML report.
//!
//! Bars and lines on a fixed 640x280 canvas with axis labels; every number is
//! formatted with fixed precision so the same data gives the same bytes.

const W: f64 = 640.0;
const H: f64 = 280.0;
const LEFT: f64 = 56.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 36.0;
const BOTTOM: f64 = 64.0;
const COLORS: [&str; 3] = ["#3b6ea8", "#d0783a", "#4f9a5b"];

/// Escapes text for HTML and SVG.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn frame(title: &str, max: f64, body: &str, x_labels: &str, legend: &str) -> String {
    let mut ticks = String::new();
    for i in 0..=4 {
        let v = max * i as f64 / 4.0;
        let y = TOP + (H - TOP - BOTTOM) * (1.0 - i as f64 / 4.0);
        ticks.push_str(&format!(
            "<line x1=\"{LEFT}\" x2=\"{:.1}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#e3e3e3\"/><text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" font-size=\"10\">{}</text>",
            W - RIGHT,
            LEFT - 4.0,
            y + 3.0,
            short(v)
        ));
    }
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {W} {H}\" width=\"{W}\" height=\"{H}\" role=\"img\" aria-label=\"{t}\"><text x=\"{LEFT}\" y=\"20\" font-size=\"14\" font-weight=\"bold\">{t}</text>{ticks}{body}{x_labels}{legend}</svg>",
        t = escape(title)
    )
}

fn short(v: f64) -> String {
    if v.abs() >= 1000.0 {
        format!("{:.0}", v)
    } else if v.abs() >= 10.0 {
        format!("{:.1}", v)
    } else {
        format!("{:.3}", v)
    }
}

fn nice_max(values: impl Iterator<Item = f64>) -> f64 {
    let max = values.fold(0.0, f64::max);
    if max <= 0.0 {
        1.0
    } else {
        max * 1.05
    }
}

fn x_labels(labels: &[String], x_of: impl Fn(usize) -> f64) -> String {
    let every = labels.len().div_ceil(14).max(1);
    labels
        .iter()
        .enumerate()
        .filter(|(i, _)| i % every == 0)
        .map(|(i, l)| {
            let x = x_of(i);
            let y = H - BOTTOM + 12.0;
            format!("<text x=\"{x:.1}\" y=\"{y:.1}\" font-size=\"9\" text-anchor=\"end\" transform=\"rotate(-35 {x:.1} {y:.1})\">{}</text>", escape(l))
        })
        .collect()
}

pub fn bar_chart(title: &str, labels: &[String], values: &[f64]) -> String {
    let max = nice_max(values.iter().copied());
    let slot = (W - LEFT - RIGHT) / values.len().max(1) as f64;
    let plot_h = H - TOP - BOTTOM;
    let bars: String = values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let h = plot_h * v / max;
            format!(
                "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{h:.1}\" fill=\"{}\"><title>{}: {}</title></rect>",
                LEFT + slot * i as f64 + slot * 0.1,
                TOP + plot_h - h,
                slot * 0.8,
                COLORS[0],
                escape(&labels[i]),
                short(*v)
            )
        })
        .collect();
    frame(
        title,
        max,
        &bars,
        &x_labels(labels, |i| LEFT + slot * (i as f64 + 0.5)),
        "",
    )
}

/// One or more series over the same x labels.
pub fn line_chart(title: &str, labels: &[String], series: &[(&str, Vec<f64>)]) -> String {
    let max = nice_max(series.iter().flat_map(|s| s.1.iter().copied()));
    let n = labels.len().max(2) as f64 - 1.0;
    let plot_h = H - TOP - BOTTOM;
    let x_of = |i: usize| LEFT + (W - LEFT - RIGHT) * i as f64 / n;
    let mut body = String::new();
    let mut legend = String::new();
    for (k, (name, values)) in series.iter().enumerate() {
        let points: Vec<String> = values
            .iter()
            .enumerate()
            .map(|(i, v)| format!("{:.1},{:.1}", x_of(i), TOP + plot_h * (1.0 - v / max)))
            .collect();
        body.push_str(&format!(
            "<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"2\" points=\"{}\"/>",
            COLORS[k % 3],
            points.join(" ")
        ));
        legend.push_str(&format!(
            "<rect x=\"{:.1}\" y=\"10\" width=\"10\" height=\"10\" fill=\"{c}\"/><text x=\"{:.1}\" y=\"19\" font-size=\"11\">{}</text>",
            W - 200.0 + 100.0 * k as f64,
            W - 186.0 + 100.0 * k as f64,
            escape(name),
            c = COLORS[k % 3]
        ));
    }
    frame(title, max, &body, &x_labels(labels, x_of), &legend)
}

/// A curve of (x, y) points with both axes in [0, 1] (precision-recall).
pub fn curve(title: &str, points: &[(f64, f64)], x_name: &str) -> String {
    let plot_h = H - TOP - BOTTOM;
    let pts: Vec<String> = points
        .iter()
        .map(|(x, y)| {
            format!(
                "{:.1},{:.1}",
                LEFT + (W - LEFT - RIGHT) * x,
                TOP + plot_h * (1.0 - y)
            )
        })
        .collect();
    let body = format!(
        "<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"2\" points=\"{}\"/>",
        COLORS[0],
        pts.join(" ")
    );
    let labels: Vec<String> = (0..=10)
        .map(|i| format!("{:.1}", i as f64 / 10.0))
        .collect();
    let axis = x_labels(&labels, |i| LEFT + (W - LEFT - RIGHT) * i as f64 / 10.0);
    let name = format!(
        "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"middle\">{}</text>",
        W / 2.0,
        H - 8.0,
        escape(x_name)
    );
    frame(title, 1.0, &body, &axis, &name)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Charts escape their text and are well-formed SVG roots.
    #[test]
    fn escapes_and_wraps() {
        let svg = bar_chart("a <b>", &["x&y".into()], &[1.0]);
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(svg.contains("a &lt;b&gt;") && svg.contains("x&amp;y"));
        assert!(!svg.contains("<b>"));
    }
}
