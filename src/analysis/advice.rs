//! `advise`'s model: from a few measurements to a predicted time to target at every
//! candidate batch size, and how far that prediction was from a full sweep.
//!
//! McCandlish et al. (2018) show that with the learning rate tuned per batch size,
//! optimizer steps S and training examples E to a target trade off as
//!
//!   S(B) = S_min (1 + B_noise / B),   E(B) = S(B)·B = E_min (1 + B / B_noise),
//!
//! with the gradient noise scale B_noise ≈ B_simple = tr(Σ)/|G|² measured near the
//! target's loss. Two measurements pin the curve: B_simple from the noise-scale probe
//! of a pilot run, and the pilot's own steps to target S(B_p), which gives
//! S_min = S(B_p) / (1 + B_noise/B_p). The hardware side is the steady time per step
//! t(B) measured at each candidate, so the time to target is T(B) = S(B)·t(B), and its
//! minimum is this machine's batch size. The optimal SGD learning rate follows the same
//! model: ε(B) = ε_max / (1 + B_noise/B) (their eq. 2.6), anchored at the pilot's rate.
//!
//! Why the noise scale is taken over the second half of the pilot's way to the target:
//! B_simple grows as the loss falls (|G|² shrinks faster than tr(Σ)), and B_crit is the
//! noise scale *at the target's loss*; the points just before the target are the
//! measurements of it, the early ones are not. Per-point estimates are noisy (|G|² is a
//! difference of two noisy norms), so the points are combined as the ratio of the mean
//! trace to the mean |G|² (McCandlish et al., appendix A), and the interval comes from
//! resampling those points.
//!
//! Nothing here measures: the runner's `advise` stage produces the records, this module
//! reads them (so the advice can be rebuilt from saved records), the report draws it.

use std::collections::BTreeMap;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::results::record::{RunRecord, RunStatus};
use crate::suite::schema::Target;

/// Resamples of the window's points for the noise scale's interval.
pub const RESAMPLES: usize = 1000;
/// Points the noise-scale window keeps at least (taken further back when the second
/// half of the way to the target holds fewer).
pub const MIN_WINDOW_POINTS: usize = 3;

/// The steady time per step measured at one candidate batch size.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct StepTime {
    /// The batch size.
    pub batch_size: u64,
    /// How the short run ended (`oom`: the batch does not fit).
    pub status: RunStatus,
    /// Why it failed, when it did.
    pub reason: Option<String>,
    /// Steady seconds per optimizer step (after the warm-up steps).
    pub step_s: Option<f64>,
    /// Steady examples per second.
    pub samples_per_s: Option<f64>,
    /// GPU utilization over the steady steps, % (null off NVIDIA GPUs).
    pub gpu_util_mean: Option<f64>,
    /// Peak GPU memory, MiB (null off NVIDIA GPUs).
    pub gpu_mem_peak_mib: Option<f64>,
    /// The record's key in the advice's runs.jsonl.
    pub key: String,
}

impl StepTime {
    /// Reads a short throughput run's record.
    pub fn from_record(r: &RunRecord) -> StepTime {
        let samples_per_s = r.summary.samples_per_s.filter(|v| *v > 0.0);
        StepTime {
            batch_size: r.spec.batch_size,
            status: r.status,
            reason: r.reason.clone(),
            step_s: samples_per_s
                .filter(|_| r.status == RunStatus::Ok)
                .map(|v| r.spec.batch_size as f64 / v),
            samples_per_s,
            gpu_util_mean: r.telemetry.gpu_util_steady_mean,
            gpu_mem_peak_mib: r.telemetry.gpu_mem_peak_mib,
            key: r.key.clone(),
        }
    }

    /// Whether the batch fits (the run did not run out of memory).
    pub fn fits(&self) -> bool {
        self.status != RunStatus::Oom
    }
}

/// One pilot run (one learning rate at the pilot batch size).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct PilotTry {
    /// The learning rate.
    pub lr: f64,
    /// How it ended.
    pub status: RunStatus,
    /// Optimizer steps the run was allowed (capped at the best try's steps so far).
    pub budget_steps: u64,
    /// Steps to the target (null: not reached within its budget).
    pub steps_to_target: Option<u64>,
    /// Training seconds to the target.
    pub time_to_target_s: Option<f64>,
    /// Wall seconds the run took in its worker.
    pub wall_s: Option<f64>,
    /// The record's key.
    pub key: String,
}

/// The noise scale measured at one evaluation point of the pilot.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct NoisePoint {
    /// Optimizer steps taken.
    pub step: u64,
    /// Training loss at the point.
    pub train_loss: f64,
    /// B_simple at the point (null when its |G|² estimate was not positive).
    pub b_simple: Option<f64>,
    /// The |G|² estimate.
    pub g2: f64,
    /// The tr(Σ) estimate.
    pub trace_sigma: f64,
    /// Whether the point is in the window the estimate uses.
    pub used: bool,
}

/// The noise scale the prediction uses.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct NoiseEstimate {
    /// B_noise: the window's mean tr(Σ) over its mean |G|².
    pub value: f64,
    /// 2.5% quantile over resamples of the window's points.
    pub low: f64,
    /// 97.5% quantile (null: unbounded — in some resamples |G|² is within noise of 0).
    pub high: Option<f64>,
    /// Points in the window.
    pub points: usize,
    /// Which points, and why.
    pub window: String,
}

