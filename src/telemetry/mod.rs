//! Hardware telemetry sampled on a background thread while a run trains.
//!
//! A [`Sampler`] fills the fields of a [`Sample`] it can measure and leaves the rest
//! `None`: NVML for the GPU ([`nvml`]), sysinfo for the process and the host
//! ([`host`]). [`Recorder`] calls every sampler at a fixed interval, tags each sample
//! with the run's current phase (setup, train, eval), and [`aggregate`] turns the
//! series into the record's figures, per phase. Where a sampler is missing (no NVML on
//! a CPU machine) its figures are `null` and the report says why; nothing is invented.

pub mod host;
pub mod nvml;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::train::Phase;

/// The time series kept in a record is downsampled to at most this many points.
pub const MAX_SERIES_POINTS: usize = 600;

/// One reading of every measured quantity (`None` where not measured).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// Seconds since the recorder started.
    pub t_s: f64,
    /// The run's phase when sampled: `setup`, `train` or `eval`.
    pub phase: String,
    /// GPU (SM) utilization, percent, as the driver averages it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gpu_util: Option<f64>,
    /// Memory-controller utilization, percent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mem_util: Option<f64>,
    /// Device memory in use (all processes), MiB.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gpu_mem_mib: Option<f64>,
    /// Device memory used by this run's process, MiB.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proc_gpu_mem_mib: Option<f64>,
    /// Board power draw, watts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub power_w: Option<f64>,
    /// The driver's total-energy counter, joules since driver load.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub energy_counter_j: Option<f64>,
    /// SM clock, MHz.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sm_clock_mhz: Option<f64>,
    /// GPU temperature, °C.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature_c: Option<f64>,
    /// This process's CPU use, percent of all logical cores.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_util: Option<f64>,
    /// This process's resident memory, MiB.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rss_mib: Option<f64>,
    /// Host memory in use (all processes), MiB.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sys_mem_mib: Option<f64>,
}

/// Something that can measure part of a [`Sample`].
pub trait Sampler: Send {
    /// A short name for the record (`nvml`, `sysinfo`).
    fn name(&self) -> &'static str;
    /// Fills the fields this sampler measures.
    fn sample(&mut self, into: &mut Sample);
}

/// A sampler that measures nothing (tests; telemetry switched off).
pub struct NullSampler;

impl Sampler for NullSampler {
    fn name(&self) -> &'static str {
        "null"
    }
    fn sample(&mut self, _into: &mut Sample) {}
}

/// The run's phase, shared between the training loop and the sampling thread.
#[derive(Clone, Default)]
pub struct PhaseFlag(Arc<AtomicU8>);

impl PhaseFlag {
    /// Sets the current phase.
    pub fn set(&self, phase: Phase) {
        self.0.store(phase as u8, Ordering::Relaxed);
    }

    fn get(&self) -> &'static str {
        match self.0.load(Ordering::Relaxed) {
            x if x == Phase::Train as u8 => "train",
            x if x == Phase::Eval as u8 => "eval",
            _ => "setup",
        }
    }
}

/// Samples on a background thread until stopped.
pub struct Recorder {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<Vec<Sample>>>,
    names: Vec<&'static str>,
    interval: Duration,
    /// When sampling started; sample times count from here.
    pub started: Instant,
}

