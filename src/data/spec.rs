//! What a dataset is in a suite: a built-in name plus options. Defined here, with the
//! data, so the data layer needs nothing from the suite layer (the suite's schema
//! re-exports it; its checks and defaults live with the other settings' in
//! `suite::checks`).

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A dataset: one of the built-in names plus options.
// The JSON Schema's bounds and "applies only to" rules are `suite::checks`'s.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("allOf" = [
    {
        "if": {"properties": {"name": {"enum": ["digits", "synthetic", "synthetic-text"]}}},
        "then": {"properties": {"path": {"type": "null"}}},
        "$comment": "path applies only to mnist, fashion-mnist, cifar10 and text"
    },
    {
        "if": {"properties": {"name": {"enum": ["mnist", "fashion-mnist", "cifar10"]}}},
        "then": {"properties": {"data_seed": {"type": "null"}}},
        "$comment": "data_seed applies only to digits, synthetic, text and synthetic-text"
    },
    {
        "if": {"properties": {"name": {"not": {"enum": ["digits", "text"]}}}},
        "then": {"properties": {"test_fraction": {"type": "null"}}},
        "$comment": "test_fraction applies only to digits and text"
    },
    {
        "if": {"properties": {"name": {"not": {"const": "synthetic"}}}},
        "then": {"properties": {
            "train_samples": {"type": "null"},
            "test_samples": {"type": "null"},
            "features": {"type": "null"},
            "shape": {"type": "null"},
            "classes": {"type": "null"},
            "noise": {"type": "null"}
        }},
        "$comment": "train_samples, test_samples, features, shape, classes and noise apply only to the synthetic dataset"
    },
    {
        "if": {"properties": {"name": {"not": {"enum": ["text", "synthetic-text"]}}}},
        "then": {"properties": {"context": {"type": "null"}}},
        "$comment": "context applies only to text and synthetic-text"
    },
    {
        "if": {"properties": {"name": {"not": {"const": "synthetic-text"}}}},
        "then": {"properties": {
            "vocab": {"type": "null"},
            "order": {"type": "null"},
            "sharpness": {"type": "null"},
            "train_tokens": {"type": "null"},
            "test_tokens": {"type": "null"}
        }},
        "$comment": "vocab, order, sharpness, train_tokens and test_tokens apply only to synthetic-text"
    },
    {
        "if": {"properties": {"name": {"const": "text"}}, "required": ["name"]},
        "then": {"required": ["path"]},
        "$comment": "text needs path: the file to read"
    }
]))]
pub struct DatasetSpec {
    /// Which dataset.
    pub name: DatasetName,
    /// mnist, fashion-mnist, cifar10: the folder holding the files (default:
    /// `$BATCHBENCH_DATA/<name>`, then `/usr/share/datasets/<name>`). text: the file.
    /// Relative to the suite file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Use only the first N training examples (after the seeded split, if any).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 100_000_000))]
    pub train_subset: Option<u64>,
    /// Use only the first N test examples.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 100_000_000))]
    pub test_subset: Option<u64>,
    /// digits: fraction of the 1,797 images held out for testing (stratified). Default 0.3.
    /// text: fraction of the file (its end) held out for testing. Default 0.1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("exclusiveMinimum" = 0, "exclusiveMaximum" = 1))]
    pub test_fraction: Option<f64>,
    /// digits, synthetic, synthetic-text: seed of the split / generator; text: of the
    /// offset of the sequence windows (independent of the run seed, so every run of a
    /// suite sees the same data). Default 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_seed: Option<u64>,
    /// synthetic: training examples. Default 10,000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 10_000_000))]
    pub train_samples: Option<u64>,
    /// synthetic: test examples. Default 2,000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 10_000_000))]
    pub test_samples: Option<u64>,
    /// synthetic: input dimension. Default 32.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 100_000))]
    pub features: Option<u64>,
    /// synthetic: lay the features out as an image `[channels, height, width]` (so a
    /// cnn can train on it); `features` is then their product.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(equal = 3), inner(range(min = 1, max = 4096)))]
    pub shape: Option<Vec<u64>>,
    /// synthetic: number of classes. Default 10.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 2, max = 1_000))]
    pub classes: Option<u64>,
    /// synthetic: standard deviation of the noise around each class centre (centres are
    /// drawn from a unit normal). Default 1.0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 1000))]
    pub noise: Option<f64>,
    /// text, synthetic-text: tokens a sequence predicts (the transformer's context).
    /// Each example is a window of context + 1 tokens. Default 64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 2, max = 8192))]
    pub context: Option<u64>,
    /// synthetic-text: vocabulary size. Default 16.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 2, max = 256))]
    pub vocab: Option<u64>,
    /// synthetic-text: order of the Markov source (tokens of history the next token
    /// depends on). Default 2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 4))]
    pub order: Option<u64>,
    /// synthetic-text: how peaked each next-token distribution is (the standard
    /// deviation of its logits; 0 = uniform). Default 2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 20))]
    pub sharpness: Option<f64>,
    /// synthetic-text: tokens generated for training. Default 200,000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 16, max = 100_000_000))]
    pub train_tokens: Option<u64>,
    /// synthetic-text: tokens generated for testing. Default 20,000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 16, max = 100_000_000))]
    pub test_tokens: Option<u64>,
}

