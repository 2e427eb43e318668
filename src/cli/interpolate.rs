//! `batchbench interpolate DIR`: the interpolation probe over a finished sweep.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::results::Store;
use crate::results::artifacts::INTERPOLATION_FILE;

#[derive(clap::Args)]
pub struct InterpolateArgs {
    /// The results folder.
    dir: PathBuf,
}

impl InterpolateArgs {
    pub fn run(self) -> anyhow::Result<ExitCode> {
        let suite_dir = Store::read_manifest(&self.dir)?
            .and_then(|m| Path::new(&m.suite_path).parent().map(Path::to_path_buf));
        let curves = crate::probe::interpolation::interpolate_dir(&self.dir, suite_dir.as_deref())?;
        eprintln!(
            "interpolated {} pair(s); wrote {}",
            curves.len(),
            self.dir.join(INTERPOLATION_FILE).display()
        );
        Ok(ExitCode::SUCCESS)
    }
}
