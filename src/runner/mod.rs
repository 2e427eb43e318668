//! Sweeps: expand a suite, resolve devices, run every run (each in its own worker
//! process by default), append each record as it finishes.
//!
//! Process isolation (ARCHITECTURE.md): an out-of-memory error at a large batch, a crash or
//! a time-out ends that run with a status and the sweep goes on; GPU memory is fully
//! returned between runs, so each run's peak memory is its own.

pub mod advise;
pub mod engine;
pub mod failure;
pub mod max_batch;
pub mod monitor;
pub mod observer;
pub mod process;
pub mod shard;
pub mod warm;
pub mod worker;
mod worker_log;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::backend::CpuBackend;
use crate::device::{self, CudaProbe, DeviceKind};
use crate::results::Environment;
use crate::results::record::RunStatus;
use crate::results::store::{self, Manifest, Store};
use crate::suite::{DeviceRequest, Engine, RunSpec, Suite};
use monitor::Telemetry;
use observer::SweepObserver;
use process::{Interrupts, Launch, Limits};
use shard::{CostModel, Shard};
use worker::{WorkerEvent, WorkerJob};

/// How to run a sweep.
#[derive(Clone, Debug)]
pub struct SweepOptions {
    /// The results folder.
    pub out: PathBuf,
    /// Overrides every run's `device`.
    pub device: Option<DeviceRequest>,
    /// Skip runs that already have a final record in `out`.
    pub resume: bool,
    /// Move an existing `runs.jsonl` aside and start a new one.
    pub fresh: bool,
    /// Run in this process instead of one worker per run (no isolation).
    pub in_process: bool,
    /// Run only this shard of the suite.
    pub shard: Option<Shard>,
    /// How runs are costed (the shard split, the sweep's progress estimate).
    pub costs: CostModel,
    /// Telemetry sampling interval; zero switches telemetry off.
    pub telemetry_interval: Duration,
    /// Stop starting runs after this long (the sweep-level budget).
    pub budget: Option<Duration>,
    /// Where CubeCL's caches live (shared by all workers).
    pub cache_dir: PathBuf,
    /// The command line, for the records.
    pub command: Vec<String>,
    /// The backend for CPU runs.
    pub cpu_backend: CpuBackend,
    /// The Python interpreter of the PyTorch and JAX engines (`--python`; else
    /// `BATCHBENCH_PYTHON`, else `python3`).
    pub python: Option<String>,
}

/// What a sweep did.
#[derive(Debug, Default)]
pub struct SweepOutcome {
    /// Runs executed now, by status.
    pub by_status: HashMap<RunStatus, usize>,
    /// Runs skipped because they were already done (`--resume`).
    pub skipped: usize,
    /// Runs not started (interrupted or out of budget).
    pub not_started: usize,
    /// Whether the user interrupted the sweep.
    pub interrupted: bool,
    /// Where the records are.
    pub runs_path: PathBuf,
}

impl SweepOutcome {
    /// Runs executed now.
    pub fn executed(&self) -> usize {
        self.by_status.values().sum()
    }
}

/// Resolves every run's device (probing CUDA once per request) before anything runs.
pub fn resolve_devices(
    specs: &mut [RunSpec],
    override_device: Option<DeviceRequest>,
) -> anyhow::Result<HashMap<DeviceKind, Option<CudaProbe>>> {
    let mut resolved: HashMap<DeviceRequest, (DeviceKind, Option<CudaProbe>)> = HashMap::new();
    let mut used = HashMap::new();
    for spec in specs.iter_mut() {
        let request = override_device.unwrap_or(spec.device);
        if !resolved.contains_key(&request) {
            let r = device::resolve(request).map_err(|e| anyhow::anyhow!("{e}"))?;
            resolved.insert(request, r);
        }
        let (kind, probe) = resolved[&request].clone();
        if kind == DeviceKind::Cpu && spec.precision != crate::suite::Precision::F32 {
            bail!(
                "run `{}` asks for precision {} but runs on the CPU, which trains in f32 only; use device: cuda or precision: f32",
                spec.label(),
                spec.precision.as_str()
            );
        }
        if let DeviceKind::Wgpu(n) = kind {
            check_wgpu_run(spec, n)?;
        }
        spec.device = kind.into();
        used.insert(kind, probe);
    }
    Ok(used)
}

