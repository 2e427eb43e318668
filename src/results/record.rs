//! `RunRecord`: what one run measured, one JSON object per line of `runs.jsonl`.
//!
//! The field names are a contract (ARCHITECTURE.md): reports, `compare`, `merge` and other
//! people's scripts read them. New fields may be added; existing ones keep their
//! meaning. Unmeasured or unreached values are `null`, never a guess.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::env::Environment;
use super::probes::{EndProbes, EvalProbes};
use crate::suite::RunSpec;
use crate::telemetry::TelemetryReport;

/// The record schema version this build writes (and the newest it reads).
pub const RECORD_SCHEMA: u32 = 1;

/// How a run ended.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    /// Trained for the whole budget.
    Ok,
    /// Ran out of device memory.
    Oom,
    /// The training loss became NaN or infinite.
    Diverged,
    /// Hit its wall-clock limit.
    Timeout,
    /// The worker failed (panic, signal, unexpected exit).
    Crashed,
    /// Stopped by the user (Ctrl-C) or the sweep's time budget.
    Interrupted,
}

impl RunStatus {
    /// The name as written in records.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Ok => "ok",
            RunStatus::Oom => "oom",
            RunStatus::Diverged => "diverged",
            RunStatus::Timeout => "timeout",
            RunStatus::Crashed => "crashed",
            RunStatus::Interrupted => "interrupted",
        }
    }

    /// Whether a rerun would be expected to give the same outcome (so `--resume`
    /// skips it). Interrupted and crashed runs are retried.
    pub fn is_final(self) -> bool {
        !matches!(self, RunStatus::Interrupted | RunStatus::Crashed)
    }
}

/// Serde for measured floats that may be NaN or infinite (a diverged run's loss):
/// written as `null`, read back as NaN, so a record always round-trips.
pub mod non_finite_as_null {
    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes a non-finite value as `null`.
    pub fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        if v.is_finite() {
            s.serialize_f64(*v)
        } else {
            s.serialize_none()
        }
    }

    /// Reads `null` as NaN.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
    }

    /// The JSON Schema: a number or `null`, always present.
    pub fn schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({"type": ["number", "null"], "format": "double"})
    }
}

/// One evaluation point of the learning curve.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CurvePoint {
    /// Examples seen / training-set size.
    pub epoch: f64,
    /// Optimizer steps taken.
    pub step: u64,
    /// Training examples seen.
    pub samples: u64,
    /// Seconds since the run started, evaluation included.
    pub wall_s: f64,
    /// Seconds spent training (evaluation excluded), device synchronized.
    pub train_s: f64,
    /// The learning rate in force at this point.
    pub lr: f64,
    /// The batch size in force at this point.
    pub batch_size: u64,
    /// Mean cross-entropy on the fixed training subset.
    #[serde(with = "non_finite_as_null")]
    #[schemars(schema_with = "non_finite_as_null::schema")]
    pub train_loss: f64,
    /// Accuracy on the fixed training subset.
    #[serde(with = "non_finite_as_null")]
    #[schemars(schema_with = "non_finite_as_null::schema")]
    pub train_acc: f64,
    /// Mean cross-entropy on the test set.
    #[serde(with = "non_finite_as_null")]
    #[schemars(schema_with = "non_finite_as_null::schema")]
    pub test_loss: f64,
    /// Accuracy on the test set.
    #[serde(with = "non_finite_as_null")]
    #[schemars(schema_with = "non_finite_as_null::schema")]
    pub test_acc: f64,
    /// Language models: exp(test loss), per token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_perplexity: Option<f64>,
    /// Probe values measured at this point (e.g. `weight_distance`).
    #[serde(default, skip_serializing_if = "EvalProbes::is_empty")]
    pub probes: EvalProbes,
}

