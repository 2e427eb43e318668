//! Probes: the measurements the literature uses to explain *why* the batch size
//! changes training — distance travelled from the initial weights, Keskar's
//! ε-sharpness of the final weights, McCandlish's gradient noise scale, gradient
//! diversity, and (across runs, see [`interpolation`]) the loss along the line between
//! a small-batch and a large-batch solution.
//!
//! The mathematics lives in [`estimators`] (tested on problems with known answers);
//! this module binds it to a model on a device. Probes run at evaluation points and
//! at the end of a run; their time is spent outside the training timer.

pub mod estimators;
pub mod interpolation;

pub use crate::model::params;

use burn::module::AutodiffModule;
use burn::optim::GradientsParams;
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{ElementConversion, Int, Tensor, TensorData};
use rand::SeedableRng;
use rand::seq::index::sample;
use rand_chacha::ChaCha8Rng;

use crate::model::Model;
use crate::model::eval::{DeviceData, cross_entropy, device_error};
use crate::results::probes::{EndProbes, EvalProbes, Sharpness, finite};
use crate::suite::ProbeSpec;

/// Random stream for probe batches (independent of training's data order).
const PROBE_STREAM: u64 = 4;

/// Probes bound to one run.
pub struct ProbeRunner<B: AutodiffBackend> {
    spec: ProbeSpec,
    theta0: Option<Tensor<B::InnerBackend, 1>>,
    norm0: f64,
    rng: ChaCha8Rng,
    n_train: usize,
}

/// The flat gradient of the mean cross-entropy on `(x, y)`, and the loss.
fn grads_of<B: AutodiffBackend>(
    model: &Model<B>,
    x: Tensor<B, 2>,
    y: Tensor<B, 1, Int>,
) -> (Tensor<B::InnerBackend, 1>, Tensor<B, 1>) {
    let (logits, targets) = model.logits_and_targets(x, y);
    let loss = cross_entropy(logits, targets);
    let grads = GradientsParams::from_grads(loss.backward(), model);
    (params::flatten_grads(model, &grads), loss)
}

