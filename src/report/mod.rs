//! Reports: records → analysis → plain `Serialize` data → exporters (HTML, JSON, CSV,
//! Markdown).
//!
//! A report is always rebuilt from saved records, so it can be re-rendered, restyled
//! or combined with other result sets at any time. The HTML page is one
//! self-contained file: minijinja templates from `templates/` (embedded at build time,
//! autoescaped), inline CSS, charts as inline SVG, a small script for conveniences
//! (sorting, showing/hiding series) that the page does not need to be read, and a
//! Content-Security-Policy that forbids loading anything from anywhere.

pub mod charts;
mod data;
mod export;

use std::path::{Path, PathBuf};

use anyhow::Context;

pub use data::{ReportData, build_report};
pub use export::{Exporter, exporters, render_page, write_index};

use crate::analysis::{self, ResultSet};

/// Loads result folders, analyses them and writes every export into `out`; then
/// refreshes the list of reports in `out`'s parent folder. Returns the HTML path.
pub fn render_report(dirs: &[PathBuf], out: &Path, command: &[String]) -> anyhow::Result<PathBuf> {
    let sets: Vec<ResultSet> = analysis::load_all(dirs)?;
    for s in &sets {
        for w in &s.warnings {
            eprintln!("warning: {w}");
        }
        if s.records.is_empty() {
            anyhow::bail!(
                "{} holds no readable records; run the suite first",
                s.dir.display()
            );
        }
    }
    let report = build_report(&sets, command);
    write_report(&report, out)?;
    if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        write_index(parent)?;
    }
    Ok(out.join("index.html"))
}

/// Writes every exporter's file into `out`.
pub fn write_report(report: &ReportData, out: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    for exporter in exporters() {
        let bytes = exporter.render(report)?;
        let path = out.join(exporter.file_name());
        crate::results::store::write_atomic(&path, &bytes)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}
