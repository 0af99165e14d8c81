//! The `--plot` picture: each group's unified-MOS histogram on one shared axis, as the
//! share of that group's clips per bin, so corpora of very different sizes compare.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Float64Type, Int64Type};
use plotters::prelude::*;

use crate::error::{Error, Result};
use crate::writers::atomic::AtomicOutput;
use indicatif::HumanCount;

/// Okabe & Ito's colour-blind-safe palette (yellow last: faint on white).
const PALETTE: [RGBColor; 8] = [
    RGBColor(0, 114, 178),
    RGBColor(230, 159, 0),
    RGBColor(0, 158, 115),
    RGBColor(213, 94, 0),
    RGBColor(86, 180, 233),
    RGBColor(204, 121, 167),
    RGBColor(0, 0, 0),
    RGBColor(240, 228, 66),
];

const SIZE: (u32, u32) = (1000, 600);

/// One group's histogram: bin index → share of its clips (percent).
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub label: String,
    pub clips: i64,
    pub percent: BTreeMap<i64, f64>,
}

/// Reads `sql/stats_histogram.sql`'s rows (grp, bin, clips, percent), ordered by group.
pub fn series_from_batches(batches: &[RecordBatch]) -> Result<Vec<Series>> {
    let mut out: Vec<Series> = Vec::new();
    for b in batches {
        if b.num_columns() < 4 {
            return Err(Error::Internal(
                "histogram query returned too few columns".into(),
            ));
        }
        let grp = cast(b.column(0), &DataType::Utf8)?;
        let grp = grp.as_string::<i32>();
        let bin = b.column(1).as_primitive_opt::<Int64Type>();
        let clips = b.column(2).as_primitive_opt::<Int64Type>();
        let percent = b.column(3).as_primitive_opt::<Float64Type>();
        let (Some(bin), Some(clips), Some(percent)) = (bin, clips, percent) else {
            return Err(Error::Internal(
                "histogram query returned unexpected types".into(),
            ));
        };
        for i in 0..b.num_rows() {
            let label = if grp.is_null(i) {
                "(null)".to_owned()
            } else {
                grp.value(i).to_owned()
            };
            if out.last().is_none_or(|s| s.label != label) {
                out.push(Series {
                    label,
                    clips: 0,
                    percent: BTreeMap::new(),
                });
            }
            if let Some(s) = out.last_mut() {
                s.clips += clips.value(i);
                s.percent.insert(bin.value(i), percent.value(i));
            }
        }
    }
    Ok(out)
}

/// Draws the picture as SVG text, on the shared 0-100 axis (the histogram query
/// counts the few clips the native-range slack puts just outside it in the edge bins).
pub fn render_svg(series: &[Series], bin_width: f64, group_by: &str) -> Result<String> {
    let (x_lo, x_hi) = (0.0, 100.0);
    let y_max = series
        .iter()
        .flat_map(|s| s.percent.values().copied())
        .fold(0.0_f64, f64::max);
    // Headroom so the legend in the upper corner rarely covers a peak.
    let y_hi = if y_max > 0.0 { y_max * 1.35 } else { 1.0 };

    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(draw_err)?;
        let title = format!("Unified MOS distribution by {group_by}");
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 24))
            .margin(20)
            .x_label_area_size(50)
            .y_label_area_size(70)
            .build_cartesian_2d(x_lo..x_hi, 0.0..y_hi)
            .map_err(draw_err)?;
        chart
            .configure_mesh()
            .x_desc("unified MOS (0-100 scale)")
            .y_desc(format!(
                "share of the group's clips per {bin_width}-point bin (%)"
            ))
            .x_labels(11)
            .x_label_formatter(&|v| format!("{v:.0}"))
            .y_label_formatter(&|v| {
                if y_hi > 10.0 {
                    format!("{v:.0}")
                } else {
                    format!("{v:.1}")
                }
            })
            .axis_desc_style(("sans-serif", 16))
            .light_line_style(WHITE.mix(0.0))
            .draw()
            .map_err(draw_err)?;

        let first_bin = (x_lo / bin_width).floor() as i64;
        let last_bin = (x_hi / bin_width).ceil() as i64 - 1;
        for (i, s) in series.iter().enumerate() {
            let colour = PALETTE[i % PALETTE.len()];
            let steps = (first_bin..=last_bin).flat_map(|b| {
                let y = s.percent.get(&b).copied().unwrap_or(0.0);
                [(b as f64 * bin_width, y), ((b + 1) as f64 * bin_width, y)]
            });
            // Outlines only: filled areas of six overlapping corpora turn into grey mud.
            chart
                .draw_series(LineSeries::new(steps, colour.stroke_width(2)))
                .map_err(draw_err)?
                .label(format!(
                    "{} (n = {})",
                    s.label,
                    HumanCount(u64::try_from(s.clips).unwrap_or(0))
                ))
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(3))
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .label_font(("sans-serif", 15))
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK.mix(0.5))
            .draw()
            .map_err(draw_err)?;
        root.present().map_err(draw_err)?;
    }
    Ok(svg)
}

/// Writes the SVG beside its target and renames it into place.
pub fn write_svg(path: &Path, svg: &str) -> Result<()> {
    let mut out = AtomicOutput::create(path)?;
    out.write_all(svg.as_bytes())
        .map_err(|e| Error::io(format!("writing {}", crate::paths::shown(path)), e))?;
    out.finish()?.commit()
}

/// Drawing into a string has no I/O to fail; an error here is a bug in the layout.
fn draw_err<E: std::error::Error + Send + Sync>(e: DrawingAreaErrorKind<E>) -> Error {
    Error::Internal(format!("drawing the plot: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn svg_names_each_series_with_its_count() {
        let s = |label: &str, clips, bins: &[(i64, f64)]| Series {
            label: label.to_owned(),
            clips,
            percent: bins.iter().copied().collect(),
        };
        let series = [
            s("konvid-1k", 1200, &[(10, 50.0), (30, 50.0)]),
            s("waterloo-ivc-4k", 3, &[(0, 100.0)]),
        ];
        let svg = render_svg(&series, 2.0, "corpus_source").expect("svg");
        assert!(svg.starts_with("<svg"));
        assert!(svg.contains("konvid-1k (n = 1,200)"));
        assert!(svg.contains("waterloo-ivc-4k (n = 3)"));
        assert!(svg.contains("unified MOS"));
    }
}