/// The options' defaults, in one place: the suite's normalization writes them into
/// every run's spec (so records show them), and the loaders read them through these
/// methods, so a spec built by hand gets the same dataset.
impl DatasetSpec {
    /// Dataset `name` with every option left to its default.
    pub fn of(name: DatasetName) -> Self {
        DatasetSpec {
            name,
            path: None,
            train_subset: None,
            test_subset: None,
            test_fraction: None,
            data_seed: None,
            train_samples: None,
            test_samples: None,
            features: None,
            shape: None,
            classes: None,
            noise: None,
            context: None,
            vocab: None,
            order: None,
            sharpness: None,
            train_tokens: None,
            test_tokens: None,
        }
    }

    /// digits and text: the share held out for testing.
    pub fn test_fraction(&self) -> f64 {
        let default = if self.name == DatasetName::Text {
            0.1
        } else {
            0.3
        };
        self.test_fraction.unwrap_or(default)
    }
    /// text, synthetic-text: tokens predicted per sequence.
    pub fn context(&self) -> u64 {
        self.context.unwrap_or(64)
    }
    /// synthetic-text: vocabulary size.
    pub fn vocab(&self) -> u64 {
        self.vocab.unwrap_or(16)
    }
    /// synthetic-text: the source's order.
    pub fn order(&self) -> u64 {
        self.order.unwrap_or(2)
    }
    /// synthetic-text: spread of the next-token logits.
    pub fn sharpness(&self) -> f64 {
        self.sharpness.unwrap_or(2.0)
    }
    /// synthetic-text: training tokens.
    pub fn train_tokens(&self) -> u64 {
        self.train_tokens.unwrap_or(200_000)
    }
    /// synthetic-text: test tokens.
    pub fn test_tokens(&self) -> u64 {
        self.test_tokens.unwrap_or(20_000)
    }
    /// digits, synthetic: the seed of the split or the generator.
    pub fn data_seed(&self) -> u64 {
        self.data_seed.unwrap_or(0)
    }
    /// synthetic: training examples.
    pub fn train_samples(&self) -> u64 {
        self.train_samples.unwrap_or(10_000)
    }
    /// synthetic: test examples.
    pub fn test_samples(&self) -> u64 {
        self.test_samples.unwrap_or(2_000)
    }
    /// synthetic: values per example (the product of `shape` when one is given).
    pub fn features(&self) -> u64 {
        match &self.shape {
            Some(s) => s.iter().product(),
            None => self.features.unwrap_or(32),
        }
    }
    /// synthetic: classes.
    pub fn classes(&self) -> u64 {
        self.classes.unwrap_or(10)
    }
    /// synthetic: the spread of each cluster.
    pub fn noise(&self) -> f64 {
        self.noise.unwrap_or(1.0)
    }
}

/// The datasets batchbench knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum DatasetName {
    /// UCI optical digits, 8×8, embedded in the binary.
    Digits,
    /// MNIST handwritten digits, 28×28, IDX files.
    Mnist,
    /// Zalando's Fashion-MNIST, 28×28, IDX files.
    FashionMnist,
    /// A seeded Gaussian-clusters classification task.
    Synthetic,
    /// CIFAR-10, 32×32 colour images, the binary version's files.
    Cifar10,
    /// Any file as a stream of byte tokens (language modelling).
    Text,
    /// A seeded Markov source of tokens whose entropy rate is known exactly.
    SyntheticText,
}

impl DatasetName {
    /// The name as written in suites and folder names.
    pub fn as_str(self) -> &'static str {
        match self {
            DatasetName::Digits => "digits",
            DatasetName::Mnist => "mnist",
            DatasetName::FashionMnist => "fashion-mnist",
            DatasetName::Synthetic => "synthetic",
            DatasetName::Cifar10 => "cifar10",
            DatasetName::Text => "text",
            DatasetName::SyntheticText => "synthetic-text",
        }
    }
}

impl fmt::Display for DatasetName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
