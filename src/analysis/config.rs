//! Configurations: a run's settings but its seed, aggregated over seeds.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::stats::{Estimate, median_with_infinite};
use crate::results::record::{RunRecord, RunStatus};

/// One point of a configuration's mean learning curve.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CurveAggregate {
    /// Epochs (examples seen / training-set size).
    pub epoch: f64,
    /// Optimizer steps.
    pub step: u64,
    /// Examples seen.
    pub samples: u64,
    /// Mean training seconds.
    pub train_s: f64,
    /// Mean wall seconds.
    pub wall_s: f64,
    /// Test accuracy over seeds.
    pub test_acc: Estimate,
    /// Train accuracy over seeds.
    pub train_acc: Estimate,
    /// Test loss over seeds.
    pub test_loss: Estimate,
    /// Train loss over seeds.
    pub train_loss: Estimate,
    /// Numeric probe values over seeds (weight distance, noise scale, ...).
    pub probes: BTreeMap<String, Estimate>,
}

/// A configuration aggregated over its seeds.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ConfigSummary {
    /// Result-set label (empty with a single set).
    pub source: String,
    /// The configuration key.
    pub config_key: String,
    /// The family it belongs to (index into [`Study::families`]).
    pub family: usize,
    /// Short model label, e.g. `mlp[512,512]`.
    pub model: String,
    /// Dataset name.
    pub dataset: String,
    /// Optimizer label, e.g. `sgd`, `sgd(m=0.9)`, `adamw`.
    pub optimizer: String,
    /// Effective batch size.
    pub batch_size: u64,
    /// The budget in epochs.
    pub epochs: f64,
    /// Gradient accumulation steps.
    pub accumulate: u64,
    /// Effective learning rate.
    pub lr: f64,
    /// Learning-rate scaling rule.
    pub lr_scaling: String,
    /// Precision.
    pub precision: String,
    /// The framework that trained (`burn`, `pytorch`, `pytorch-compile`, `jax`).
    pub engine: String,
    /// The configuration without its engine ([`crate::suite::RunSpec::recipe_key`]):
    /// configurations of several engines with the same recipe are compared.
    pub recipe_key: String,
    /// Device used.
    pub device: String,
    /// Runs (all statuses).
    pub runs: usize,
    /// Runs that completed.
    pub ok: usize,
    /// Failed runs by status (oom, diverged, ...).
    pub failures: BTreeMap<String, usize>,
    /// Final train accuracy over completed runs.
    pub final_train_acc: Option<Estimate>,
    /// Final test accuracy over completed runs.
    pub final_test_acc: Option<Estimate>,
    /// Final test loss over completed runs.
    #[serde(default)]
    pub final_test_loss: Option<Estimate>,
    /// Generalization gap (train − test accuracy).
    pub gap: Option<Estimate>,
    /// Best test accuracy.
    pub best_test_acc: Option<Estimate>,
    /// The target accuracy.
    pub target_acc: Option<f64>,
    /// The target, on whichever metric.
    #[serde(default)]
    pub target: Option<crate::suite::schema::Target>,
    /// A language model (token data): curves are per token, accuracy is next-token.
    #[serde(default)]
    pub language_model: bool,
    /// synthetic-text: the best achievable mean test loss, nats per token.
    #[serde(default)]
    pub loss_floor_nats: Option<f64>,
    /// Runs that reached the target.
    pub reached: usize,
    /// Median time to target over all runs (unreached = ∞); `None` = not reached.
    pub time_to_target_s: Option<f64>,
    /// The same without warm-up.
    pub time_to_target_excl_warmup_s: Option<f64>,
    /// Per-run times to target (`None` = not reached), in seed order.
    pub time_to_target_runs: Vec<Option<f64>>,
    /// Median steps to target.
    pub steps_to_target: Option<f64>,
    /// Per-run steps to target (`None` = not reached), in seed order (the critical-batch
    /// fit resamples them).
    #[serde(default)]
    pub steps_to_target_runs: Vec<Option<f64>>,
    /// Median examples to target.
    pub samples_to_target: Option<f64>,
    /// Median epochs to target.
    pub epochs_to_target: Option<f64>,
    /// Steady-state throughput.
    pub samples_per_s: Option<Estimate>,
    /// Warm-up seconds.
    pub warmup_s: Option<Estimate>,
    /// Mean GPU utilization during training, percent.
    pub gpu_util: Option<Estimate>,
    /// Mean GPU utilization after warm-up (the steady state), percent.
    #[serde(default)]
    pub gpu_util_steady: Option<Estimate>,
    /// Warm-up seconds beyond steady-state speed (kernel compilation, autotuning).
    #[serde(default)]
    pub cold_start_s: Option<Estimate>,
    /// Largest peak device memory over runs, MiB.
    pub gpu_mem_peak_mib: Option<f64>,
    /// Energy per run, joules.
    pub energy_j: Option<Estimate>,
    /// Median energy to target (unreached = ∞), joules.
    pub energy_to_target_j: Option<f64>,
    /// Mean process CPU use during training, percent of all cores.
    pub cpu_util: Option<Estimate>,
    /// Largest resident memory over runs, MiB.
    pub rss_peak_mib: Option<f64>,
    /// Keskar sharpness of the final weights per ε (keys like `1e-3`), over seeds.
    pub sharpness: BTreeMap<String, Estimate>,
    /// Mean learning curve over completed runs.
    pub curve: Vec<CurveAggregate>,
    /// Keys of the runs.
    pub run_keys: Vec<String>,
}