/// What a run on adapter `wgpu:n` cannot do: another framework, or a float type the
/// adapter's shaders lack.
fn check_wgpu_run(spec: &RunSpec, n: u32) -> anyhow::Result<()> {
    if !spec.engine.is_burn() {
        bail!(
            "run `{}` uses engine {} on wgpu:{n}, but wgpu is a Burn backend; the {} engine trains on cpu or cuda",
            spec.label(),
            spec.engine.as_str(),
            spec.engine.as_str()
        );
    }
    let adapter = device::wgpu::adapter(n).map_err(|e| anyhow::anyhow!("{e}"))?;
    match spec.precision {
        crate::suite::Precision::F32 => Ok(()),
        crate::suite::Precision::F16 if adapter.shader_f16 => Ok(()),
        other => bail!(
            "run `{}` asks for precision {} on wgpu:{n} ({}), whose shaders compute in {}; use precision: f32",
            spec.label(),
            other.as_str(),
            adapter.name,
            if adapter.shader_f16 {
                "f32 and f16"
            } else {
                "f32 only"
            }
        ),
    }
}

/// Runs a suite into `opts.out`, telling `observer` what happens.
pub fn run_suite(
    suite: &Suite,
    opts: &SweepOptions,
    interrupts: &Interrupts,
    observer: &mut dyn SweepObserver,
) -> anyhow::Result<SweepOutcome> {
    let mut specs = suite.expand().map_err(|e| anyhow::anyhow!("{e}"))?;
    if let Some(shard) = opts.shard {
        specs = shard.select(specs, &opts.costs);
    }
    let probes = resolve_devices(&mut specs, opts.device)?;

    // Read what is there before the store repairs a torn last line, so the warning
    // can say that the line was cut short.
    let runs_path = opts.out.join(store::RUNS_FILE);
    let previous = if runs_path.exists() && std::fs::metadata(&runs_path)?.len() > 0 {
        Some(store::read_records(&runs_path)?)
    } else {
        None
    };
    let mut store = Store::open(&opts.out)?;
    let mut done: HashSet<String> = HashSet::new();
    let old_manifest = Store::read_manifest(&opts.out)?;
    if let Some(prev) = &previous {
        for w in &prev.warnings {
            observer.warning(w);
        }
        if opts.fresh {
            drop(store);
            let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
            let aside = opts.out.join(format!("runs-{stamp}.jsonl"));
            std::fs::rename(&runs_path, &aside)
                .with_context(|| format!("cannot move {} aside", runs_path.display()))?;
            observer.note(&format!(
                "moved the previous records to {}",
                aside.display()
            ));
            store = Store::open(&opts.out)?;
        } else if opts.resume {
            done = prev
                .records
                .iter()
                .filter(|r| r.status.is_final())
                .map(|r| r.key.clone())
                .collect();
            if let Some(m) = &old_manifest
                && m.suite_sha256 != suite.sha256
            {
                observer.note(&format!(
                    "note: {} changed since these records were written (suite hash {} → {}). Runs are matched by their key, a hash of the run's full configuration: unchanged runs keep their records, new or changed ones run now.",
                    suite.path.display(),
                    crate::fmt::short_hash(&m.suite_sha256),
                    crate::fmt::short_hash(&suite.sha256)
                ));
            }
        } else if !prev.records.is_empty() {
            bail!(
                "{} already holds {} record(s); pass --resume to skip finished runs and run the rest, or --fresh to start over (the old file is kept)",
                runs_path.display(),
                prev.records.len()
            );
        }
    }

    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let manifest = Manifest {
        schema: 1,
        suite: suite.name().to_string(),
        suite_path: suite.path.display().to_string(),
        suite_sha256: suite.sha256.clone(),
        suite_text: suite.text.clone(),
        command: opts.command.clone(),
        batchbench: format!(
            "{} ({})",
            crate::results::env::build::VERSION,
            crate::results::env::build::GIT
        ),
        created_at: old_manifest
            .as_ref()
            .filter(|_| !opts.fresh)
            .map_or(now.clone(), |m| m.created_at.clone()),
        updated_at: now,
        runs_planned: specs.len(),
        shard: opts.shard.map(|s| s.to_string()),
    };
    store.write_manifest(&manifest)?;

    let wants_interpolation = specs
        .iter()
        .any(|s| s.probes.as_ref().is_some_and(|p| p.interpolation.is_some()));
    let todo: Vec<RunSpec> = specs
        .into_iter()
        .filter(|s| !done.contains(&s.key()))
        .collect();
    let mut outcome = SweepOutcome {
        skipped: manifest.runs_planned - todo.len(),
        runs_path: runs_path.clone(),
        ..SweepOutcome::default()
    };
    if outcome.skipped > 0 {
        observer.note(&format!(
            "resuming: {} of {} runs already have final records",
            outcome.skipped, manifest.runs_planned
        ));
    }
    let costs: Vec<f64> = todo.iter().map(|s| opts.costs.cost(s)).collect();
    observer.sweep_started(suite.name(), todo.len(), costs.iter().sum());

    let suite_dir = suite.path.parent().map(Path::to_path_buf);
    let mut env_cache: HashMap<DeviceKind, Environment> = HashMap::new();
    let mut engines = Engines::new(opts);
    let sweep_started = Instant::now();
    let total = todo.len();
    for (i, spec) in todo.into_iter().enumerate() {
        if interrupts.requested() {
            outcome.interrupted = true;
            outcome.not_started = total - i;
            break;
        }
        let remaining_budget = opts
            .budget
            .map(|b| b.saturating_sub(sweep_started.elapsed()));
        if remaining_budget == Some(Duration::ZERO) {
            observer.note(&format!(
                "the sweep's time budget is spent; {} run(s) not started (rerun with --resume to continue)",
                total - i
            ));
            outcome.not_started = total - i;
            break;
        }
        let kind = DeviceKind::try_from(spec.device).map_err(|e| anyhow::anyhow!(e))?;
        let extra_env = probes
            .get(&kind)
            .and_then(|p| p.as_ref())
            .map(device::worker_env)
            .unwrap_or_default();
        let job = WorkerJob {
            spec: spec.clone(),
            suite_sha256: suite.sha256.clone(),
            suite_dir: suite_dir.clone(),
            command: opts.command.clone(),
            cache_dir: opts.cache_dir.clone(),
            results_dir: Some(opts.out.clone()),
            cpu_backend: opts.cpu_backend,
        };
        let label = spec.label();
        observer.run_started(i + 1, &label);
        let limits = Limits {
            warmup: spec.warmup_timeout_s.map(Duration::from_secs_f64),
            run: spec.timeout_s.map(Duration::from_secs_f64),
            budget: remaining_budget,
        };
        let mut on_event = |event: &WorkerEvent| {
            if let WorkerEvent::Eval { point } = event {
                observer.eval_point(&label, point);
            }
        };
        let telemetry = Telemetry::prepare(kind, opts.telemetry_interval);
        // Python engines always run in their own process (--in-process is Burn's).
        let record = if spec.engine != Engine::Burn {
            engines.run(&job, kind, limits, telemetry, interrupts, &mut on_event)?
        } else if opts.in_process {
            let stop = Arc::new(AtomicBool::new(false));
            let mut monitor = telemetry.start(std::process::id());
            let mut sink = |e: WorkerEvent| {
                monitor.observe(&e);
                on_event(&e);
            };
            let mut record = worker::execute(&job, &mut sink, stop);
            monitor.finish(&mut record);
            record
        } else {
            let backend = crate::backend::backend_name(kind, opts.cpu_backend);
            let env = env_cache
                .entry(kind)
                .or_insert_with(|| Environment::capture(&kind.to_string(), backend));
            process::run_worker(
                &job,
                Launch::burn(&job)?,
                limits,
                telemetry,
                env,
                &extra_env,
                interrupts,
                &mut on_event,
            )?
        };
        for warning in engines.warnings.drain(..) {
            observer.warning(&warning);
        }
        store.append(&record)?;
        *outcome.by_status.entry(record.status).or_default() += 1;
        observer.run_finished(i + 1, total, &record, costs[i]);
        if record.status == RunStatus::Interrupted {
            outcome.not_started = total - i - 1;
            if interrupts.requested() {
                outcome.interrupted = true;
            } else {
                observer.note(&format!(
                    "the sweep's time budget is spent; {} run(s) not started (rerun with --resume to continue)",
                    total - i - 1
                ));
            }
            break;
        }
    }
    observer.sweep_finished();
    if wants_interpolation && !outcome.interrupted {
        interpolate(&opts.out, &probes, observer)?;
    }
    Ok(outcome)
}

