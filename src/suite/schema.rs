//! The suite file format: the types serde reads YAML into.
//!
//! One list of run settings ([`settings_fields!`]) generates both the `defaults`
//! block (every setting optional) and the `matrix` block (every setting a list), so a
//! new setting is added in one place and is at once a default, a matrix axis, an
//! `include`/`exclude` key, and part of the JSON Schema (`batchbench schema`).
//!
//! Nested values (dataset, model, optimizer, schedule) are flat structs with a `kind`
//! or `name` plus optional fields rather than serde enums: flat structs keep
//! serde-saphyr's line/column on every error and let validation say "`noise` applies
//! only to the synthetic dataset" instead of an opaque "data did not match any variant".

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::checks::MAX_BATCH;
use super::located::Located;

/// The schema version this build reads.
pub const SUITE_VERSION: u32 = 1;

pub use crate::data::spec::{DatasetName, DatasetSpec};

/// A model architecture.
// The schema's bounds and "applies only to" rules are `checks.rs`'s.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("allOf" = [
    {
        "if": {"properties": {"kind": {"enum": ["logreg", "resnet", "transformer"]}}},
        "then": {"properties": {"hidden": {"type": "null"}, "activation": {"type": "null"}}},
        "$comment": "hidden and activation apply only to mlp and cnn"
    },
    {
        "if": {"properties": {"kind": {"not": {"const": "cnn"}}}},
        "then": {"properties": {"channels": {"type": "null"}, "kernel": {"type": "null"}}},
        "$comment": "channels and kernel apply only to cnn"
    },
    {
        "if": {"properties": {"kind": {"not": {"const": "resnet"}}}},
        "then": {"properties": {"depth": {"type": "null"}, "widths": {"type": "null"}, "norm": {"type": "null"}, "ghost_batch": {"type": "null"}}},
        "$comment": "depth, widths, norm and ghost_batch apply only to resnet"
    },
    {
        "if": {"properties": {"norm": {"const": "ghost"}}, "required": ["norm"]},
        "then": {"required": ["ghost_batch"]},
        "$comment": "norm: ghost needs ghost_batch"
    },
    {
        "if": {"properties": {"kind": {"not": {"const": "transformer"}}}},
        "then": {"properties": {"layers": {"type": "null"}, "d_model": {"type": "null"}, "heads": {"type": "null"}, "dropout": {"type": "null"}}},
        "$comment": "layers, d_model, heads and dropout apply only to transformer"
    }
]))]
pub struct ModelSpec {
    /// Architecture family.
    pub kind: ModelKind,
    /// mlp and cnn: widths of the dense hidden layers. Default `[128]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 16), inner(range(min = 1, max = 65_536)))]
    pub hidden: Option<Vec<u64>>,
    /// mlp and cnn: non-linearity between layers. Default relu.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activation: Option<Activation>,
    /// cnn: output channels of each conv + 2×2 max-pool block. Default `[16, 32]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 4), inner(range(min = 1, max = 1024)))]
    pub channels: Option<Vec<u64>>,
    /// cnn: square kernel size (odd; padding keeps the spatial size). Default 3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 11), extend("not" = {"type": "integer", "multipleOf": 2}))]
    pub kernel: Option<u64>,
    /// resnet: layers, 6n + 2 for n basic blocks per stage (8, 14, 20, 32, 44, 56, 110:
    /// ResNet-8 and ResNet-20 are He et al.'s CIFAR networks). Default 20.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 8, max = 200))]
    pub depth: Option<u64>,
    /// resnet: channels of each stage (the stem has the first; each later stage halves
    /// the spatial size). Default `[16, 32, 64]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 4), inner(range(min = 1, max = 1024)))]
    pub widths: Option<Vec<u64>>,
    /// resnet: normalization after each convolution. Default batch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub norm: Option<Norm>,
    /// resnet with `norm: ghost`: examples per ghost batch (Hoffer et al. 2017): the
    /// statistics are computed over slices of this many examples of each micro-batch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 2, max = 1_048_576))]
    pub ghost_batch: Option<u64>,
    /// transformer: decoder blocks. Default 2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 64))]
    pub layers: Option<u64>,
    /// transformer: width of the residual stream. Default 64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 2, max = 8192))]
    pub d_model: Option<u64>,
    /// transformer: attention heads (must divide d_model). Default 4.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 128))]
    pub heads: Option<u64>,
    /// transformer: dropout probability after attention and the MLP. Default 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 0.9))]
    pub dropout: Option<f64>,
}

