//! `batchbench data fetch NAME`: datasets with checksum verification.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::suite::DatasetName;
use anyhow::Context;

#[derive(clap::Subcommand)]
pub enum DataCommand {
    /// Download a dataset (mnist, fashion-mnist) and verify its SHA-256 sums.
    Fetch {
        /// The dataset.
        name: String,
        /// Folder to put it in (default: $BATCHBENCH_DATA/<name>, which batchbench searches).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
}

impl DataCommand {
    pub fn run(self) -> anyhow::Result<ExitCode> {
        let DataCommand::Fetch { name, dir } = self;
        let dataset: DatasetName = serde_json::from_value(serde_json::Value::String(name.clone()))
            .with_context(|| {
                format!("unknown dataset `{name}`; expected mnist or fashion-mnist")
            })?;
        let dir = match dir {
            Some(d) => d,
            None => crate::data::fetch::default_dir(dataset)?,
        };
        crate::data::fetch::fetch(dataset, &dir)?;
        eprintln!("{} is in {}", dataset, dir.display());
        Ok(ExitCode::SUCCESS)
    }
}
