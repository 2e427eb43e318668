//! Artifacts a results folder holds beside `runs.jsonl`: the final weights of runs
//! that keep them (`weights/<key>.f32`) and the interpolation curves computed from
//! them after a sweep (`interpolation.json`). Plain data and files, so the report
//! reads them without anything that trains.

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};

use super::store;

/// The file written next to `runs.jsonl`.
pub const INTERPOLATION_FILE: &str = "interpolation.json";
/// The folder holding final weights, one `<key>.f32` file per run.
pub const WEIGHTS_DIR: &str = "weights";

/// One interpolation curve.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InterpolationCurve {
    /// The α = 0 run (smaller batch).
    pub a_key: String,
    /// The α = 1 run (larger batch).
    pub b_key: String,
    /// Batch size at α = 0.
    pub a_batch: u64,
    /// Batch size at α = 1.
    pub b_batch: u64,
    /// The seed both runs share.
    pub seed: u64,
    /// The configuration, as a label.
    pub config: String,
    /// α values.
    pub alphas: Vec<f64>,
    /// Mean cross-entropy on the fixed training subset.
    pub train_loss: Vec<f64>,
    /// Accuracy on the fixed training subset.
    pub train_acc: Vec<f64>,
    /// Mean cross-entropy on the test set.
    pub test_loss: Vec<f64>,
    /// Accuracy on the test set.
    pub test_acc: Vec<f64>,
}

/// Path of a run's saved final weights.
pub fn weights_path(dir: &Path, key: &str) -> PathBuf {
    dir.join(WEIGHTS_DIR).join(format!("{key}.f32"))
}

/// Saves flat weights as little-endian f32.
pub fn save_weights(path: &Path, w: &[f32]) -> anyhow::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let bytes: Vec<u8> = w.iter().flat_map(|v| v.to_le_bytes()).collect();
    store::write_atomic(path, &bytes)
}

/// Reads flat weights written by [`save_weights`].
pub fn load_weights(path: &Path) -> anyhow::Result<Vec<f32>> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    anyhow::ensure!(
        bytes.len() % 4 == 0,
        "{} is not a weights file (length {} is not a multiple of 4)",
        path.display(),
        bytes.len()
    );
    Ok(bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect())
}

/// The interpolation curves of a results folder (none when it has no file or the
/// file cannot be read).
pub fn read_interpolation(dir: &Path) -> Vec<InterpolationCurve> {
    std::fs::read_to_string(dir.join(INTERPOLATION_FILE))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default()
}
