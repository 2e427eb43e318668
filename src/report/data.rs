//! The report as plain data: what the templates and exporters receive.

use std::collections::BTreeSet;

use serde::Serialize;

use super::charts::RenderedChart;
use super::sections;
use super::table::summary_table;
use crate::analysis::{self, Finding, ResultSet, Study};
use crate::results::record::RunRecord;

/// A table cell: display text and a numeric sort key.
#[derive(Clone, Debug, Serialize)]
pub struct Cell {
    /// What is shown.
    pub text: String,
    /// Sort key (`None` sorts last).
    pub sort: Option<f64>,
}

/// A column of the summary table.
#[derive(Clone, Debug, Serialize)]
pub struct Column {
    /// Header text.
    pub title: String,
    /// Tooltip: what the column means.
    pub help: String,
    /// Numeric column (right-aligned, numeric sort).
    pub numeric: bool,
}

/// The summary table.
#[derive(Clone, Debug, Serialize)]
pub struct Table {
    /// Columns shown.
    pub columns: Vec<Column>,
    /// One row per configuration.
    pub rows: Vec<Vec<Cell>>,
    /// Columns left out because no record measured them, and why.
    pub hidden_note: String,
}

/// A labelled group of charts.
#[derive(Clone, Debug, Serialize)]
pub struct ChartGroup {
    /// Heading.
    pub title: String,
    /// Explanation under the heading.
    pub intro: String,
    /// Charts.
    pub charts: Vec<RenderedChart>,
}

/// Key/value lines (environment, versions).
#[derive(Clone, Debug, Serialize)]
pub struct KeyValue {
    /// Name.
    pub key: String,
    /// Value.
    pub value: String,
}

/// One result set's provenance.
#[derive(Clone, Debug, Serialize)]
pub struct SetInfo {
    /// Label in series names (empty with one set).
    pub label: String,
    /// Folder.
    pub dir: String,
    /// Suite name(s).
    pub suite: String,
    /// Suite description.
    pub description: String,
    /// Suite YAML verbatim (from the manifest).
    pub suite_text: String,
    /// Suite SHA-256.
    pub suite_sha256: String,
    /// Command lines that produced the records.
    pub commands: Vec<String>,
    /// Runs in the set.
    pub runs: usize,
    /// Testbed summary, one line.
    pub testbed: String,
    /// The full environment of the first record.
    pub environment: Vec<KeyValue>,
    /// Data files and their SHA-256.
    pub data_files: Vec<KeyValue>,
}

/// A failed run.
#[derive(Clone, Debug, Serialize)]
pub struct FailedRun {
    /// Run label.
    pub run: String,
    /// Status.
    pub status: String,
    /// Reason.
    pub reason: String,
}

/// Everything the exporters need.
#[derive(Clone, Debug, Serialize)]
pub struct ReportData {
    /// Page title.
    pub title: String,
    /// When the report was generated (RFC 3339).
    pub generated_at: String,
    /// batchbench version and commit that rendered it.
    pub generator: String,
    /// The command that rendered it.
    pub command: String,
    /// Result sets.
    pub sets: Vec<SetInfo>,
    /// Headline findings.
    pub findings: Vec<Finding>,
    /// The one-line testbed(s) for the header.
    pub testbeds: Vec<String>,
    /// The summary table.
    pub table: Table,
    /// Learning curves, one group per family.
    pub curves: Vec<ChartGroup>,
    /// Scaling charts.
    pub scaling: ChartGroup,
    /// Generalization charts.
    pub generalization: ChartGroup,
    /// Hardware charts.
    pub hardware: ChartGroup,
    /// Probe charts ("why"); empty when no run measured probes.
    pub probes: ChartGroup,
    /// Failed runs.
    pub failures: Vec<FailedRun>,
    /// Read warnings.
    pub warnings: Vec<String>,
    /// The analysis (for summary.json).
    #[serde(skip)]
    pub study: Study,
    /// The headline figure for the reports index.
    pub headline: String,
}

/// Builds the report for labelled result sets.
pub fn build_report(sets: &[ResultSet], command: &[String]) -> ReportData {
    let study = analysis::analyze(sets);
    let records: Vec<&RunRecord> = sets.iter().flat_map(|s| s.records.iter()).collect();
    let suites: BTreeSet<&str> = records.iter().map(|r| r.suite.as_str()).collect();
    let title = format!(
        "batchbench: {}",
        suites.into_iter().collect::<Vec<_>>().join(" vs ")
    );
    let set_infos: Vec<SetInfo> = sets.iter().map(set_info).collect();
    let testbeds = set_infos
        .iter()
        .map(|s| {
            if s.label.is_empty() {
                s.testbed.clone()
            } else {
                format!("{}: {}", s.label, s.testbed)
            }
        })
        .collect();
    let failures = records
        .iter()
        .filter(|r| r.status != crate::results::RunStatus::Ok)
        .map(|r| FailedRun {
            run: r.label(),
            status: r.status.as_str().into(),
            reason: r.reason.clone().unwrap_or_default(),
        })
        .collect();
    let headline = study
        .findings
        .first()
        .map(|f| format!("{}: {}", f.title, f.text))
        .unwrap_or_default();
    ReportData {
        title,
        generated_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        generator: format!(
            "batchbench {} ({})",
            crate::results::env::build::VERSION,
            crate::results::env::build::GIT
        ),
        command: command.join(" "),
        findings: study.findings.clone(),
        testbeds,
        table: summary_table(&study),
        curves: sections::curves::curve_groups(&study),
        scaling: sections::scaling::scaling_group(&study),
        generalization: sections::scaling::generalization_group(&study),
        hardware: sections::hardware::hardware_group(&study, sets),
        probes: sections::probes::probe_group(&study, sets),
        failures,
        warnings: sets.iter().flat_map(|s| s.warnings.clone()).collect(),
        sets: set_infos,
        study,
        headline,
    }
}

