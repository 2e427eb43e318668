//! Findings: the report's headline sentences, each computed from the aggregated
//! figures with its uncertainty, saying so plainly when a difference is within noise.

use serde::{Deserialize, Serialize};

use super::stats::Estimate;
use super::{ConfigSummary, Family, TunedGroup, config_name};
use crate::fmt::{pct_ci, secs};

/// A computed statement for the report's headline.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// Short title: "Fastest to 95%".
    pub title: String,
    /// The sentence, with figures and uncertainty.
    pub text: String,
}

/// Every finding, in the order the report shows them.
pub(super) fn findings(
    configs: &[ConfigSummary],
    families: &[Family],
    tuned: &[TunedGroup],
) -> Vec<Finding> {
    let mut out = Vec::new();
    out.extend(fastest_to_target(configs, families));
    out.extend(best_accuracy(configs, families));
    out.extend(generalization_gap(configs, families));
    out.extend(loss_floor(configs, families));
    out.extend(critical_batch(families));
    out.extend(tuned_learning_rates(configs, tuned));
    out.extend(sharpness(configs, families));
    out.extend(noise_scale(configs, families));
    out.extend(engines(configs, families));
    out.extend(failures(configs, families));
    out
}

/// Per language-model family on a source whose best test loss is known: how far each
/// batch size's final test loss is from it.
fn loss_floor(configs: &[ConfigSummary], families: &[Family]) -> Vec<Finding> {
    let mut out = Vec::new();
    for fam in families {
        let members: Vec<&ConfigSummary> = fam.configs.iter().map(|&i| &configs[i]).collect();
        let Some(floor) = members.iter().find_map(|c| c.loss_floor_nats) else {
            continue;
        };
        let parts: Vec<String> = members
            .iter()
            .filter_map(|c| {
                let l = c.final_test_loss.as_ref()?;
                Some(format!(
                    "batch {}: {:.4}{} ({:+.1}%)",
                    c.batch_size,
                    l.mean,
                    l.ci95.map_or(String::new(), |h| format!(" ± {h:.4}")),
                    (l.mean / floor - 1.0) * 100.0
                ))
            })
            .collect();
        if parts.is_empty() {
            continue;
        }
        let prefix = if fam.label.is_empty() {
            String::new()
        } else {
            format!("{}: ", fam.label)
        };
        out.push(Finding {
            title: "Distance from the entropy floor".into(),
            text: format!(
                "{prefix}the source's best achievable test loss is {floor:.4} nats/token; final test loss (mean over seeds, above the floor): {}.",
                parts.join("; ")
            ),
        });
    }
    out
}

