//! Engines other than Burn: PyTorch and JAX, each in a Python worker
//! (`engines/<name>_worker.py`) that speaks the worker protocol.
//!
//! Why the runner prepares everything: a comparison of frameworks means something only
//! if they do the same work. So the runner loads and normalizes the dataset once and
//! hands it over as `.npy` arrays (their SHA-256 goes into the record), draws the
//! initial weights from the seed exactly as Burn's model does
//! ([`crate::model::initial_parameters`]), and writes the run's whole step plan — each
//! step's batch size, learning rate and slice of the pass's permutation, and where
//! evaluations fall ([`crate::train::plan`]). The worker only executes that plan with
//! its framework's model, loss and optimizer, times it with the same rules (device
//! synchronized, the first 10 steps as warm-up, evaluation apart) and reports phases,
//! evaluation points and a closing [`EngineOutcome`]; the runner builds the record from
//! them, with the same summary and the same sampler as Burn's runs.

use std::collections::HashMap;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use npyz::WriterBuilder;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::data::{self, Dataset};
use crate::device::DeviceKind;
use crate::model::{InputShape, initial_parameters, parameter_count};
use crate::results::env::EngineInfo;
use crate::results::record::{CurvePoint, DataInfo, Divergence, RunRecord};
use crate::results::{EndProbes, Environment};
use crate::suite::{Engine, RunSpec};
use crate::train::plan::StepPlan;
use crate::train::{LoopEnd, TrainOutcome, summary};

/// The interpreter used when neither `--python` nor `BATCHBENCH_PYTHON` names one.
pub const DEFAULT_PYTHON: &str = "python3";
/// How long an engine's probe (importing the framework) may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(180);

/// The worker script of a Python engine.
pub fn script(engine: Engine) -> Option<&'static str> {
    match engine {
        Engine::Burn => None,
        Engine::Pytorch | Engine::PytorchCompile => Some("pytorch_worker.py"),
        Engine::Jax => Some("jax_worker.py"),
    }
}

/// How the step runs in a Python engine (`--mode`).
fn mode(engine: Engine) -> &'static str {
    match engine {
        Engine::PytorchCompile => "compile",
        Engine::Jax => "jit",
        _ => "eager",
    }
}

/// The install command named when a framework is missing.
fn install_hint(engine: Engine) -> &'static str {
    match engine {
        Engine::Jax => {
            "pip install numpy 'jax[cpu]' (on NVIDIA GPUs: pip install numpy 'jax[cuda12]')"
        }
        _ => "pip install numpy torch",
    }
}

/// The folder of the engines' Python files: `BATCHBENCH_ENGINES`, else `engines/` next
/// to the binary (or one and two folders up, as in `make dist`'s tarball and a cargo
/// target folder inside the checkout), else the source tree this binary was built from.
pub fn engines_dir() -> Result<PathBuf, String> {
    if let Some(dir) = std::env::var_os("BATCHBENCH_ENGINES") {
        let dir = PathBuf::from(dir);
        return if dir.join("common.py").is_file() {
            Ok(dir)
        } else {
            Err(format!(
                "BATCHBENCH_ENGINES is {}, which holds no engine files (common.py); point it at the repository's engines/ folder",
                dir.display()
            ))
        };
    }
    let exe_dir = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(Path::to_path_buf));
    let candidates = exe_dir
        .iter()
        .flat_map(|d| d.ancestors().take(3).map(|a| a.join("engines")))
        .chain([Path::new(env!("CARGO_MANIFEST_DIR")).join("engines")]);
    let mut tried = Vec::new();
    for dir in candidates {
        if dir.join("common.py").is_file() {
            return Ok(dir);
        }
        tried.push(dir.display().to_string());
    }
    Err(format!(
        "the engines' Python files were not found (looked in {}); set BATCHBENCH_ENGINES to the repository's engines/ folder",
        tried.join(", ")
    ))
}

/// The interpreter: `--python` (whose value clap takes from `BATCHBENCH_PYTHON` when
/// the flag is absent), else `python3`.
pub fn python(flag: Option<&str>) -> String {
    flag.unwrap_or(DEFAULT_PYTHON).to_string()
}