/// A predicted quantity with its range over the noise scale's interval.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq)]
pub struct Band {
    /// At the estimate.
    pub mid: f64,
    /// The smallest over the interval.
    pub low: f64,
    /// The largest over the interval.
    pub high: f64,
}

/// The prediction at one candidate batch size.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Prediction {
    /// The batch size.
    pub batch_size: u64,
    /// The learning rate: the suite's rule at this batch size, or (a tuned suite) the
    /// model's optimum ε_max/(1 + B_noise/B).
    pub lr: Option<f64>,
    /// The grid's learning rate nearest to `lr` (tuned suites).
    pub lr_grid: Option<f64>,
    /// Whether the batch fits in memory.
    pub fits: bool,
    /// Steady seconds per step.
    pub step_s: Option<f64>,
    /// Predicted steps to target.
    pub steps: Option<Band>,
    /// Predicted examples to target.
    pub examples: Option<Band>,
    /// Predicted training seconds to target (steps × seconds per step).
    pub time_s: Option<Band>,
}

/// What `advise` recommends.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Recommendation {
    /// The candidate with the least predicted time to target on this machine.
    pub time_optimal: Option<u64>,
    /// The candidates that are time-optimal somewhere in the noise scale's interval.
    pub time_optimal_range: Option<(u64, u64)>,
    /// The candidate nearest B_noise (twice the fewest steps for twice the fewest
    /// examples: beyond it, larger batches buy few steps).
    pub compute_efficient: Option<u64>,
    /// The largest candidate that fitted.
    pub largest_fit: Option<u64>,
    /// One sentence, with its uncertainty.
    pub sentence: String,
}

/// The whole advice: what was measured, the model's prediction, the recommendation.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Advice {
    /// The configuration advised (model, dataset, optimizer).
    pub config: String,
    /// The device measured.
    pub device: String,
    /// The target, in words.
    pub target: String,
    /// How the learning rate follows the batch size: `tuned` (a grid, the pilot picks)
    /// or the suite's scaling rule.
    pub lr_rule: String,
    /// The learning rates of a tuned suite's grid.
    pub lr_grid: Vec<f64>,
    /// The candidates' measured step times.
    pub step_times: Vec<StepTime>,
    /// The pilot's batch size and why it was chosen.
    pub pilot_batch: u64,
    /// Why this pilot batch.
    pub pilot_reason: String,
    /// The pilot runs, in the order run.
    pub pilot: Vec<PilotTry>,
    /// The best pilot's learning rate and steps to target.
    pub pilot_lr: Option<f64>,
    /// The best pilot's steps to target.
    pub pilot_steps: Option<u64>,
    /// B_simple along the best pilot's run.
    pub trajectory: Vec<NoisePoint>,
    /// The noise scale used.
    pub noise: Option<NoiseEstimate>,
    /// Per candidate.
    pub predictions: Vec<Prediction>,
    /// The recommendation.
    pub recommendation: Recommendation,
    /// What limits the advice (said plainly).
    pub notes: Vec<String>,
}

/// What the runner measured, as the model reads it.
pub struct Measured<'a> {
    /// The configuration's label.
    pub config: String,
    /// The device.
    pub device: String,
    /// The target.
    pub target: Target,
    /// The candidates' short throughput runs.
    pub throughput: &'a [RunRecord],
    /// The pilot runs, in the order run.
    pub pilots: &'a [RunRecord],
    /// The pilot batch size and why.
    pub pilot_batch: (u64, String),
    /// The suite's learning rate per candidate (`None` for a tuned suite).
    pub rule: Option<(String, BTreeMap<u64, f64>)>,
    /// A tuned suite's grid (empty under a rule).
    pub lr_grid: Vec<f64>,
}

