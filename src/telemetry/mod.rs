//! Hardware telemetry sampled on a background thread while a run trains.
//!
//! A [`Sampler`] fills the fields of a [`Sample`] it can measure and leaves the rest
//! `None`: NVML for NVIDIA GPUs ([`nvml`]), amdgpu's sysfs files for AMD GPUs on
//! Linux ([`amd_sysfs`]), the kernel's per-process counters for the
//! worker's CPU and memory ([`process`]). A [`Recorder`] calls every sampler at a fixed
//! interval and tags each sample with the run's current [`Phase`]; [`aggregate`] turns
//! the series into the record's figures, per phase. Where a sampler is missing (no
//! NVML on a CPU machine) its figures are `null` and the record says why; nothing is
//! invented.
//!
//! The runner samples the worker process from outside (by its PID), so every engine
//! that speaks the worker protocol is measured by the same code, and the worker's
//! own threads are not disturbed by sampling.

mod aggregate;
pub mod amd_sysfs;
pub mod nvml;
pub mod process;
mod recorder;

use serde::{Deserialize, Serialize};

pub use aggregate::{
    MAX_SERIES_POINTS, TelemetryReport, WindowStats, aggregate, downsample, energy_between,
    quantile,
};
pub use recorder::{PhaseFlag, Recorder};

/// Which part of a run is executing; telemetry keeps a window per phase.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// Starting the worker, loading data, building the model.
    #[default]
    Setup,
    /// The first optimizer steps (on CUDA: kernel compilation and autotuning).
    Warmup,
    /// Optimizer steps after warm-up (the steady state).
    Train,
    /// Measuring loss and accuracy (and probes).
    Eval,
}

impl Phase {
    /// Whether optimizer steps run in this phase (warm-up included).
    pub fn is_training(self) -> bool {
        matches!(self, Phase::Warmup | Phase::Train)
    }
}

/// One reading of every measured quantity (`None` where not measured).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Sample {
    /// Seconds since the recorder started.
    pub t_s: f64,
    /// The run's phase when sampled.
    pub phase: Phase,
    /// GPU (SM) utilization, percent, as the driver averages it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu_util: Option<f64>,
    /// Memory-controller utilization, percent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mem_util: Option<f64>,
    /// Device memory in use (all processes), MiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu_mem_mib: Option<f64>,
    /// Device memory in use above what was in use before the worker started, MiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu_mem_delta_mib: Option<f64>,
    /// Device memory used by the worker process (NVML's per-process figure), MiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proc_gpu_mem_mib: Option<f64>,
    /// Board power draw, watts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub power_w: Option<f64>,
    /// The driver's total-energy counter, joules since driver load.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub energy_counter_j: Option<f64>,
    /// SM clock, MHz.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sm_clock_mhz: Option<f64>,
    /// GPU temperature, °C.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature_c: Option<f64>,
    /// The worker's CPU use since the previous sample, percent of all logical cores.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_util: Option<f64>,
    /// The worker's resident memory, MiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rss_mib: Option<f64>,
    /// Host memory in use (all processes), MiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sys_mem_mib: Option<f64>,
}

/// Something that can measure part of a [`Sample`].
pub trait Sampler: Send {
    /// A short name for the record (`nvml`, `procfs`).
    fn name(&self) -> &'static str;
    /// Fills the fields this sampler measures.
    fn sample(&mut self, into: &mut Sample);
    /// After sampling: why a figure it could not measure is missing (field, reason).
    fn notes(&self) -> Vec<(&'static str, String)> {
        Vec::new()
    }
}

/// A sampler that measures nothing (tests; telemetry switched off).
pub struct NullSampler;

impl Sampler for NullSampler {
    fn name(&self) -> &'static str {
        "null"
    }
    fn sample(&mut self, _into: &mut Sample) {}
}