/// Asks `engine`'s worker whether its framework is importable here (on CUDA: built with
/// CUDA and seeing a GPU) and which versions it has. `Err` is one line naming what is
/// missing and how to install it.
pub fn probe(python: &str, engine: Engine, cuda: bool) -> Result<EngineInfo, String> {
    let Some(script) = script(engine) else {
        return Ok(EngineInfo::burn());
    };
    let dir = engines_dir()?;
    let mut command = Command::new(python);
    command
        .arg(dir.join(script))
        .args(["--probe", "--mode", mode(engine)])
        .args(cuda.then_some("--cuda"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = command.spawn().map_err(|e| {
        format!(
            "engine {} needs a Python interpreter, and `{python}` cannot be started ({e}); install Python 3 or name one with --python / BATCHBENCH_PYTHON",
            engine.as_str()
        )
    })?;
    let output = wait_with_timeout(child, PROBE_TIMEOUT).map_err(|e| {
        format!(
            "engine {}: `{python} {script} --probe` {e}",
            engine.as_str()
        )
    })?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let reply: ProbeReply = stdout
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l).ok())
        .ok_or_else(|| {
            let stderr = String::from_utf8_lossy(&output.stderr);
            format!(
                "engine {}: `{python} {script} --probe` gave no answer ({}){}",
                engine.as_str(),
                output.status,
                super::failure::first_error_line(
                    &stderr.lines().map(str::to_string).collect::<Vec<_>>()
                )
                .map(|l| format!(": {l}"))
                .unwrap_or_default()
            )
        })?;
    match reply {
        ProbeReply {
            engine: Some(info),
            error: None,
        } => Ok(EngineInfo {
            interpreter: Some(python.to_string()),
            ..info
        }),
        ProbeReply { error, .. } => Err(format!(
            "engine {}: {} (interpreter {python}); install it with: {}",
            engine.as_str(),
            error.unwrap_or_else(|| "the probe gave no versions".into()),
            install_hint(engine)
        )),
    }
}

/// What `--probe` prints.
#[derive(Deserialize)]
struct ProbeReply {
    #[serde(default)]
    engine: Option<EngineInfo>,
    #[serde(default)]
    error: Option<String>,
}

fn wait_with_timeout(
    mut child: std::process::Child,
    limit: Duration,
) -> Result<std::process::Output, String> {
    let started = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(_)) => return child.wait_with_output().map_err(|e| e.to_string()),
            Ok(None) if started.elapsed() > limit => {
                let _ = child.kill();
                return Err(format!("did not answer within {} s", limit.as_secs()));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(e.to_string()),
        }
    }
}

/// How a Python worker's loop ended, and what it timed: the same fields as Burn's
/// [`TrainOutcome`] (the evaluation points came before, as events).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EngineOutcome {
    /// `completed`, `diverged`, `stopped` or `failed`.
    pub end: EngineEnd,
    /// Where the loss became non-finite (`diverged`).
    #[serde(default)]
    pub divergence: Option<Divergence>,
    /// What went wrong (`failed`): the exception, one line.
    #[serde(default)]
    pub error: Option<String>,
    /// Seconds until the end of warm-up (compilation included), if it completed.
    #[serde(default)]
    pub warmup_s: Option<f64>,
    /// Examples seen during warm-up.
    #[serde(default)]
    pub warmup_samples: u64,
    /// Training seconds.
    #[serde(default)]
    pub train_s: f64,
    /// Evaluation seconds.
    #[serde(default)]
    pub eval_s: f64,
    /// Steps taken.
    #[serde(default)]
    pub steps: u64,
    /// Examples seen.
    #[serde(default)]
    pub samples: u64,
    /// The framework, as the worker found it.
    #[serde(default)]
    pub engine: Option<EngineInfo>,
}

/// How a Python worker's loop ended.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EngineEnd {
    /// The budget was used up.
    Completed,
    /// A non-finite loss was seen.
    Diverged,
    /// Asked to stop (SIGINT).
    Stopped,
    /// An exception ended the run.
    Failed,
}