/// The optimizer in a few characters: `sgd(m=0.9)`.
pub fn optimizer_label(o: &crate::suite::OptimizerSpec) -> String {
    let mut label = format!("{:?}", o.kind).to_lowercase();
    let mut extras = Vec::new();
    if let Some(m) = o.momentum.filter(|&m| m > 0.0) {
        extras.push(format!(
            "m={m}{}",
            if o.nesterov == Some(true) {
                ",nesterov"
            } else {
                ""
            }
        ));
    }
    if let Some(w) = o.weight_decay.filter(|&w| w > 0.0) {
        extras.push(format!("wd={w}"));
    }
    if !extras.is_empty() {
        label = format!("{label}({})", extras.join(","));
    }
    label
}

/// Aggregates records of one configuration.
pub(super) fn summarize_config(source: &str, runs: &[&RunRecord]) -> ConfigSummary {
    let first = runs[0];
    let ok: Vec<&RunRecord> = runs
        .iter()
        .copied()
        .filter(|r| r.status == RunStatus::Ok)
        .collect();
    let mut failures = BTreeMap::new();
    for r in runs.iter().filter(|r| r.status != RunStatus::Ok) {
        *failures.entry(r.status.as_str().to_string()).or_insert(0) += 1;
    }
    let est = |f: &dyn Fn(&RunRecord) -> Option<f64>| {
        Estimate::of(&ok.iter().filter_map(|r| f(r)).collect::<Vec<_>>())
    };
    let max =
        |f: &dyn Fn(&RunRecord) -> Option<f64>| ok.iter().filter_map(|r| f(r)).reduce(f64::max);
    // Time to target counts every run: a failed run never reached it.
    let to_target = |f: &dyn Fn(&RunRecord) -> Option<f64>| -> Vec<Option<f64>> {
        runs.iter()
            .map(|r| {
                if r.status == RunStatus::Ok || r.status == RunStatus::Diverged {
                    f(r)
                } else {
                    None
                }
            })
            .collect()
    };
    let times = to_target(&|r| r.summary.time_to_target_s);
    let steps = to_target(&|r| r.summary.steps_to_target.map(|s| s as f64));
    ConfigSummary {
        source: source.to_string(),
        config_key: first.config_key.clone(),
        family: 0,
        model: first.spec.model_label(),
        dataset: first.spec.dataset.name.to_string(),
        optimizer: optimizer_label(&first.spec.optimizer),
        batch_size: first.spec.batch_size,
        epochs: first.spec.epochs,
        accumulate: first.spec.accumulate,
        lr: first.spec.lr,
        lr_scaling: format!("{:?}", first.spec.lr_scaling).to_lowercase(),
        precision: first.spec.precision.as_str().to_string(),
        engine: first.spec.engine.as_str().to_string(),
        recipe_key: first.spec.recipe_key(),
        device: first.spec.device.to_string(),
        runs: runs.len(),
        ok: ok.len(),
        failures,
        final_train_acc: est(&|r| r.summary.final_train_acc),
        final_test_acc: est(&|r| r.summary.final_test_acc),
        final_test_loss: est(&|r| r.summary.final_test_loss),
        gap: est(&|r| r.summary.gap),
        best_test_acc: est(&|r| r.summary.best_test_acc),
        target_acc: first.spec.target_accuracy,
        target: first.spec.target(),
        language_model: first.spec.model.kind == crate::suite::ModelKind::Transformer,
        loss_floor_nats: runs
            .iter()
            .find_map(|r| r.data.as_ref()?.text.as_ref()?.loss_floor_nats),
        reached: times.iter().filter(|t| t.is_some()).count(),
        time_to_target_s: median_with_infinite(&times),
        time_to_target_excl_warmup_s: median_with_infinite(&to_target(&|r| {
            r.summary.time_to_target_excl_warmup_s
        })),
        time_to_target_runs: times,
        steps_to_target: median_with_infinite(&steps),
        steps_to_target_runs: steps,
        samples_to_target: median_with_infinite(&to_target(&|r| {
            r.summary.samples_to_target.map(|s| s as f64)
        })),
        epochs_to_target: median_with_infinite(&to_target(&|r| r.summary.epochs_to_target)),
        samples_per_s: est(&|r| r.summary.samples_per_s),
        warmup_s: est(&|r| r.summary.warmup_s),
        gpu_util: est(&|r| r.telemetry.gpu_util_mean),
        gpu_util_steady: est(&|r| r.telemetry.gpu_util_steady_mean),
        cold_start_s: est(&|r| r.summary.cold_start_s),
        gpu_mem_peak_mib: max(&|r| r.telemetry.gpu_mem_peak_mib),
        energy_j: est(&|r| r.telemetry.energy_j),
        energy_to_target_j: if ok.iter().any(|r| r.telemetry.energy_j.is_some()) {
            median_with_infinite(&to_target(&|r| r.summary.energy_to_target_j))
        } else {
            None
        },
        cpu_util: est(&|r| r.telemetry.cpu_util_mean),
        rss_peak_mib: max(&|r| r.telemetry.rss_peak_mib),
        sharpness: {
            let mut m = BTreeMap::new();
            fn sharpness<'a>(r: &&'a RunRecord) -> Option<&'a BTreeMap<String, Option<f64>>> {
                r.probes.sharpness.as_ref().map(|s| &s.epsilon)
            }
            let eps: BTreeSet<&String> = ok
                .iter()
                .filter_map(sharpness)
                .flat_map(|e| e.keys())
                .collect();
            for e in eps {
                let v: Vec<f64> = ok
                    .iter()
                    .filter_map(|r| sharpness(r)?.get(e).copied().flatten())
                    .collect();
                if let Some(est) = Estimate::of(&v) {
                    m.insert(e.clone(), est);
                }
            }
            m
        },
        curve: aggregate_curves(&ok),
        run_keys: runs.iter().map(|r| r.key.clone()).collect(),
    }
}

