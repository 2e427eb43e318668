//! The command line: [`Cli`] and one module per subcommand, with its options (`Args`,
//! parsed by clap) and a `run()` that wires them to the library. Nothing here
//! measures, analyses or renders. It is part of the library (`main.rs` only parses and
//! dispatches) so that tests and the `cli` fuzz target parse exactly what users type.

pub mod advise;
pub mod compare;
pub mod data;
pub mod env;
pub mod export;
pub mod interpolate;
pub mod max_batch;
pub mod merge;
pub mod report;
pub mod run;
pub mod suite;
pub mod warm;

use std::path::Path;

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::suite::Suite;

/// Every environment variable batchbench reads, for `--help` (the README has the same
/// list).
pub const ENVIRONMENT: &str = "\
Environment:
  BATCHBENCH_DATA          where datasets are looked for (<dir>/<name>), and where `data fetch` saves
  BATCHBENCH_DATA_MIRROR   base URL `data fetch` downloads from instead of the default mirror
  BATCHBENCH_CACHE         CubeCL's kernel and autotune cache (default ~/.cache/batchbench)
  BATCHBENCH_CPU_BACKEND   the CPU backend of `run` (flex or ndarray), like --cpu-backend
  BATCHBENCH_SHARDS        shard count of a Kubernetes indexed Job (with JOB_COMPLETION_INDEX)
  SLURM_ARRAY_TASK_ID/_MIN/_COUNT/_STEP, JOB_COMPLETION_INDEX   pick this process's shard
  CUDA_PATH                the CUDA toolkit (NVRTC) for CUDA runs (default /usr/local/cuda)
  RAYON_NUM_THREADS        CPU threads for training (recorded with each run)
  RUST_LOG                 library log level in workers (e.g. warn, cubecl=info)
  NO_COLOR                 no colour in help and errors (like --color never)
  GITHUB_ACTIONS, GITHUB_STEP_SUMMARY   `compare` annotates regressions and writes the job summary
  BATCHBENCH_FAULT         (testing) inject a failure into workers: panic, oom, abort, exit, hang...";

#[derive(Parser)]
#[command(
    name = "batchbench",
    version = VERSION,
    about = "How does the mini-batch size change SGD's convergence, time and energy to accuracy, generalization and GPU use, and why?",
    after_long_help = ENVIRONMENT,
    after_help = "Environment variables: see --help."
)]
pub struct Cli {
    /// Colour in help and error messages: auto (a terminal, and NO_COLOR unset),
    /// always or never.
    #[arg(long, global = true, value_enum, default_value_t = clap::ColorChoice::Auto)]
    pub color: clap::ColorChoice,
    /// More messages: -v information, -vv debugging (RUST_LOG overrides).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Train every run of a suite and append one record per run to runs.jsonl.
    Run(run::RunArgs),
    /// Compile and autotune every kernel shape of a suite before its timed runs.
    Warm(warm::WarmArgs),
    /// Render reports (HTML, JSON, CSV, Markdown) from one or more results folders.
    Report(report::ReportArgs),
    /// Compare two result sets metric by metric (Welch's t-test over seeds plus a
    /// threshold); writes compare.md and compare.html.
    Compare(compare::CompareArgs),
    /// Find the largest batch that fits in device memory, per configuration of a suite
    /// (doubling, then bisecting; each try in its own worker).
    MaxBatch(max_batch::MaxBatchArgs),
    /// Recommend a batch size for one configuration on this machine in minutes: time
    /// per step at each candidate, the gradient noise scale from a pilot run, and the
    /// predicted steps, examples and time to target (McCandlish et al. 2018); --verify
    /// checks the advice against a full sweep.
    Advise(advise::AdviseArgs),
    /// The interpolation probe: loss along the line between the smallest- and
    /// largest-batch solution of each configuration and seed (run after sweeps that
    /// ask for it; writes interpolation.json).
    Interpolate(interpolate::InterpolateArgs),
    /// One page of trend charts over many result sets, grouped by testbed.
    History(compare::HistoryArgs),
    /// Join shard result folders into one (checks suite hashes; reports duplicates,
    /// conflicts and gaps, exiting 1 when the merged set is incomplete or inconsistent).
    Merge(merge::MergeArgs),
    /// Export saved records for other tools: Bencher Metric Format, a per-run CSV,
    /// MLPerf-style logs.
    Export {
        #[command(subcommand)]
        command: export::ExportCommand,
    },
    /// Check suites without running them (exit 1 on the first invalid one).
    Validate(suite::ValidateArgs),
    /// List the runs a suite expands to (this shard's, with --shard), with estimated cost.
    Plan(suite::PlanArgs),
    /// Print the machine's environment fingerprint and device availability.
    Env(env::EnvArgs),
    /// Datasets: download with checksum verification.
    Data {
        #[command(subcommand)]
        command: data::DataCommand,
    },
    /// Print the JSON Schema of suite files (--records: of run records).
    Schema(suite::SchemaArgs),
    /// Print shell completions: batchbench completions bash > /etc/bash_completion.d/batchbench
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Write man pages (batchbench.1 and one per subcommand) into a folder.
    #[command(hide = true)]
    Man {
        /// The folder.
        #[arg(long, default_value = "man")]
        out: std::path::PathBuf,
    },
    /// (internal) Execute one run sent by `batchbench run` on stdin.
    #[command(hide = true)]
    Worker,
}

/// `--version`: the version and the commit the binary was built from.
pub const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (", env!("BATCHBENCH_GIT"), ")");

