//! The worker side: executes one run and turns whatever happens into a record.
//!
//! [`execute`] is used both by the `batchbench worker` process (the default: one
//! process per run) and in-process (`--in-process`, for tests and debugging). It
//! loads the data, trains on the chosen backend, reports its phases and evaluation
//! points as events, and always returns a [`RunRecord`]: a panic inside Burn (which is
//! how some CUDA failures surface) becomes an `oom` or `crashed` record with the
//! partial curve. Telemetry is sampled by the runner, from outside ([`super::monitor`]).

use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use burn::tensor::backend::AutodiffBackend;
use serde::{Deserialize, Serialize};

use super::failure::{self, classify_failure, short_reason};
use crate::backend::{BackendTask, CpuBackend, dispatch};
use crate::data::{self, Dataset};
use crate::device::DeviceKind;
use crate::model::{InputShape, parameter_count};
use crate::results::Environment;
use crate::results::record::{CurvePoint, DataInfo, KernelsByPhase, RunRecord, RunStatus};
use crate::suite::RunSpec;
use crate::telemetry::Phase;
use crate::train::{self, LoopEnd, TrainObserver, TrainOutcome, summary};

/// Lines the worker writes to stdout that carry messages start with this; anything
/// else a library prints is passed through as log output.
pub const EVENT_PREFIX: &str = "@@batchbench ";

/// Everything a worker needs to execute one run.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct WorkerJob {
    /// The run, with its device resolved.
    pub spec: RunSpec,
    /// SHA-256 of the suite, for the record.
    pub suite_sha256: String,
    /// Folder of the suite file (anchors relative dataset paths).
    pub suite_dir: Option<PathBuf>,
    /// The command line of the sweep, for the record.
    pub command: Vec<String>,
    /// Where CubeCL keeps its autotune and kernel caches.
    pub cache_dir: PathBuf,
    /// The results folder (final weights go to its `weights/` when asked to keep them).
    #[serde(default)]
    pub results_dir: Option<PathBuf>,
    /// The backend for CPU runs.
    #[serde(default)]
    pub cpu_backend: CpuBackend,
}

/// A message from the worker to the runner.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum WorkerEvent {
    /// The run entered a phase (telemetry keeps a window per phase; the time limit
    /// starts when warm-up ends).
    Phase {
        /// The new phase.
        phase: Phase,
    },
    /// An evaluation point.
    Eval {
        /// The point.
        point: CurvePoint,
    },
    /// The final record.
    Record {
        /// The record.
        record: Box<RunRecord>,
    },
    /// How a Python engine's loop ended (it sends this instead of a record; the runner
    /// builds the record, see [`super::engine`]).
    Outcome {
        /// What the loop measured.
        outcome: Box<super::engine::EngineOutcome>,
    },
}

/// Forwards loop progress to the runner.
struct Observer<'a> {
    sink: &'a mut dyn FnMut(WorkerEvent),
    stop: Arc<AtomicBool>,
    curve: Vec<CurvePoint>,
    phase: Phase,
    /// Set until the first optimizer step asks whether to stop.
    before_first_step: std::cell::Cell<bool>,
    /// Kernels compiled per phase, and the process-wide count when `phase` began.
    kernels: KernelsByPhase,
    kernels_mark: u64,
}

impl Observer<'_> {
    /// Credits the kernels compiled since the last phase change to the current phase.
    fn count_kernels(&mut self) {
        let now = super::worker_log::kernels_compiled();
        self.kernels
            .add(self.phase, now.saturating_sub(self.kernels_mark));
        self.kernels_mark = now;
    }
}

impl TrainObserver for Observer<'_> {
    fn phase(&mut self, phase: Phase) {
        if phase == self.phase {
            return;
        }
        let warmed_up = phase == Phase::Train && self.phase == Phase::Warmup;
        self.count_kernels();
        self.phase = phase;
        (self.sink)(WorkerEvent::Phase { phase });
        if warmed_up {
            failure::inject_after_warmup(self.curve.last().map_or(0, |p| p.batch_size));
        }
    }

    fn eval_point(&mut self, point: &CurvePoint) {
        self.curve.push(point.clone());
        (self.sink)(WorkerEvent::Eval {
            point: point.clone(),
        });
        if point.step == 0 {
            failure::inject_at_start(point.batch_size);
        }
    }

    fn should_stop(&self) -> bool {
        if self.before_first_step.replace(false) {
            failure::inject_in_first_step(self.curve.last().map_or(0, |p| p.batch_size));
        }
        self.stop.load(Ordering::Relaxed)
    }
}

struct TrainTask<'a, 'b> {
    spec: &'a RunSpec,
    data: &'a Dataset,
    observer: &'a mut Observer<'b>,
}

