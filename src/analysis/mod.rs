//! Analysis over seeds: from records to configurations, families and findings.
//!
//! - A **configuration** is everything about a run but its seed (the record's
//!   `config_key`), within one result set; its seeds are aggregated: means with 95%
//!   confidence intervals, medians of time/steps/samples to target where a run that
//!   never reached the target counts as infinite (MLPerf), and a mean learning curve
//!   with its band over seeds.
//! - A **family** is a set of configurations that differ only in the batch size (and
//!   the effective learning rate a scaling rule derives from it): the unit of the
//!   scaling plots and of the critical-batch fit.
//! - **Findings** are sentences computed from those numbers, each with its
//!   uncertainty, saying so plainly when a difference is within noise.

pub mod scaling;
pub mod stats;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::results::record::{RunRecord, RunStatus};
use crate::results::store::{self, Manifest, Store};
use scaling::CriticalBatch;
use stats::{Estimate, median_with_infinite};

/// The records of one results folder.
#[derive(Clone, Debug)]
pub struct ResultSet {
    /// How the set is named in reports (what distinguishes it from the others).
    pub label: String,
    /// The folder.
    pub dir: PathBuf,
    /// The last record of each run key.
    pub records: Vec<RunRecord>,
    /// The manifest, when present.
    pub manifest: Option<Manifest>,
    /// Lines that could not be read.
    pub warnings: Vec<String>,
    /// Interpolation curves computed after the sweep (interpolation.json), if any.
    pub interpolation: Vec<crate::probe::interpolation::InterpolationCurve>,
}

/// Reads a results folder (or a `runs.jsonl` file).
pub fn load_result_set(path: &Path) -> anyhow::Result<ResultSet> {
    let (dir, file) = if path.is_dir() {
        (path.to_path_buf(), path.join(store::RUNS_FILE))
    } else {
        (
            path.parent().unwrap_or(Path::new(".")).to_path_buf(),
            path.to_path_buf(),
        )
    };
    if !file.exists() {
        anyhow::bail!(
            "{} holds no runs.jsonl; point at a results folder written by `batchbench run` (e.g. results/quickstart)",
            dir.display()
        );
    }
    let read = store::read_records(&file)?;
    let manifest = Store::read_manifest(&dir).ok().flatten();
    let interpolation =
        std::fs::read_to_string(dir.join(crate::probe::interpolation::INTERPOLATION_FILE))
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default();
    Ok(ResultSet {
        interpolation,
        label: dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        dir,
        records: store::latest_per_key(read.records),
        manifest,
        warnings: read.warnings,
    })
}

/// Names result sets by what differs between them: the device, the precision, the
/// testbed, else the folder name.
pub fn label_sets(sets: &mut [ResultSet]) {
    if sets.len() < 2 {
        if let Some(s) = sets.first_mut() {
            s.label.clear();
        }
        return;
    }
    let describe = |s: &ResultSet, f: &dyn Fn(&RunRecord) -> String| -> String {
        let values: BTreeSet<String> = s.records.iter().map(f).collect();
        values.into_iter().collect::<Vec<_>>().join("+")
    };
    let candidates: [&dyn Fn(&RunRecord) -> String; 3] = [
        &|r| r.spec.device.clone(),
        &|r| r.spec.precision.as_str().to_string(),
        &|r| {
            r.env
                .gpus
                .first()
                .map_or_else(|| r.env.cpu.clone(), |g| g.name.clone())
        },
    ];
    for f in candidates {
        let labels: Vec<String> = sets.iter().map(|s| describe(s, f)).collect();
        let distinct: BTreeSet<&String> = labels.iter().collect();
        if distinct.len() == sets.len() {
            for (s, l) in sets.iter_mut().zip(labels) {
                s.label = l;
            }
            return;
        }
    }
    // Fall back to folder names, made unique.
    let mut seen: HashMap<String, usize> = HashMap::new();
    for s in sets.iter_mut() {
        let n = seen.entry(s.label.clone()).or_default();
        *n += 1;
        if *n > 1 {
            s.label = format!("{} ({})", s.label, n);
        }
    }
}

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
#[derive(Clone, Debug, Serialize, Deserialize)]
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
    /// Generalization gap (train − test accuracy).
    pub gap: Option<Estimate>,
    /// Best test accuracy.
    pub best_test_acc: Option<Estimate>,
    /// The target accuracy.
    pub target_acc: Option<f64>,
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

