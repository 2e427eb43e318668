//! The summary table: one row per configuration, its columns shown where some record
//! measured them. The HTML page, `summary.md` and the terminal all show this table.

use super::data::{Cell, Column, Table};
use crate::analysis::stats::Estimate;
use crate::analysis::{ConfigSummary, Study};
use crate::fmt::{big, secs};

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

pub(super) fn summary_table(study: &Study) -> Table {
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
