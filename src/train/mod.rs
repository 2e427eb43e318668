//! The training loop: one run, on one device, from seeded weights to a curve.
//!
//! What the loop does, and why:
//! - the dataset is uploaded to the device once; each step gathers its batch there
//!   by index from a per-pass seeded permutation (no host→device copy of examples per
//!   step);
//! - every step uses exactly `batch_size` examples: the tail of a pass shorter than a
//!   batch is skipped and the next pass starts a fresh permutation, so batch-size
//!   comparisons are not blurred by a smaller last batch;
//! - an epoch is `training-set size` examples seen, so curves and budgets mean the same
//!   at every batch size;
//! - the loss is read back only every [`LOSS_CHECK_EVERY`] steps and at evaluations,
//!   never every step (a read is a device sync);
//! - training time excludes evaluation and is measured with the device synchronized;
//!   the first [`WARMUP_STEPS`] steps are reported apart (`warmup_s`), since on CUDA
//!   they include kernel compilation and autotuning;
//! - evaluation runs in large batches on the non-autodiff backend, on the whole test
//!   set and on a fixed, seeded subset of the training set.

pub mod augment;
pub mod optim;
pub mod plan;
pub mod schedule;
pub mod summary;

use std::time::Instant;

use anyhow::Context;
use burn::module::AutodiffModule;
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{ElementConversion, Int, Tensor, TensorData};

use crate::data::Dataset;
use crate::model::{InputShape, Model};
use crate::results::record::{CurvePoint, Divergence};
use crate::suite::RunSpec;
use crate::telemetry::Phase;

pub use crate::model::eval::{DeviceData, EVAL_BATCH, cross_entropy, device_error, evaluate};
pub use optim::RunOptimizer;

/// Steps counted as warm-up before throughput is measured.
pub const WARMUP_STEPS: u64 = 10;
/// The training loss is read back (and checked for NaN) every this many steps.
pub const LOSS_CHECK_EVERY: u64 = 50;

/// The phase the loop is in while taking optimizer steps: warm-up for the first
/// [`WARMUP_STEPS`], then the steady state.
fn training_phase(steps: u64) -> Phase {
    if steps < WARMUP_STEPS {
        Phase::Warmup
    } else {
        Phase::Train
    }
}

/// Receives progress from the loop; the worker forwards it to the parent process.
pub trait TrainObserver {
    /// A new phase starts.
    fn phase(&mut self, _phase: Phase) {}
    /// An evaluation point was measured.
    fn eval_point(&mut self, _point: &CurvePoint) {}
    /// Asked between steps: stop now (Ctrl-C)?
    fn should_stop(&self) -> bool {
        false
    }
}

/// An observer that ignores everything (tests, benches).
pub struct NoObserver;
impl TrainObserver for NoObserver {}

/// How the loop ended.
#[derive(Clone, Debug, PartialEq)]
pub enum LoopEnd {
    /// The budget was used up.
    Completed,
    /// The run reached its target and the spec asked to stop there (`stop_at_target`).
    ReachedTarget,
    /// A non-finite loss was seen.
    Diverged(Divergence),
    /// The observer asked to stop.
    Stopped,
}

/// What the loop measured.
#[derive(Clone, Debug)]
pub struct TrainOutcome {
    /// How it ended.
    pub end: LoopEnd,
    /// Evaluation points, first at step 0.
    pub curve: Vec<CurvePoint>,
    /// Seconds until the end of warm-up, if warm-up completed.
    pub warmup_s: Option<f64>,
    /// Examples seen during warm-up.
    pub warmup_samples: u64,
    /// Total training seconds.
    pub train_s: f64,
    /// Total evaluation seconds.
    pub eval_s: f64,
    /// Steps taken.
    pub steps: u64,
    /// Examples seen.
    pub samples: u64,
    /// Probe results at the end of the run.
    pub probes: crate::results::EndProbes,
    /// The final weights, flat, when the suite asked to keep them (interpolation).
    pub final_weights: Option<Vec<f32>>,
}

/// Trains `spec` on `data` (already on the device) and returns the curve.
pub fn train<B: AutodiffBackend>(
    spec: &RunSpec,
    data: &Dataset,
    dev: &DeviceData<B>,
    device: &B::Device,
    observer: &mut dyn TrainObserver,
) -> anyhow::Result<TrainOutcome> {
    let model = Model::<B>::new(&spec.model, InputShape::of(data), spec.seed, device);
    let optimizer = RunOptimizer::new(&spec.optimizer);
    optimizer.run(spec, data, dev, model, device, observer)
}