/// A target on one metric of the evaluation curve.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Target {
    /// Which metric.
    pub metric: TargetMetric,
    /// The value that counts as reached: at least this for accuracy, at most this for
    /// losses and perplexity.
    #[schemars(range(min = 0))]
    pub value: f64,
}

/// Metrics a target can be set on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TargetMetric {
    /// Test accuracy (next-token accuracy for a language model), a fraction.
    TestAccuracy,
    /// Mean test cross-entropy, nats.
    TestLoss,
    /// exp(test loss).
    TestPerplexity,
    /// Mean cross-entropy on the fixed training subset, nats.
    TrainLoss,
}

impl TargetMetric {
    /// The name as written in suites.
    pub fn as_str(self) -> &'static str {
        match self {
            TargetMetric::TestAccuracy => "test_accuracy",
            TargetMetric::TestLoss => "test_loss",
            TargetMetric::TestPerplexity => "test_perplexity",
            TargetMetric::TrainLoss => "train_loss",
        }
    }
}

impl Target {
    /// An accuracy target.
    pub fn accuracy(value: f64) -> Self {
        Target {
            metric: TargetMetric::TestAccuracy,
            value,
        }
    }

    /// The metric's value at an evaluation point.
    pub fn measure(&self, p: &crate::results::record::CurvePoint) -> f64 {
        match self.metric {
            TargetMetric::TestAccuracy => p.test_acc,
            TargetMetric::TestLoss => p.test_loss,
            TargetMetric::TestPerplexity => p.test_loss.exp(),
            TargetMetric::TrainLoss => p.train_loss,
        }
    }

    /// Whether `p` reaches the target (a NaN never does).
    pub fn reached(&self, p: &crate::results::record::CurvePoint) -> bool {
        let v = self.measure(p);
        match self.metric {
            TargetMetric::TestAccuracy => v >= self.value,
            _ => v <= self.value,
        }
    }

    /// "test accuracy ≥ 90%", "test loss ≤ 1.20".
    pub fn describe(&self) -> String {
        match self.metric {
            TargetMetric::TestAccuracy => {
                format!("test accuracy ≥ {}", crate::fmt::pct(self.value))
            }
            TargetMetric::TestLoss => format!("test loss ≤ {}", self.value),
            TargetMetric::TestPerplexity => format!("test perplexity ≤ {}", self.value),
            TargetMetric::TrainLoss => format!("train loss ≤ {}", self.value),
        }
    }
}

/// Augmentation of image batches on the device.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Augment {
    /// Pad by this many zero pixels on each side, then crop back to the image size at
    /// a random offset. 0 = no crop. Default 0.
    #[serde(default)]
    #[schemars(range(min = 0, max = 16))]
    pub crop: u64,
    /// Flip each image horizontally with probability 1/2. Default false.
    #[serde(default)]
    pub flip: bool,
}

impl Augment {
    /// Whether it changes anything.
    pub fn is_identity(&self) -> bool {
        self.crop == 0 && !self.flip
    }
}

/// Normalization in a residual network.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Norm {
    /// Batch normalization over each micro-batch (Ioffe and Szegedy 2015).
    Batch,
    /// Ghost batch normalization: statistics over slices of `ghost_batch` examples.
    Ghost,
    /// No normalization.
    None,
}

/// Model families.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ModelKind {
    /// Multinomial logistic regression (one linear layer).
    Logreg,
    /// Multi-layer perceptron.
    Mlp,
    /// Convolutional network: conv + pool blocks, then a dense head.
    Cnn,
    /// CIFAR-style residual network: 3×3 stem, stages of basic blocks, global pooling.
    Resnet,
    /// Decoder-only causal Transformer over tokens (language model).
    Transformer,
}

/// Non-linearities.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    /// max(0, x)
    Relu,
    /// tanh(x)
    Tanh,
    /// 1 / (1 + e^-x)
    Sigmoid,
    /// Gaussian error linear unit.
    Gelu,
}

