//! The steps-vs-samples trade-off and the critical batch size.
//!
//! McCandlish et al. (2018) model the steps S and examples E needed to reach a target
//! as (S/S_min − 1)(E/E_min − 1) = 1 with E = B·S. Solving for S gives
//! S = S_min + E_min / B: linear in 1/B, so a least-squares line of the measured
//! steps-to-target against 1/B yields S_min (intercept) and E_min (slope), and the
//! critical batch size B_crit = E_min / S_min, where the trade-off bends: below it,
//! doubling the batch nearly halves the steps (Shallue et al.'s perfect scaling);
//! above it, returns diminish.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::stats::median_with_infinite;

/// The fewest batch sizes a fit is made on: two parameters fitted to three points
/// leave one degree of freedom, and R² near 1 then means little.
pub const MIN_FIT_POINTS: usize = 4;
/// Resamples of the seeds behind the interval for B_crit.
pub const RESAMPLES: usize = 1000;

/// A fitted critical batch size, with the evidence behind it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CriticalBatch {
    /// Batch sizes used in the fit (those whose median run reached the target).
    pub points: usize,
    /// Smallest and largest batch size used.
    pub batch_range: (f64, f64),
    /// The fewest seeds behind one batch size's median.
    #[serde(default)]
    pub seeds: usize,
    /// Fitted minimum number of steps (large-batch limit); `None` if the fit says
    /// there is no plateau in the measured range.
    pub s_min: Option<f64>,
    /// Fitted minimum number of examples (small-batch limit).
    pub e_min: Option<f64>,
    /// E_min / S_min, when both are positive.
    pub b_crit: Option<f64>,
    /// Coefficient of determination of the line S = S_min + E_min / B.
    pub r2: f64,
    /// 2.5th and 97.5th percentiles of B_crit over fits to resampled seeds (each batch
    /// size's seeds drawn with replacement, its median taken again); `None` with one
    /// seed per batch size, or when fewer than half the resamples give a B_crit.
    #[serde(default)]
    pub b_crit_interval: Option<(f64, f64)>,
    /// Resamples that gave a B_crit, out of [`RESAMPLES`].
    #[serde(default)]
    pub resamples_with_b_crit: usize,
}

impl CriticalBatch {
    /// The fitted steps-to-target at batch `b`.
    pub fn steps_at(&self, b: f64) -> Option<f64> {
        Some(self.s_min? + self.e_min? / b)
    }

    /// One sentence for the report.
    pub fn describe(&self) -> String {
        let (lo, hi) = self.batch_range;
        let evidence = format!(
            "{} batch sizes ({lo:.0} to {hi:.0}), {} seed{} each at least",
            self.points,
            self.seeds,
            if self.seeds == 1 { "" } else { "s" }
        );
        match (self.s_min, self.e_min, self.b_crit) {
            (Some(s), Some(e), Some(b)) => format!(
                "fitting S = S_min + E_min/B to the median steps-to-target of {evidence} gives S_min ≈ {s:.0} steps, E_min ≈ {e:.0} examples and a critical batch size B_crit = E_min/S_min ≈ {b:.0} ({}; R² = {:.2}){}. Below it, doubling the batch nearly halves the steps; above it, returns diminish.",
                match self.b_crit_interval {
                    Some((a, z)) => format!(
                        "95% interval {a:.0} to {z:.0} from resampling the seeds, {} of {RESAMPLES} resamples giving a B_crit",
                        self.resamples_with_b_crit
                    ),
                    None if self.seeds < 2 => "no interval: one seed per batch size".to_string(),
                    None => format!(
                        "no interval: only {} of {RESAMPLES} resamples of the seeds give a B_crit",
                        self.resamples_with_b_crit
                    ),
                },
                self.r2,
                if b > hi {
                    "; this lies beyond the largest batch measured, so it is an extrapolation"
                } else if b < lo {
                    "; this lies below the smallest batch measured, so it is an extrapolation"
                } else {
                    ""
                }
            ),
            (None, _, _) => format!(
                "steps to target fall at least as fast as 1/B over the whole measured range ({evidence}): no plateau is visible, so the critical batch size is above {hi:.0}."
            ),
            _ => format!(
                "steps to target do not fall with the batch size over {evidence}: the critical batch size is at or below {lo:.0}."
            ),
        }
    }
}