/// Builds the advice from the measurements.
pub fn advise(m: &Measured) -> Advice {
    let mut notes = Vec::new();
    let mut step_times: Vec<StepTime> = m.throughput.iter().map(StepTime::from_record).collect();
    step_times.sort_by_key(|s| s.batch_size);
    let pilot: Vec<PilotTry> = m
        .pilots
        .iter()
        .map(|r| PilotTry {
            lr: r.spec.lr,
            status: r.status,
            budget_steps: r.spec.steps(),
            steps_to_target: r.summary.steps_to_target,
            time_to_target_s: r.summary.time_to_target_s,
            wall_s: r.summary.wall_s,
            key: r.key.clone(),
        })
        .collect();
    // The best pilot: fewest steps to target; else (none reached it) the one that ran
    // longest, whose noise scale is the nearest to the target's.
    let probed = |r: &RunRecord| {
        r.spec
            .probes
            .as_ref()
            .is_some_and(|p| p.noise_scale.is_some())
    };
    let best = m
        .pilots
        .iter()
        .filter(|r| r.summary.steps_to_target.is_some())
        .min_by_key(|r| (r.summary.steps_to_target, !probed(r)))
        .or_else(|| {
            m.pilots
                .iter()
                .filter(|r| probed(r) && matches!(r.status, RunStatus::Ok | RunStatus::Interrupted))
                .max_by_key(|r| r.summary.steps.unwrap_or(0))
        });
    let steps_to_target = best.and_then(|r| r.summary.steps_to_target);
    let mut trajectory = best.map(noise_points).unwrap_or_default();
    let noise = best.and_then(|r| {
        let until = steps_to_target.unwrap_or(r.summary.steps.unwrap_or(0));
        noise_estimate(&mut trajectory, until)
    });
    match (best, steps_to_target) {
        (None, _) => notes.push(
            "no pilot run finished; nothing is predicted (see the pilot table for why)".into(),
        ),
        (Some(_), None) => notes.push(format!(
            "the pilot did not reach the target ({}) within its budget: the noise scale is the one measured at its end, which underestimates the target's (it grows as the loss falls), and steps and times to target are not predicted",
            m.target.describe()
        )),
        _ => {}
    }
    if best.is_some() && noise.is_none() {
        notes.push(
            "the pilot measured no noise scale (the probe needs at least one evaluation point with a positive |G|² estimate)".into(),
        );
    }

    let pilot_lr = best.map(|r| r.spec.lr);
    let b_p = m.pilot_batch.0 as f64;
    let predictions: Vec<Prediction> = step_times
        .iter()
        .map(|t| {
            let b = t.batch_size as f64;
            let lr = match &m.rule {
                Some((_, lrs)) => lrs.get(&t.batch_size).copied(),
                None => match (&noise, pilot_lr) {
                    (Some(n), Some(lr_p)) => Some(optimal_lr(lr_p, b_p, n.value, b)),
                    _ => None,
                },
            };
            let lr_grid = lr
                .filter(|_| m.rule.is_none())
                .and_then(|lr| nearest_in_log(&m.lr_grid, lr));
            let steps = match (&noise, steps_to_target) {
                (Some(n), Some(s_p)) => Some(band(n, |bn| predicted_steps(s_p as f64, b_p, bn, b))),
                _ => None,
            };
            let scale = |k: f64| {
                move |s: Band| Band {
                    mid: s.mid * k,
                    low: s.low * k,
                    high: s.high * k,
                }
            };
            Prediction {
                batch_size: t.batch_size,
                lr,
                lr_grid,
                fits: t.fits(),
                step_s: t.step_s,
                examples: steps.map(scale(b)),
                time_s: t
                    .step_s
                    .filter(|_| t.fits())
                    .and_then(|dt| steps.map(scale(dt))),
                steps,
            }
        })
        .collect();

    if step_times.iter().any(|t| t.fits() && t.step_s.is_none()) {
        notes.push("some candidates' throughput runs failed without running out of memory; their times are not predicted (see their records)".into());
    }
    let optimum_at_ends = match (&noise, steps_to_target) {
        (Some(n), Some(s_p)) => {
            let optimum_at = |bn: f64| {
                let times: Vec<Option<f64>> = step_times
                    .iter()
                    .map(|t| {
                        let dt = t.step_s.filter(|_| t.fits())?;
                        Some(predicted_steps(s_p as f64, b_p, bn, t.batch_size as f64) * dt)
                    })
                    .collect();
                argmin(&times).map(|i| step_times[i].batch_size)
            };
            Some((
                optimum_at(n.low),
                optimum_at(n.high.unwrap_or(f64::INFINITY)),
            ))
        }
        _ => None,
    };
    let recommendation = recommend(&predictions, noise.as_ref(), optimum_at_ends, &m.target);
    Advice {
        config: m.config.clone(),
        device: m.device.clone(),
        target: m.target.describe(),
        lr_rule: m
            .rule
            .as_ref()
            .map_or("tuned".to_string(), |(rule, _)| rule.clone()),
        lr_grid: m.lr_grid.clone(),
        step_times,
        pilot_batch: m.pilot_batch.0,
        pilot_reason: m.pilot_batch.1.clone(),
        pilot,
        pilot_lr,
        pilot_steps: steps_to_target,
        trajectory,
        noise,
        predictions,
        recommendation,
        notes,
    }
}

/// The noise-scale points of a run's curve (points where the probe measured).
fn noise_points(r: &RunRecord) -> Vec<NoisePoint> {
    r.curve
        .iter()
        .filter_map(|p| {
            Some(NoisePoint {
                step: p.step,
                train_loss: p.train_loss,
                b_simple: p.probes.noise_scale,
                g2: p.probes.noise_g2?,
                trace_sigma: p.probes.noise_trace_sigma?,
                used: false,
            })
        })
        .filter(|p| p.step > 0 && p.g2.is_finite() && p.trace_sigma.is_finite())
        .collect()
}

