//! Optimizers built from an [`OptimizerSpec`], with Burn's implementations.
//!
//! Burn's optimizers are different types; [`RunOptimizer`] picks one and hands it to
//! the (generic) training loop, so the loop is compiled once per optimizer type and
//! never branches per step.

use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{AdamConfig, AdamWConfig, SgdConfig};
use burn::tensor::backend::AutodiffBackend;

use super::{DeviceData, TrainObserver, TrainOutcome, run_loop};
use crate::data::Dataset;
use crate::model::Model;
use crate::suite::{OptimizerKind, OptimizerSpec, RunSpec};

/// A resolved optimizer choice.
#[derive(Debug, Clone)]
pub enum RunOptimizer {
    /// SGD with optional (Nesterov) momentum and L2 weight decay.
    Sgd(SgdConfig),
    /// Adam with optional L2 weight decay.
    Adam(AdamConfig),
    /// AdamW (decoupled weight decay).
    AdamW(AdamWConfig),
}

impl RunOptimizer {
    /// Builds the configuration from a resolved spec. Momentum uses no dampening
    /// (PyTorch's convention; Burn's default dampening is 0.1).
    pub fn new(spec: &OptimizerSpec) -> Self {
        let decay = spec
            .weight_decay
            .filter(|&w| w > 0.0)
            .map(|w| WeightDecayConfig { penalty: w as f32 });
        match spec.kind {
            OptimizerKind::Sgd => {
                let momentum = spec.momentum.filter(|&m| m > 0.0).map(|m| MomentumConfig {
                    momentum: m,
                    dampening: 0.0,
                    nesterov: spec.nesterov.unwrap_or(false),
                });
                RunOptimizer::Sgd(
                    SgdConfig::new()
                        .with_momentum(momentum)
                        .with_weight_decay(decay),
                )
            }
            OptimizerKind::Adam => RunOptimizer::Adam(
                AdamConfig::new()
                    .with_beta_1(spec.beta1.unwrap_or(0.9) as f32)
                    .with_beta_2(spec.beta2.unwrap_or(0.999) as f32)
                    .with_epsilon(spec.epsilon.unwrap_or(1e-8) as f32)
                    .with_weight_decay(decay),
            ),
            OptimizerKind::Adamw => RunOptimizer::AdamW(
                AdamWConfig::new()
                    .with_beta_1(spec.beta1.unwrap_or(0.9) as f32)
                    .with_beta_2(spec.beta2.unwrap_or(0.999) as f32)
                    .with_epsilon(spec.epsilon.unwrap_or(1e-8) as f32)
                    .with_weight_decay(spec.weight_decay.unwrap_or(1e-4) as f32),
            ),
        }
    }

    /// Runs the training loop with this optimizer.
    pub(crate) fn run<B: AutodiffBackend>(
        self,
        spec: &RunSpec,
        data: &Dataset,
        dev: &DeviceData<B>,
        model: Model<B>,
        device: &B::Device,
        observer: &mut dyn TrainObserver,
    ) -> anyhow::Result<TrainOutcome> {
        match self {
            RunOptimizer::Sgd(c) => run_loop(spec, data, dev, model, c.init(), device, observer),
            RunOptimizer::Adam(c) => run_loop(spec, data, dev, model, c.init(), device, observer),
            RunOptimizer::AdamW(c) => run_loop(spec, data, dev, model, c.init(), device, observer),
        }
    }
}
