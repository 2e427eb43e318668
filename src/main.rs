//! The `batchbench` command line: options → command → run → export.
//!
//! Every command is a short function over the library; errors end in one sentence on
//! stderr and exit status 1 (2 for usage errors, from clap).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};

use batchbench::results::Environment;
use batchbench::runner::process::Interrupts;
use batchbench::runner::shard::{Shard, estimated_cost};
use batchbench::runner::{self, SweepOptions};
use batchbench::suite::{DatasetName, DeviceRequest, Suite};

#[derive(Parser)]
#[command(
    name = "batchbench",
    version,
    about = "How does the mini-batch size change SGD's convergence, time and energy to accuracy, generalization and GPU use, and why?"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train every run of a suite and append one record per run to runs.jsonl.
    Run(RunArgs),
    /// Render reports (HTML, JSON, CSV, Markdown) from one or more results folders.
    Report {
        /// Results folders (or runs.jsonl files); several render side by side.
        #[arg(required = true)]
        results: Vec<PathBuf>,
        /// Output folder (default: reports/<suite name>).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Check suites without running them (exit 1 on the first invalid one).
    Validate {
        /// Suite files.
        #[arg(required = true)]
        suites: Vec<PathBuf>,
    },
    /// List the runs a suite expands to (this shard's, with --shard), with estimated cost.
    Plan {
        /// The suite file.
        suite: PathBuf,
        /// Show only shard K of N.
        #[arg(long)]
        shard: Option<Shard>,
    },
    /// Print the machine's environment fingerprint and device availability.
    Env,
    /// Datasets: download with checksum verification.
    Data {
        #[command(subcommand)]
        command: DataCommand,
    },
    /// Print the JSON Schema of suite files.
    Schema,
    /// (internal) Execute one run sent by `batchbench run` on stdin.
    #[command(hide = true)]
    Worker,
}

#[derive(Subcommand)]
enum DataCommand {
    /// Download a dataset (mnist, fashion-mnist) and verify its SHA-256 sums.
    Fetch {
        /// The dataset.
        name: String,
        /// Folder to put it in (default: $BATCHBENCH_DATA/<name>, which batchbench searches).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
}

#[derive(clap::Args)]
struct RunArgs {
    /// The suite file.
    suite: PathBuf,
    /// Results folder (default: results/<suite name>).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Device for every run: auto, cpu, cuda or cuda:N (overrides the suite).
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
    /// Stop starting new runs after this many seconds (resume later with --resume).
    #[arg(long, value_name = "SECONDS")]
    budget: Option<f64>,
    /// Telemetry sampling interval in milliseconds (0 switches telemetry off).
    #[arg(long, default_value_t = 100)]
    telemetry_ms: u64,
    /// Run in this process instead of one worker process per run (no isolation; for debugging).
    #[arg(long)]
    in_process: bool,
    /// No progress bar.
    #[arg(long, short)]
    quiet: bool,
    /// Render the report when the sweep ends (into reports/<suite name>).
    #[arg(long)]
    report: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => run(args),
        Command::Report { results, out } => report(&results, out).map(success),
        Command::Validate { suites } => validate(&suites).map(success),
        Command::Plan { suite, shard } => plan(&suite, shard).map(success),
        Command::Env => env().map(success),
        Command::Data {
            command: DataCommand::Fetch { name, dir },
        } => fetch(&name, dir).map(success),
        Command::Schema => schema().map(success),
        Command::Worker => batchbench::runner::worker::worker_main().map(success),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn success(_: ()) -> ExitCode {
    ExitCode::SUCCESS
}

fn load_suite(path: &Path) -> anyhow::Result<Suite> {
    Suite::load(path).map_err(|e| anyhow::anyhow!("{e}"))
}

fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let suite = load_suite(&args.suite)?;
    let shard = match args.shard {
        Some(s) => Some(s),
        None => Shard::from_env(args.shards).map_err(|e| anyhow::anyhow!(e))?,
    };
    let mut out = args
        .out
        .unwrap_or_else(|| PathBuf::from("results").join(suite.name()));
    if args.shard.is_none() && shard.is_some() && out == Path::new("results").join(suite.name()) {
        // Shards started by a scheduler write side by side; `merge` joins them.
        out = out.join(format!("shard-{}", shard.expect("checked").index));
    }
    let options = SweepOptions {
        out,
        device: args.device,
        resume: args.resume,
        fresh: args.fresh,
        in_process: args.in_process,
        shard,
        telemetry_interval: Duration::from_millis(args.telemetry_ms),
        budget: args.budget.map(Duration::from_secs_f64),
        cache_dir: runner::default_cache_dir(),
        command: std::env::args().collect(),
        progress: !args.quiet,
    };
    let interrupts = Interrupts::install();
    let outcome = runner::run_suite(&suite, &options, &interrupts)?;
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
    if args.report && outcome.runs_path.exists() {
        let dir = outcome
            .runs_path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        report(&[dir], None)?;
    }
    if outcome.interrupted {
        eprintln!(
            "interrupted: {} run(s) not started; continue with `batchbench run {} --resume`",
            outcome.not_started,
            args.suite.display()
        );
        return Ok(ExitCode::from(130));
    }
    Ok(ExitCode::SUCCESS)
}

fn report(results: &[PathBuf], out: Option<PathBuf>) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let out = match out {
        Some(o) => o,
        None => {
            let sets = batchbench::analysis::load_all(results)?;
            let mut names: Vec<String> = sets
                .iter()
                .filter_map(|s| s.records.first().map(|r| safe_name(&r.suite)))
                .collect();
            names.dedup();
            PathBuf::from("reports").join(names.join("-vs-"))
        }
    };
    let command: Vec<String> = std::env::args().collect();
    let html = batchbench::report::render_report(results, &out, &command)?;
    eprintln!("report written in {:.2} s", started.elapsed().as_secs_f64());
    println!("{}", html.display());
    Ok(())
}

