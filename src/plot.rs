//! Training curves as an SVG picture: loss and accuracy per epoch, train and test, side by side.
//!
//! Drawn with plotters' SVG backend and no font files: text goes into the SVG as `<text>` elements in the
//! `sans-serif` family and the viewer lays it out (plotters only estimates text sizes, for placing labels).

use std::fmt::Display;
use std::path::Path;

use plotters::prelude::*;

use crate::error::{Error, Result};
use crate::train::EpochMetrics;

/// Size of the whole picture in pixels (two panels side by side).
const SIZE: (u32, u32) = (1100, 440);

/// Matplotlib's first two colours: train in blue, test in orange.
const TRAIN: RGBColor = RGBColor(31, 119, 180);
const TEST: RGBColor = RGBColor(255, 127, 14);

fn plot_error(e: impl Display) -> Error {
    Error::Config(format!("drawing the training plot failed: {e}"))
}

/// The most epochs whose points are marked.
const MARKED_EPOCHS: usize = 100;

/// One curve: its legend name, its colour, and its points (epoch, value).
struct Curve {
    name: &'static str,
    color: RGBColor,
    points: Vec<(u32, f64)>,
}

/// A curve of `value` over `history`, leaving out values that are not finite.
fn curve(history: &[EpochMetrics], name: &'static str, color: RGBColor, value: impl Fn(&EpochMetrics) -> f64) -> Curve {
    let points = history
        .iter()
        .filter_map(|m| {
            let v = value(m);
            (v.is_finite() && m.epoch > 0).then_some((m.epoch as u32, v))
        })
        .collect();
    Curve { name, color, points }
}

/// Draws one panel: axes, grid, the curves with their markers, and a legend.
#[allow(clippy::too_many_arguments)]
fn panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    caption: &str,
    y_desc: &str,
    y_range: std::ops::Range<f64>,
    epochs: u32,
    curves: &[Curve],
    legend: SeriesLabelPosition,
    y_format: &dyn Fn(&f64) -> String,
) -> Result<()> {
    let mut chart = ChartBuilder::on(area)
        .caption(caption, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(1u32..epochs.max(2), y_range)
        .map_err(plot_error)?;
    chart
        .configure_mesh()
        .x_desc("epoch")
        .y_desc(y_desc)
        .x_labels(epochs.clamp(2, 12) as usize)
        .y_label_formatter(y_format)
        .light_line_style(TRANSPARENT)
        .bold_line_style(RGBColor(225, 225, 225))
        .draw()
        .map_err(plot_error)?;
    for c in curves {
        let color = c.color;
        // A marker per epoch while they can be told apart; a long run (the tutorials' thousands of epochs) is a line.
        let marker = if c.points.len() <= MARKED_EPOCHS { 3 } else { 0 };
        chart
            .draw_series(LineSeries::new(c.points.iter().copied(), color.stroke_width(2)).point_size(marker))
            .map_err(plot_error)?
            .label(c.name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], color.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .position(legend)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 14))
        .draw()
        .map_err(plot_error)?;
    Ok(())
}

/// The training curves of `history` as an SVG document: on the left the mean loss per epoch (train: running mean
/// over the epoch; test: after the epoch), on the right the accuracy in percent, each with a legend and labelled
/// axes, `title` across the top. An empty history gives the empty axes.
pub fn training_svg(history: &[EpochMetrics], title: &str) -> Result<String> {
    let epochs = history.iter().map(|m| m.epoch).max().unwrap_or(1).min(u32::MAX as usize) as u32;
    let losses = [
        curve(history, "train loss", TRAIN, |m| f64::from(m.train_loss)),
        curve(history, "test loss", TEST, |m| f64::from(m.test_loss)),
    ];
    let accuracies = [
        curve(history, "train accuracy", TRAIN, |m| 100.0 * f64::from(m.train_acc)),
        curve(history, "test accuracy", TEST, |m| 100.0 * f64::from(m.test_acc)),
    ];
    let all = |cs: &[Curve]| cs.iter().flat_map(|c| c.points.iter().map(|p| p.1)).collect::<Vec<f64>>();
    let loss_max = all(&losses).into_iter().fold(0.0f64, f64::max);
    let loss_top = if loss_max > 0.0 { loss_max * 1.1 } else { 1.0 };
    let acc_min = all(&accuracies).into_iter().fold(100.0f64, f64::min);
    // The accuracy axis starts at a multiple of 5 below the lowest point, so the curves fill the panel.
    let acc_bottom = (((acc_min - 1.0) / 5.0).floor() * 5.0).clamp(0.0, 95.0);

    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(plot_error)?;
        let root = root.titled(title, ("sans-serif", 20)).map_err(plot_error)?;
        let halves = root.split_evenly((1, 2));
        let [left, right] = halves.as_slice() else {
            return Err(plot_error("the picture could not be split into two panels"));
        };
        let loss_format = |v: &f64| format!("{v:.2}");
        panel(left, "loss", "loss", 0.0..loss_top, epochs, &losses, SeriesLabelPosition::UpperRight, &loss_format)?;
        let acc_format = |v: &f64| format!("{v:.0}%");
        let acc_range = acc_bottom..100.0;
        let lower_right = SeriesLabelPosition::LowerRight;
        panel(right, "accuracy", "accuracy (%)", acc_range, epochs, &accuracies, lower_right, &acc_format)?;
        root.present().map_err(plot_error)?;
    }
    Ok(svg)
}

/// Writes [`training_svg`] to `path`, through a temporary file in the same folder renamed into place, so a viewer
/// (or a run stopped half-way) never sees a half-written picture and a failed write leaves nothing behind.
pub fn write_training_plot(path: &Path, history: &[EpochMetrics], title: &str) -> Result<()> {
    let svg = training_svg(history, title)?;
    crate::files::write_atomically(path, |f| std::io::Write::write_all(f, svg.as_bytes()))
}
