//! Learning curves, one group per family.

use super::{H, W, band};
use crate::analysis::stats::Estimate;
use crate::analysis::{self, ConfigSummary, Study};
use crate::report::charts::{self, Chart, Series};
use crate::report::data::ChartGroup;

fn curve_series(
    c: &ConfigSummary,
    x: impl Fn(&analysis::CurveAggregate) -> f64,
    y: impl Fn(&analysis::CurveAggregate) -> Estimate,
    color: usize,
) -> Series {
    let pts: Vec<(f64, Estimate)> = c.curve.iter().map(|p| (x(p), y(p))).collect();
    Series {
        name: format!("batch {}", c.batch_size),
        points: pts.iter().map(|(x, e)| (*x, e.mean)).collect(),
        band: band(&pts),
        color: Some(color),
        ..Series::default()
    }
}

pub fn curve_groups(study: &Study) -> Vec<ChartGroup> {
    study
        .families
        .iter()
        .map(|fam| {
            let members: Vec<&ConfigSummary> = fam.configs.iter().map(|&i| &study.configs[i]).filter(|c| !c.curve.is_empty()).collect();
            let make = |title: &str, x_label: &str, y_label: &str, x_log: bool, y_log: bool, x: &dyn Fn(&analysis::CurveAggregate) -> f64, y: &dyn Fn(&analysis::CurveAggregate) -> Estimate, y_range: Option<(f64, f64)>| {
                let chart = Chart {
                    title: title.into(),
                    x_label: x_label.into(),
                    y_label: y_label.into(),
                    x_log,
                    y_log,
                    y_range,
                    series: members.iter().enumerate().map(|(i, c)| curve_series(c, x, y, i)).collect(),
                    note: String::new(),
                };
                charts::render(&chart, W, H)
            };
            let pct = |e: Estimate| Estimate { mean: e.mean * 100.0, min: e.min * 100.0, max: e.max * 100.0, ci95: e.ci95.map(|h| h * 100.0), ..e };
            let language_model = members.first().is_some_and(|c| c.language_model);
            let list = if language_model {
                let floor = members.iter().find_map(|c| c.loss_floor_nats);
                let exp = |e: Estimate| Estimate { mean: e.mean.exp(), min: e.min.exp(), max: e.max.exp(), ci95: None, ..e };
                let mut charts = Vec::new();
                for (title, x_label, x_log, x) in [
                    ("Test loss by optimizer step", "optimizer steps (log)", true, &(|p: &analysis::CurveAggregate| p.step as f64) as &dyn Fn(&analysis::CurveAggregate) -> f64),
                    ("Test loss by epoch", "epochs (tokens seen / training tokens)", false, &|p: &analysis::CurveAggregate| p.epoch),
                    ("Test loss by training time", "training seconds, evaluation excluded (log)", true, &|p: &analysis::CurveAggregate| p.train_s),
                ] {
                    let mut chart = Chart {
                        title: title.into(),
                        x_label: x_label.into(),
                        y_label: "test cross-entropy (nats/token)".into(),
                        x_log,
                        y_log: false,
                        y_range: None,
                        series: members.iter().enumerate().map(|(i, c)| curve_series(c, x, |p| p.test_loss, i)).collect(),
                        note: String::new(),
                    };
                    if let Some(f) = floor {
                        let xs: Vec<f64> = members.iter().flat_map(|c| c.curve.iter().map(x)).filter(|v| !x_log || *v > 0.0).collect();
                        let (lo, hi) = xs.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| (a.min(v), b.max(v)));
                        if lo.is_finite() && hi > lo {
                            chart.series.push(Series { name: "entropy floor".into(), points: vec![(lo, f), (hi, f)], dashed: true, color: Some(7), ..Series::default() });
                            chart.note = format!("Dashed grey: the source's best achievable test loss, {f:.4} nats/token (its entropy rate plus what a window's first tokens cannot know).");
                        }
                    }
                    charts.push(charts::render(&chart, W, H));
                }
                charts.push(make("Test perplexity by epoch", "epochs", "test perplexity, exp(mean loss) (log)", false, true, &|p| p.epoch, &|p| exp(p.test_loss), None));
                charts.push(make("Next-token accuracy by epoch", "epochs", "test next-token accuracy (%)", false, false, &|p| p.epoch, &|p| pct(p.test_acc), None));
                charts.push(make("Train loss by epoch", "epochs", "train cross-entropy (nats/token, log)", false, true, &|p| p.epoch, &|p| p.train_loss, None));
                charts
            } else {
                vec![
                make("Test accuracy by epoch", "epochs (examples seen / training-set size)", "test accuracy (%)", false, false, &|p| p.epoch, &|p| pct(p.test_acc), None),
                make("Train accuracy by epoch", "epochs", "train accuracy (%)", false, false, &|p| p.epoch, &|p| pct(p.train_acc), None),
                make("Test accuracy by optimizer step", "optimizer steps (log)", "test accuracy (%)", true, false, &|p| p.step as f64, &|p| pct(p.test_acc), None),
                make("Test accuracy by training time", "training seconds, evaluation excluded (log)", "test accuracy (%)", true, false, &|p| p.train_s, &|p| pct(p.test_acc), None),
                make("Test loss by epoch", "epochs", "test cross-entropy", false, false, &|p| p.epoch, &|p| p.test_loss, None),
                make("Train loss by epoch", "epochs", "train cross-entropy (log)", false, true, &|p| p.epoch, &|p| p.train_loss, None),
                ]
            };
            ChartGroup {
                title: if fam.label.is_empty() { "Learning curves".into() } else { format!("Learning curves: {}", fam.label) },
                intro: "Mean over seeds; the shaded band spans the lowest and highest seed. Step-0 points (before training) are included; log axes omit them.".into(),
                charts: list,
            }
        })
        .collect()
}
