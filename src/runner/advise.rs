//! `batchbench advise`'s measurements: the steady time per step at each candidate
//! batch size, and a pilot run to the target that measures the gradient noise scale
//! on the way (the model that turns them into advice is `analysis::advice`).
//!
//! Every measurement is a short run in its own worker, like `max-batch`'s tries, and
//! its record is appended to the advice's own `runs.jsonl`; a measurement whose record
//! is already there (same run key, device, probes and host) is not repeated, so an
//! interrupted or budget-limited `advise` continues where it stopped and the advice can
//! be rebuilt from the records alone.
//!
//! Why the pilot is cheap: it stops at the target (`stop_at_target`); in a tuned suite
//! the learning rates of the grid are tried from the largest down, each allowed only
//! the steps of the best try so far (a try that needs more cannot be the best), until
//! a rate does no better than the best (steps to target taken as unimodal in it); and
//! only the first try carries the noise probe (which costs more than the training),
//! a later try that beats it being run again with the probe.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::max_batch::{ShortRuns, SweepContext};
use super::process::Interrupts;
use crate::results::record::{RunRecord, RunStatus};
use crate::results::store::{self, Store};
use crate::suite::schema::{NoiseScaleSpec, ProbeSpec};
use crate::suite::{LrScaling, RunSpec};
use crate::train::WARMUP_STEPS;

/// Throughput runs reaching at least this fraction of the best measured examples per
/// second qualify as the pilot's batch size (the smallest of them is taken).
pub const PILOT_THROUGHPUT_FRACTION: f64 = 0.5;

/// A timing run shorter than this (steady steps) is repeated with more steps: timer
/// resolution and scheduling noise dominate sub-millisecond steps counted briefly.
pub const MIN_TIMED_S: f64 = 0.2;
/// The most steady steps a timing run is given.
pub const MAX_TIMED_STEPS: u64 = 100_000;

/// What `advise` measures for one configuration of a suite.
#[derive(Clone, Debug)]
pub struct AdvicePlan {
    /// Per candidate batch size, the suite's runs at it (first seed; one per learning
    /// rate of a tuned grid), by increasing batch size.
    pub candidates: BTreeMap<u64, Vec<RunSpec>>,
    /// A tuned suite's learning rates (as written, at `base_batch` when scaled), from
    /// the largest; empty under a rule.
    pub lr_grid: Vec<f64>,
    /// The suite's scaling rule in words (`None` for a tuned suite).
    pub rule: Option<String>,
}