/// Per recipe trained by several engines: each engine beside the reference (Burn when
/// it is there, else the first) on final test accuracy, time to target, steady-state
/// throughput, GPU utilization, peak memory and energy — "within noise" where the 95%
/// intervals over seeds overlap.
fn engines(configs: &[ConfigSummary], families: &[Family]) -> Vec<Finding> {
    let mut recipes: Vec<(&str, Vec<&ConfigSummary>)> = Vec::new();
    for c in configs {
        match recipes.iter_mut().find(|(k, _)| *k == c.recipe_key) {
            Some((_, members)) => members.push(c),
            None => recipes.push((&c.recipe_key, vec![c])),
        }
    }
    let mut out = Vec::new();
    for (_, members) in recipes.into_iter().filter(|(_, m)| m.len() > 1) {
        let reference = members
            .iter()
            .copied()
            .find(|c| c.engine == "burn")
            .unwrap_or(members[0]);
        // The series label without the engine names the recipe.
        let recipe: Vec<&str> = families[reference.family]
            .label
            .split(", ")
            .filter(|p| !p.is_empty() && *p != reference.engine)
            .collect();
        let mut title = format!("Engines at batch {}", reference.batch_size);
        if !recipe.is_empty() {
            title.push_str(&format!(" ({})", recipe.join(", ")));
        }
        let mut sentences = Vec::new();
        for other in members.iter().filter(|c| c.engine != reference.engine) {
            let (a, b) = (&other.engine, &reference.engine);
            let mut parts = Vec::new();
            if let (Some(x), Some(y)) = (other.final_test_acc, reference.final_test_acc) {
                parts.push(format!(
                    "final test accuracy {} vs {}{}",
                    pct_ci(&x),
                    pct_ci(&y),
                    noise(&x, &y)
                ));
            }
            if let Some(t) = other.target {
                let show = |v: Option<f64>| v.map_or("never".to_string(), secs);
                parts.push(format!(
                    "time to {}: {} vs {}",
                    t.describe(),
                    show(other.time_to_target_s),
                    show(reference.time_to_target_s)
                ));
            }
            let figures: [(&str, Option<Estimate>, Option<Estimate>, fn(f64) -> String); 3] = [
                (
                    "steady-state samples/s",
                    other.samples_per_s,
                    reference.samples_per_s,
                    |v| crate::fmt::big(v),
                ),
                (
                    "steady GPU utilization",
                    other.gpu_util_steady,
                    reference.gpu_util_steady,
                    |v| format!("{v:.0}%"),
                ),
                ("energy", other.energy_j, reference.energy_j, |v| {
                    format!("{v:.0} J")
                }),
            ];
            for (what, x, y, show) in figures {
                if let (Some(x), Some(y)) = (x, y) {
                    let ratio = if y.mean != 0.0 {
                        format!(" ({:.2}×)", x.mean / y.mean)
                    } else {
                        String::new()
                    };
                    parts.push(format!(
                        "{what} {} vs {}{ratio}{}",
                        show(x.mean),
                        show(y.mean),
                        noise(&x, &y)
                    ));
                }
            }
            if let (Some(x), Some(y)) = (other.gpu_mem_peak_mib, reference.gpu_mem_peak_mib) {
                parts.push(format!("peak GPU memory {x:.0} vs {y:.0} MiB"));
            }
            let failed = |c: &ConfigSummary| {
                let list: Vec<String> =
                    c.failures.iter().map(|(s, n)| format!("{n} {s}")).collect();
                if list.is_empty() {
                    "none".to_string()
                } else {
                    list.join(", ")
                }
            };
            if !other.failures.is_empty() || !reference.failures.is_empty() {
                parts.push(format!(
                    "failed runs: {} vs {}",
                    failed(other),
                    failed(reference)
                ));
            }
            sentences.push(format!("{a} vs {b}: {}.", parts.join("; ")));
        }
        out.push(Finding {
            title,
            text: sentences.join(" "),
        });
    }
    out
}

/// ` (within noise)` when the two estimates' 95% intervals overlap (a single seed has
/// no interval, and the accuracy figure already says "one run").
fn noise(a: &Estimate, b: &Estimate) -> &'static str {
    match (a.ci95, b.ci95) {
        (Some(_), Some(_)) if a.overlaps(b) => " (within noise)",
        _ => "",
    }
}

/// The configurations that share each value of `key`, in first-seen order: findings
/// compare only configurations with the same target, or on the same data.
fn grouped_by<K: PartialEq>(
    configs: &[ConfigSummary],
    key: impl Fn(&ConfigSummary) -> K,
) -> Vec<Vec<ConfigSummary>> {
    let mut groups: Vec<(K, Vec<ConfigSummary>)> = Vec::new();
    for c in configs {
        let k = key(c);
        match groups.iter_mut().find(|(g, _)| *g == k) {
            Some((_, members)) => members.push(c.clone()),
            None => groups.push((k, vec![c.clone()])),
        }
    }
    groups.into_iter().map(|(_, g)| g).collect()
}

