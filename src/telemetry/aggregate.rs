//! From a series of samples to the record's `telemetry` block: figures per phase
//! window, peaks, energy.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{Phase, Sample};

/// The time series kept in a record is downsampled to at most this many points.
pub const MAX_SERIES_POINTS: usize = 600;

/// Aggregates over one window (the whole run, or one phase).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct WindowStats {
    /// Samples in the window.
    pub samples: usize,
    /// Mean GPU utilization, percent.
    pub gpu_util_mean: Option<f64>,
    /// Median GPU utilization.
    pub gpu_util_p50: Option<f64>,
    /// 95th percentile GPU utilization.
    pub gpu_util_p95: Option<f64>,
    /// Highest GPU utilization.
    pub gpu_util_max: Option<f64>,
    /// Mean memory-controller utilization, percent.
    pub mem_util_mean: Option<f64>,
    /// Mean power draw, watts.
    pub power_mean_w: Option<f64>,
    /// Mean process CPU use, percent of all cores.
    pub cpu_util_mean: Option<f64>,
}

/// The record's `telemetry` block.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TelemetryReport {
    /// Samplers that ran.
    pub sources: Vec<String>,
    /// Why GPU telemetry is missing, when it is (`null` when NVML worked).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu_unavailable: Option<String>,
    /// Why other figures are `null`, by field name (e.g. `proc_gpu_mem_peak_mib`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub notes: BTreeMap<String, String>,
    /// Sampling interval, milliseconds.
    pub interval_ms: u64,
    /// Mean GPU utilization over training, warm-up included (the record contract, ARCHITECTURE.md).
    pub gpu_util_mean: Option<f64>,
    /// Mean GPU utilization over training after warm-up (the steady state).
    #[serde(default)]
    pub gpu_util_steady_mean: Option<f64>,
    /// Peak device memory in use (all processes), MiB.
    pub gpu_mem_peak_mib: Option<f64>,
    /// Peak device memory in use above what was in use before the worker started, MiB.
    #[serde(default)]
    pub gpu_mem_delta_peak_mib: Option<f64>,
    /// Peak device memory used by this run's process (NVML's per-process figure), MiB.
    pub proc_gpu_mem_peak_mib: Option<f64>,
    /// Energy over the run, joules: counter difference, or integrated power.
    pub energy_j: Option<f64>,
    /// `counter` (NVML total energy) or `integrated_power` (trapezoidal over power draws).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub energy_source: Option<String>,
    /// Mean SM clock during training, MHz.
    pub sm_clock_mean_mhz: Option<f64>,
    /// Highest GPU temperature, °C.
    pub temperature_max_c: Option<f64>,
    /// Mean process CPU use during training, percent of all logical cores.
    pub cpu_util_mean: Option<f64>,
    /// Peak resident memory of the worker, MiB.
    pub rss_peak_mib: Option<f64>,
    /// Peak host memory in use, MiB.
    pub sys_mem_peak_mib: Option<f64>,
    /// Aggregates during training steps, warm-up included.
    pub train: WindowStats,
    /// Aggregates during training steps after warm-up.
    #[serde(default)]
    pub steady: WindowStats,
    /// Aggregates during evaluation.
    pub eval: WindowStats,
    /// The series, downsampled to at most [`MAX_SERIES_POINTS`].
    pub series: Vec<Sample>,
}

fn values(series: &[&Sample], f: impl Fn(&Sample) -> Option<f64>) -> Vec<f64> {
    series
        .iter()
        .filter_map(|s| f(s))
        .filter(|v| v.is_finite())
        .collect()
}

fn mean(v: &[f64]) -> Option<f64> {
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

fn max(v: &[f64]) -> Option<f64> {
    v.iter().copied().reduce(f64::max)
}

/// The `q`-quantile (0..1) by linear interpolation between order statistics.
pub fn quantile(v: &[f64], q: f64) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    let mut sorted = v.to_vec();
    sorted.sort_by(f64::total_cmp);
    let pos = q.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    Some(sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64))
}