/// An optimizer and its hyper-parameters.
// The schema's bounds and "applies only to" rules are `checks.rs`'s.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("allOf" = [
    {
        "if": {"properties": {"kind": {"const": "sgd"}}},
        "then": {"properties": {"beta1": {"type": "null"}, "beta2": {"type": "null"}, "epsilon": {"type": "null"}}},
        "$comment": "beta1, beta2 and epsilon apply only to adam and adamw"
    },
    {
        "if": {"properties": {"kind": {"not": {"const": "sgd"}}}},
        "then": {"properties": {"momentum": {"type": "null"}, "nesterov": {"type": "null"}}},
        "$comment": "momentum and nesterov apply only to sgd"
    },
    {
        "if": {"properties": {"nesterov": {"const": true}}, "required": ["nesterov"]},
        "then": {"properties": {"momentum": {"type": "number", "exclusiveMinimum": 0}}, "required": ["momentum"]},
        "$comment": "nesterov needs momentum > 0"
    }
]))]
pub struct OptimizerSpec {
    /// Which optimizer.
    pub kind: OptimizerKind,
    /// sgd: heavy-ball momentum coefficient in [0, 1). Default 0 (plain SGD).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0), extend("exclusiveMaximum" = 1))]
    pub momentum: Option<f64>,
    /// sgd: Nesterov momentum (needs momentum > 0). Default false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nesterov: Option<bool>,
    /// L2 penalty (sgd, adam) or decoupled decay (adamw). Default 0 (adamw: 1e-4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 1))]
    pub weight_decay: Option<f64>,
    /// adam/adamw: first-moment decay. Default 0.9.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0), extend("exclusiveMaximum" = 1))]
    pub beta1: Option<f64>,
    /// adam/adamw: second-moment decay. Default 0.999.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0), extend("exclusiveMaximum" = 1))]
    pub beta2: Option<f64>,
    /// adam/adamw: denominator epsilon. Default 1e-8.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(max = 1), extend("exclusiveMinimum" = 0))]
    pub epsilon: Option<f64>,
}

/// Optimizer families.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerKind {
    /// Stochastic gradient descent, optionally with (Nesterov) momentum.
    Sgd,
    /// Adam (Kingma & Ba 2015).
    Adam,
    /// Adam with decoupled weight decay (Loshchilov & Hutter 2019).
    Adamw,
}

/// How the learning rate follows the batch size, relative to `base_batch`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum LrScaling {
    /// The same learning rate at every batch size.
    #[default]
    None,
    /// lr × batch / base_batch (Goyal et al. 2017).
    Linear,
    /// lr × sqrt(batch / base_batch) (Krizhevsky 2014, Hoffer et al. 2017).
    Sqrt,
}

impl LrScaling {
    /// The effective learning rate for `batch` given the base rate at `base_batch`.
    pub fn scale(self, lr: f64, batch: u64, base_batch: u64) -> f64 {
        let ratio = batch as f64 / base_batch as f64;
        match self {
            LrScaling::None => lr,
            LrScaling::Linear => lr * ratio,
            LrScaling::Sqrt => lr * ratio.sqrt(),
        }
    }
}

/// The learning-rate schedule over the run (applied after warm-up).
// The schema's bounds and "applies only to" rules are `checks.rs`'s (that milestones
// increase is not expressible).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("allOf" = [
    {
        "if": {"properties": {"kind": {"const": "step"}}},
        "then": {"properties": {"milestones": {"type": "array", "minItems": 1}}, "required": ["milestones"]},
        "else": {"properties": {"milestones": {"type": "null"}, "gamma": {"type": "null"}}},
        "$comment": "the step schedule needs milestones; milestones and gamma apply only to it"
    },
    {
        "if": {"properties": {"kind": {"not": {"const": "cosine"}}}},
        "then": {"properties": {"final_fraction": {"type": "null"}}},
        "$comment": "final_fraction applies only to the cosine schedule"
    }
]))]
pub struct LrSchedule {
    /// Shape of the schedule.
    pub kind: ScheduleKind,
    /// step: epochs at which the rate is multiplied by `gamma`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("items" = {"type": "number", "format": "double", "exclusiveMinimum": 0}))]
    pub milestones: Option<Vec<f64>>,
    /// step: the factor applied at each milestone. Default 0.1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(max = 1), extend("exclusiveMinimum" = 0))]
    pub gamma: Option<f64>,
    /// cosine: the final rate as a fraction of the peak. Default 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 1))]
    pub final_fraction: Option<f64>,
}

