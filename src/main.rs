//! The `batchbench` command line, as a table of contents: each subcommand is an
//! `Args` struct with a `run()` in `cli/`, and the work is in the library.
//!
//! Errors end in one sentence on stderr and exit status 1 (2 for usage errors, from
//! clap; 130 when interrupted).

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod cli;

#[derive(Parser)]
#[command(
    name = "batchbench",
    version = cli::VERSION,
    about = "How does the mini-batch size change SGD's convergence, time and energy to accuracy, generalization and GPU use, and why?"
)]
struct Cli {
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
    /// Print the JSON Schema of suite files.
    Schema(cli::suite::SchemaArgs),
    /// (internal) Execute one run sent by `batchbench run` on stdin.
    #[command(hide = true)]
    Worker,
}

fn main() -> ExitCode {
    cli::quiet_on_closed_pipe();
    let result = match Cli::parse().command {
        Command::Run(args) => args.run(),
        Command::Warm(args) => args.run(),
        Command::Report(args) => args.run(),
        Command::Compare(args) => args.run(),
        Command::MaxBatch(args) => args.run(),
        Command::Interpolate(args) => args.run(),
        Command::History(args) => args.run(),
        Command::Merge(args) => args.run(),
        Command::Validate(args) => args.run(),
        Command::Plan(args) => args.run(),
        Command::Env(args) => args.run(),
        Command::Data { command } => command.run(),
        Command::Schema(args) => args.run(),
        Command::Worker => batchbench::runner::worker::worker_main().map(|()| ExitCode::SUCCESS),
    };
    match result {
        Ok(code) => code,
        // Output piped into `head` and the like: the reader has what it wanted.
        Err(e) if cli::is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}