/// Makes `println!` to a closed pipe (`batchbench plan … | head`) end the command
/// quietly instead of panicking: it panics with a recognizable message, which the
/// hook turns into a quiet exit. Sweeps never print with `println!` (their observer
/// ignores a closed pipe and goes on recording).
pub fn quiet_on_closed_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = crate::runner::failure::panic_message(info.payload());
        if message.contains("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(0);
        }
        default(info);
    }));
}

/// Whether an error is a write to a closed pipe.
pub fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// The cost model: fitted to the records in `from`, else the relative default.
pub fn cost_model(from: Option<&Path>) -> anyhow::Result<crate::runner::shard::CostModel> {
    let Some(dir) = from else {
        return Ok(Default::default());
    };
    let set = crate::analysis::load_result_set(dir)?;
    crate::runner::shard::CostModel::fit(&set.records)
        .map_err(|e| anyhow::anyhow!("--costs-from {}: {e}", dir.display()))
}

/// Loads and checks a suite, as an error that prints in one line.
pub fn load_suite(path: &Path) -> anyhow::Result<Suite> {
    Suite::load(path).map_err(|e| anyhow::anyhow!("{e}"))
}

/// Reads `5%`, `5` or `0.05%` as a percentage.
pub fn parse_percent(text: &str) -> Result<f64, String> {
    let v: f64 = text
        .trim()
        .trim_end_matches('%')
        .parse()
        .map_err(|_| format!("`{text}` is not a percentage; write e.g. 5%"))?;
    if !(v.is_finite() && (0.0..=1000.0).contains(&v)) {
        return Err(format!("{v}% is out of range; use 0% to 1000%"));
    }
    Ok(v)
}

/// Reads a duration in seconds: a finite number > 0 and at most a year.
pub fn parse_seconds(text: &str) -> Result<f64, String> {
    let v: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a number of seconds; write e.g. 600"))?;
    if !(v.is_finite() && v > 0.0 && v <= 365.0 * 86_400.0) {
        return Err(format!(
            "{text} is out of range; give seconds > 0 and at most a year (31536000)"
        ));
    }
    Ok(v)
}

/// Reads a fraction in (0, 1].
pub fn parse_fraction(text: &str) -> Result<f64, String> {
    let v: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a number; write e.g. 0.9"))?;
    if !(v.is_finite() && v > 0.0 && v <= 1.0) {
        return Err(format!(
            "{text} is out of range; give a fraction in (0, 1], e.g. 0.9"
        ));
    }
    Ok(v)
}

/// A folder name from a suite name read from records (which anyone can edit): only
/// letters, digits, `-`, `_`, `.`, never starting with a dot.
pub fn safe_name(name: &str) -> String {
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

/// `--color` as written on the command line (before clap parses it, so clap's own
/// help and errors follow it), with `NO_COLOR` turning `auto` off.
pub fn color_from_args() -> clap::ColorChoice {
    let args: Vec<String> = std::env::args().collect();
    let given = args.iter().enumerate().find_map(|(i, a)| {
        a.strip_prefix("--color=")
            .map(str::to_string)
            .or_else(|| (a == "--color").then(|| args.get(i + 1).cloned().unwrap_or_default()))
    });
    match given.as_deref() {
        Some("always") => clap::ColorChoice::Always,
        Some("never") => clap::ColorChoice::Never,
        _ if std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()) => {
            clap::ColorChoice::Never
        }
        _ => clap::ColorChoice::Auto,
    }
}

/// `error: …` on stderr, the prefix in bold red where colour is wanted (`color` as
/// [`color_from_args`] resolved it).
pub fn print_error(e: &anyhow::Error, color: clap::ColorChoice) {
    use std::io::IsTerminal;
    let colored = match color {
        clap::ColorChoice::Always => true,
        clap::ColorChoice::Never => false,
        // `NO_COLOR` already made `auto` `never` (`color_from_args`).
        clap::ColorChoice::Auto => std::io::stderr().is_terminal(),
    };
    if colored {
        eprintln!("\x1b[1;31merror:\x1b[0m {e:#}");
    } else {
        eprintln!("error: {e:#}");
    }
}

/// Writes `batchbench.1` and one page per subcommand into `out`.
pub fn write_man_pages(cmd: clap::Command, out: &Path) -> anyhow::Result<std::process::ExitCode> {
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    clap_mangen::generate_to(cmd, out)
        .with_context(|| format!("cannot write man pages into {}", out.display()))?;
    println!("{}", out.join("batchbench.1").display());
    Ok(std::process::ExitCode::SUCCESS)
}

/// The parent process's log: warnings by default, `-v` info, `-vv` debug, `RUST_LOG`
/// (e.g. `RUST_LOG=error` to silence warnings) over both; printed as `warning: …`
/// like the rest of batchbench's messages. Workers install their own
/// (`runner::worker_log`).
pub fn init_logging(verbose: u8) {
    use std::io::Write;
    let level = match verbose {
        0 => log::LevelFilter::Warn,
        1 => log::LevelFilter::Info,
        _ => log::LevelFilter::Debug,
    };
    let _ = env_logger::Builder::new()
        .filter_level(level)
        .parse_env("RUST_LOG")
        .target(env_logger::Target::Stderr)
        .format(|buf, record| {
            let label = match record.level() {
                log::Level::Error => "error",
                log::Level::Warn => "warning",
                log::Level::Info => "info",
                log::Level::Debug => "debug",
                log::Level::Trace => "trace",
            };
            writeln!(buf, "{label}: {}", record.args())
        })
        .try_init();
}