impl LrSchedule {
    /// A constant learning rate.
    pub fn constant() -> Self {
        LrSchedule {
            kind: ScheduleKind::Constant,
            milestones: None,
            gamma: None,
            final_fraction: None,
        }
    }
}

/// Learning-rate schedule shapes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ScheduleKind {
    /// The rate stays at its peak.
    Constant,
    /// Piecewise constant, multiplied by `gamma` at each milestone epoch.
    Step,
    /// Half a cosine from the peak down to `final_fraction` × peak at the end of the budget.
    Cosine,
}

/// The framework that trains a run. Burn runs inside batchbench; the others run in a
/// Python worker (`engines/`) that receives the same data, initial weights and step
/// plan and speaks the same worker protocol (ARCHITECTURE.md, "Engines").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Engine {
    /// Burn 0.21 (CubeCL on CUDA, flex or ndarray on the CPU).
    #[default]
    Burn,
    /// PyTorch, eager mode.
    Pytorch,
    /// PyTorch with the training step compiled by `torch.compile` (compilation counts
    /// as warm-up, like Burn's kernel compilation).
    PytorchCompile,
    /// JAX, with the training step compiled by `jax.jit`.
    Jax,
}

impl Engine {
    /// Every engine.
    pub const ALL: [Engine; 4] = [
        Engine::Burn,
        Engine::Pytorch,
        Engine::PytorchCompile,
        Engine::Jax,
    ];

    /// The name as written in suites.
    pub fn as_str(self) -> &'static str {
        match self {
            Engine::Burn => "burn",
            Engine::Pytorch => "pytorch",
            Engine::PytorchCompile => "pytorch-compile",
            Engine::Jax => "jax",
        }
    }

    /// Whether this is Burn (records of Burn runs leave the field out, keeping their
    /// keys from before engines existed).
    pub fn is_burn(&self) -> bool {
        *self == Engine::Burn
    }
}

/// The float type the whole model computes in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// 32-bit IEEE floats.
    #[default]
    F32,
    /// bfloat16 (CUDA only).
    Bf16,
    /// IEEE half precision (CUDA only).
    F16,
}

impl Precision {
    /// The name as written in suites.
    pub fn as_str(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::Bf16 => "bf16",
            Precision::F16 => "f16",
        }
    }
}

/// One step of a batch-size schedule (Smith, Kindermans & Le 2018): from `epoch` on,
/// train with `batch_size`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchStep {
    /// The epoch (fractions allowed) from which this batch size applies.
    #[schemars(extend("exclusiveMinimum" = 0))]
    pub epoch: f64,
    /// The effective batch size from then on.
    #[schemars(range(min = 1, max = MAX_BATCH))]
    pub batch_size: u64,
}

/// Probes: measurements that explain the batch size's effects. They run outside the
/// training timer and never change what is trained.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProbeSpec {
    /// ‖θ − θ₀‖ (and relative to ‖θ₀‖) at every evaluation point.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight_distance: Option<bool>,
    /// Keskar et al. (2017) ε-sharpness of the final weights.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sharpness: Option<SharpnessSpec>,
    /// McCandlish et al. (2018) gradient noise scale B_simple at evaluation points.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub noise_scale: Option<NoiseScaleSpec>,
    /// Gradient diversity ‖Σgᵢ‖²/Σ‖gᵢ‖² over per-example gradients at evaluation points.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gradient_diversity: Option<DiversitySpec>,
    /// Keep the final weights and, after the sweep, evaluate the loss along the line
    /// between the smallest- and largest-batch solution of each configuration and seed
    /// (Goodfellow et al. 2015).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interpolation: Option<InterpolationSpec>,
}

/// Sharpness settings.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SharpnessSpec {
    /// Box sizes. Default [1e-3, 5e-4] (Keskar et al.'s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(inner(range(min = 0, max = 1)))]
    pub epsilons: Option<Vec<f64>>,
    /// Training examples the loss is measured on. Default 1,000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 100_000))]
    pub samples: Option<u64>,
    /// Ascent steps. Default 20.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1000))]
    pub steps: Option<u64>,
}