fn window(series: &[&Sample]) -> WindowStats {
    let util = values(series, |s| s.gpu_util);
    WindowStats {
        samples: series.len(),
        gpu_util_mean: mean(&util),
        gpu_util_p50: quantile(&util, 0.5),
        gpu_util_p95: quantile(&util, 0.95),
        gpu_util_max: max(&util),
        mem_util_mean: mean(&values(series, |s| s.mem_util)),
        power_mean_w: mean(&values(series, |s| s.power_w)),
        cpu_util_mean: mean(&values(series, |s| s.cpu_util)),
    }
}

/// Energy between two times, joules: from the counter where both ends have it,
/// otherwise by integrating power draws (trapezoids). `None` without either.
pub fn energy_between(series: &[Sample], from_s: f64, to_s: f64) -> Option<(f64, &'static str)> {
    let inside: Vec<&Sample> = series
        .iter()
        .filter(|s| s.t_s >= from_s && s.t_s <= to_s)
        .collect();
    let counters: Vec<(f64, f64)> = inside
        .iter()
        .filter_map(|s| s.energy_counter_j.map(|e| (s.t_s, e)))
        .collect();
    if counters.len() >= 2 {
        let (first, last) = (counters[0].1, counters[counters.len() - 1].1);
        return Some(((last - first).max(0.0), "counter"));
    }
    let power: Vec<(f64, f64)> = inside
        .iter()
        .filter_map(|s| s.power_w.map(|p| (s.t_s, p)))
        .collect();
    if power.len() >= 2 {
        let joules = power
            .windows(2)
            .map(|w| 0.5 * (w[0].1 + w[1].1) * (w[1].0 - w[0].0))
            .sum();
        return Some((joules, "integrated_power"));
    }
    None
}

/// The channels a chart draws, for the min/max downsampling.
const CHANNELS: &[fn(&Sample) -> Option<f64>] = &[
    |s| s.gpu_util,
    |s| s.mem_util,
    |s| s.gpu_mem_mib,
    |s| s.gpu_mem_delta_mib,
    |s| s.proc_gpu_mem_mib,
    |s| s.power_w,
    |s| s.sm_clock_mhz,
    |s| s.temperature_c,
    |s| s.cpu_util,
    |s| s.rss_mib,
    |s| s.sys_mem_mib,
];

/// Indices kept with `buckets` buckets: per bucket, the samples holding each
/// channel's minimum and maximum; plus the first and last sample and every phase
/// change (so phase shading stays exact).
fn extremes(series: &[Sample], buckets: usize) -> std::collections::BTreeSet<usize> {
    let size = series.len().div_ceil(buckets.max(1));
    let mut keep = std::collections::BTreeSet::from([0, series.len() - 1]);
    keep.extend((1..series.len()).filter(|&i| series[i].phase != series[i - 1].phase));
    for (b, chunk) in series.chunks(size).enumerate() {
        let start = b * size;
        keep.insert(start);
        for channel in CHANNELS {
            let values = chunk
                .iter()
                .enumerate()
                .filter_map(|(i, s)| Some((i, channel(s)?)));
            let lo = values.clone().min_by(|a, b| a.1.total_cmp(&b.1));
            let hi = values.max_by(|a, b| a.1.total_cmp(&b.1));
            keep.extend(lo.into_iter().chain(hi).map(|(i, _)| start + i));
        }
    }
    keep
}

/// At most `max_points` real samples of `series` that keep its spikes and dips: per
/// time bucket, the samples holding each channel's minimum and maximum (so a chart
/// of any channel draws its true envelope), with as many buckets as the budget
/// allows. Taking every k-th sample instead would drop a one-sample power spike or a
/// utilization dip k−1 times out of k.
pub fn downsample(series: &[Sample], max_points: usize) -> Vec<Sample> {
    if series.len() <= max_points || max_points < 2 {
        return series.to_vec();
    }
    let mut buckets = max_points / 2;
    loop {
        let keep = extremes(series, buckets);
        if keep.len() <= max_points || buckets == 1 {
            return keep
                .into_iter()
                .take(max_points)
                .map(|i| series[i].clone())
                .collect();
        }
        // Shrink in proportion to the overshoot, at least by one bucket.
        buckets = (buckets * max_points / keep.len()).min(buckets - 1).max(1);
    }
}

