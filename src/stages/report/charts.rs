//! The report's charts, drawn with plotters into inline SVG strings.
//!
//! Only the SVG backend and plotters' built-in text layout estimate are used
//! (no system fonts, no bitmap), so the charts build anywhere and the same
//! data gives the same bytes: plotters writes integer pixel coordinates and
//! escapes every piece of text it draws. An empty series still gives a chart
//! (one empty `(none)` bar), never an error.

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::execute::StageError;
use crate::StageResult;

const WIDTH: u32 = 720;
const HEIGHT: u32 = 320;
const BLUE: RGBColor = RGBColor(59, 110, 168);
const ORANGE: RGBColor = RGBColor(208, 120, 58);
const GREEN: RGBColor = RGBColor(79, 154, 91);
const PALETTE: [RGBColor; 3] = [BLUE, ORANGE, GREEN];
const FONT: &str = "sans-serif";

/// Bars over category labels, left to right (or top to bottom when horizontal).
pub struct Bars<'a> {
    pub title: &'a str,
    pub labels: &'a [String],
    pub values: &'a [f64],
    pub y_desc: &'a str,
    /// Draw the bars horizontally (for long category names).
    pub horizontal: bool,
}

/// One or more lines over the same category labels (days).
pub struct Lines<'a> {
    pub title: &'a str,
    pub labels: &'a [String],
    pub series: &'a [(&'a str, Vec<f64>)],
    pub y_desc: &'a str,
}

/// A curve of (x, y) points with both axes in [0, 1].
pub struct Curve<'a> {
    pub title: &'a str,
    pub points: &'a [(f64, f64)],
    pub x_desc: &'a str,
    pub y_desc: &'a str,
}

fn failed(e: impl std::fmt::Display) -> StageError {
    StageError::Failed(format!("drawing a report chart: {e}"))
}

/// Draws into a fresh SVG canvas and returns the SVG text.
fn svg(
    draw: impl FnOnce(&DrawingArea<SVGBackend, Shift>) -> StageResult<()>,
) -> StageResult<String> {
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(failed)?;
        draw(&root)?;
        root.present().map_err(failed)?;
    }
    Ok(out)
}

/// The top of a value axis: a little headroom above the largest value, and
/// a unit axis when there is nothing to show.
fn axis_max(values: impl Iterator<Item = f64>) -> f64 {
    let max = values.filter(|v| v.is_finite()).fold(0.0, f64::max);
    if max > 0.0 {
        max * 1.08
    } else {
        1.0
    }
}

/// The label of a category key point; the segment edges plotters may ask
/// about get no label.
fn category(labels: &[String], v: &SegmentValue<usize>) -> String {
    match v {
        SegmentValue::CenterOf(i) => labels.get(*i).cloned().unwrap_or_default(),
        _ => String::new(),
    }
}