/// Noise-scale settings.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoiseScaleSpec {
    /// The small batch size. Default 32.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = MAX_BATCH))]
    pub small: Option<u64>,
    /// The big batch size. Default 512.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 2, max = MAX_BATCH))]
    pub big: Option<u64>,
    /// Batches averaged per size. Default 10.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 10_000))]
    pub repeats: Option<u64>,
}

impl NoiseScaleSpec {
    /// The (small, big) batch sizes, defaults filled in.
    pub fn batches(&self) -> (u64, u64) {
        (self.small.unwrap_or(32), self.big.unwrap_or(512))
    }
    /// Batches averaged per size, default filled in.
    pub fn repeats(&self) -> u64 {
        self.repeats.unwrap_or(10)
    }
}

/// Gradient-diversity settings.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DiversitySpec {
    /// Examples (per-example gradients) per measurement. Default 32.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 2, max = 4096))]
    pub examples: Option<u64>,
}

/// Interpolation settings.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InterpolationSpec {
    /// Points along α ∈ [−0.5, 1.5]. Default 21.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 3, max = 1001))]
    pub points: Option<u64>,
}

/// Where to train: `auto`, `cpu`, `cuda`, `cuda:N`, `wgpu` or `wgpu:N`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum DeviceRequest {
    /// CUDA when a driver and a GPU are present, else a wgpu adapter that is a real
    /// GPU, else the CPU.
    #[default]
    Auto,
    /// The CPU (Burn's flex backend).
    Cpu,
    /// The N-th CUDA device.
    Cuda(u32),
    /// The N-th wgpu adapter, as `batchbench env` lists them (Vulkan on Linux and
    /// Windows, Metal on macOS).
    Wgpu(u32),
}

impl fmt::Display for DeviceRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceRequest::Auto => f.write_str("auto"),
            DeviceRequest::Cpu => f.write_str("cpu"),
            DeviceRequest::Cuda(n) => write!(f, "cuda:{n}"),
            DeviceRequest::Wgpu(n) => write!(f, "wgpu:{n}"),
        }
    }
}

impl std::str::FromStr for DeviceRequest {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(DeviceRequest::Auto),
            "cpu" => Ok(DeviceRequest::Cpu),
            "cuda" => Ok(DeviceRequest::Cuda(0)),
            "wgpu" => Ok(DeviceRequest::Wgpu(0)),
            _ => {
                let numbered = |prefix: &str| s.strip_prefix(prefix)?.parse().ok();
                numbered("cuda:")
                    .map(DeviceRequest::Cuda)
                    .or_else(|| numbered("wgpu:").map(DeviceRequest::Wgpu))
                    .ok_or_else(|| {
                        let lower = s.to_lowercase();
                        let hint = if ["gpu", "vulkan", "metal", "rocm", "amd"]
                            .iter()
                            .any(|w| lower.contains(w))
                        {
                            " (an NVIDIA GPU through CUDA: `cuda`; any GPU through Vulkan or Metal: `wgpu`)"
                        } else {
                            ""
                        };
                        format!(
                            "unknown device `{s}`; allowed: auto, cpu, cuda, cuda:N, wgpu, wgpu:N{hint}"
                        )
                    })
            }
        }
    }
}

impl Serialize for DeviceRequest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for DeviceRequest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for DeviceRequest {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "DeviceRequest".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^(auto|cpu|cuda|cuda:[0-9]+|wgpu|wgpu:[0-9]+)$",
            "description": "auto (CUDA when present, else a wgpu adapter that is a GPU, else the CPU), cpu, cuda, cuda:N, wgpu or wgpu:N"
        })
    }
}

