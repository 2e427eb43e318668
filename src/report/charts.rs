//! Line charts as inline SVG, drawn with plotters' SVG backend.
//!
//! A [`Chart`] is plain data (title, axes, series with optional bands); [`render`]
//! turns it into an SVG string. Black is emitted as `currentColor` and backgrounds are
//! transparent, so the page's light and dark themes both apply to text and axes.
//! Each series has its own colour within a chart; the page's legend buttons use that
//! colour to show and hide a series (see `templates/report.js`).

use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::prelude::*;
use serde::Serialize;

/// Colours for series: the Okabe–Ito palette (safe for colour-blind readers),
/// darkened where needed to read on white and on dark grey.
pub const PALETTE: [&str; 8] = [
    "#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#8C7A00", "#7F7F7F",
];

/// One line (and optional band) on a chart.
#[derive(Clone, Debug, Default)]
pub struct Series {
    /// Legend name.
    pub name: String,
    /// The line's points.
    pub points: Vec<(f64, f64)>,
    /// A shaded band `(x, low, high)` around the line (e.g. min–max over seeds).
    pub band: Vec<(f64, f64, f64)>,
    /// Draw markers at the points.
    pub markers: bool,
    /// Draw the line dashed (reference lines, fits).
    pub dashed: bool,
    /// Draw only (larger) markers, no line (highlighted points).
    pub markers_only: bool,
    /// Palette index (defaults to the series' position).
    pub color: Option<usize>,
}

/// A chart description.
#[derive(Clone, Debug, Default)]
pub struct Chart {
    /// Title above the plot.
    pub title: String,
    /// X axis label, with unit.
    pub x_label: String,
    /// Y axis label, with unit.
    pub y_label: String,
    /// Logarithmic x axis.
    pub x_log: bool,
    /// Logarithmic y axis.
    pub y_log: bool,
    /// Fixed y range (otherwise fitted to the data).
    pub y_range: Option<(f64, f64)>,
    /// The series.
    pub series: Vec<Series>,
    /// A note under the chart (how it was computed).
    pub note: String,
}

/// A rendered chart, as the templates receive it.
#[derive(Clone, Debug, Serialize)]
pub struct RenderedChart {
    /// Title (also the figure caption).
    pub title: String,
    /// The SVG markup.
    pub svg: String,
    /// Legend entries: name and colour (for the show/hide buttons).
    pub legend: Vec<LegendEntry>,
    /// A note under the chart.
    pub note: String,
}

/// A legend entry.
#[derive(Clone, Debug, Serialize)]
pub struct LegendEntry {
    /// Series name.
    pub name: String,
    /// Its colour, `#rrggbb`.
    pub color: String,
}

fn parse_hex(c: &str) -> RGBColor {
    let v = u32::from_str_radix(c.trim_start_matches('#'), 16).unwrap_or(0);
    RGBColor((v >> 16) as u8, (v >> 8) as u8, v as u8)
}

/// The largest magnitude a chart plots. Records are files anyone can edit; a value of
/// 1e308 would make the axis span overflow to infinity, and no measurement batchbench
/// makes comes near this.
const PLOTTABLE: f64 = 1e100;

/// Whether a coordinate can be drawn on an axis (log axes need positive values).
fn plottable(v: f64, log: bool) -> bool {
    v.is_finite() && v.abs() <= PLOTTABLE && (!log || v > 0.0)
}

/// Points and band edges that cannot be drawn (not finite, beyond ±1e100, or not
/// positive on a log axis): left out, and counted so the chart can say so.
fn unplottable(chart: &Chart) -> usize {
    let point = |x: f64, y: f64| !(plottable(x, chart.x_log) && plottable(y, chart.y_log));
    chart
        .series
        .iter()
        .map(|s| {
            s.points.iter().filter(|&&(x, y)| point(x, y)).count()
                + s.band
                    .iter()
                    .filter(|&&(x, lo, hi)| point(x, lo) || point(x, hi))
                    .count()
        })
        .sum()
}

/// The data range of the chart's series and bands, padded; log axes keep only
/// positive values.
fn ranges(chart: &Chart) -> Option<((f64, f64), (f64, f64))> {
    let mut xs = Vec::new();
    let mut ys = Vec::new();
    for s in &chart.series {
        for &(x, y) in &s.points {
            xs.push(x);
            ys.push(y);
        }
        for &(x, lo, hi) in &s.band {
            xs.push(x);
            ys.push(lo);
            ys.push(hi);
        }
    }
    let keep = |v: Vec<f64>, log: bool| -> Vec<f64> {
        v.into_iter().filter(|x| plottable(*x, log)).collect()
    };
    let xs = keep(xs, chart.x_log);
    let ys = keep(ys, chart.y_log);
    if xs.is_empty() || ys.is_empty() {
        return None;
    }
    let span = |v: &[f64], log: bool| {
        let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        if log {
            let (lo, hi) = if lo == hi {
                (lo / 2.0, hi * 2.0)
            } else {
                (lo, hi)
            };
            (lo / 1.15, hi * 1.15)
        } else {
            let pad = if hi > lo {
                (hi - lo) * 0.05
            } else {
                hi.abs().max(1.0) * 0.1
            };
            (lo - pad, hi + pad)
        }
    };
    let x = span(&xs, chart.x_log);
    let y = chart.y_range.unwrap_or_else(|| span(&ys, chart.y_log));
    Some((x, y))
}

