//! The report as plain data: what the templates and exporters receive.

use std::collections::BTreeSet;

use serde::Serialize;

use super::charts::{self, Chart, RenderedChart, Series};
use crate::analysis::stats::Estimate;
use crate::analysis::{self, ConfigSummary, Family, Finding, ResultSet, Study};
use crate::fmt::{big, secs};
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

const W: u32 = 560;
const H: u32 = 360;

fn opt(v: Option<f64>, f: impl Fn(f64) -> String) -> Cell {
    Cell {
        text: v.map(&f).unwrap_or_else(|| "–".into()),
        sort: v,
    }
}

fn est_cell(e: Option<Estimate>, scale: f64, digits: usize, unit: &str) -> Cell {
    match e {
        None => Cell {
            text: "–".into(),
            sort: None,
        },
        Some(e) => {
            let m = e.mean * scale;
            let text = match e.ci95 {
                Some(h) => format!("{m:.digits$} ± {:.digits$}{unit}", h * scale),
                None => format!("{m:.digits$}{unit}"),
            };
            Cell {
                text,
                sort: Some(m),
            }
        }
    }
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
        curves: curve_groups(&study),
        scaling: scaling_group(&study),
        generalization: generalization_group(&study),
        hardware: hardware_group(&study, sets),
        probes: probe_group(&study, sets),
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
            format!("{} on {} ({} CPU threads)", e.backend, e.device, e.threads),
        ));
        environment.push(kv("Burn / CubeCL", format!("{} / {}", e.burn, e.cubecl)));
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
            let hw = if e.device.starts_with("cuda") {
                e.gpus
                    .first()
                    .map_or(e.device.clone(), |g| format!("{} ({})", g.name, e.device))
            } else {
                format!("{}, {} cores", e.cpu, e.cores)
            };
            format!("{hw}; {} backend; Burn {}; {}", e.backend, e.burn, e.os)
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

