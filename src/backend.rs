//! The one place where a Burn backend is chosen.
//!
//! Everything else is generic over `AutodiffBackend`; this module maps a device and
//! a precision to a concrete type and calls a [`BackendTask`] with it:
//! - CPU → `Autodiff<Flex>` (f32 only; flex is pure Rust and needs nothing installed);
//! - CUDA → `Autodiff<Cuda<f32 | bf16 | f16>>`: the whole model, its gradients and the
//!   optimizer state are held and computed in that float type (this is not automatic
//!   mixed precision: there is no f32 master copy and no loss scaling).

use std::path::Path;

use burn::backend::Autodiff;
use burn::tensor::backend::AutodiffBackend;

use crate::device::DeviceKind;
use crate::suite::Precision;

/// Work that runs on whichever backend [`dispatch`] picks.
pub trait BackendTask {
    /// What the task returns.
    type Output;
    /// Runs on backend `B`, device `device`; `backend` names it for the record.
    fn run<B: AutodiffBackend>(self, device: B::Device, backend: &'static str) -> Self::Output;
}

/// Runs `task` on the backend for `kind` and `precision`.
pub fn dispatch<T: BackendTask>(
    kind: DeviceKind,
    precision: Precision,
    task: T,
) -> Result<T::Output, String> {
    use burn::backend::cuda::{Cuda, CudaDevice};
    match (kind, precision) {
        (DeviceKind::Cpu, Precision::F32) => {
            Ok(task.run::<Autodiff<burn::backend::Flex>>(Default::default(), "flex"))
        }
        (DeviceKind::Cpu, other) => Err(format!(
            "precision {} needs CUDA; the CPU backend (flex) trains in f32",
            other.as_str()
        )),
        (DeviceKind::Cuda(n), precision) => {
            let device = CudaDevice { index: n as usize };
            Ok(match precision {
                Precision::F32 => task.run::<Autodiff<Cuda<f32>>>(device, "cuda"),
                Precision::Bf16 => task.run::<Autodiff<Cuda<half::bf16>>>(device, "cuda"),
                Precision::F16 => task.run::<Autodiff<Cuda<half::f16>>>(device, "cuda"),
            })
        }
    }
}

/// Points CubeCL's autotune and kernel caches at `dir` (shared by every worker and
/// every invocation), unless a `cubecl.toml` already chose a location. Must run
/// before the first CUDA kernel.
///
/// CubeCL caches autotune results by default but not compiled kernels; both are
/// enabled here, since each new batch size is a new shape to compile and tune.
/// Autotune logging is switched off: the worker's stdout is its message channel.
pub fn configure_cubecl(dir: &Path) {
    use cubecl_runtime::config::{
        CubeClRuntimeConfig, RuntimeConfig, autotune::AutotuneLogLevel, cache::CacheConfig,
    };
    let mut config = CubeClRuntimeConfig::from_current_dir().override_from_env();
    if matches!(config.autotune.cache, CacheConfig::Target) {
        config.autotune.cache = CacheConfig::File(dir.join("autotune"));
    }
    if config.compilation.cache.is_none() {
        config.compilation.cache = Some(CacheConfig::File(dir.join("kernels")));
    }
    config.autotune.logger.level = AutotuneLogLevel::Disabled;
    CubeClRuntimeConfig::set(config);
}
