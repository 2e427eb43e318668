//! `batchbench max-batch`: the largest batch that fits in device memory, per
//! configuration.
//!
//! Each try is a short run (a few optimizer steps and one evaluation) in its own
//! worker process, so an out-of-memory failure ends only that try and the device's
//! memory is fully returned before the next. The search doubles the batch from a
//! start value until a try runs out of memory, then bisects between the last size
//! that fitted and the first that did not, down to a resolution of 1/32 of the
//! batch (at least 8). The recommendation keeps a safety margin below the largest
//! size that fitted (memory use varies between runs: allocator state, other
//! processes on a shared GPU).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::monitor::Telemetry;
use super::process::{Interrupts, Limits, run_worker};
use super::worker::{WorkerEvent, WorkerJob};
use crate::backend::{CpuBackend, backend_name};
use crate::device::{self, DeviceKind};
use crate::results::Environment;
use crate::results::record::{RunRecord, RunStatus};
use crate::suite::RunSpec;

/// One try.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Try {
    /// Batch size tried.
    pub batch_size: u64,
    /// How it ended.
    pub status: RunStatus,
    /// Peak device memory seen, MiB (when measured).
    pub gpu_mem_peak_mib: Option<f64>,
}

/// The search result for one configuration.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MaxBatch {
    /// The configuration (model, dataset, precision) as a label.
    pub config: String,
    /// The device searched.
    pub device: String,
    /// Largest batch that fitted.
    pub largest_fit: Option<u64>,
    /// Smallest batch that ran out of memory.
    pub first_oom: Option<u64>,
    /// Why the search stopped growing without an OOM (e.g. the training set's size).
    pub limit: Option<String>,
    /// The recommendation: largest fit × margin, rounded down to a multiple of 8.
    pub recommended: Option<u64>,
    /// The margin used.
    pub margin: f64,
    /// Every try in order.
    pub tries: Vec<Try>,
}

/// Search options.
#[derive(Clone, Debug)]
pub struct SearchOptions {
    /// First batch size tried.
    pub start: u64,
    /// Fraction of the largest fit to recommend.
    pub margin: f64,
    /// Optimizer steps per try.
    pub steps: u64,
    /// Per-try time limit.
    pub timeout: Duration,
}

/// Short runs of a configuration at chosen batch sizes, each in its own worker (what
/// `max-batch` and `warm` are made of): a few optimizer steps and one evaluation.
pub struct ShortRuns<'a> {
    base: &'a RunSpec,
    train_size: u64,
    steps: u64,
    timeout: Duration,
    job: WorkerJob,
    env: Environment,
    extra_env: Vec<(String, String)>,
    kind: DeviceKind,
}

impl<'a> ShortRuns<'a> {
    /// Prepares short runs of `base` (device resolved) of `steps` steps each.
    pub fn new(
        base: &'a RunSpec,
        train_size: u64,
        steps: u64,
        timeout: Duration,
        context: &SweepContext,
    ) -> anyhow::Result<Self> {
        let kind = DeviceKind::try_from(base.device).map_err(|e| anyhow::anyhow!(e))?;
        let extra_env = match kind {
            DeviceKind::Cuda(_) => device::probe_cuda()
                .map(|p| device::worker_env(&p))
                .unwrap_or_default(),
            DeviceKind::Cpu | DeviceKind::Wgpu(_) => vec![],
        };
        Ok(ShortRuns {
            base,
            train_size,
            steps,
            timeout,
            job: WorkerJob {
                spec: base.clone(),
                suite_sha256: context.suite_sha256.clone(),
                suite_dir: context.suite_dir.clone(),
                command: std::env::args().collect(),
                cache_dir: context.cache_dir.clone(),
                results_dir: None,
                cpu_backend: CpuBackend::default(),
            },
            env: Environment::capture(&kind.to_string(), backend_name(kind, CpuBackend::default())),
            extra_env,
            kind,
        })
    }

    /// The spec of the short run at batch `b`: `steps` steps of `b` examples, no
    /// accumulation or batch schedule, one evaluation at the end, no probes.
    pub fn spec_at(&self, b: u64) -> RunSpec {
        let mut spec = self.base.clone();
        spec.batch_size = b;
        spec.accumulate = 1;
        spec.micro_batch_size = b;
        spec.batch_schedule = None;
        spec.samples = b * self.steps;
        spec.epochs = spec.samples as f64 / self.train_size as f64;
        spec.eval_every = 1e9;
        spec.probes = None;
        spec
    }

