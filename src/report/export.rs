//! Exporters: one per output format, each turning [`ReportData`] into a file.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context;
use base64::Engine;
use minijinja::{Environment, context};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::data::ReportData;
use super::table::csv_rows;

/// The report page's stylesheet and script, embedded at build time.
pub const CSS: &str = include_str!("../../templates/style.css");
/// The page's script: conveniences only (sorting, showing/hiding series).
pub const JS: &str = include_str!("../../templates/report.js");

/// Turns a report into one file.
pub trait Exporter {
    /// The file name inside the report folder.
    fn file_name(&self) -> &'static str;
    /// The file's content.
    fn render(&self, report: &ReportData) -> anyhow::Result<Vec<u8>>;
}

/// All exporters, in the order they are written.
pub fn exporters() -> Vec<Box<dyn Exporter>> {
    vec![
        Box::new(JsonExporter),
        Box::new(CsvExporter),
        Box::new(MarkdownExporter),
        Box::new(HtmlExporter),
    ]
}

/// The templates, embedded at build time; HTML templates are autoescaped.
pub fn templates() -> Environment<'static> {
    let mut env = Environment::new();
    for (name, source) in [
        ("base.html", include_str!("../../templates/base.html")),
        ("macros.html", include_str!("../../templates/macros.html")),
        ("advise.html", include_str!("../../templates/advise.html")),
        ("report.html", include_str!("../../templates/report.html")),
        ("index.html", include_str!("../../templates/index.html")),
        ("compare.html", include_str!("../../templates/compare.html")),
        ("history.html", include_str!("../../templates/history.html")),
    ] {
        env.add_template(name, source).expect("templates are valid");
    }
    env
}

/// The Content-Security-Policy of every page: nothing may be loaded from anywhere;
/// only the embedded stylesheet and script (by hash) run.
pub fn content_security_policy() -> String {
    let hash =
        |s: &str| base64::engine::general_purpose::STANDARD.encode(Sha256::digest(s.as_bytes()));
    format!(
        "default-src 'none'; img-src data:; style-src 'sha256-{}'; script-src 'sha256-{}'; base-uri 'none'; form-action 'none'",
        hash(CSS),
        hash(JS)
    )
}

/// Renders an HTML template with the shared stylesheet, script and policy.
pub fn render_page(template: &str, data: impl Serialize) -> anyhow::Result<String> {
    let env = templates();
    env.get_template(template)?
        .render(context! { r => data, css => CSS, js => JS, csp => content_security_policy() })
        .with_context(|| format!("cannot render {template}"))
}

/// `index.html`: the self-contained report page.
pub struct HtmlExporter;

impl Exporter for HtmlExporter {
    fn file_name(&self) -> &'static str {
        "index.html"
    }
    fn render(&self, report: &ReportData) -> anyhow::Result<Vec<u8>> {
        Ok(render_page("report.html", report)?.into_bytes())
    }
}

/// `summary.json`: the aggregated configurations and findings, machine-readable.
pub struct JsonExporter;

#[derive(Serialize)]
struct JsonSummary<'a> {
    schema: u32,
    title: &'a str,
    generated_at: &'a str,
    generator: &'a str,
    headline: &'a str,
    testbeds: &'a [String],
    findings: &'a [crate::analysis::Finding],
    families: &'a [crate::analysis::Family],
    configs: Vec<serde_json::Value>,
}

impl Exporter for JsonExporter {
    fn file_name(&self) -> &'static str {
        "summary.json"
    }
    fn render(&self, report: &ReportData) -> anyhow::Result<Vec<u8>> {
        let configs = report
            .study
            .configs
            .iter()
            .map(|c| {
                let mut v = serde_json::to_value(c).expect("serializes");
                // The curves are in the records; the summary keeps the figures.
                v.as_object_mut().expect("object").remove("curve");
                v
            })
            .collect();
        let summary = JsonSummary {
            schema: 1,
            title: &report.title,
            generated_at: &report.generated_at,
            generator: &report.generator,
            headline: &report.headline,
            testbeds: &report.testbeds,
            findings: &report.findings,
            families: &report.study.families,
            configs,
        };
        Ok(serde_json::to_vec_pretty(&summary)?)
    }
}

