//! Families (configurations that differ only in the batch size) and tuned groups
//! (families that differ only in the learning rate), with the labels that say what
//! distinguishes them.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::ConfigSummary;
use super::scaling::{self, CriticalBatch};
use crate::results::record::RunRecord;

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

impl Family {
    /// `"label: "` to start a sentence about this family; empty when the study has
    /// one family (nothing to tell apart).
    pub fn prefix(&self) -> String {
        if self.label.is_empty() {
            String::new()
        } else {
            format!("{}: ", self.label)
        }
    }
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
    /// The best configuration per batch size by steps to target (indices into
    /// [`Study::configs`]), by increasing batch size: the tuned steps and examples
    /// curves and the critical-batch fit use these (Shallue et al. and McCandlish et
    /// al. tune by steps, which machine noise cannot move).
    pub best: Vec<usize>,
    /// The fastest configuration per batch size by training time to target, for the
    /// time chart and "fastest on this hardware".
    #[serde(default)]
    pub fastest: Vec<usize>,
    /// The critical batch size fitted on the tuned steps-to-target curve.
    pub critical_batch: Option<CriticalBatch>,
}

/// The identity of a run's family ([`crate::suite::RunSpec::family_key`]), flattened
/// to `path → value` so families can be labelled by what differs between them.
pub(super) fn family_identity(r: &RunRecord) -> BTreeMap<String, String> {
    let mut flat = BTreeMap::new();
    flatten("", &r.spec.family_identity(), &mut flat);
    // Burn's runs leave the engine out of their identity; series still name it.
    flat.insert("engine".into(), r.spec.engine.as_str().into());
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

/// Groups families that differ only in the base learning rate and picks the best
/// configuration per batch size.
pub(super) fn tuned_groups(
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
            // Best per batch size by `key` (smaller is better; unreached last), ties
            // and unreached broken by the final test accuracy.
            let pick = |key: fn(&ConfigSummary) -> Option<f64>| -> Vec<usize> {
                batches
                    .iter()
                    .filter_map(|&b| {
                        members
                            .iter()
                            .copied()
                            .filter(|&i| configs[i].batch_size == b)
                            .min_by(|&x, &y| {
                                let (cx, cy) = (&configs[x], &configs[y]);
                                let acc = |c: &ConfigSummary| {
                                    c.final_test_acc.map_or(f64::NEG_INFINITY, |e| e.mean)
                                };
                                match (key(cx), key(cy)) {
                                    (Some(a), Some(b)) => a.total_cmp(&b),
                                    (Some(_), None) => std::cmp::Ordering::Less,
                                    (None, Some(_)) => std::cmp::Ordering::Greater,
                                    (None, None) => acc(cy).total_cmp(&acc(cx)),
                                }
                                .then_with(|| acc(cy).total_cmp(&acc(cx)))
                            })
                    })
                    .collect()
            };
            let best = pick(|c| c.steps_to_target);
            let fastest = pick(|c| c.time_to_target_s);
            let mut lrs: Vec<f64> = members.iter().map(|&i| configs[i].lr).collect();
            lrs.sort_by(f64::total_cmp);
            lrs.dedup();
            let per_batch: Vec<(f64, Vec<Option<f64>>)> = best
                .iter()
                .map(|&i| {
                    (
                        configs[i].batch_size as f64,
                        configs[i].steps_to_target_runs.clone(),
                    )
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
                fastest,
                critical_batch: scaling::fit_critical_batch(&per_batch),
            }
        })
        .collect()
}

/// Short names for families: the settings that tell them apart. Greedy, so a label
/// stays short when families differ in many derived settings at once (a ResNet on
/// digits beside a Transformer on text differ in a dozen paths; `model.kind` alone
/// tells them apart): the model kind, the dataset and the engine are tried first, then
/// every other varying setting in order, each kept only if it splits families the
/// settings kept so far leave together.
pub(super) fn family_labels(keys: &[(String, BTreeMap<String, String>)]) -> Vec<String> {
    let all_paths: BTreeSet<&String> = keys.iter().flat_map(|(_, m)| m.keys()).collect();
    let mut varying: Vec<&String> = all_paths
        .into_iter()
        .filter(|p| {
            let values: BTreeSet<Option<&String>> = keys.iter().map(|(_, m)| m.get(*p)).collect();
            values.len() > 1
        })
        .collect();
    let priority = |p: &str| match p {
        "model.kind" => 0,
        "dataset.name" => 1,
        "engine" => 2,
        _ => 3,
    };
    varying.sort_by_key(|p| priority(p));
    // One candidate per setting; schedules and scaling rules are one candidate each.
    let mut candidates: Vec<&String> = Vec::new();
    let mut grouped: BTreeSet<&str> = BTreeSet::new();
    for p in &varying {
        let top = p.split('.').next().unwrap_or(p);
        if p.ends_with("micro_batch_size") || top == "base_batch" {
            continue;
        }
        if matches!(top, "lr_scaling" | "lr_schedule" | "batch_schedule") && !grouped.insert(top) {
            continue;
        }
        candidates.push(p);
    }
    let render = |m: &BTreeMap<String, String>, p: &str| -> String {
        let top = p.split('.').next().unwrap_or(p);
        let v = m.get(p).map_or("-", |v| v.as_str());
        match top {
            // The base batch belongs with the scaling rule it anchors.
            "lr_scaling" => match m.get("base_batch") {
                Some(b) if v != "none" => format!("lr {v} from batch {b}"),
                _ => format!("lr {v}"),
            },
            "lr_schedule" => describe_schedule(m),
            "engine" => v.to_string(),
            "batch_schedule" => describe_batch_schedule(v),
            _ if p == "model.kind" || p == "dataset.name" => v.to_string(),
            _ => format!("{}={v}", short_path(p)),
        }
    };
    let mut classes: Vec<Vec<usize>> = vec![(0..keys.len()).collect()];
    let mut chosen: Vec<&String> = Vec::new();
    for p in candidates {
        let parts: Vec<String> = keys.iter().map(|(_, m)| render(m, p)).collect();
        let splits =
            |c: &Vec<usize>| c.iter().map(|&i| &parts[i]).collect::<BTreeSet<_>>().len() > 1;
        if !classes.iter().any(splits) {
            continue;
        }
        chosen.push(p);
        classes = classes
            .into_iter()
            .flat_map(|c| {
                let mut by: BTreeMap<&String, Vec<usize>> = BTreeMap::new();
                for i in c {
                    by.entry(&parts[i]).or_default().push(i);
                }
                by.into_values().collect::<Vec<_>>()
            })
            .collect();
    }
    keys.iter()
        .map(|(source, m)| {
            let parts: Vec<String> = chosen.iter().map(|p| render(m, p)).collect();
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
