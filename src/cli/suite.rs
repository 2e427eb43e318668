//! `batchbench validate`, `plan` and `schema`: suites without running them.

use std::path::PathBuf;
use std::process::ExitCode;

use batchbench::runner::shard::{Shard, estimated_cost};
use batchbench::train::WARMUP_STEPS;

use super::load_suite;

/// Runs with fewer optimizer steps than this get a note from `validate`: after the
/// warm-up steps too few remain for a steady-state throughput.
const FEW_STEPS: u64 = WARMUP_STEPS + 30;

#[derive(clap::Args)]
pub struct ValidateArgs {
    /// Suite files.
    #[arg(required = true)]
    suites: Vec<PathBuf>,
}

impl ValidateArgs {
    pub fn run(self) -> anyhow::Result<ExitCode> {
        for path in &self.suites {
            let suite = load_suite(path)?;
            let runs = suite.expand().map_err(|e| anyhow::anyhow!("{e}"))?;
            println!("{}: ok, {} run(s)", path.display(), runs.len());
            let short: Vec<String> = runs
                .iter()
                .filter(|r| r.steps() < FEW_STEPS)
                .map(|r| format!("{} ({} steps)", r.label(), r.steps()))
                .collect();
            if !short.is_empty() {
                eprintln!(
                    "note: {}: {} run(s) take fewer than {FEW_STEPS} optimizer steps, so their steady-state samples/s after the {WARMUP_STEPS} warm-up steps is thin or null: {}{}",
                    path.display(),
                    short.len(),
                    short.iter().take(3).cloned().collect::<Vec<_>>().join(", "),
                    if short.len() > 3 { ", …" } else { "" }
                );
            }
        }
        Ok(ExitCode::SUCCESS)
    }
}

#[derive(clap::Args)]
pub struct PlanArgs {
    /// The suite file.
    suite: PathBuf,
    /// Show only shard K of N.
    #[arg(long)]
    shard: Option<Shard>,
    /// Print the plan as JSON (the suite's name, and per run its keys, label, budget
    /// and cost share), for scripts.
    #[arg(long)]
    json: bool,
}

impl PlanArgs {
    pub fn run(self) -> anyhow::Result<ExitCode> {
        let suite = load_suite(&self.suite)?;
        let mut runs = suite.expand().map_err(|e| anyhow::anyhow!("{e}"))?;
        if let Some(shard) = self.shard {
            runs = shard.select(runs);
        }
        let total: f64 = runs.iter().map(estimated_cost).sum();
        if self.json {
            let plan = serde_json::json!({
                "suite": suite.name(),
                "suite_sha256": suite.sha256,
                "shard": self.shard.map(|s| s.to_string()),
                "runs": runs.iter().map(|r| serde_json::json!({
                    "key": r.key(),
                    "config_key": r.config_key(),
                    "family_key": r.family_key(),
                    "label": r.label(),
                    "samples": r.samples,
                    "steps": r.steps(),
                    "cost_share": estimated_cost(r) / total.max(f64::MIN_POSITIVE),
                })).collect::<Vec<_>>(),
            });
            println!("{}", serde_json::to_string_pretty(&plan)?);
            return Ok(ExitCode::SUCCESS);
        }
        println!("{:<18} {:>8} {:>12}  run", "key", "cost %", "samples");
        for r in &runs {
            println!(
                "{:<18} {:>7.2}% {:>12}  {}",
                r.key(),
                100.0 * estimated_cost(r) / total.max(f64::MIN_POSITIVE),
                r.samples,
                r.label()
            );
        }
        println!(
            "{} run(s){}",
            runs.len(),
            self.shard
                .map(|s| format!(" in shard {s}"))
                .unwrap_or_default()
        );
        Ok(ExitCode::SUCCESS)
    }
}

#[derive(clap::Args)]
pub struct SchemaArgs {}

impl SchemaArgs {
    pub fn run(self) -> anyhow::Result<ExitCode> {
        print!("{}", batchbench::suite::json_schema());
        Ok(ExitCode::SUCCESS)
    }
}