/// Renders a chart as SVG of `width`×`height` CSS pixels.
pub fn render(chart: &Chart, width: u32, height: u32) -> RenderedChart {
    let mut svg = String::new();
    let legend = chart
        .series
        .iter()
        .enumerate()
        .filter(|(_, s)| !s.name.is_empty())
        .map(|(i, s)| LegendEntry {
            name: s.name.clone(),
            color: PALETTE[s.color.unwrap_or(i) % PALETTE.len()].to_string(),
        })
        .collect();
    let drawn = match ranges(chart) {
        None => Err("no data".to_string()),
        Some(((x0, x1), (y0, y1))) => {
            let backend = SVGBackend::with_string(&mut svg, (width, height));
            let log = |lo: f64, hi: f64| (lo..hi).log_scale().with_key_points(log_ticks(lo, hi));
            match (chart.x_log, chart.y_log) {
                (false, false) => draw(chart, backend, x0..x1, y0..y1),
                (true, false) => draw(chart, backend, log(x0, x1), y0..y1),
                (false, true) => draw(chart, backend, x0..x1, log(y0, y1)),
                (true, true) => draw(chart, backend, log(x0, x1), log(y0, y1)),
            }
        }
    };
    if drawn.is_err() {
        svg = format!(
            r#"<svg width="{width}" height="{height}" viewBox="0 0 {width} {height}"><text x="50%" y="50%" text-anchor="middle" fill="currentColor" font-family="sans-serif" font-size="14">no data to plot</text></svg>"#
        );
    }
    let mut note = chart.note.clone();
    let left_out = unplottable(chart);
    if left_out > 0 {
        if !note.is_empty() {
            note.push(' ');
        }
        note.push_str(&format!(
            "{left_out} value(s) not plotted: not finite, beyond ±1e100{}.",
            if chart.x_log || chart.y_log {
                ", or not positive on a log axis"
            } else {
                ""
            }
        ));
    }
    RenderedChart {
        title: chart.title.clone(),
        svg: themeable(&svg),
        legend,
        note,
    }
}

/// Makes plotters' output follow the page theme: black becomes `currentColor`,
/// white backgrounds disappear, and the fixed size becomes a responsive viewBox.
fn themeable(svg: &str) -> String {
    let mut out = svg
        .replace("#000000", "currentColor")
        .replace("fill=\"#FFFFFF\"", "fill=\"none\"");
    if let Some(start) = out.find("<svg ") {
        let end = out[start..].find('>').map(|e| start + e).unwrap_or(start);
        let head = &out[start..end];
        let attr = |name: &str| -> Option<String> {
            let key = format!("{name}=\"");
            let i = head.find(&key)? + key.len();
            let j = head[i..].find('"')? + i;
            Some(head[i..j].to_string())
        };
        if let (Some(w), Some(h)) = (attr("width"), attr("height")) {
            // Inline SVG in HTML needs no namespace declaration.
            let new_head = format!(
                "<svg viewBox=\"0 0 {w} {h}\" role=\"img\" preserveAspectRatio=\"xMidYMid meet\""
            );
            out.replace_range(start..end, &new_head);
        }
    }
    out
}

