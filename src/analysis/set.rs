//! Result sets: the records of one results folder, and their labels when several
//! are shown side by side.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::results::record::RunRecord;
use crate::results::store::{self, Manifest, Store};

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
    pub interpolation: Vec<crate::results::artifacts::InterpolationCurve>,
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
    if !path.exists() {
        anyhow::bail!(
            "{} does not exist; point at a results folder written by `batchbench run` (e.g. results/quickstart)",
            path.display()
        );
    }
    if !file.exists() {
        anyhow::bail!(
            "{} holds no runs.jsonl; point at a results folder written by `batchbench run` (e.g. results/quickstart)",
            dir.display()
        );
    }
    let read = store::read_records(&file)?;
    let manifest = Store::read_manifest(&dir).ok().flatten();
    let interpolation = crate::results::artifacts::read_interpolation(&dir);
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
        &|r| r.spec.device.to_string(),
        &|r| r.spec.precision.as_str().to_string(),
        &|r| match (&r.env.adapter, r.env.gpus.first()) {
            (Some(adapter), _) => adapter.name.clone(),
            (None, Some(g)) => g.name.clone(),
            (None, None) => r.env.cpu.clone(),
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