/// A value-axis tick: whole numbers for counts, up to four decimals for rates.
fn tick(v: &f64) -> String {
    if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else {
        let s = format!("{v:.4}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// Labels and values with at least one entry, so the axes are never empty.
fn non_empty(labels: &[String], values: &[f64]) -> (Vec<String>, Vec<f64>) {
    if values.is_empty() {
        (vec!["(none)".into()], vec![0.0])
    } else {
        (labels.to_vec(), values.to_vec())
    }
}

pub fn bar_chart(chart: &Bars) -> StageResult<String> {
    let (mut labels, mut values) = non_empty(chart.labels, chart.values);
    if chart.horizontal {
        // The y axis counts upwards: reversed, the first category is on top.
        labels.reverse();
        values.reverse();
    }
    let last = labels.len() - 1;
    let max = axis_max(values.iter().copied());
    svg(|root| {
        let mut builder = ChartBuilder::on(root);
        builder.caption(chart.title, (FONT, 18)).margin(12);
        if chart.horizontal {
            let longest = labels.iter().map(|l| l.chars().count()).max().unwrap_or(1) as u32;
            let mut ctx = builder
                .x_label_area_size(40)
                .y_label_area_size((longest * 7 + 16).min(220))
                .build_cartesian_2d(0f64..max, (0..last).into_segmented())
                .map_err(failed)?;
            ctx.configure_mesh()
                .disable_y_mesh()
                .y_labels(labels.len())
                .y_label_formatter(&|v| category(&labels, v))
                .x_label_formatter(&tick)
                .x_desc(chart.y_desc)
                .draw()
                .map_err(failed)?;
            ctx.draw_series(values.iter().enumerate().map(|(i, v)| {
                let mut bar = Rectangle::new(
                    [
                        (0.0, SegmentValue::Exact(i)),
                        (*v, SegmentValue::Exact(i + 1)),
                    ],
                    BLUE.filled(),
                );
                bar.set_margin(2, 2, 0, 0);
                bar
            }))
            .map_err(failed)?;
        } else {
            let mut ctx = builder
                .x_label_area_size(40)
                .y_label_area_size(64)
                .build_cartesian_2d((0..last).into_segmented(), 0f64..max)
                .map_err(failed)?;
            ctx.configure_mesh()
                .disable_x_mesh()
                .x_labels(labels.len().min(10))
                .x_label_formatter(&|v| category(&labels, v))
                .y_label_formatter(&tick)
                .y_desc(chart.y_desc)
                .draw()
                .map_err(failed)?;
            ctx.draw_series(values.iter().enumerate().map(|(i, v)| {
                let mut bar = Rectangle::new(
                    [
                        (SegmentValue::Exact(i), 0.0),
                        (SegmentValue::Exact(i + 1), *v),
                    ],
                    BLUE.filled(),
                );
                bar.set_margin(0, 0, 2, 2);
                bar
            }))
            .map_err(failed)?;
        }
        Ok(())
    })
}

pub fn line_chart(chart: &Lines) -> StageResult<String> {
    let labels = if chart.labels.is_empty() {
        vec!["(none)".to_string()]
    } else {
        chart.labels.to_vec()
    };
    let last = labels.len() - 1;
    let max = axis_max(chart.series.iter().flat_map(|s| s.1.iter().copied()));
    svg(|root| {
        let mut ctx = ChartBuilder::on(root)
            .caption(chart.title, (FONT, 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(64)
            .build_cartesian_2d((0..last).into_segmented(), 0f64..max)
            .map_err(failed)?;
        ctx.configure_mesh()
            .disable_x_mesh()
            .x_labels(labels.len().min(7))
            .x_label_formatter(&|v| category(&labels, v))
            .y_label_formatter(&tick)
            .y_desc(chart.y_desc)
            .draw()
            .map_err(failed)?;
        for (k, (name, values)) in chart.series.iter().enumerate() {
            let color = PALETTE[k % PALETTE.len()];
            ctx.draw_series(LineSeries::new(
                values
                    .iter()
                    .enumerate()
                    .map(|(i, v)| (SegmentValue::CenterOf(i), *v)),
                color.stroke_width(2),
            ))
            .map_err(failed)?
            .label(*name)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
            });
        }
        ctx.configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.3))
            .draw()
            .map_err(failed)?;
        Ok(())
    })
}

pub fn curve(chart: &Curve) -> StageResult<String> {
    svg(|root| {
        let mut ctx = ChartBuilder::on(root)
            .caption(chart.title, (FONT, 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(64)
            .build_cartesian_2d(0f64..1f64, 0f64..1.05f64)
            .map_err(failed)?;
        ctx.configure_mesh()
            .x_label_formatter(&tick)
            .y_label_formatter(&tick)
            .x_desc(chart.x_desc)
            .y_desc(chart.y_desc)
            .draw()
            .map_err(failed)?;
        ctx.draw_series(LineSeries::new(
            chart.points.iter().copied(),
            BLUE.stroke_width(2),
        ))
        .map_err(failed)?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Charts are SVG roots, escape their text, and are byte-identical on a redraw.
    #[test]
    fn svg_is_escaped_and_stable() {
        let labels = vec!["a<b".to_string(), "x&y".to_string()];
        let bars = Bars {
            title: "Title <script>",
            labels: &labels,
            values: &[3.0, 5.0],
            y_desc: "count",
            horizontal: false,
        };
        let svg = bar_chart(&bars).unwrap();
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains("Title &lt;script&gt;") && svg.contains("x&amp;y"));
        assert!(!svg.contains("<script>"));
        assert_eq!(svg, bar_chart(&bars).unwrap());
        let horizontal = bar_chart(&Bars {
            horizontal: true,
            ..bars
        })
        .unwrap();
        assert!(horizontal.contains("a&lt;b"));
    }

    /// Empty inputs still draw (an empty axis), for every kind of chart.
    #[test]
    fn empty_inputs_draw() {
        let none: Vec<String> = Vec::new();
        assert!(bar_chart(&Bars {
            title: "t",
            labels: &none,
            values: &[],
            y_desc: "",
            horizontal: false,
        })
        .unwrap()
        .contains("(none)"));
        assert!(line_chart(&Lines {
            title: "t",
            labels: &none,
            series: &[("s", vec![])],
            y_desc: "",
        })
        .is_ok());
        assert!(curve(&Curve {
            title: "t",
            points: &[],
            x_desc: "recall",
            y_desc: "precision",
        })
        .is_ok());
    }
}