/// Fastest to each target, and whether the runner-up is within noise.
fn fastest_to_target(configs: &[ConfigSummary], families: &[Family]) -> Vec<Finding> {
    grouped_by(configs, |c| c.target.map(|t| (t.metric, t.value.to_bits())))
        .iter()
        .flat_map(|group| fastest_to_one_target(group, families))
        .collect()
}

fn fastest_to_one_target(configs: &[ConfigSummary], families: &[Family]) -> Vec<Finding> {
    let mut out = Vec::new();
    let name = |c: &ConfigSummary| config_name(c, families);
    let target = configs.iter().find_map(|c| c.target);
    if let Some(t) = target {
        let mut reached: Vec<&ConfigSummary> = configs
            .iter()
            .filter(|c| c.time_to_target_s.is_some())
            .collect();
        reached.sort_by(|a, b| {
            a.time_to_target_s
                .unwrap()
                .total_cmp(&b.time_to_target_s.unwrap())
        });
        let title = format!("Fastest to {}", t.describe());
        match reached.as_slice() {
            [] => out.push(Finding {
                title,
                text: format!(
                    "No configuration reached {} in the budget (counted as never, MLPerf-style).",
                    t.describe()
                ),
            }),
            [best, rest @ ..] => {
                let range = |c: &ConfigSummary| {
                    let v: Vec<f64> = c.time_to_target_runs.iter().flatten().copied().collect();
                    (
                        v.iter().copied().fold(f64::INFINITY, f64::min),
                        v.iter().copied().fold(0.0, f64::max),
                    )
                };
                let (lo, hi) = range(best);
                let mut text = format!(
                    "{}: median {} of training ({} of {} runs reached it; range {} to {}).",
                    name(best),
                    secs(best.time_to_target_s.unwrap()),
                    best.reached,
                    best.runs,
                    secs(lo),
                    secs(hi)
                );
                if let Some(second) = rest.first() {
                    let (lo2, _) = range(second);
                    if lo2 <= hi {
                        text.push_str(&format!(
                            " Within noise of {} (median {}): their per-seed times overlap.",
                            name(second),
                            secs(second.time_to_target_s.unwrap())
                        ));
                    } else {
                        text.push_str(&format!(
                            " Next: {} at {} ({:.1}× slower; every seed slower than every seed of the fastest).",
                            name(second),
                            secs(second.time_to_target_s.unwrap()),
                            second.time_to_target_s.unwrap() / best.time_to_target_s.unwrap()
                        ));
                    }
                }
                let never: Vec<String> = configs
                    .iter()
                    .filter(|c| c.reached == 0)
                    .map(|c| name(c))
                    .collect();
                if !never.is_empty() {
                    text.push_str(&format!(" Never reached: {}.", never.join(", ")));
                }
                out.push(Finding { title, text });
            }
        }
    }
    out
}

/// The best final test accuracy, and the configurations within noise of it.
fn best_accuracy(configs: &[ConfigSummary], families: &[Family]) -> Vec<Finding> {
    let groups = grouped_by(configs, |c| c.dataset.clone());
    let several = groups.len() > 1;
    groups
        .iter()
        .flat_map(|group| {
            let mut found = best_accuracy_on_one_dataset(group, families);
            if several {
                found
                    .iter_mut()
                    .for_each(|f| f.title = format!("{} on {}", f.title, group[0].dataset));
            }
            found
        })
        .collect()
}