/// B_noise from the points up to step `until` (the target's): those in the second half
/// of the way there, at least [`MIN_WINDOW_POINTS`] (further back when needed); marks
/// them `used`. `None` when no window has a positive mean |G|².
pub fn noise_estimate(points: &mut [NoisePoint], until: u64) -> Option<NoiseEstimate> {
    let eligible: Vec<usize> = (0..points.len())
        .filter(|&i| points[i].step <= until)
        .collect();
    if eligible.is_empty() {
        return None;
    }
    let half: Vec<usize> = eligible
        .iter()
        .copied()
        .filter(|&i| 2 * points[i].step >= until)
        .collect();
    let (window, why) = if half.len() >= MIN_WINDOW_POINTS {
        let why = format!(
            "the {} evaluation points in the second half of the way to the target (steps {} to {until})",
            half.len(),
            until.div_ceil(2)
        );
        (half, why)
    } else {
        let from = eligible.len().saturating_sub(MIN_WINDOW_POINTS);
        let w = eligible[from..].to_vec();
        let why = format!(
            "the last {} evaluation points up to step {until} (the second half of the way held {})",
            w.len(),
            half.len()
        );
        (w, why)
    };
    let ratio = |idx: &mut dyn Iterator<Item = usize>| -> Option<f64> {
        let (mut g2, mut tr, mut n) = (0.0, 0.0, 0.0);
        for i in idx {
            g2 += points[i].g2;
            tr += points[i].trace_sigma;
            n += 1.0;
        }
        (n > 0.0 && g2 > 0.0 && tr > 0.0).then(|| (tr / n) / (g2 / n))
    };
    let value = ratio(&mut window.iter().copied())?;
    // Resample the window's points; a resample whose mean |G|² is not positive has an
    // unbounded noise scale.
    let mut rng = ChaCha8Rng::seed_from_u64(0x5eed);
    let mut draws: Vec<f64> = (0..RESAMPLES)
        .map(|_| {
            let mut pick = (0..window.len()).map(|_| window[rng.random_range(0..window.len())]);
            ratio(&mut pick).unwrap_or(f64::INFINITY)
        })
        .collect();
    draws.sort_by(f64::total_cmp);
    let quantile = |q: f64| draws[((draws.len() - 1) as f64 * q).round() as usize];
    for &i in &window {
        points[i].used = true;
    }
    let high = quantile(0.975);
    Some(NoiseEstimate {
        value,
        low: quantile(0.025).min(value),
        high: high.is_finite().then_some(high.max(value)),
        points: window.len(),
        window: why,
    })
}

/// S(B) from the pilot's S(B_p) and B_noise: S_min (1 + B_noise/B) with
/// S_min = S(B_p)/(1 + B_noise/B_p). An unbounded noise scale is the limit of perfect
/// scaling, S(B) = S(B_p)·B_p/B.
pub fn predicted_steps(s_p: f64, b_p: f64, b_noise: f64, b: f64) -> f64 {
    if b_noise.is_infinite() {
        return s_p * b_p / b;
    }
    s_p * (1.0 + b_noise / b) / (1.0 + b_noise / b_p)
}

/// McCandlish et al.'s optimal SGD learning rate at batch `b`, anchored at the pilot's
/// rate `lr_p` at `b_p`: ε_max / (1 + B_noise/B) with ε_max = lr_p (1 + B_noise/B_p).
pub fn optimal_lr(lr_p: f64, b_p: f64, b_noise: f64, b: f64) -> f64 {
    lr_p * (1.0 + b_noise / b_p) / (1.0 + b_noise / b)
}

/// A quantity computed at the noise scale's estimate and at its interval's ends (the
/// model is monotone in B_noise, so the ends bound it).
fn band(n: &NoiseEstimate, f: impl Fn(f64) -> f64) -> Band {
    let values = [f(n.low), f(n.high.unwrap_or(f64::INFINITY))];
    let mid = f(n.value);
    Band {
        mid,
        low: values.iter().copied().fold(mid, f64::min),
        high: values.iter().copied().fold(mid, f64::max),
    }
}

/// The value nearest `x` on a log scale.
fn nearest_in_log(values: &[f64], x: f64) -> Option<f64> {
    let distance = |v: f64| (v / x).ln().abs();
    values
        .iter()
        .copied()
        .min_by(|a, b| distance(*a).total_cmp(&distance(*b)))
}

/// The index of the least value (ties: the first, i.e. the smaller batch).
pub fn argmin(values: &[Option<f64>]) -> Option<usize> {
    values
        .iter()
        .enumerate()
        .filter_map(|(i, v)| v.filter(|v| v.is_finite()).map(|v| (i, v)))
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(i, _)| i)
}