fn set_info(s: &ResultSet) -> SetInfo {
    let first = s.records.first();
    let env = first.map(|r| &r.env);
    let mut environment = Vec::new();
    if let Some(e) = env {
        let kv = |k: &str, v: String| KeyValue {
            key: k.into(),
            value: v,
        };
        environment.push(kv(
            "OS",
            format!("{} (kernel {})", e.os, e.kernel.clone().unwrap_or_default()),
        ));
        environment.push(kv("CPU", format!("{} ({} logical cores)", e.cpu, e.cores)));
        environment.push(kv("Memory", format!("{} MiB", e.memory_mib)));
        let gpus = if e.gpus.is_empty() {
            format!("none ({})", e.gpus_unavailable.clone().unwrap_or_default())
        } else {
            e.gpus
                .iter()
                .map(|g| {
                    format!(
                        "{} ({} MiB, driver {}, CUDA {})",
                        g.name,
                        g.memory_mib,
                        g.driver,
                        g.cuda_driver.clone().unwrap_or_default()
                    )
                })
                .collect::<Vec<_>>()
                .join("; ")
        };
        environment.push(kv("GPUs", gpus));
        environment.push(kv(
            "Backend / device",
            format!(
                "{} on {} ({} CPU threads)",
                e.backend,
                e.device_label(),
                e.threads
            ),
        ));
        environment.push(kv("Burn / CubeCL", format!("{} / {}", e.burn, e.cubecl)));
        let engines = engines_of(&s.records);
        if engines.iter().any(|e| !e.starts_with("burn ")) {
            environment.push(kv("Engines", engines.join("; ")));
        }
        environment.push(kv(
            "batchbench",
            format!(
                "{} (commit {}, {} build, {})",
                e.batchbench, e.git, e.profile, e.rustc
            ),
        ));
        environment.push(kv("Suite SHA-256", e.suite_sha256.clone()));
        if let Some(d) = &e.dataset_sha256 {
            environment.push(kv("Dataset SHA-256", d.clone()));
        }
    }
    let mut data_files: Vec<KeyValue> = Vec::new();
    for r in &s.records {
        for f in r.data.iter().flat_map(|d| d.files.iter()) {
            if !data_files.iter().any(|k| k.key == f.name) {
                data_files.push(KeyValue {
                    key: f.name.clone(),
                    value: f.sha256.clone(),
                });
            }
        }
    }
    let commands: BTreeSet<String> = s
        .records
        .iter()
        .map(|r| r.env.command.join(" "))
        .filter(|c| !c.is_empty())
        .collect();
    let testbed = env
        .map(|e| {
            let hw = if let Some(adapter) = &e.adapter {
                format!("{} ({})", adapter.label(), e.device)
            } else if e.device.starts_with("cuda") {
                e.gpus
                    .first()
                    .map_or(e.device.clone(), |g| format!("{} ({})", g.name, e.device))
            } else {
                format!("{}, {} cores", e.cpu, e.cores)
            };
            let engines = engines_of(&s.records);
            if engines.iter().any(|e| !e.starts_with("burn ")) {
                format!("{hw}; engines {}; {}", engines.join(", "), e.os)
            } else {
                format!("{hw}; {} backend; Burn {}; {}", e.backend, e.burn, e.os)
            }
        })
        .unwrap_or_default();
    SetInfo {
        label: s.label.clone(),
        dir: s.dir.display().to_string(),
        suite: s
            .manifest
            .as_ref()
            .map(|m| m.suite.clone())
            .or_else(|| first.map(|r| r.suite.clone()))
            .unwrap_or_default(),
        description: s
            .manifest
            .as_ref()
            .and_then(|m| {
                crate::suite::Suite::parse(
                    std::path::Path::new(&m.suite_path),
                    m.suite_text.clone(),
                )
                .ok()
            })
            .and_then(|suite| suite.file.description)
            .unwrap_or_default(),
        suite_text: s
            .manifest
            .as_ref()
            .map(|m| m.suite_text.clone())
            .unwrap_or_default(),
        suite_sha256: s
            .manifest
            .as_ref()
            .map(|m| m.suite_sha256.clone())
            .unwrap_or_default(),
        commands: commands.into_iter().collect(),
        runs: s.records.len(),
        testbed,
        environment,
        data_files,
    }
}

/// The engines of `records` with their versions, each once, in the order first seen.
fn engines_of(records: &[crate::results::RunRecord]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for r in records {
        let e = r
            .env
            .engine
            .clone()
            .unwrap_or_else(crate::results::env::EngineInfo::burn);
        let shown = crate::fmt::engine(&e);
        if !out.contains(&shown) {
            out.push(shown);
        }
    }
    out
}
