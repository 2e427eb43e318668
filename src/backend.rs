//! The one place where a Burn backend is chosen.
//!
//! Everything else is generic over `AutodiffBackend`; this module maps a device and
//! a precision to a concrete type and calls a [`BackendTask`] with it:
//! - CPU → `Autodiff<Flex>` by default (f32 only; flex is pure Rust and needs nothing
//!   installed), or `Autodiff<NdArray>` on the system OpenBLAS when the binary is built
//!   with `--features openblas` and the sweep asks for `--cpu-backend ndarray`;
//! - CUDA → `Autodiff<Cuda<f32 | bf16 | f16>>`: the whole model, its gradients and the
//!   optimizer state are held and computed in that float type (this is not automatic
//!   mixed precision: there is no f32 master copy and no loss scaling);
//! - wgpu → `Autodiff<Wgpu<f32 | f16>>` on the adapter `wgpu:N` names (Vulkan, Metal,
//!   DirectX 12; f16 where the adapter's shaders have it), when the binary is built
//!   with the `wgpu` feature (the default).

use std::path::{Path, PathBuf};

use burn::backend::Autodiff;
use burn::tensor::backend::AutodiffBackend;
use serde::{Deserialize, Serialize};

use crate::device::DeviceKind;
use crate::suite::Precision;

/// Work that runs on whichever backend [`dispatch`] picks.
pub trait BackendTask {
    /// What the task returns.
    type Output;
    /// Runs on backend `B`, device `device`; `backend` names it for the record.
    fn run<B: AutodiffBackend>(self, device: B::Device, backend: &'static str) -> Self::Output;
}

/// Which Burn backend trains runs on the CPU. It is part of the testbed (recorded as
/// the environment's `backend`), not of the run key: the same run on flex and on
/// ndarray is the same experiment on two software stacks, which `compare` labels as
/// such.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum CpuBackend {
    /// burn-flex: pure Rust, nothing to install. The default: see the README's CPU
    /// backend measurements.
    #[default]
    Flex,
    /// burn-ndarray with matrix products in the system OpenBLAS; only in binaries
    /// built with `--features openblas` (needs `libopenblas-dev`).
    Ndarray,
}

impl CpuBackend {
    /// The name recorded in `env.backend`.
    pub fn as_str(self) -> &'static str {
        match self {
            CpuBackend::Flex => "flex",
            CpuBackend::Ndarray => "ndarray",
        }
    }

    /// The backend recorded as `name` (records of CUDA runs name no CPU backend).
    pub fn from_recorded(name: &str) -> Option<CpuBackend> {
        match name {
            "flex" => Some(CpuBackend::Flex),
            "ndarray" => Some(CpuBackend::Ndarray),
            _ => None,
        }
    }

    /// Whether this binary can train on it, and if not, how to get one that can.
    pub fn check_available(self) -> Result<(), String> {
        match self {
            CpuBackend::Flex => Ok(()),
            CpuBackend::Ndarray if cfg!(feature = "openblas") => Ok(()),
            CpuBackend::Ndarray => Err("this batchbench was built without the ndarray CPU \
                backend: install libopenblas-dev and rebuild with \
                `cargo build --release --features openblas` (or use --cpu-backend flex)"
                .into()),
        }
    }
}

/// The backend recorded in `env.backend` for a run on `kind`: `cpu`'s name on the
/// CPU, else `cuda` or `wgpu`.
pub fn backend_name(kind: DeviceKind, cpu: CpuBackend) -> &'static str {
    match kind {
        DeviceKind::Cpu => cpu.as_str(),
        DeviceKind::Cuda(_) => "cuda",
        DeviceKind::Wgpu(_) => "wgpu",
    }
}

/// Runs `task` on the backend for `kind` and `precision`; `cpu` picks the CPU backend.
pub fn dispatch<T: BackendTask>(
    kind: DeviceKind,
    precision: Precision,
    cpu: CpuBackend,
    task: T,
) -> Result<T::Output, String> {
    use burn::backend::cuda::{Cuda, CudaDevice};
    match (kind, precision) {
        (DeviceKind::Cpu, Precision::F32) => match cpu {
            CpuBackend::Flex => {
                Ok(task.run::<Autodiff<burn::backend::Flex>>(Default::default(), cpu.as_str()))
            }
            CpuBackend::Ndarray => run_on_ndarray(task),
        },
        (DeviceKind::Cpu, other) => Err(format!(
            "precision {} needs CUDA; the CPU backends train in f32",
            other.as_str()
        )),
        (DeviceKind::Cuda(n), precision) => {
            let device = CudaDevice { index: n as usize };
            let name = backend_name(kind, cpu);
            Ok(match precision {
                Precision::F32 => task.run::<Autodiff<Cuda<f32>>>(device, name),
                Precision::Bf16 => task.run::<Autodiff<Cuda<half::bf16>>>(device, name),
                Precision::F16 => task.run::<Autodiff<Cuda<half::f16>>>(device, name),
            })
        }
        (DeviceKind::Wgpu(n), precision) => run_on_wgpu(n, precision, task),
    }
}

