//! GPU telemetry through NVML (nvml-wrapper loads `libnvidia-ml.so` at run time, so
//! the same binary works where there is no driver: it just has no GPU sampler).

use nvml_wrapper::Nvml;
use nvml_wrapper::enum_wrappers::device::{Clock, TemperatureSensor};
use nvml_wrapper::enums::device::UsedGpuMemory;
use serde::{Deserialize, Serialize};

use super::{Sample, Sampler};

const MIB: f64 = 1024.0 * 1024.0;

/// Samples one GPU on behalf of one process (the worker).
///
/// NVML numbers devices in PCI bus order; CUDA does too when
/// `CUDA_DEVICE_ORDER=PCI_BUS_ID` (the runner sets it for workers), so `cuda:N` and
/// NVML device N are the same board.
///
/// The per-process memory figure needs NVML to list the worker's PID. Inside a
/// container NVML often reports host PIDs, which never match: the figure is then
/// `null` with that reason, and the device memory in use above the baseline taken
/// before the worker started (`gpu_mem_delta_mib`) stands in for it.
pub struct NvmlSampler {
    nvml: Nvml,
    index: u32,
    pid: u32,
    baseline_mib: Option<f64>,
    pid_seen: bool,
    other_pids: Vec<u32>,
    per_process_error: Option<String>,
}

impl NvmlSampler {
    /// Opens NVML for device `index` to follow process `pid`, or says why it cannot.
    /// Call it before the process allocates: the device memory in use now is the
    /// baseline of `gpu_mem_delta_mib`.
    pub fn open(index: u32, pid: u32) -> Result<Self, String> {
        let nvml = Nvml::init().map_err(|e| format!("NVML is not available ({e})"))?;
        let count = nvml
            .device_count()
            .map_err(|e| format!("NVML cannot count devices ({e})"))?;
        if index >= count {
            return Err(format!(
                "NVML sees {count} GPU(s); there is no device {index}"
            ));
        }
        let baseline_mib = nvml
            .device_by_index(index)
            .and_then(|d| d.memory_info())
            .ok()
            .map(|m| m.used as f64 / MIB);
        Ok(NvmlSampler {
            nvml,
            index,
            pid,
            baseline_mib,
            pid_seen: false,
            other_pids: Vec::new(),
            per_process_error: None,
        })
    }

    /// Follows another process from now on (the next run's worker).
    pub fn set_pid(&mut self, pid: u32) {
        self.pid = pid;
    }
}

impl Sampler for NvmlSampler {
    fn name(&self) -> &'static str {
        "nvml"
    }

    fn sample(&mut self, into: &mut Sample) {
        let Ok(device) = self.nvml.device_by_index(self.index) else {
            return;
        };
        if let Ok(u) = device.utilization_rates() {
            into.gpu_util = Some(u.gpu as f64);
            into.mem_util = Some(u.memory as f64);
        }
        if let Ok(m) = device.memory_info() {
            let used = m.used as f64 / MIB;
            into.gpu_mem_mib = Some(used);
            into.gpu_mem_delta_mib = self.baseline_mib.map(|b| (used - b).max(0.0));
        }
        match device.running_compute_processes() {
            Ok(list) => {
                let mine: Vec<_> = list.iter().filter(|p| p.pid == self.pid).collect();
                if mine.is_empty() {
                    for p in &list {
                        if !self.other_pids.contains(&p.pid) && self.other_pids.len() < 8 {
                            self.other_pids.push(p.pid);
                        }
                    }
                } else {
                    self.pid_seen = true;
                    let used: Option<f64> = mine
                        .iter()
                        .map(|p| match p.used_gpu_memory {
                            UsedGpuMemory::Used(bytes) => Some(bytes as f64 / MIB),
                            UsedGpuMemory::Unavailable => None,
                        })
                        .sum();
                    into.proc_gpu_mem_mib = used;
                }
            }
            Err(e) => {
                self.per_process_error
                    .get_or_insert_with(|| format!("NVML cannot list processes ({e})"));
            }
        }
        into.power_w = device.power_usage().ok().map(|mw| mw as f64 / 1000.0);
        into.energy_counter_j = device
            .total_energy_consumption()
            .ok()
            .map(|mj| mj as f64 / 1000.0);
        into.sm_clock_mhz = device.clock_info(Clock::SM).ok().map(f64::from);
        into.temperature_c = device
            .temperature(TemperatureSensor::Gpu)
            .ok()
            .map(f64::from);
    }

    fn notes(&self) -> Vec<(&'static str, String)> {
        if self.pid_seen {
            return vec![];
        }
        let why = match (&self.per_process_error, self.other_pids.is_empty()) {
            (Some(e), _) => e.clone(),
            (None, true) => format!(
                "NVML listed no compute process on GPU {} while the worker (PID {}) ran",
                self.index, self.pid
            ),
            (None, false) => format!(
                "NVML listed PIDs {:?} but not the worker's PID {} (in a container NVML reports host PIDs)",
                self.other_pids, self.pid
            ),
        };
        vec![(
            "proc_gpu_mem_peak_mib",
            format!(
                "{why}; gpu_mem_delta_peak_mib (device memory above the baseline before the run) stands in for it"
            ),
        )]
    }
}

