//! `batchbench validate`, `plan` and `schema`: suites without running them.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::runner::shard::Shard;
use crate::train::WARMUP_STEPS;

use crate::suite::{RunSpec, Suite, SuiteError};

use super::load_suite;

/// Runs with fewer optimizer steps than this get a note from `validate`: after the
/// warm-up steps too few remain for a steady-state throughput.
const FEW_STEPS: u64 = WARMUP_STEPS + 30;

#[derive(clap::Args)]
pub struct ValidateArgs {
    /// Suite files.
    #[arg(required = true)]
    suites: Vec<PathBuf>,
    /// Print the verdict per file as JSON (every error with file, line, column, field
    /// and message), for editors and scripts.
    #[arg(long)]
    json: bool,
}

/// One suite error as `validate --json` prints it.
#[derive(serde::Serialize)]
struct JsonError {
    file: String,
    line: Option<u32>,
    column: Option<u32>,
    field: Option<String>,
    message: String,
}

/// One file's verdict as `validate --json` prints it.
#[derive(serde::Serialize)]
struct JsonVerdict {
    file: String,
    valid: bool,
    runs: Option<usize>,
    errors: Vec<JsonError>,
    notes: Vec<String>,
}

/// Every error of one suite file, or its runs.
fn check(path: &std::path::Path) -> Result<Vec<crate::suite::RunSpec>, Vec<SuiteError>> {
    let suite = Suite::load_checked(path)?;
    suite.expand().map_err(|e| vec![e])
}

/// The note for runs too short for a steady-state throughput, if any.
fn few_steps_note(path: &std::path::Path, runs: &[crate::suite::RunSpec]) -> Option<String> {
    let short: Vec<String> = runs
        .iter()
        .filter(|r| r.steps() < FEW_STEPS)
        .map(|r| format!("{} ({} steps)", r.label(), r.steps()))
        .collect();
    (!short.is_empty()).then(|| {
        format!(
            "{}: {} run(s) take fewer than {FEW_STEPS} optimizer steps, so their steady-state samples/s after the {WARMUP_STEPS} warm-up steps is thin or null: {}{}",
            path.display(),
            short.len(),
            short.iter().take(3).cloned().collect::<Vec<_>>().join(", "),
            if short.len() > 3 { ", …" } else { "" }
        )
    })
}

impl ValidateArgs {
    /// Checks every file (not only up to the first bad one) and reports every error
    /// of each; exit status 1 when any file is invalid.
    pub fn run(self) -> anyhow::Result<ExitCode> {
        let mut verdicts = Vec::new();
        for path in &self.suites {
            let (runs, errors) = match check(path) {
                Ok(runs) => (Some(runs), Vec::new()),
                Err(errors) => (None, errors),
            };
            let notes: Vec<String> = runs
                .as_deref()
                .and_then(|r| few_steps_note(path, r))
                .into_iter()
                .collect();
            if !self.json {
                match &runs {
                    Some(r) => println!("{}: ok, {} run(s)", path.display(), r.len()),
                    None => errors.iter().for_each(|e| eprintln!("error: {e}")),
                }
                notes.iter().for_each(|n| eprintln!("note: {n}"));
            }
            verdicts.push(JsonVerdict {
                file: path.display().to_string(),
                valid: runs.is_some(),
                runs: runs.as_ref().map(Vec::len),
                errors: errors
                    .into_iter()
                    .map(|e| JsonError {
                        file: e.file.display().to_string(),
                        line: e.position.map(|p| p.line),
                        column: e.position.map(|p| p.column),
                        field: e.field,
                        message: e.message,
                    })
                    .collect(),
                notes,
            });
        }
        if self.json {
            println!(
                "{}",
                serde_json::to_string_pretty(&serde_json::json!({ "suites": verdicts }))?
            );
        }
        Ok(if verdicts.iter().all(|v| v.valid) {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        })
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
    /// Cost runs by a model fitted to the measured runs in this results folder: the
    /// plan then gives each run's and the sweep's estimated time (and the same shard
    /// split as `run --costs-from`).
    #[arg(long, value_name = "DIR")]
    costs_from: Option<PathBuf>,
}

impl PlanArgs {
    pub fn run(self) -> anyhow::Result<ExitCode> {
        let suite = load_suite(&self.suite)?;
        let costs = super::cost_model(self.costs_from.as_deref())?;
        let mut runs = suite.expand().map_err(|e| anyhow::anyhow!("{e}"))?;
        if let Some(shard) = self.shard {
            runs = shard.select(runs, &costs);
        }
        let total: f64 = runs.iter().map(|r| costs.cost(r)).sum();
        let share = |r: &RunSpec| costs.cost(r) / total.max(f64::MIN_POSITIVE);
        let seconds = |r: &RunSpec| costs.fitted_on.map(|_| costs.cost(r));
        if self.json {
            let plan = serde_json::json!({
                "suite": suite.name(),
                "suite_sha256": suite.sha256,
                "shard": self.shard.map(|s| s.to_string()),
                "cost_model": costs,
                "estimated_s": costs.fitted_on.map(|_| total),
                "runs": runs.iter().map(|r| serde_json::json!({
                    "key": r.key(),
                    "config_key": r.config_key(),
                    "family_key": r.family_key(),
                    "label": r.label(),
                    "samples": r.samples,
                    "steps": r.steps(),
                    "cost_share": share(r),
                    "estimated_s": seconds(r),
                })).collect::<Vec<_>>(),
            });
            println!("{}", serde_json::to_string_pretty(&plan)?);
            return Ok(ExitCode::SUCCESS);
        }
        println!(
            "{:<18} {:>8} {:>10} {:>12}  run",
            "key", "cost %", "est.", "samples"
        );
        for r in &runs {
            println!(
                "{:<18} {:>7.2}% {:>10} {:>12}  {}",
                r.key(),
                100.0 * share(r),
                seconds(r).map_or("-".into(), crate::fmt::secs),
                r.samples,
                r.label()
            );
        }
        println!("{}", costs.describe());
        println!(
            "{} run(s){}{}",
            runs.len(),
            self.shard
                .map(|s| format!(" in shard {s}"))
                .unwrap_or_default(),
            costs
                .fitted_on
                .map(|_| format!(", estimated {}", crate::fmt::secs(total)))
                .unwrap_or_default()
        );
        Ok(ExitCode::SUCCESS)
    }
}

#[derive(clap::Args)]
pub struct SchemaArgs {
    /// Print the JSON Schema of run records (each line of `runs.jsonl`, shipped as
    /// schemas/record.schema.json) instead of the suite schema.
    #[arg(long)]
    records: bool,
}

impl SchemaArgs {
    pub fn run(self) -> anyhow::Result<ExitCode> {
        if self.records {
            print!("{}", crate::results::record::records_json_schema());
        } else {
            print!("{}", crate::suite::json_schema());
        }
        Ok(ExitCode::SUCCESS)
    }
}
