//! `batchbench compare BASE NEW` and `batchbench history DIR...`.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::compare;
use anyhow::Context;

use super::parse_percent;

#[derive(clap::Args)]
pub struct CompareArgs {
    /// The reference results folder.
    base: PathBuf,
    /// The results folder to check.
    new: PathBuf,
    /// Smallest relative change that counts, in percent.
    #[arg(long, default_value = "5%", value_parser = parse_percent)]
    threshold: f64,
    /// Metrics to compare, comma-separated (default: samples_per_s, warmup_s,
    /// time_to_target_s, final_test_acc, gpu_mem_peak_mib, energy_to_target_j).
    #[arg(long, value_delimiter = ',')]
    metric: Vec<String>,
    /// Exit with status 1 when any metric regressed.
    #[arg(long)]
    fail_on_regression: bool,
    /// Where to write compare.md, compare.html and compare.json (default:
    /// reports/compare).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Print the comparison as JSON instead of the table (compare.json holds the same).
    #[arg(long)]
    json: bool,
}

impl CompareArgs {
    pub fn run(self) -> anyhow::Result<ExitCode> {
        let names: Vec<String> = if self.metric.is_empty() {
            compare::DEFAULT_METRICS
                .iter()
                .map(|s| s.to_string())
                .collect()
        } else {
            self.metric.clone()
        };
        let metrics = compare::metrics_by_name(&names).map_err(|e| anyhow::anyhow!(e))?;
        let base = crate::analysis::load_result_set(&self.base)?;
        let new = crate::analysis::load_result_set(&self.new)?;
        for w in base.warnings.iter().chain(&new.warnings) {
            log::warn!("{w}");
        }
        let cmp = compare::compare(&base, &new, &metrics, self.threshold);
        let json = serde_json::to_string_pretty(&cmp)? + "\n";
        if self.json {
            print!("{json}");
        } else {
            print!("{}", cmp.terminal_table());
        }
        let out = self
            .out
            .unwrap_or_else(|| PathBuf::from("reports").join("compare"));
        std::fs::create_dir_all(&out)
            .with_context(|| format!("cannot create {}", out.display()))?;
        std::fs::write(out.join("compare.md"), cmp.markdown())?;
        std::fs::write(out.join("compare.json"), json)?;
        std::fs::write(
            out.join("compare.html"),
            crate::report::render_page("compare.html", &cmp)?,
        )?;
        eprintln!(
            "wrote {}, compare.md and compare.json",
            out.join("compare.html").display()
        );
        github_actions(&cmp)?;
        if self.fail_on_regression {
            if let Some(why) = cmp.gate_failure() {
                eprintln!("error: {why} (--fail-on-regression)");
                return Ok(ExitCode::from(1));
            }
            if cmp.testbeds_differ {
                eprintln!(
                    "warning: the two sides ran on different testbeds, so --fail-on-regression does \
                     not apply; compare with a baseline recorded on the same testbed"
                );
            } else if cmp.has_regression() {
                eprintln!("error: regression found (--fail-on-regression)");
                return Ok(ExitCode::from(1));
            }
        }
        Ok(ExitCode::SUCCESS)
    }
}

/// Under GitHub Actions: the Markdown table goes into the job summary
/// (`$GITHUB_STEP_SUMMARY`), and each regression becomes an `::error` annotation.
fn github_actions(cmp: &compare::Comparison) -> anyhow::Result<()> {
    if let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY") {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .with_context(|| format!("cannot append to $GITHUB_STEP_SUMMARY ({path:?})"))?;
        writeln!(f, "{}", cmp.markdown())?;
    }
    if std::env::var("GITHUB_ACTIONS").is_ok_and(|v| v == "true") && cmp.has_regression() {
        for r in cmp
            .rows
            .iter()
            .filter(|r| r.verdict == compare::Verdict::Regressed)
        {
            // Workflow commands end at a newline; `%` and newlines are escaped.
            let text = format!(
                "{} {}: {} → {} ({})",
                r.config,
                r.metric,
                crate::fmt::estimate(&r.base, &r.unit),
                crate::fmt::estimate(&r.new, &r.unit),
                crate::fmt::change(r.change_pct)
            )
            .replace('%', "%25")
            .replace('\r', "%0D")
            .replace('\n', "%0A");
            println!("::error title=batchbench regression::{text}");
        }
    }
    Ok(())
}

#[derive(clap::Args)]
pub struct HistoryArgs {
    /// Results folders, in any order (sorted by recording time).
    #[arg(required = true)]
    dirs: Vec<PathBuf>,
    /// Metrics, comma-separated (default: as for compare).
    #[arg(long, value_delimiter = ',')]
    metric: Vec<String>,
    /// Smallest relative change that counts as a regression, in percent.
    #[arg(long, default_value = "5%", value_parser = parse_percent)]
    threshold: f64,
    /// Output file (default: reports/history.html).
    #[arg(long)]
    out: Option<PathBuf>,
}

impl HistoryArgs {
    pub fn run(self) -> anyhow::Result<ExitCode> {
        let metrics = compare::metrics_by_name(&self.metric).map_err(|e| anyhow::anyhow!(e))?;
        let sets = self
            .dirs
            .iter()
            .map(|d| crate::analysis::load_result_set(d))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let h = compare::history::history(&sets, &metrics, self.threshold);
        let out = self
            .out
            .unwrap_or_else(|| PathBuf::from("reports").join("history.html"));
        if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&out, crate::report::render_page("history.html", &h)?)?;
        for t in &h.testbeds {
            for g in &t.regressions {
                eprintln!("regression: {g}");
            }
        }
        println!("{}", out.display());
        Ok(ExitCode::SUCCESS)
    }
}
