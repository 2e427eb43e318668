//! `batchbench merge DIR... --out DIR`: join shards.

use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct MergeArgs {
    /// Shard folders.
    #[arg(required = true)]
    dirs: Vec<PathBuf>,
    /// The merged results folder (must not hold records yet).
    #[arg(long)]
    out: PathBuf,
}

impl MergeArgs {
    pub fn run(self) -> anyhow::Result<ExitCode> {
        let command: Vec<String> = std::env::args().collect();
        let m = crate::results::merge::merge(&self.dirs, &self.out, &command)?;
        for w in &m.warnings {
            log::warn!("{w}");
        }
        for d in &m.duplicates {
            eprintln!("duplicate: {d}");
        }
        for c in &m.conflicts {
            eprintln!("conflict: {c}");
        }
        for g in &m.gaps {
            eprintln!("missing: {g}");
        }
        eprintln!(
            "merged {} of {} planned runs into {} ({} duplicate(s), {} conflict(s), {} missing)",
            m.records,
            m.planned,
            self.out.display(),
            m.duplicates.len(),
            m.conflicts.len(),
            m.gaps.len()
        );
        Ok(if m.is_clean() {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        })
    }
}
