//! `batchbench report RESULTS...`: render reports from saved records.

use std::path::PathBuf;
use std::process::ExitCode;

use super::safe_name;

#[derive(clap::Args)]
pub struct ReportArgs {
    /// Results folders (or runs.jsonl files); several render side by side.
    #[arg(required = true)]
    results: Vec<PathBuf>,
    /// Output folder (default: reports/<suite name>).
    #[arg(long)]
    out: Option<PathBuf>,
}

impl ReportArgs {
    pub fn run(self) -> anyhow::Result<ExitCode> {
        render(&self.results, self.out)?;
        Ok(ExitCode::SUCCESS)
    }
}

/// Renders the report of `results` into `out` (default: reports/<suite names>) and
/// prints the page's path.
pub fn render(results: &[PathBuf], out: Option<PathBuf>) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let sets = crate::analysis::load_all(results)?;
    let out = out.unwrap_or_else(|| {
        let mut names: Vec<String> = sets
            .iter()
            .filter_map(|s| s.records.first().map(|r| safe_name(&r.suite)))
            .collect();
        names.dedup();
        PathBuf::from("reports").join(names.join("-vs-"))
    });
    let command: Vec<String> = std::env::args().collect();
    let rendered = crate::report::render_report(&sets, &out, &command)?;
    for w in &rendered.warnings {
        log::warn!("{w}");
    }
    eprintln!("report written in {:.2} s", started.elapsed().as_secs_f64());
    println!("{}", rendered.html.display());
    Ok(())
}