/// The job a Python worker reads from stdin.
#[derive(Clone, Debug, Serialize)]
pub struct EngineJob<'a> {
    /// The run.
    pub spec: &'a RunSpec,
    /// `cpu` or `cuda:N` (the Python engines do not run on wgpu).
    pub device: String,
    /// `eager`, `compile` or `jit`.
    pub mode: &'static str,
    /// The dataset's arrays.
    pub data: &'a PreparedData,
    /// The initial parameters, in the model's order (Burn's layouts).
    pub init: Vec<InitFile>,
    /// The step plan: `steps.npy` (per step: batch, learning rate, pass, offset,
    /// evaluate after), `evals.npy` (per evaluation point, the first at step 0: the
    /// learning rate and batch size in force), `passes.npy` (each pass's permutation),
    /// `train_eval.npy` (the fixed subset for train metrics).
    pub plan: PathBuf,
    /// Steps counted as warm-up.
    pub warmup_steps: u64,
    /// The training loss is read back every this many steps (and at step 1).
    pub loss_check_every: u64,
    /// Widest evaluation forward pass.
    pub eval_batch: usize,
}

/// One initial parameter tensor.
#[derive(Clone, Debug, Serialize)]
pub struct InitFile {
    /// Its name (`dense.0.weight`, …).
    pub name: String,
    /// Its `.npy` file.
    pub path: PathBuf,
}

/// A dataset written once for the Python engines.
#[derive(Clone, Debug, Serialize)]
pub struct PreparedData {
    /// The folder with `train_x.npy`, `train_y.npy`, `test_x.npy`, `test_y.npy`.
    pub dir: PathBuf,
    /// Values per example.
    pub features: usize,
    /// `[channels, height, width]` of image data.
    pub image: Option<[usize; 3]>,
    /// Classes.
    pub classes: usize,
    /// Training examples.
    pub train_size: usize,
    /// SHA-256 over the four files.
    pub arrays_sha256: String,
    /// The record's description of the data.
    #[serde(skip)]
    pub info: DataInfo,
    /// The dataset's source-file hash.
    #[serde(skip)]
    pub dataset_sha256: String,
    /// Seconds it took to load and write it.
    #[serde(skip)]
    pub data_s: f64,
}

impl PreparedData {
    /// The model's input for this data.
    pub fn input(&self) -> InputShape {
        InputShape {
            features: self.features,
            image: self.image,
            classes: self.classes,
        }
    }
}

/// Datasets already written by this sweep, by their spec.
#[derive(Default)]
pub struct DataCache {
    prepared: HashMap<String, PreparedData>,
}

impl DataCache {
    /// The arrays of `spec`'s dataset under `root` (written on first use; the folder
    /// is named by the source files' hash and the dataset spec, so another sweep with
    /// the same data reuses it), and whether this call prepared them (the run that
    /// did is charged the seconds).
    pub fn prepare(
        &mut self,
        spec: &data::DatasetSpec,
        suite_dir: Option<&Path>,
        root: &Path,
    ) -> anyhow::Result<(&PreparedData, bool)> {
        let key = serde_json::to_string(spec)?;
        let fresh = !self.prepared.contains_key(&key);
        if fresh {
            let started = Instant::now();
            let data = data::load(spec, suite_dir)?;
            let mut prepared = write_arrays(&data, root, &key)?;
            prepared.data_s = started.elapsed().as_secs_f64();
            self.prepared.insert(key.clone(), prepared);
        }
        Ok((&self.prepared[&key], fresh))
    }
}