    /// Runs the short run at batch `b` in a worker and returns its record.
    pub fn run(&mut self, b: u64, interrupts: &Interrupts) -> anyhow::Result<RunRecord> {
        let spec = self.spec_at(b);
        self.run_spec(spec, None, interrupts)
    }

    /// Runs any `spec` (a variant of the base: same device) in a worker, within the
    /// per-try time limit and what is left of an overall `budget`.
    pub fn run_spec(
        &mut self,
        spec: RunSpec,
        budget: Option<Duration>,
        interrupts: &Interrupts,
    ) -> anyhow::Result<RunRecord> {
        self.job.spec = spec;
        run_worker(
            &self.job,
            super::process::Launch::burn(&self.job)?,
            Limits {
                // The first CUDA try compiles every kernel; the limit covers it all.
                warmup: Some(self.timeout),
                run: Some(self.timeout),
                budget,
            },
            Telemetry::prepare(self.kind, Duration::from_millis(50)),
            &self.env,
            &self.extra_env,
            interrupts,
            &mut |_: &WorkerEvent| {},
        )
    }
}

/// What short runs need from the sweep they belong to.
#[derive(Clone, Debug)]
pub struct SweepContext {
    /// SHA-256 of the suite, for the records.
    pub suite_sha256: String,
    /// Folder of the suite file.
    pub suite_dir: Option<std::path::PathBuf>,
    /// CubeCL's cache folder.
    pub cache_dir: std::path::PathBuf,
}

/// Finds the largest batch for `base` (its batch size is replaced per try);
/// `train_size` caps the batch.
pub fn search(
    base: &RunSpec,
    train_size: u64,
    opts: &SearchOptions,
    context: &SweepContext,
    interrupts: &Interrupts,
    log: &mut dyn FnMut(&Try),
) -> anyhow::Result<MaxBatch> {
    let mut runs = ShortRuns::new(base, train_size, opts.steps, opts.timeout, context)?;
    let mut tries: Vec<Try> = Vec::new();
    let mut attempt = |b: u64| -> anyhow::Result<Try> {
        let record = runs.run(b, interrupts)?;
        match record.status {
            RunStatus::Ok | RunStatus::Oom | RunStatus::Diverged => {}
            other => anyhow::bail!(
                "the try at batch {b} ended with status {} ({}); the search needs tries that either fit or run out of memory",
                other.as_str(),
                record.reason.unwrap_or_default()
            ),
        }
        let t = Try {
            batch_size: b,
            status: record.status,
            gpu_mem_peak_mib: record.telemetry.gpu_mem_peak_mib,
        };
        log(&t);
        Ok(t)
    };
    let fits = |t: &Try| t.status != RunStatus::Oom;

    let mut lo: Option<u64> = None; // largest size that fitted
    let mut hi: Option<u64> = None; // smallest size that did not
    let mut limit = None;
    let mut b = opts.start.clamp(1, train_size);
    loop {
        let t = attempt(b)?;
        let ok = fits(&t);
        tries.push(t);
        if ok {
            lo = Some(b);
            if b >= train_size {
                limit = Some(format!(
                    "the training set holds {train_size} examples; a batch cannot be larger"
                ));
                break;
            }
            b = (b * 2).min(train_size);
        } else {
            hi = Some(b);
            if b == 1 || lo.is_some() {
                break;
            }
            b /= 2;
            // Halve until something fits (the start was too large).
            while b >= 1 {
                let t = attempt(b)?;
                let ok = fits(&t);
                tries.push(t);
                if ok {
                    lo = Some(b);
                    break;
                }
                hi = Some(b);
                if b == 1 {
                    break;
                }
                b /= 2;
            }
            break;
        }
    }
    if let (Some(mut l), Some(mut h)) = (lo, hi) {
        while h - l > (l / 32).max(8) {
            let mid = l + (h - l) / 2;
            let t = attempt(mid)?;
            let ok = fits(&t);
            tries.push(t);
            if ok {
                l = mid;
            } else {
                h = mid;
            }
        }
        lo = Some(l);
        hi = Some(h);
    }
    let recommended = lo.map(|l| {
        let r = ((l as f64 * opts.margin) as u64 / 8) * 8;
        r.max(1).min(l)
    });
    Ok(MaxBatch {
        config: format!(
            "{} on {} ({})",
            base.model_label(),
            base.dataset.name,
            base.precision.as_str()
        ),
        device: base.device.to_string(),
        largest_fit: lo,
        first_oom: hi,
        limit,
        recommended,
        margin: opts.margin,
        tries,
    })
}
