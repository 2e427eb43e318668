//! Regression tracking: compare two result sets configuration by configuration.
//!
//! Runs are matched by configuration key (the run's spec without seed, device and
//! suite), so the same study measured on two machines, two commits or two backends
//! lines up. For each metric, the per-seed values of both sides are compared with
//! Welch's two-sided t-test (unequal variances) and a relative threshold: a change
//! counts only when it is statistically significant (p < 0.05) **and** at least the
//! threshold in size, in the direction that makes it worse (a regression) or better.
//! With a single value on a side no test is possible; the threshold alone decides and
//! the verdict says so.
//!
//! Results are only compared with their own reference (MLPerf's rule): when the two
//! sides ran on different testbeds, the comparison is announced as hardware A vs B.

pub mod history;

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::analysis::ResultSet;
use crate::analysis::stats::{Estimate, welch_p_value};
use crate::results::record::{RunRecord, RunStatus};

/// Significance level of the t-test.
pub const ALPHA: f64 = 0.05;

/// Whether larger values of a metric are better.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Higher is better (throughput, accuracy).
    Higher,
    /// Lower is better (time, memory, energy).
    Lower,
}

/// A metric that can be compared.
#[derive(Clone, Copy, Debug)]
pub struct Metric {
    /// Name as on the command line and in records.
    pub name: &'static str,
    /// Unit for display.
    pub unit: &'static str,
    /// Which way is better.
    pub direction: Direction,
    /// Reads the metric from a record (`None` when not measured or not reached).
    pub read: fn(&RunRecord) -> Option<f64>,
    /// Changes smaller than this, in the metric's unit, are noise whatever their
    /// relative size: timer and sampler resolution (a warm-up of 0.5 ms → 0.7 ms is
    /// +40% and means nothing).
    pub floor: f64,
}

/// The metrics `compare` knows, the defaults first.
pub const METRICS: &[Metric] = &[
    Metric {
        name: "samples_per_s",
        unit: "samples/s",
        direction: Direction::Higher,
        read: |r| r.summary.samples_per_s,
        floor: 1.0,
    },
    Metric {
        name: "warmup_s",
        unit: "s",
        direction: Direction::Lower,
        read: |r| r.summary.warmup_s,
        floor: 0.01,
    },
    Metric {
        name: "time_to_target_s",
        unit: "s",
        direction: Direction::Lower,
        read: |r| r.summary.time_to_target_s,
        floor: 0.01,
    },
    Metric {
        name: "final_test_acc",
        unit: "",
        direction: Direction::Higher,
        read: |r| r.summary.final_test_acc,
        floor: 0.001,
    },
    Metric {
        name: "gpu_mem_peak_mib",
        unit: "MiB",
        direction: Direction::Lower,
        read: |r| r.telemetry.gpu_mem_peak_mib,
        floor: 16.0,
    },
    Metric {
        name: "energy_to_target_j",
        unit: "J",
        direction: Direction::Lower,
        read: |r| r.summary.energy_to_target_j,
        floor: 1.0,
    },
    Metric {
        name: "train_s",
        unit: "s",
        direction: Direction::Lower,
        read: |r| r.summary.train_s,
        floor: 0.01,
    },
    Metric {
        name: "gpu_util_mean",
        unit: "%",
        direction: Direction::Higher,
        read: |r| r.telemetry.gpu_util_mean,
        floor: 1.0,
    },
    Metric {
        name: "energy_j",
        unit: "J",
        direction: Direction::Lower,
        read: |r| r.telemetry.energy_j,
        floor: 1.0,
    },
];

/// The metrics compared when none are named.
pub const DEFAULT_METRICS: &[&str] = &[
    "samples_per_s",
    "warmup_s",
    "time_to_target_s",
    "final_test_acc",
    "gpu_mem_peak_mib",
    "energy_to_target_j",
];

/// Looks up metrics by name; `Err` names the unknown one and the allowed names.
pub fn metrics_by_name(names: &[String]) -> Result<Vec<Metric>, String> {
    names
        .iter()
        .map(|n| {
            METRICS
                .iter()
                .find(|m| m.name == n)
                .copied()
                .ok_or_else(|| {
                    let allowed: Vec<&str> = METRICS.iter().map(|m| m.name).collect();
                    let hint = crate::suite::closest(n, &allowed)
                        .map(|b| format!(" (did you mean `{b}`?)"))
                        .unwrap_or_default();
                    format!(
                        "unknown metric `{n}`; allowed: {}{hint}",
                        allowed.join(", ")
                    )
                })
        })
        .collect()
}