impl BackendTask for TrainTask<'_, '_> {
    type Output = anyhow::Result<TrainOutcome>;

    fn run<B: AutodiffBackend>(self, device: B::Device, _backend: &'static str) -> Self::Output {
        train::upload_and_train::<B>(self.spec, self.data, &device, self.observer)
    }
}

/// Sets `record`'s status and reason from how the loop ended (Burn's loop, or a Python
/// engine's outcome).
pub(super) fn mark_loop_end(record: &mut RunRecord, end: &LoopEnd) {
    match end {
        LoopEnd::Completed | LoopEnd::ReachedTarget => {}
        LoopEnd::Diverged(d) => {
            record.status = RunStatus::Diverged;
            record.reason = Some(format!(
                "the training loss became NaN or infinite at step {}{}",
                d.step,
                d.last_finite_loss
                    .map(|l| format!(" (last finite loss {l:.4})"))
                    .unwrap_or_default()
            ));
            record.divergence = Some(d.clone());
        }
        LoopEnd::Stopped => {
            record.status = RunStatus::Interrupted;
            record.reason = Some(
                "stopped by the user (Ctrl-C), a scheduler's signal or the sweep's time budget"
                    .into(),
            );
        }
    }
}

/// Whether `spec`'s budget (samples = epochs × training-set size) was computed for
/// another training-set size than the data loaded now.
fn planned_for_another_size(spec: &RunSpec, n_train: usize) -> bool {
    let planned = spec.samples as f64 / spec.epochs;
    (planned - n_train as f64).abs() > 0.5 / spec.epochs + 1e-6 * planned
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Executes one run and returns its record; `sink` receives progress events and
/// `stop` asks the loop to end early (the run is then `interrupted`).
pub fn execute(
    job: &WorkerJob,
    sink: &mut dyn FnMut(WorkerEvent),
    stop: Arc<AtomicBool>,
) -> RunRecord {
    crate::backend::keep_freed_memory();
    failure::install_panic_recorder();
    failure::forget_panics();
    let wall = Instant::now();
    let spec = &job.spec;
    let mut record = RunRecord::new(spec.clone(), Environment::default(), now());
    if !spec.engine.is_burn() {
        record.status = RunStatus::Crashed;
        record.reason = Some(format!(
            "engine {} runs in its Python worker (started by `batchbench run`); this worker trains with Burn only",
            spec.engine.as_str()
        ));
        return record;
    }
    let kind = match DeviceKind::try_from(spec.device) {
        Ok(kind) => kind,
        Err(e) => {
            record.status = RunStatus::Crashed;
            record.reason = Some(e);
            return record;
        }
    };
    record.env = Environment::capture(
        &kind.to_string(),
        crate::backend::backend_name(kind, job.cpu_backend),
    );
    record.env.suite_sha256 = job.suite_sha256.clone();
    record.env.command = job.command.clone();
    match kind {
        DeviceKind::Cuda(_) => record.env.nvrtc = crate::device::nvrtc_version_in_use(),
        DeviceKind::Wgpu(n) => record.env.adapter = crate::device::wgpu::adapter(n).ok().cloned(),
        DeviceKind::Cpu => {}
    }
    if kind.is_cubecl() {
        crate::backend::configure_cubecl(&job.cache_dir);
    }

    let mut observer = Observer {
        sink,
        stop,
        curve: Vec::new(),
        phase: Phase::Setup,
        before_first_step: std::cell::Cell::new(true),
        kernels: KernelsByPhase::default(),
        kernels_mark: super::worker_log::kernels_compiled(),
    };
    let data_started = Instant::now();
    let loaded = std::panic::catch_unwind(AssertUnwindSafe(|| {
        data::load(&spec.dataset, job.suite_dir.as_deref())
    }));
    record.summary.data_s = Some(data_started.elapsed().as_secs_f64());

    let mut outcome: Option<TrainOutcome> = None;
    match loaded {
        Err(payload) => {
            record.status = RunStatus::Crashed;
            record.reason = Some(format!(
                "loading the data panicked: {}",
                short_reason(&failure::panic_message(payload.as_ref()))
            ));
        }
        Ok(Err(e)) => {
            record.status = RunStatus::Crashed;
            record.reason = Some(format!("{e:#}"));
        }
        Ok(Ok(data)) if planned_for_another_size(spec, data.train.len()) => {
            record.status = RunStatus::Crashed;
            record.reason = Some(format!(
                "the training set now holds {} examples, but the run was planned for {:.0} ({} samples = {} epochs); the data changed since the suite was expanded: rerun `batchbench run`",
                data.train.len(),
                spec.samples as f64 / spec.epochs,
                spec.samples,
                spec.epochs
            ));
        }
        Ok(Ok(data)) => {
            record.env.dataset_sha256 = Some(data.sha256());
            record.data = Some(DataInfo::of(&data));
            record.summary.parameters = Some(parameter_count(&spec.model, InputShape::of(&data)));
            let task = TrainTask {
                spec,
                data: &data,
                observer: &mut observer,
            };
            let result = std::panic::catch_unwind(AssertUnwindSafe(|| {
                dispatch(kind, spec.precision, job.cpu_backend, task)
            }));
            let failure = match result {
                Err(payload) => Some(failure::panic_message(payload.as_ref())),
                Ok(Err(e)) => Some(e),
                Ok(Ok(Err(e))) => Some(format!("{e:#}")),
                Ok(Ok(Ok(o))) => {
                    mark_loop_end(&mut record, &o.end);
                    outcome = Some(o);
                    None
                }
            };
            if let Some(message) = failure {
                // The caught panic may be only the symptom (CubeCL's `CallError`);
                // the first panic on another thread is the cause.
                let explained = failure::explain(&message);
                record.status = classify_failure(&explained);
                record.reason = Some(explained);
            }
        }
    }

    if let (Some(o), Some(dir)) = (&outcome, &job.results_dir)
        && let Some(w) = &o.final_weights
        && let Err(e) = crate::results::artifacts::save_weights(
            &crate::results::artifacts::weights_path(dir, &record.key),
            w,
        )
    {
        record.status = RunStatus::Crashed;
        record.reason = Some(format!("cannot save the final weights: {e:#}"));
    }
    observer.phase(Phase::Setup);
    let data_s = record.summary.data_s;
    let parameters = record.summary.parameters;
    match outcome {
        Some(o) => {
            record.summary = summary::summarize(spec, &o);
            record.curve = o.curve;
            record.probes = o.probes;
        }
        None => {
            record.curve = std::mem::take(&mut observer.curve);
            record.summary.final_train_acc = record.curve.last().map(|p| p.train_acc);
            record.summary.final_test_acc = record.curve.last().map(|p| p.test_acc);
        }
    }
    record.summary.data_s = data_s;
    record.summary.parameters = parameters;
    if kind.is_cubecl() {
        observer.count_kernels();
        record.summary.kernels_compiled = Some(super::worker_log::kernels_compiled());
        record.summary.kernels_by_phase = Some(observer.kernels.clone());
    }
    record.summary.wall_s = Some(wall.elapsed().as_secs_f64());
    record.finished_at = now();
    record
}

/// The `batchbench worker` entry point: reads a [`WorkerJob`] from stdin, writes
/// events to stdout, exits 0 once the record is written.
pub fn worker_main() -> anyhow::Result<()> {
    use std::io::{Read, Write};
    super::worker_log::install();
    let mut input = String::new();
    std::io::stdin().read_to_string(&mut input)?;
    let job: WorkerJob = serde_json::from_str(&input)
        .map_err(|e| anyhow::anyhow!("the worker received an invalid job ({e}); it is started by `batchbench run`, not by hand"))?;
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    // The runner forwards Ctrl-C (and SIGTERM) as SIGINT: finish the step, then stop.
    let _ = ctrlc::set_handler(move || flag.store(true, Ordering::Relaxed));
    let stdout = std::io::stdout();
    let mut emit = |event: WorkerEvent| {
        let mut out = stdout.lock();
        let line = serde_json::to_string(&event).expect("events serialize");
        let _ = writeln!(out, "{EVENT_PREFIX}{line}");
        let _ = out.flush();
    };
    let record = execute(&job, &mut emit, stop);
    emit(WorkerEvent::Record {
        record: Box::new(record),
    });
    // Give the log subscriber's lines a moment to reach stderr before exiting.
    std::thread::sleep(Duration::from_millis(1));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernels_are_credited_to_the_phase_that_compiled_them() {
        let mut sink = |_: WorkerEvent| {};
        let mut observer = Observer {
            sink: &mut sink,
            stop: Arc::new(AtomicBool::new(false)),
            curve: Vec::new(),
            phase: Phase::Setup,
            before_first_step: std::cell::Cell::new(false),
            kernels: KernelsByPhase::default(),
            kernels_mark: super::super::worker_log::kernels_compiled(),
        };
        let compile = super::super::worker_log::pretend_compiled;
        compile(2);
        observer.phase(Phase::Warmup);
        compile(30);
        observer.phase(Phase::Eval);
        compile(7);
        observer.phase(Phase::Train);
        observer.phase(Phase::Eval);
        compile(1);
        observer.count_kernels();
        assert_eq!(
            observer.kernels,
            KernelsByPhase {
                setup: 2,
                warmup: 30,
                train: 0,
                eval: 8
            }
        );
    }
}