/// Configurations that differ only by batch size.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Family {
    /// What distinguishes this family from the others (empty when there is one).
    pub label: String,
    /// Result-set label.
    pub source: String,
    /// Indices into [`Study::configs`], by increasing batch size.
    pub configs: Vec<usize>,
    /// The critical batch size fitted on steps vs samples to target, when possible.
    pub critical_batch: Option<CriticalBatch>,
}

/// Per-batch-size tuning (Shallue et al. 2018): families that differ only in the
/// learning rate, and for each batch size the configuration that reached the target
/// fastest (or, when none did, the best final test accuracy).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TunedGroup {
    /// What the group shares (its families' common label, without the learning rate).
    pub label: String,
    /// The learning rates tried.
    pub lrs: Vec<f64>,
    /// The best configuration per batch size (indices into [`Study::configs`]), by
    /// increasing batch size.
    pub best: Vec<usize>,
    /// The critical batch size fitted on the tuned steps-to-target curve.
    pub critical_batch: Option<CriticalBatch>,
}

/// A computed statement for the report's headline.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// Short title: "Fastest to 95%".
    pub title: String,
    /// The sentence, with figures and uncertainty.
    pub text: String,
}

/// Everything the report shows, computed from records.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Study {
    /// Configurations, grouped by family then batch size.
    pub configs: Vec<ConfigSummary>,
    /// Families.
    pub families: Vec<Family>,
    /// Headline findings.
    pub findings: Vec<Finding>,
    /// Per-batch-size learning-rate tuning, where the suite swept the learning rate.
    pub tuned: Vec<TunedGroup>,
}

fn optimizer_label(r: &RunRecord) -> String {
    let o = &r.spec.optimizer;
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

/// The identity of a run's family: its spec without seed, batch size and the learning
/// rate derived from the batch size, flattened to `path → value`.
fn family_identity(r: &RunRecord) -> BTreeMap<String, String> {
    let mut v = serde_json::to_value(&r.spec).expect("spec serializes");
    let map = v.as_object_mut().expect("object");
    // The budget may be set per batch size (a large batch trained for more epochs);
    // it does not make another family.
    for f in [
        "seed",
        "batch_size",
        "micro_batch_size",
        "lr",
        "suite",
        "timeout_s",
        "device",
        "epochs",
        "samples",
        "eval_every",
        "probes",
    ] {
        map.remove(f);
    }
    let mut flat = BTreeMap::new();
    flatten("", &v, &mut flat);
    flat
}

fn flatten(prefix: &str, v: &serde_json::Value, out: &mut BTreeMap<String, String>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, v) in m {
                let p = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&p, v, out);
            }
        }
        other => {
            out.insert(
                prefix.to_string(),
                other.to_string().trim_matches('"').to_string(),
            );
        }
    }
}

