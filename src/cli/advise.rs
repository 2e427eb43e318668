//! `batchbench advise SUITE`: recommend a batch size for one configuration on this
//! machine from a few measurements, and (`--verify`) check the advice against a sweep.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::analysis::advice::{self, AdviceFile, Measured};
use crate::runner::advise::{AdvicePlan, AdviseOptions, measure};
use crate::runner::max_batch::{SearchOptions, SweepContext, search};
use crate::runner::process::Interrupts;
use crate::suite::schema::NoiseScaleSpec;
use crate::suite::{DeviceRequest, Suite};

use super::{load_suite, parse_seconds};

/// The advice's folder inside the suite's results folder.
pub const ADVISE_DIR: &str = "advise";

#[derive(clap::Args)]
pub struct AdviseArgs {
    /// The suite: one configuration (model, dataset, optimizer, learning-rate rule or
    /// grid) at several batch sizes, with a target.
    suite: PathBuf,
    /// Candidate batch sizes: `suite` (the suite's), `auto` (powers of two from 8 up
    /// to the largest that fits, searched as max-batch does) or a list: 32,128,512.
    #[arg(long, default_value = "suite")]
    candidates: String,
    /// The pilot run's batch size (default: the smallest candidate with at least half
    /// the best throughput).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=1 << 24))]
    pilot_batch: Option<u64>,
    /// Steady steps timed per candidate (after the 10 warm-up steps; more when they
    /// take under 0.2 s).
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    steps: u64,
    /// Stop starting measurements after this many seconds (rerun to continue: the
    /// measurements taken are kept).
    #[arg(long, value_parser = parse_seconds)]
    budget: Option<f64>,
    /// Time limit per measurement, seconds (the first CUDA one includes kernel
    /// compilation).
    #[arg(long, default_value_t = 1800.0, value_parser = parse_seconds)]
    timeout: f64,
    /// Device (overrides the suite).
    #[arg(long)]
    device: Option<DeviceRequest>,
    /// A full sweep's results folder of the same configuration: overlay its measured
    /// curves and say how far the recommended batch size is from its best.
    #[arg(long)]
    verify: Option<PathBuf>,
    /// Where the advice's records, advise.json and advise.html go (default:
    /// results/<suite name>/advise).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Print advise.json on stdout instead of the summary.
    #[arg(long)]
    json: bool,
}

