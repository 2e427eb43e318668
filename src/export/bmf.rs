//! Bencher Metric Format (<https://bencher.dev/docs/reference/bencher-metric-format/>):
//! `{benchmark: {measure: {value, lower_value, upper_value}}}`, read by bencher.dev
//! and by github-action-benchmark's `customBiggerIsBetter`-style tooling via Bencher.
//!
//! One benchmark per configuration (its runs over seeds), named as `compare` names
//! it; one measure per metric `compare` knows, named as on its command line. The value
//! is the mean over the seeds that measured it, the bounds the smallest and largest
//! seed (omitted with a single seed): what the seeds spread over, not a model of it.
//! Only completed runs count, and a metric no run measured (a target never reached,
//! GPU figures on a CPU) is left out rather than written as zero.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::compare::{METRICS, config_label};
use crate::results::record::{RunRecord, RunStatus};
use crate::stats::Estimate;

/// One measure of one benchmark.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Measure {
    /// Mean over the seeds.
    pub value: f64,
    /// The smallest seed's value (absent with one seed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lower_value: Option<f64>,
    /// The largest seed's value (absent with one seed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upper_value: Option<f64>,
}

/// A BMF document: benchmark name → measure name → measure.
pub type Bmf = BTreeMap<String, BTreeMap<String, Measure>>;

/// The BMF document of `records`.
pub fn bmf(records: &[RunRecord]) -> Bmf {
    let mut configs: BTreeMap<&str, Vec<&RunRecord>> = BTreeMap::new();
    for r in records.iter().filter(|r| r.status == RunStatus::Ok) {
        configs.entry(&r.config_key).or_default().push(r);
    }
    let mut names: BTreeMap<String, usize> = BTreeMap::new();
    for runs in configs.values() {
        *names.entry(config_label(runs[0])).or_default() += 1;
    }
    let mut out = Bmf::new();
    for (key, runs) in configs {
        let mut name = config_label(runs[0]);
        // Two configurations differing only in what the label leaves out (the
        // optimizer, the precision...) keep apart by their key.
        if names[&name] > 1 {
            name = format!("{name} [{}]", crate::fmt::short_hash(key));
        }
        let mut measures = BTreeMap::new();
        for m in METRICS {
            let values: Vec<f64> = runs.iter().filter_map(|r| (m.read)(r)).collect();
            let Some(e) = Estimate::of(&values) else {
                continue;
            };
            let spread = e.n > 1;
            measures.insert(
                m.name.to_string(),
                Measure {
                    value: e.mean,
                    lower_value: spread.then_some(e.min),
                    upper_value: spread.then_some(e.max),
                },
            );
        }
        if !measures.is_empty() {
            out.insert(name, measures);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::record_for_tests;

    #[test]
    fn one_benchmark_per_configuration_with_the_seeds_spread() {
        let record = |key: &str, time: f64, speed: f64| {
            let mut r = record_for_tests(key, 0.9);
            r.summary.time_to_target_s = Some(time);
            r.summary.samples_per_s = Some(speed);
            r
        };
        let (a, b) = (record("a", 2.0, 100.0), record("b", 4.0, 300.0));
        let mut failed = record("c", 1.0, 1e6);
        failed.status = RunStatus::Crashed;
        let doc = bmf(&[a.clone(), b, failed]);
        assert_eq!(doc.len(), 1, "{doc:?}");
        let (name, measures) = doc.iter().next().unwrap();
        assert_eq!(name, &config_label(&a));
        let sps = &measures["samples_per_s"];
        assert_eq!(
            (sps.value, sps.lower_value, sps.upper_value),
            (200.0, Some(100.0), Some(300.0))
        );
        assert!(
            !measures.contains_key("gpu_mem_peak_mib"),
            "unmeasured: left out"
        );
        let json = serde_json::to_value(&doc).unwrap();
        assert_eq!(json[name]["time_to_target_s"]["value"], 3.0);
    }
}
