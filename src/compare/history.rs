//! `batchbench history`: many result sets (over time, commits or machines) on one
//! page — a trend chart per metric, one series per configuration, grouped by testbed,
//! with the points where a metric regressed against the previous set marked.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::{DEFAULT_METRICS, METRICS, Metric, Testbed, Verdict, compare_values};
use crate::analysis::ResultSet;
use crate::analysis::stats::Estimate;
use crate::report::charts::{self, Chart, RenderedChart, Series};
use crate::results::record::RunStatus;

/// One result set on the time line.
#[derive(Clone, Debug, Serialize)]
pub struct HistoryPoint {
    /// Position on the x axis (1-based).
    pub index: usize,
    /// Folder.
    pub dir: String,
    /// When it was recorded (the first run's start).
    pub when: String,
    /// Software that produced it.
    pub software: String,
}

/// The history of one testbed.
#[derive(Clone, Debug, Serialize)]
pub struct TestbedHistory {
    /// The testbed.
    pub testbed: String,
    /// Result sets, oldest first.
    pub points: Vec<HistoryPoint>,
    /// One chart per metric (and per group of up to eight configurations).
    pub charts: Vec<RenderedChart>,
    /// Regressions found between consecutive sets.
    pub regressions: Vec<String>,
}

/// The history page.
#[derive(Clone, Debug, Serialize)]
pub struct History {
    /// Title.
    pub title: String,
    /// Per testbed.
    pub testbeds: Vec<TestbedHistory>,
    /// When the page was generated.
    pub generated_at: String,
}

const PER_CHART: usize = 8;

/// Builds the history of `sets` for `metrics` (the defaults when empty).
pub fn history(sets: &[ResultSet], metrics: &[Metric], threshold_pct: f64) -> History {
    let metrics: Vec<Metric> = if metrics.is_empty() {
        METRICS
            .iter()
            .filter(|m| DEFAULT_METRICS.contains(&m.name))
            .copied()
            .collect()
    } else {
        metrics.to_vec()
    };
    let when = |s: &ResultSet| {
        s.records
            .iter()
            .map(|r| r.started_at.clone())
            .min()
            .unwrap_or_default()
    };
    let mut by_testbed: BTreeMap<Testbed, Vec<&ResultSet>> = BTreeMap::new();
    for s in sets {
        if let Some(r) = s.records.first() {
            by_testbed.entry(Testbed::of(r)).or_default().push(s);
        }
    }
    let mut testbeds = Vec::new();
    for (tb, mut group) in by_testbed {
        group.sort_by_key(|s| when(s));
        let points: Vec<HistoryPoint> = group
            .iter()
            .enumerate()
            .map(|(i, s)| HistoryPoint {
                index: i + 1,
                dir: s.dir.display().to_string(),
                when: when(s),
                software: s.records.first().map(super::software).unwrap_or_default(),
            })
            .collect();
        // Configurations in first-seen order, with a label.
        let mut configs: Vec<(String, String)> = Vec::new();
        let mut seen = BTreeSet::new();
        for s in &group {
            for r in &s.records {
                if seen.insert(r.config_key.clone()) {
                    configs.push((
                        r.config_key.clone(),
                        format!("{} b={}", r.spec.model_label(), r.spec.batch_size),
                    ));
                }
            }
        }
        let values = |s: &ResultSet, key: &str, m: &Metric| -> Vec<f64> {
            s.records
                .iter()
                .filter(|r| r.config_key == key && r.status == RunStatus::Ok)
                .filter_map(|r| (m.read)(r))
                .filter(|v| v.is_finite())
                .collect()
        };
        let mut charts = Vec::new();
        let mut regressions = Vec::new();
        for m in &metrics {
            for (part, chunk) in configs.chunks(PER_CHART).enumerate() {
                let mut chart = Chart {
                    title: format!(
                        "{}{}",
                        m.name,
                        if configs.len() > PER_CHART { format!(" (part {})", part + 1) } else { String::new() }
                    ),
                    x_label: "result set (oldest first)".into(),
                    y_label: format!("{} ({}, {} is better)", m.name, m.unit, if m.direction == super::Direction::Higher { "higher" } else { "lower" }),
                    note: "Mean over seeds with 95% band; large markers: regressions against the previous set (Welch's t-test, p < 0.05, and beyond the threshold).".into(),
                    ..Chart::default()
                };
                let mut flagged = Vec::new();
                for (k, (key, label)) in chunk.iter().enumerate() {
                    let est: Vec<(f64, Option<Estimate>)> = group
                        .iter()
                        .enumerate()
                        .map(|(i, s)| ((i + 1) as f64, Estimate::of(&values(s, key, m))))
                        .collect();
                    let line: Vec<(f64, f64)> = est
                        .iter()
                        .filter_map(|(x, e)| Some((*x, e.as_ref()?.mean)))
                        .collect();
                    let band = est
                        .iter()
                        .filter_map(|(x, e)| {
                            let e = e.as_ref()?;
                            let h = e.ci95?;
                            Some((*x, e.mean - h, e.mean + h))
                        })
                        .collect();
                    for i in 1..group.len() {
                        let (prev, cur) = (values(group[i - 1], key, m), values(group[i], key, m));
                        let (verdict, _, change, _) = compare_values(&prev, &cur, m, threshold_pct);
                        if verdict == Verdict::Regressed {
                            if let Some(e) = &est[i].1 {
                                flagged.push(((i + 1) as f64, e.mean));
                            }
                            regressions.push(format!(
                                "{label}: {} {:.1}% worse in set {} ({}) than in set {}",
                                m.name,
                                -change.unwrap_or(0.0),
                                i + 1,
                                group[i].dir.display(),
                                i
                            ));
                        }
                    }
                    chart.series.push(Series {
                        name: label.clone(),
                        points: line,
                        band,
                        markers: true,
                        color: Some(k),
                        ..Series::default()
                    });
                }
                if !flagged.is_empty() {
                    chart.series.push(Series {
                        name: "regression".into(),
                        points: flagged,
                        markers: true,
                        markers_only: true,
                        color: Some(3),
                        ..Series::default()
                    });
                }
                charts.push(charts::render(&chart, 560, 340));
            }
        }
        testbeds.push(TestbedHistory {
            testbed: tb.describe(),
            points,
            charts,
            regressions,
        });
    }
    History {
        title: "batchbench history".into(),
        testbeds,
        generated_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    }
}