fn summary_table(study: &Study) -> Table {
    let configs = &study.configs;
    let any = |f: &dyn Fn(&ConfigSummary) -> bool| configs.iter().any(f);
    let multi_family = study.families.len() > 1;
    let mut columns: Vec<(Column, Box<dyn Fn(&ConfigSummary) -> Cell>)> = Vec::new();
    let col = |title: &str, help: &str, numeric: bool| Column {
        title: title.into(),
        help: help.into(),
        numeric,
    };
    if multi_family {
        let fams = study.families.clone();
        columns.push((
            col(
                "Series",
                "What distinguishes this family of configurations",
                false,
            ),
            Box::new(move |c| Cell {
                text: fams[c.family].label.clone(),
                sort: Some(c.family as f64),
            }),
        ));
    }
    columns.push((
        col("Model", "Architecture", false),
        Box::new(|c| Cell {
            text: c.model.clone(),
            sort: None,
        }),
    ));
    columns.push((
        col(
            "Batch",
            "Effective batch size (micro-batch × accumulation)",
            true,
        ),
        Box::new(|c| Cell {
            text: c.batch_size.to_string(),
            sort: Some(c.batch_size as f64),
        }),
    ));
    columns.push((
        col(
            "LR",
            "Effective peak learning rate (after the scaling rule)",
            true,
        ),
        Box::new(|c| Cell {
            text: crate::fmt::lr(c.lr),
            sort: Some(c.lr),
        }),
    ));
    columns.push((
        col(
            "Epochs",
            "Training budget in epochs (examples seen / training-set size)",
            true,
        ),
        Box::new(|c| Cell {
            text: crate::report::charts::tick(c.epochs),
            sort: Some(c.epochs),
        }),
    ));
    columns.push((
        col(
            "Runs",
            "Completed / total runs (seeds); failures named",
            false,
        ),
        Box::new(|c| {
            let mut text = format!("{}/{}", c.ok, c.runs);
            if !c.failures.is_empty() {
                text += &format!(
                    " ({})",
                    c.failures
                        .iter()
                        .map(|(s, n)| format!("{n} {s}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
            Cell {
                text,
                sort: Some(c.ok as f64 / c.runs.max(1) as f64),
            }
        }),
    ));
    columns.push((
        col(
            "Train acc %",
            "Final accuracy on the fixed training subset, mean ± 95% CI over seeds",
            true,
        ),
        Box::new(|c| est_cell(c.final_train_acc, 100.0, 1, "")),
    ));
    columns.push((
        col(
            "Test acc %",
            "Final test accuracy, mean ± 95% CI over seeds",
            true,
        ),
        Box::new(|c| est_cell(c.final_test_acc, 100.0, 1, "")),
    ));
    columns.push((
        col(
            "Gap (points)",
            "Final train − test accuracy, percentage points, mean ± 95% CI",
            true,
        ),
        Box::new(|c| est_cell(c.gap, 100.0, 1, "")),
    ));
    if any(&|c| c.target_acc.is_some()) {
        columns.push((col("Time to target", "Median training seconds until the test accuracy first reached the target, warm-up included; runs that never reached it count as infinite (MLPerf); (reached/runs)", true), Box::new(|c| {
            let text = match c.time_to_target_s {
                Some(t) => format!("{} ({}/{})", secs(t), c.reached, c.runs),
                None => format!("not reached ({}/{})", c.reached, c.runs),
            };
            Cell { text, sort: c.time_to_target_s }
        })));
        columns.push((
            col(
                "Steps to target",
                "Median optimizer steps until the target (unreached = ∞)",
                true,
            ),
            Box::new(|c| opt(c.steps_to_target, big)),
        ));
        columns.push((
            col(
                "Samples to target",
                "Median training examples seen until the target (unreached = ∞)",
                true,
            ),
            Box::new(|c| opt(c.samples_to_target, big)),
        ));
    }
    columns.push((
        col(
            "Samples/s",
            "Steady-state training throughput after warm-up, mean ± 95% CI",
            true,
        ),
        Box::new(|c| est_cell(c.samples_per_s, 1.0, 0, "")),
    ));
    columns.push((
        col(
            "Warm-up s",
            "Seconds for the first 10 steps (kernel compilation, autotuning, allocation)",
            true,
        ),
        Box::new(|c| est_cell(c.warmup_s, 1.0, 3, "")),
    ));
    if any(&|c| c.cold_start_s.is_some_and(|e| e.mean >= 1.0)) {
        columns.push((
            col(
                "Cold start s",
                "Warm-up seconds beyond what the same steps take at steady speed: kernel compilation and autotuning on CUDA",
                true,
            ),
            Box::new(|c| est_cell(c.cold_start_s, 1.0, 1, "")),
        ));
    }
    let mut hidden = Vec::new();
    if any(&|c| c.gpu_util.is_some()) {
        columns.push((
            col(
                "GPU util %",
                "Mean GPU utilization during training, warm-up included (NVML)",
                true,
            ),
            Box::new(|c| est_cell(c.gpu_util, 1.0, 0, "")),
        ));
        columns.push((
            col(
                "Steady GPU util %",
                "Mean GPU utilization after the warm-up steps (NVML)",
                true,
            ),
            Box::new(|c| est_cell(c.gpu_util_steady, 1.0, 0, "")),
        ));
        columns.push((
            col(
                "Peak GPU MiB",
                "Peak device memory in use (NVML), largest over runs",
                true,
            ),
            Box::new(|c| opt(c.gpu_mem_peak_mib, |v| format!("{v:.0}"))),
        ));
    } else {
        hidden.push("GPU utilization and memory");
    }
    if any(&|c| c.energy_j.is_some()) {
        columns.push((
            col("Energy J", "GPU energy per run (NVML counter)", true),
            Box::new(|c| est_cell(c.energy_j, 1.0, 0, "")),
        ));
        columns.push((
            col(
                "Energy to target J",
                "Median GPU energy until the target (unreached = ∞)",
                true,
            ),
            Box::new(|c| opt(c.energy_to_target_j, |v| format!("{v:.0}"))),
        ));
    } else {
        hidden.push("energy");
    }
    if any(&|c| c.cpu_util.is_some()) {
        columns.push((
            col(
                "CPU %",
                "Mean process CPU use during training, percent of all logical cores",
                true,
            ),
            Box::new(|c| est_cell(c.cpu_util, 1.0, 0, "")),
        ));
        columns.push((
            col(
                "RSS MiB",
                "Peak resident memory of the worker process",
                true,
            ),
            Box::new(|c| opt(c.rss_peak_mib, |v| format!("{v:.0}"))),
        ));
    }
    let hidden_note = if hidden.is_empty() {
        String::new()
    } else {
        format!(
            "Not shown: {} — no record measured them (no GPU telemetry: the runs used the CPU or NVML was unavailable).",
            hidden.join(" and ")
        )
    };
    let mut order: Vec<usize> = (0..configs.len()).collect();
    order.sort_by_key(|&i| (configs[i].family, configs[i].batch_size));
    Table {
        rows: order
            .iter()
            .map(|&i| columns.iter().map(|(_, f)| f(&configs[i])).collect())
            .collect(),
        columns: columns.into_iter().map(|(c, _)| c).collect(),
        hidden_note,
    }
}

fn band(points: &[(f64, Estimate)]) -> Vec<(f64, f64, f64)> {
    points
        .iter()
        .filter(|(_, e)| e.n > 1)
        .map(|(x, e)| (*x, e.min, e.max))
        .collect()
}

fn curve_series(
    c: &ConfigSummary,
    x: impl Fn(&analysis::CurveAggregate) -> f64,
    y: impl Fn(&analysis::CurveAggregate) -> Estimate,
    color: usize,
) -> Series {
    let pts: Vec<(f64, Estimate)> = c.curve.iter().map(|p| (x(p), y(p))).collect();
    Series {
        name: format!("batch {}", c.batch_size),
        points: pts.iter().map(|(x, e)| (*x, e.mean)).collect(),
        band: band(&pts),
        color: Some(color),
        ..Series::default()
    }
}

fn curve_groups(study: &Study) -> Vec<ChartGroup> {
    study
        .families
        .iter()
        .map(|fam| {
            let members: Vec<&ConfigSummary> = fam.configs.iter().map(|&i| &study.configs[i]).filter(|c| !c.curve.is_empty()).collect();
            let make = |title: &str, x_label: &str, y_label: &str, x_log: bool, y_log: bool, x: &dyn Fn(&analysis::CurveAggregate) -> f64, y: &dyn Fn(&analysis::CurveAggregate) -> Estimate, y_range: Option<(f64, f64)>| {
                let chart = Chart {
                    title: title.into(),
                    x_label: x_label.into(),
                    y_label: y_label.into(),
                    x_log,
                    y_log,
                    y_range,
                    series: members.iter().enumerate().map(|(i, c)| curve_series(c, x, y, i)).collect(),
                    note: String::new(),
                };
                charts::render(&chart, W, H)
            };
            let pct = |e: Estimate| Estimate { mean: e.mean * 100.0, min: e.min * 100.0, max: e.max * 100.0, ci95: e.ci95.map(|h| h * 100.0), ..e };
            let list = vec![
                make("Test accuracy by epoch", "epochs (examples seen / training-set size)", "test accuracy (%)", false, false, &|p| p.epoch, &|p| pct(p.test_acc), None),
                make("Train accuracy by epoch", "epochs", "train accuracy (%)", false, false, &|p| p.epoch, &|p| pct(p.train_acc), None),
                make("Test accuracy by optimizer step", "optimizer steps (log)", "test accuracy (%)", true, false, &|p| p.step as f64, &|p| pct(p.test_acc), None),
                make("Test accuracy by training time", "training seconds, evaluation excluded (log)", "test accuracy (%)", true, false, &|p| p.train_s, &|p| pct(p.test_acc), None),
                make("Test loss by epoch", "epochs", "test cross-entropy", false, false, &|p| p.epoch, &|p| p.test_loss, None),
                make("Train loss by epoch", "epochs", "train cross-entropy (log)", false, true, &|p| p.epoch, &|p| p.train_loss, None),
            ];
            ChartGroup {
                title: if fam.label.is_empty() { "Learning curves".into() } else { format!("Learning curves: {}", fam.label) },
                intro: "Mean over seeds; the shaded band spans the lowest and highest seed. Step-0 points (before training) are included; log axes omit them.".into(),
                charts: list,
            }
        })
        .collect()
}

fn family_points(
    study: &Study,
    fam: &Family,
    f: impl Fn(&ConfigSummary) -> Option<f64>,
) -> Vec<(f64, f64)> {
    fam.configs
        .iter()
        .map(|&i| &study.configs[i])
        .filter_map(|c| Some((c.batch_size as f64, f(c)?)))
        .collect()
}

fn family_band(
    study: &Study,
    fam: &Family,
    f: impl Fn(&ConfigSummary) -> Option<Estimate>,
    scale: f64,
) -> (Vec<(f64, f64)>, Vec<(f64, f64, f64)>) {
    let pts: Vec<(f64, Estimate)> = fam
        .configs
        .iter()
        .map(|&i| &study.configs[i])
        .filter_map(|c| Some((c.batch_size as f64, f(c)?)))
        .collect();
    let line = pts.iter().map(|(x, e)| (*x, e.mean * scale)).collect();
    let band = pts
        .iter()
        .filter_map(|(x, e)| {
            e.ci95
                .map(|h| (*x, (e.mean - h) * scale, (e.mean + h) * scale))
        })
        .collect();
    (line, band)
}

fn scaling_group(study: &Study) -> ChartGroup {
    let mut steps = Chart {
        title: "Steps to target vs batch size".into(),
        x_label: "batch size (log)".into(),
        y_label: "optimizer steps to target (log)".into(),
        x_log: true,
        y_log: true,
        note: "Median over seeds. Dashed grey: perfect scaling (steps ∝ 1/batch) from the smallest batch; dotted: the fit S = S_min + E_min/B (McCandlish et al. 2018) where one was possible.".into(),
        ..Chart::default()
    };
    let mut samples = Chart {
        title: "Examples to target vs batch size".into(),
        x_label: "batch size (log)".into(),
        y_label: "training examples to target (log)".into(),
        x_log: true,
        y_log: true,
        note: "Median over seeds. Perfect scaling (Shallue et al. 2018) is a flat line: the same examples at every batch size.".into(),
        ..Chart::default()
    };
    let mut time = Chart {
        title: "Time to target vs batch size".into(),
        x_label: "batch size (log)".into(),
        y_label: "training seconds to target (log)".into(),
        x_log: true,
        y_log: true,
        note: "Median over seeds, warm-up included; runs that never reached the target count as infinite (missing points).".into(),
        ..Chart::default()
    };
    for (k, fam) in study.families.iter().enumerate() {
        let name = if fam.label.is_empty() {
            "measured".to_string()
        } else {
            fam.label.clone()
        };
        let s = family_points(study, fam, |c| c.steps_to_target);
        let e = family_points(study, fam, |c| c.samples_to_target);
        let t = family_points(study, fam, |c| c.time_to_target_s);
        let series = |pts: Vec<(f64, f64)>| Series {
            name: name.clone(),
            points: pts,
            markers: true,
            color: Some(k),
            ..Series::default()
        };
        if let (Some(&(b0, s0)), Some(&(bmax, _))) = (s.first(), s.last()) {
            steps.series.push(Series {
                name: String::new(),
                points: vec![(b0, s0), (bmax, s0 * b0 / bmax)],
                dashed: true,
                color: Some(7),
                ..Series::default()
            });
            if let Some(cb) = &fam.critical_batch
                && cb.b_crit.is_some()
            {
                let (lo, hi) = cb.batch_range;
                let fit: Vec<(f64, f64)> = (0..=40)
                    .map(|i| lo * (hi / lo).powf(i as f64 / 40.0))
                    .filter_map(|b| Some((b, cb.steps_at(b)?)))
                    .collect();
                steps.series.push(Series {
                    name: String::new(),
                    points: fit,
                    dashed: true,
                    color: Some(k),
                    ..Series::default()
                });
            }
        }
        if let (Some(&(b0, e0)), Some(&(bmax, _))) = (e.first(), e.last()) {
            samples.series.push(Series {
                name: String::new(),
                points: vec![(b0, e0), (bmax, e0)],
                dashed: true,
                color: Some(7),
                ..Series::default()
            });
        }
        steps.series.push(series(s));
        samples.series.push(series(e));
        time.series.push(series(t));
    }
    let nf = study.families.len();
    for (k, t) in study.tuned.iter().enumerate() {
        let best: Vec<&ConfigSummary> = t.best.iter().map(|&i| &study.configs[i]).collect();
        let pts = |f: &dyn Fn(&ConfigSummary) -> Option<f64>| {
            best.iter()
                .filter_map(|c| Some((c.batch_size as f64, f(c)?)))
                .collect::<Vec<_>>()
        };
        let name = if t.label.is_empty() {
            "tuned lr".to_string()
        } else {
            format!("tuned lr ({})", t.label)
        };
        let mk = |points| Series {
            name: name.clone(),
            points,
            markers: true,
            dashed: true,
            color: Some(nf + k),
            ..Series::default()
        };
        steps.series.push(mk(pts(&|c| c.steps_to_target)));
        samples.series.push(mk(pts(&|c| c.samples_to_target)));
        time.series.push(mk(pts(&|c| c.time_to_target_s)));
    }
    ChartGroup {
        title: "Scaling: how many steps, examples and seconds the target takes".into(),
        intro: "Each point is a configuration's median over seeds. With perfect scaling, doubling the batch halves the steps and leaves the examples unchanged; past the critical batch size, steps stop falling and examples grow.".into(),
        charts: vec![charts::render(&steps, W, H), charts::render(&samples, W, H), charts::render(&time, W, H)],
    }
}

fn generalization_group(study: &Study) -> ChartGroup {
    let mut acc = Chart {
        title: "Final train and test accuracy vs batch size".into(),
        x_label: "batch size (log)".into(),
        y_label: "accuracy (%)".into(),
        x_log: true,
        note: "Mean over seeds with 95% confidence band; dashed: train accuracy (fixed training subset), solid: test.".into(),
        ..Chart::default()
    };
    let mut gap = Chart {
        title: "Generalization gap vs batch size".into(),
        x_label: "batch size (log)".into(),
        y_label: "train − test accuracy (points)".into(),
        x_log: true,
        note: "Mean over seeds with 95% confidence band.".into(),
        ..Chart::default()
    };
    for (k, fam) in study.families.iter().enumerate() {
        let name = if fam.label.is_empty() {
            String::new()
        } else {
            format!(" ({})", fam.label)
        };
        let (test, test_band) = family_band(study, fam, |c| c.final_test_acc, 100.0);
        let (train, train_band) = family_band(study, fam, |c| c.final_train_acc, 100.0);
        let (g, g_band) = family_band(study, fam, |c| c.gap, 100.0);
        acc.series.push(Series {
            name: format!("test{name}"),
            points: test,
            band: test_band,
            markers: true,
            color: Some(2 * k),
            ..Series::default()
        });
        acc.series.push(Series {
            name: format!("train{name}"),
            points: train,
            band: train_band,
            markers: true,
            dashed: true,
            color: Some(2 * k + 1),
            ..Series::default()
        });
        gap.series.push(Series {
            name: if fam.label.is_empty() {
                "gap".into()
            } else {
                fam.label.clone()
            },
            points: g,
            band: g_band,
            markers: true,
            color: Some(k),
            ..Series::default()
        });
    }
    ChartGroup {
        title: "Generalization".into(),
        intro: "Keskar et al. (2017) observed that large batches generalize worse at equal epochs; the gap chart shows whether these runs agree, with the uncertainty over seeds.".into(),
        charts: vec![charts::render(&acc, W, H), charts::render(&gap, W, H)],
    }
}

fn probe_group(study: &Study, sets: &[ResultSet]) -> ChartGroup {
    let mut list = Vec::new();
    let over_training = |key: &str,
                         title: &str,
                         y_label: &str,
                         y_log: bool,
                         note: &str,
                         extra: &dyn Fn(&Family, &mut Chart)|
     -> Vec<RenderedChart> {
        study
            .families
            .iter()
            .filter_map(|fam| {
                let members: Vec<&ConfigSummary> = fam
                    .configs
                    .iter()
                    .map(|&i| &study.configs[i])
                    .filter(|c| c.curve.iter().any(|p| p.probes.contains_key(key)))
                    .collect();
                if members.is_empty() {
                    return None;
                }
                let mut chart = Chart {
                    title: if fam.label.is_empty() {
                        title.to_string()
                    } else {
                        format!("{title}: {}", fam.label)
                    },
                    x_label: "epochs".into(),
                    y_label: y_label.into(),
                    y_log,
                    note: note.into(),
                    ..Chart::default()
                };
                for (k, c) in members.iter().enumerate() {
                    let pts: Vec<(f64, Estimate)> = c
                        .curve
                        .iter()
                        .filter_map(|p| Some((p.epoch, *p.probes.get(key)?)))
                        .collect();
                    chart.series.push(Series {
                        name: format!("batch {}", c.batch_size),
                        points: pts.iter().map(|(x, e)| (*x, e.mean)).collect(),
                        band: band(&pts),
                        color: Some(k),
                        ..Series::default()
                    });
                }
                extra(fam, &mut chart);
                Some(charts::render(&chart, W, H))
            })
            .collect()
    };
    list.extend(over_training(
        "weight_distance",
        "Distance from the initial weights",
        "‖θ − θ₀‖",
        false,
        "Euclidean distance of all parameters from their initial values, mean over seeds with min–max band.",
        &|_, _| {},
    ));
    list.extend(over_training(
        "noise_scale",
        "Gradient noise scale over training",
        "B_simple = tr(Σ)/|G|² (examples, log)",
        true,
        "McCandlish et al. (2018), from mean-gradient norms at two batch sizes. Dashed: the critical batch size fitted on steps vs examples to target, where available.",
        &|fam, chart| {
            if let (Some(b), Some(first)) = (fam.critical_batch.as_ref().and_then(|c| c.b_crit), fam.configs.first()) {
                let c = &study.configs[*first];
                if let (Some(a), Some(z)) = (c.curve.first(), c.curve.last()) {
                    chart.series.push(Series { name: "critical batch (fit)".into(), points: vec![(a.epoch, b), (z.epoch, b)], dashed: true, color: Some(7), ..Series::default() });
                }
            }
        },
    ));
    list.extend(over_training(
        "gradient_diversity",
        "Gradient diversity over training",
        "‖Σgᵢ‖² / Σ‖gᵢ‖²",
        false,
        "Over per-example gradients of a random batch: n when they all agree (a batch of n is worth n steps of 1), 1 when orthogonal.",
        &|_, _| {},
    ));
    // Sharpness against batch size, one series per ε and family.
    let mut sharp = Chart {
        title: "Sharpness of the final weights vs batch size".into(),
        x_label: "batch size (log)".into(),
        y_label: "ε-sharpness (%)".into(),
        x_log: true,
        note: "Keskar et al. (2017): 100 × (max f(θ+Δ) − f(θ)) / (1 + f(θ)) over the box |Δᵢ| ≤ ε(|θᵢ|+1), maximized by projected sign-gradient ascent from a random point of the box on a fixed training subset (their paper uses L-BFGS-B). Mean over seeds with 95% band.".into(),
        ..Chart::default()
    };
    let mut k = 0;
    for fam in &study.families {
        let eps: BTreeSet<String> = fam
            .configs
            .iter()
            .flat_map(|&i| study.configs[i].sharpness.keys().cloned())
            .collect();
        for e in eps {
            let (line, band) = family_band(study, fam, |c| c.sharpness.get(&e).copied(), 1.0);
            let name = if fam.label.is_empty() {
                format!("ε = {e}")
            } else {
                format!("ε = {e} ({})", fam.label)
            };
            sharp.series.push(Series {
                name,
                points: line,
                band,
                markers: true,
                color: Some(k),
                ..Series::default()
            });
            k += 1;
        }
    }
    if !sharp.series.is_empty() {
        list.push(charts::render(&sharp, W, H));
    }
    // Interpolation between solutions.
    for c in sets.iter().flat_map(|s| s.interpolation.iter()).take(4) {
        let loss = Chart {
            title: format!("Loss along the line from batch {} (α = 0) to batch {} (α = 1), seed {}", c.a_batch, c.b_batch, c.seed),
            x_label: "α".into(),
            y_label: "cross-entropy (log)".into(),
            y_log: true,
            note: "θ(α) = (1 − α)·θ_small + α·θ_large (Goodfellow et al. 2015). A barrier between α = 0 and 1 separates the two minima; a steeper wall around α = 1 suggests a sharper large-batch minimum.".into(),
            series: vec![
                Series { name: "train".into(), points: c.alphas.iter().copied().zip(c.train_loss.iter().copied()).collect(), dashed: true, color: Some(1), ..Series::default() },
                Series { name: "test".into(), points: c.alphas.iter().copied().zip(c.test_loss.iter().copied()).collect(), color: Some(0), ..Series::default() },
            ],
            ..Chart::default()
        };
        list.push(charts::render(&loss, W, H));
    }
    ChartGroup {
        title: "Why: probes".into(),
        intro: if list.is_empty() {
            String::new()
        } else {
            "Measurements that explain the effects above; each chart says how it was computed. Probes run outside the training timer and never change what is trained.".into()
        },
        charts: list,
    }
}

fn hardware_group(study: &Study, sets: &[ResultSet]) -> ChartGroup {
    let per_batch = |title: &str,
                     y_label: &str,
                     y_log: bool,
                     f: &dyn Fn(&ConfigSummary) -> Option<Estimate>,
                     note: &str| {
        let mut chart = Chart {
            title: title.into(),
            x_label: "batch size (log)".into(),
            y_label: y_label.into(),
            x_log: true,
            y_log,
            note: note.into(),
            ..Chart::default()
        };
        for (k, fam) in study.families.iter().enumerate() {
            let (line, band) = family_band(study, fam, f, 1.0);
            chart.series.push(Series {
                name: if fam.label.is_empty() {
                    "measured".into()
                } else {
                    fam.label.clone()
                },
                points: line,
                band,
                markers: true,
                color: Some(k),
                ..Series::default()
            });
        }
        charts::render(&chart, W, H)
    };
    let mut list = vec![per_batch(
        "Throughput vs batch size",
        "training examples per second (log)",
        true,
        &|c| c.samples_per_s,
        "Steady state after the warm-up steps; mean with 95% band.",
    )];
    let gpu = study.configs.iter().any(|c| c.gpu_util.is_some());
    if gpu {
        list.push(per_batch(
            "GPU utilization vs batch size",
            "GPU utilization (%)",
            false,
            &|c| c.gpu_util_steady.or(c.gpu_util),
            "NVML's utilization (percent of time a kernel ran), mean over training after the warm-up steps.",
        ));
        list.push(per_batch("Peak GPU memory vs batch size", "device memory in use (MiB)", false, &|c| c.gpu_mem_peak_mib.map(|v| Estimate { mean: v, ci95: None, std: None, n: 1, min: v, max: v }), "Largest peak over the configuration's runs; each run has its own process, so peaks are per run."));
    } else {
        list.push(per_batch(
            "CPU use vs batch size",
            "process CPU (% of all cores)",
            false,
            &|c| c.cpu_util,
            "The worker's CPU time over wall time during training (from the kernel's per-process counters), mean over samples.",
        ));
    }
    // Utilization over time for the smallest and largest batch of the first family (seed order first).
    if let Some(fam) = study.families.first() {
        let picks: Vec<&ConfigSummary> = match (fam.configs.first(), fam.configs.last()) {
            (Some(&a), Some(&b)) if a != b => vec![&study.configs[a], &study.configs[b]],
            (Some(&a), _) => vec![&study.configs[a]],
            _ => vec![],
        };
        let mut util = Chart {
            title: if gpu { "GPU utilization over a run".into() } else { "CPU use over a run".into() },
            x_label: "seconds since the worker started".into(),
            y_label: if gpu { "GPU utilization (%)".into() } else { "process CPU (% of all cores)".into() },
            note: "First seed of the smallest and the largest batch size of the first series; samples every telemetry interval.".into(),
            ..Chart::default()
        };
        let mut mem = Chart {
            title: if gpu {
                "GPU memory over a run".into()
            } else {
                "Resident memory over a run".into()
            },
            x_label: "seconds since the worker started".into(),
            y_label: if gpu {
                "device memory in use (MiB)".into()
            } else {
                "resident memory (MiB)".into()
            },
            note: util.note.clone(),
            ..Chart::default()
        };
        for (k, c) in picks.iter().enumerate() {
            let Some(record) = sets
                .iter()
                .flat_map(|s| s.records.iter())
                .find(|r| c.run_keys.first() == Some(&r.key))
            else {
                continue;
            };
            let series = &record.telemetry.series;
            let pick = |f: &dyn Fn(&crate::telemetry::Sample) -> Option<f64>| {
                series
                    .iter()
                    .filter_map(|s| Some((s.t_s, f(s)?)))
                    .collect::<Vec<_>>()
            };
            let (u, m) = if gpu {
                (pick(&|s| s.gpu_util), pick(&|s| s.gpu_mem_mib))
            } else {
                (pick(&|s| s.cpu_util), pick(&|s| s.rss_mib))
            };
            util.series.push(Series {
                name: format!("batch {}", c.batch_size),
                points: u,
                color: Some(k),
                ..Series::default()
            });
            mem.series.push(Series {
                name: format!("batch {}", c.batch_size),
                points: m,
                color: Some(k),
                ..Series::default()
            });
        }
        list.push(charts::render(&util, W, H));
        list.push(charts::render(&mem, W, H));
    }
    ChartGroup {
        title: "Hardware".into(),
        intro: "Throughput and utilization against batch size, and over time for two runs.".into(),
        charts: list,
    }
}