/// Writes `data`'s four arrays (once per content) and describes them.
fn write_arrays(data: &Dataset, root: &Path, spec_key: &str) -> anyhow::Result<PreparedData> {
    let name = hex::encode(&Sha256::digest(format!("{}{spec_key}", data.sha256()))[..8]);
    let dir = root.join("engine-data").join(name);
    let files = ["train_x.npy", "train_y.npy", "test_x.npy", "test_y.npy"];
    if !files.iter().all(|f| dir.join(f).is_file()) {
        let partial = dir.with_extension(format!("partial-{}", std::process::id()));
        std::fs::create_dir_all(&partial)
            .with_context(|| format!("cannot create {}", partial.display()))?;
        let labels = |s: &data::Split| s.y.iter().map(|&y| y as i64).collect::<Vec<_>>();
        let f = data.features as u64;
        write_npy(
            &partial.join(files[0]),
            &data.train.x,
            &[data.train.len() as u64, f],
        )?;
        write_npy(
            &partial.join(files[1]),
            &labels(&data.train),
            &[data.train.len() as u64],
        )?;
        write_npy(
            &partial.join(files[2]),
            &data.test.x,
            &[data.test.len() as u64, f],
        )?;
        write_npy(
            &partial.join(files[3]),
            &labels(&data.test),
            &[data.test.len() as u64],
        )?;
        // Another sweep may have finished the same folder meanwhile: either is right.
        if std::fs::rename(&partial, &dir).is_err() {
            let _ = std::fs::remove_dir_all(&partial);
        }
    }
    let mut hash = Sha256::new();
    for f in files {
        let bytes = std::fs::read(dir.join(f))
            .with_context(|| format!("cannot read {}", dir.join(f).display()))?;
        hash.update(Sha256::digest(&bytes));
    }
    let arrays_sha256 = hex::encode(hash.finalize());
    let mut info = DataInfo::of(data);
    info.arrays_sha256 = Some(arrays_sha256.clone());
    Ok(PreparedData {
        dir,
        features: data.features,
        image: data.image,
        classes: data.classes,
        train_size: data.train.len(),
        arrays_sha256,
        info,
        dataset_sha256: data.sha256(),
        data_s: 0.0,
    })
}

fn write_npy<T: npyz::AutoSerialize + Copy>(
    path: &Path,
    values: &[T],
    shape: &[u64],
) -> anyhow::Result<()> {
    let file =
        std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    let mut out = BufWriter::new(file);
    let mut writer = npyz::WriteOptions::<T>::new()
        .default_dtype()
        .shape(shape)
        .writer(&mut out)
        .begin_nd()?;
    writer.extend(values.iter().copied())?;
    writer.finish()?;
    out.flush()?;
    Ok(())
}

/// Writes `spec`'s initial weights and step plan into `dir` and returns the job.
pub fn write_job<'a>(
    spec: &'a RunSpec,
    kind: DeviceKind,
    data: &'a PreparedData,
    dir: &Path,
) -> anyhow::Result<EngineJob<'a>> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut init = Vec::new();
    for (i, p) in initial_parameters(&spec.model, data.input(), spec.seed)
        .into_iter()
        .enumerate()
    {
        let path = dir.join(format!("param-{i}.npy"));
        let shape: Vec<u64> = p.shape.iter().map(|&d| d as u64).collect();
        write_npy(&path, &p.values, &shape)?;
        init.push(InitFile { name: p.name, path });
    }
    let n = data.train_size;
    let mut plan = StepPlan::new(spec, n);
    let mut steps: Vec<f64> = Vec::new();
    let mut passes: Vec<i64> = Vec::new();
    // What each evaluation point reports as the rate and batch size in force: the
    // schedules at the point's epoch, as Burn's loop records them.
    let in_force = |samples: u64| {
        let epoch = samples as f64 / n.max(1) as f64;
        [
            crate::train::schedule::learning_rate(spec, epoch),
            crate::train::schedule::batch_size(spec, epoch) as f64,
        ]
    };
    let mut evals: Vec<f64> = in_force(0).to_vec();
    let mut samples = 0u64;
    while let Some(step) = plan.next() {
        if step.new_pass {
            passes.extend_from_slice(plan.order());
        }
        samples += step.batch as u64;
        if step.evaluate {
            evals.extend(in_force(samples));
        }
        steps.extend([
            step.batch as f64,
            step.lr,
            step.pass as f64,
            step.offset as f64,
            if step.evaluate { 1.0 } else { 0.0 },
        ]);
    }
    write_npy(&dir.join("steps.npy"), &steps, &[steps.len() as u64 / 5, 5])?;
    write_npy(&dir.join("evals.npy"), &evals, &[evals.len() as u64 / 2, 2])?;
    write_npy(
        &dir.join("passes.npy"),
        &passes,
        &[(passes.len() / n.max(1)) as u64, n as u64],
    )?;
    let subset = data::order::train_eval_subset(n, spec.eval_train_samples as usize, spec.seed);
    write_npy(&dir.join("train_eval.npy"), &subset, &[subset.len() as u64])?;
    Ok(EngineJob {
        spec,
        device: kind.to_string(),
        mode: mode(spec.engine),
        data,
        init,
        plan: dir.to_path_buf(),
        warmup_steps: crate::train::WARMUP_STEPS,
        loss_check_every: crate::train::LOSS_CHECK_EVERY,
        eval_batch: crate::train::EVAL_BATCH,
    })
}

