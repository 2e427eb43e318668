//! `batchbench export FORMAT RESULTS`: saved records in formats other tools read.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::analysis::{ResultSet, load_result_set};
use crate::export;
use anyhow::Context;

#[derive(clap::Subcommand)]
pub enum ExportCommand {
    /// Bencher Metric Format (bencher.dev): one benchmark per configuration, one
    /// measure per metric `compare` knows, mean with the seeds' min and max as bounds.
    Bmf(ExportArgs),
    /// One CSV row per run: every scalar of the record, columns named by path
    /// (spec.batch_size, summary.time_to_target_s, ...).
    RunsCsv(ExportArgs),
    /// MLPerf-style `:::MLLOG` logs, one file per run (<run key>.log), for tools that
    /// read MLPerf training logs. Structurally valid, not an MLPerf submission.
    Mllog(MllogArgs),
}

#[derive(clap::Args)]
pub struct ExportArgs {
    /// A results folder (or its runs.jsonl).
    results: PathBuf,
    /// Write to this file instead of standard output.
    #[arg(long, short)]
    out: Option<PathBuf>,
}

#[derive(clap::Args)]
pub struct MllogArgs {
    /// A results folder (or its runs.jsonl).
    results: PathBuf,
    /// The folder to write the logs into (default: RESULTS/mllog).
    #[arg(long, short)]
    out: Option<PathBuf>,
}

/// The records of `path`, with the lines that could not be read named on stderr.
fn load(path: &Path) -> anyhow::Result<ResultSet> {
    let set = load_result_set(path)?;
    for w in &set.warnings {
        log::warn!("{w}");
    }
    if set.records.is_empty() {
        anyhow::bail!(
            "{} holds no readable records; nothing to export",
            path.display()
        );
    }
    Ok(set)
}

fn emit(bytes: &[u8], out: Option<&Path>) -> anyhow::Result<()> {
    match out {
        Some(path) => {
            std::fs::write(path, bytes)
                .with_context(|| format!("cannot write {}", path.display()))?;
            eprintln!("wrote {}", path.display());
        }
        None => std::io::stdout().write_all(bytes)?,
    }
    Ok(())
}

impl ExportCommand {
    pub fn run(self) -> anyhow::Result<ExitCode> {
        match self {
            ExportCommand::Bmf(a) => {
                let set = load(&a.results)?;
                let mut json = serde_json::to_vec_pretty(&export::bmf::bmf(&set.records))?;
                json.push(b'\n');
                emit(&json, a.out.as_deref())?;
            }
            ExportCommand::RunsCsv(a) => {
                let set = load(&a.results)?;
                emit(&export::runs_csv::runs_csv(&set.records)?, a.out.as_deref())?;
            }
            ExportCommand::Mllog(a) => {
                let set = load(&a.results)?;
                let dir = a.out.unwrap_or_else(|| set.dir.join("mllog"));
                std::fs::create_dir_all(&dir)
                    .with_context(|| format!("cannot create {}", dir.display()))?;
                let mut taken = std::collections::HashSet::new();
                for (i, r) in set.records.iter().enumerate() {
                    // Keys come from a file anyone can edit: never a path.
                    let mut name = super::safe_name(&r.key);
                    if !taken.insert(name.clone()) {
                        name = format!("{name}-{}", i + 1);
                    }
                    let path = dir.join(format!("{name}.log"));
                    std::fs::write(&path, export::mllog::mllog(r, i + 1)?)
                        .with_context(|| format!("cannot write {}", path.display()))?;
                }
                eprintln!("wrote {} log(s) to {}", set.records.len(), dir.display());
                println!("{}", dir.display());
            }
        }
        Ok(ExitCode::SUCCESS)
    }
}
