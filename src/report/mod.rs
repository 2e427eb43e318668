//! Reports: records → analysis → plain `Serialize` data → exporters (HTML, JSON, CSV,
//! Markdown).
//!
//! A report is always rebuilt from saved records, so it can be re-rendered, restyled
//! or combined with other result sets at any time. The HTML page is one
//! self-contained file: minijinja templates from `templates/` (embedded at build time,
//! autoescaped), inline CSS, charts as inline SVG, a small script for conveniences
//! (sorting, showing/hiding series) that the page does not need to be read, and a
//! Content-Security-Policy that forbids loading anything from anywhere.

pub mod advice;
pub mod charts;
mod data;
mod export;
mod sections;
mod table;

use std::path::{Path, PathBuf};

use anyhow::Context;

pub use data::{ReportData, build_report};
pub use export::{Exporter, exporters, render_page, write_index};

use crate::analysis::ResultSet;

/// What [`render_report`] wrote.
#[derive(Debug)]
pub struct Rendered {
    /// The HTML page.
    pub html: PathBuf,
    /// Lines of the record files that could not be read (shown in the report too).
    pub warnings: Vec<String>,
}

/// Analyses labelled result sets and writes every export into `out`; then refreshes
/// the list of reports in `out`'s parent folder.
pub fn render_report(
    sets: &[ResultSet],
    out: &Path,
    command: &[String],
) -> anyhow::Result<Rendered> {
    for s in sets {
        if s.records.is_empty() {
            anyhow::bail!(
                "{} holds no readable records; run the suite first",
                s.dir.display()
            );
        }
    }
    let report = build_report(sets, command);
    write_report(&report, out)?;
    if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        write_index(parent)?;
    }
    Ok(Rendered {
        html: out.join("index.html"),
        warnings: report.warnings.clone(),
    })
}

/// Loads result folders (labelled by what differs) and renders them (see
/// [`render_report`]).
pub fn render_dirs(dirs: &[PathBuf], out: &Path, command: &[String]) -> anyhow::Result<Rendered> {
    render_report(&crate::analysis::load_all(dirs)?, out, command)
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