/// Figures derived from the curve and timings.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Summary {
    /// Train accuracy at the last evaluation.
    pub final_train_acc: Option<f64>,
    /// Test accuracy at the last evaluation.
    pub final_test_acc: Option<f64>,
    /// Train loss at the last evaluation.
    pub final_train_loss: Option<f64>,
    /// Test loss at the last evaluation.
    pub final_test_loss: Option<f64>,
    /// Generalization gap: final train accuracy − final test accuracy.
    pub gap: Option<f64>,
    /// Best test accuracy over the curve.
    pub best_test_acc: Option<f64>,
    /// The accuracy target used (from the spec).
    pub target_acc: Option<f64>,
    /// The target used, on whichever metric (from the spec).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<crate::suite::schema::Target>,
    /// Training seconds until the test accuracy first reached the target, warm-up
    /// included; null when never reached.
    pub time_to_target_s: Option<f64>,
    /// The same without the warm-up (steady-state time to target).
    pub time_to_target_excl_warmup_s: Option<f64>,
    /// Wall seconds (evaluation included) until the target was first reached.
    pub wall_to_target_s: Option<f64>,
    /// Optimizer steps until the target was first reached.
    pub steps_to_target: Option<u64>,
    /// Training examples seen until the target was first reached.
    pub samples_to_target: Option<u64>,
    /// Epochs until the target was first reached.
    pub epochs_to_target: Option<f64>,
    /// Steady-state training throughput, examples per second, after warm-up.
    pub samples_per_s: Option<f64>,
    /// Seconds until the end of the first `warmup_steps` steps (kernel compilation,
    /// autotuning, allocator growth).
    pub warmup_s: Option<f64>,
    /// Warm-up seconds beyond what the same steps take at steady-state speed: the
    /// cold-start cost (on CUDA, kernel compilation and autotuning).
    #[serde(default)]
    pub cold_start_s: Option<f64>,
    /// Steps counted as warm-up.
    pub warmup_steps: Option<u64>,
    /// Kernels compiled during the run (CUDA; 0 when every kernel came from the cache).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernels_compiled: Option<u64>,
    /// The same count by phase: where a cold start's compilation went (each distinct
    /// tensor shape compiles and autotunes its own kernels).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernels_by_phase: Option<KernelsByPhase>,
    /// Total training seconds (evaluation excluded).
    pub train_s: Option<f64>,
    /// Total seconds spent evaluating.
    pub eval_s: Option<f64>,
    /// Total wall seconds of the run in the worker, data loading included.
    pub wall_s: Option<f64>,
    /// Seconds to load the dataset and place it on the device.
    pub data_s: Option<f64>,
    /// Optimizer steps taken.
    pub steps: Option<u64>,
    /// Training examples seen.
    pub samples: Option<u64>,
    /// Trainable parameters of the model.
    pub parameters: Option<u64>,
    /// Energy spent until the target was first reached, joules (GPU counter).
    pub energy_to_target_j: Option<f64>,
}

/// Kernels CubeCL compiled in each phase of a run (CUDA only).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct KernelsByPhase {
    /// Before the first optimizer step (model initialization, data on the device).
    pub setup: u64,
    /// During the warm-up steps.
    pub warmup: u64,
    /// During the steps after warm-up (a new shape, e.g. a batch-size schedule step).
    pub train: u64,
    /// During evaluations (forward passes at the evaluation batch shape).
    pub eval: u64,
}

impl KernelsByPhase {
    /// Adds `n` kernels to `phase`'s count.
    pub fn add(&mut self, phase: crate::telemetry::Phase, n: u64) {
        use crate::telemetry::Phase;
        *match phase {
            Phase::Setup => &mut self.setup,
            Phase::Warmup => &mut self.warmup,
            Phase::Train => &mut self.train,
            Phase::Eval => &mut self.eval,
        } += n;
    }
}

/// Why a run diverged.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Divergence {
    /// The step at which a non-finite loss was seen.
    pub step: u64,
    /// The last finite training loss read before it, if any.
    pub last_finite_loss: Option<f64>,
}

