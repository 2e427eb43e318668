//! Hardware: throughput, utilization and memory against batch size, and over time.

use super::{H, W, family_band};
use crate::analysis::stats::Estimate;
use crate::analysis::{ConfigSummary, ResultSet, Study};
use crate::report::charts::{self, Chart, Series};
use crate::report::data::ChartGroup;

pub fn hardware_group(study: &Study, sets: &[ResultSet]) -> ChartGroup {
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