/// How a metric changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Worse, significantly and beyond the threshold.
    Regressed,
    /// Better, significantly and beyond the threshold.
    Improved,
    /// Within noise or below the threshold.
    Unchanged,
    /// Measured on one side only, or on neither.
    Missing,
}

/// The identity of the hardware and backend a result set ran on.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Testbed {
    /// GPU model × count (empty on CPU machines).
    pub gpus: String,
    /// NVIDIA driver.
    pub driver: String,
    /// CUDA version the driver supports.
    pub cuda: String,
    /// CPU model.
    pub cpu: String,
    /// Burn backend.
    pub backend: String,
    /// The wgpu adapter (wgpu runs), labelled software when it runs on the CPU.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub adapter: String,
    /// Float precision(s).
    pub precision: String,
}

impl Testbed {
    /// The testbed of a record.
    pub fn of(r: &RunRecord) -> Testbed {
        let e = &r.env;
        let gpus = match e.gpus.first() {
            Some(g) => format!("{} × {}", g.name, e.gpus.len()),
            None => String::new(),
        };
        Testbed {
            gpus,
            driver: e.gpus.first().map(|g| g.driver.clone()).unwrap_or_default(),
            cuda: e
                .gpus
                .first()
                .and_then(|g| g.cuda_driver.clone())
                .unwrap_or_default(),
            cpu: e.cpu.clone(),
            backend: e.backend.clone(),
            adapter: e.adapter.as_ref().map(|a| a.label()).unwrap_or_default(),
            precision: r.spec.precision.as_str().to_string(),
        }
    }

    /// One line: `NVIDIA H100 × 1, driver 580, CUDA 13.0, cuda backend, f32` or
    /// `Intel Xeon, flex backend, f32`.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if !self.gpus.is_empty() {
            parts.push(self.gpus.clone());
            parts.push(format!("driver {}", self.driver));
            if !self.cuda.is_empty() {
                parts.push(format!("CUDA {}", self.cuda));
            }
        }
        parts.push(self.cpu.clone());
        parts.push(format!("{} backend", self.backend));
        if !self.adapter.is_empty() {
            parts.push(self.adapter.clone());
        }
        parts.push(self.precision.clone());
        parts.join(", ")
    }
}

/// The software that produced a result set.
pub fn software(r: &RunRecord) -> String {
    let engine = match &r.env.engine {
        Some(e) if e.name != "burn" => format!(", {}", crate::fmt::engine(e)),
        _ => String::new(),
    };
    format!(
        "batchbench {} ({}), Burn {}{engine}",
        r.env.batchbench, r.env.git, r.env.burn
    )
}

/// One metric of one configuration, compared.
#[derive(Clone, Debug, Serialize)]
pub struct MetricComparison {
    /// The configuration (label).
    pub config: String,
    /// The configuration key.
    pub config_key: String,
    /// Metric name.
    pub metric: String,
    /// Unit.
    pub unit: String,
    /// Which way is better.
    pub direction: Direction,
    /// Base side over its runs.
    pub base: Option<Estimate>,
    /// New side over its runs.
    pub new: Option<Estimate>,
    /// new / base of the means.
    pub ratio: Option<f64>,
    /// Relative change in percent, positive = better.
    pub change_pct: Option<f64>,
    /// Welch's p-value, when both sides have two or more values.
    pub p_value: Option<f64>,
    /// The verdict.
    pub verdict: Verdict,
    /// The verdict as shown: "regressed"/"improved" on one testbed, "B worse"/"B better"
    /// when the two sides ran on different testbeds (a hardware comparison).
    pub label: String,
    /// Why, in a few words.
    pub note: String,
}

/// A whole comparison.
#[derive(Clone, Debug, Serialize)]
pub struct Comparison {
    /// Base folder.
    pub base_dir: String,
    /// New folder.
    pub new_dir: String,
    /// Base testbed(s).
    pub base_testbed: Vec<String>,
    /// New testbed(s).
    pub new_testbed: Vec<String>,
    /// Base software.
    pub base_software: Vec<String>,
    /// New software.
    pub new_software: Vec<String>,
    /// Whether the testbeds differ (then this is hardware A vs B, not a regression test).
    pub testbeds_differ: bool,
    /// The engines each side trained with (`burn`, `pytorch`, …).
    pub engines: (Vec<String>, Vec<String>),
    /// Threshold, percent.
    pub threshold_pct: f64,
    /// Every metric of every matched configuration.
    pub rows: Vec<MetricComparison>,
    /// Configurations only in base.
    pub only_base: Vec<String>,
    /// Configurations only in new.
    pub only_new: Vec<String>,
    /// Counts by verdict.
    pub counts: BTreeMap<String, usize>,
    /// Records read on each side (base, new).
    pub records: (usize, usize),
}

