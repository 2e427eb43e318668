//! The steps-vs-samples trade-off and the critical batch size.
//!
//! McCandlish et al. (2018) model the steps S and examples E needed to reach a target
//! as (S/S_min − 1)(E/E_min − 1) = 1 with E = B·S. Solving for S gives
//! S = S_min + E_min / B: linear in 1/B, so a least-squares line of the measured
//! steps-to-target against 1/B yields S_min (intercept) and E_min (slope), and the
//! critical batch size B_crit = E_min / S_min, where the trade-off bends: below it,
//! doubling the batch nearly halves the steps (Shallue et al.'s perfect scaling);
//! above it, returns diminish.

use serde::{Deserialize, Serialize};

/// A fitted critical batch size.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CriticalBatch {
    /// Batch sizes used in the fit.
    pub points: usize,
    /// Smallest and largest batch size used.
    pub batch_range: (f64, f64),
    /// Fitted minimum number of steps (large-batch limit); `None` if the fit says
    /// there is no plateau in the measured range.
    pub s_min: Option<f64>,
    /// Fitted minimum number of examples (small-batch limit).
    pub e_min: Option<f64>,
    /// E_min / S_min, when both are positive.
    pub b_crit: Option<f64>,
    /// Coefficient of determination of the line S = S_min + E_min / B.
    pub r2: f64,
}

impl CriticalBatch {
    /// The fitted steps-to-target at batch `b`.
    pub fn steps_at(&self, b: f64) -> Option<f64> {
        Some(self.s_min? + self.e_min? / b)
    }

    /// One sentence for the report.
    pub fn describe(&self) -> String {
        let (lo, hi) = self.batch_range;
        match (self.s_min, self.e_min, self.b_crit) {
            (Some(s), Some(e), Some(b)) => format!(
                "fitting S = S_min + E_min/B to the median steps-to-target of {} batch sizes ({lo:.0} to {hi:.0}) gives S_min ≈ {s:.0} steps, E_min ≈ {e:.0} examples and a critical batch size B_crit = E_min/S_min ≈ {b:.0} (R² = {:.2}){}. Below it, doubling the batch nearly halves the steps; above it, returns diminish.",
                self.points,
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
                "steps to target fall at least as fast as 1/B over the whole measured range (batch {lo:.0} to {hi:.0}, {} sizes): no plateau is visible, so the critical batch size is above {hi:.0}.",
                self.points
            ),
            _ => format!(
                "steps to target do not fall with the batch size over batch {lo:.0} to {hi:.0} ({} sizes): the critical batch size is at or below {lo:.0}.",
                self.points
            ),
        }
    }
}

/// Fits the model to `(batch, steps_to_target, samples_to_target)` points; needs at
/// least three distinct batch sizes.
pub fn fit_critical_batch(points: &[(f64, f64, f64)]) -> Option<CriticalBatch> {
    let mut distinct: Vec<f64> = points.iter().map(|p| p.0).collect();
    distinct.sort_by(f64::total_cmp);
    distinct.dedup();
    if distinct.len() < 3 {
        return None;
    }
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
    let s_min = (intercept > 0.0).then_some(intercept);
    let e_min = (slope > 0.0).then_some(slope);
    Some(CriticalBatch {
        points: distinct.len(),
        batch_range: (distinct[0], distinct[distinct.len() - 1]),
        s_min,
        e_min,
        b_crit: match (s_min, e_min) {
            (Some(s), Some(e)) => Some(e / s),
            _ => None,
        },
        r2,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovers_a_known_critical_batch() {
        let (s_min, e_min) = (100.0, 25_600.0); // B_crit = 256
        let points: Vec<(f64, f64, f64)> = [16.0, 64.0, 256.0, 1024.0, 4096.0]
            .iter()
            .map(|&b| {
                let s = s_min + e_min / b;
                (b, s, s * b)
            })
            .collect();
        let fit = fit_critical_batch(&points).unwrap();
        assert!((fit.b_crit.unwrap() - 256.0).abs() < 1e-6);
        assert!((fit.r2 - 1.0).abs() < 1e-12);
        assert!((fit.steps_at(256.0).unwrap() - 200.0).abs() < 1e-6);
        assert!(fit.describe().contains("B_crit = E_min/S_min ≈ 256"));
    }

    #[test]
    fn perfect_scaling_has_no_plateau() {
        let points: Vec<(f64, f64, f64)> = [8.0, 16.0, 32.0]
            .iter()
            .map(|&b| (b, 1000.0 / b - 1.0, 1000.0))
            .collect();
        let fit = fit_critical_batch(&points).unwrap();
        assert_eq!(fit.b_crit, None);
        assert!(fit.describe().contains("no plateau"));
    }

    #[test]
    fn needs_three_batch_sizes() {
        assert!(fit_critical_batch(&[(8.0, 10.0, 80.0), (16.0, 6.0, 96.0)]).is_none());
    }
}