/// A folder name from a suite name read from records (which anyone can edit): only
/// letters, digits, `-`, `_`, `.`, never starting with a dot.
fn safe_name(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let cleaned = cleaned.trim_start_matches('.').to_string();
    if cleaned.is_empty() {
        "report".into()
    } else {
        cleaned
    }
}

fn validate(paths: &[PathBuf]) -> anyhow::Result<()> {
    for path in paths {
        let suite = load_suite(path)?;
        let runs = suite.expand().map_err(|e| anyhow::anyhow!("{e}"))?;
        println!("{}: ok, {} run(s)", path.display(), runs.len());
    }
    Ok(())
}

fn plan(path: &Path, shard: Option<Shard>) -> anyhow::Result<()> {
    let suite = load_suite(path)?;
    let mut runs = suite.expand().map_err(|e| anyhow::anyhow!("{e}"))?;
    if let Some(shard) = shard {
        runs = shard.select(runs);
    }
    let total: f64 = runs.iter().map(estimated_cost).sum();
    println!("{:<18} {:>8} {:>12}  run", "key", "cost %", "samples");
    for r in &runs {
        println!(
            "{:<18} {:>7.2}% {:>12}  {}",
            r.key(),
            100.0 * estimated_cost(r) / total.max(f64::MIN_POSITIVE),
            r.samples,
            r.label()
        );
    }
    println!(
        "{} run(s){}",
        runs.len(),
        shard.map(|s| format!(" in shard {s}")).unwrap_or_default()
    );
    Ok(())
}

fn env() -> anyhow::Result<()> {
    let cuda = batchbench::device::probe_cuda();
    let (device, backend) = match &cuda {
        Ok(_) => ("cuda:0", "cuda"),
        Err(_) => ("cpu", "flex"),
    };
    let env = Environment::capture(device, backend);
    println!("{}", serde_json::to_string_pretty(&env)?);
    match cuda {
        Ok(p) => eprintln!(
            "CUDA: {} device(s), driver CUDA {}.{}, NVRTC in {}",
            p.devices,
            p.driver_version / 1000,
            (p.driver_version % 1000) / 10,
            p.nvrtc_dir.display()
        ),
        Err(why) => eprintln!("CUDA: not usable ({why}); runs use the CPU"),
    }
    Ok(())
}

fn fetch(name: &str, dir: Option<PathBuf>) -> anyhow::Result<()> {
    let dataset: DatasetName = serde_json::from_value(serde_json::Value::String(name.into()))
        .with_context(|| format!("unknown dataset `{name}`; expected mnist or fashion-mnist"))?;
    let dir = match dir {
        Some(d) => d,
        None => batchbench::data::fetch::default_dir(dataset)?,
    };
    batchbench::data::fetch::fetch(dataset, &dir)?;
    eprintln!("{} is in {}", dataset, dir.display());
    Ok(())
}

fn schema() -> anyhow::Result<()> {
    print!("{}", batchbench::suite::json_schema());
    Ok(())
}