impl AdviseArgs {
    pub fn run(self) -> anyhow::Result<ExitCode> {
        let started = Instant::now();
        let suite = load_suite(&self.suite)?;
        let context = SweepContext {
            suite_sha256: suite.sha256.clone(),
            suite_dir: suite.path.parent().map(Path::to_path_buf),
            cache_dir: crate::backend::default_cache_dir(),
        };
        let interrupts = Interrupts::install();
        let suite = self.with_candidates(suite, &context, &interrupts)?;
        let mut specs = suite.expand().map_err(|e| anyhow::anyhow!("{e}"))?;
        crate::runner::resolve_devices(&mut specs, self.device)?;
        let plan = AdvicePlan::new(&specs)
            .map_err(|e| anyhow::anyhow!("{}: {e}", self.suite.display()))?;
        let base = plan.base().clone();
        let train_size = crate::data::shape(&base.dataset, suite.path.parent())
            .map_err(|e| anyhow::anyhow!(e))?
            .train;
        let out = self
            .out
            .clone()
            .unwrap_or_else(|| PathBuf::from("results").join(suite.name()).join(ADVISE_DIR));
        std::fs::create_dir_all(&out)
            .with_context(|| format!("cannot create {}", out.display()))?;
        let opts = AdviseOptions {
            out: out.clone(),
            steps: self.steps,
            pilot_batch: self.pilot_batch,
            noise_probe: NoiseScaleSpec::default(),
            timeout: Duration::from_secs_f64(self.timeout),
            budget: self.budget.map(Duration::from_secs_f64),
        };
        eprintln!(
            "advising {} on {}: {} candidate batch sizes, learning rate {}",
            base.model_label(),
            base.device,
            plan.candidates.len(),
            plan.rule.clone().unwrap_or_else(|| format!(
                "tuned over {}",
                plan.lr_grid
                    .iter()
                    .map(|l| crate::fmt::lr(*l))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        );
        let m = measure(
            &plan,
            train_size,
            &opts,
            &context,
            &interrupts,
            &mut |line| eprintln!("  {line}"),
        )?;
        let target = base.target().expect("the plan checked the target");
        let advice = advice::advise(&Measured {
            config: format!(
                "{} on {}, {}",
                base.model_label(),
                base.dataset.name,
                crate::analysis::optimizer_label(&base.optimizer)
            ),
            device: base.device.to_string(),
            target,
            throughput: &m.throughput,
            pilots: &m.pilots,
            pilot_batch: m.pilot_batch.clone(),
            rule: plan.rule.clone().zip(plan.rule_lrs()),
            lr_grid: plan.lr_grid.clone(),
        });
        let verification = match &self.verify {
            Some(dir) => Some(verify(&advice, dir, &base, &m)?),
            None => None,
        };
        let file = AdviceFile {
            schema: 1,
            suite: suite.name().to_string(),
            suite_path: suite.path.display().to_string(),
            suite_sha256: suite.sha256.clone(),
            command: std::env::args().collect(),
            batchbench: super::VERSION.to_string(),
            created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            wall_s: started.elapsed().as_secs_f64(),
            measured_now: m.measured_now,
            reused: m.reused,
            stopped: m.stopped.clone(),
            advice,
            verification,
        };
        let json_path = out.join("advise.json");
        crate::results::store::write_atomic(&json_path, &serde_json::to_vec_pretty(&file)?)?;
        let html_path = out.join("advise.html");
        crate::results::store::write_atomic(
            &html_path,
            crate::report::advice::page(&file)?.as_bytes(),
        )?;
        if self.json {
            println!("{}", serde_json::to_string_pretty(&file)?);
        } else {
            print!("{}", crate::report::advice::summary(&file));
        }
        eprintln!("wrote {} and {}", json_path.display(), html_path.display());
        Ok(match m.stopped.as_deref() {
            Some("interrupted") => ExitCode::from(130),
            _ => ExitCode::SUCCESS,
        })
    }

    /// The suite with the candidates asked for.
    fn with_candidates(
        &self,
        suite: Suite,
        context: &SweepContext,
        interrupts: &Interrupts,
    ) -> anyhow::Result<Suite> {
        let sizes: Vec<u64> = match self.candidates.trim() {
            "suite" => return Ok(suite),
            "auto" => {
                let mut specs = suite.expand().map_err(|e| anyhow::anyhow!("{e}"))?;
                crate::runner::resolve_devices(&mut specs, self.device)?;
                let base = specs.first().context("the suite has no runs")?;
                let train = crate::data::shape(&base.dataset, suite.path.parent())
                    .map_err(|e| anyhow::anyhow!(e))?
                    .train;
                eprintln!("searching the largest batch that fits ({} on {})", base.model_label(), base.device);
                let found = search(
                    base,
                    train,
                    &SearchOptions {
                        start: 256,
                        margin: 1.0,
                        steps: 3,
                        timeout: Duration::from_secs_f64(self.timeout),
                    },
                    context,
                    interrupts,
                    &mut |t| eprintln!("  batch {:>8}: {}", t.batch_size, t.status.as_str()),
                )?;
                let largest = found
                    .largest_fit
                    .context("no batch size fits, not even 1; see max-batch")?;
                let sizes: Vec<u64> = (3..40)
                    .map(|k| 1u64 << k)
                    .take_while(|&b| b <= largest)
                    .collect();
                anyhow::ensure!(
                    sizes.len() >= 2,
                    "only batch sizes up to {largest} fit; auto needs at least 8 and 16 (give --candidates as a list)"
                );
                sizes
            }
            list => list
                .split(',')
                .map(|v| {
                    v.trim()
                        .parse::<u64>()
                        .ok()
                        .filter(|&b| (1..=1 << 24).contains(&b))
                        .with_context(|| format!("--candidates: `{}` is not a batch size; give `suite`, `auto` or a list such as 32,128,512", v.trim()))
                })
                .collect::<anyhow::Result<_>>()?,
        };
        Ok(suite.with_batch_sizes(&sizes))
    }
}

/// Checks `advice` against the sweep in `dir` (its records of the advised
/// configuration).
fn verify(
    advice: &advice::Advice,
    dir: &Path,
    base: &crate::suite::RunSpec,
    m: &crate::runner::advise::Measurements,
) -> anyhow::Result<advice::Verification> {
    let mut set = crate::analysis::load_result_set(dir)?;
    let identity = crate::runner::advise::configuration_identity(base);
    let total = set.records.len();
    set.records
        .retain(|r| crate::runner::advise::configuration_identity(&r.spec) == identity);
    anyhow::ensure!(
        !set.records.is_empty(),
        "{} holds {total} records and none of the advised configuration ({}); run the suite first (batchbench run {})",
        dir.display(),
        base.label(),
        base.suite
    );
    let mine: Vec<_> = m.throughput.iter().chain(&m.pilots).cloned().collect();
    advice::verify(advice, &set, &mine).map_err(|e| anyhow::anyhow!(e))
}