/// Mean curve over runs whose evaluation points line up (same steps); points are
/// matched by position and kept while every run has them.
pub(super) fn aggregate_curves(runs: &[&RunRecord]) -> Vec<CurveAggregate> {
    let Some(len) = runs.iter().map(|r| r.curve.len()).min() else {
        return Vec::new();
    };
    (0..len)
        .map(|i| {
            let pts: Vec<_> = runs.iter().map(|r| &r.curve[i]).collect();
            let e = |f: &dyn Fn(&crate::results::CurvePoint) -> f64| {
                Estimate::of(&pts.iter().map(|p| f(p)).collect::<Vec<_>>()).unwrap_or(Estimate {
                    mean: f64::NAN,
                    ci95: None,
                    std: None,
                    n: 0,
                    min: f64::NAN,
                    max: f64::NAN,
                })
            };
            let mean = |f: &dyn Fn(&crate::results::CurvePoint) -> f64| {
                pts.iter().map(|p| f(p)).sum::<f64>() / pts.len() as f64
            };
            let mut probes = BTreeMap::new();
            for (i, (key, first)) in pts[0].probes.values().into_iter().enumerate() {
                if first.is_none() {
                    continue;
                }
                let values: Vec<f64> = pts.iter().filter_map(|p| p.probes.values()[i].1).collect();
                if let Some(e) = Estimate::of(&values) {
                    probes.insert(key.to_string(), e);
                }
            }
            CurveAggregate {
                probes,
                epoch: pts[0].epoch,
                step: pts[0].step,
                samples: pts[0].samples,
                train_s: mean(&|p| p.train_s),
                wall_s: mean(&|p| p.wall_s),
                test_acc: e(&|p| p.test_acc),
                train_acc: e(&|p| p.train_acc),
                test_loss: e(&|p| p.test_loss),
                train_loss: e(&|p| p.train_loss),
            }
        })
        .collect()
}