/// `summary.csv`: one row per configuration, raw numbers (empty = not measured or
/// not reached); the columns are the fields of `table::CsvRow`.
pub struct CsvExporter;

impl Exporter for CsvExporter {
    fn file_name(&self) -> &'static str {
        "summary.csv"
    }
    fn render(&self, report: &ReportData) -> anyhow::Result<Vec<u8>> {
        let mut w = csv::Writer::from_writer(Vec::new());
        for row in csv_rows(&report.study) {
            w.serialize(row)?;
        }
        Ok(w.into_inner()?)
    }
}

/// `summary.md`: findings and a compact table, fit for a pull-request comment.
pub struct MarkdownExporter;

impl Exporter for MarkdownExporter {
    fn file_name(&self) -> &'static str {
        "summary.md"
    }
    fn render(&self, report: &ReportData) -> anyhow::Result<Vec<u8>> {
        let mut md = String::new();
        let esc = crate::fmt::md;
        writeln!(md, "## {}\n", esc(&report.title))?;
        for t in &report.testbeds {
            writeln!(md, "Testbed: {}  ", esc(t))?;
        }
        writeln!(md)?;
        for f in &report.findings {
            writeln!(md, "- **{}.** {}", esc(&f.title), esc(&f.text))?;
        }
        writeln!(md)?;
        let cols = &report.table.columns;
        writeln!(
            md,
            "| {} |",
            cols.iter()
                .map(|c| c.title.as_str())
                .collect::<Vec<_>>()
                .join(" | ")
        )?;
        writeln!(
            md,
            "|{}|",
            cols.iter()
                .map(|c| if c.numeric { "---:" } else { "---" })
                .collect::<Vec<_>>()
                .join("|")
        )?;
        for row in &report.table.rows {
            writeln!(
                md,
                "| {} |",
                row.iter()
                    .map(|c| esc(&c.text))
                    .collect::<Vec<_>>()
                    .join(" | ")
            )?;
        }
        if !report.table.hidden_note.is_empty() {
            writeln!(md, "\n{}", report.table.hidden_note)?;
        }
        writeln!(
            md,
            "\nAccuracies are mean ± 95% CI over seeds; times to target are medians with unreached runs counted as infinite."
        )?;
        Ok(md.into_bytes())
    }
}

/// An entry of the reports list.
#[derive(Serialize)]
struct IndexEntry {
    folder: String,
    title: String,
    generated_at: String,
    testbeds: Vec<String>,
    headline: String,
}

/// Rewrites `dir/index.html`: every report folder below `dir` (one with a
/// summary.json), newest first, so the folder can be published as a static site.
pub fn write_index(dir: &Path) -> anyhow::Result<()> {
    let mut entries = Vec::new();
    if let Ok(read) = std::fs::read_dir(dir) {
        for entry in read.flatten() {
            let summary = entry.path().join("summary.json");
            let Ok(text) = std::fs::read_to_string(&summary) else {
                continue;
            };
            let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) else {
                continue;
            };
            let s = |k: &str| {
                v.get(k)
                    .and_then(|x| x.as_str())
                    .unwrap_or_default()
                    .to_string()
            };
            entries.push(IndexEntry {
                folder: entry.file_name().to_string_lossy().into_owned(),
                title: s("title"),
                generated_at: s("generated_at"),
                testbeds: v
                    .get("testbeds")
                    .and_then(|t| t.as_array())
                    .map(|a| {
                        a.iter()
                            .filter_map(|x| x.as_str().map(String::from))
                            .collect()
                    })
                    .unwrap_or_default(),
                headline: s("headline"),
            });
        }
    }
    entries.sort_by(|a, b| {
        b.generated_at
            .cmp(&a.generated_at)
            .then(a.folder.cmp(&b.folder))
    });
    let html = render_page(
        "index.html",
        context! { entries => entries, title => "batchbench reports" },
    )?;
    crate::results::store::write_atomic(&dir.join("index.html"), html.as_bytes())
}