fn best_accuracy_on_one_dataset(configs: &[ConfigSummary], families: &[Family]) -> Vec<Finding> {
    let mut out = Vec::new();
    let name = |c: &ConfigSummary| config_name(c, families);
    let mut by_acc: Vec<&ConfigSummary> = configs
        .iter()
        .filter(|c| c.final_test_acc.is_some())
        .collect();
    by_acc.sort_by(|a, b| {
        b.final_test_acc
            .unwrap()
            .mean
            .total_cmp(&a.final_test_acc.unwrap().mean)
    });
    if let Some(best) = by_acc.first() {
        let e = best.final_test_acc.unwrap();
        let ties: Vec<String> = by_acc[1..]
            .iter()
            .filter(|c| c.final_test_acc.unwrap().overlaps(&e) && e.ci95.is_some())
            .map(|c| name(c))
            .collect();
        let mut text = format!(
            "{}: {} final test accuracy (mean ± 95% CI over seeds).",
            name(best),
            pct_ci(&e)
        );
        if !ties.is_empty() {
            let shown: Vec<String> = ties.iter().take(5).cloned().collect();
            let more = if ties.len() > 5 {
                format!(" and {} more", ties.len() - 5)
            } else {
                String::new()
            };
            text.push_str(&format!(" Within noise: {}{more}.", shown.join(", ")));
        }
        out.push(Finding {
            title: "Best final test accuracy".into(),
            text,
        });
    }
    out
}

/// Per family with several batch sizes: where the train−test gap opens beyond noise.
fn generalization_gap(configs: &[ConfigSummary], families: &[Family]) -> Vec<Finding> {
    let mut out = Vec::new();
    for fam in families.iter().filter(|f| f.configs.len() >= 2) {
        let members: Vec<&ConfigSummary> = fam
            .configs
            .iter()
            .map(|&i| &configs[i])
            .filter(|c| c.gap.is_some())
            .collect();
        let Some(first) = members.first() else {
            continue;
        };
        let base = first.gap.unwrap();
        let opens = members[1..].iter().find(|c| {
            let g = c.gap.unwrap();
            g.ci95.is_some() && base.ci95.is_some() && g.interval().0 > base.interval().1
        });
        let last = members.last().unwrap();
        let prefix = fam.prefix();
        let text = match opens {
            Some(c) => format!(
                "{prefix}the train−test gap grows beyond noise from batch {} ({:.1} points ± {}) to batch {} ({:.1} ± {}); at batch {} it is {:.1} points.",
                first.batch_size,
                base.mean * 100.0,
                base.ci95
                    .map_or("–".into(), |h| format!("{:.1}", h * 100.0)),
                c.batch_size,
                c.gap.unwrap().mean * 100.0,
                c.gap
                    .unwrap()
                    .ci95
                    .map_or("–".into(), |h| format!("{:.1}", h * 100.0)),
                last.batch_size,
                last.gap.unwrap().mean * 100.0
            ),
            None => format!(
                "{prefix}no batch size shows a train−test gap larger than batch {}'s ({:.1} points) beyond noise; at batch {} it is {:.1} points.",
                first.batch_size,
                base.mean * 100.0,
                last.batch_size,
                last.gap.unwrap().mean * 100.0
            ),
        };
        out.push(Finding {
            title: "Generalization gap".into(),
            text,
        });
    }
    out
}

/// Per family: the fitted critical batch size.
fn critical_batch(families: &[Family]) -> Vec<Finding> {
    let mut out = Vec::new();
    for fam in families {
        if let Some(cb) = &fam.critical_batch {
            let prefix = fam.prefix();
            out.push(Finding {
                title: "Critical batch size".into(),
                text: format!("{prefix}{}", cb.describe()),
            });
        }
    }
    out
}

/// Per tuned group: the best learning rate per batch size.
fn tuned_learning_rates(configs: &[ConfigSummary], tuned: &[TunedGroup]) -> Vec<Finding> {
    let mut out = Vec::new();
    for t in tuned {
        let picks = |set: &[usize]| -> String {
            set.iter()
                .map(|&i| {
                    format!(
                        "batch {} → lr {}",
                        configs[i].batch_size,
                        crate::fmt::lr(configs[i].lr)
                    )
                })
                .collect::<Vec<_>>()
                .join("; ")
        };
        let mut text = format!(
            "best learning rate per batch size by steps to target (else final test accuracy) among {}: {}.",
            t.lrs
                .iter()
                .map(|l| crate::fmt::lr(*l))
                .collect::<Vec<_>>()
                .join(", "),
            picks(&t.best)
        );
        if !t.fastest.is_empty() && t.fastest != t.best {
            text.push_str(&format!(
                " By training time on this hardware the picks differ: {}.",
                picks(&t.fastest)
            ));
        }
        if let Some(cb) = &t.critical_batch {
            text.push_str(&format!(" On the tuned curve, {}", cb.describe()));
        }
        out.push(Finding {
            title: "Tuned per batch size".into(),
            text,
        });
    }
    out
}

