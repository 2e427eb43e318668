//! The report's chart sections, one module each; the helpers they share.

pub mod curves;
pub mod hardware;
pub mod probes;
pub mod scaling;

use crate::analysis::stats::Estimate;
use crate::analysis::{ConfigSummary, Family, Study};

/// Chart size in the page, pixels.
pub const W: u32 = 560;
/// Chart height.
pub const H: u32 = 360;

pub fn band(points: &[(f64, Estimate)]) -> Vec<(f64, f64, f64)> {
    points
        .iter()
        .filter(|(_, e)| e.n > 1)
        .map(|(x, e)| (*x, e.min, e.max))
        .collect()
}

pub fn family_points(
    study: &Study,
    fam: &Family,
    f: impl Fn(&ConfigSummary) -> Option<f64>,
) -> Vec<(f64, f64)> {
    fam.configs
        .iter()
        .map(|&i| &study.configs[i])
        .filter_map(|c| Some((c.batch_size as f64, f(c)?)))
        .collect()
}

pub fn family_band(
    study: &Study,
    fam: &Family,
    f: impl Fn(&ConfigSummary) -> Option<Estimate>,
    scale: f64,
) -> (Vec<(f64, f64)>, Vec<(f64, f64, f64)>) {
    let pts: Vec<(f64, Estimate)> = fam
        .configs
        .iter()
        .map(|&i| &study.configs[i])
        .filter_map(|c| Some((c.batch_size as f64, f(c)?)))
        .collect();
    let line = pts.iter().map(|(x, e)| (*x, e.mean * scale)).collect();
    let band = pts
        .iter()
        .filter_map(|(x, e)| {
            e.ci95
                .map(|h| (*x, (e.mean - h) * scale, (e.mean + h) * scale))
        })
        .collect();
    (line, band)
}