impl Recorder {
    /// Starts sampling every `interval` with `samplers`, tagging samples with `phase`.
    pub fn start(
        mut samplers: Vec<Box<dyn Sampler>>,
        interval: Duration,
        phase: PhaseFlag,
    ) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let started = Instant::now();
        let names = samplers.iter().map(|s| s.name()).collect();
        let flag = stop.clone();
        let handle = std::thread::Builder::new()
            .name("telemetry".into())
            .spawn(move || {
                let mut series = Vec::new();
                loop {
                    let mut s = Sample {
                        t_s: started.elapsed().as_secs_f64(),
                        phase: phase.get().to_string(),
                        ..Sample::default()
                    };
                    for sampler in samplers.iter_mut() {
                        sampler.sample(&mut s);
                    }
                    series.push(s);
                    if flag.load(Ordering::Relaxed) {
                        return series;
                    }
                    // Sleep in short slices so `stop` returns promptly.
                    let wake = Instant::now() + interval;
                    while Instant::now() < wake && !flag.load(Ordering::Relaxed) {
                        std::thread::sleep(Duration::from_millis(5).min(interval));
                    }
                }
            })
            .expect("spawn the telemetry thread");
        Recorder {
            stop,
            handle: Some(handle),
            names,
            interval,
            started,
        }
    }

    /// Stops sampling (after one last sample) and returns the series.
    pub fn stop(mut self) -> (Vec<Sample>, Vec<&'static str>, Duration) {
        self.stop.store(true, Ordering::Relaxed);
        let series = self
            .handle
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default();
        (series, std::mem::take(&mut self.names), self.interval)
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Aggregates over one window (the whole run, or one phase).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
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
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TelemetryReport {
    /// Samplers that ran.
    pub sources: Vec<String>,
    /// Why GPU telemetry is missing, when it is (`null` when NVML worked).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu_unavailable: Option<String>,
    /// Sampling interval, milliseconds.
    pub interval_ms: u64,
    /// Mean GPU utilization over training (DESIGN.md contract name).
    pub gpu_util_mean: Option<f64>,
    /// Peak device memory in use (all processes), MiB.
    pub gpu_mem_peak_mib: Option<f64>,
    /// Peak device memory used by this run's process, MiB.
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
    /// Aggregates during training steps.
    pub train: WindowStats,
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

/// Keeps every k-th sample so at most `max_points` remain (always keeping the last).
pub fn downsample(series: &[Sample], max_points: usize) -> Vec<Sample> {
    if series.len() <= max_points || max_points < 2 {
        return series.to_vec();
    }
    let step = series.len().div_ceil(max_points - 1);
    let mut out: Vec<Sample> = series.iter().step_by(step).cloned().collect();
    if out.last() != series.last() {
        out.push(series[series.len() - 1].clone());
    }
    out
}

/// Turns a series into the record's telemetry block.
pub fn aggregate(
    series: &[Sample],
    sources: &[&str],
    interval: Duration,
    gpu_unavailable: Option<String>,
) -> TelemetryReport {
    let all: Vec<&Sample> = series.iter().collect();
    let phase =
        |name: &str| -> Vec<&Sample> { series.iter().filter(|s| s.phase == name).collect() };
    let (train, eval) = (phase("train"), phase("eval"));
    let end = series.last().map_or(0.0, |s| s.t_s);
    let energy = energy_between(series, 0.0, end);
    let train_stats = window(&train);
    TelemetryReport {
        sources: sources.iter().map(|s| s.to_string()).collect(),
        gpu_unavailable,
        interval_ms: interval.as_millis() as u64,
        gpu_util_mean: train_stats.gpu_util_mean,
        gpu_mem_peak_mib: max(&values(&all, |s| s.gpu_mem_mib)),
        proc_gpu_mem_peak_mib: max(&values(&all, |s| s.proc_gpu_mem_mib)),
        energy_j: energy.map(|e| e.0),
        energy_source: energy.map(|e| e.1.to_string()),
        sm_clock_mean_mhz: mean(&values(&train, |s| s.sm_clock_mhz)),
        temperature_max_c: max(&values(&all, |s| s.temperature_c)),
        cpu_util_mean: train_stats.cpu_util_mean,
        rss_peak_mib: max(&values(&all, |s| s.rss_mib)),
        sys_mem_peak_mib: max(&values(&all, |s| s.sys_mem_mib)),
        eval: window(&eval),
        train: train_stats,
        series: downsample(series, MAX_SERIES_POINTS),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(t: f64, phase: &str, util: f64, energy: Option<f64>, power: f64) -> Sample {
        Sample {
            t_s: t,
            phase: phase.into(),
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
            sample(0.0, "setup", 0.0, Some(1000.0), 100.0),
            sample(1.0, "train", 80.0, Some(1200.0), 200.0),
            sample(2.0, "train", 90.0, Some(1400.0), 200.0),
            sample(3.0, "train", 100.0, Some(1600.0), 200.0),
            sample(4.0, "eval", 20.0, Some(1700.0), 100.0),
        ];
        let r = aggregate(&series, &["nvml"], Duration::from_millis(100), None);
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
    fn energy_falls_back_to_integrated_power() {
        let series = vec![
            sample(0.0, "train", 0.0, None, 100.0),
            sample(2.0, "train", 0.0, None, 300.0),
        ];
        assert_eq!(
            energy_between(&series, 0.0, 2.0),
            Some((400.0, "integrated_power"))
        );
    }

    #[test]
    fn missing_gpu_means_null_figures() {
        let series = vec![Sample {
            t_s: 0.0,
            phase: "train".into(),
            cpu_util: Some(10.0),
            rss_mib: Some(30.0),
            ..Sample::default()
        }];
        let r = aggregate(
            &series,
            &["sysinfo"],
            Duration::from_millis(100),
            Some("no NVML".into()),
        );
        assert_eq!(r.gpu_util_mean, None);
        assert_eq!(r.energy_j, None);
        assert_eq!(r.rss_peak_mib, Some(30.0));
    }

    #[test]
    fn downsampling_bounds_the_series_and_keeps_the_end() {
        let series: Vec<Sample> = (0..1000)
            .map(|i| sample(i as f64, "train", 1.0, None, 1.0))
            .collect();
        let d = downsample(&series, 600);
        assert!(d.len() <= 600, "{}", d.len());
        assert_eq!(d.last().unwrap().t_s, 999.0);
    }

    #[test]
    fn recorder_samples_and_stops() {
        let flag = PhaseFlag::default();
        let rec = Recorder::start(
            vec![Box::new(NullSampler)],
            Duration::from_millis(5),
            flag.clone(),
        );
        flag.set(Phase::Train);
        std::thread::sleep(Duration::from_millis(40));
        let (series, names, _) = rec.stop();
        assert!(series.len() >= 2);
        assert_eq!(names, vec!["null"]);
        assert!(series.iter().any(|s| s.phase == "train"));
    }
}
