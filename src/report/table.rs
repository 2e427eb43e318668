//! The summary table: one row per configuration.
//!
//! Its columns are one list of definitions ([`COLUMNS`]: title, help, when shown,
//! cell), which the HTML page, `summary.md` and the terminal all render, so the three
//! cannot drift apart. `summary.csv` is the same rows as raw numbers ([`CsvRow`],
//! written through `Serialize`: its header is the struct's field list).

use serde::{Serialize, Serializer};

use super::data::{Cell, Column, Table};
use crate::analysis::stats::Estimate;
use crate::analysis::{ConfigSummary, Study};
use crate::fmt::{big, secs};

/// One column of the summary table.
struct ColumnDef {
    title: &'static str,
    help: &'static str,
    numeric: bool,
    /// Whether the study has anything to show in it.
    shown: fn(&Study) -> bool,
    /// What a reader misses when it is not shown (said once under the table).
    hidden_as: Option<&'static str>,
    cell: fn(&Study, &ConfigSummary) -> Cell,
}

fn always(_: &Study) -> bool {
    true
}

fn any(study: &Study, f: impl Fn(&ConfigSummary) -> bool) -> bool {
    study.configs.iter().any(f)
}

fn text(text: String, sort: Option<f64>) -> Cell {
    Cell { text, sort }
}

fn opt(v: Option<f64>, f: impl Fn(f64) -> String) -> Cell {
    text(v.map(&f).unwrap_or_else(|| "–".into()), v)
}

fn est_cell(e: Option<Estimate>, scale: f64, digits: usize) -> Cell {
    match e {
        None => text("–".into(), None),
        Some(e) => {
            let m = e.mean * scale;
            let shown = match e.ci95 {
                Some(h) => format!("{m:.digits$} ± {:.digits$}", h * scale),
                None => format!("{m:.digits$}"),
            };
            text(shown, Some(m))
        }
    }
}

fn failures(c: &ConfigSummary, sep: &str) -> String {
    c.failures
        .iter()
        .map(|(s, n)| format!("{n} {s}"))
        .collect::<Vec<_>>()
        .join(sep)
}

const GPU: Option<&str> = Some("GPU utilization and memory");
const ENERGY: Option<&str> = Some("energy");

