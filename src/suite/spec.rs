//! `RunSpec`: one fully resolved training run, and `RunKey`, its stable identity.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::schema::*;

/// Everything that defines one training run, with every default written out.
///
/// This is what a worker process receives and what the record's `spec` holds, so a
/// record alone is enough to rerun it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RunSpec {
    /// The suite the run belongs to.
    pub suite: String,
    /// The dataset, defaults resolved.
    pub dataset: DatasetSpec,
    /// The model, defaults resolved.
    pub model: ModelSpec,
    /// The optimizer, defaults resolved.
    pub optimizer: OptimizerSpec,
    /// The effective batch size: `micro_batch_size × accumulate` examples per update.
    pub batch_size: u64,
    /// Examples per forward/backward pass.
    pub micro_batch_size: u64,
    /// Micro-batches accumulated per optimizer step.
    pub accumulate: u64,
    /// The effective peak learning rate, after the scaling rule.
    pub lr: f64,
    /// The learning rate as written in the suite (at `base_batch`).
    pub lr_base: f64,
    /// The scaling rule applied to `lr_base`.
    pub lr_scaling: LrScaling,
    /// The batch size `lr_base` refers to (none when no scaling is applied).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_batch: Option<u64>,
    /// The schedule after warm-up.
    pub lr_schedule: LrSchedule,
    /// Linear warm-up length in epochs.
    pub warmup_epochs: f64,
    /// Batch sizes that replace `batch_size` from given epochs on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_schedule: Option<Vec<BatchStep>>,
    /// The budget in epochs (derived from `samples` when that was given).
    pub epochs: f64,
    /// The budget in training examples seen.
    pub samples: u64,
    /// Evaluation interval in epochs.
    pub eval_every: f64,
    /// Size of the fixed training subset used for train loss and accuracy.
    pub eval_train_samples: u64,
    /// The target test accuracy, if the suite sets one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_accuracy: Option<f64>,
    /// A target on another metric (an accuracy target is `target_accuracy`, so keys of
    /// suites written before stay the same).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<Target>,
    /// The run ends when it first reaches its target (left out when false, so older
    /// keys stay valid).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub stop_at_target: bool,
    /// Augmentation of each training batch on the device.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub augment: Option<Augment>,
    /// Float type of the model.
    pub precision: Precision,
    /// The framework that trains (left out for Burn, so older keys stay valid).
    #[serde(default, skip_serializing_if = "Engine::is_burn")]
    pub engine: Engine,
    /// Seed of initialization and data order.
    pub seed: u64,
    /// The device: as requested in the suite until the runner resolves it, then the
    /// device actually used (`cpu`, `cuda:N` or `wgpu:N`).
    pub device: DeviceRequest,
    /// Wall-clock limit of the run after warm-up, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_s: Option<f64>,
    /// Wall-clock limit of the run's warm-up, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warmup_timeout_s: Option<f64>,
    /// Probes to run (they never change what is trained, so they are not part of
    /// the key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probes: Option<ProbeSpec>,
}

impl RunSpec {
    /// The run's identity: a hash of everything that changes what is computed.
    ///
    /// Leaves out the suite name, the device and the time limit, so the same
    /// configuration run by another suite, on another machine or on a GPU instead of a
    /// CPU has the same key and `compare` can match them.
    pub fn key(&self) -> String {
        hash_canonical(&self.identity(true))
    }

    /// The configuration's identity: the key without the seed, shared by all seeds of
    /// one configuration (what the report aggregates over).
    pub fn config_key(&self) -> String {
        hash_canonical(&self.identity(false))
    }

    /// The family's identity: what the configurations of one batch-size study share —
    /// the configuration without the batch size and what is derived from it or set
    /// per batch size (micro-batch, effective learning rate, budget, evaluation
    /// interval). Analysis groups families by it, the interpolation probe pairs runs
    /// within it, `max-batch` searches once per family.
    pub fn family_key(&self) -> String {
        hash_canonical(&self.family_identity())
    }

    /// The recipe's identity: the configuration without the engine — what runs of
    /// different frameworks share when they train the same thing (the report compares
    /// engines within a recipe).
    pub fn recipe_key(&self) -> String {
        let mut value = self.identity(false);
        if let Some(map) = value.as_object_mut() {
            map.remove("engine");
        }
        hash_canonical(&value)
    }