fn draw<X, Y>(chart: &Chart, backend: SVGBackend<'_>, x: X, y: Y) -> Result<(), String>
where
    X: AsRangedCoord<Value = f64>,
    Y: AsRangedCoord<Value = f64>,
    X::CoordDescType: ValueFormatter<f64>,
    Y::CoordDescType: ValueFormatter<f64>,
{
    let root = backend.into_drawing_area();
    let err = |e: &dyn std::fmt::Debug| format!("{e:?}");
    let mut ctx = ChartBuilder::on(&root)
        .margin(12)
        .x_label_area_size(44)
        .y_label_area_size(64)
        .build_cartesian_2d(x, y)
        .map_err(|e| err(&e))?;
    ctx.configure_mesh()
        .x_desc(chart.x_label.as_str())
        .y_desc(chart.y_label.as_str())
        .axis_desc_style(("sans-serif", 14))
        .label_style(("sans-serif", 12))
        .light_line_style(RGBColor(200, 200, 200).mix(0.12))
        .bold_line_style(RGBColor(160, 160, 160).mix(0.45))
        .x_labels(7)
        .y_labels(7)
        .x_label_formatter(&|v| tick(*v))
        .y_label_formatter(&|v| tick(*v))
        .draw()
        .map_err(|e| err(&e))?;
    for (i, s) in chart.series.iter().enumerate() {
        let color = parse_hex(PALETTE[s.color.unwrap_or(i) % PALETTE.len()]);
        let ok = |p: &(f64, f64)| plottable(p.0, chart.x_log) && plottable(p.1, chart.y_log);
        if s.band.len() >= 2 {
            let mut polygon: Vec<(f64, f64)> = s.band.iter().map(|&(x, lo, _)| (x, lo)).collect();
            polygon.extend(s.band.iter().rev().map(|&(x, _, hi)| (x, hi)));
            polygon.retain(ok);
            ctx.draw_series(std::iter::once(Polygon::new(
                polygon,
                color.mix(0.18).filled(),
            )))
            .map_err(|e| err(&e))?;
        }
        let points: Vec<(f64, f64)> = s.points.iter().copied().filter(ok).collect();
        let style = ShapeStyle::from(&color).stroke_width(2);
        // The legend is HTML under the chart (readable without script; its buttons
        // show and hide series), so none is drawn over the data.
        if s.markers_only {
            ctx.draw_series(points.iter().map(|&p| Circle::new(p, 6, color.filled())))
                .map_err(|e| err(&e))?;
            continue;
        }
        if s.dashed {
            ctx.draw_series(DashedLineSeries::new(points.clone(), 6, 4, style))
                .map_err(|e| err(&e))?;
        } else {
            ctx.draw_series(LineSeries::new(points.clone(), style))
                .map_err(|e| err(&e))?;
        }
        if s.markers {
            ctx.draw_series(points.iter().map(|&p| Circle::new(p, 3, color.filled())))
                .map_err(|e| err(&e))?;
        }
    }
    root.present().map_err(|e| err(&e))?;
    Ok(())
}

/// Tick positions for a log axis: 1-2-5 steps per decade, thinned to decades when
/// the range is wide and refined when it is narrow, so every axis has 3 to 9 labels.
pub fn log_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let within = |mults: &[f64]| -> Vec<f64> {
        let (d0, d1) = (lo.log10().floor() as i32, hi.log10().ceil() as i32);
        (d0..=d1)
            .flat_map(|d| mults.iter().map(move |m| m * 10f64.powi(d)))
            .filter(|v| *v >= lo && *v <= hi)
            .collect()
    };
    for mults in [
        &[1.0, 2.0, 5.0][..],
        &[1.0, 1.5, 2.0, 3.0, 5.0, 7.0][..],
        &[1.0, 1.2, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0][..],
    ] {
        let t = within(mults);
        if t.len() > 9 {
            let decades = within(&[1.0]);
            if decades.len() >= 3 {
                return decades;
            }
            return t;
        }
        if t.len() >= 3 {
            return t;
        }
    }
    within(&[1.0, 1.2, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0])
}

pub use crate::fmt::tick;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_an_escaped_themeable_svg() {
        let chart = Chart {
            title: "t".into(),
            x_label: "batch size".into(),
            y_label: "steps".into(),
            x_log: true,
            y_log: true,
            series: vec![Series {
                name: "<script>alert(1)</script>".into(),
                points: vec![(1.0, 100.0), (10.0, 10.0), (100.0, 2.0)],
                markers: true,
                ..Series::default()
            }],
            ..Chart::default()
        };
        let r = render(&chart, 400, 300);
        assert!(r.svg.starts_with("<svg"), "{}", &r.svg[..100]);
        assert!(r.svg.contains("viewBox=\"0 0 400 300\""));
        assert!(!r.svg.contains("<script>"));
        // Names go to the HTML legend, which the autoescaping template renders.
        assert_eq!(r.legend[0].name, "<script>alert(1)</script>");
        assert!(r.svg.contains("currentColor"));
    }

    #[test]
    fn extreme_values_are_left_out_and_counted() {
        for log in [false, true] {
            let chart = Chart {
                y_log: log,
                series: vec![Series {
                    name: "s".into(),
                    points: vec![
                        (0.5, 1.0),
                        (1.0, 1e308),
                        (2.0, -1e308),
                        (3.0, f64::NAN),
                        (4.0, 5e-324),
                        (5.0, 2.0),
                    ],
                    band: vec![(0.5, 0.5, 1.5), (5.0, f64::NEG_INFINITY, 3.0)],
                    ..Series::default()
                }],
                ..Chart::default()
            };
            let r = render(&chart, 400, 300);
            assert!(!r.svg.contains("no data to plot"), "log {log}");
            let expected = 4;
            assert!(
                r.note
                    .starts_with(&format!("{expected} value(s) not plotted")),
                "log {log}: {}",
                r.note
            );
        }
    }

    #[test]
    fn empty_chart_says_so() {
        let r = render(&Chart::default(), 300, 200);
        assert!(r.svg.contains("no data to plot"));
    }

    #[test]
    fn log_ticks_have_three_to_nine_labels() {
        for (lo, hi) in [
            (1.0, 1258.0),
            (0.02, 0.11),
            (900.0, 2400.0),
            (1.0, 1e9),
            (13000.0, 43000.0),
        ] {
            let t = log_ticks(lo, hi);
            assert!((3..=10).contains(&t.len()), "{lo}..{hi}: {t:?}");
            assert!(t.iter().all(|v| *v >= lo && *v <= hi));
        }
    }
}