const COLUMNS: &[ColumnDef] = &[
    ColumnDef {
        title: "Series",
        help: "What distinguishes this family of configurations",
        numeric: false,
        shown: |s| s.families.len() > 1,
        hidden_as: None,
        cell: |s, c| text(s.families[c.family].label.clone(), Some(c.family as f64)),
    },
    ColumnDef {
        title: "Engine",
        help: "The framework that trained (burn, pytorch, pytorch-compile, jax)",
        numeric: false,
        shown: |s| any(s, |c| c.engine != "burn"),
        hidden_as: None,
        cell: |_, c| text(c.engine.clone(), None),
    },
    ColumnDef {
        title: "Model",
        help: "Architecture",
        numeric: false,
        shown: always,
        hidden_as: None,
        cell: |_, c| text(c.model.clone(), None),
    },
    ColumnDef {
        title: "Batch",
        help: "Effective batch size (micro-batch × accumulation)",
        numeric: true,
        shown: always,
        hidden_as: None,
        cell: |_, c| text(c.batch_size.to_string(), Some(c.batch_size as f64)),
    },
    ColumnDef {
        title: "LR",
        help: "Effective peak learning rate (after the scaling rule)",
        numeric: true,
        shown: always,
        hidden_as: None,
        cell: |_, c| text(crate::fmt::lr(c.lr), Some(c.lr)),
    },
    ColumnDef {
        title: "Epochs",
        help: "Training budget in epochs (examples seen / training-set size)",
        numeric: true,
        shown: always,
        hidden_as: None,
        cell: |_, c| text(crate::fmt::tick(c.epochs), Some(c.epochs)),
    },
    ColumnDef {
        title: "Runs",
        help: "Completed / total runs (seeds); failures named",
        numeric: false,
        shown: always,
        hidden_as: None,
        cell: |_, c| {
            let mut shown = format!("{}/{}", c.ok, c.runs);
            if !c.failures.is_empty() {
                shown += &format!(" ({})", failures(c, ", "));
            }
            text(shown, Some(c.ok as f64 / c.runs.max(1) as f64))
        },
    },
    ColumnDef {
        title: "Train acc %",
        help: "Final accuracy on the fixed training subset, mean ± 95% CI over seeds",
        numeric: true,
        shown: always,
        hidden_as: None,
        cell: |_, c| est_cell(c.final_train_acc, 100.0, 1),
    },
    ColumnDef {
        title: "Test acc %",
        help: "Final test accuracy, mean ± 95% CI over seeds",
        numeric: true,
        shown: always,
        hidden_as: None,
        cell: |_, c| est_cell(c.final_test_acc, 100.0, 1),
    },
    ColumnDef {
        title: "Gap (points)",
        help: "Final train − test accuracy, percentage points, mean ± 95% CI",
        numeric: true,
        shown: always,
        hidden_as: None,
        cell: |_, c| est_cell(c.gap, 100.0, 1),
    },
    ColumnDef {
        title: "Time to target",
        help: "Median training seconds until the target (test accuracy, or the metric the suite names) was first reached, warm-up included; runs that never reached it count as infinite (MLPerf); (reached/runs)",
        numeric: true,
        shown: |s| any(s, |c| c.target.is_some()),
        hidden_as: None,
        cell: |_, c| {
            let shown = match c.time_to_target_s {
                Some(t) => format!("{} ({}/{})", secs(t), c.reached, c.runs),
                None => format!("not reached ({}/{})", c.reached, c.runs),
            };
            text(shown, c.time_to_target_s)
        },
    },
    ColumnDef {
        title: "Steps to target",
        help: "Median optimizer steps until the target (unreached = ∞)",
        numeric: true,
        shown: |s| any(s, |c| c.target.is_some()),
        hidden_as: None,
        cell: |_, c| opt(c.steps_to_target, big),
    },
    ColumnDef {
        title: "Samples to target",
        help: "Median training examples seen until the target (unreached = ∞)",
        numeric: true,
        shown: |s| any(s, |c| c.target.is_some()),
        hidden_as: None,
        cell: |_, c| opt(c.samples_to_target, big),
    },
    ColumnDef {
        title: "Samples/s",
        help: "Steady-state training throughput after warm-up, mean ± 95% CI",
        numeric: true,
        shown: always,
        hidden_as: None,
        cell: |_, c| est_cell(c.samples_per_s, 1.0, 0),
    },
    ColumnDef {
        title: "Warm-up s",
        help: "Seconds for the first 10 steps (kernel compilation, autotuning, allocation)",
        numeric: true,
        shown: always,
        hidden_as: None,
        cell: |_, c| est_cell(c.warmup_s, 1.0, 3),
    },
    ColumnDef {
        title: "Cold start s",
        help: "Warm-up seconds beyond what the same steps take at steady speed: kernel compilation and autotuning on CUDA",
        numeric: true,
        // Below a second it is noise next to the warm-up column.
        shown: |s| any(s, |c| c.cold_start_s.is_some_and(|e| e.mean >= 1.0)),
        hidden_as: None,
        cell: |_, c| est_cell(c.cold_start_s, 1.0, 1),
    },
    ColumnDef {
        title: "GPU util %",
        help: "Mean GPU utilization during training, warm-up included (NVML)",
        numeric: true,
        shown: |s| any(s, |c| c.gpu_util.is_some()),
        hidden_as: GPU,
        cell: |_, c| est_cell(c.gpu_util, 1.0, 0),
    },
    ColumnDef {
        title: "Steady GPU util %",
        help: "Mean GPU utilization after the warm-up steps (NVML)",
        numeric: true,
        shown: |s| any(s, |c| c.gpu_util.is_some()),
        hidden_as: GPU,
        cell: |_, c| est_cell(c.gpu_util_steady, 1.0, 0),
    },
    ColumnDef {
        title: "Peak GPU MiB",
        help: "Peak device memory in use (NVML), largest over runs",
        numeric: true,
        shown: |s| any(s, |c| c.gpu_util.is_some()),
        hidden_as: GPU,
        cell: |_, c| opt(c.gpu_mem_peak_mib, |v| format!("{v:.0}")),
    },
    ColumnDef {
        title: "Energy J",
        help: "GPU energy per run (NVML counter)",
        numeric: true,
        shown: |s| any(s, |c| c.energy_j.is_some()),
        hidden_as: ENERGY,
        cell: |_, c| est_cell(c.energy_j, 1.0, 0),
    },
    ColumnDef {
        title: "Energy to target J",
        help: "Median GPU energy until the target (unreached = ∞)",
        numeric: true,
        shown: |s| any(s, |c| c.energy_j.is_some()),
        hidden_as: ENERGY,
        cell: |_, c| opt(c.energy_to_target_j, |v| format!("{v:.0}")),
    },
    ColumnDef {
        title: "CPU %",
        help: "Mean process CPU use during training, percent of all logical cores",
        numeric: true,
        shown: |s| any(s, |c| c.cpu_util.is_some()),
        hidden_as: None,
        cell: |_, c| est_cell(c.cpu_util, 1.0, 0),
    },
    ColumnDef {
        title: "RSS MiB",
        help: "Peak resident memory of the worker process",
        numeric: true,
        shown: |s| any(s, |c| c.cpu_util.is_some()),
        hidden_as: None,
        cell: |_, c| opt(c.rss_peak_mib, |v| format!("{v:.0}")),
    },
];