#[cfg(feature = "wgpu")]
fn run_on_wgpu<T: BackendTask>(
    index: u32,
    precision: Precision,
    task: T,
) -> Result<T::Output, String> {
    use burn::backend::wgpu::Wgpu;
    let device = crate::device::wgpu::burn_device(index)?;
    let name = backend_name(DeviceKind::Wgpu(index), CpuBackend::default());
    match precision {
        Precision::F32 => Ok(task.run::<Autodiff<Wgpu<f32>>>(device, name)),
        Precision::F16 => Ok(task.run::<Autodiff<Wgpu<half::f16>>>(device, name)),
        Precision::Bf16 => Err("precision bf16 needs CUDA; wgpu trains in f32 or f16".into()),
    }
}

#[cfg(not(feature = "wgpu"))]
fn run_on_wgpu<T: BackendTask>(
    index: u32,
    _precision: Precision,
    _task: T,
) -> Result<T::Output, String> {
    crate::device::wgpu::adapter(index)
        .map(|_| unreachable!("listing adapters fails without the wgpu feature"))
}

#[cfg(feature = "openblas")]
fn run_on_ndarray<T: BackendTask>(task: T) -> Result<T::Output, String> {
    Ok(task.run::<Autodiff<burn::backend::NdArray<f32>>>(
        Default::default(),
        CpuBackend::Ndarray.as_str(),
    ))
}

#[cfg(not(feature = "openblas"))]
fn run_on_ndarray<T: BackendTask>(_task: T) -> Result<T::Output, String> {
    Err(CpuBackend::Ndarray.check_available().unwrap_err())
}

/// Keeps freed memory in the process instead of returning it to the kernel.
///
/// A CPU training step allocates and frees the same large buffers (activations and
/// gradients of a few MiB) every step. glibc serves such sizes with `mmap` and gives
/// them back on `free`, so every step pays for fresh pages that the kernel must zero:
/// `perf` showed 14% of a batch-2048 MLP step in `clear_page_erms` and 7% more in
/// `memmove`/`memset`. Raising the mmap and trim thresholds makes the heap reuse those
/// buffers (measured: +22–25% samples/s at batch 2048 on the 2-core development
/// machine; see the README's CPU measurements). The price is that the process keeps
/// its peak heap until it exits, which a worker process per run does anyway.
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes glibc's allocation thresholds; it is called
    // before training allocates, and any value is valid for these parameters.
    unsafe {
        const GIB: libc::c_int = 1 << 30;
        libc::mallopt(libc::M_MMAP_THRESHOLD, GIB);
        libc::mallopt(libc::M_TRIM_THRESHOLD, GIB);
        libc::mallopt(libc::M_TOP_PAD, 256 << 20);
    }
}

/// The default CubeCL cache folder: `$BATCHBENCH_CACHE`, else the user cache folder
/// (`~/.cache/batchbench/cubecl`).
pub fn default_cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("BATCHBENCH_CACHE") {
        return PathBuf::from(dir).join("cubecl");
    }
    let home_cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    home_cache.join("batchbench").join("cubecl")
}

/// Points CubeCL's autotune and kernel caches at `dir` (shared by every worker and
/// every invocation), unless a `cubecl.toml` already chose a location, and routes
/// CubeCL's compilation log to the `log` crate (the worker counts compiled kernels).
/// Must run before the first CubeCL kernel (CUDA or wgpu); later calls in the same
/// process (a second `--in-process` run) keep the first configuration, since CubeCL's
/// can be set once.
///
/// CubeCL caches autotune results by default but not compiled kernels (PTX); both are
/// enabled here, since each new batch size is a new shape to compile and tune.
/// Autotune logging is switched off: the worker's stdout is its message channel.
pub fn configure_cubecl(dir: &Path) {
    use cubecl_common::config::logger::LogCrateLevel;
    use cubecl_runtime::config::{
        CubeClRuntimeConfig, RuntimeConfig, autotune::AutotuneLogLevel, cache::CacheConfig,
        compilation::CompilationLogLevel,
    };
    // Checked and set under CubeCL's own lock: `set` panics when anything (a first
    // run, or CubeCL itself) has configured it already.
    let mut state = CubeClRuntimeConfig::storage().lock();
    if state.is_some() {
        return;
    }
    let mut config = CubeClRuntimeConfig::from_current_dir().override_from_env();
    if matches!(config.autotune.cache, CacheConfig::Target) {
        config.autotune.cache = CacheConfig::File(dir.join("autotune"));
    }
    if config.compilation.cache.is_none() {
        config.compilation.cache = Some(CacheConfig::File(dir.join("kernels")));
    }
    config.autotune.logger.level = AutotuneLogLevel::Disabled;
    if matches!(
        config.compilation.logger.level,
        CompilationLogLevel::Disabled
    ) {
        config.compilation.logger.level = CompilationLogLevel::Basic;
        config.compilation.logger.stdout = false;
        config.compilation.logger.stderr = false;
        config.compilation.logger.log = Some(LogCrateLevel::Info);
    }
    *state = Some(std::sync::Arc::new(config));
}
