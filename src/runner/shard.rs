//! Sharding: split a suite's runs into N parts so N independent jobs (a Slurm array,
//! a Kubernetes indexed Job) cover it exactly once.
//!
//! The partition is deterministic: runs are ordered by estimated cost ([`CostModel`]:
//! examples seen × model parameters plus a per-step overhead, optionally fitted in
//! seconds to measured runs), ties broken by run key, and each is given to the
//! least-loaded shard so far (longest-processing-time first). The same suite and cost
//! model therefore split the same way on every machine, with no coordination.

use std::fmt;
use std::str::FromStr;

use crate::data;
use crate::model::{InputShape, parameter_count};
use crate::results::{RunRecord, RunStatus};
use crate::suite::RunSpec;

/// Shard K of N (K counts from 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    /// This shard, 1..=count.
    pub index: u32,
    /// Number of shards.
    pub count: u32,
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl FromStr for Shard {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("`{s}` is not a shard; write K/N with 1 ≤ K ≤ N, e.g. 2/4");
        let (k, n) = s.split_once('/').ok_or_else(bad)?;
        let index: u32 = k.trim().parse().map_err(|_| bad())?;
        let count: u32 = n.trim().parse().map_err(|_| bad())?;
        if index == 0 || count == 0 || index > count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

impl Shard {
    /// The shard from a scheduler's environment, if one is present:
    /// Slurm job arrays (`SLURM_ARRAY_TASK_ID`, `SLURM_ARRAY_TASK_MIN`,
    /// `SLURM_ARRAY_TASK_COUNT`), or a Kubernetes indexed Job (`JOB_COMPLETION_INDEX`,
    /// with the completion count from `count` or `$BATCHBENCH_SHARDS`).
    pub fn from_env(count: Option<u32>) -> Result<Option<Shard>, String> {
        let var = |name: &str| std::env::var(name).ok();
        let num = |name: &str, v: String| -> Result<u32, String> {
            v.trim()
                .parse()
                .map_err(|_| format!("${name} is `{v}`, not a number"))
        };
        if let Some(id) = var("SLURM_ARRAY_TASK_ID") {
            let id = num("SLURM_ARRAY_TASK_ID", id)?;
            let min = var("SLURM_ARRAY_TASK_MIN")
                .map(|v| num("SLURM_ARRAY_TASK_MIN", v))
                .transpose()?
                .unwrap_or(0);
            let step = var("SLURM_ARRAY_TASK_STEP")
                .map(|v| num("SLURM_ARRAY_TASK_STEP", v))
                .transpose()?
                .unwrap_or(1)
                .max(1);
            let n = var("SLURM_ARRAY_TASK_COUNT")
                .map(|v| num("SLURM_ARRAY_TASK_COUNT", v))
                .transpose()?
                .ok_or("SLURM_ARRAY_TASK_ID is set but SLURM_ARRAY_TASK_COUNT is not")?;
            // A stepped array (--array=0-8:2) numbers its tasks min, min+step, ….
            if id < min || (id - min) % step != 0 {
                return Err(format!(
                    "SLURM_ARRAY_TASK_ID {id} is not in the array {min}, {}, … (step {step}); batchbench supports arrays of the form MIN-MAX[:STEP]",
                    min + step
                ));
            }
            return format!("{}/{n}", (id - min) / step + 1).parse().map(Some);
        }
        if let Some(index) = var("JOB_COMPLETION_INDEX") {
            let index = num("JOB_COMPLETION_INDEX", index)?;
            let n = match count {
                Some(n) => n,
                None => var("BATCHBENCH_SHARDS")
                    .map(|v| num("BATCHBENCH_SHARDS", v))
                    .transpose()?
                    .ok_or("JOB_COMPLETION_INDEX is set: give the number of completions with --shards N or $BATCHBENCH_SHARDS")?,
            };
            return format!("{}/{n}", index + 1).parse().map(Some);
        }
        Ok(None)
    }

    /// Assigns every run to a shard by `costs`; returns the shard number (1-based)
    /// per run.
    pub fn assign(count: u32, specs: &[RunSpec], costs: &CostModel) -> Vec<u32> {
        let mut order: Vec<(f64, String, usize)> = specs
            .iter()
            .enumerate()
            .map(|(i, s)| (costs.cost(s), s.key(), i))
            .collect();
        order.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
        let mut load = vec![0.0f64; count as usize];
        let mut out = vec![0u32; specs.len()];
        for (cost, _, i) in order {
            let (least, _) = load
                .iter()
                .enumerate()
                .min_by(|a, b| a.1.total_cmp(b.1).then(a.0.cmp(&b.0)))
                .expect("count ≥ 1");
            load[least] += cost;
            out[i] = least as u32 + 1;
        }
        out
    }

    /// The runs of this shard, in suite order.
    pub fn select(self, specs: Vec<RunSpec>, costs: &CostModel) -> Vec<RunSpec> {
        let owners = Shard::assign(self.count, &specs, costs);
        specs
            .into_iter()
            .zip(owners)
            .filter(|(_, owner)| *owner == self.index)
            .map(|(s, _)| s)
            .collect()
    }
}

/// A step's fixed cost in the units of the default [`CostModel`] (example ×
/// parameter): launching a step's operations costs about as much as two million
/// multiply-adds. Without it, small batches look as cheap as large ones, while they
/// are dominated by per-step overhead.
const STEP_COST: f64 = 2e6;

/// What a run costs: `per_run` (worker start, data loading) + `per_work` × work
/// (examples seen × (parameters + 1,000)) + `per_step` × optimizer steps.
///
/// The default is relative (not seconds), enough to balance shards. [`CostModel::fit`]
/// calibrates it on measured runs (`--costs-from DIR`), in seconds, so that `plan`
/// can say how long a sweep will take. Every shard of a sweep must use the same model
/// to compute the same split, so a fitted model comes from a folder named on the
/// command line, never from each shard's own records.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct CostModel {
    /// Cost of starting a run.
    pub per_run: f64,
    /// Cost per unit of work.
    pub per_work: f64,
    /// Cost per optimizer step.
    pub per_step: f64,
    /// How many measured runs it was fitted on (`None`: the relative default).
    pub fitted_on: Option<usize>,
    /// The median of |predicted − measured| / measured over those runs.
    pub median_error: Option<f64>,
}