impl AdvicePlan {
    /// Checks that `specs` (devices resolved) are one configuration at several batch
    /// sizes, with one learning rate per batch size (a rule) or a grid (tuned).
    pub fn new(specs: &[RunSpec]) -> Result<AdvicePlan, String> {
        let first = specs.first().ok_or("the suite has no runs")?;
        let identity = configuration_identity;
        let reference = identity(first);
        if let Some(other) = specs.iter().find(|s| identity(s) != reference) {
            return Err(format!(
                "advise recommends a batch size for one configuration, and this suite has several: `{}` and `{}` differ in {}; keep one (an exclude, or a suite per configuration)",
                first.label(),
                other.label(),
                differing_fields(&reference, &identity(other)).join(", ")
            ));
        }
        if let Some(s) = specs.iter().find(|s| !s.engine.is_burn()) {
            return Err(format!(
                "advise measures with Burn's worker, and `{}` uses engine {}; advise a suite (or an exclude) without the other engines",
                s.label(),
                s.engine.as_str()
            ));
        }
        if first.batch_schedule.is_some() {
            return Err("advise predicts for a fixed batch size, and this suite sets a batch_schedule; remove it to advise the configuration".into());
        }
        if first.target().is_none() {
            return Err("advise predicts the time to a target, and this suite sets none; add target_accuracy (or target: {metric: test_loss, value: …})".into());
        }
        let first_seed = specs.iter().map(|s| s.seed).min().unwrap_or(0);
        let mut candidates: BTreeMap<u64, Vec<RunSpec>> = BTreeMap::new();
        for s in specs.iter().filter(|s| s.seed == first_seed) {
            candidates.entry(s.batch_size).or_default().push(s.clone());
        }
        if candidates.len() < 2 {
            return Err(format!(
                "advise compares batch sizes, and this suite has {} ({}); give a list, e.g. matrix: {{batch_size: [32, 128, 512, 2048]}}, or --candidates auto",
                candidates.len(),
                candidates
                    .keys()
                    .map(|b| b.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        let mut lr_grid: Vec<f64> = specs.iter().map(|s| s.lr_base).collect();
        lr_grid.sort_by(|a, b| b.total_cmp(a));
        lr_grid.dedup();
        for runs in candidates.values_mut() {
            runs.sort_by(|a, b| b.lr.total_cmp(&a.lr));
        }
        let rule = (lr_grid.len() == 1).then(|| match (first.lr_scaling, first.base_batch) {
            (LrScaling::None, _) | (_, None) => format!(
                "none ({} at every batch size)",
                crate::fmt::lr(first.lr_base)
            ),
            (rule, Some(base)) => format!(
                "{} from {} at batch {base}",
                format!("{rule:?}").to_lowercase(),
                crate::fmt::lr(first.lr_base)
            ),
        });
        if rule.is_some() {
            lr_grid.clear();
        }
        Ok(AdvicePlan {
            candidates,
            lr_grid,
            rule,
        })
    }

    /// The learning rate of each candidate under the suite's rule (`None`: tuned).
    pub fn rule_lrs(&self) -> Option<BTreeMap<u64, f64>> {
        self.rule.as_ref().map(|_| {
            self.candidates
                .iter()
                .map(|(&b, runs)| (b, runs[0].lr))
                .collect()
        })
    }

    /// The first candidate's run, standing for the configuration.
    pub fn base(&self) -> &RunSpec {
        &self.candidates.values().next().expect("two candidates")[0]
    }
}

/// What the runs of one advised configuration share: the family's identity without
/// the learning rate (which a tuned suite varies along with the batch size).
pub fn configuration_identity(spec: &RunSpec) -> serde_json::Value {
    let mut v = spec.family_identity();
    if let Some(m) = v.as_object_mut() {
        m.remove("lr_base");
    }
    v
}

/// The top-level fields in which two JSON objects differ.
fn differing_fields(a: &serde_json::Value, b: &serde_json::Value) -> Vec<String> {
    let (Some(a), Some(b)) = (a.as_object(), b.as_object()) else {
        return vec!["their settings".into()];
    };
    let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .map(|k| format!("`{k}`"))
        .collect()
}

/// How `advise` measures.
#[derive(Clone, Debug)]
pub struct AdviseOptions {
    /// The advice's folder (its runs.jsonl).
    pub out: PathBuf,
    /// Steady steps timed per candidate (after the warm-up steps).
    pub steps: u64,
    /// The pilot's batch size (else chosen from the throughput).
    pub pilot_batch: Option<u64>,
    /// The noise-scale probe of the pilot when the suite sets none.
    pub noise_probe: NoiseScaleSpec,
    /// Time limit per measurement.
    pub timeout: Duration,
    /// Stop starting measurements after this long.
    pub budget: Option<Duration>,
}

/// What was measured.
#[derive(Debug, Default)]
pub struct Measurements {
    /// One short run per candidate, by batch size.
    pub throughput: Vec<RunRecord>,
    /// The pilot runs, in the order run.
    pub pilots: Vec<RunRecord>,
    /// The pilot's batch size and why.
    pub pilot_batch: (u64, String),
    /// Measurements taken now (the others came from the records).
    pub measured_now: usize,
    /// Measurements reused from the records.
    pub reused: usize,
    /// Why measuring stopped early (budget, Ctrl-C), if it did.
    pub stopped: Option<String>,
}

/// Takes the measurements of `plan`, telling `log` what happens.
pub fn measure(
    plan: &AdvicePlan,
    train_size: u64,
    opts: &AdviseOptions,
    context: &SweepContext,
    interrupts: &Interrupts,
    log: &mut dyn FnMut(&str),
) -> anyhow::Result<Measurements> {
    let base = plan.base();
    let mut runs = ShortRuns::new(base, train_size, opts.steps, opts.timeout, context)?;
    let mut store = Store::open(&opts.out)?;
    let runs_path = opts.out.join(store::RUNS_FILE);
    let mut kept: HashMap<String, RunRecord> = HashMap::new();
    if runs_path.exists() {
        for r in store::read_records(&runs_path)?.records {
            if r.status.is_final() {
                kept.insert(reuse_key(&r.spec, r.env.host.as_deref()), r);
            }
        }
    }
    let host = sysinfo::System::host_name();
    let started = Instant::now();
    let mut m = Measurements::default();
    // Runs `spec` unless its record is there; `None` when the budget or the user
    // stopped measuring.
    let mut take = |spec: RunSpec, m: &mut Measurements| -> anyhow::Result<Option<RunRecord>> {
        if let Some(r) = kept.get(&reuse_key(&spec, host.as_deref())) {
            m.reused += 1;
            return Ok(Some(r.clone()));
        }
        if interrupts.requested() {
            m.stopped = Some("interrupted".into());
            return Ok(None);
        }
        let left = opts.budget.map(|b| b.saturating_sub(started.elapsed()));
        if left == Some(Duration::ZERO) {
            m.stopped = Some("the time budget is spent".into());
            return Ok(None);
        }
        let record = runs.run_spec(spec, left, interrupts)?;
        store.append(&record)?;
        m.measured_now += 1;
        if record.status == RunStatus::Interrupted {
            m.stopped = Some(if interrupts.requested() {
                "interrupted".into()
            } else {
                "the time budget is spent".into()
            });
        }
        Ok(Some(record))
    };

    // Steps take longer at larger batches: the last candidate's step time sizes the
    // next timing run, so only the first may need a second, longer run.
    let mut last_step_s: Option<f64> = None;
    for (&b, specs) in &plan.candidates {
        // The smallest learning rate: the least likely to diverge in a timing run.
        let timing = specs.last().expect("a run per batch");
        let steps = last_step_s.map_or(opts.steps, |t| {
            ((MIN_TIMED_S / t).ceil() as u64).clamp(opts.steps, MAX_TIMED_STEPS)
        });
        let Some(mut r) = take(throughput_spec(timing, train_size, steps), &mut m)? else {
            return Ok(m);
        };
        // Too short to time (sub-millisecond steps): again, with enough steps.
        if let Some(steps) = steps_for_min_time(&r, steps)
            && m.stopped.is_none()
        {
            let Some(longer) = take(throughput_spec(timing, train_size, steps), &mut m)? else {
                return Ok(m);
            };
            r = longer;
        }
        log(&match (r.status, r.summary.samples_per_s) {
            (RunStatus::Ok, Some(v)) => format!(
                "batch {b:>6}: {} per step, {} examples/s",
                crate::fmt::secs(b as f64 / v),
                crate::fmt::big(v)
            ),
            (status, _) => format!(
                "batch {b:>6}: {}{}",
                status.as_str(),
                r.reason
                    .as_ref()
                    .map(|w| format!(" ({w})"))
                    .unwrap_or_default()
            ),
        });
        if let (RunStatus::Ok, Some(v)) = (r.status, r.summary.samples_per_s) {
            last_step_s = Some(b as f64 / v);
        }
        m.throughput.push(r);
        if m.stopped.is_some() {
            return Ok(m);
        }
    }

    m.pilot_batch = match opts.pilot_batch {
        Some(b) => (b, "chosen with --pilot-batch".into()),
        None => pilot_batch(&m.throughput).ok_or_else(|| {
            anyhow::anyhow!(
                "no candidate batch size ran its throughput measurement; see the records in {}",
                runs_path.display()
            )
        })?,
    };
    let b_p = m.pilot_batch.0;
    let specs = plan.candidates.get(&b_p).ok_or_else(|| {
        anyhow::anyhow!(
            "--pilot-batch {b_p} is not a candidate; use one of {}",
            plan.candidates
                .keys()
                .map(|b| b.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )
    })?;
    log(&format!("pilot at batch {b_p} ({})", m.pilot_batch.1));
    // The noise probe costs more than the pilot's training; only the first try (the
    // largest rate, usually the best) carries it, and a later try that beats it is
    // run again with the probe.
    let mut best: Option<(u64, bool, usize)> = None; // steps, probed, index into specs
    let mut run_try = |i: usize,
                       probed: bool,
                       best: &mut Option<(u64, bool, usize)>,
                       m: &mut Measurements,
                       log: &mut dyn FnMut(&str)|
     -> anyhow::Result<bool> {
        let spec = pilot_spec(
            &specs[i],
            best.map(|b| b.0),
            probed.then_some(&opts.noise_probe),
        );
        let budget_steps = spec.steps();
        let Some(r) = take(spec, m)? else {
            return Ok(false);
        };
        log(&format!(
            "  lr {:>8} ({} steps allowed{}): {}",
            crate::fmt::lr(r.spec.lr),
            budget_steps,
            if probed { ", noise probe" } else { "" },
            match (r.status, r.summary.steps_to_target) {
                (_, Some(s)) => format!("target at step {s}"),
                (RunStatus::Ok, None) => "target not reached".into(),
                (status, None) => status.as_str().to_string(),
            }
        ));
        if let Some(s) = r.summary.steps_to_target
            && best.is_none_or(|b| s < b.0)
        {
            *best = Some((s, probed, i));
        }
        m.pilots.push(r);
        Ok(m.stopped.is_none())
    };
    // Steps to target are taken as unimodal in the learning rate: once a rate has
    // reached the target, the first smaller rate that does no better ends the search.
    for i in 0..specs.len() {
        let before = best;
        if !run_try(i, i == 0, &mut best, &mut m, log)? {
            return Ok(m);
        }
        if before.is_some() && best == before {
            if i + 1 < specs.len() {
                log(&format!(
                    "  (no better than the best: the {} smaller rate(s) are not tried)",
                    specs.len() - i - 1
                ));
            }
            break;
        }
    }
    match best {
        Some((_, false, i)) => {
            run_try(i, true, &mut best, &mut m, log)?;
        }
        // No try reached the target: the first one's probe stands.
        _ => {}
    }
    Ok(m)
}

/// The steady steps a timing run needs to last [`MIN_TIMED_S`], when the run `r` (of
/// `steps` steady steps) lasted less than half that; `None` when it was long enough
/// or failed.
fn steps_for_min_time(r: &RunRecord, steps: u64) -> Option<u64> {
    let steady = r.summary.train_s? - r.summary.warmup_s?;
    // Half the aim: a run sized from the previous candidate's step time lands near
    // the aim, and is not repeated for a little less.
    (r.status == RunStatus::Ok && steady < MIN_TIMED_S / 2.0).then(|| {
        let per_step = (steady / steps as f64).max(1e-7);
        ((MIN_TIMED_S / per_step).ceil() as u64).clamp(steps + 1, MAX_TIMED_STEPS)
    })
}

/// What makes a stored record the same measurement: the run's key (which leaves out
/// the device and the probes), the device, the probes and the machine.
fn reuse_key(spec: &RunSpec, host: Option<&str>) -> String {
    format!(
        "{}|{}|{}|{}",
        spec.key(),
        spec.device,
        serde_json::to_string(&spec.probes).unwrap_or_default(),
        host.unwrap_or("")
    )
}

/// The timing run at a candidate: warm-up plus `steps` steps, one evaluation at the
/// end, no probes.
pub fn throughput_spec(spec: &RunSpec, train_size: u64, steps: u64) -> RunSpec {
    let mut s = spec.clone();
    s.samples = s.batch_size * (WARMUP_STEPS + steps);
    s.epochs = s.samples as f64 / train_size.max(1) as f64;
    s.eval_every = 1e9;
    s.probes = None;
    s.stop_at_target = false;
    s
}

/// A pilot run: the suite's run, stopping at the target, at most `max_steps` steps
/// (the best try's so far), with the noise-scale probe only (the suite's, else
/// `noise_probe`) when `noise_probe` is given, else no probe.
pub fn pilot_spec(
    spec: &RunSpec,
    max_steps: Option<u64>,
    noise_probe: Option<&NoiseScaleSpec>,
) -> RunSpec {
    let mut s = spec.clone();
    s.stop_at_target = true;
    s.probes = noise_probe.map(|default| ProbeSpec {
        noise_scale: Some(
            spec.probes
                .as_ref()
                .and_then(|p| p.noise_scale.clone())
                .unwrap_or_else(|| default.clone()),
        ),
        ..ProbeSpec::default()
    });
    if let Some(max) = max_steps
        && max < s.steps()
    {
        let per_epoch = s.samples as f64 / s.epochs;
        s.samples = max * s.batch_size;
        s.epochs = s.samples as f64 / per_epoch;
    }
    s
}

/// The pilot's batch size: the smallest candidate reaching
/// [`PILOT_THROUGHPUT_FRACTION`] of the best measured throughput — a pilot there costs
/// little time, and a small batch reaches the target in few examples.
pub fn pilot_batch(throughput: &[RunRecord]) -> Option<(u64, String)> {
    let measured: Vec<(u64, f64)> = throughput
        .iter()
        .filter(|r| r.status == RunStatus::Ok)
        .filter_map(|r| Some((r.spec.batch_size, r.summary.samples_per_s?)))
        .collect();
    let best = measured.iter().map(|m| m.1).fold(0.0, f64::max);
    let (b, v) = measured
        .iter()
        .filter(|m| m.1 >= PILOT_THROUGHPUT_FRACTION * best)
        .min_by_key(|m| m.0)?;
    Some((
        *b,
        format!(
            "the smallest candidate with at least {:.0}% of the best throughput: {} of {} examples/s",
            PILOT_THROUGHPUT_FRACTION * 100.0,
            crate::fmt::big(*v),
            crate::fmt::big(best)
        ),
    ))
}
