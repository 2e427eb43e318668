//! AMD GPUs on Linux, read from the amdgpu driver's sysfs files.
//!
//! There is no NVML for AMD, but amdgpu publishes what batchbench samples as plain
//! files under the GPU's PCI device folder: `gpu_busy_percent` (utilization),
//! `mem_info_vram_used` (bytes), and in its `hwmon/hwmonN/` folder power
//! (`power1_average` or `power1_input`, µW), the edge temperature (`temp1_input`, m°C)
//! and the shader clock (`freq1_input`, Hz). A file that is absent (older kernels,
//! APUs without power sensors) leaves its figure `null` with the reason in the record.

use std::path::{Path, PathBuf};

use super::{Sample, Sampler};

const MIB: f64 = 1024.0 * 1024.0;

/// Samples one amdgpu device.
pub struct AmdSysfsSampler {
    device: PathBuf,
    hwmon: Option<PathBuf>,
    baseline_mib: Option<f64>,
    missing: Vec<(&'static str, String)>,
}

impl AmdSysfsSampler {
    /// Opens the GPU at PCI address `pci_bus_id` (`0000:03:00.0`).
    pub fn open(pci_bus_id: &str) -> Result<Self, String> {
        Self::open_at(&Path::new("/sys/bus/pci/devices").join(pci_bus_id))
    }

    /// Opens the amdgpu device folder `device` (tests point it at a fake tree).
    pub fn open_at(device: &Path) -> Result<Self, String> {
        if !device.join("gpu_busy_percent").is_file() {
            return Err(format!(
                "{} has no gpu_busy_percent: not an amdgpu device, or a kernel too old to report utilization",
                device.display()
            ));
        }
        let hwmon = std::fs::read_dir(device.join("hwmon"))
            .ok()
            .and_then(|entries| {
                let mut dirs: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
                dirs.sort();
                dirs.into_iter().next()
            });
        let mut sampler = AmdSysfsSampler {
            device: device.to_path_buf(),
            hwmon,
            baseline_mib: None,
            missing: Vec::new(),
        };
        sampler.baseline_mib = sampler.vram_used_mib();
        for (field, why) in [
            (
                "gpu_mem_mib",
                sampler
                    .baseline_mib
                    .is_none()
                    .then_some("mem_info_vram_used"),
            ),
            (
                "power_w",
                sampler
                    .power_w()
                    .is_none()
                    .then_some("hwmon power1_average/power1_input"),
            ),
        ] {
            if let Some(file) = why {
                sampler
                    .missing
                    .push((field, format!("amdgpu publishes no {file} for this GPU")));
            }
        }
        Ok(sampler)
    }

    fn vram_used_mib(&self) -> Option<f64> {
        read_number(&self.device.join("mem_info_vram_used")).map(|b| b / MIB)
    }

    fn hwmon_value(&self, names: &[&str]) -> Option<f64> {
        let dir = self.hwmon.as_ref()?;
        names.iter().find_map(|n| read_number(&dir.join(n)))
    }

    fn power_w(&self) -> Option<f64> {
        self.hwmon_value(&["power1_average", "power1_input"])
            .map(|uw| uw / 1e6)
    }
}

fn read_number(path: &Path) -> Option<f64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

impl Sampler for AmdSysfsSampler {
    fn name(&self) -> &'static str {
        "amdgpu-sysfs"
    }

    fn sample(&mut self, into: &mut Sample) {
        into.gpu_util = read_number(&self.device.join("gpu_busy_percent"));
        if let Some(used) = self.vram_used_mib() {
            into.gpu_mem_mib = Some(used);
            into.gpu_mem_delta_mib = self.baseline_mib.map(|b| (used - b).max(0.0));
        }
        into.power_w = self.power_w();
        into.temperature_c = self.hwmon_value(&["temp1_input"]).map(|m| m / 1000.0);
        into.sm_clock_mhz = self.hwmon_value(&["freq1_input"]).map(|hz| hz / 1e6);
    }

    fn notes(&self) -> Vec<(&'static str, String)> {
        let mut notes = self.missing.clone();
        notes.push((
            "proc_gpu_mem_mib",
            "amdgpu's sysfs has no per-process memory; gpu_mem_delta_mib stands in".into(),
        ));
        notes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_gpu(dir: &Path, with_power: bool) {
        std::fs::write(dir.join("gpu_busy_percent"), "87\n").unwrap();
        std::fs::write(
            dir.join("mem_info_vram_used"),
            format!("{}\n", 512u64 << 20),
        )
        .unwrap();
        let hwmon = dir.join("hwmon/hwmon3");
        std::fs::create_dir_all(&hwmon).unwrap();
        if with_power {
            std::fs::write(hwmon.join("power1_average"), "215000000\n").unwrap();
        }
        std::fs::write(hwmon.join("temp1_input"), "61000\n").unwrap();
        std::fs::write(hwmon.join("freq1_input"), "2500000000\n").unwrap();
    }

    #[test]
    fn reads_utilization_memory_power_temperature_and_clock() {
        let dir = tempfile::tempdir().unwrap();
        fake_gpu(dir.path(), true);
        let mut sampler = AmdSysfsSampler::open_at(dir.path()).unwrap();
        std::fs::write(
            dir.path().join("mem_info_vram_used"),
            format!("{}\n", 1536u64 << 20),
        )
        .unwrap();
        let mut s = Sample::default();
        sampler.sample(&mut s);
        assert_eq!(s.gpu_util, Some(87.0));
        assert_eq!(s.gpu_mem_mib, Some(1536.0));
        assert_eq!(s.gpu_mem_delta_mib, Some(1024.0));
        assert_eq!(s.power_w, Some(215.0));
        assert_eq!(s.temperature_c, Some(61.0));
        assert_eq!(s.sm_clock_mhz, Some(2500.0));
        assert_eq!(s.mem_util, None, "amdgpu has no memory-controller figure");
    }

    #[test]
    fn a_missing_power_sensor_is_null_with_its_reason() {
        let dir = tempfile::tempdir().unwrap();
        fake_gpu(dir.path(), false);
        let mut sampler = AmdSysfsSampler::open_at(dir.path()).unwrap();
        let mut s = Sample::default();
        sampler.sample(&mut s);
        assert_eq!(s.power_w, None);
        assert!(
            sampler
                .notes()
                .iter()
                .any(|(f, why)| *f == "power_w" && why.contains("power1"))
        );
    }

    #[test]
    fn a_folder_that_is_not_an_amd_gpu_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let e = AmdSysfsSampler::open_at(dir.path()).err().unwrap();
        assert!(e.contains("gpu_busy_percent"), "{e}");
    }
}
