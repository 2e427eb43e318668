//! Probes: why the batch size changes training (weight distance, noise scale,
//! gradient diversity, sharpness, interpolation).

use std::collections::BTreeSet;

use super::{H, W, band, family_band};
use crate::analysis::stats::Estimate;
use crate::analysis::{ConfigSummary, Family, ResultSet, Study};
use crate::report::charts::{self, Chart, RenderedChart, Series};
use crate::report::data::ChartGroup;

pub fn probe_group(study: &Study, sets: &[ResultSet]) -> ChartGroup {
    let mut list = Vec::new();
    let over_training = |key: &str,
                         title: &str,
                         y_label: &str,
                         y_log: bool,
                         note: &str,
                         extra: &dyn Fn(&Family, &mut Chart)|
     -> Vec<RenderedChart> {
        study
            .families
            .iter()
            .filter_map(|fam| {
                let members: Vec<&ConfigSummary> = fam
                    .configs
                    .iter()
                    .map(|&i| &study.configs[i])
                    .filter(|c| c.curve.iter().any(|p| p.probes.contains_key(key)))
                    .collect();
                if members.is_empty() {
                    return None;
                }
                let mut chart = Chart {
                    title: if fam.label.is_empty() {
                        title.to_string()
                    } else {
                        format!("{title}: {}", fam.label)
                    },
                    x_label: "epochs".into(),
                    y_label: y_label.into(),
                    y_log,
                    note: note.into(),
                    ..Chart::default()
                };
                for (k, c) in members.iter().enumerate() {
                    let pts: Vec<(f64, Estimate)> = c
                        .curve
                        .iter()
                        .filter_map(|p| Some((p.epoch, *p.probes.get(key)?)))
                        .collect();
                    chart.series.push(Series {
                        name: format!("batch {}", c.batch_size),
                        points: pts.iter().map(|(x, e)| (*x, e.mean)).collect(),
                        band: band(&pts),
                        color: Some(k),
                        ..Series::default()
                    });
                }
                extra(fam, &mut chart);
                Some(charts::render(&chart, W, H))
            })
            .collect()
    };
    list.extend(over_training(
        "weight_distance",
        "Distance from the initial weights",
        "‖θ − θ₀‖",
        false,
        "Euclidean distance of all parameters from their initial values, mean over seeds with min–max band.",
        &|_, _| {},
    ));
    list.extend(over_training(
        "noise_scale",
        "Gradient noise scale over training",
        "B_simple = tr(Σ)/|G|² (examples, log)",
        true,
        "McCandlish et al. (2018), from mean-gradient norms at two batch sizes. Dashed: the critical batch size fitted on steps vs examples to target, where available.",
        &|fam, chart| {
            if let (Some(b), Some(first)) = (fam.critical_batch.as_ref().and_then(|c| c.b_crit), fam.configs.first()) {
                let c = &study.configs[*first];
                if let (Some(a), Some(z)) = (c.curve.first(), c.curve.last()) {
                    chart.series.push(Series { name: "critical batch (fit)".into(), points: vec![(a.epoch, b), (z.epoch, b)], dashed: true, color: Some(7), ..Series::default() });
                }
            }
        },
    ));
    list.extend(over_training(
        "gradient_diversity",
        "Gradient diversity over training",
        "‖Σgᵢ‖² / Σ‖gᵢ‖²",
        false,
        "Over per-example gradients of a random batch: n when they all agree (a batch of n is worth n steps of 1), 1 when orthogonal.",
        &|_, _| {},
    ));
    // Sharpness against batch size, one series per ε and family.
    let mut sharp = Chart {
        title: "Sharpness of the final weights vs batch size".into(),
        x_label: "batch size (log)".into(),
        y_label: "ε-sharpness (%)".into(),
        x_log: true,
        note: "Keskar et al. (2017): 100 × (max f(θ+Δ) − f(θ)) / (1 + f(θ)) over the box |Δᵢ| ≤ ε(|θᵢ|+1), maximized by projected sign-gradient ascent from a random point of the box on a fixed training subset (their paper uses L-BFGS-B). Mean over seeds with 95% band.".into(),
        ..Chart::default()
    };
    let mut k = 0;
    for fam in &study.families {
        let eps: BTreeSet<String> = fam
            .configs
            .iter()
            .flat_map(|&i| study.configs[i].sharpness.keys().cloned())
            .collect();
        for e in eps {
            let (line, band) = family_band(study, fam, |c| c.sharpness.get(&e).copied(), 1.0);
            let name = if fam.label.is_empty() {
                format!("ε = {e}")
            } else {
                format!("ε = {e} ({})", fam.label)
            };
            sharp.series.push(Series {
                name,
                points: line,
                band,
                markers: true,
                color: Some(k),
                ..Series::default()
            });
            k += 1;
        }
    }
    if !sharp.series.is_empty() {
        list.push(charts::render(&sharp, W, H));
    }
    // Interpolation between solutions.
    for c in sets.iter().flat_map(|s| s.interpolation.iter()).take(4) {
        let loss = Chart {
            title: format!("Loss along the line from batch {} (α = 0) to batch {} (α = 1), seed {}", c.a_batch, c.b_batch, c.seed),
            x_label: "α".into(),
            y_label: "cross-entropy (log)".into(),
            y_log: true,
            note: "θ(α) = (1 − α)·θ_small + α·θ_large (Goodfellow et al. 2015). A barrier between α = 0 and 1 separates the two minima; a steeper wall around α = 1 suggests a sharper large-batch minimum.".into(),
            series: vec![
                Series { name: "train".into(), points: c.alphas.iter().copied().zip(c.train_loss.iter().copied()).collect(), dashed: true, color: Some(1), ..Series::default() },
                Series { name: "test".into(), points: c.alphas.iter().copied().zip(c.test_loss.iter().copied()).collect(), color: Some(0), ..Series::default() },
            ],
            ..Chart::default()
        };
        list.push(charts::render(&loss, W, H));
    }
    ChartGroup {
        title: "Why: probes".into(),
        intro: if list.is_empty() {
            String::new()
        } else {
            "Measurements that explain the effects above; each chart says how it was computed. Probes run outside the training timer and never change what is trained.".into()
        },
        charts: list,
    }
}
