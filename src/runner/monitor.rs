//! Following one run from outside: its telemetry, its phases, its time limits.
//!
//! The runner samples the worker process by PID (NVML for the GPU it uses, the
//! kernel's counters for its CPU and memory) and learns the run's phase from the
//! worker's events, so every engine that speaks the worker protocol is measured by
//! the same code. The same monitor follows an in-process run (`--in-process`), with
//! the runner's own PID.

use std::time::{Duration, Instant};

use super::worker::WorkerEvent;
use crate::device::DeviceKind;
use crate::results::record::RunRecord;
use crate::telemetry::amd_sysfs::AmdSysfsSampler;
use crate::telemetry::nvml::NvmlSampler;
use crate::telemetry::process::ProcessSampler;
use crate::telemetry::{self, Phase, PhaseFlag, Recorder, Sampler};

/// Telemetry prepared before the worker starts: the GPU's sampler is opened first, so
/// the device memory in use before the run is the baseline of `gpu_mem_delta_mib`.
pub struct Telemetry {
    interval: Duration,
    nvml: Option<NvmlSampler>,
    amd: Option<AmdSysfsSampler>,
    gpu_unavailable: Option<String>,
}

impl Telemetry {
    /// Prepares sampling for a run on `kind` every `interval` (zero: no telemetry).
    pub fn prepare(kind: DeviceKind, interval: Duration) -> Telemetry {
        let mut telemetry = Telemetry {
            interval,
            nvml: None,
            amd: None,
            gpu_unavailable: None,
        };
        let opened = if interval.is_zero() {
            Err("telemetry was switched off".to_string())
        } else {
            match kind {
                DeviceKind::Cuda(n) => NvmlSampler::open(n, 0).map(|s| telemetry.nvml = Some(s)),
                DeviceKind::Wgpu(n) => telemetry.open_wgpu(n),
                DeviceKind::Cpu => Err("the run used the CPU".to_string()),
            }
        };
        telemetry.gpu_unavailable = opened.err();
        telemetry
    }

    /// A wgpu adapter's GPU figures: NVML for an NVIDIA GPU, amdgpu's sysfs for an AMD
    /// one (both matched by PCI address); none for other vendors or a software adapter.
    fn open_wgpu(&mut self, index: u32) -> Result<(), String> {
        let adapter = crate::device::wgpu::adapter(index)?;
        if adapter.software {
            return Err(format!(
                "wgpu:{index} is {}: there is no GPU to sample",
                adapter.label()
            ));
        }
        let bus = adapter.pci_bus_id.as_deref().ok_or_else(|| {
            format!(
                "the driver of {} reports no PCI address to find its counters by",
                adapter.name
            )
        })?;
        match adapter.vendor.as_str() {
            "NVIDIA" => {
                let n = crate::telemetry::nvml::index_by_pci_bus(bus)
                    .ok_or_else(|| format!("NVML has no GPU at PCI address {bus}"))?;
                self.nvml = Some(NvmlSampler::open(n, 0)?);
            }
            "AMD" if cfg!(target_os = "linux") => self.amd = Some(AmdSysfsSampler::open(bus)?),
            vendor => {
                return Err(format!(
                    "no counters for {vendor} GPUs: batchbench reads NVIDIA GPUs through NVML and AMD GPUs through Linux sysfs"
                ));
            }
        }
        Ok(())
    }

    /// Starts sampling process `pid`.
    pub fn start(self, pid: u32) -> RunMonitor {
        let phase = PhaseFlag::default();
        let recorder = (!self.interval.is_zero()).then(|| {
            let mut samplers: Vec<Box<dyn Sampler>> = vec![Box::new(ProcessSampler::new(pid))];
            if let Some(mut nvml) = self.nvml {
                nvml.set_pid(pid);
                samplers.push(Box::new(nvml));
            }
            if let Some(amd) = self.amd {
                samplers.push(Box::new(amd));
            }
            Recorder::start(samplers, self.interval, phase.clone())
        });
        RunMonitor {
            started: Instant::now(),
            recorder,
            interval: self.interval,
            phase,
            gpu_unavailable: self.gpu_unavailable,
            loop_started_s: None,
            warmed_up: None,
            eval_arrivals: Vec::new(),
        }
    }
}

/// One run being followed.
pub struct RunMonitor {
    started: Instant,
    recorder: Option<Recorder>,
    interval: Duration,
    phase: PhaseFlag,
    gpu_unavailable: Option<String>,
    /// Seconds from the start until the training loop began.
    loop_started_s: Option<f64>,
    /// When the warm-up steps ended.
    warmed_up: Option<Instant>,
    /// (step, seconds from the start) of each evaluation point as it arrived.
    eval_arrivals: Vec<(u64, f64)>,
}

impl RunMonitor {
    /// Takes note of a worker event.
    pub fn observe(&mut self, event: &WorkerEvent) {
        let now_s = self.started.elapsed().as_secs_f64();
        match event {
            WorkerEvent::Phase { phase } => {
                self.phase.set(*phase);
                if phase.is_training() || *phase == Phase::Eval {
                    self.loop_started_s.get_or_insert(now_s);
                }
                if *phase == Phase::Train && self.warmed_up.is_none() {
                    self.warmed_up = Some(Instant::now());
                }
            }
            WorkerEvent::Eval { point } => self.eval_arrivals.push((point.step, now_s)),
            WorkerEvent::Record { .. } | WorkerEvent::Outcome { .. } => {}
        }
    }

    /// How long ago the warm-up steps ended, if they have.
    pub fn since_warm_up(&self) -> Option<Duration> {
        self.warmed_up.map(|t| t.elapsed())
    }

    /// Stops sampling and fills the record's telemetry and energy to target.
    pub fn finish(self, record: &mut RunRecord) {
        let recording = self.recorder.map(Recorder::stop);
        let (series, sources, notes) = match &recording {
            Some(r) => (r.series.as_slice(), r.sources.clone(), r.notes.clone()),
            None => (&[][..], vec![], vec![]),
        };
        record.telemetry = telemetry::aggregate(
            series,
            &sources,
            self.interval,
            self.gpu_unavailable,
            &notes,
        );
        // Energy until the target: from the loop's start to the arrival of the first
        // evaluation point that reached it.
        if let Some(target) = record.spec.target()
            && let Some(p) = crate::train::summary::first_reaching(&record.curve, &target)
            && let Some(&(_, arrived)) = self.eval_arrivals.iter().find(|(s, _)| *s == p.step)
        {
            let from = self.loop_started_s.unwrap_or(0.0);
            record.summary.energy_to_target_j =
                telemetry::energy_between(series, from, arrived).map(|e| e.0);
        }
    }
}
