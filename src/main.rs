//! The `batchbench` command line, as a table of contents: each subcommand is an
//! `Args` struct with a `run()` in `cli/`, and the work is in the library.
//!
//! Errors end in one sentence on stderr and exit status 1 (2 for usage errors, from
//! clap; 130 when interrupted).

use std::process::ExitCode;

use batchbench::cli::{self, Cli, Command};
use clap::{CommandFactory, FromArgMatches};

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
    batchbench::device::wgpu::quiet_mesa_device_select();
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
        Command::Advise(args) => args.run(),
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