/// The loop proper, for one optimizer type `O`.
pub(crate) fn run_loop<B, O>(
    spec: &RunSpec,
    data: &Dataset,
    dev: &DeviceData<B>,
    mut model: Model<B>,
    mut optim: O,
    device: &B::Device,
    observer: &mut dyn TrainObserver,
) -> anyhow::Result<TrainOutcome>
where
    B: AutodiffBackend,
    O: burn::optim::Optimizer<Model<B>, B>,
{
    let n_train = data.train.len();
    let mut plan = plan::StepPlan::new(spec, n_train);
    let mut permutation: Option<Tensor<B, 1, Int>> = None;

    let started = Instant::now();
    let mut train_s = 0.0;
    let mut eval_s = 0.0;
    let mut steps = 0u64;
    let mut samples = 0u64;
    let mut warmup_s = None;
    let mut warmup_samples = 0;
    let mut last_loss: Option<f64> = None;
    let mut curve = Vec::new();
    let mut accumulator = burn::optim::GradientsAccumulator::<Model<B>>::new();
    let augmenter = match (spec.augment, data.image) {
        (Some(a), Some(image)) => Some(augment::Augmenter::<B>::new(a, image, spec.seed, device)),
        _ => None,
    };
    // Dropout draws from the backend's generator: seed it with the run.
    B::seed(device, spec.seed);

    let measure = |model: &Model<B>,
                   steps: u64,
                   samples: u64,
                   train_s: f64,
                   eval_s: &mut f64,
                   observer: &mut dyn TrainObserver|
     -> anyhow::Result<CurvePoint> {
        observer.phase(Phase::Eval);
        let t = Instant::now();
        let inner = model.valid();
        let (train_loss, train_acc) = evaluate(
            &inner,
            &dev.train_eval_x.clone().inner(),
            &dev.train_eval_y.clone().inner(),
        )?;
        let (test_loss, test_acc) = evaluate(
            &inner,
            &dev.test_x.clone().inner(),
            &dev.test_y.clone().inner(),
        )?;
        *eval_s += t.elapsed().as_secs_f64();
        let epoch = samples as f64 / n_train as f64;
        let point = CurvePoint {
            epoch,
            step: steps,
            samples,
            wall_s: started.elapsed().as_secs_f64(),
            train_s,
            lr: schedule::learning_rate(spec, epoch),
            batch_size: schedule::batch_size(spec, epoch),
            train_loss,
            train_acc,
            test_loss,
            test_acc,
            test_perplexity: data.text.is_some().then(|| test_loss.exp()),
            probes: Default::default(),
        };
        Ok(point)
    };
    let mut probes = match &spec.probes {
        Some(p) => Some(crate::probe::ProbeRunner::new(
            p, &model, n_train, spec.seed,
        )?),
        None => None,
    };
    // Probe values join the point before it is published; their time is not training.
    let mut publish = |mut point: CurvePoint,
                       model: &Model<B>,
                       eval_s: &mut f64,
                       observer: &mut dyn TrainObserver|
     -> anyhow::Result<CurvePoint> {
        if let Some(p) = probes.as_mut().filter(|p| p.any_at_eval()) {
            let t = Instant::now();
            point.probes = p.at_eval(model, dev)?;
            *eval_s += t.elapsed().as_secs_f64();
        }
        observer.eval_point(&point);
        observer.phase(training_phase(point.step));
        Ok(point)
    };

    let stop_at = spec.target().filter(|_| spec.stop_at_target);
    let first = measure(&model, 0, 0, 0.0, &mut eval_s, observer)?;
    curve.push(publish(first, &model, &mut eval_s, observer)?);
    let mut end = LoopEnd::Completed;
    let mut segment_start = Instant::now();

    while let Some(step) = plan.next() {
        if observer.should_stop() {
            end = LoopEnd::Stopped;
            break;
        }
        let batch = step.batch;
        let micro = batch / spec.accumulate as usize;
        if step.new_pass {
            permutation = Some(Tensor::from_data(
                TensorData::new(plan.order().to_vec(), [n_train]),
                device,
            ));
        }
        let perm = permutation.as_ref().expect("the first step starts a pass");
        let lr = step.lr;

        let mut step_loss = None;
        for k in 0..spec.accumulate as usize {
            let from = step.offset + k * micro;
            let idx = perm.clone().slice(from..from + micro);
            let xb = dev.train_x.clone().select(0, idx.clone());
            let yb = dev.train_y.clone().select(0, idx);
            let xb = match &augmenter {
                Some(a) => a.apply(xb, steps, k as u64),
                None => xb,
            };
            let (logits, targets) = model.logits_and_targets(xb, yb);
            let loss = cross_entropy(logits, targets);
            // Each micro-batch contributes 1/k of the mean over the whole batch.
            let loss = if spec.accumulate > 1 {
                loss.div_scalar(spec.accumulate as f64)
            } else {
                loss
            };
            let grads = burn::optim::GradientsParams::from_grads(loss.backward(), &model);
            if spec.accumulate > 1 {
                accumulator.accumulate(&model, grads);
            } else {
                model = optim.step(lr, model, grads);
            }
            step_loss = Some(loss);
        }
        if spec.accumulate > 1 {
            model = optim.step(lr, model, accumulator.grads());
        }
        steps += 1;
        samples += batch as u64;

        let check_loss = steps % LOSS_CHECK_EVERY == 0 || steps == 1;
        if check_loss && let Some(loss) = step_loss {
            let value: f64 = loss.try_into_scalar().map_err(device_error)?.elem::<f64>()
                * spec.accumulate as f64;
            if !value.is_finite() {
                end = LoopEnd::Diverged(Divergence {
                    step: steps,
                    last_finite_loss: last_loss,
                });
                train_s += segment_start.elapsed().as_secs_f64();
                break;
            }
            last_loss = Some(value);
        }
        if steps == WARMUP_STEPS {
            B::sync(device).map_err(device_error)?;
            let elapsed = train_s + segment_start.elapsed().as_secs_f64();
            warmup_s = Some(elapsed);
            warmup_samples = samples;
            observer.phase(Phase::Train);
        }
        if step.evaluate {
            B::sync(device).map_err(device_error)?;
            train_s += segment_start.elapsed().as_secs_f64();
            let point = measure(&model, steps, samples, train_s, &mut eval_s, observer)?;
            let point = publish(point, &model, &mut eval_s, observer)?;
            if !point.train_loss.is_finite() {
                end = LoopEnd::Diverged(Divergence {
                    step: steps,
                    last_finite_loss: last_loss,
                });
                curve.push(point);
                break;
            }
            last_loss = Some(point.train_loss);
            let stop_here = stop_at.is_some_and(|t| t.reached(&point));
            curve.push(point);
            if stop_here {
                end = LoopEnd::ReachedTarget;
                break;
            }
            segment_start = Instant::now();
        }
    }
    if end == LoopEnd::Stopped {
        train_s += segment_start.elapsed().as_secs_f64();
    }
    drop(publish);
    let mut probe_values = crate::results::EndProbes::default();
    let mut final_weights = None;
    let finished = matches!(end, LoopEnd::Completed | LoopEnd::ReachedTarget);
    if finished && let Some(p) = probes.as_mut() {
        probe_values = p.at_end(&model, dev, spec.seed)?;
    }
    if spec
        .probes
        .as_ref()
        .is_some_and(|p| p.interpolation.is_some())
        && finished
    {
        final_weights = Some(crate::model::params::to_host(
            crate::model::params::flatten(&model.valid()),
        )?);
    }
    Ok(TrainOutcome {
        end,
        curve,
        warmup_s,
        warmup_samples,
        train_s,
        eval_s,
        steps,
        samples,
        probes: probe_values,
        final_weights,
    })
}

/// Uploads `data` to the device and trains `spec` on it: the upload and the loop in
/// one call, for callers that already hold the dataset.
pub fn upload_and_train<B: AutodiffBackend>(
    spec: &RunSpec,
    data: &Dataset,
    device: &B::Device,
    observer: &mut dyn TrainObserver,
) -> anyhow::Result<TrainOutcome> {
    let dev = DeviceData::<B>::upload(data, spec.eval_train_samples as usize, spec.seed, device);
    train(spec, data, &dev, device, observer).context("training failed")
}
