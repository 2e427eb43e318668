//! Figures derived from one run's curve: final accuracies, the generalization gap,
//! time/steps/samples to target and steady-state throughput.

use crate::results::record::{CurvePoint, Summary};
use crate::suite::RunSpec;
use crate::suite::schema::Target;

use super::{TrainOutcome, WARMUP_STEPS};

/// The first evaluation point that reaches `target`.
pub fn first_reaching<'a>(curve: &'a [CurvePoint], target: &Target) -> Option<&'a CurvePoint> {
    curve.iter().find(|p| target.reached(p))
}

/// Summarizes a run. Targets never reached stay `None`.
pub fn summarize(spec: &RunSpec, outcome: &TrainOutcome) -> Summary {
    let last = outcome.curve.last();
    let target = spec.target();
    let reached = target.and_then(|t| first_reaching(&outcome.curve, &t));
    let steady_s = outcome.warmup_s.map(|w| outcome.train_s - w);
    let steady_samples = outcome.samples.saturating_sub(outcome.warmup_samples);
    let samples_per_s = steady_s
        .filter(|&s| s > 0.0 && steady_samples > 0)
        .map(|s| steady_samples as f64 / s);
    // What warm-up cost beyond the same steps at steady speed: on CUDA, kernel
    // compilation and autotuning; elsewhere mostly allocation.
    let cold_start_s = match (outcome.warmup_s, samples_per_s) {
        (Some(w), Some(rate)) => Some((w - outcome.warmup_samples as f64 / rate).max(0.0)),
        _ => None,
    };
    Summary {
        final_train_acc: last.map(|p| p.train_acc),
        final_test_acc: last.map(|p| p.test_acc),
        final_train_loss: last.map(|p| p.train_loss),
        final_test_loss: last.map(|p| p.test_loss),
        gap: last.map(|p| p.train_acc - p.test_acc),
        best_test_acc: outcome
            .curve
            .iter()
            .map(|p| p.test_acc)
            .fold(None, |best: Option<f64>, a| {
                Some(best.map_or(a, |b| b.max(a)))
            }),
        target_acc: spec.target_accuracy,
        target,
        time_to_target_s: reached.map(|p| p.train_s),
        time_to_target_excl_warmup_s: reached.and_then(|p| {
            outcome
                .warmup_s
                .filter(|_| p.step >= WARMUP_STEPS)
                .map(|w| p.train_s - w)
        }),
        wall_to_target_s: reached.map(|p| p.wall_s),
        steps_to_target: reached.map(|p| p.step),
        samples_to_target: reached.map(|p| p.samples),
        epochs_to_target: reached.map(|p| p.epoch),
        samples_per_s,
        warmup_s: outcome.warmup_s,
        cold_start_s,
        warmup_steps: outcome.warmup_s.map(|_| WARMUP_STEPS),
        kernels_compiled: None,
        kernels_by_phase: None,
        train_s: Some(outcome.train_s),
        eval_s: Some(outcome.eval_s),
        wall_s: None,
        data_s: None,
        steps: Some(outcome.steps),
        samples: Some(outcome.samples),
        parameters: None,
        energy_to_target_j: None,
    }
}