/// What a sweep keeps for its Python engines: whether each is usable (probed once per
/// engine and device type), their environments, and the datasets written for them.
struct Engines<'a> {
    opts: &'a SweepOptions,
    python: String,
    /// Per engine and device: the environment of its runs, and whether the engine can
    /// be used there (else the one line saying why).
    probed: HashMap<(Engine, DeviceKind), (Environment, Result<(), String>)>,
    data: engine::DataCache,
    /// Said once per engine when it cannot be used (printed by the sweep).
    warnings: Vec<String>,
}

impl<'a> Engines<'a> {
    fn new(opts: &'a SweepOptions) -> Self {
        Engines {
            opts,
            python: engine::python(opts.python.as_deref()),
            probed: HashMap::new(),
            data: engine::DataCache::default(),
            warnings: Vec::new(),
        }
    }

    /// Runs `job` in its engine's Python worker. A missing interpreter or framework,
    /// or data that cannot be prepared, is recorded as the run's failure (the sweep
    /// goes on; the warning is printed once per engine).
    #[allow(clippy::too_many_arguments)]
    fn run(
        &mut self,
        job: &WorkerJob,
        kind: DeviceKind,
        limits: Limits,
        telemetry: Telemetry,
        interrupts: &Interrupts,
        on_event: &mut dyn FnMut(&WorkerEvent),
    ) -> anyhow::Result<crate::results::RunRecord> {
        let spec = &job.spec;
        let python = &self.python;
        let warnings = &mut self.warnings;
        let (env, usable) = self.probed.entry((spec.engine, kind)).or_insert_with(|| {
            let cuda = matches!(kind, DeviceKind::Cuda(_));
            let mut env =
                Environment::capture(&kind.to_string(), if cuda { "cuda" } else { "cpu" });
            let probed = engine::probe(python, spec.engine, cuda);
            env.engine = probed.as_ref().ok().cloned();
            if let Err(e) = &probed {
                warnings.push(e.clone());
            }
            (env, probed.map(|_| ()))
        });
        let env = env.clone();
        let started_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let failed = |reason: String, env: &Environment| {
            let mut r = crate::results::RunRecord::new(
                spec.clone(),
                process::job_env(job, env),
                started_at.clone(),
            );
            r.status = RunStatus::Crashed;
            r.reason = Some(reason);
            r.finished_at = r.started_at.clone();
            r
        };
        if let Err(e) = usable {
            return Ok(failed(e.clone(), &env));
        }
        let (prepared, prepared_now) = match self.data.prepare(
            &spec.dataset,
            job.suite_dir.as_deref(),
            &self.opts.cache_dir,
        ) {
            Ok(p) => p,
            Err(e) => return Ok(failed(format!("{e:#}"), &env)),
        };
        let dir = self.opts.cache_dir.join("engine-runs").join(format!(
            "{}-{}",
            spec.key(),
            std::process::id()
        ));
        let input = engine::write_job(spec, kind, prepared, &dir)
            .and_then(|j| Ok(serde_json::to_string(&j)?));
        let mut record = match input {
            Ok(input) => process::run_worker(
                job,
                Launch {
                    command: engine::worker_command(&self.python, spec.engine)?,
                    input,
                },
                limits,
                telemetry,
                &env,
                &[],
                interrupts,
                on_event,
            )?,
            Err(e) => failed(format!("cannot write the run's files: {e:#}"), &env),
        };
        let _ = std::fs::remove_dir_all(&dir);
        engine::describe_data(&mut record, spec, prepared, prepared_now);
        Ok(record)
    }
}

/// Runs `batchbench interpolate DIR` in a child process (GPU memory stays isolated
/// from the runner).
fn interpolate(
    dir: &Path,
    probes: &HashMap<DeviceKind, Option<CudaProbe>>,
    observer: &mut dyn SweepObserver,
) -> anyhow::Result<()> {
    let env: Vec<(String, String)> = probes
        .values()
        .flatten()
        .flat_map(device::worker_env)
        .collect();
    let status = std::process::Command::new(std::env::current_exe()?)
        .arg("interpolate")
        .arg(dir)
        .envs(env)
        .status()?;
    if !status.success() {
        observer.warning(&format!(
            "the interpolation probe failed ({status}); rerun it with `batchbench interpolate {}`",
            dir.display()
        ));
    }
    Ok(())
}