/// The command that starts `engine`'s worker.
pub fn worker_command(python: &str, engine: Engine) -> anyhow::Result<Command> {
    let script = script(engine).expect("only Python engines have workers");
    let dir = engines_dir().map_err(anyhow::Error::msg)?;
    let mut command = Command::new(python);
    command.arg(dir.join(script));
    // NVML and CUDA number devices alike. The framework's own CUDA libraries are used:
    // no library path from batchbench's CUDA probe.
    command.env("CUDA_DEVICE_ORDER", "PCI_BUS_ID");
    if engine == Engine::Jax {
        // JAX reserves 75% of the GPU's memory at start by default; allocating as it
        // goes makes the sampled peak its use, as for the other engines' pools.
        command.env("XLA_PYTHON_CLIENT_PREALLOCATE", "false");
    }
    Ok(command)
}

/// The record of a run whose Python worker ended with `outcome`: the same summary as
/// Burn's runs, from the evaluation points it sent.
pub fn record_from_outcome(
    spec: &RunSpec,
    mut env: Environment,
    started_at: String,
    curve: Vec<CurvePoint>,
    outcome: EngineOutcome,
) -> RunRecord {
    if let Some(info) = outcome.engine.clone() {
        env.engine = Some(EngineInfo {
            interpreter: env.engine.as_ref().and_then(|e| e.interpreter.clone()),
            ..info
        });
    }
    let mut record = RunRecord::new(spec.clone(), env, started_at);
    let end = match outcome.end {
        EngineEnd::Completed => LoopEnd::Completed,
        EngineEnd::Stopped | EngineEnd::Failed => LoopEnd::Stopped,
        EngineEnd::Diverged => {
            LoopEnd::Diverged(outcome.divergence.clone().unwrap_or(Divergence {
                step: outcome.steps,
                last_finite_loss: None,
            }))
        }
    };
    if outcome.end == EngineEnd::Failed {
        let error = outcome
            .error
            .clone()
            .unwrap_or_else(|| "the worker failed".into());
        record.status = super::failure::classify_failure(&error);
        record.reason = Some(super::failure::short_reason(&error));
        record.summary.final_train_acc = curve.last().map(|p| p.train_acc);
        record.summary.final_test_acc = curve.last().map(|p| p.test_acc);
        record.curve = curve;
    } else {
        super::worker::mark_loop_end(&mut record, &end);
        let train = TrainOutcome {
            end,
            curve,
            warmup_s: outcome.warmup_s,
            warmup_samples: outcome.warmup_samples,
            train_s: outcome.train_s,
            eval_s: outcome.eval_s,
            steps: outcome.steps,
            samples: outcome.samples,
            probes: EndProbes::default(),
            final_weights: None,
        };
        record.summary = summary::summarize(spec, &train);
        record.curve = train.curve;
    }
    record
}

/// Fills what the runner knows about an engine run's data into its record (whatever
/// its status); `prepared_now`: this run loaded and wrote the arrays (its `data_s`;
/// later runs reuse them, and the worker's reading is part of its setup).
pub fn describe_data(
    record: &mut RunRecord,
    spec: &RunSpec,
    data: &PreparedData,
    prepared_now: bool,
) {
    record.data = Some(data.info.clone());
    record.env.dataset_sha256 = Some(data.dataset_sha256.clone());
    record.summary.data_s = prepared_now.then_some(data.data_s);
    record.summary.parameters = Some(parameter_count(&spec.model, data.input()));
}