/// The least-squares line S = S_min + E_min / B through `(batch, steps)` points:
/// (S_min, E_min, R²).
fn fit_line(points: &[(f64, f64)]) -> Option<(f64, f64, f64)> {
    let n = points.len() as f64;
    let xs: Vec<f64> = points.iter().map(|p| 1.0 / p.0).collect();
    let ys: Vec<f64> = points.iter().map(|p| p.1).collect();
    let mx = xs.iter().sum::<f64>() / n;
    let my = ys.iter().sum::<f64>() / n;
    let sxx: f64 = xs.iter().map(|x| (x - mx).powi(2)).sum();
    let sxy: f64 = xs.iter().zip(&ys).map(|(x, y)| (x - mx) * (y - my)).sum();
    if sxx <= 0.0 {
        return None;
    }
    let slope = sxy / sxx;
    let intercept = my - slope * mx;
    let ss_tot: f64 = ys.iter().map(|y| (y - my).powi(2)).sum();
    let ss_res: f64 = xs
        .iter()
        .zip(&ys)
        .map(|(x, y)| (y - (intercept + slope * x)).powi(2))
        .sum();
    let r2 = if ss_tot > 0.0 {
        1.0 - ss_res / ss_tot
    } else {
        1.0
    };
    Some((intercept, slope, r2))
}

fn b_crit_of(points: &[(f64, f64)]) -> Option<f64> {
    let (s, e, _) = fit_line(points)?;
    (s > 0.0 && e > 0.0).then(|| e / s)
}

/// The batch sizes whose median over seeds reached the target, with that median.
fn medians(per_batch: &[(f64, Vec<Option<f64>>)]) -> Vec<(f64, f64)> {
    per_batch
        .iter()
        .filter_map(|(b, runs)| Some((*b, median_with_infinite(runs)?)))
        .collect()
}