/// Per family: the sharpness of the smallest- vs the largest-batch minimum.
fn sharpness(configs: &[ConfigSummary], families: &[Family]) -> Vec<Finding> {
    let mut out = Vec::new();
    for fam in families.iter().filter(|f| f.configs.len() >= 2) {
        let with: Vec<&ConfigSummary> = fam
            .configs
            .iter()
            .map(|&i| &configs[i])
            .filter(|c| c.sharpness.contains_key("1e-3"))
            .collect();
        if let (Some(a), Some(b)) = (with.first(), with.last())
            && a.batch_size != b.batch_size
        {
            let (ea, eb) = (a.sharpness["1e-3"], b.sharpness["1e-3"]);
            let verdict = if ea.ci95.is_some() && eb.ci95.is_some() && !ea.overlaps(&eb) {
                if eb.mean > ea.mean {
                    "sharper, beyond noise (as Keskar et al. report)"
                } else {
                    "flatter, beyond noise (unlike Keskar et al.'s observation)"
                }
            } else {
                "no different within noise"
            };
            let ci = |e: &Estimate| e.ci95.map(|h| format!(" ± {h:.2}")).unwrap_or_default();
            let prefix = fam.prefix();
            out.push(Finding {
                title: "Sharpness".into(),
                text: format!(
                    "{prefix}ε = 1e-3 sharpness is {:.2}{} at batch {} and {:.2}{} at batch {}: the large-batch minimum is {verdict}.",
                    ea.mean, ci(&ea), a.batch_size, eb.mean, ci(&eb), b.batch_size
                ),
            });
        }
    }
    out
}

/// The gradient noise scale at the end of training, against the critical batch.
fn noise_scale(configs: &[ConfigSummary], families: &[Family]) -> Vec<Finding> {
    let mut out = Vec::new();
    let last_noise: Vec<f64> = configs
        .iter()
        .filter_map(|c| Some(c.curve.last()?.probes.get("noise_scale")?.mean))
        .filter(|v| v.is_finite() && *v > 0.0)
        .collect();
    if let Some(med) = crate::analysis::stats::median_with_infinite(
        &last_noise.iter().map(|v| Some(*v)).collect::<Vec<_>>(),
    ) {
        let lo = last_noise.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = last_noise.iter().copied().fold(0.0, f64::max);
        let crit: Vec<String> = families
            .iter()
            .filter_map(|f| f.critical_batch.as_ref()?.b_crit)
            .map(|b| format!("{b:.0}"))
            .collect();
        let text = format!(
            "B_simple = tr(Σ)/|G|² at the end of training: median {med:.0} over configurations (range {lo:.0} to {hi:.0}). {}",
            if crit.is_empty() {
                "No critical batch size could be fitted from steps-to-target to compare it with."
                    .to_string()
            } else {
                format!(
                    "The critical batch size fitted on steps vs examples to target: {} (McCandlish et al. predict B_crit ≈ B_simple, within a small factor).",
                    crit.join(", ")
                )
            }
        );
        out.push(Finding {
            title: "Gradient noise scale".into(),
            text,
        });
    }
    out
}