impl Comparison {
    /// Why a regression gate must fail even without a regression: a side with no
    /// readable record, or configurations of the base missing from the new side
    /// (missing results are a failure of a gate, never a pass).
    pub fn gate_failure(&self) -> Option<String> {
        let (b, n) = (&self.base_dir, &self.new_dir);
        match self.records {
            (0, _) => Some(format!(
                "{b} holds no readable record, so nothing was compared"
            )),
            (_, 0) => Some(format!(
                "{n} holds no readable record, so nothing was compared"
            )),
            _ if !self.only_base.is_empty() => Some(format!(
                "{} configuration(s) of the base are missing from {n}: {}",
                self.only_base.len(),
                self.only_base
                    .iter()
                    .take(5)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join("; ")
            )),
            _ => None,
        }
    }

    /// Whether any metric regressed on the same testbed (across testbeds a worse
    /// figure is the hardware's, not a regression).
    pub fn has_regression(&self) -> bool {
        !self.testbeds_differ && self.rows.iter().any(|r| r.verdict == Verdict::Regressed)
    }
}

/// How a configuration is named in comparisons and exports: suite, model, batch and
/// learning rate, and the engine when it is not Burn (`quickstart mlp[64] b=32 lr=0.1`,
/// `quickstart mlp[64] b=32 lr=0.1 [pytorch]`).
pub fn config_label(r: &RunRecord) -> String {
    let s = &r.spec;
    let engine = if s.engine.is_burn() {
        String::new()
    } else {
        format!(" [{}]", s.engine.as_str())
    };
    format!(
        "{} {} b={} lr={}{engine}",
        r.suite,
        s.model_label(),
        s.batch_size,
        crate::fmt::lr(s.lr)
    )
}

/// Compares one metric's values.
pub fn compare_values(
    base: &[f64],
    new: &[f64],
    metric: &Metric,
    threshold_pct: f64,
) -> (Verdict, Option<f64>, Option<f64>, String) {
    let direction = metric.direction;
    let (Some(b), Some(n)) = (Estimate::of(base), Estimate::of(new)) else {
        let note = match (base.is_empty(), new.is_empty()) {
            (true, true) => "not measured",
            (true, false) => "not measured in base",
            _ => "not measured in new",
        };
        return (Verdict::Missing, None, None, note.into());
    };
    if b.mean == 0.0 {
        return (Verdict::Unchanged, None, None, "base is zero".into());
    }
    let ratio = n.mean / b.mean;
    let better_pct = match direction {
        Direction::Higher => (ratio - 1.0) * 100.0,
        Direction::Lower => (1.0 - ratio) * 100.0,
    };
    if (n.mean - b.mean).abs() < metric.floor {
        let unit = if metric.unit.is_empty() {
            String::new()
        } else {
            format!(" {}", metric.unit)
        };
        return (
            Verdict::Unchanged,
            Some(ratio),
            Some(better_pct),
            format!("below the noise floor ({}{unit})", metric.floor),
        );
    }
    let p = welch_p_value(base, new);
    let big = better_pct.abs() >= threshold_pct;
    let (verdict, note) = match p {
        Some(p) if p < ALPHA && big => (
            if better_pct < 0.0 {
                Verdict::Regressed
            } else {
                Verdict::Improved
            },
            format!("p = {p:.3}"),
        ),
        Some(p) if p >= ALPHA => (Verdict::Unchanged, format!("within noise (p = {p:.2})")),
        Some(_) => (
            Verdict::Unchanged,
            format!("significant but below {threshold_pct}%"),
        ),
        None if big => (
            if better_pct < 0.0 {
                Verdict::Regressed
            } else {
                Verdict::Improved
            },
            "one value per side: threshold only, no test".into(),
        ),
        None => (
            Verdict::Unchanged,
            format!("below {threshold_pct}% (one value per side, no test)"),
        ),
    };
    (verdict, Some(ratio), Some(better_pct), note)
}