impl<B: AutodiffBackend> ProbeRunner<B> {
    /// Prepares the probes for a model at its initial weights.
    pub fn new(
        spec: &ProbeSpec,
        model: &Model<B>,
        n_train: usize,
        seed: u64,
    ) -> anyhow::Result<Self> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(PROBE_STREAM);
        let (theta0, norm0) = if spec.weight_distance == Some(true) {
            let t = params::flatten(&model.valid());
            let n = params::norm_sq(t.clone())?.sqrt();
            (Some(t), n)
        } else {
            (None, 0.0)
        };
        Ok(ProbeRunner {
            spec: spec.clone(),
            theta0,
            norm0,
            rng,
            n_train,
        })
    }

    /// Whether any probe runs at evaluation points.
    pub fn any_at_eval(&self) -> bool {
        self.theta0.is_some()
            || self.spec.noise_scale.is_some()
            || self.spec.gradient_diversity.is_some()
    }

    fn batch(&mut self, b: usize, dev: &DeviceData<B>) -> (Tensor<B, 2>, Tensor<B, 1, Int>) {
        let idx: Vec<i64> = sample(&mut self.rng, self.n_train, b.min(self.n_train))
            .into_iter()
            .map(|i| i as i64)
            .collect();
        let n = idx.len();
        let t = Tensor::<B, 1, Int>::from_data(TensorData::new(idx, [n]), &dev.train_x.device());
        (
            dev.train_x.clone().select(0, t.clone()),
            dev.train_y.clone().select(0, t),
        )
    }

    /// Values measured at an evaluation point.
    pub fn at_eval(&mut self, model: &Model<B>, dev: &DeviceData<B>) -> anyhow::Result<EvalProbes> {
        let mut out = EvalProbes::default();
        if let Some(theta0) = &self.theta0 {
            let d = params::norm_sq(params::flatten(&model.valid()) - theta0.clone())?.sqrt();
            out.weight_distance = finite(d);
            out.weight_distance_rel = finite(d / self.norm0.max(f64::MIN_POSITIVE));
        }
        if let Some(ns) = self.spec.noise_scale.clone() {
            let (small, big) = ns.batches();
            let (small, big) = (small as usize, (big as usize).min(self.n_train));
            let mut norm = |b: usize| -> anyhow::Result<f64> {
                let (x, y) = self.batch(b, dev);
                let (g, _) = grads_of(model, x, y);
                params::norm_sq(g)
            };
            let est = estimators::noise_scale(small, big, ns.repeats() as usize, &mut norm)?;
            out.noise_scale = est.b_simple.and_then(finite);
            out.noise_g2 = finite(est.g2);
            out.noise_trace_sigma = finite(est.trace_sigma);
        }
        if let Some(gd) = self.spec.gradient_diversity.clone() {
            let n = (gd.examples.unwrap_or(32) as usize).min(self.n_train);
            let (x, y) = self.batch(n, dev);
            let mut sum: Option<Tensor<B::InnerBackend, 1>> = None;
            let mut sum_sq = 0.0;
            for i in 0..n {
                let (g, _) = grads_of(model, x.clone().slice(i..i + 1), y.clone().slice(i..i + 1));
                sum_sq += params::norm_sq(g.clone())?;
                sum = Some(match sum {
                    Some(s) => s + g,
                    None => g,
                });
            }
            let total = params::norm_sq(sum.expect("n ≥ 1"))?;
            out.gradient_diversity = (sum_sq > 0.0).then(|| total / sum_sq).and_then(finite);
        }
        Ok(out)
    }

    /// Values measured once at the end of the run (sharpness).
    pub fn at_end(
        &mut self,
        model: &Model<B>,
        dev: &DeviceData<B>,
        seed: u64,
    ) -> anyhow::Result<EndProbes> {
        let Some(sh) = self.spec.sharpness.clone() else {
            return Ok(EndProbes::default());
        };
        let samples = (sh.samples.unwrap_or(1000) as usize).min(self.n_train);
        let steps = sh.steps.unwrap_or(20) as usize;
        let device = dev.train_x.device();
        // A fixed subset: the first `samples` of the fixed training-evaluation subset.
        let x = dev
            .train_eval_x
            .clone()
            .slice(0..samples.min(dev.train_eval_x.dims()[0]));
        let y = dev
            .train_eval_y
            .clone()
            .slice(0..samples.min(dev.train_eval_y.dims()[0]));
        let theta = params::to_host(params::flatten(&model.valid()))?;
        let template = model.clone();
        let mut loss_and_grad = |point: &[f32]| -> anyhow::Result<(f64, Vec<f32>)> {
            let m = params::load(
                template.clone(),
                params::to_device::<B>(point, &device),
                true,
            );
            let (g, loss) = grads_of(&m, x.clone(), y.clone());
            let f: f64 = loss.inner().try_into_scalar().map_err(device_error)?.elem();
            Ok((f, params::to_host(g)?))
        };
        let epsilons = sh.epsilons.clone().unwrap_or_else(|| vec![1e-3, 5e-4]);
        let mut epsilon = std::collections::BTreeMap::new();
        for eps in &epsilons {
            let phi = estimators::sharpness(&theta, *eps, steps, seed, &mut loss_and_grad)?;
            epsilon.insert(format!("{eps:e}"), finite(phi));
        }
        Ok(EndProbes {
            sharpness: Some(Sharpness {
                epsilon,
                samples: samples as u64,
                steps: steps as u64,
                method: "Keskar et al. 2017: 100 × (max f(θ+Δ) − f(θ)) / (1 + f(θ)) over |Δᵢ| ≤ ε(|θᵢ|+1), by projected sign-gradient ascent from a random point of the box, on a fixed training subset".into(),
            }),
        })
    }
}
