//! `batchbench warm SUITE`: prepare every kernel shape of a sweep before it runs.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use crate::runner::max_batch::SweepContext;
use crate::runner::process::Interrupts;
use crate::runner::warm::{WARM_FILE, warm};
use crate::suite::DeviceRequest;

use super::{load_suite, parse_seconds};

#[derive(clap::Args)]
pub struct WarmArgs {
    /// The suite file.
    suite: PathBuf,
    /// Device (overrides the suite).
    #[arg(long)]
    device: Option<DeviceRequest>,
    /// Time limit per shape, seconds (compilation and autotuning included).
    #[arg(long, default_value_t = 1800.0, value_parser = parse_seconds)]
    timeout: f64,
    /// Where to write warm.json (default: results/<suite name>).
    #[arg(long)]
    out: Option<PathBuf>,
}

impl WarmArgs {
    pub fn run(self) -> anyhow::Result<ExitCode> {
        let suite = load_suite(&self.suite)?;
        let mut specs = suite.expand().map_err(|e| anyhow::anyhow!("{e}"))?;
        crate::runner::resolve_devices(&mut specs, self.device)?;
        let context = SweepContext {
            suite_sha256: suite.sha256.clone(),
            suite_dir: suite.path.parent().map(Path::to_path_buf),
            cache_dir: crate::backend::default_cache_dir(),
        };
        let interrupts = Interrupts::install();
        let train_size = |spec: &crate::suite::RunSpec| {
            crate::data::shape(&spec.dataset, suite.path.parent())
                .map(|s| s.train)
                .map_err(|e| anyhow::anyhow!(e))
        };
        let opt = |v: Option<f64>, d: usize| v.map_or("–".to_string(), |v| format!("{v:.d$}"));
        println!(
            "{:<34} {:>8} {:<7} {:>10} {:>12} {:>8}",
            "shape", "batch", "status", "warm-up s", "cold start s", "kernels"
        );
        let shapes = warm(
            &specs,
            &train_size,
            Duration::from_secs_f64(self.timeout),
            &context,
            &interrupts,
            &mut |w| {
                println!(
                    "{:<34} {:>8} {:<7} {:>10} {:>12} {:>8}{}",
                    format!("{} {}", w.config, w.optimizer),
                    w.batch_size,
                    w.status.as_str(),
                    opt(w.warmup_s, 2),
                    opt(w.cold_start_s, 2),
                    w.kernels_compiled.map_or("–".into(), |k| k.to_string()),
                    w.reason
                        .as_ref()
                        .map(|r| format!("  {r}"))
                        .unwrap_or_default()
                )
            },
        )?;
        let out = self
            .out
            .unwrap_or_else(|| PathBuf::from("results").join(suite.name()));
        std::fs::create_dir_all(&out)?;
        let path = out.join(WARM_FILE);
        crate::results::store::write_atomic(&path, &serde_json::to_vec_pretty(&shapes)?)?;
        eprintln!(
            "warmed {} shape(s); caches in {}; wrote {}",
            shapes.len(),
            context.cache_dir.display(),
            path.display()
        );
        Ok(ExitCode::SUCCESS)
    }
}
