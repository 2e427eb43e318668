//! The worker side: executes one run and turns whatever happens into a record.
//!
//! [`execute`] is used both by the `batchbench worker` process (the default: one
//! process per run) and in-process (`--in-process`, for tests and debugging). It
//! loads the data, trains on the chosen backend while sampling telemetry, and always
//! returns a [`RunRecord`]: a panic inside Burn (which is how some CUDA allocation
//! failures surface) becomes an `oom` or `crashed` record with the partial curve.

use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use burn::tensor::backend::AutodiffBackend;
use serde::{Deserialize, Serialize};

use crate::backend::{BackendTask, CpuBackend, dispatch};
use crate::data::{self, Dataset};
use crate::device::DeviceKind;
use crate::model::{InputShape, parameter_count};
use crate::results::Environment;
use crate::results::record::{CurvePoint, DataInfo, RECORD_SCHEMA, RunRecord, RunStatus, Summary};
use crate::suite::RunSpec;
use crate::telemetry::{self, PhaseFlag, Recorder, Sampler, host::HostSampler, nvml::NvmlSampler};
use crate::train::{self, LoopEnd, Phase, TrainObserver, TrainOutcome, summary};

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
    /// Telemetry sampling interval in ms; 0 switches telemetry off.
    pub telemetry_interval_ms: u64,
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
    /// Data is loaded; training starts.
    Training,
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
}

/// Classifies a failure message: CUDA allocation failures are `oom`.
pub fn classify_failure(message: &str) -> RunStatus {
    let m = message.to_lowercase();
    let oom = [
        "out of memory",
        "out-of-memory",
        "outofmemory",
        "out_of_memory",
    ]
    .iter()
    .any(|p| m.contains(p));
    if oom {
        RunStatus::Oom
    } else {
        RunStatus::Crashed
    }
}

/// Test hook: `BATCHBENCH_FAULT=KIND[@BATCH|>=BATCH]` makes the worker fail that way
/// after its first evaluation (only at batch size BATCH, or from BATCH up), so the
/// runner's handling of each failure can be tested without a GPU. KIND is `panic`,
/// `oom` (a panic with CubeCL's out-of-memory message), `abort`, `exit` or `hang`.
/// Unset in normal use.
fn inject_fault(batch_size: u64) {
    let Ok(fault) = std::env::var("BATCHBENCH_FAULT") else {
        return;
    };
    // KIND@B: only batch size B; KIND>=B: batch sizes from B up.
    let (kind, applies) = if let Some((k, b)) = fault.split_once('@') {
        (
            k.to_string(),
            b.parse::<u64>().is_ok_and(|b| b == batch_size),
        )
    } else if let Some((k, b)) = fault.split_once(">=") {
        (
            k.to_string(),
            b.parse::<u64>().is_ok_and(|b| batch_size >= b),
        )
    } else {
        (fault, true)
    };
    if !applies {
        return;
    }
    match kind.as_str() {
        "panic" => panic!("injected fault: the worker panicked"),
        "oom" => panic!(
            "An out-of-memory error happened during launch\nCaused by:\n  injected fault (CUDA_ERROR_OUT_OF_MEMORY)"
        ),
        "abort" => std::process::abort(),
        "exit" => std::process::exit(3),
        "hang" => loop {
            std::thread::sleep(Duration::from_secs(1));
        },
        _ => {}
    }
}

/// Forwards loop progress to the telemetry phase flag and to the runner.
struct Observer<'a> {
    phase: PhaseFlag,
    sink: &'a mut dyn FnMut(WorkerEvent),
    stop: Arc<AtomicBool>,
    curve: Vec<CurvePoint>,
    recorder_started: Instant,
    /// Seconds between the recorder's start and the loop's start.
    loop_offset_s: Option<f64>,
}

impl TrainObserver for Observer<'_> {
    fn phase(&mut self, phase: Phase) {
        self.phase.set(phase);
    }

    fn eval_point(&mut self, point: &CurvePoint) {
        if self.loop_offset_s.is_none() {
            self.loop_offset_s = Some(self.recorder_started.elapsed().as_secs_f64() - point.wall_s);
        }
        self.curve.push(point.clone());
        (self.sink)(WorkerEvent::Eval {
            point: point.clone(),
        });
        if point.step == 0 {
            inject_fault(point.batch_size);
        }
    }

    fn should_stop(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }
}