/// The recommendation; `optimum_at_ends` is the time-optimal candidate at the noise
/// scale's interval ends (the optimum moves with B_noise, so they bound its range).
fn recommend(
    predictions: &[Prediction],
    noise: Option<&NoiseEstimate>,
    optimum_at_ends: Option<(Option<u64>, Option<u64>)>,
    target: &Target,
) -> Recommendation {
    let fitting: Vec<&Prediction> = predictions.iter().filter(|p| p.fits).collect();
    let largest_fit = fitting.iter().map(|p| p.batch_size).max();
    let times: Vec<Option<f64>> = fitting.iter().map(|p| p.time_s.map(|t| t.mid)).collect();
    let time_optimal = argmin(&times).map(|i| fitting[i].batch_size);
    let range = match (time_optimal, optimum_at_ends) {
        (Some(mid), Some((a, b))) => {
            let all = [mid, a.unwrap_or(mid), b.unwrap_or(mid)];
            Some((*all.iter().min().unwrap(), *all.iter().max().unwrap()))
        }
        _ => None,
    };
    let compute_efficient = noise.and_then(|n| {
        let sizes: Vec<f64> = fitting.iter().map(|p| p.batch_size as f64).collect();
        nearest_in_log(&sizes, n.value).map(|b| b as u64)
    });
    let sentence = match (time_optimal, noise) {
        (Some(b), Some(n)) => {
            let p = predictions.iter().find(|p| p.batch_size == b).unwrap();
            let t = p.time_s.unwrap();
            let uncertainty = match range {
                Some((lo, hi)) if lo != hi => format!(
                    "; over its interval the optimum lies between {lo} and {hi}"
                ),
                _ => "; the whole interval agrees".to_string(),
            };
            let spread = if t.high - t.low > 1e-9 * t.mid {
                format!(
                    " ({}–{} over the noise scale's interval)",
                    crate::fmt::secs(t.low),
                    crate::fmt::secs(t.high)
                )
            } else {
                String::new()
            };
            format!(
                "Use batch size {b}{}: predicted {} of training to {} on this machine{spread}, with B_noise ≈ {}{uncertainty}.",
                p.lr
                    .map(|lr| format!(" at learning rate {}", crate::fmt::lr(lr)))
                    .unwrap_or_default(),
                crate::fmt::secs(t.mid),
                target.describe(),
                crate::fmt::big(n.value)
            )
        }
        _ => "No recommendation: the pilot did not give both steps to target and a noise scale (see the notes).".to_string(),
    };
    Recommendation {
        time_optimal,
        time_optimal_range: range,
        compute_efficient,
        largest_fit,
        sentence,
    }
}

/// `advise.json`: the advice, its check against a sweep, and what produced them.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AdviceFile {
    /// Format version of this file.
    pub schema: u32,
    /// The suite's name.
    pub suite: String,
    /// Its path as given.
    pub suite_path: String,
    /// SHA-256 of its text.
    pub suite_sha256: String,
    /// The command line.
    pub command: Vec<String>,
    /// batchbench's version and commit.
    pub batchbench: String,
    /// When the advice was computed.
    pub created_at: String,
    /// Wall seconds this invocation took (measurements reused from the records cost
    /// nothing).
    pub wall_s: f64,
    /// Measurements taken by this invocation.
    pub measured_now: usize,
    /// Measurements reused from the records.
    pub reused: usize,
    /// Why measuring stopped early, if it did (rerun to continue).
    pub stopped: Option<String>,
    /// The advice.
    pub advice: Advice,
    /// The check against a full sweep (`--verify`).
    pub verification: Option<Verification>,
}

/// One batch size of a full sweep, as the verification reads it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct SweepPoint {
    /// The batch size.
    pub batch_size: u64,
    /// Median steps to target of the learning rate with the fewest (null: none reached).
    pub steps_to_target: Option<f64>,
    /// That learning rate.
    pub steps_lr: f64,
    /// Median training seconds to target of the fastest learning rate.
    pub time_to_target_s: Option<f64>,
    /// That learning rate.
    pub time_lr: f64,
    /// The fastest configuration's runs (null: not reached), one per seed.
    pub time_runs: Vec<Option<f64>>,
    /// Median seconds to target at the learning rate `advise` recommended (the grid's
    /// nearest), when the sweep ran it.
    pub time_at_advised_lr_s: Option<f64>,
}

/// How the advice compares with a full sweep of the same configuration.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Verification {
    /// The sweep's results folder.
    pub sweep: String,
    /// Per batch size.
    pub points: Vec<SweepPoint>,
    /// The sweep's fastest batch size.
    pub best_batch: Option<u64>,
    /// The recommended batch size's measured time over the best one's (1 = the best).
    pub ratio: Option<f64>,
    /// 95% interval of the ratio from resampling each batch size's seeds (none with
    /// one seed).
    pub ratio_interval: Option<(f64, f64)>,
    /// The fewest seeds behind a batch size.
    pub seeds: usize,
    /// Seconds the sweep's runs took (start to end of each, summed).
    pub sweep_s: f64,
    /// Seconds advise's runs took, summed the same way.
    pub advise_s: f64,
    /// The verdict in one sentence.
    pub sentence: String,
}

/// Seconds from a record's start to its end.
pub fn record_seconds(r: &RunRecord) -> f64 {
    let parse = |t: &str| chrono::DateTime::parse_from_rfc3339(t).ok();
    match (parse(&r.started_at), parse(&r.finished_at)) {
        (Some(a), Some(b)) => ((b - a).num_milliseconds() as f64 / 1000.0).max(0.0),
        _ => 0.0,
    }
}