    /// The fields [`family_key`](Self::family_key) leaves out of the configuration.
    pub const PER_BATCH_FIELDS: &'static [&'static str] = &[
        "seed",
        "batch_size",
        "micro_batch_size",
        "lr",
        "epochs",
        "samples",
        "eval_every",
    ];

    /// The family's identity as JSON (see [`family_key`](Self::family_key)).
    pub fn family_identity(&self) -> serde_json::Value {
        let mut value = self.identity(false);
        let map = value.as_object_mut().expect("RunSpec is an object");
        for field in Self::PER_BATCH_FIELDS {
            map.remove(*field);
        }
        value
    }

    fn identity(&self, with_seed: bool) -> serde_json::Value {
        let mut value = serde_json::to_value(self).expect("RunSpec serializes");
        let map = value.as_object_mut().expect("RunSpec is an object");
        for field in ["suite", "device", "timeout_s", "warmup_timeout_s", "probes"] {
            map.remove(field);
        }
        // Where the data files are does not change what they hold (their hashes are in
        // the record); keys stay the same across machines.
        if let Some(d) = map.get_mut("dataset").and_then(|d| d.as_object_mut()) {
            d.remove("path");
        }
        if !with_seed {
            map.remove("seed");
        }
        value
    }

    /// The run's target, whichever way the suite wrote it.
    pub fn target(&self) -> Option<Target> {
        self.target.or(self.target_accuracy.map(Target::accuracy))
    }

    /// Optimizer steps the budget makes (without a batch schedule: samples / batch).
    pub fn steps(&self) -> u64 {
        match &self.batch_schedule {
            None => self.samples / self.batch_size.max(1),
            Some(schedule) => {
                let per_epoch = self.samples as f64 / self.epochs.max(f64::MIN_POSITIVE);
                let mut bounds: Vec<(f64, u64)> = vec![(0.0, self.batch_size)];
                bounds.extend(schedule.iter().map(|s| (s.epoch, s.batch_size)));
                bounds
                    .iter()
                    .enumerate()
                    .map(|(i, &(from, b))| {
                        let to = bounds.get(i + 1).map_or(self.epochs, |n| n.0);
                        ((to - from).max(0.0) * per_epoch / b.max(1) as f64) as u64
                    })
                    .sum()
            }
        }
    }

    /// A short human label: model, batch size, learning rate and seed (and the engine
    /// when it is not Burn).
    pub fn label(&self) -> String {
        let engine = if self.engine.is_burn() {
            String::new()
        } else {
            format!(" [{}]", self.engine.as_str())
        };
        format!(
            "{} b={} lr={} seed={}{engine}",
            self.model_label(),
            self.batch_size,
            crate::fmt::lr(self.lr),
            self.seed
        )
    }

    /// The model in a few characters: `mlp[512,512]`, `cnn[16,32]`, `logreg`.
    pub fn model_label(&self) -> String {
        let list = |v: &Option<Vec<u64>>| {
            v.as_ref()
                .map(|v| v.iter().map(u64::to_string).collect::<Vec<_>>().join(","))
                .unwrap_or_default()
        };
        match self.model.kind {
            ModelKind::Logreg => "logreg".into(),
            ModelKind::Mlp => format!("mlp[{}]", list(&self.model.hidden)),
            ModelKind::Cnn => format!(
                "cnn[{}|{}]",
                list(&self.model.channels),
                list(&self.model.hidden)
            ),
            ModelKind::Resnet => {
                let norm = match (self.model.norm, self.model.ghost_batch) {
                    (Some(Norm::Ghost), Some(g)) => format!(",ghost{g}"),
                    (Some(Norm::None), _) => ",nonorm".into(),
                    _ => String::new(),
                };
                format!(
                    "resnet{}[{}{norm}]",
                    self.model.depth.unwrap_or(20),
                    list(&self.model.widths)
                )
            }
            ModelKind::Transformer => format!(
                "transformer[{}x{}h{}]",
                self.model.layers.unwrap_or(2),
                self.model.d_model.unwrap_or(64),
                self.model.heads.unwrap_or(4)
            ),
        }
    }
}

/// SHA-256 of serde_json's rendering of `value`, first 16 hex digits.
///
/// serde_json keeps struct fields in declaration order, so the rendering is canonical
/// for a given build; fields added later are skipped when unset, keeping old keys.
fn hash_canonical(value: &serde_json::Value) -> String {
    let text = serde_json::to_string(value).expect("JSON value serializes");
    let digest = Sha256::digest(text.as_bytes());
    hex::encode(&digest[..8])
}
