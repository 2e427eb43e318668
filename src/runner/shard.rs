//! Sharding: split a suite's runs into N parts so N independent jobs (a Slurm array,
//! a Kubernetes indexed Job) cover it exactly once.
//!
//! The partition is deterministic: runs are ordered by estimated cost (examples seen ×
//! model parameters, the dominant term of training time), ties broken by run key, and
//! each is given to the least-loaded shard so far (longest-processing-time first). The
//! same suite therefore splits the same way on every machine, with no coordination.

use std::fmt;
use std::str::FromStr;

use crate::data;
use crate::model::{InputShape, parameter_count};
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

    /// Assigns every run to a shard; returns the shard number (1-based) per run.
    pub fn assign(count: u32, specs: &[RunSpec]) -> Vec<u32> {
        let mut order: Vec<(f64, String, usize)> = specs
            .iter()
            .enumerate()
            .map(|(i, s)| (estimated_cost(s), s.key(), i))
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
    pub fn select(self, specs: Vec<RunSpec>) -> Vec<RunSpec> {
        let owners = Shard::assign(self.count, &specs);
        specs
            .into_iter()
            .zip(owners)
            .filter(|(_, owner)| *owner == self.index)
            .map(|(s, _)| s)
            .collect()
    }
}

/// A step's fixed cost in the units of [`estimated_cost`] (example × parameter):
/// launching a step's operations costs about as much as two million multiply-adds.
/// Without it, small batches look as cheap as large ones, while they are dominated
/// by per-step overhead.
const STEP_COST: f64 = 2e6;

/// Relative cost of a run: examples seen × (parameters + a per-example overhead) plus
/// a fixed cost per optimizer step. It depends on the spec alone (the dataset's
/// published sizes, not files on this machine), so every shard of a sweep computes
/// the same split.
pub fn estimated_cost(spec: &RunSpec) -> f64 {
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
    spec.samples as f64 * (params as f64 + 1_000.0) + spec.steps() as f64 * STEP_COST
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::spec_for_tests;

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
        let owners = Shard::assign(3, &specs);
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
            .map(|k| Shard { index: k, count: 3 }.select(specs.clone()).len())
            .sum();
        assert_eq!(total, 10);
        assert_eq!(owners, Shard::assign(3, &specs), "deterministic");
    }
}