/// Fits the model to each batch size's steps-to-target per seed (`None`: that seed
/// never reached the target, counted as infinite in the median). Needs
/// [`MIN_FIT_POINTS`] batch sizes whose median reached the target. The interval comes
/// from a fixed-seed bootstrap over the seeds, so the same records give the same report.
pub fn fit_critical_batch(per_batch: &[(f64, Vec<Option<f64>>)]) -> Option<CriticalBatch> {
    let mut per_batch: Vec<(f64, Vec<Option<f64>>)> = per_batch.to_vec();
    per_batch.sort_by(|a, b| a.0.total_cmp(&b.0));
    per_batch.dedup_by(|a, b| {
        if a.0 == b.0 {
            b.1.extend(a.1.drain(..));
            true
        } else {
            false
        }
    });
    let points = medians(&per_batch);
    if points.len() < MIN_FIT_POINTS {
        return None;
    }
    let (intercept, slope, r2) = fit_line(&points)?;
    let s_min = (intercept > 0.0).then_some(intercept);
    let e_min = (slope > 0.0).then_some(slope);
    let used: Vec<&(f64, Vec<Option<f64>>)> = per_batch
        .iter()
        .filter(|(b, _)| points.iter().any(|p| p.0 == *b))
        .collect();
    let seeds = used.iter().map(|(_, r)| r.len()).min().unwrap_or(0);
    let mut rng = ChaCha8Rng::seed_from_u64(0x5eed);
    let mut draws: Vec<f64> = Vec::new();
    if seeds >= 2 {
        for _ in 0..RESAMPLES {
            let resampled: Vec<(f64, Vec<Option<f64>>)> = per_batch
                .iter()
                .map(|(b, runs)| {
                    let pick = (0..runs.len())
                        .map(|_| runs[rng.random_range(0..runs.len())])
                        .collect();
                    (*b, pick)
                })
                .collect();
            let pts = medians(&resampled);
            if pts.len() >= MIN_FIT_POINTS
                && let Some(b) = b_crit_of(&pts)
            {
                draws.push(b);
            }
        }
    }
    draws.sort_by(f64::total_cmp);
    let b_crit_interval = (draws.len() * 2 >= RESAMPLES).then(|| {
        let at = |q: f64| draws[((draws.len() - 1) as f64 * q).round() as usize];
        (at(0.025), at(0.975))
    });
    Some(CriticalBatch {
        points: points.len(),
        batch_range: (points[0].0, points[points.len() - 1].0),
        seeds,
        s_min,
        e_min,
        b_crit: match (s_min, e_min) {
            (Some(s), Some(e)) => Some(e / s),
            _ => None,
        },
        r2,
        b_crit_interval,
        resamples_with_b_crit: draws.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exact(
        s_min: f64,
        e_min: f64,
        batches: &[f64],
        seeds: usize,
    ) -> Vec<(f64, Vec<Option<f64>>)> {
        batches
            .iter()
            .map(|&b| (b, vec![Some(s_min + e_min / b); seeds]))
            .collect()
    }

    #[test]
    fn recovers_a_known_critical_batch() {
        let fit = fit_critical_batch(&exact(
            100.0,
            25_600.0,
            &[16.0, 64.0, 256.0, 1024.0, 4096.0],
            1,
        ))
        .unwrap();
        assert!((fit.b_crit.unwrap() - 256.0).abs() < 1e-6);
        assert!((fit.r2 - 1.0).abs() < 1e-12);
        assert!((fit.steps_at(256.0).unwrap() - 200.0).abs() < 1e-6);
        assert_eq!(fit.points, 5);
        assert!(fit.describe().contains("B_crit = E_min/S_min ≈ 256"));
        assert!(
            fit.describe()
                .contains("no interval: one seed per batch size")
        );
    }

    #[test]
    fn resampled_seeds_give_an_interval_around_the_fit() {
        // Three seeds per batch size, ±5% around the curve.
        let data: Vec<(f64, Vec<Option<f64>>)> = [16.0, 64.0, 256.0, 1024.0, 4096.0]
            .iter()
            .map(|&b| {
                let s = 100.0 + 25_600.0 / b;
                (b, vec![Some(s * 0.95), Some(s), Some(s * 1.05)])
            })
            .collect();
        let fit = fit_critical_batch(&data).unwrap();
        let (lo, hi) = fit.b_crit_interval.expect("three seeds each");
        let b = fit.b_crit.unwrap();
        assert!(lo <= b && b <= hi, "{lo} ≤ {b} ≤ {hi}");
        assert!(lo > 100.0 && hi < 700.0, "{lo}..{hi}");
        assert_eq!(fit.seeds, 3);
        assert!(
            fit.describe().contains("95% interval"),
            "{}",
            fit.describe()
        );
        // The same records give the same interval.
        assert_eq!(fit_critical_batch(&data).unwrap(), fit);
    }

    #[test]
    fn perfect_scaling_has_no_plateau() {
        let data: Vec<(f64, Vec<Option<f64>>)> = [8.0, 16.0, 32.0, 64.0]
            .iter()
            .map(|&b| (b, vec![Some(1000.0 / b - 1.0)]))
            .collect();
        let fit = fit_critical_batch(&data).unwrap();
        assert_eq!(fit.b_crit, None);
        assert!(fit.describe().contains("no plateau"));
    }

    #[test]
    fn needs_four_batch_sizes_that_reached_the_target() {
        assert!(fit_critical_batch(&exact(10.0, 100.0, &[8.0, 16.0, 32.0], 2)).is_none());
        let mut data = exact(10.0, 100.0, &[8.0, 16.0, 32.0, 64.0], 2);
        assert!(fit_critical_batch(&data).is_some());
        // A batch size whose median never reached the target is not a point.
        data[3].1 = vec![None, None];
        assert!(fit_critical_batch(&data).is_none());
    }
}