impl Default for CostModel {
    fn default() -> Self {
        CostModel {
            per_run: 0.0,
            per_work: 1.0,
            per_step: STEP_COST,
            fitted_on: None,
            median_error: None,
        }
    }
}

impl CostModel {
    /// The cost of `spec` (seconds when fitted).
    pub fn cost(&self, spec: &RunSpec) -> f64 {
        self.per_run + self.per_work * work(spec) + self.per_step * spec.steps() as f64
    }

    /// Fits the model to the wall time (`summary.wall_s`) of the successful runs in
    /// `records`: least squares of the relative error, with non-negative coefficients.
    /// Relative, because run times span orders of magnitude: fitted on absolute
    /// errors, the quickstart's 0.04 s runs were predicted at 0.2 s (median error 72%,
    /// worst 390%); on relative errors, 30% and 49%.
    pub fn fit(records: &[RunRecord]) -> Result<CostModel, String> {
        let rows: Vec<([f64; 3], f64)> = records
            .iter()
            .filter(|r| r.status == RunStatus::Ok)
            .filter_map(|r| {
                let wall = r.summary.wall_s.filter(|w| w.is_finite() && *w > 0.0)?;
                Some(([1.0, work(&r.spec), r.spec.steps() as f64], wall))
            })
            .collect();
        if rows.len() < 3 {
            return Err(format!(
                "{} successful run(s) with a wall time; the cost model needs at least 3",
                rows.len()
            ));
        }
        let [per_run, per_work, per_step] = non_negative_least_squares(&rows)
            .ok_or("the measured runs do not determine a cost model (they are all alike)")?;
        let mut errors: Vec<f64> = rows
            .iter()
            .map(|(x, y)| ((per_run * x[0] + per_work * x[1] + per_step * x[2]) - y).abs() / y)
            .collect();
        errors.sort_by(f64::total_cmp);
        Ok(CostModel {
            per_run,
            per_work,
            per_step,
            fitted_on: Some(rows.len()),
            median_error: Some(errors[errors.len() / 2]),
        })
    }

