//! `batchbench max-batch SUITE`: the largest batch that fits, per family.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use crate::results::RunStatus;
use crate::runner::max_batch::{SearchOptions, SweepContext, search};
use crate::runner::process::Interrupts;
use crate::suite::DeviceRequest;

use super::{load_suite, parse_fraction, parse_seconds};

#[derive(clap::Args)]
pub struct MaxBatchArgs {
    /// The suite (its batch sizes and seeds are ignored).
    suite: PathBuf,
    /// First batch size tried.
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u64).range(1..=1 << 24))]
    start: u64,
    /// Recommend this fraction of the largest batch that fitted.
    #[arg(long, default_value_t = 0.9, value_parser = parse_fraction)]
    margin: f64,
    /// Optimizer steps per try.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    steps: u64,
    /// Time limit per try, seconds (the first CUDA try includes kernel compilation).
    #[arg(long, default_value_t = 600.0, value_parser = parse_seconds)]
    timeout: f64,
    /// Device (overrides the suite).
    #[arg(long)]
    device: Option<DeviceRequest>,
    /// Where to write max-batch.json (default: results/<suite name>).
    #[arg(long)]
    out: Option<PathBuf>,
}

impl MaxBatchArgs {
    pub fn run(self) -> anyhow::Result<ExitCode> {
        let suite = load_suite(&self.suite)?;
        let mut specs = suite.expand().map_err(|e| anyhow::anyhow!("{e}"))?;
        if let Some(s) = specs.iter().find(|s| !s.engine.is_burn()) {
            anyhow::bail!(
                "max-batch searches with Burn's worker only, and `{}` uses engine {}; search a suite (or an exclude) without the other engines",
                s.label(),
                s.engine.as_str()
            );
        }
        crate::runner::resolve_devices(&mut specs, self.device)?;
        // One search per family and device: seeds, learning rates, budgets and
        // batch schedules do not change what fits.
        let mut seen = std::collections::HashSet::new();
        specs.retain(|s| {
            let mut f = s.clone();
            f.batch_schedule = None;
            seen.insert((f.family_key(), s.device))
        });
        let opts = SearchOptions {
            start: self.start,
            margin: self.margin,
            steps: self.steps,
            timeout: Duration::from_secs_f64(self.timeout),
        };
        let context = SweepContext {
            suite_sha256: suite.sha256.clone(),
            suite_dir: suite.path.parent().map(Path::to_path_buf),
            cache_dir: crate::backend::default_cache_dir(),
        };
        let interrupts = Interrupts::install();
        let mut results = Vec::new();
        for spec in &specs {
            let train = crate::data::shape(&spec.dataset, suite.path.parent())
                .map_err(|e| anyhow::anyhow!(e))?
                .train;
            eprintln!("searching {} on {}", spec.model_label(), spec.device);
            let r = search(spec, train, &opts, &context, &interrupts, &mut |t| {
                eprintln!(
                    "  batch {:>8}: {}",
                    t.batch_size,
                    if t.status == RunStatus::Oom {
                        "out of memory"
                    } else {
                        "fits"
                    }
                )
            })?;
            println!(
                "{}: largest fit {}, first out-of-memory {}, recommended {} ({}% margin){}",
                r.config,
                r.largest_fit.map_or("none".into(), |v| v.to_string()),
                r.first_oom.map_or("none".into(), |v| v.to_string()),
                r.recommended.map_or("none".into(), |v| v.to_string()),
                ((1.0 - r.margin) * 100.0).round(),
                r.limit
                    .as_ref()
                    .map(|l| format!("; stopped: {l}"))
                    .unwrap_or_default()
            );
            results.push(r);
        }
        let out = self
            .out
            .unwrap_or_else(|| PathBuf::from("results").join(suite.name()));
        std::fs::create_dir_all(&out)?;
        let path = out.join("max-batch.json");
        crate::results::store::write_atomic(&path, &serde_json::to_vec_pretty(&results)?)?;
        eprintln!("wrote {}", path.display());
        Ok(ExitCode::SUCCESS)
    }
}