/// Facts about the data actually used.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DataInfo {
    /// Where it was loaded from.
    pub source: String,
    /// Training examples.
    pub train_size: u64,
    /// Test examples.
    pub test_size: u64,
    /// Values per example.
    pub features: u64,
    /// Classes.
    pub classes: u64,
    /// How raw values were normalized.
    pub normalization: crate::data::Normalization,
    /// Files read, with SHA-256.
    pub files: Vec<crate::data::DataFile>,
    /// SHA-256 over the arrays handed to a Python engine (`.npy` files: train and test
    /// features and labels, as normalized here); absent for Burn, which reads the data
    /// itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arrays_sha256: Option<String>,
    /// Token data: context, vocabulary and, for synthetic-text, the entropy rate and
    /// the best achievable test loss.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<crate::data::text::TextInfo>,
}

impl DataInfo {
    /// What `data` is: where it came from, its sizes and normalization.
    pub fn of(data: &crate::data::Dataset) -> Self {
        DataInfo {
            source: data.source.clone(),
            train_size: data.train.len() as u64,
            test_size: data.test.len() as u64,
            features: data.features as u64,
            classes: data.classes as u64,
            normalization: data.normalization.clone(),
            files: data.files.clone(),
            arrays_sha256: None,
            text: data.text.clone(),
        }
    }
}

/// One run, as stored in `runs.jsonl`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RunRecord {
    /// Record schema version.
    #[schemars(range(min = 1, max = RECORD_SCHEMA))]
    pub schema: u32,
    /// The run's key (hash of its configuration and seed).
    pub key: String,
    /// The configuration's key (the same for every seed).
    pub config_key: String,
    /// The suite name.
    pub suite: String,
    /// How it ended.
    pub status: RunStatus,
    /// For anything but `ok`: why, in a sentence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// When the run started (RFC 3339).
    pub started_at: String,
    /// When the run ended (RFC 3339).
    pub finished_at: String,
    /// What was run.
    pub spec: RunSpec,
    /// Where and with what it ran.
    pub env: Environment,
    /// The data used (absent if the run failed before loading it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<DataInfo>,
    /// The learning curve (possibly partial for failed runs).
    pub curve: Vec<CurvePoint>,
    /// Derived figures.
    pub summary: Summary,
    /// Hardware telemetry during the run.
    pub telemetry: TelemetryReport,
    /// Probe results at the end of the run.
    #[serde(default, skip_serializing_if = "EndProbes::is_empty")]
    pub probes: EndProbes,
    /// Set when the run diverged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub divergence: Option<Divergence>,
    /// For a run that did not end `ok`: the last lines the worker wrote to stderr
    /// (library warnings, the panic and its cause), so the reason can be checked.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stderr_tail: Vec<String>,
}

/// The JSON Schema of a record, one line of `runs.jsonl` (shipped as
/// `schemas/record.schema.json`; `batchbench schema --records`). It describes what
/// this build reads, so every record it writes and older ones it still reads pass.
pub fn records_json_schema() -> String {
    let schema = schemars::schema_for!(RunRecord);
    serde_json::to_string_pretty(&schema).expect("the schema serializes") + "\n"
}

impl RunRecord {
    /// The record of `spec` run in `env`, started at `started_at` (RFC 3339): status
    /// `ok` and nothing measured yet; whoever ran it fills in the rest. The one place
    /// a record's identity (schema, keys, suite) is derived from its spec.
    pub fn new(spec: RunSpec, env: Environment, started_at: String) -> RunRecord {
        RunRecord {
            schema: RECORD_SCHEMA,
            key: spec.key(),
            config_key: spec.config_key(),
            suite: spec.suite.clone(),
            status: RunStatus::Ok,
            reason: None,
            finished_at: started_at.clone(),
            started_at,
            summary: Summary {
                target_acc: spec.target_accuracy,
                target: spec.target(),
                ..Summary::default()
            },
            spec,
            env,
            data: None,
            curve: Vec::new(),
            telemetry: TelemetryReport::default(),
            probes: Default::default(),
            divergence: None,
            stderr_tail: Vec::new(),
        }
    }

    /// A short label for tables and charts.
    pub fn label(&self) -> String {
        self.spec.label()
    }
}