/// Turns a series into the record's telemetry block; `notes` say why figures that a
/// sampler could not measure are missing.
pub fn aggregate(
    series: &[Sample],
    sources: &[&str],
    interval: Duration,
    gpu_unavailable: Option<String>,
    notes: &[(&str, String)],
) -> TelemetryReport {
    let all: Vec<&Sample> = series.iter().collect();
    let phase = |keep: &dyn Fn(Phase) -> bool| -> Vec<&Sample> {
        series.iter().filter(|s| keep(s.phase)).collect()
    };
    let train = phase(&Phase::is_training);
    let steady = phase(&|p| p == Phase::Train);
    let eval = phase(&|p| p == Phase::Eval);
    let end = series.last().map_or(0.0, |s| s.t_s);
    let energy = energy_between(series, 0.0, end);
    let train_stats = window(&train);
    let steady_stats = window(&steady);
    TelemetryReport {
        sources: sources.iter().map(|s| s.to_string()).collect(),
        gpu_unavailable,
        notes: notes
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
        interval_ms: interval.as_millis() as u64,
        gpu_util_mean: train_stats.gpu_util_mean,
        gpu_util_steady_mean: steady_stats.gpu_util_mean,
        gpu_mem_peak_mib: max(&values(&all, |s| s.gpu_mem_mib)),
        gpu_mem_delta_peak_mib: max(&values(&all, |s| s.gpu_mem_delta_mib)),
        proc_gpu_mem_peak_mib: max(&values(&all, |s| s.proc_gpu_mem_mib)),
        energy_j: energy.map(|e| e.0),
        energy_source: energy.map(|e| e.1.to_string()),
        sm_clock_mean_mhz: mean(&values(&train, |s| s.sm_clock_mhz)),
        temperature_max_c: max(&values(&all, |s| s.temperature_c)),
        cpu_util_mean: train_stats.cpu_util_mean,
        rss_peak_mib: max(&values(&all, |s| s.rss_mib)),
        sys_mem_peak_mib: max(&values(&all, |s| s.sys_mem_mib)),
        eval: window(&eval),
        steady: steady_stats,
        train: train_stats,
        series: downsample(series, MAX_SERIES_POINTS),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(t: f64, phase: Phase, util: f64, energy: Option<f64>, power: f64) -> Sample {
        Sample {
            t_s: t,
            phase,
            gpu_util: Some(util),
            gpu_mem_mib: Some(100.0 + t),
            energy_counter_j: energy,
            power_w: Some(power),
            cpu_util: Some(50.0),
            ..Sample::default()
        }
    }

    #[test]
    fn aggregates_a_fake_series_per_phase() {
        let series = vec![
            sample(0.0, Phase::Setup, 0.0, Some(1000.0), 100.0),
            sample(1.0, Phase::Train, 80.0, Some(1200.0), 200.0),
            sample(2.0, Phase::Train, 90.0, Some(1400.0), 200.0),
            sample(3.0, Phase::Train, 100.0, Some(1600.0), 200.0),
            sample(4.0, Phase::Eval, 20.0, Some(1700.0), 100.0),
        ];
        let r = aggregate(&series, &["nvml"], Duration::from_millis(100), None, &[]);
        assert_eq!(r.train.samples, 3);
        assert_eq!(r.gpu_util_mean, Some(90.0));
        assert_eq!(r.train.gpu_util_p50, Some(90.0));
        assert!((r.train.gpu_util_p95.unwrap() - 99.0).abs() < 1e-9);
        assert_eq!(r.train.gpu_util_max, Some(100.0));
        assert_eq!(r.eval.gpu_util_mean, Some(20.0));
        assert_eq!(r.gpu_mem_peak_mib, Some(104.0));
        assert_eq!(r.energy_j, Some(700.0));
        assert_eq!(r.energy_source.as_deref(), Some("counter"));
    }

    #[test]
    fn steady_state_utilization_leaves_out_the_warm_up() {
        let series = vec![
            sample(0.0, Phase::Warmup, 10.0, None, 100.0),
            sample(1.0, Phase::Warmup, 20.0, None, 100.0),
            sample(2.0, Phase::Train, 90.0, None, 200.0),
            sample(3.0, Phase::Train, 100.0, None, 200.0),
        ];
        let r = aggregate(&series, &["nvml"], Duration::from_millis(100), None, &[]);
        assert_eq!(r.gpu_util_mean, Some(55.0), "the whole training");
        assert_eq!(r.gpu_util_steady_mean, Some(95.0), "after warm-up");
        assert_eq!(r.train.samples, 4);
        assert_eq!(r.steady.samples, 2);
    }

    #[test]
    fn energy_falls_back_to_integrated_power() {
        let series = vec![
            sample(0.0, Phase::Train, 0.0, None, 100.0),
            sample(2.0, Phase::Train, 0.0, None, 300.0),
        ];
        assert_eq!(
            energy_between(&series, 0.0, 2.0),
            Some((400.0, "integrated_power"))
        );
    }

    #[test]
    fn missing_gpu_means_null_figures_with_reasons() {
        let series = vec![Sample {
            t_s: 0.0,
            phase: Phase::Train,
            cpu_util: Some(10.0),
            rss_mib: Some(30.0),
            ..Sample::default()
        }];
        let r = aggregate(
            &series,
            &["procfs"],
            Duration::from_millis(100),
            Some("no NVML".into()),
            &[("proc_gpu_mem_peak_mib", "no such process".into())],
        );
        assert_eq!(r.gpu_util_mean, None);
        assert_eq!(r.energy_j, None);
        assert_eq!(r.rss_peak_mib, Some(30.0));
        assert_eq!(r.notes["proc_gpu_mem_peak_mib"], "no such process");
    }

    #[test]
    fn downsampling_bounds_the_series_and_keeps_the_end() {
        let series: Vec<Sample> = (0..1000)
            .map(|i| sample(i as f64, Phase::Train, 1.0, None, 1.0))
            .collect();
        let d = downsample(&series, 600);
        assert!(d.len() <= 600, "{}", d.len());
        assert_eq!(d.last().unwrap().t_s, 999.0);
    }

    #[test]
    fn downsampling_keeps_one_sample_spikes_and_dips() {
        // 10,000 samples at 90% utilization and 300 W, one power spike and one
        // utilization dip, each a single sample.
        let mut series: Vec<Sample> = (0..10_000)
            .map(|i| sample(i as f64, Phase::Train, 90.0, None, 300.0))
            .collect();
        series[4_321].power_w = Some(700.0);
        series[7_777].gpu_util = Some(3.0);
        series[9_000].phase = Phase::Eval;
        let d = downsample(&series, 600);
        assert!(d.len() <= 600, "{}", d.len());
        let max_power = d.iter().filter_map(|s| s.power_w).fold(0.0, f64::max);
        let min_util = d.iter().filter_map(|s| s.gpu_util).fold(100.0, f64::min);
        assert_eq!((max_power, min_util), (700.0, 3.0));
        assert!(
            d.iter().any(|s| s.t_s == 9_000.0),
            "the phase change is kept"
        );
        assert!(d.windows(2).all(|w| w[0].t_s < w[1].t_s), "in time order");
    }

    #[test]
    fn old_records_with_phase_strings_still_read() {
        let s: Sample =
            serde_json::from_str(r#"{"t_s":1.0,"phase":"train","gpu_util":5.0}"#).unwrap();
        assert_eq!(s.phase, Phase::Train);
    }
}
