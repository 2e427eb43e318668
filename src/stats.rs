//! Small statistics over seeds (used by analysis, compare and the report): means with Student-t confidence intervals, medians
//! that count "never reached" as infinite (MLPerf's rule for time-to-train), and
//! Welch's t-test for comparisons.

use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, StudentsT};

/// A mean with its 95% confidence interval (Student's t over the values).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    /// Sample mean.
    pub mean: f64,
    /// Half-width of the 95% confidence interval; `None` with a single value.
    pub ci95: Option<f64>,
    /// Sample standard deviation; `None` with a single value.
    pub std: Option<f64>,
    /// Values the estimate is based on.
    pub n: usize,
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
}

impl Estimate {
    /// The estimate of `values` (non-finite values are ignored); `None` if empty.
    pub fn of(values: &[f64]) -> Option<Estimate> {
        let v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
        if v.is_empty() {
            return None;
        }
        let n = v.len();
        let mean = v.iter().sum::<f64>() / n as f64;
        let (std, ci95) = if n >= 2 {
            let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
            let std = var.sqrt();
            (
                Some(std),
                Some(t_quantile(0.975, (n - 1) as f64) * std / (n as f64).sqrt()),
            )
        } else {
            (None, None)
        };
        Some(Estimate {
            mean,
            ci95,
            std,
            n,
            min: v.iter().copied().fold(f64::INFINITY, f64::min),
            max: v.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        })
    }

    /// The interval `[mean − ci, mean + ci]` (the point when there is no CI).
    pub fn interval(&self) -> (f64, f64) {
        let h = self.ci95.unwrap_or(0.0);
        (self.mean - h, self.mean + h)
    }

    /// Whether two estimates' 95% intervals overlap (a conservative "within noise").
    pub fn overlaps(&self, other: &Estimate) -> bool {
        let (a0, a1) = self.interval();
        let (b0, b1) = other.interval();
        a0 <= b1 && b0 <= a1
    }
}

/// The `p` quantile of Student's t with `df` degrees of freedom.
pub fn t_quantile(p: f64, df: f64) -> f64 {
    StudentsT::new(0.0, 1.0, df)
        .map(|t| t.inverse_cdf(p))
        .unwrap_or(f64::NAN)
}

/// Median of values where `None` means "never happened" and counts as +∞.
/// Returns `None` when the median itself is infinite (fewer than half reached).
pub fn median_with_infinite(values: &[Option<f64>]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut v: Vec<f64> = values.iter().map(|x| x.unwrap_or(f64::INFINITY)).collect();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let m = if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    };
    m.is_finite().then_some(m)
}

/// Welch's two-sample t-test: the two-sided p-value for equal means (`None` when a
/// side has fewer than two values or no variance at all).
pub fn welch_p_value(a: &[f64], b: &[f64]) -> Option<f64> {
    let (ea, eb) = (Estimate::of(a)?, Estimate::of(b)?);
    let (va, vb) = (ea.std?.powi(2) / ea.n as f64, eb.std?.powi(2) / eb.n as f64);
    let se2 = va + vb;
    if se2 <= 0.0 {
        return if ea.mean == eb.mean {
            Some(1.0)
        } else {
            Some(0.0)
        };
    }
    let t = (ea.mean - eb.mean) / se2.sqrt();
    let df = se2.powi(2) / (va.powi(2) / (ea.n - 1) as f64 + vb.powi(2) / (eb.n - 1) as f64);
    let dist = StudentsT::new(0.0, 1.0, df).ok()?;
    Some(2.0 * (1.0 - dist.cdf(t.abs())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_and_confidence_interval() {
        let e = Estimate::of(&[1.0, 2.0, 3.0]).unwrap();
        assert_eq!(e.mean, 2.0);
        // t(0.975, 2) = 4.303; std = 1; ci = 4.303 / sqrt(3)
        assert!((e.ci95.unwrap() - 4.302_652_7 / 3f64.sqrt()).abs() < 1e-5);
        assert_eq!(Estimate::of(&[5.0]).unwrap().ci95, None);
        assert!(Estimate::of(&[]).is_none());
    }

    #[test]
    fn unreached_counts_as_infinite() {
        assert_eq!(
            median_with_infinite(&[Some(1.0), Some(3.0), None]),
            Some(3.0)
        );
        assert_eq!(median_with_infinite(&[Some(1.0), None, None]), None);
        assert_eq!(median_with_infinite(&[Some(1.0), Some(2.0)]), Some(1.5));
    }

    #[test]
    fn welch_separates_different_means_and_not_equal_ones() {
        let a = [10.0, 10.1, 9.9, 10.05, 9.95];
        let b = [9.0, 9.1, 8.9, 9.05, 8.95];
        assert!(welch_p_value(&a, &b).unwrap() < 1e-6);
        assert!(welch_p_value(&a, &a).unwrap() > 0.99);
    }
}