/// Configurations in table order: by family, then batch size.
fn in_table_order(study: &Study) -> Vec<&ConfigSummary> {
    let mut configs: Vec<&ConfigSummary> = study.configs.iter().collect();
    configs.sort_by_key(|c| (c.family, c.batch_size));
    configs
}

/// The summary table of `study`: the columns it has something to show in.
pub(super) fn summary_table(study: &Study) -> Table {
    let (shown, hidden): (Vec<&ColumnDef>, Vec<&ColumnDef>) =
        COLUMNS.iter().partition(|d| (d.shown)(study));
    let mut missing: Vec<&str> = hidden.iter().filter_map(|d| d.hidden_as).collect();
    missing.dedup();
    let hidden_note = if missing.is_empty() {
        String::new()
    } else {
        format!(
            "Not shown: {} — no record measured them (no GPU telemetry: the runs used the CPU or NVML was unavailable).",
            missing.join(" and ")
        )
    };
    Table {
        rows: in_table_order(study)
            .into_iter()
            .map(|c| shown.iter().map(|d| (d.cell)(study, c)).collect())
            .collect(),
        columns: shown
            .iter()
            .map(|d| Column {
                title: d.title.into(),
                help: d.help.into(),
                numeric: d.numeric,
            })
            .collect(),
        hidden_note,
    }
}

/// A number as `summary.csv` writes it: shortest exact decimal, empty when absent.
struct Raw(Option<f64>);

impl Serialize for Raw {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Some(v) => s.collect_str(&v),
            None => s.serialize_str(""),
        }
    }
}

fn mean(e: Option<Estimate>) -> Raw {
    Raw(e.map(|e| e.mean))
}

fn ci(e: Option<Estimate>) -> Raw {
    Raw(e.and_then(|e| e.ci95))
}

/// One row of `summary.csv`: a configuration as raw numbers (empty = not measured or
/// not reached). The field order is the file's column order.
#[derive(Serialize)]
pub(super) struct CsvRow<'a> {
    source: &'a str,
    series: &'a str,
    model: &'a str,
    dataset: &'a str,
    optimizer: &'a str,
    batch_size: u64,
    accumulate: u64,
    lr: Raw,
    lr_scaling: &'a str,
    precision: &'a str,
    engine: &'a str,
    device: &'a str,
    runs: usize,
    ok: usize,
    failures: String,
    final_train_acc: Raw,
    final_train_acc_ci95: Raw,
    final_test_acc: Raw,
    final_test_acc_ci95: Raw,
    gap: Raw,
    gap_ci95: Raw,
    target_acc: Raw,
    reached: usize,
    time_to_target_s: Raw,
    time_to_target_excl_warmup_s: Raw,
    steps_to_target: Raw,
    samples_to_target: Raw,
    samples_per_s: Raw,
    samples_per_s_ci95: Raw,
    warmup_s: Raw,
    gpu_util: Raw,
    gpu_mem_peak_mib: Raw,
    energy_j: Raw,
    energy_to_target_j: Raw,
    cpu_util: Raw,
    rss_peak_mib: Raw,
}

/// The rows of `summary.csv`, in table order.
pub(super) fn csv_rows(study: &Study) -> Vec<CsvRow<'_>> {
    in_table_order(study)
        .into_iter()
        .map(|c| CsvRow {
            source: &c.source,
            series: &study.families[c.family].label,
            model: &c.model,
            dataset: &c.dataset,
            optimizer: &c.optimizer,
            batch_size: c.batch_size,
            accumulate: c.accumulate,
            lr: Raw(Some(c.lr)),
            lr_scaling: &c.lr_scaling,
            precision: &c.precision,
            engine: &c.engine,
            device: &c.device,
            runs: c.runs,
            ok: c.ok,
            failures: failures(c, "; "),
            final_train_acc: mean(c.final_train_acc),
            final_train_acc_ci95: ci(c.final_train_acc),
            final_test_acc: mean(c.final_test_acc),
            final_test_acc_ci95: ci(c.final_test_acc),
            gap: mean(c.gap),
            gap_ci95: ci(c.gap),
            target_acc: Raw(c.target_acc),
            reached: c.reached,
            time_to_target_s: Raw(c.time_to_target_s),
            time_to_target_excl_warmup_s: Raw(c.time_to_target_excl_warmup_s),
            steps_to_target: Raw(c.steps_to_target),
            samples_to_target: Raw(c.samples_to_target),
            samples_per_s: mean(c.samples_per_s),
            samples_per_s_ci95: ci(c.samples_per_s),
            warmup_s: mean(c.warmup_s),
            gpu_util: mean(c.gpu_util),
            gpu_mem_peak_mib: Raw(c.gpu_mem_peak_mib),
            energy_j: mean(c.energy_j),
            energy_to_target_j: Raw(c.energy_to_target_j),
            cpu_util: mean(c.cpu_util),
            rss_peak_mib: Raw(c.rss_peak_mib),
        })
        .collect()
}