/// The failed runs.
fn failures(configs: &[ConfigSummary], families: &[Family]) -> Vec<Finding> {
    let mut out = Vec::new();
    let name = |c: &ConfigSummary| config_name(c, families);
    let failed: Vec<String> = configs
        .iter()
        .filter(|c| !c.failures.is_empty())
        .map(|c| {
            let f: Vec<String> = c.failures.iter().map(|(s, n)| format!("{n} {s}")).collect();
            format!("{} ({})", name(c), f.join(", "))
        })
        .collect();
    if !failed.is_empty() {
        out.push(Finding {
            title: "Failed runs".into(),
            text: format!(
                "{}. Failed runs count as not reaching the target.",
                failed.join("; ")
            ),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::scaling::CriticalBatch;

    fn est(values: &[f64]) -> Option<Estimate> {
        Estimate::of(values)
    }

    /// A configuration of family `family` at `batch`, with its per-seed final test
    /// accuracies and times to target (`None` = not reached).
    fn config(family: usize, batch: u64, acc: &[f64], times: &[Option<f64>]) -> ConfigSummary {
        let reached: Vec<f64> = times.iter().flatten().copied().collect();
        let mut sorted: Vec<f64> = times.iter().map(|t| t.unwrap_or(f64::INFINITY)).collect();
        sorted.sort_by(f64::total_cmp);
        let median = sorted
            .get(sorted.len() / 2)
            .copied()
            .filter(|t| t.is_finite());
        ConfigSummary {
            family,
            batch_size: batch,
            runs: times.len().max(acc.len()),
            ok: acc.len(),
            final_test_acc: est(acc),
            target_acc: Some(0.9),
            target: Some(crate::suite::schema::Target::accuracy(0.9)),
            reached: reached.len(),
            time_to_target_s: median,
            time_to_target_runs: times.to_vec(),
            ..ConfigSummary::default()
        }
    }

    fn family(label: &str, configs: Vec<usize>) -> Family {
        Family {
            label: label.into(),
            source: String::new(),
            configs,
            critical_batch: None,
        }
    }

    #[test]
    fn fastest_to_target_tells_overlap_from_a_clear_lead() {
        let fams = [family("", vec![0, 1, 2])];
        let apart = [
            config(0, 32, &[0.95; 3], &[Some(1.0), Some(1.1), Some(1.2)]),
            config(0, 64, &[0.95; 3], &[Some(2.0), Some(2.1), Some(2.2)]),
            config(0, 128, &[0.5; 3], &[None, None, None]),
        ];
        let f = fastest_to_target(&apart, &fams);
        assert_eq!(f[0].title, "Fastest to test accuracy ≥ 90.0%");
        assert!(f[0].text.starts_with("batch 32: median"), "{}", f[0].text);
        assert!(f[0].text.contains("every seed slower"), "{}", f[0].text);
        assert!(
            f[0].text.contains("Never reached: batch 128."),
            "{}",
            f[0].text
        );

        let overlap = [
            config(0, 32, &[0.95; 3], &[Some(1.0), Some(1.5), Some(2.0)]),
            config(0, 64, &[0.95; 3], &[Some(1.8), Some(2.1), Some(2.2)]),
        ];
        assert!(
            fastest_to_target(&overlap, &fams)[0]
                .text
                .contains("Within noise of batch 64")
        );

        let none = [config(0, 32, &[0.5], &[None])];
        assert!(
            fastest_to_target(&none, &fams)[0]
                .text
                .starts_with("No configuration reached test accuracy ≥ 90.0%")
        );
        let no_target = [ConfigSummary::default()];
        assert!(fastest_to_target(&no_target, &fams).is_empty());
    }

    #[test]
    fn best_accuracy_names_the_ties_within_noise_only() {
        let fams = [family("", vec![0, 1, 2])];
        let configs = [
            config(0, 32, &[0.95, 0.96, 0.97], &[]),
            config(0, 64, &[0.94, 0.96, 0.965], &[]),
            config(0, 128, &[0.80, 0.81, 0.82], &[]),
        ];
        let f = best_accuracy(&configs, &fams);
        assert_eq!(f.len(), 1);
        assert!(f[0].text.starts_with("batch 32: 96.0%"), "{}", f[0].text);
        assert!(
            f[0].text.contains("Within noise: batch 64."),
            "{}",
            f[0].text
        );
        assert!(!f[0].text.contains("batch 128"), "{}", f[0].text);
        assert!(best_accuracy(&[], &fams).is_empty());
    }

    #[test]
    fn the_gap_opens_only_beyond_both_intervals() {
        let fams = [family("mlp", vec![0, 1, 2])];
        let mut configs = [
            config(0, 32, &[0.9], &[]),
            config(0, 256, &[0.9], &[]),
            config(0, 1024, &[0.9], &[]),
        ];
        configs[0].gap = est(&[0.01, 0.012, 0.011]);
        configs[1].gap = est(&[0.011, 0.013, 0.02]);
        configs[2].gap = est(&[0.05, 0.06, 0.055]);
        let f = generalization_gap(&configs, &fams);
        assert!(
            f[0].text
                .starts_with("mlp: the train−test gap grows beyond noise from batch 32"),
            "{}",
            f[0].text
        );
        assert!(f[0].text.contains("to batch 1024"), "{}", f[0].text);

        configs[2].gap = est(&[0.0, 0.02, 0.011]);
        let f = generalization_gap(&configs, &fams);
        assert!(
            f[0].text.starts_with("mlp: no batch size shows"),
            "{}",
            f[0].text
        );
        // A family with one batch size says nothing.
        assert!(generalization_gap(&configs[..1], &[family("", vec![0])]).is_empty());
    }

    #[test]
    fn critical_batch_is_stated_per_fitted_family() {
        let fit = CriticalBatch {
            points: 4,
            batch_range: (32.0, 1024.0),
            s_min: Some(100.0),
            e_min: Some(25_600.0),
            b_crit: Some(256.0),
            r2: 0.99,
            seeds: 3,
            b_crit_interval: Some((180.0, 400.0)),
            resamples_with_b_crit: 990,
        };
        let mut fams = [family("a", vec![]), family("b", vec![])];
        fams[1].critical_batch = Some(fit);
        let f = critical_batch(&fams);
        assert_eq!(f.len(), 1);
        assert!(
            f[0].text.starts_with("b: fitting S = S_min + E_min/B"),
            "{}",
            f[0].text
        );
        assert!(
            f[0].text.contains("B_crit = E_min/S_min ≈ 256 (95% interval 180 to 400 from resampling the seeds, 990 of 1000"),
            "{}",
            f[0].text
        );
    }

    #[test]
    fn tuned_learning_rates_list_the_pick_per_batch() {
        let mut configs = [config(0, 32, &[0.9], &[]), config(1, 256, &[0.9], &[])];
        configs[0].lr = 0.1;
        configs[1].lr = 0.4;
        let tuned = [TunedGroup {
            label: String::new(),
            lrs: vec![0.1, 0.4],
            best: vec![0, 1],
            fastest: vec![0, 1],
            critical_batch: None,
        }];
        let f = tuned_learning_rates(&configs, &tuned);
        assert!(
            f[0].text
                .contains("by steps to target (else final test accuracy) among 0.1, 0.4: batch 32 → lr 0.1; batch 256 → lr 0.4."),
            "{}",
            f[0].text
        );
        assert!(!f[0].text.contains("By training time"));
    }

    #[test]
    fn sharpness_compares_the_extreme_batches() {
        let fams = [family("", vec![0, 1])];
        let mut configs = [config(0, 32, &[0.9], &[]), config(0, 1024, &[0.9], &[])];
        configs[0]
            .sharpness
            .insert("1e-3".into(), est(&[1.0, 1.1, 1.2]).unwrap());
        configs[1]
            .sharpness
            .insert("1e-3".into(), est(&[5.0, 5.2, 5.4]).unwrap());
        let f = sharpness(&configs, &fams);
        assert!(f[0].text.contains("sharper, beyond noise"), "{}", f[0].text);
        configs[1]
            .sharpness
            .insert("1e-3".into(), est(&[0.5, 1.0, 1.5]).unwrap());
        assert!(
            sharpness(&configs, &fams)[0]
                .text
                .contains("no different within noise")
        );
        configs[1].sharpness.clear();
        assert!(sharpness(&configs, &fams).is_empty());
    }

    #[test]
    fn noise_scale_reports_the_median_of_the_last_points() {
        let point = |b: f64| crate::analysis::CurveAggregate {
            epoch: 1.0,
            step: 10,
            samples: 320,
            train_s: 1.0,
            wall_s: 1.0,
            test_acc: est(&[0.9]).unwrap(),
            train_acc: est(&[0.9]).unwrap(),
            test_loss: est(&[0.3]).unwrap(),
            train_loss: est(&[0.3]).unwrap(),
            probes: [("noise_scale".to_string(), est(&[b]).unwrap())].into(),
        };
        let mut configs = [
            config(0, 32, &[0.9], &[]),
            config(0, 64, &[0.9], &[]),
            config(0, 128, &[0.9], &[]),
        ];
        for (c, b) in configs.iter_mut().zip([100.0, 300.0, 200.0]) {
            c.curve = vec![point(b)];
        }
        let fams = [family("", vec![0, 1, 2])];
        let f = noise_scale(&configs, &fams);
        assert!(
            f[0].text
                .contains("median 200 over configurations (range 100 to 300)"),
            "{}",
            f[0].text
        );
        assert!(
            f[0].text.contains("No critical batch size could be fitted"),
            "{}",
            f[0].text
        );
        assert!(noise_scale(&configs[..0], &fams).is_empty());
    }

    #[test]
    fn failures_name_each_configuration_and_status() {
        let fams = [family("", vec![0, 1])];
        let mut configs = [config(0, 32, &[0.9], &[]), config(0, 4096, &[], &[])];
        configs[1].failures.insert("oom".into(), 2);
        let f = failures(&configs, &fams);
        assert_eq!(
            f[0].text,
            "batch 4096 (2 oom). Failed runs count as not reaching the target."
        );
        assert!(failures(&configs[..1], &fams).is_empty());
    }

    #[test]
    fn engines_are_compared_within_a_recipe_with_ratios_and_noise() {
        let fams = [family("burn", vec![0, 2]), family("pytorch", vec![1, 3])];
        let with = |family: usize, batch: u64, engine: &str, acc: &[f64], rate: &[f64]| {
            let mut c = config(family, batch, acc, &[Some(1.0), Some(1.2)]);
            c.engine = engine.into();
            c.recipe_key = format!("recipe-{batch}");
            c.samples_per_s = est(rate);
            c
        };
        let configs = [
            with(0, 64, "burn", &[0.90, 0.91], &[1000.0, 1010.0]),
            with(1, 64, "pytorch", &[0.905, 0.91], &[2000.0, 2020.0]),
            with(0, 512, "burn", &[0.88, 0.89], &[5000.0, 5050.0]),
            with(1, 512, "pytorch", &[0.80, 0.801], &[5000.0, 5020.0]),
        ];
        let f = engines(&configs, &fams);
        assert_eq!(f.len(), 2, "one finding per recipe: {f:?}");
        assert_eq!(f[0].title, "Engines at batch 64");
        assert!(
            f[0].text
                .starts_with("pytorch vs burn: final test accuracy"),
            "{}",
            f[0].text
        );
        assert!(f[0].text.contains("(within noise)"), "{}", f[0].text);
        assert!(
            f[0].text.contains("samples/s 2010 vs 1005 (2.00×)"),
            "{}",
            f[0].text
        );
        let accuracy = f[1].text.split(';').next().unwrap();
        assert!(!accuracy.contains("within noise"), "{}", f[1].text);
        // A recipe one engine trained alone has nothing to compare.
        assert!(engines(&configs[..1], &fams).is_empty());
    }
}
