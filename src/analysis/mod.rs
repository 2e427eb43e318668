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

pub mod advice;
mod config;
mod family;
mod findings;
pub mod scaling;
mod set;

/// The statistics over seeds live in [`crate::stats`] (the report and `compare`
/// use them too); re-exported here where analysis code has always found them.
pub use crate::stats;

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

pub use config::{ConfigSummary, CurveAggregate, optimizer_label};
pub use family::{Family, TunedGroup, config_name};
pub use findings::Finding;
pub use set::{ResultSet, label_sets, load_all, load_result_set};

use config::summarize_config;
use family::{family_identity, family_labels, tuned_groups};

use crate::results::record::RunRecord;

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
        let per_batch: Vec<(f64, Vec<Option<f64>>)> = fam
            .configs
            .iter()
            .map(|&i| {
                let c = &configs[i];
                (c.batch_size as f64, c.steps_to_target_runs.clone())
            })
            .collect();
        fam.critical_batch = scaling::fit_critical_batch(&per_batch);
    }
    let tuned = tuned_groups(&configs, &families, &family_keys);
    let findings = findings::findings(&configs, &families, &tuned);
    Study {
        configs,
        families,
        findings,
        tuned,
    }
}
