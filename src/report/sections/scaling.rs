//! Scaling (steps, examples and time to target against batch size) and
//! generalization (final accuracies and the gap against batch size).

use super::{H, W, family_band, family_points};
use crate::analysis::{ConfigSummary, Study};
use crate::report::charts::{self, Chart, Series};
use crate::report::data::ChartGroup;

pub fn scaling_group(study: &Study) -> ChartGroup {
    let mut steps = Chart {
        title: "Steps to target vs batch size".into(),
        x_label: "batch size (log)".into(),
        y_label: "optimizer steps to target (log)".into(),
        x_log: true,
        y_log: true,
        note: "Median over seeds. Dashed grey: perfect scaling (steps ∝ 1/batch) from the smallest batch; dotted: the fit S = S_min + E_min/B (McCandlish et al. 2018) where one was possible.".into(),
        ..Chart::default()
    };
    let mut samples = Chart {
        title: "Examples to target vs batch size".into(),
        x_label: "batch size (log)".into(),
        y_label: "training examples to target (log)".into(),
        x_log: true,
        y_log: true,
        note: "Median over seeds. Perfect scaling (Shallue et al. 2018) is a flat line: the same examples at every batch size.".into(),
        ..Chart::default()
    };
    let mut time = Chart {
        title: "Time to target vs batch size".into(),
        x_label: "batch size (log)".into(),
        y_label: "training seconds to target (log)".into(),
        x_log: true,
        y_log: true,
        note: "Median over seeds, warm-up included; runs that never reached the target count as infinite (missing points).".into(),
        ..Chart::default()
    };
    for (k, fam) in study.families.iter().enumerate() {
        let name = if fam.label.is_empty() {
            "measured".to_string()
        } else {
            fam.label.clone()
        };
        let s = family_points(study, fam, |c| c.steps_to_target);
        let e = family_points(study, fam, |c| c.samples_to_target);
        let t = family_points(study, fam, |c| c.time_to_target_s);
        let series = |pts: Vec<(f64, f64)>| Series {
            name: name.clone(),
            points: pts,
            markers: true,
            color: Some(k),
            ..Series::default()
        };
        if let (Some(&(b0, s0)), Some(&(bmax, _))) = (s.first(), s.last()) {
            steps.series.push(Series {
                name: String::new(),
                points: vec![(b0, s0), (bmax, s0 * b0 / bmax)],
                dashed: true,
                color: Some(7),
                ..Series::default()
            });
            if let Some(cb) = &fam.critical_batch
                && cb.b_crit.is_some()
            {
                let (lo, hi) = cb.batch_range;
                let fit: Vec<(f64, f64)> = (0..=40)
                    .map(|i| lo * (hi / lo).powf(i as f64 / 40.0))
                    .filter_map(|b| Some((b, cb.steps_at(b)?)))
                    .collect();
                steps.series.push(Series {
                    name: String::new(),
                    points: fit,
                    dashed: true,
                    color: Some(k),
                    ..Series::default()
                });
            }
        }
        if let (Some(&(b0, e0)), Some(&(bmax, _))) = (e.first(), e.last()) {
            samples.series.push(Series {
                name: String::new(),
                points: vec![(b0, e0), (bmax, e0)],
                dashed: true,
                color: Some(7),
                ..Series::default()
            });
        }
        steps.series.push(series(s));
        samples.series.push(series(e));
        time.series.push(series(t));
    }
    let nf = study.families.len();
    for (k, t) in study.tuned.iter().enumerate() {
        let best: Vec<&ConfigSummary> = t.best.iter().map(|&i| &study.configs[i]).collect();
        let fastest: Vec<&ConfigSummary> = t.fastest.iter().map(|&i| &study.configs[i]).collect();
        let pts_of = |set: &[&ConfigSummary], f: &dyn Fn(&ConfigSummary) -> Option<f64>| {
            set.iter()
                .filter_map(|c| Some((c.batch_size as f64, f(c)?)))
                .collect::<Vec<_>>()
        };
        let name = if t.label.is_empty() {
            "tuned lr".to_string()
        } else {
            format!("tuned lr ({})", t.label)
        };
        let mk = |points| Series {
            name: name.clone(),
            points,
            markers: true,
            dashed: true,
            color: Some(nf + k),
            ..Series::default()
        };
        steps.series.push(mk(pts_of(&best, &|c| c.steps_to_target)));
        samples
            .series
            .push(mk(pts_of(&best, &|c| c.samples_to_target)));
        // Time: the fastest learning rate per batch size on this hardware.
        time.series
            .push(mk(pts_of(&fastest, &|c| c.time_to_target_s)));
    }
    ChartGroup {
        title: "Scaling: how many steps, examples and seconds the target takes".into(),
        intro: "Each point is a configuration's median over seeds. With perfect scaling, doubling the batch halves the steps and leaves the examples unchanged; past the critical batch size, steps stop falling and examples grow.".into(),
        charts: vec![charts::render(&steps, W, H), charts::render(&samples, W, H), charts::render(&time, W, H)],
    }
}

pub fn generalization_group(study: &Study) -> ChartGroup {
    let mut acc = Chart {
        title: "Final train and test accuracy vs batch size".into(),
        x_label: "batch size (log)".into(),
        y_label: "accuracy (%)".into(),
        x_log: true,
        note: "Mean over seeds with 95% confidence band; dashed: train accuracy (fixed training subset), solid: test.".into(),
        ..Chart::default()
    };
    let mut gap = Chart {
        title: "Generalization gap vs batch size".into(),
        x_label: "batch size (log)".into(),
        y_label: "train − test accuracy (points)".into(),
        x_log: true,
        note: "Mean over seeds with 95% confidence band.".into(),
        ..Chart::default()
    };
    for (k, fam) in study.families.iter().enumerate() {
        let name = if fam.label.is_empty() {
            String::new()
        } else {
            format!(" ({})", fam.label)
        };
        let (test, test_band) = family_band(study, fam, |c| c.final_test_acc, 100.0);
        let (train, train_band) = family_band(study, fam, |c| c.final_train_acc, 100.0);
        let (g, g_band) = family_band(study, fam, |c| c.gap, 100.0);
        acc.series.push(Series {
            name: format!("test{name}"),
            points: test,
            band: test_band,
            markers: true,
            color: Some(2 * k),
            ..Series::default()
        });
        acc.series.push(Series {
            name: format!("train{name}"),
            points: train,
            band: train_band,
            markers: true,
            dashed: true,
            color: Some(2 * k + 1),
            ..Series::default()
        });
        gap.series.push(Series {
            name: if fam.label.is_empty() {
                "gap".into()
            } else {
                fam.label.clone()
            },
            points: g,
            band: g_band,
            markers: true,
            color: Some(k),
            ..Series::default()
        });
    }
    ChartGroup {
        title: "Generalization".into(),
        intro: "Keskar et al. (2017) observed that large batches generalize worse at equal epochs; the gap chart shows whether these runs agree, with the uncertainty over seeds.".into(),
        charts: vec![charts::render(&acc, W, H), charts::render(&gap, W, H)],
    }
}