/// Compares result set `new` against `base` on `metrics`.
pub fn compare(
    base: &ResultSet,
    new: &ResultSet,
    metrics: &[Metric],
    threshold_pct: f64,
) -> Comparison {
    fn group(s: &ResultSet) -> BTreeMap<String, Vec<&RunRecord>> {
        let mut m: BTreeMap<String, Vec<&RunRecord>> = BTreeMap::new();
        for r in &s.records {
            m.entry(r.config_key.clone()).or_default().push(r);
        }
        m
    }
    let (gb, gn) = (group(base), group(new));
    let label = |runs: &[&RunRecord]| config_label(runs[0]);
    let testbeds =
        |s: &ResultSet| -> BTreeSet<Testbed> { s.records.iter().map(Testbed::of).collect() };
    let (tb, tn) = (testbeds(base), testbeds(new));
    let testbeds_differ = tb != tn;
    let engines = |s: &ResultSet| -> Vec<String> {
        let set: BTreeSet<&str> = s.records.iter().map(|r| r.spec.engine.as_str()).collect();
        set.into_iter().map(str::to_string).collect()
    };
    let mut rows = Vec::new();
    for (key, b_runs) in &gb {
        let Some(n_runs) = gn.get(key) else { continue };
        for m in metrics {
            // Failed runs measure nothing; unreached targets are left out (and counted).
            let values = |runs: &[&RunRecord]| -> Vec<f64> {
                runs.iter()
                    .filter(|r| r.status == RunStatus::Ok)
                    .filter_map(|r| (m.read)(r))
                    .filter(|v| v.is_finite())
                    .collect()
            };
            let (bv, nv) = (values(b_runs), values(n_runs));
            let (verdict, ratio, change, mut note) = compare_values(&bv, &nv, m, threshold_pct);
            // Unreached targets are not "not measured": say how many runs reached it.
            // Energy to target is only discussed where energy was measured at all.
            let about_target = m.name == "time_to_target_s"
                || (m.name == "energy_to_target_j" && !(bv.is_empty() && nv.is_empty()));
            if about_target {
                let reached = |runs: &[&RunRecord]| {
                    runs.iter()
                        .filter(|r| r.status == RunStatus::Ok)
                        .filter(|r| r.summary.time_to_target_s.is_some())
                        .count()
                };
                let (rb, rn) = (reached(b_runs), reached(n_runs));
                let counts = format!(
                    "{rb}/{} base, {rn}/{} new runs reached the target",
                    b_runs.len(),
                    n_runs.len()
                );
                if rb == 0 && rn == 0 {
                    note = format!("target not reached ({counts})");
                } else if rb != b_runs.len() || rn != n_runs.len() {
                    note += &format!("; {counts}");
                }
            }
            rows.push(MetricComparison {
                config: label(b_runs),
                config_key: key.clone(),
                metric: m.name.to_string(),
                unit: m.unit.to_string(),
                direction: m.direction,
                base: Estimate::of(&bv),
                new: Estimate::of(&nv),
                ratio,
                change_pct: change,
                p_value: welch_p_value(&bv, &nv),
                verdict,
                label: verdict_label(verdict, testbeds_differ),
                note,
            });
        }
    }
    let only = |a: &BTreeMap<String, Vec<&RunRecord>>,
                b: &BTreeMap<String, Vec<&RunRecord>>|
     -> Vec<String> {
        a.iter()
            .filter(|(k, _)| !b.contains_key(*k))
            .map(|(_, runs)| label(runs))
            .collect()
    };
    let softwares = |s: &ResultSet| -> Vec<String> {
        s.records
            .iter()
            .map(software)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect()
    };
    let mut counts = BTreeMap::new();
    for r in &rows {
        *counts.entry(r.label.clone()).or_insert(0) += 1;
    }
    Comparison {
        base_dir: base.dir.display().to_string(),
        new_dir: new.dir.display().to_string(),
        base_testbed: tb.iter().map(Testbed::describe).collect(),
        new_testbed: tn.iter().map(Testbed::describe).collect(),
        base_software: softwares(base),
        new_software: softwares(new),
        testbeds_differ,
        engines: (engines(base), engines(new)),
        threshold_pct,
        only_base: only(&gb, &gn),
        only_new: only(&gn, &gb),
        rows,
        counts,
        records: (base.records.len(), new.records.len()),
    }
}

/// How a verdict is shown: across testbeds a better or worse figure is the hardware's.
fn verdict_label(verdict: Verdict, testbeds_differ: bool) -> String {
    match (verdict, testbeds_differ) {
        (Verdict::Regressed, true) => "B worse".into(),
        (Verdict::Improved, true) => "B better".into(),
        (v, _) => format!("{v:?}").to_lowercase(),
    }
}

