//! Host telemetry through sysinfo: this process's CPU and resident memory, and the
//! host's memory in use.

use sysinfo::{MemoryRefreshKind, Pid, ProcessRefreshKind, ProcessesToUpdate, System};

use super::{Sample, Sampler};

/// Samples the current process and host memory.
pub struct HostSampler {
    system: System,
    pid: Pid,
    cores: f64,
}

impl HostSampler {
    /// A sampler for the calling process.
    pub fn new() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
        let mut sampler = HostSampler {
            system: System::new(),
            pid: Pid::from_u32(std::process::id()),
            cores,
        };
        // The first CPU reading of a process is always 0; prime it.
        sampler.refresh();
        sampler
    }

    fn refresh(&mut self) {
        self.system.refresh_processes_specifics(
            ProcessesToUpdate::Some(&[self.pid]),
            false,
            ProcessRefreshKind::nothing().with_cpu().with_memory(),
        );
        self.system
            .refresh_memory_specifics(MemoryRefreshKind::nothing().with_ram());
    }
}

impl Default for HostSampler {
    fn default() -> Self {
        Self::new()
    }
}

impl Sampler for HostSampler {
    fn name(&self) -> &'static str {
        "sysinfo"
    }

    fn sample(&mut self, into: &mut Sample) {
        self.refresh();
        if let Some(p) = self.system.process(self.pid) {
            // sysinfo reports percent of one core; the record uses percent of all cores.
            into.cpu_util = Some(p.cpu_usage() as f64 / self.cores);
            into.rss_mib = Some(p.memory() as f64 / (1024.0 * 1024.0));
        }
        into.sys_mem_mib = Some(self.system.used_memory() as f64 / (1024.0 * 1024.0));
    }
}
