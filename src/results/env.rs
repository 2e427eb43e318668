//! The environment fingerprint: where, with what and how a run was made.
//!
//! Enough to rerun it (versions, suite hash, the command) and to decide whether two
//! results are comparable (hardware, driver, backend). `compare` derives its testbed
//! identity from these fields.

use serde::{Deserialize, Serialize};
use sysinfo::System;

use crate::telemetry::nvml::{GpuInfo, list_gpus};

/// Versions fixed at build time (see build.rs).
pub mod build {
    /// batchbench's version.
    pub const VERSION: &str = env!("CARGO_PKG_VERSION");
    /// The git commit the binary was built from (`-dirty` when uncommitted changes
    /// were present), or `unknown` outside a git checkout.
    pub const GIT: &str = env!("BATCHBENCH_GIT");
    /// Burn's version, read from Cargo.lock.
    pub const BURN: &str = env!("BATCHBENCH_BURN_VERSION");
    /// CubeCL's version, read from Cargo.lock.
    pub const CUBECL: &str = env!("BATCHBENCH_CUBECL_VERSION");
    /// The compiler.
    pub const RUSTC: &str = env!("BATCHBENCH_RUSTC");
    /// The cargo profile (`release`, `dist` for `make dist`'s binary, `debug`).
    pub const PROFILE: &str = env!("BATCHBENCH_PROFILE");
}

/// The environment of one run.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Environment {
    /// Operating system, e.g. `Linux 12 (bookworm)`.
    pub os: String,
    /// Kernel version.
    #[serde(default)]
    pub kernel: Option<String>,
    /// Host name.
    #[serde(default)]
    pub host: Option<String>,
    /// CPU model.
    pub cpu: String,
    /// Logical cores.
    pub cores: usize,
    /// Physical cores.
    #[serde(default)]
    pub physical_cores: Option<usize>,
    /// Host memory, MiB.
    pub memory_mib: u64,
    /// GPUs NVML sees (empty without NVML).
    pub gpus: Vec<GpuInfo>,
    /// Why `gpus` is empty, when NVML could not be used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpus_unavailable: Option<String>,
    /// NVRTC's version (it compiles every CUDA kernel), on CUDA runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nvrtc: Option<String>,
    /// The Burn backend that trained: `flex`, `ndarray` (CPU), `cuda` or `wgpu`.
    pub backend: String,
    /// The wgpu adapter that trained (wgpu runs): its name, vendor, driver and type,
    /// and whether it is a software rasterizer on the CPU rather than a GPU.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adapter: Option<crate::device::wgpu::AdapterInfo>,
    /// The device used: `cpu`, `cuda:N` or `wgpu:N`.
    pub device: String,
    /// CPU threads available to the backend.
    pub threads: usize,
    /// Burn's version.
    pub burn: String,
    /// CubeCL's version.
    pub cubecl: String,
    /// batchbench's version.
    pub batchbench: String,
    /// The commit batchbench was built from.
    pub git: String,
    /// The compiler that built it.
    pub rustc: String,
    /// The cargo profile it was built with (`release`; `dist`: `make dist`'s binary,
    /// optimized across crates at link time).
    pub profile: String,
    /// SHA-256 of the suite file.
    pub suite_sha256: String,
    /// SHA-256 over the data files' hashes.
    #[serde(default)]
    pub dataset_sha256: Option<String>,
    /// The framework that trained and its version (`burn` for batchbench's own loop).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine: Option<EngineInfo>,
    /// The command line that ran the sweep.
    pub command: Vec<String>,
}

impl Environment {
    /// Whether the run trained on a GPU: CUDA, or a wgpu adapter that is not a
    /// software rasterizer. Findings about GPU use are made only for these.
    pub fn on_gpu(&self) -> bool {
        match &self.adapter {
            Some(adapter) => adapter.is_gpu(),
            None => self.device.starts_with("cuda"),
        }
    }

    /// The device in words for reports: `cuda:0`, `cpu`, or
    /// `wgpu:0 (llvmpipe (LLVM 15.0.6, 256 bits), software Vulkan on the CPU)`.
    pub fn device_label(&self) -> String {
        match &self.adapter {
            Some(adapter) => format!("{} ({})", self.device, adapter.label()),
            None => self.device.clone(),
        }
    }

    /// Captures the machine and build; the caller fills in run-specific fields.
    pub fn capture(device: &str, backend: &str) -> Environment {
        let mut system = System::new();
        system.refresh_memory();
        system.refresh_cpu_list(sysinfo::CpuRefreshKind::nothing());
        let cpu = system
            .cpus()
            .first()
            .map(|c| c.brand().trim().to_string())
            .unwrap_or_default();
        let (gpus, gpus_unavailable) = match list_gpus() {
            Ok(g) => (g, None),
            Err(e) => (vec![], Some(e)),
        };
        Environment {
            os: System::long_os_version().unwrap_or_else(|| std::env::consts::OS.to_string()),
            kernel: System::kernel_version(),
            host: System::host_name(),
            cpu,
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            physical_cores: System::physical_core_count(),
            memory_mib: system.total_memory() / (1024 * 1024),
            gpus,
            gpus_unavailable,
            nvrtc: None,
            backend: backend.to_string(),
            adapter: None,
            device: device.to_string(),
            threads: rayon_threads(),
            burn: build::BURN.to_string(),
            cubecl: build::CUBECL.to_string(),
            batchbench: build::VERSION.to_string(),
            git: build::GIT.to_string(),
            rustc: build::RUSTC.to_string(),
            profile: build::PROFILE.to_string(),
            suite_sha256: String::new(),
            dataset_sha256: None,
            engine: Some(EngineInfo::burn()),
            command: vec![],
        }
    }
}

/// The framework that trained a run.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EngineInfo {
    /// `burn`, `pytorch` or `jax`.
    pub name: String,
    /// The framework's version.
    pub version: String,
    /// How the step ran: `eager`, `compile` (torch.compile) or `jit` (jax.jit); absent
    /// for Burn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// The Python interpreter's version (Python engines).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub python: Option<String>,
    /// The interpreter that ran the worker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interpreter: Option<String>,
    /// NumPy's version (Python engines).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub numpy: Option<String>,
    /// The CUDA version the framework was built with (absent for a CPU-only build).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cuda: Option<String>,
    /// Threads the framework uses on the CPU.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threads: Option<u64>,
}

impl EngineInfo {
    /// Burn, as built into this binary.
    pub fn burn() -> Self {
        EngineInfo {
            name: "burn".into(),
            version: build::BURN.into(),
            ..EngineInfo::default()
        }
    }
}

/// Threads the CPU backend uses: `RAYON_NUM_THREADS` if set, else the logical cores.
pub fn rayon_threads() -> usize {
    std::env::var("RAYON_NUM_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}