/// Aggregates records of one configuration.
fn summarize_config(source: &str, runs: &[&RunRecord]) -> ConfigSummary {
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
    ConfigSummary {
        source: source.to_string(),
        config_key: first.config_key.clone(),
        family: 0,
        model: first.spec.model_label(),
        dataset: first.spec.dataset.name.to_string(),
        optimizer: optimizer_label(first),
        batch_size: first.spec.batch_size,
        epochs: first.spec.epochs,
        accumulate: first.spec.accumulate,
        lr: first.spec.lr,
        lr_scaling: format!("{:?}", first.spec.lr_scaling).to_lowercase(),
        precision: first.spec.precision.as_str().to_string(),
        device: first.spec.device.clone(),
        runs: runs.len(),
        ok: ok.len(),
        failures,
        final_train_acc: est(&|r| r.summary.final_train_acc),
        final_test_acc: est(&|r| r.summary.final_test_acc),
        gap: est(&|r| r.summary.gap),
        best_test_acc: est(&|r| r.summary.best_test_acc),
        target_acc: first.spec.target_accuracy,
        reached: times.iter().filter(|t| t.is_some()).count(),
        time_to_target_s: median_with_infinite(&times),
        time_to_target_excl_warmup_s: median_with_infinite(&to_target(&|r| {
            r.summary.time_to_target_excl_warmup_s
        })),
        time_to_target_runs: times,
        steps_to_target: median_with_infinite(&to_target(&|r| {
            r.summary.steps_to_target.map(|s| s as f64)
        })),
        samples_to_target: median_with_infinite(&to_target(&|r| {
            r.summary.samples_to_target.map(|s| s as f64)
        })),
        epochs_to_target: median_with_infinite(&to_target(&|r| r.summary.epochs_to_target)),
        samples_per_s: est(&|r| r.summary.samples_per_s),
        warmup_s: est(&|r| r.summary.warmup_s),
        gpu_util: est(&|r| r.telemetry.gpu_util_mean),
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
            let eps: BTreeSet<String> = ok
                .iter()
                .filter_map(|r| {
                    r.probes
                        .get("sharpness")?
                        .get("epsilon")?
                        .as_object()
                        .map(|o| o.keys().cloned().collect::<Vec<_>>())
                })
                .flatten()
                .collect();
            for e in eps {
                let v: Vec<f64> = ok
                    .iter()
                    .filter_map(|r| r.probes.get("sharpness")?.get("epsilon")?.get(&e)?.as_f64())
                    .collect();
                if let Some(est) = Estimate::of(&v) {
                    m.insert(e, est);
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
fn aggregate_curves(runs: &[&RunRecord]) -> Vec<CurveAggregate> {
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
            for key in pts[0].probes.keys() {
                let values: Vec<f64> = pts
                    .iter()
                    .filter_map(|p| p.probes.get(key).and_then(|v| v.as_f64()))
                    .collect();
                if let Some(e) = Estimate::of(&values) {
                    probes.insert(key.clone(), e);
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

/// Builds the study from result sets (already labelled).
pub fn analyze(sets: &[ResultSet]) -> Study {
    // Group by (source, config_key), keeping first-seen order.
    let mut order: Vec<(String, String)> = Vec::new();
    let mut groups: HashMap<(String, String), Vec<&RunRecord>> = HashMap::new();
    let mut identities: HashMap<(String, String), BTreeMap<String, String>> = HashMap::new();
    for set in sets {
        for r in &set.records {
            let k = (set.label.clone(), r.config_key.clone());
            if !groups.contains_key(&k) {
                order.push(k.clone());
                identities.insert(k.clone(), family_identity(r));
            }
            groups.entry(k).or_default().push(r);
        }
    }
    let mut configs: Vec<ConfigSummary> = order
        .iter()
        .map(|k| {
            let mut runs = groups[k].clone();
            runs.sort_by_key(|r| r.spec.seed);
            summarize_config(&k.0, &runs)
        })
        .collect();

    // Families: same source and identity.
    let mut family_keys: Vec<(String, BTreeMap<String, String>)> = Vec::new();
    for (i, k) in order.iter().enumerate() {
        let id = (k.0.clone(), identities[k].clone());
        let f = match family_keys.iter().position(|x| *x == id) {
            Some(f) => f,
            None => {
                family_keys.push(id);
                family_keys.len() - 1
            }
        };
        configs[i].family = f;
    }
    let labels = family_labels(&family_keys);
    let mut families: Vec<Family> = family_keys
        .iter()
        .zip(labels)
        .enumerate()
        .map(|(f, ((source, _), label))| {
            let mut members: Vec<usize> = (0..configs.len())
                .filter(|&i| configs[i].family == f)
                .collect();
            members.sort_by_key(|&i| configs[i].batch_size);
            Family {
                label,
                source: source.clone(),
                configs: members,
                critical_batch: None,
            }
        })
        .collect();
    for fam in &mut families {
        let points: Vec<(f64, f64, f64)> = fam
            .configs
            .iter()
            .filter_map(|&i| {
                let c = &configs[i];
                Some((
                    c.batch_size as f64,
                    c.steps_to_target?,
                    c.samples_to_target?,
                ))
            })
            .collect();
        fam.critical_batch = scaling::fit_critical_batch(&points);
    }
    let tuned = tuned_groups(&configs, &families, &family_keys);
    let findings = findings(&configs, &families, &tuned);
    Study {
        configs,
        families,
        findings,
        tuned,
    }
}

/// Groups families that differ only in the base learning rate and picks the best
/// configuration per batch size.
fn tuned_groups(
    configs: &[ConfigSummary],
    families: &[Family],
    keys: &[(String, BTreeMap<String, String>)],
) -> Vec<TunedGroup> {
    let mut groups: Vec<((String, BTreeMap<String, String>), Vec<usize>)> = Vec::new();
    for (f, (source, id)) in keys.iter().enumerate() {
        let mut id = id.clone();
        id.remove("lr_base");
        let k = (source.clone(), id);
        match groups.iter_mut().find(|(g, _)| *g == k) {
            Some((_, members)) => members.push(f),
            None => groups.push((k, vec![f])),
        }
    }
    groups
        .into_iter()
        .filter(|(_, fams)| fams.len() >= 2)
        .map(|(_, fams)| {
            let members: Vec<usize> = fams
                .iter()
                .flat_map(|&f| families[f].configs.iter().copied())
                .collect();
            let batches: BTreeSet<u64> = members.iter().map(|&i| configs[i].batch_size).collect();
            let best: Vec<usize> = batches
                .iter()
                .filter_map(|&b| {
                    let at_b = members
                        .iter()
                        .copied()
                        .filter(|&i| configs[i].batch_size == b);
                    at_b.min_by(|&x, &y| {
                        let (cx, cy) = (&configs[x], &configs[y]);
                        match (cx.time_to_target_s, cy.time_to_target_s) {
                            (Some(a), Some(b)) => a.total_cmp(&b),
                            (Some(_), None) => std::cmp::Ordering::Less,
                            (None, Some(_)) => std::cmp::Ordering::Greater,
                            (None, None) => {
                                let acc = |c: &ConfigSummary| {
                                    c.final_test_acc.map_or(f64::NEG_INFINITY, |e| e.mean)
                                };
                                acc(cy).total_cmp(&acc(cx))
                            }
                        }
                    })
                })
                .collect();
            let mut lrs: Vec<f64> = members.iter().map(|&i| configs[i].lr).collect();
            lrs.sort_by(f64::total_cmp);
            lrs.dedup();
            let points: Vec<(f64, f64, f64)> = best
                .iter()
                .filter_map(|&i| {
                    Some((
                        configs[i].batch_size as f64,
                        configs[i].steps_to_target?,
                        configs[i].samples_to_target?,
                    ))
                })
                .collect();
            let label = families[fams[0]]
                .label
                .split(", ")
                .filter(|p| !p.starts_with("lr_base="))
                .collect::<Vec<_>>()
                .join(", ");
            TunedGroup {
                label,
                lrs,
                best,
                critical_batch: scaling::fit_critical_batch(&points),
            }
        })
        .collect()
}

/// Short names for families: the settings whose values differ between them.
fn family_labels(keys: &[(String, BTreeMap<String, String>)]) -> Vec<String> {
    let all_paths: BTreeSet<&String> = keys.iter().flat_map(|(_, m)| m.keys()).collect();
    let varying: Vec<&String> = all_paths
        .into_iter()
        .filter(|p| {
            let values: BTreeSet<Option<&String>> = keys.iter().map(|(_, m)| m.get(*p)).collect();
            values.len() > 1
        })
        .collect();
    keys.iter()
        .map(|(source, m)| {
            let mut parts: Vec<String> = Vec::new();
            let mut done: BTreeSet<&str> = BTreeSet::new();
            for p in &varying {
                let top = p.split('.').next().unwrap_or(p);
                if p.ends_with("micro_batch_size")
                    || top == "base_batch"
                    || !done.insert(top) && top != p.as_str()
                {
                    continue;
                }
                let v = m.get(*p).map_or("-", |v| v.as_str());
                parts.push(match top {
                    // The base batch belongs with the scaling rule it anchors.
                    "lr_scaling" => match m.get("base_batch") {
                        Some(b) if v != "none" => format!("lr {v} from batch {b}"),
                        _ => format!("lr {v}"),
                    },
                    "lr_schedule" => describe_schedule(m),
                    "batch_schedule" => describe_batch_schedule(v),
                    _ => format!("{}={v}", short_path(p)),
                });
            }
            let mut label = parts.join(", ");
            if !source.is_empty() {
                label = if label.is_empty() {
                    source.clone()
                } else {
                    format!("{source} · {label}")
                };
            }
            label
        })
        .collect()
}

/// `lr constant`, `lr ×0.2 at epochs 10, 20`, `lr cosine`.
fn describe_schedule(m: &BTreeMap<String, String>) -> String {
    let get = |k: &str| {
        m.get(&format!("lr_schedule.{k}"))
            .map(String::as_str)
            .unwrap_or("-")
    };
    match get("kind") {
        "step" => format!(
            "lr ×{} at epochs {}",
            if get("gamma") == "-" {
                "0.1"
            } else {
                get("gamma")
            },
            get("milestones")
                .trim_matches(|c| c == '[' || c == ']')
                .replace(".0", "")
                .replace(',', ", ")
        ),
        kind => format!("lr {kind}"),
    }
}

/// `fixed batch`, or `batch raised to 320 at epoch 10, 1600 at epoch 20`.
fn describe_batch_schedule(v: &str) -> String {
    let steps: Vec<crate::suite::BatchStep> = serde_json::from_str(v).unwrap_or_default();
    if steps.is_empty() {
        return "fixed batch".into();
    }
    let list: Vec<String> = steps
        .iter()
        .map(|s| format!("{} at epoch {}", s.batch_size, s.epoch))
        .collect();
    format!("batch raised to {}", list.join(", "))
}

fn short_path(p: &str) -> &str {
    p.strip_prefix("model.")
        .or_else(|| p.strip_prefix("optimizer."))
        .or_else(|| p.strip_prefix("dataset."))
        .unwrap_or(p)
}

/// A configuration's name in sentences: batch size, plus its family when several.
pub fn config_name(c: &ConfigSummary, families: &[Family]) -> String {
    let fam = &families[c.family].label;
    if fam.is_empty() {
        format!("batch {}", c.batch_size)
    } else {
        format!("batch {} ({fam})", c.batch_size)
    }
}

fn pct(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
}

fn pct_ci(e: &Estimate) -> String {
    match e.ci95 {
        Some(h) => format!("{:.1}% ± {:.1}", e.mean * 100.0, h * 100.0),
        None => format!("{:.1}% (one run, no interval)", e.mean * 100.0),
    }
}

/// Seconds with sensible precision.
pub fn secs(s: f64) -> String {
    if s < 0.1 {
        format!("{:.3} s", s)
    } else if s < 10.0 {
        format!("{:.2} s", s)
    } else {
        format!("{:.0} s", s)
    }
}

fn findings(configs: &[ConfigSummary], families: &[Family], tuned: &[TunedGroup]) -> Vec<Finding> {
    let mut out = Vec::new();
    let name = |c: &ConfigSummary| config_name(c, families);

    // Fastest to target.
    let target = configs.iter().find_map(|c| c.target_acc);
    if let Some(t) = target {
        let mut reached: Vec<&ConfigSummary> = configs
            .iter()
            .filter(|c| c.time_to_target_s.is_some())
            .collect();
        reached.sort_by(|a, b| {
            a.time_to_target_s
                .unwrap()
                .total_cmp(&b.time_to_target_s.unwrap())
        });
        let title = format!("Fastest to {}", pct(t));
        match reached.as_slice() {
            [] => out.push(Finding {
                title,
                text: format!("No configuration reached {} test accuracy in the budget (counted as never, MLPerf-style).", pct(t)),
            }),
            [best, rest @ ..] => {
                let range = |c: &ConfigSummary| {
                    let v: Vec<f64> = c.time_to_target_runs.iter().flatten().copied().collect();
                    (v.iter().copied().fold(f64::INFINITY, f64::min), v.iter().copied().fold(0.0, f64::max))
                };
                let (lo, hi) = range(best);
                let mut text = format!(
                    "{}: median {} of training ({} of {} runs reached it; range {} to {}).",
                    name(best),
                    secs(best.time_to_target_s.unwrap()),
                    best.reached,
                    best.runs,
                    secs(lo),
                    secs(hi)
                );
                if let Some(second) = rest.first() {
                    let (lo2, _) = range(second);
                    if lo2 <= hi {
                        text.push_str(&format!(
                            " Within noise of {} (median {}): their per-seed times overlap.",
                            name(second),
                            secs(second.time_to_target_s.unwrap())
                        ));
                    } else {
                        text.push_str(&format!(
                            " Next: {} at {} ({:.1}× slower; every seed slower than every seed of the fastest).",
                            name(second),
                            secs(second.time_to_target_s.unwrap()),
                            second.time_to_target_s.unwrap() / best.time_to_target_s.unwrap()
                        ));
                    }
                }
                let never: Vec<String> = configs.iter().filter(|c| c.reached == 0).map(|c| name(c)).collect();
                if !never.is_empty() {
                    text.push_str(&format!(" Never reached: {}.", never.join(", ")));
                }
                out.push(Finding { title, text });
            }
        }
    }

    // Best final test accuracy.
    let mut by_acc: Vec<&ConfigSummary> = configs
        .iter()
        .filter(|c| c.final_test_acc.is_some())
        .collect();
    by_acc.sort_by(|a, b| {
        b.final_test_acc
            .unwrap()
            .mean
            .total_cmp(&a.final_test_acc.unwrap().mean)
    });
    if let Some(best) = by_acc.first() {
        let e = best.final_test_acc.unwrap();
        let ties: Vec<String> = by_acc[1..]
            .iter()
            .filter(|c| c.final_test_acc.unwrap().overlaps(&e) && e.ci95.is_some())
            .map(|c| name(c))
            .collect();
        let mut text = format!(
            "{}: {} final test accuracy (mean ± 95% CI over seeds).",
            name(best),
            pct_ci(&e)
        );
        if !ties.is_empty() {
            let shown: Vec<String> = ties.iter().take(5).cloned().collect();
            let more = if ties.len() > 5 {
                format!(" and {} more", ties.len() - 5)
            } else {
                String::new()
            };
            text.push_str(&format!(" Within noise: {}{more}.", shown.join(", ")));
        }
        out.push(Finding {
            title: "Best final test accuracy".into(),
            text,
        });
    }

    // Generalization gap, per family with several batch sizes.
    for fam in families.iter().filter(|f| f.configs.len() >= 2) {
        let members: Vec<&ConfigSummary> = fam
            .configs
            .iter()
            .map(|&i| &configs[i])
            .filter(|c| c.gap.is_some())
            .collect();
        let Some(first) = members.first() else {
            continue;
        };
        let base = first.gap.unwrap();
        let opens = members[1..].iter().find(|c| {
            let g = c.gap.unwrap();
            g.ci95.is_some() && base.ci95.is_some() && g.interval().0 > base.interval().1
        });
        let last = members.last().unwrap();
        let prefix = if fam.label.is_empty() {
            String::new()
        } else {
            format!("{}: ", fam.label)
        };
        let text = match opens {
            Some(c) => format!(
                "{prefix}the train−test gap grows beyond noise from batch {} ({:.1} points ± {}) to batch {} ({:.1} ± {}); at batch {} it is {:.1} points.",
                first.batch_size,
                base.mean * 100.0,
                base.ci95
                    .map_or("–".into(), |h| format!("{:.1}", h * 100.0)),
                c.batch_size,
                c.gap.unwrap().mean * 100.0,
                c.gap
                    .unwrap()
                    .ci95
                    .map_or("–".into(), |h| format!("{:.1}", h * 100.0)),
                last.batch_size,
                last.gap.unwrap().mean * 100.0
            ),
            None => format!(
                "{prefix}no batch size shows a train−test gap larger than batch {}'s ({:.1} points) beyond noise; at batch {} it is {:.1} points.",
                first.batch_size,
                base.mean * 100.0,
                last.batch_size,
                last.gap.unwrap().mean * 100.0
            ),
        };
        out.push(Finding {
            title: "Generalization gap".into(),
            text,
        });
    }

    // Critical batch size.
    for fam in families {
        if let Some(cb) = &fam.critical_batch {
            let prefix = if fam.label.is_empty() {
                String::new()
            } else {
                format!("{}: ", fam.label)
            };
            out.push(Finding {
                title: "Critical batch size".into(),
                text: format!("{prefix}{}", cb.describe()),
            });
        }
    }

    // Tuned learning rates.
    for t in tuned {
        let picks: Vec<String> = t
            .best
            .iter()
            .map(|&i| {
                format!(
                    "batch {} → lr {}",
                    configs[i].batch_size,
                    crate::suite::spec::format_lr(configs[i].lr)
                )
            })
            .collect();
        let mut text = format!(
            "best learning rate per batch size (by time to target, else final test accuracy) among {}: {}.",
            t.lrs
                .iter()
                .map(|l| crate::suite::spec::format_lr(*l))
                .collect::<Vec<_>>()
                .join(", "),
            picks.join("; ")
        );
        if let Some(cb) = &t.critical_batch {
            text.push_str(&format!(" On the tuned curve, {}", cb.describe()));
        }
        out.push(Finding {
            title: "Tuned per batch size".into(),
            text,
        });
    }

    // Sharpness.
    for fam in families.iter().filter(|f| f.configs.len() >= 2) {
        let with: Vec<&ConfigSummary> = fam
            .configs
            .iter()
            .map(|&i| &configs[i])
            .filter(|c| c.sharpness.contains_key("1e-3"))
            .collect();
        if let (Some(a), Some(b)) = (with.first(), with.last())
            && a.batch_size != b.batch_size
        {
            let (ea, eb) = (a.sharpness["1e-3"], b.sharpness["1e-3"]);
            let verdict = if ea.ci95.is_some() && eb.ci95.is_some() && !ea.overlaps(&eb) {
                if eb.mean > ea.mean {
                    "sharper, beyond noise (as Keskar et al. report)"
                } else {
                    "flatter, beyond noise (unlike Keskar et al.'s observation)"
                }
            } else {
                "no different within noise"
            };
            let ci = |e: &Estimate| e.ci95.map(|h| format!(" ± {h:.2}")).unwrap_or_default();
            let prefix = if fam.label.is_empty() {
                String::new()
            } else {
                format!("{}: ", fam.label)
            };
            out.push(Finding {
                title: "Sharpness".into(),
                text: format!(
                    "{prefix}ε = 1e-3 sharpness is {:.2}{} at batch {} and {:.2}{} at batch {}: the large-batch minimum is {verdict}.",
                    ea.mean, ci(&ea), a.batch_size, eb.mean, ci(&eb), b.batch_size
                ),
            });
        }
    }

    // Noise scale against the critical batch.
    let last_noise: Vec<f64> = configs
        .iter()
        .filter_map(|c| c.curve.last()?.probes.get("noise_scale").map(|e| e.mean))
        .filter(|v| v.is_finite() && *v > 0.0)
        .collect();
    if let Some(med) = crate::analysis::stats::median_with_infinite(
        &last_noise.iter().map(|v| Some(*v)).collect::<Vec<_>>(),
    ) {
        let lo = last_noise.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = last_noise.iter().copied().fold(0.0, f64::max);
        let crit: Vec<String> = families
            .iter()
            .filter_map(|f| f.critical_batch.as_ref()?.b_crit)
            .map(|b| format!("{b:.0}"))
            .collect();
        let text = format!(
            "B_simple = tr(Σ)/|G|² at the end of training: median {med:.0} over configurations (range {lo:.0} to {hi:.0}). {}",
            if crit.is_empty() {
                "No critical batch size could be fitted from steps-to-target to compare it with."
                    .to_string()
            } else {
                format!(
                    "The critical batch size fitted on steps vs examples to target: {} (McCandlish et al. predict B_crit ≈ B_simple, within a small factor).",
                    crit.join(", ")
                )
            }
        );
        out.push(Finding {
            title: "Gradient noise scale".into(),
            text,
        });
    }

    // Failures.
    let failed: Vec<String> = configs
        .iter()
        .filter(|c| !c.failures.is_empty())
        .map(|c| {
            let f: Vec<String> = c.failures.iter().map(|(s, n)| format!("{n} {s}")).collect();
            format!("{} ({})", name(c), f.join(", "))
        })
        .collect();
    if !failed.is_empty() {
        out.push(Finding {
            title: "Failed runs".into(),
            text: format!(
                "{}. Failed runs count as not reaching the target.",
                failed.join("; ")
            ),
        });
    }
    out
}

/// Loads result sets from folders, labelled by what distinguishes them.
pub fn load_all(dirs: &[PathBuf]) -> anyhow::Result<Vec<ResultSet>> {
    let mut sets = dirs
        .iter()
        .map(|d| {
            load_result_set(d).with_context(|| format!("cannot read results from {}", d.display()))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    label_sets(&mut sets);
    Ok(sets)
}