    /// One line for `plan` and `run`: what the model is and how well it fits.
    pub fn describe(&self) -> String {
        match (self.fitted_on, self.median_error) {
            (Some(n), Some(e)) => format!(
                "cost model fitted on {n} measured run(s): {:.3} s per run + {:.3} ns per example×parameter + {:.3} ms per step (median error {:.0}%)",
                self.per_run,
                self.per_work * 1e9,
                self.per_step * 1e3,
                100.0 * e
            ),
            _ => "relative cost model (examples × parameters + a per-step overhead); --costs-from DIR fits it in seconds to measured runs".into(),
        }
    }
}

/// Examples seen × (parameters + a per-example overhead). It depends on the spec
/// alone (the dataset's published sizes, not files on this machine), so every shard of
/// a sweep computes the same split.
fn work(spec: &RunSpec) -> f64 {
    let s = data::published_shape(&spec.dataset);
    let params = parameter_count(
        &spec.model,
        InputShape {
            features: s.features as usize,
            image: s
                .image
                .map(|[c, h, w]| [c as usize, h as usize, w as usize]),
            classes: s.classes as usize,
        },
    );
    spec.samples as f64 * (params as f64 + 1_000.0)
}

/// Least squares of the relative error, `x·c / y ≈ 1` with `c ≥ 0` (every `y > 0`), for
/// three columns: the best unconstrained fit (SVD, columns scaled to 1) over every
/// subset of columns whose coefficients are all non-negative, which is exact for so
/// few columns.
fn non_negative_least_squares(rows: &[([f64; 3], f64)]) -> Option<[f64; 3]> {
    let scale: Vec<f64> = (0..3)
        .map(|j| {
            rows.iter()
                .map(|(x, y)| (x[j] / y).abs())
                .fold(0.0, f64::max)
        })
        .collect();
    let y = nalgebra::DVector::from_element(rows.len(), 1.0);
    let mut best: Option<([f64; 3], f64)> = None;
    for subset in 1u8..8 {
        let cols: Vec<usize> = (0..3)
            .filter(|j| subset & (1 << j) != 0 && scale[*j] > 0.0)
            .collect();
        if cols.len() != (subset.count_ones() as usize) {
            continue;
        }
        let a = nalgebra::DMatrix::from_fn(rows.len(), cols.len(), |i, k| {
            rows[i].0[cols[k]] / rows[i].1 / scale[cols[k]]
        });
        let Ok(solution) = a.clone().svd(true, true).solve(&y, 1e-12) else {
            continue;
        };
        if solution.iter().any(|c| !c.is_finite() || *c < 0.0) {
            continue;
        }
        let residual = (&a * &solution - &y).norm_squared();
        let mut coefficients = [0.0; 3];
        for (k, &j) in cols.iter().enumerate() {
            coefficients[j] = solution[k] / scale[j];
        }
        if best.is_none_or(|(_, r)| residual < r) {
            best = Some((coefficients, residual));
        }
    }
    best.map(|(c, _)| c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::spec_for_tests;

    /// Records whose wall time follows a known cost model exactly, over batch sizes
    /// and budgets (and one failed run, which must be ignored).
    fn measured(per_run: f64, per_work: f64, per_step: f64) -> Vec<RunRecord> {
        let mut records = Vec::new();
        for (batch, samples) in [
            (8, 20_000),
            (32, 20_000),
            (128, 40_000),
            (512, 80_000),
            (32, 80_000),
        ] {
            let mut spec = spec_for_tests();
            spec.batch_size = batch;
            spec.micro_batch_size = batch;
            spec.samples = samples;
            let wall = per_run + per_work * work(&spec) + per_step * spec.steps() as f64;
            let mut r = RunRecord::new(spec, Default::default(), String::new());
            r.status = RunStatus::Ok;
            r.summary.wall_s = Some(wall);
            records.push(r);
        }
        let mut failed = records[0].clone();
        failed.status = RunStatus::Crashed;
        failed.summary.wall_s = Some(1e6);
        records.push(failed);
        records
    }

    #[test]
    fn the_cost_model_fitted_to_measured_runs_recovers_their_costs() {
        let fitted = CostModel::fit(&measured(0.5, 2e-9, 3e-4)).unwrap();
        assert_eq!(fitted.fitted_on, Some(5), "the crashed run is left out");
        assert!((fitted.per_run - 0.5).abs() < 1e-6, "{fitted:?}");
        assert!((fitted.per_work / 2e-9 - 1.0).abs() < 1e-6, "{fitted:?}");
        assert!((fitted.per_step / 3e-4 - 1.0).abs() < 1e-6, "{fitted:?}");
        assert!(fitted.median_error.unwrap() < 1e-6);
        assert!(
            fitted.describe().contains("0.300 ms per step"),
            "{}",
            fitted.describe()
        );
        // No per-step overhead at all: the coefficient is 0, never negative.
        let no_steps = CostModel::fit(&measured(0.2, 1e-9, 0.0)).unwrap();
        assert!(
            no_steps.per_step.abs() < 1e-12 && no_steps.per_step >= 0.0,
            "{no_steps:?}"
        );
    }

    #[test]
    fn a_cost_model_needs_three_measured_runs() {
        let records = measured(0.5, 2e-9, 3e-4);
        let err = CostModel::fit(&records[..2]).unwrap_err();
        assert!(err.contains("at least 3"), "{err}");
    }

    #[test]
    fn a_fitted_cost_model_balances_per_step_overhead() {
        // Equal samples at batch 8 and 512: the relative model's per-step term already
        // sets them apart; a model fitted to runs dominated by per-step overhead
        // puts the small-batch runs on shards of their own.
        let specs: Vec<RunSpec> = [8, 8, 512, 512, 512, 512]
            .iter()
            .enumerate()
            .map(|(i, &b)| {
                let mut s = spec_for_tests();
                s.seed = i as u64;
                s.batch_size = b;
                s.micro_batch_size = b;
                s.samples = 40_000;
                s
            })
            .collect();
        let fitted = CostModel::fit(&measured(0.0, 1e-12, 1e-3)).unwrap();
        let owners = Shard::assign(2, &specs, &fitted);
        assert_ne!(
            owners[0], owners[1],
            "the two slow runs go to different shards"
        );
        let load = |k: u32| -> f64 {
            specs
                .iter()
                .zip(&owners)
                .filter(|(_, o)| **o == k)
                .map(|(s, _)| fitted.cost(s))
                .sum()
        };
        assert!(
            (load(1) / load(2) - 1.0).abs() < 0.2,
            "{} vs {}",
            load(1),
            load(2)
        );
    }

    #[test]
    fn parses_and_rejects() {
        assert_eq!(
            "2/4".parse::<Shard>().unwrap(),
            Shard { index: 2, count: 4 }
        );
        for bad in ["0/4", "5/4", "x/4", "3", "1/0"] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
    }

    #[test]
    fn shards_cover_every_run_exactly_once_and_balance() {
        let specs: Vec<RunSpec> = (0..10)
            .map(|i| {
                let mut s = spec_for_tests();
                s.seed = i;
                s.samples = 1000 * (i + 1);
                s
            })
            .collect();
        let owners = Shard::assign(3, &specs, &CostModel::default());
        assert!(owners.iter().all(|&o| (1..=3).contains(&o)));
        let mut loads = [0.0; 3];
        for (s, o) in specs.iter().zip(&owners) {
            loads[*o as usize - 1] += s.samples as f64;
        }
        let (lo, hi) = (
            loads.iter().cloned().fold(f64::MAX, f64::min),
            loads.iter().cloned().fold(0.0, f64::max),
        );
        assert!(hi / lo < 1.2, "{loads:?}");
        let total: usize = (1..=3)
            .map(|k| {
                Shard { index: k, count: 3 }
                    .select(specs.clone(), &CostModel::default())
                    .len()
            })
            .sum();
        assert_eq!(total, 10);
        assert_eq!(
            owners,
            Shard::assign(3, &specs, &CostModel::default()),
            "deterministic"
        );
    }
}