impl Comparison {
    /// The header lines: what was compared, on what.
    pub fn header(&self) -> Vec<String> {
        let mut lines = vec![
            format!("base: {} ({})", self.base_dir, self.base_testbed.join("; ")),
            format!("new:  {} ({})", self.new_dir, self.new_testbed.join("; ")),
            format!(
                "software: base {} · new {}",
                self.base_software.join(", "),
                self.new_software.join(", ")
            ),
        ];
        if self.engines.0 != self.engines.1 {
            lines.insert(
                0,
                format!(
                    "DIFFERENT ENGINES: base trained with {}, new with {}; configurations are matched within one engine only, so no difference between engines is reported as a regression (another engine's configurations are listed as only in base or only in new)",
                    self.engines.0.join(", "),
                    self.engines.1.join(", ")
                ),
            );
        }
        if self.testbeds_differ {
            lines.insert(
                0,
                format!(
                    "DIFFERENT TESTBEDS: this compares hardware {} (A) with {} (B), not a regression of one testbed",
                    self.base_testbed.join("; "),
                    self.new_testbed.join("; ")
                ),
            );
        }
        lines
    }

    /// A plain-text table for the terminal. "change" is positive when better.
    pub fn terminal_table(&self) -> String {
        let mut out = self.header().join("\n") + "\n\n";
        let rows: Vec<[String; 6]> = self
            .rows
            .iter()
            .map(|r| {
                [
                    r.config.clone(),
                    r.metric.clone(),
                    crate::fmt::estimate(&r.base, &r.unit),
                    crate::fmt::estimate(&r.new, &r.unit),
                    crate::fmt::change(r.change_pct),
                    format!("{} ({})", r.label, r.note),
                ]
            })
            .collect();
        // comfy-table fits the table to the terminal's width (wrapping the long
        // configuration and verdict cells), and leaves it whole when piped.
        let mut table = comfy_table::Table::new();
        table
            .load_preset(comfy_table::presets::NOTHING)
            .set_content_arrangement(comfy_table::ContentArrangement::Dynamic)
            .set_header([
                "configuration",
                "metric",
                "base",
                "new",
                "change",
                "verdict",
            ]);
        for r in rows {
            table.add_row(r);
        }
        for (i, column) in table.column_iter_mut().enumerate() {
            column.set_padding((0, 2));
            if (2..5).contains(&i) {
                column.set_cell_alignment(comfy_table::CellAlignment::Right);
            }
        }
        for line in table.lines() {
            out += line.trim_end();
            out += "\n";
        }
        for c in &self.only_base {
            out += &format!("only in base: {c}\n");
        }
        for c in &self.only_new {
            out += &format!("only in new: {c}\n");
        }
        let verdicts = if self.testbeds_differ {
            ["B worse", "B better", "unchanged", "missing"]
        } else {
            ["regressed", "improved", "unchanged", "missing"]
        };
        let tally: Vec<String> = verdicts
            .iter()
            .map(|v| format!("{} {v}", self.counts.get(*v).unwrap_or(&0)))
            .collect();
        out += &format!(
            "\n{} (threshold {}%, Welch's t-test p < {ALPHA}; change > 0 is better)\n",
            tally.join(", "),
            self.threshold_pct
        );
        out
    }

    /// Markdown for a pull-request comment.
    pub fn markdown(&self) -> String {
        let mut md = String::from("## batchbench compare\n\n");
        for h in self.header() {
            md += &format!("- {}\n", crate::fmt::md(&h));
        }
        md += "\n| configuration | metric | base | new | change | verdict |\n|---|---|---:|---:|---:|---|\n";
        for r in &self.rows {
            md += &format!(
                "| {} | {} | {} | {} | {} | {} |\n",
                crate::fmt::md(&r.config),
                r.metric,
                crate::fmt::estimate(&r.base, &r.unit),
                crate::fmt::estimate(&r.new, &r.unit),
                crate::fmt::change(r.change_pct),
                format!("**{}** ({})", r.label, crate::fmt::md(&r.note))
            );
        }
        for c in &self.only_base {
            md += &format!("\nOnly in base: {}", crate::fmt::md(c));
        }
        for c in &self.only_new {
            md += &format!("\nOnly in new: {}", crate::fmt::md(c));
        }
        md += &format!(
            "\n\nChange is positive when better. A metric regresses when Welch's t-test over seeds gives p < {ALPHA} and the change exceeds {}%.\n",
            self.threshold_pct
        );
        md
    }
}