/// Expands the list of run settings into the `defaults` and `matrix` structs and the
/// generic operations over them, so that each setting is declared once.
macro_rules! settings_fields {
    ($( $(#[doc = $doc:literal])* $field:ident : $ty:ty ),* $(,)?) => {
        /// Run settings, every one optional: the `defaults` block, and each entry of
        /// `include` and `exclude`.
        #[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
        #[serde(deny_unknown_fields)]
        #[schemars(transform = super::schema_rules::settings_schema_rules)]
        pub struct Settings {
            $(
                $(#[doc = $doc])*
                #[serde(default, skip_serializing_if = "Option::is_none")]
                pub $field: Option<Located<$ty>>,
            )*
        }

        /// The matrix: every setting may be an axis, a list of values. Runs are the
        /// cartesian product of all axes.
        #[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
        #[serde(deny_unknown_fields)]
        #[schemars(transform = super::schema_rules::matrix_schema_rules)]
        pub struct Matrix {
            $(
                $(#[doc = $doc])*
                #[serde(default, skip_serializing_if = "Option::is_none")]
                pub $field: Option<Located<Vec<Located<$ty>>>>,
            )*
        }

        impl Settings {
            /// The names of all settings, in declaration order.
            pub const FIELDS: &'static [&'static str] = &[$(stringify!($field)),*];

            /// Overwrites each setting that `other` sets.
            pub fn overlay(&mut self, other: &Settings) {
                $( if other.$field.is_some() { self.$field = other.$field.clone(); } )*
            }

            /// Names of the settings this value sets.
            pub fn set_fields(&self) -> Vec<&'static str> {
                let mut names = Vec::new();
                $( if self.$field.is_some() { names.push(stringify!($field)); } )*
                names
            }

            /// Whether, for every setting `self` sets, `other` holds the same value.
            pub fn is_subset_of(&self, other: &Settings) -> bool {
                true $( && match (&self.$field, &other.$field) {
                    (Some(a), Some(b)) => a == b,
                    (Some(_), None) => false,
                    (None, _) => true,
                })*
            }

            /// A copy keeping only the named settings.
            pub fn only(&self, names: &[&str]) -> Settings {
                let mut kept = Settings::default();
                $( if names.contains(&stringify!($field)) { kept.$field = self.$field.clone(); } )*
                kept
            }

            /// The position where a setting was written, if known.
            pub fn position_of(&self, name: &str) -> Option<super::located::Position> {
                match name {
                    $( stringify!($field) => self.$field.as_ref().and_then(|v| v.position), )*
                    _ => None,
                }
            }

            /// The field path where a setting was written, if known.
            pub fn path_of(&self, name: &str) -> Option<String> {
                match name {
                    $( stringify!($field) => self.$field.as_ref().and_then(|v| v.path.clone()), )*
                    _ => None,
                }
            }

            /// Records `prefix` + the setting's name as each value's path.
            pub fn tag_paths(&mut self, prefix: &str) {
                $( if let Some(v) = &mut self.$field { v.path = Some(format!("{prefix}{}", stringify!($field))); } )*
            }

            /// Runs a per-value check over every setting: name, value, and the located
            /// wrapper (for its position and path).
            pub fn check_values(&self, check: &mut dyn FnMut(&'static str, &dyn CheckValue, Option<super::located::Position>, Option<&str>)) {
                $( if let Some(v) = &self.$field { check(stringify!($field), &v.value, v.position, v.path.as_deref()); } )*
            }
        }

        impl Matrix {
            /// The axes in declaration order: name, position of the list, and one
            /// `Settings` per value with only that setting set.
            pub fn axes(&self) -> Vec<(&'static str, Option<super::located::Position>, Vec<Settings>)> {
                let mut axes = Vec::new();
                $(
                    if let Some(list) = &self.$field {
                        let values = list.value.iter().map(|v| Settings {
                            $field: Some(v.clone()),
                            ..Settings::default()
                        }).collect();
                        axes.push((stringify!($field), list.position, values));
                    }
                )*
                axes
            }

            /// Records `matrix.<axis>[i]` as each value's path.
            pub fn tag_paths(&mut self) {
                $(
                    if let Some(list) = &mut self.$field {
                        for (i, v) in list.value.iter_mut().enumerate() {
                            v.path = Some(format!("matrix.{}[{i}]", stringify!($field)));
                        }
                    }
                )*
            }
        }
    };
}

/// A per-value check run by `validate` on every value wherever it is written
/// (defaults, matrix, include), so each error points at the offending line.
pub trait CheckValue {
    /// `Err(what is allowed)` when the value is out of range for setting `field`.
    fn check(&self, field: &str) -> Result<(), String>;
}

settings_fields! {
    /// The dataset to train and test on.
    dataset: DatasetSpec,
    /// The model architecture.
    model: ModelSpec,
    /// The optimizer.
    optimizer: OptimizerSpec,
    /// Peak learning rate at `base_batch` (after scaling: the rate used at this batch size).
    lr: f64,
    /// How the learning rate scales with the batch size: none, linear or sqrt.
    lr_scaling: LrScaling,
    /// The batch size at which `lr` is the rate (needed by linear and sqrt scaling).
    base_batch: u64,
    /// The schedule over the run after warm-up. Default constant.
    lr_schedule: LrSchedule,
    /// Linear warm-up from 0 to the peak learning rate over this many epochs. Default 0.
    warmup_epochs: f64,
    /// The effective batch size (micro-batch × accumulate).
    batch_size: u64,
    /// Gradient accumulation: micro-batches per optimizer step. Default 1.
    accumulate: u64,
    /// Raise the batch size at given epochs instead of decaying the learning rate.
    batch_schedule: Vec<BatchStep>,
    /// Training budget in epochs (fractions allowed). Set this or `samples`.
    epochs: f64,
    /// Training budget in training examples seen. Set this or `epochs`.
    samples: u64,
    /// Evaluate every this many epochs (fractions allowed). Default 1.
    eval_every: f64,
    /// Size of the fixed training subset on which train loss and accuracy are measured.
    /// Default: the whole training set up to 10,000 examples.
    eval_train_samples: u64,
    /// Test accuracy (0..1) that counts as reaching the target (shorthand for
    /// `target: {metric: test_accuracy, value: X}`).
    target_accuracy: f64,
    /// The target on any metric: `{metric: test_loss, value: 1.2}`. Accuracy targets
    /// are reached from below, loss and perplexity targets from above.
    target: Target,
    /// End each run when it first reaches its target (MLPerf's rule: time to target is
    /// what is measured, the rest of the budget is not spent). Needs a target; the
    /// final accuracies are then those at the target. Default false.
    stop_at_target: bool,
    /// Data augmentation on the device, inside the training time: `{crop: 4, flip: true}`
    /// (random crop after zero padding by `crop` pixels, horizontal flip), image data only.
    augment: Augment,
    /// Float type of the model: f32, bf16 or f16.
    precision: Precision,
    /// The framework that trains: burn (default), pytorch, pytorch-compile or jax.
    engine: Engine,
    /// Where to train: auto, cpu, cuda, cuda:N, wgpu or wgpu:N.
    device: DeviceRequest,
    /// Wall-clock limit of one run after its warm-up, in seconds (kernel compilation
    /// does not count against it; see `warmup_timeout_s`).
    timeout_s: f64,
    /// Wall-clock limit of a run's warm-up, in seconds: worker start, data loading,
    /// kernel compilation and autotuning, the first 10 steps. Default 1800 when
    /// `timeout_s` is set, else none.
    warmup_timeout_s: f64,
    /// Probes: weight distance, sharpness, noise scale, gradient diversity, interpolation.
    probes: ProbeSpec,
    /// Seed of initialization, data order and sampling.
    seed: u64,
}

/// A suite file.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = super::schema_rules::suite_schema_rules)]
pub struct SuiteFile {
    /// Schema version; this build reads version 1.
    #[schemars(extend("const" = SUITE_VERSION))]
    pub version: Located<u32>,
    /// Short name; results go to `results/<name>/`, the report to `reports/<name>/`.
    // As `Suite::check` requires: 1 to 64 of these characters, not starting with `.`.
    #[schemars(length(min = 1, max = 64), pattern(r"^[A-Za-z0-9_-][A-Za-z0-9._-]*$"))]
    pub name: Located<String>,
    /// What the suite studies and what it is expected to show.
    #[serde(default)]
    pub description: Option<String>,
    /// Settings shared by every run.
    #[serde(default)]
    pub defaults: Option<Settings>,
    /// Axes to sweep (cartesian product).
    #[serde(default)]
    pub matrix: Option<Matrix>,
    /// Extra combinations, or extra settings for matching combinations.
    #[serde(default)]
    pub include: Option<Vec<Located<Settings>>>,
    /// Combinations to leave out.
    #[serde(default)]
    pub exclude: Option<Vec<Located<Settings>>>,
}
