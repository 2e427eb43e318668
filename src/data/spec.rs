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
        "if": {"properties": {"name": {"enum": ["digits", "synthetic"]}}},
        "then": {"properties": {"path": {"type": "null"}}},
        "$comment": "path applies only to mnist and fashion-mnist"
    },
    {
        "if": {"properties": {"name": {"enum": ["mnist", "fashion-mnist"]}}},
        "then": {"properties": {"data_seed": {"type": "null"}}},
        "$comment": "data_seed applies only to digits and synthetic"
    },
    {
        "if": {"properties": {"name": {"not": {"const": "digits"}}}},
        "then": {"properties": {"test_fraction": {"type": "null"}}},
        "$comment": "test_fraction applies only to digits"
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
    }
]))]
pub struct DatasetSpec {
    /// Which dataset.
    pub name: DatasetName,
    /// Folder holding the IDX files (mnist, fashion-mnist). Default: `$BATCHBENCH_DATA/<name>`,
    /// then `/usr/share/datasets/<name>`.
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("exclusiveMinimum" = 0, "exclusiveMaximum" = 1))]
    pub test_fraction: Option<f64>,
    /// digits and synthetic: seed of the split / generator (independent of the run seed,
    /// so every run of a suite sees the same data). Default 0.
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
}

/// The options' defaults, in one place: the suite's normalization writes them into
/// every run's spec (so records show them), and the loaders read them through these
/// methods, so a spec built by hand gets the same dataset.
impl DatasetSpec {
    /// digits: the share of the 1,797 images held out for testing.
    pub fn test_fraction(&self) -> f64 {
        self.test_fraction.unwrap_or(0.3)
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
}

impl DatasetName {
    /// The name as written in suites and folder names.
    pub fn as_str(self) -> &'static str {
        match self {
            DatasetName::Digits => "digits",
            DatasetName::Mnist => "mnist",
            DatasetName::FashionMnist => "fashion-mnist",
            DatasetName::Synthetic => "synthetic",
        }
    }
}

impl fmt::Display for DatasetName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