/// A GPU as the environment fingerprint lists it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct GpuInfo {
    /// Index in NVML (PCI bus) order.
    pub index: u32,
    /// Product name, e.g. `NVIDIA H100 80GB HBM3`.
    pub name: String,
    /// Driver version.
    pub driver: String,
    /// Highest CUDA version the driver supports, e.g. `13.0`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cuda_driver: Option<String>,
    /// Total device memory, MiB.
    pub memory_mib: u64,
}

/// NVML's index of the GPU at PCI address `bus_id` (`0000:65:00.0`, as wgpu reports
/// it; NVML writes the domain with eight digits).
pub fn index_by_pci_bus(bus_id: &str) -> Option<u32> {
    let nvml = Nvml::init().ok()?;
    let wanted = normalize_pci_bus(bus_id)?;
    (0..nvml.device_count().ok()?).find(|&i| {
        nvml.device_by_index(i)
            .and_then(|d| d.pci_info())
            .is_ok_and(|p| normalize_pci_bus(&p.bus_id).as_ref() == Some(&wanted))
    })
}

/// `(domain, bus, device, function)` of a PCI address, whatever the domain's width.
fn normalize_pci_bus(text: &str) -> Option<(u32, u32, u32, u32)> {
    let (domain, rest) = text.trim().rsplit_once(':').and_then(|(head, func)| {
        let (domain, bus) = head.split_once(':')?;
        Some((domain, (bus, func)))
    })?;
    let (bus, rest) = rest;
    let (device, function) = rest.split_once('.')?;
    let hex = |s: &str| u32::from_str_radix(s, 16).ok();
    Some((hex(domain)?, hex(bus)?, hex(device)?, hex(function)?))
}

/// The GPUs NVML sees; `Err` says why none can be listed.
pub fn list_gpus() -> Result<Vec<GpuInfo>, String> {
    let nvml = Nvml::init().map_err(|e| format!("NVML is not available ({e})"))?;
    let driver = nvml.sys_driver_version().unwrap_or_default();
    let cuda_driver = nvml
        .sys_cuda_driver_version()
        .ok()
        .map(|v| format!("{}.{}", v / 1000, (v % 1000) / 10));
    let count = nvml.device_count().map_err(|e| e.to_string())?;
    Ok((0..count)
        .filter_map(|i| {
            let d = nvml.device_by_index(i).ok()?;
            Some(GpuInfo {
                index: i,
                name: d.name().unwrap_or_default(),
                driver: driver.clone(),
                cuda_driver: cuda_driver.clone(),
                memory_mib: d
                    .memory_info()
                    .map(|m| m.total / (1024 * 1024))
                    .unwrap_or(0),
            })
        })
        .collect())
}

#[cfg(test)]
mod pci_tests {
    #[test]
    fn pci_addresses_match_whatever_the_domain_width() {
        assert_eq!(
            super::normalize_pci_bus("00000000:65:00.0"),
            super::normalize_pci_bus("0000:65:00.0")
        );
        assert_ne!(
            super::normalize_pci_bus("0000:66:00.0"),
            super::normalize_pci_bus("0000:65:00.0")
        );
        assert_eq!(super::normalize_pci_bus("garbage"), None);
    }
}
