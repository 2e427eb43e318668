//! `batchbench warm SUITE`: compile and autotune every kernel shape of a sweep before
//! the timed runs.
//!
//! On CUDA every new shape (model, dataset, precision, batch size, optimizer) is
//! compiled with NVRTC and autotuned on first use, which took more than 100 s for one
//! MLP shape on an H100 (ARCHITECTURE.md); a 20-shape sweep pays that 20 times, inside its
//! runs' warm-up. Warming runs each distinct shape once, for a few steps and one
//! evaluation, in its own worker, so CubeCL's autotune and PTX caches (shared by every
//! worker, see `backend::configure_cubecl`) hold them when the sweep starts. Each
//! shape's warm-up time and compiled-kernel count are printed and written to
//! `warm.json`; running `warm` twice shows what a warm cache still costs.

use std::collections::BTreeSet;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::max_batch::{ShortRuns, SweepContext};
use super::process::Interrupts;
use crate::results::record::RunStatus;
use crate::suite::RunSpec;
use crate::train::WARMUP_STEPS;

/// The file `warm` writes into the results folder.
pub const WARM_FILE: &str = "warm.json";

/// One warmed shape.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct WarmShape {
    /// Model, dataset and precision, as a label.
    pub config: String,
    /// The optimizer (its update kernels differ).
    pub optimizer: String,
    /// The batch size (the micro-batch: what the kernels see).
    pub batch_size: u64,
    /// The device.
    pub device: String,
    /// How the short run ended.
    pub status: RunStatus,
    /// Why, when it did not end `ok`.
    pub reason: Option<String>,
    /// Seconds for the first steps (compilation and autotuning included).
    pub warmup_s: Option<f64>,
    /// Warm-up seconds beyond the same steps at steady speed.
    pub cold_start_s: Option<f64>,
    /// Kernels compiled (CUDA), 0 when all came from the cache.
    pub kernels_compiled: Option<u64>,
    /// Wall seconds of the whole short run, worker start to exit.
    pub wall_s: Option<f64>,
}

/// The distinct kernel shapes of a sweep's Burn runs, as the runs that first use them:
/// one per (model, dataset, precision, device, optimizer kind, micro-batch size),
/// with every batch size of a batch schedule counted. (The Python engines compile in
/// their own warm-up steps; CubeCL's cache does not serve them.)
pub fn shapes(specs: &[RunSpec]) -> Vec<RunSpec> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for spec in specs.iter().filter(|s| s.engine.is_burn()) {
        let mut batches = vec![spec.micro_batch_size];
        batches.extend(
            spec.batch_schedule
                .iter()
                .flatten()
                .map(|s| s.batch_size / spec.accumulate),
        );
        for b in batches {
            let mut dataset = spec.dataset.clone();
            dataset.path = None;
            let id = serde_json::to_string(&(
                &spec.model,
                &dataset,
                spec.precision,
                spec.device,
                spec.optimizer.kind,
                b,
            ))
            .expect("serializes");
            if seen.insert(id) {
                let mut s = spec.clone();
                s.micro_batch_size = b;
                s.batch_size = b;
                out.push(s);
            }
        }
    }
    out
}

/// Warms every shape of `specs` (devices resolved); `train_size` gives each spec's
/// training-set size; `log` sees each result as it comes.
pub fn warm(
    specs: &[RunSpec],
    train_size: &dyn Fn(&RunSpec) -> anyhow::Result<u64>,
    timeout: Duration,
    context: &SweepContext,
    interrupts: &Interrupts,
    log: &mut dyn FnMut(&WarmShape),
) -> anyhow::Result<Vec<WarmShape>> {
    let mut out = Vec::new();
    for spec in shapes(specs) {
        if interrupts.requested() {
            break;
        }
        let train = train_size(&spec)?;
        let mut runs = ShortRuns::new(&spec, train, WARMUP_STEPS + 2, timeout, context)?;
        let record = runs.run(spec.batch_size.min(train), interrupts)?;
        let w = WarmShape {
            config: format!(
                "{} on {} ({})",
                spec.model_label(),
                spec.dataset.name,
                spec.precision.as_str()
            ),
            optimizer: format!("{:?}", spec.optimizer.kind).to_lowercase(),
            batch_size: spec.batch_size,
            device: spec.device.to_string(),
            status: record.status,
            reason: record.reason.clone(),
            warmup_s: record.summary.warmup_s,
            cold_start_s: record.summary.cold_start_s,
            kernels_compiled: record.summary.kernels_compiled,
            wall_s: record.summary.wall_s,
        };
        log(&w);
        out.push(w);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::suite::BatchStep;
    use crate::testing::spec_for_tests;

    #[test]
    fn seeds_and_learning_rates_share_a_shape_batch_sizes_do_not() {
        let a = spec_for_tests();
        let mut b = a.clone();
        (b.seed, b.lr) = (3, 0.5);
        let mut c = a.clone();
        (c.batch_size, c.micro_batch_size) = (64, 64);
        let mut d = a.clone();
        d.batch_schedule = Some(vec![BatchStep {
            epoch: 0.5,
            batch_size: 128,
        }]);
        let s = shapes(&[a, b, c, d]);
        let batches: Vec<u64> = s.iter().map(|s| s.batch_size).collect();
        assert_eq!(batches, vec![32, 64, 128]);
    }
}