/// Compares `advice` with a sweep's records of the same configuration (already
/// filtered to it); `advise_runs` are advise's own records, for the cost ratio.
pub fn verify(
    advice: &Advice,
    sweep: &super::ResultSet,
    advise_runs: &[RunRecord],
) -> Result<Verification, String> {
    let study = super::analyze(std::slice::from_ref(sweep));
    let configs = &study.configs;
    let (best, fastest): (Vec<usize>, Vec<usize>) = match (&study.tuned[..], &study.families[..]) {
        ([group], _) => (group.best.clone(), group.fastest.clone()),
        ([], [family]) => (family.configs.clone(), family.configs.clone()),
        _ => {
            return Err(format!(
                "{} holds {} families of configurations; verify needs a sweep of the advised configuration only (its batch sizes, learning rates and seeds)",
                sweep.dir.display(),
                study.families.len()
            ));
        }
    };
    let advised_lr = |b: u64| {
        advice
            .predictions
            .iter()
            .find(|p| p.batch_size == b)
            .and_then(|p| p.lr_grid.or(p.lr))
    };
    let mut points: Vec<SweepPoint> = best
        .iter()
        .zip(&fastest)
        .map(|(&s, &t)| {
            let b = configs[s].batch_size;
            let at_advised = advised_lr(b).and_then(|lr| {
                configs
                    .iter()
                    .find(|c| c.batch_size == b && (c.lr / lr - 1.0).abs() < 1e-9)
                    .map(|c| c.time_to_target_s)
            });
            SweepPoint {
                batch_size: b,
                steps_to_target: configs[s].steps_to_target,
                steps_lr: configs[s].lr,
                time_to_target_s: configs[t].time_to_target_s,
                time_lr: configs[t].lr,
                time_runs: configs[t].time_to_target_runs.clone(),
                time_at_advised_lr_s: at_advised.flatten(),
            }
        })
        .collect();
    points.sort_by_key(|p| p.batch_size);
    let times: Vec<Option<f64>> = points.iter().map(|p| p.time_to_target_s).collect();
    let best_batch = argmin(&times).map(|i| points[i].batch_size);
    let recommended = advice.recommendation.time_optimal;
    let ratio_of = |times: &[Option<f64>]| -> Option<f64> {
        let rec = recommended?;
        let i = points.iter().position(|p| p.batch_size == rec)?;
        let best = times[argmin(times)?]?;
        Some(times[i].unwrap_or(f64::INFINITY) / best)
    };
    let ratio = ratio_of(&times).filter(|r| r.is_finite());
    let seeds = points.iter().map(|p| p.time_runs.len()).min().unwrap_or(0);
    let ratio_interval = (seeds >= 2 && ratio.is_some()).then(|| {
        let mut rng = ChaCha8Rng::seed_from_u64(0x5eed);
        let mut draws: Vec<f64> = (0..RESAMPLES)
            .filter_map(|_| {
                let resampled: Vec<Option<f64>> = points
                    .iter()
                    .map(|p| {
                        let n = p.time_runs.len();
                        let pick: Vec<Option<f64>> = (0..n)
                            .map(|_| p.time_runs[rng.random_range(0..n)])
                            .collect();
                        crate::stats::median_with_infinite(&pick)
                    })
                    .collect();
                ratio_of(&resampled)
            })
            .collect();
        draws.sort_by(f64::total_cmp);
        let q = |q: f64| draws[((draws.len() - 1) as f64 * q).round() as usize];
        (q(0.025), q(0.975))
    });
    let sweep_s: f64 = sweep.records.iter().map(record_seconds).sum();
    let advise_s: f64 = advise_runs.iter().map(record_seconds).sum();
    let sentence = match (recommended, best_batch, ratio) {
        (Some(rec), Some(best), Some(r)) => format!(
            "advise recommended batch {rec}; the sweep's fastest is batch {best}; batch {rec}'s measured time to target is {r:.2}× the best{}. advise's runs took {} ({:.1}% of the sweep's {}).",
            match ratio_interval {
                Some((a, z)) if z.is_finite() =>
                    format!(" (95% interval {a:.2}–{z:.2}× over the seeds)"),
                Some((a, _)) => format!(
                    " (95% interval from {a:.2}× to unbounded: some resampled seeds miss the target)"
                ),
                None => " (one seed: no interval)".into(),
            },
            crate::fmt::secs(advise_s),
            100.0 * advise_s / sweep_s.max(f64::MIN_POSITIVE),
            crate::fmt::secs(sweep_s)
        ),
        (Some(rec), _, None) => format!(
            "advise recommended batch {rec}, which the sweep did not bring to the target (or did not run); no ratio"
        ),
        _ => "advise made no recommendation to check".into(),
    };
    Ok(Verification {
        sweep: sweep.dir.display().to_string(),
        points,
        best_batch,
        ratio,
        ratio_interval,
        seeds,
        sweep_s,
        advise_s,
        sentence,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::record::CurvePoint;
    use crate::testing::record_for_tests;

    /// SGD on L(θ) = ½ Σ hᵢθᵢ² with per-example gradient noise of covariance σ²H: the
    /// expected squared parameters evolve exactly as
    /// E[θᵢ²] ← (1 − εhᵢ)² E[θᵢ²] + ε²σ²hᵢ/B, so steps to a target loss are computed,
    /// not sampled. |G|² = Σ hᵢ² E[θᵢ²], tr(Σ) = σ² Σ hᵢ.
    struct Quadratic {
        h: Vec<f64>,
        sigma2: f64,
        target: f64,
    }

    impl Quadratic {
        fn new() -> Self {
            let d = 16;
            let h: Vec<f64> = (0..d)
                .map(|i| 0.1 + 0.9 * i as f64 / (d - 1) as f64)
                .collect();
            let l0 = 0.5 * h.iter().sum::<f64>();
            Quadratic {
                h,
                sigma2: 1.0,
                target: 0.001 * l0,
            }
        }

        /// Steps to the target at batch `b` and rate `eps`, and the noise points
        /// every `every` steps (and at the target).
        fn run(&self, b: f64, eps: f64, every: u64) -> (Option<u64>, Vec<NoisePoint>) {
            let mut v = vec![1.0; self.h.len()];
            let trace: f64 = self.sigma2 * self.h.iter().sum::<f64>();
            let mut points = Vec::new();
            for step in 1..=20_000u64 {
                for (vi, hi) in v.iter_mut().zip(&self.h) {
                    *vi = (1.0 - eps * hi).powi(2) * *vi + eps * eps * self.sigma2 * hi / b;
                }
                let loss: f64 = 0.5 * v.iter().zip(&self.h).map(|(v, h)| h * v).sum::<f64>();
                if !loss.is_finite() || loss > 1e6 {
                    return (None, points);
                }
                let reached = loss <= self.target;
                if reached || step % every == 0 {
                    let g2: f64 = v.iter().zip(&self.h).map(|(v, h)| h * h * v).sum();
                    points.push(NoisePoint {
                        step,
                        train_loss: loss,
                        b_simple: Some(trace / g2),
                        g2,
                        trace_sigma: trace,
                        used: false,
                    });
                }
                if reached {
                    return (Some(step), points);
                }
            }
            (None, points)
        }

        /// Steps to target with the rate tuned over a fine grid, and that rate.
        fn tuned(&self, b: f64) -> (u64, f64) {
            (0..160)
                .map(|i| 1e-4 * (1.9f64 / 1e-4).powf(i as f64 / 159.0))
                .filter_map(|eps| self.run(b, eps, u64::MAX).0.map(|s| (s, eps)))
                .min_by_key(|&(s, _)| s)
                .unwrap()
        }
    }

    #[test]
    fn the_predicted_steps_match_the_exact_tuned_curve_of_a_noisy_quadratic() {
        let q = Quadratic::new();
        let b_p = 64.0;
        let (s_p, eps_p) = q.tuned(b_p);
        let (_, mut points) = q.run(b_p, eps_p, (s_p / 20).max(1));
        let n = noise_estimate(&mut points, s_p).unwrap();
        assert!(n.points >= MIN_WINDOW_POINTS);
        for b in [4.0, 16.0, 256.0, 1024.0] {
            let (exact, _) = q.tuned(b);
            let predicted = predicted_steps(s_p as f64, b_p, n.value, b);
            let ratio = predicted / exact as f64;
            assert!(
                (0.9..=1.1).contains(&ratio),
                "batch {b}: predicted {predicted:.1} steps, exact {exact} (B_noise {:.0})",
                n.value
            );
        }
        // The optimal rate's model holds at small batches (ε ∝ B), where noise limits
        // the step; near B_noise curvature bounds it too.
        let (_, eps_4) = q.tuned(4.0);
        let predicted = optimal_lr(eps_p, b_p, n.value, 4.0);
        assert!(
            (0.67..=1.5).contains(&(predicted / eps_4)),
            "lr at batch 4: predicted {predicted:.4}, tuned {eps_4:.4}"
        );
    }

    #[test]
    fn the_window_is_the_second_half_of_the_way_to_the_target() {
        let point = |step: u64, g2: f64| NoisePoint {
            step,
            train_loss: 1.0,
            b_simple: Some(10.0 / g2),
            g2,
            trace_sigma: 10.0,
            used: false,
        };
        let mut points: Vec<NoisePoint> = (1..=10).map(|i| point(i * 10, 1.0 / i as f64)).collect();
        let n = noise_estimate(&mut points, 80).unwrap();
        // Steps 40..=80: five points, mean |G|² = (1/4+1/5+1/6+1/7+1/8)/5.
        let mean_g2 = (0.25 + 0.2 + 1.0 / 6.0 + 1.0 / 7.0 + 0.125) / 5.0;
        assert_eq!(n.points, 5);
        assert!((n.value - 10.0 / mean_g2).abs() < 1e-9);
        assert!(n.low <= n.value && n.high.unwrap() >= n.value);
        let used: Vec<u64> = points.iter().filter(|p| p.used).map(|p| p.step).collect();
        assert_eq!(used, vec![40, 50, 60, 70, 80]);

        // Too few points in the second half: the last three up to the target.
        let mut few = vec![
            point(10, 1.0),
            point(20, 0.5),
            point(30, 0.4),
            point(100, 0.1),
        ];
        let n = noise_estimate(&mut few, 100).unwrap();
        assert_eq!(n.points, 3);
        assert!(n.window.contains("last 3"));
        // A window whose |G|² estimates are all non-positive gives nothing.
        let mut noise_only = vec![point(10, -1.0), point(20, -0.5), point(30, -0.1)];
        assert_eq!(noise_estimate(&mut noise_only, 30), None);
    }

    #[test]
    fn an_unbounded_noise_scale_is_the_limit_of_perfect_scaling() {
        assert_eq!(predicted_steps(100.0, 64.0, f64::INFINITY, 128.0), 50.0);
        assert!((predicted_steps(100.0, 64.0, 1e12, 128.0) - 50.0).abs() < 1e-6);
        assert_eq!(predicted_steps(100.0, 64.0, 0.0, 1024.0), 100.0);
    }

    fn throughput(b: u64, step_s: f64) -> RunRecord {
        let mut r = record_for_tests(&format!("t{b}"), 0.0);
        r.spec.batch_size = b;
        r.summary.samples_per_s = Some(b as f64 / step_s);
        r
    }

    fn pilot(b: u64, lr: f64, steps: Option<u64>, b_noise: f64) -> RunRecord {
        let mut r = record_for_tests(&format!("p{lr}"), 0.9);
        r.spec.batch_size = b;
        r.spec.lr = lr;
        r.spec.probes = Some(crate::suite::ProbeSpec {
            noise_scale: Some(Default::default()),
            ..Default::default()
        });
        r.summary.steps_to_target = steps;
        r.summary.steps = Some(steps.unwrap_or(200));
        r.curve = (1..=10)
            .map(|i| {
                let mut probes = crate::results::EvalProbes::default();
                probes.noise_g2 = Some(1.0);
                probes.noise_trace_sigma = Some(b_noise);
                probes.noise_scale = Some(b_noise);
                CurvePoint {
                    step: i * steps.unwrap_or(200) / 10,
                    probes,
                    ..r.curve[0].clone()
                }
            })
            .collect();
        r
    }

    #[test]
    fn the_time_optimal_batch_is_the_argmin_of_steps_times_step_time() {
        // t(B) = 1 ms + 10 µs·B and B_noise = 100: T ∝ (1 + 100/B)(1e-3 + 1e-5 B) is
        // least at B* = √(1e-3·100/1e-5) = 100; of the candidates, 128.
        let candidates = [16u64, 32, 64, 128, 256, 512];
        let tp: Vec<RunRecord> = candidates
            .iter()
            .map(|&b| throughput(b, 1e-3 + 1e-5 * b as f64))
            .collect();
        // The pilot at 256 took 75 steps: S_min = 75 / (1 + 100/256) ≈ 53.9.
        let pilots = vec![
            pilot(256, 0.4, Some(300), 100.0),
            pilot(256, 0.8, Some(75), 100.0),
        ];
        let advice = advise(&Measured {
            config: "mlp".into(),
            device: "cpu".into(),
            target: Target::accuracy(0.9),
            throughput: &tp,
            pilots: &pilots,
            pilot_batch: (256, "test".into()),
            rule: None,
            lr_grid: vec![0.1, 0.2, 0.4, 0.8],
        });
        assert_eq!(advice.pilot_lr, Some(0.8));
        assert_eq!(advice.pilot_steps, Some(75));
        let n = advice.noise.as_ref().unwrap();
        assert!((n.value - 100.0).abs() < 1e-9);
        let s_min = 75.0 / (1.0 + 100.0 / 256.0);
        for p in &advice.predictions {
            let b = p.batch_size as f64;
            let steps = p.steps.unwrap();
            assert!((steps.mid - s_min * (1.0 + 100.0 / b)).abs() < 1e-9);
            assert!((p.time_s.unwrap().mid - steps.mid * (1e-3 + 1e-5 * b)).abs() < 1e-12);
            // ε(B) = 0.8 (1 + 100/256) / (1 + 100/B).
            let lr = 0.8 * (1.0 + 100.0 / 256.0) / (1.0 + 100.0 / b);
            assert!((p.lr.unwrap() - lr).abs() < 1e-12);
        }
        let r = &advice.recommendation;
        assert_eq!(r.time_optimal, Some(128));
        assert_eq!(r.time_optimal_range, Some((128, 128)));
        assert_eq!(r.compute_efficient, Some(128));
        assert_eq!(r.largest_fit, Some(512));
        assert!(
            r.sentence.starts_with("Use batch size 128"),
            "{}",
            r.sentence
        );
        assert!(advice.notes.is_empty(), "{:?}", advice.notes);
    }

    #[test]
    fn a_batch_that_does_not_fit_is_never_recommended_and_a_missed_target_is_said() {
        let mut tp: Vec<RunRecord> = [64u64, 128, 256]
            .iter()
            .map(|&b| throughput(b, 1e-3))
            .collect();
        tp[2].status = RunStatus::Oom;
        let pilots = vec![pilot(64, 0.1, Some(100), 1e6)];
        let m = Measured {
            config: "mlp".into(),
            device: "cuda:0".into(),
            target: Target::accuracy(0.9),
            throughput: &tp,
            pilots: &pilots,
            pilot_batch: (64, "test".into()),
            rule: Some((
                "linear from 0.1 at 64".into(),
                BTreeMap::from([(64, 0.1), (128, 0.2), (256, 0.4)]),
            )),
            lr_grid: vec![],
        };
        let advice = advise(&m);
        // Perfect scaling and equal step times: the largest batch wins, if it fits.
        assert_eq!(advice.recommendation.time_optimal, Some(128));
        assert_eq!(advice.recommendation.largest_fit, Some(128));
        assert_eq!(advice.predictions[1].lr, Some(0.2));
        assert_eq!(advice.predictions[2].time_s, None);

        let missed = vec![pilot(64, 0.1, None, 50.0)];
        let advice = advise(&Measured {
            pilots: &missed,
            ..m
        });
        assert_eq!(advice.recommendation.time_optimal, None);
        assert!(advice.noise.is_some());
        assert!(
            advice.notes[0].contains("did not reach the target"),
            "{:?}",
            advice.notes
        );
    }
}
