//! `batchbench run SUITE`: the sweep.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use crate::backend::CpuBackend;
use crate::runner::observer::TerminalObserver;
use crate::runner::process::Interrupts;
use crate::runner::shard::Shard;
use crate::runner::{self, SweepOptions};
use crate::suite::DeviceRequest;

use super::{load_suite, parse_seconds};

#[derive(clap::Args)]
pub struct RunArgs {
    /// The suite file.
    suite: PathBuf,
    /// Results folder (default: results/<suite name>).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Device for every run: auto, cpu, cuda[:N] or wgpu[:N] (overrides the suite).
    #[arg(long)]
    device: Option<DeviceRequest>,
    /// Skip runs that already have a final record in the results folder.
    #[arg(long, conflicts_with = "fresh")]
    resume: bool,
    /// Start a new runs.jsonl (the existing one is kept under a dated name).
    #[arg(long)]
    fresh: bool,
    /// Run only shard K of N (default: from SLURM_ARRAY_* or JOB_COMPLETION_INDEX).
    #[arg(long)]
    shard: Option<Shard>,
    /// Number of shards when only JOB_COMPLETION_INDEX gives the index.
    #[arg(long)]
    shards: Option<u32>,
    /// Cost runs by a model fitted to the measured runs in this results folder (the
    /// shard split and the progress estimate); every shard must be given the same.
    #[arg(long, value_name = "DIR")]
    costs_from: Option<PathBuf>,
    /// Stop starting new runs after this many seconds (resume later with --resume).
    #[arg(long, value_name = "SECONDS", value_parser = parse_seconds)]
    budget: Option<f64>,
    /// Telemetry sampling interval in milliseconds (0 switches telemetry off).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(0..=60_000))]
    telemetry_ms: u64,
    /// Backend for CPU runs (ndarray needs a binary built with --features openblas).
    #[arg(long, value_enum, env = "BATCHBENCH_CPU_BACKEND", default_value_t = CpuBackend::Flex)]
    cpu_backend: CpuBackend,
    /// The Python interpreter of the pytorch and jax engines (default: python3).
    #[arg(long, env = "BATCHBENCH_PYTHON", value_name = "PATH")]
    python: Option<String>,
    /// Run in this process instead of one worker process per run (no isolation; for debugging).
    #[arg(long)]
    in_process: bool,
    /// No progress bar and no line per run (warnings and the final summary only).
    #[arg(long, short)]
    quiet: bool,
    /// Render the report when the sweep ends (into reports/<suite name>).
    #[arg(long)]
    report: bool,
}

impl RunArgs {
    pub fn run(self) -> anyhow::Result<ExitCode> {
        let suite = load_suite(&self.suite)?;
        self.cpu_backend
            .check_available()
            .map_err(|e| anyhow::anyhow!(e))?;
        let shard = match self.shard {
            Some(s) => Some(s),
            None => Shard::from_env(self.shards).map_err(|e| anyhow::anyhow!(e))?,
        };
        let default_out = PathBuf::from("results").join(suite.name());
        let out = match (self.out, self.shard, shard) {
            (Some(o), _, _) => o,
            // Shards started by a scheduler write side by side; `merge` joins them.
            (None, None, Some(s)) => default_out.join(format!("shard-{}", s.index)),
            _ => default_out,
        };
        let options = SweepOptions {
            out,
            device: self.device,
            resume: self.resume,
            fresh: self.fresh,
            in_process: self.in_process,
            shard,
            costs: super::cost_model(self.costs_from.as_deref())?,
            telemetry_interval: Duration::from_millis(self.telemetry_ms),
            budget: self.budget.map(Duration::from_secs_f64),
            cache_dir: crate::backend::default_cache_dir(),
            command: std::env::args().collect(),
            cpu_backend: self.cpu_backend,
            python: self.python.clone(),
        };
        let interrupts = Interrupts::install();
        let mut observer = TerminalObserver::new(!self.quiet, self.quiet);
        let outcome = runner::run_suite(&suite, &options, &interrupts, &mut observer)?;
        let mut counts: Vec<String> = outcome
            .by_status
            .iter()
            .map(|(s, n)| format!("{n} {}", s.as_str()))
            .collect();
        counts.sort();
        eprintln!(
            "{} run(s) finished ({}){}; records in {}",
            outcome.executed(),
            if counts.is_empty() {
                "none".into()
            } else {
                counts.join(", ")
            },
            if outcome.skipped > 0 {
                format!(", {} skipped as already done", outcome.skipped)
            } else {
                String::new()
            },
            outcome.runs_path.display()
        );
        if self.report && outcome.runs_path.exists() {
            let dir = outcome
                .runs_path
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_default();
            super::report::render(&[dir], None)?;
        }
        if outcome.interrupted {
            eprintln!(
                "interrupted: {} run(s) not started; continue with `batchbench run {} --resume`",
                outcome.not_started,
                self.suite.display()
            );
            return Ok(ExitCode::from(130));
        }
        Ok(ExitCode::SUCCESS)
    }
}
