//! `advise`'s page and terminal summary, drawn from `advise.json` alone (the advice and
//! its check against a sweep are plain data; nothing is recomputed here).

use serde::Serialize;

use super::charts::{self, Chart, RenderedChart, Series};
use super::sections::{H, W};
use crate::analysis::advice::{AdviceFile, Band, Prediction};
use crate::fmt::{big, lr, secs};

/// A table as the template receives it.
#[derive(Serialize)]
struct Table {
    columns: Vec<Column>,
    rows: Vec<Vec<String>>,
}

#[derive(Serialize)]
struct Column {
    title: &'static str,
    numeric: bool,
}

fn table(columns: &[(&'static str, bool)], rows: Vec<Vec<String>>) -> Table {
    Table {
        columns: columns
            .iter()
            .map(|&(title, numeric)| Column { title, numeric })
            .collect(),
        rows,
    }
}

/// The page's data.
#[derive(Serialize)]
struct Page<'a> {
    title: String,
    sentence: &'a str,
    facts: Vec<(&'static str, String)>,
    notes: Vec<String>,
    charts: Vec<RenderedChart>,
    candidates: Table,
    pilot: Table,
    verification: Option<Verified>,
    generator: &'a str,
    command: String,
    created_at: &'a str,
}

#[derive(Serialize)]
struct Verified {
    sentence: String,
    table: Table,
}

fn opt(v: Option<f64>, f: impl Fn(f64) -> String) -> String {
    v.map_or("–".into(), f)
}

fn band_text(b: Option<Band>, f: impl Fn(f64) -> String) -> String {
    b.map_or("–".into(), |b| {
        if (b.high - b.low).abs() <= 1e-12 * b.mid.abs() {
            f(b.mid)
        } else {
            format!("{} ({}–{})", f(b.mid), f(b.low), f(b.high))
        }
    })
}

fn steps_text(v: f64) -> String {
    big(v.round())
}

/// The noise scale in words: the value and its interval.
fn noise_text(file: &AdviceFile) -> String {
    file.advice
        .noise
        .as_ref()
        .map_or("not measured".into(), |n| {
            format!(
                "{} (95% interval {} to {}, from {})",
                big(n.value),
                big(n.low),
                n.high.map_or("unbounded".into(), big),
                n.window
            )
        })
}

/// The self-contained HTML page.
pub fn page(file: &AdviceFile) -> anyhow::Result<String> {
    let a = &file.advice;
    let mut facts = vec![
        ("Configuration", a.config.clone()),
        ("Device", a.device.clone()),
        ("Target", a.target.clone()),
        (
            "Learning rate",
            if a.lr_grid.is_empty() {
                format!("rule: {}", a.lr_rule)
            } else {
                format!(
                    "tuned over {}; the pilot picks, the model ε(B) = ε_max/(1 + B_noise/B) carries it to the other batch sizes",
                    a.lr_grid
                        .iter()
                        .map(|v| lr(*v))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            },
        ),
        (
            "Pilot",
            format!(
                "batch {} ({}){}",
                a.pilot_batch,
                a.pilot_reason,
                match (a.pilot_lr, a.pilot_steps) {
                    (Some(l), Some(s)) => format!("; learning rate {}, target at step {s}", lr(l)),
                    (Some(l), None) => format!("; learning rate {}, target not reached", lr(l)),
                    _ => String::new(),
                }
            ),
        ),
        ("Noise scale B_noise", noise_text(file)),
        (
            "Recommended",
            format!(
                "time-optimal {}; compute-efficient (nearest B_noise) {}; largest that fits {}",
                opt(a.recommendation.time_optimal.map(|b| b as f64), big),
                opt(a.recommendation.compute_efficient.map(|b| b as f64), big),
                opt(a.recommendation.largest_fit.map(|b| b as f64), big)
            ),
        ),
        (
            "Cost",
            format!(
                "{} wall ({} measurements now, {} from earlier records){}",
                secs(file.wall_s),
                file.measured_now,
                file.reused,
                file.stopped
                    .as_ref()
                    .map(|s| format!("; stopped early: {s} — rerun to continue"))
                    .unwrap_or_default()
            ),
        ),
    ];
    if let Some(v) = &file.verification {
        facts.push(("Checked against", v.sweep.clone()));
    }
    let candidates = table(
        &[
            ("batch", true),
            ("fits", false),
            ("time/step", true),
            ("examples/s", true),
            ("GPU util %", true),
            ("GPU mem MiB", true),
            ("learning rate", true),
            ("steps to target", true),
            ("examples to target", true),
            ("time to target", true),
        ],
        a.predictions
            .iter()
            .zip(&a.step_times)
            .map(|(p, t)| {
                vec![
                    p.batch_size.to_string(),
                    if p.fits {
                        "yes".into()
                    } else {
                        t.status.as_str().into()
                    },
                    opt(p.step_s, secs),
                    opt(t.samples_per_s, big),
                    opt(t.gpu_util_mean, |v| format!("{v:.0}")),
                    opt(t.gpu_mem_peak_mib, |v| format!("{v:.0}")),
                    lr_text(p),
                    band_text(p.steps, steps_text),
                    band_text(p.examples, steps_text),
                    band_text(p.time_s, secs),
                ]
            })
            .collect(),
    );
    let pilot = table(
        &[
            ("learning rate", true),
            ("steps allowed", true),
            ("status", false),
            ("steps to target", true),
            ("time to target", true),
            ("run wall time", true),
        ],
        a.pilot
            .iter()
            .map(|p| {
                vec![
                    lr(p.lr),
                    p.budget_steps.to_string(),
                    p.status.as_str().into(),
                    opt(p.steps_to_target.map(|s| s as f64), steps_text),
                    opt(p.time_to_target_s, secs),
                    opt(p.wall_s, secs),
                ]
            })
            .collect(),
    );
    let verification = file.verification.as_ref().map(|v| Verified {
        sentence: v.sentence.clone(),
        table: table(
            &[
                ("batch", true),
                ("predicted steps", true),
                ("measured steps (best lr)", true),
                ("predicted time", true),
                ("measured time (fastest lr)", true),
                ("measured at advised lr", true),
            ],
            v.points
                .iter()
                .map(|m| {
                    let p = a.predictions.iter().find(|p| p.batch_size == m.batch_size);
                    vec![
                        m.batch_size.to_string(),
                        band_text(p.and_then(|p| p.steps), steps_text),
                        opt(m.steps_to_target, |s| {
                            format!("{} (lr {})", steps_text(s), lr(m.steps_lr))
                        }),
                        band_text(p.and_then(|p| p.time_s), secs),
                        opt(m.time_to_target_s, |s| {
                            format!("{} (lr {})", secs(s), lr(m.time_lr))
                        }),
                        opt(m.time_at_advised_lr_s, secs),
                    ]
                })
                .collect(),
        ),
    });
    let mut notes = a.notes.clone();
    notes.push(
        "Predictions assume the learning rate is tuned at every batch size (McCandlish et al. 2018); under a fixed rule they hold where the rule is near the optimum. Bands: the noise scale's 95% interval carried through the model. Times are steady training seconds (no evaluation, no warm-up)."
            .into(),
    );
    let data = Page {
        title: format!("batchbench advise — {}", file.suite),
        sentence: &a.recommendation.sentence,
        facts,
        notes,
        charts: charts_of(file),
        candidates,
        pilot,
        verification,
        generator: &file.batchbench,
        command: file.command.join(" "),
        created_at: &file.created_at,
    };
    super::render_page("advise.html", data)
}

fn lr_text(p: &Prediction) -> String {
    match (p.lr, p.lr_grid) {
        (Some(l), Some(g)) if (g / l - 1.0).abs() > 1e-9 => format!("{} (grid: {})", lr(l), lr(g)),
        (Some(l), _) => lr(l),
        _ => "–".into(),
    }
}

fn charts_of(file: &AdviceFile) -> Vec<RenderedChart> {
    let a = &file.advice;
    let measured = file.verification.as_ref();
    let predicted = |name: &str, f: &dyn Fn(&Prediction) -> Option<Band>| Series {
        name: name.into(),
        points: a
            .predictions
            .iter()
            .filter_map(|p| Some((p.batch_size as f64, f(p)?.mid)))
            .collect(),
        band: a
            .predictions
            .iter()
            .filter_map(|p| {
                let b = f(p)?;
                Some((p.batch_size as f64, b.low, b.high))
            })
            .collect(),
        markers: true,
        color: Some(0),
        ..Series::default()
    };
    let sweep = |f: &dyn Fn(&crate::analysis::advice::SweepPoint) -> Option<f64>| {
        measured.map(|v| Series {
            name: "measured (full sweep)".into(),
            points: v
                .points
                .iter()
                .filter_map(|m| Some((m.batch_size as f64, f(m)?)))
                .collect(),
            markers: true,
            color: Some(1),
            ..Series::default()
        })
    };
    let chart = |title: &str, y: &str, note: &str, series: Vec<Series>| Chart {
        title: title.into(),
        x_label: "batch size (log)".into(),
        y_label: y.into(),
        x_log: true,
        y_log: true,
        series,
        note: note.into(),
        ..Chart::default()
    };

    let mut time = vec![predicted("predicted", &|p| p.time_s)];
    time.extend(sweep(&|m| m.time_to_target_s));
    if let Some(b) = a.recommendation.time_optimal
        && let Some(t) = a
            .predictions
            .iter()
            .find(|p| p.batch_size == b)
            .and_then(|p| p.time_s)
    {
        time.push(Series {
            name: format!("recommended: {b}"),
            points: vec![(b as f64, t.mid)],
            markers_only: true,
            color: Some(3),
            ..Series::default()
        });
    }
    let mut steps = vec![predicted("predicted", &|p| p.steps)];
    steps.extend(sweep(&|m| m.steps_to_target));
    if let Some(s) = a.pilot_steps {
        steps.push(Series {
            name: format!("pilot (batch {})", a.pilot_batch),
            points: vec![(a.pilot_batch as f64, s as f64)],
            markers_only: true,
            color: Some(2),
            ..Series::default()
        });
    }
    let mut examples = vec![predicted("predicted", &|p| p.examples)];
    examples.extend(sweep(&|m| Some(m.steps_to_target? * m.batch_size as f64)));

    let throughput = vec![Series {
        name: "measured".into(),
        points: a
            .step_times
            .iter()
            .filter_map(|t| Some((t.batch_size as f64, t.samples_per_s?)))
            .collect(),
        markers: true,
        color: Some(0),
        ..Series::default()
    }];
    let mut list = vec![
        chart(
            "Time to target vs batch size",
            "training seconds to target (log)",
            "Predicted: steps to target × measured seconds per step; band: the noise scale's interval. The recommendation is the least predicted time.",
            time,
        ),
        chart(
            "Steps to target vs batch size",
            "optimizer steps to target (log)",
            "S(B) = S_min (1 + B_noise/B), through the pilot's measured steps.",
            steps,
        ),
        chart(
            "Examples to target vs batch size",
            "training examples to target (log)",
            "E(B) = E_min (1 + B/B_noise): flat below B_noise, growing like B above it.",
            examples,
        ),
        chart(
            "Throughput vs batch size",
            "training examples per second (log)",
            "Steady state after the warm-up steps, one short run per candidate in its own worker.",
            throughput,
        ),
    ];
    if a.step_times.iter().any(|t| t.gpu_util_mean.is_some()) {
        list.push(Chart {
            title: "GPU utilization vs batch size".into(),
            x_label: "batch size (log)".into(),
            y_label: "GPU utilization, steady steps (%)".into(),
            x_log: true,
            y_range: Some((0.0, 100.0)),
            series: vec![Series {
                name: "NVML".into(),
                points: a
                    .step_times
                    .iter()
                    .filter_map(|t| Some((t.batch_size as f64, t.gpu_util_mean?)))
                    .collect(),
                markers: true,
                ..Series::default()
            }],
            note: "Where utilization saturates, larger batches stop buying time per example."
                .into(),
            ..Chart::default()
        });
    }
    if !a.trajectory.is_empty() {
        let all: Vec<(f64, f64)> = a
            .trajectory
            .iter()
            .filter_map(|p| Some((p.step as f64, p.b_simple?)))
            .collect();
        let used: Vec<(f64, f64)> = a
            .trajectory
            .iter()
            .filter(|p| p.used)
            .filter_map(|p| Some((p.step as f64, p.b_simple?)))
            .collect();
        let mut series = vec![
            Series {
                name: "B_simple per evaluation".into(),
                points: all,
                markers: true,
                color: Some(0),
                ..Series::default()
            },
            Series {
                name: "used".into(),
                points: used,
                markers_only: true,
                color: Some(3),
                ..Series::default()
            },
        ];
        if let (Some(n), Some(first), Some(last)) = (
            &a.noise,
            a.trajectory.iter().find(|p| p.used),
            a.trajectory.iter().rev().find(|p| p.used),
        ) {
            series.push(Series {
                name: format!("B_noise = {}", big(n.value)),
                points: vec![(first.step as f64, n.value), (last.step as f64, n.value)],
                dashed: true,
                color: Some(7),
                ..Series::default()
            });
        }
        list.push(Chart {
            title: "Gradient noise scale during the pilot".into(),
            x_label: "optimizer step".into(),
            y_label: "B_simple = tr(Σ)/|G|² (log)".into(),
            y_log: true,
            series,
            note: "It grows as the loss falls; the advice uses the points just before the target (ratio of mean trace to mean |G|²). Points whose |G|² estimate was not positive are not drawn.".into(),
            ..Chart::default()
        });
    }
    list.iter().map(|c| charts::render(c, W, H)).collect()
}

/// The terminal summary: the sentence, the candidates, the check.
pub fn summary(file: &AdviceFile) -> String {
    use std::fmt::Write;
    let a = &file.advice;
    let mut out = String::new();
    let _ = writeln!(out, "{}", a.recommendation.sentence);
    let _ = writeln!(out, "noise scale: {}", noise_text(file));
    let _ = writeln!(
        out,
        "{:>8} {:>11} {:>13} {:>10} {:>22} {:>28}",
        "batch", "time/step", "examples/s", "lr", "steps to target", "time to target"
    );
    for (p, t) in a.predictions.iter().zip(&a.step_times) {
        let mark = if Some(p.batch_size) == a.recommendation.time_optimal {
            " ◀"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "{:>8} {:>11} {:>13} {:>10} {:>22} {:>28}{mark}",
            p.batch_size,
            if p.fits {
                opt(p.step_s, secs)
            } else {
                "oom".into()
            },
            opt(t.samples_per_s, big),
            opt(p.lr, lr),
            band_text(p.steps, steps_text),
            band_text(p.time_s, secs)
        );
    }
    for n in &a.notes {
        let _ = writeln!(out, "note: {n}");
    }
    if let Some(s) = &file.stopped {
        let _ = writeln!(
            out,
            "measuring stopped early ({s}); rerun the same command to continue"
        );
    }
    if let Some(v) = &file.verification {
        let _ = writeln!(out, "{}", v.sentence);
    }
    out
}
