//! The `batchbench` command line, as a table of contents: each subcommand is an
//! `Args` struct with a `run()` in `cli/`, and the work is in the library.
//!
//! Errors end in one sentence on stderr and exit status 1 (2 for usage errors, from
//! clap; 130 when interrupted).

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

mod cli;

/// Every environment variable batchbench reads, for `--help` (the README has the same
/// list).
const ENVIRONMENT: &str = "\
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
    version = cli::VERSION,
    about = "How does the mini-batch size change SGD's convergence, time and energy to accuracy, generalization and GPU use, and why?",
    after_long_help = ENVIRONMENT,
    after_help = "Environment variables: see --help."
)]
struct Cli {
    /// Colour in help and error messages: auto (a terminal, and NO_COLOR unset),
    /// always or never.
    #[arg(long, global = true, value_enum, default_value_t = clap::ColorChoice::Auto)]
    color: clap::ColorChoice,
    /// More messages: -v information, -vv debugging (RUST_LOG overrides).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train every run of a suite and append one record per run to runs.jsonl.
    Run(cli::run::RunArgs),
    /// Compile and autotune every kernel shape of a suite before its timed runs.
    Warm(cli::warm::WarmArgs),
    /// Render reports (HTML, JSON, CSV, Markdown) from one or more results folders.
    Report(cli::report::ReportArgs),
    /// Compare two result sets metric by metric (Welch's t-test over seeds plus a
    /// threshold); writes compare.md and compare.html.
    Compare(cli::compare::CompareArgs),
    /// Find the largest batch that fits in device memory, per configuration of a suite
    /// (doubling, then bisecting; each try in its own worker).
    MaxBatch(cli::max_batch::MaxBatchArgs),
    /// The interpolation probe: loss along the line between the smallest- and
    /// largest-batch solution of each configuration and seed (run after sweeps that
    /// ask for it; writes interpolation.json).
    Interpolate(cli::interpolate::InterpolateArgs),
    /// One page of trend charts over many result sets, grouped by testbed.
    History(cli::compare::HistoryArgs),
    /// Join shard result folders into one (checks suite hashes; reports duplicates,
    /// conflicts and gaps, exiting 1 when the merged set is incomplete or inconsistent).
    Merge(cli::merge::MergeArgs),
    /// Export saved records for other tools: Bencher Metric Format, a per-run CSV,
    /// MLPerf-style logs.
    Export {
        #[command(subcommand)]
        command: cli::export::ExportCommand,
    },
    /// Check suites without running them (exit 1 on the first invalid one).
    Validate(cli::suite::ValidateArgs),
    /// List the runs a suite expands to (this shard's, with --shard), with estimated cost.
    Plan(cli::suite::PlanArgs),
    /// Print the machine's environment fingerprint and device availability.
    Env(cli::env::EnvArgs),
    /// Datasets: download with checksum verification.
    Data {
        #[command(subcommand)]
        command: cli::data::DataCommand,
    },
    /// Print the JSON Schema of suite files (--records: of run records).
    Schema(cli::suite::SchemaArgs),
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

/// Parses the command line with `--color` (and `NO_COLOR`) applied to clap's own help
/// and usage errors too; returns the colour choice for batchbench's own messages.
fn parse() -> (Cli, clap::ColorChoice) {
    let color = cli::color_from_args();
    let matches = Cli::command().color(color).get_matches();
    (
        Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit()),
        color,
    )
}

fn main() -> ExitCode {
    cli::quiet_on_closed_pipe();
    let (cli, color) = parse();
    if !matches!(cli.command, Command::Worker) {
        cli::init_logging(cli.verbose);
    }
    let result = match cli.command {
        Command::Run(args) => args.run(),
        Command::Warm(args) => args.run(),
        Command::Report(args) => args.run(),
        Command::Compare(args) => args.run(),
        Command::MaxBatch(args) => args.run(),
        Command::Interpolate(args) => args.run(),
        Command::History(args) => args.run(),
        Command::Merge(args) => args.run(),
        Command::Export { command } => command.run(),
        Command::Validate(args) => args.run(),
        Command::Plan(args) => args.run(),
        Command::Env(args) => args.run(),
        Command::Data { command } => command.run(),
        Command::Schema(args) => args.run(),
        Command::Completions { shell } => {
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "batchbench",
                &mut std::io::stdout(),
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Man { out } => cli::write_man_pages(Cli::command(), &out),
        Command::Worker => batchbench::runner::worker::worker_main().map(|()| ExitCode::SUCCESS),
    };
    match result {
        Ok(code) => code,
        // Output piped into `head` and the like: the reader has what it wanted.
        Err(e) if cli::is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            cli::print_error(&e, color);
            ExitCode::from(1)
        }
    }
}
