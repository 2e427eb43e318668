//! `batchbench merge`: join the result folders of shards (or of interrupted and
//! resumed sweeps on several machines) into one result set.
//!
//! Shards must come from the same suite (same SHA-256). Runs are matched by key:
//! a key present twice with identical results is a duplicate (an overlapping shard;
//! one copy is kept), with different results a conflict (both are reported, the first
//! is kept); planned runs that no shard holds are gaps.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use super::record::RunRecord;
use super::store::{self, Manifest, Store};
use crate::suite::Suite;

/// What a merge found.
#[derive(Debug, Default)]
pub struct MergeOutcome {
    /// Records written.
    pub records: usize,
    /// Runs the suite plans.
    pub planned: usize,
    /// Keys held by more than one folder with identical results.
    pub duplicates: Vec<String>,
    /// Keys held by more than one folder with different results (run label and folders).
    pub conflicts: Vec<String>,
    /// Planned runs no folder holds (labels).
    pub gaps: Vec<String>,
    /// Lines of the shards' record files that could not be read.
    pub warnings: Vec<String>,
}

impl MergeOutcome {
    /// Whether the merged set is complete and consistent.
    pub fn is_clean(&self) -> bool {
        self.conflicts.is_empty() && self.gaps.is_empty()
    }
}

/// The measured part of a record: what must agree between two copies of a run.
fn measured(r: &RunRecord) -> String {
    let curve: Vec<_> = r
        .curve
        .iter()
        .map(|p| {
            (
                p.step,
                p.train_loss.to_bits(),
                p.test_loss.to_bits(),
                p.train_acc.to_bits(),
                p.test_acc.to_bits(),
            )
        })
        .collect();
    format!("{:?}{:?}", r.status, curve)
}

/// Merges result folders `dirs` into `out`.
pub fn merge(dirs: &[PathBuf], out: &Path, command: &[String]) -> anyhow::Result<MergeOutcome> {
    if dirs.is_empty() {
        bail!("give the shard folders to merge");
    }
    let mut manifests: Vec<(PathBuf, Manifest)> = Vec::new();
    let mut records: Vec<(PathBuf, RunRecord)> = Vec::new();
    let mut warnings = Vec::new();
    for dir in dirs {
        let manifest = Store::read_manifest(dir)?.with_context(|| {
            format!(
                "{} has no manifest.json; is it a results folder written by `batchbench run`?",
                dir.display()
            )
        })?;
        let read = store::read_records(&dir.join(store::RUNS_FILE))?;
        warnings.extend(read.warnings);
        records.extend(
            store::latest_per_key(read.records)
                .into_iter()
                .map(|r| (dir.clone(), r)),
        );
        manifests.push((dir.clone(), manifest));
    }
    let (first_dir, first) = &manifests[0];
    for (dir, m) in &manifests[1..] {
        if m.suite_sha256 != first.suite_sha256 {
            bail!(
                "{} was run from a different suite than {} (suite SHA-256 {} vs {}); only shards of one suite can be merged",
                dir.display(),
                first_dir.display(),
                crate::fmt::short_hash(&m.suite_sha256),
                crate::fmt::short_hash(&first.suite_sha256)
            );
        }
    }
    if out.join(store::RUNS_FILE).exists()
        && std::fs::metadata(out.join(store::RUNS_FILE))?.len() > 0
    {
        bail!(
            "{} already holds records; merge into a new folder",
            out.display()
        );
    }

    let mut outcome = MergeOutcome {
        warnings,
        ..MergeOutcome::default()
    };
    let mut kept: Vec<RunRecord> = Vec::new();
    let mut seen: HashMap<String, (usize, PathBuf)> = HashMap::new();
    for (dir, r) in records {
        match seen.get(&r.key) {
            None => {
                seen.insert(r.key.clone(), (kept.len(), dir));
                kept.push(r);
            }
            Some((i, first_dir)) => {
                if measured(&kept[*i]) == measured(&r) {
                    outcome.duplicates.push(format!(
                        "{} (in {} and {})",
                        r.label(),
                        first_dir.display(),
                        dir.display()
                    ));
                } else {
                    outcome.conflicts.push(format!(
                        "{}: {} and {} hold different results (kept the first)",
                        r.label(),
                        first_dir.display(),
                        dir.display()
                    ));
                }
            }
        }
    }

    // Gaps: the suite's full expansion against the keys found.
    let suite = Suite::parse(Path::new(&first.suite_path), first.suite_text.clone())
        .map_err(|e| anyhow::anyhow!("the manifest's suite no longer parses: {e}"))?;
    let planned = suite.expand().map_err(|e| anyhow::anyhow!("{e}"))?;
    let have: HashSet<&String> = seen.keys().collect();
    outcome.planned = planned.len();
    outcome.gaps = planned
        .iter()
        .filter(|s| !have.contains(&s.key()))
        .map(|s| s.label())
        .collect();
    // Keep the suite's order.
    let order: BTreeMap<String, usize> = planned
        .iter()
        .enumerate()
        .map(|(i, s)| (s.key(), i))
        .collect();
    kept.sort_by_key(|r| order.get(&r.key).copied().unwrap_or(usize::MAX));

    let mut store = Store::open(out)?;
    for r in &kept {
        store.append(r)?;
    }
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    store.write_manifest(&Manifest {
        command: command.to_vec(),
        updated_at: now,
        runs_planned: planned.len(),
        shard: None,
        ..first.clone()
    })?;
    outcome.records = kept.len();
    Ok(outcome)
}