struct TrainTask<'a, 'b> {
    spec: &'a RunSpec,
    data: &'a Dataset,
    observer: &'a mut Observer<'b>,
}

impl BackendTask for TrainTask<'_, '_> {
    type Output = (anyhow::Result<TrainOutcome>, &'static str);

    fn run<B: AutodiffBackend>(self, device: B::Device, backend: &'static str) -> Self::Output {
        let outcome = train::upload_and_train::<B>(self.spec, self.data, &device, self.observer);
        (outcome, backend)
    }
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// The text of a panic payload.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic with a non-text payload".into())
}

/// First line of a message, shortened: records keep a sentence, not a backtrace.
pub fn short_reason(message: &str) -> String {
    let line = message
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("Caused by"))
        .take(2)
        .collect::<Vec<_>>()
        .join(": ");
    line.chars().take(400).collect()
}

/// Executes one run and returns its record; `sink` receives progress events and
/// `stop` asks the loop to end early (the run is then `interrupted`).
pub fn execute(
    job: &WorkerJob,
    sink: &mut dyn FnMut(WorkerEvent),
    stop: Arc<AtomicBool>,
) -> RunRecord {
    crate::backend::keep_freed_memory();
    let started_at = now();
    let wall = Instant::now();
    let spec = &job.spec;
    let kind: DeviceKind = spec.device.parse().unwrap_or(DeviceKind::Cpu);
    let mut env = Environment::capture(
        &spec.device,
        crate::backend::backend_name(kind, job.cpu_backend),
    );
    env.suite_sha256 = job.suite_sha256.clone();
    env.command = job.command.clone();

    let phase = PhaseFlag::default();
    let mut samplers: Vec<Box<dyn Sampler>> = Vec::new();
    let mut gpu_unavailable = None;
    if job.telemetry_interval_ms > 0 {
        samplers.push(Box::new(HostSampler::new()));
        match kind {
            DeviceKind::Cuda(n) => match NvmlSampler::open(n) {
                Ok(s) => samplers.push(Box::new(s)),
                Err(e) => gpu_unavailable = Some(e),
            },
            DeviceKind::Cpu => gpu_unavailable = Some("the run used the CPU".into()),
        }
    } else {
        gpu_unavailable = Some("telemetry was switched off".into());
    }
    let interval = Duration::from_millis(job.telemetry_interval_ms.max(1));
    let recorder = Recorder::start(samplers, interval, phase.clone());
    let recorder_started = recorder.started;

    if let DeviceKind::Cuda(_) = kind {
        crate::backend::configure_cubecl(&job.cache_dir);
    }

    let mut observer = Observer {
        phase: phase.clone(),
        sink,
        stop,
        curve: Vec::new(),
        recorder_started,
        loop_offset_s: None,
    };

    let data_started = Instant::now();
    let loaded = std::panic::catch_unwind(AssertUnwindSafe(|| {
        data::load(&spec.dataset, job.suite_dir.as_deref())
    }));
    let data_s = data_started.elapsed().as_secs_f64();

    let mut status = RunStatus::Ok;
    let mut reason = None;
    let mut divergence = None;
    let mut outcome: Option<TrainOutcome> = None;
    let mut data_info = None;
    let mut parameters = None;

    match loaded {
        Err(payload) => {
            status = RunStatus::Crashed;
            reason = Some(format!(
                "loading the data panicked: {}",
                short_reason(&panic_message(payload.as_ref()))
            ));
        }
        Ok(Err(e)) => {
            status = RunStatus::Crashed;
            reason = Some(format!("{e:#}"));
        }
        Ok(Ok(data)) => {
            env.dataset_sha256 = Some(data.sha256());
            data_info = Some(DataInfo {
                source: data.source.clone(),
                train_size: data.train.len() as u64,
                test_size: data.test.len() as u64,
                features: data.features as u64,
                classes: data.classes as u64,
                normalization: data.normalization.clone(),
                files: data.files.clone(),
            });
            parameters = Some(parameter_count(
                &spec.model,
                InputShape {
                    features: data.features,
                    image: data.image,
                    classes: data.classes,
                },
            ));
            (observer.sink)(WorkerEvent::Training);
            let task = TrainTask {
                spec,
                data: &data,
                observer: &mut observer,
            };
            let result = std::panic::catch_unwind(AssertUnwindSafe(|| {
                dispatch(kind, spec.precision, job.cpu_backend, task)
            }));
            let failure = match result {
                Err(payload) => Some(panic_message(payload.as_ref())),
                Ok(Err(e)) => Some(e),
                Ok(Ok((Err(e), _))) => Some(format!("{e:#}")),
                Ok(Ok((Ok(o), _))) => {
                    match &o.end {
                        LoopEnd::Completed => {}
                        LoopEnd::Diverged(d) => {
                            status = RunStatus::Diverged;
                            reason = Some(format!(
                                "the training loss became NaN or infinite at step {}{}",
                                d.step,
                                d.last_finite_loss
                                    .map(|l| format!(" (last finite loss {l:.4})"))
                                    .unwrap_or_default()
                            ));
                            divergence = Some(d.clone());
                        }
                        LoopEnd::Stopped => {
                            status = RunStatus::Interrupted;
                            reason = Some(
                                "stopped by the user (Ctrl-C) or the sweep's time budget".into(),
                            );
                        }
                    }
                    outcome = Some(o);
                    None
                }
            };
            if let Some(message) = failure {
                status = classify_failure(&message);
                reason = Some(short_reason(&message));
            }
        }
    }

    if let (Some(o), Some(dir)) = (&outcome, &job.results_dir)
        && let Some(w) = &o.final_weights
        && let Err(e) = crate::probe::interpolation::save_weights(
            &crate::probe::interpolation::weights_path(dir, &spec.key()),
            w,
        )
    {
        status = RunStatus::Crashed;
        reason = Some(format!("cannot save the final weights: {e:#}"));
    }
    phase.set(Phase::Setup);
    let (series, names, interval) = recorder.stop();
    let mut telemetry = telemetry::aggregate(&series, &names, interval, gpu_unavailable);
    let curve = match &outcome {
        Some(o) => o.curve.clone(),
        None => observer.curve.clone(),
    };
    let mut summary = match &outcome {
        Some(o) => summary::summarize(spec, o),
        None => Summary {
            final_train_acc: curve.last().map(|p| p.train_acc),
            final_test_acc: curve.last().map(|p| p.test_acc),
            target_acc: spec.target_accuracy,
            ..Summary::default()
        },
    };
    summary.data_s = Some(data_s);
    summary.wall_s = Some(wall.elapsed().as_secs_f64());
    summary.parameters = parameters;
    if let (Some(offset), Some(target)) = (observer.loop_offset_s, spec.target_accuracy)
        && let Some(p) = summary::first_reaching(&curve, target)
    {
        summary.energy_to_target_j =
            telemetry::energy_between(&series, offset, offset + p.wall_s).map(|e| e.0);
    }
    if telemetry.series.is_empty() {
        telemetry.sources.clear();
    }

    RunRecord {
        schema: RECORD_SCHEMA,
        key: spec.key(),
        config_key: spec.config_key(),
        suite: spec.suite.clone(),
        status,
        reason,
        started_at,
        finished_at: now(),
        spec: spec.clone(),
        env,
        data: data_info,
        curve,
        summary,
        telemetry,
        probes: outcome.map(|o| o.probes).unwrap_or_default(),
        divergence,
    }
}

/// The `batchbench worker` entry point: reads a [`WorkerJob`] from stdin, writes
/// events to stdout, exits 0 once the record is written.
pub fn worker_main() -> anyhow::Result<()> {
    use std::io::{Read, Write};
    let mut input = String::new();
    std::io::stdin().read_to_string(&mut input)?;
    let job: WorkerJob = serde_json::from_str(&input)
        .map_err(|e| anyhow::anyhow!("the worker received an invalid job ({e}); it is started by `batchbench run`, not by hand"))?;
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    // The runner forwards Ctrl-C as SIGINT: finish the current step, then stop.
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
    Ok(())
}
