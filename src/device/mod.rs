//! Which device a run uses, decided before Burn touches any device.
//!
//! Burn's CUDA backend loads the driver (`libcuda`) and NVRTC (`libnvrtc`) at run
//! time and panics deep inside when either is missing. So the runner probes first,
//! in the parent process: it loads `libcuda`, asks for the device count, finds
//! NVRTC, and either resolves `auto` or fails with one sentence naming what is
//! missing. Workers then get the library path and `CUDA_PATH` they need. wgpu
//! adapters are listed the same way, before a worker opens one ([`wgpu`]).

pub mod wgpu;

use std::path::{Path, PathBuf};

use crate::suite::DeviceRequest;

/// The device a run uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DeviceKind {
    /// The CPU, Burn's flex backend.
    Cpu,
    /// CUDA device N.
    Cuda(u32),
    /// wgpu adapter N ([`wgpu::adapters`]).
    Wgpu(u32),
}

impl DeviceKind {
    /// Whether Burn's CubeCL runtimes (CUDA, wgpu) train here: kernels compiled at
    /// run time, autotuned and cached.
    pub fn is_cubecl(self) -> bool {
        matches!(self, DeviceKind::Cuda(_) | DeviceKind::Wgpu(_))
    }
}

impl std::fmt::Display for DeviceKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DeviceKind::Cpu => f.write_str("cpu"),
            DeviceKind::Cuda(n) => write!(f, "cuda:{n}"),
            DeviceKind::Wgpu(n) => write!(f, "wgpu:{n}"),
        }
    }
}

impl std::str::FromStr for DeviceKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        DeviceKind::try_from(s.parse::<DeviceRequest>()?)
    }
}

impl TryFrom<DeviceRequest> for DeviceKind {
    type Error = String;
    /// The device a resolved request names (`auto` is not a device yet: the runner
    /// resolves it before starting a worker).
    fn try_from(request: DeviceRequest) -> Result<Self, String> {
        match request {
            DeviceRequest::Cpu => Ok(DeviceKind::Cpu),
            DeviceRequest::Cuda(n) => Ok(DeviceKind::Cuda(n)),
            DeviceRequest::Wgpu(n) => Ok(DeviceKind::Wgpu(n)),
            DeviceRequest::Auto => Err(
                "the run's device is still `auto`; the runner resolves it before starting a worker"
                    .into(),
            ),
        }
    }
}

impl From<DeviceKind> for DeviceRequest {
    fn from(kind: DeviceKind) -> Self {
        match kind {
            DeviceKind::Cpu => DeviceRequest::Cpu,
            DeviceKind::Cuda(n) => DeviceRequest::Cuda(n),
            DeviceKind::Wgpu(n) => DeviceRequest::Wgpu(n),
        }
    }
}

/// What the CUDA probe found.
#[derive(Clone, Debug, PartialEq)]
pub struct CudaProbe {
    /// CUDA devices the driver reports.
    pub devices: u32,
    /// The driver's CUDA version, e.g. 13000 for 13.0.
    pub driver_version: i32,
    /// The folder holding `libnvrtc` (added to workers' library path).
    pub nvrtc_dir: PathBuf,
    /// The toolkit root for headers (`CUDA_PATH`), if found.
    pub cuda_path: Option<PathBuf>,
}

/// Looks for a usable CUDA setup; `Err` names what is missing.
pub fn probe_cuda() -> Result<CudaProbe, String> {
    let (devices, driver_version) = probe_driver()?;
    if devices == 0 {
        return Err("the CUDA driver is installed but reports 0 devices (is the GPU visible to this container? check CUDA_VISIBLE_DEVICES and nvidia-smi)".into());
    }
    let cuda_path = cuda_root();
    let nvrtc_dir = find_nvrtc(cuda_path.as_deref()).ok_or_else(|| {
        "NVRTC (libnvrtc.so) was not found: Burn compiles its CUDA kernels at run time with it. Install the CUDA toolkit, or set CUDA_PATH to its root (e.g. /usr/local/cuda) or add its lib folder to LD_LIBRARY_PATH".to_string()
    })?;
    Ok(CudaProbe {
        devices,
        driver_version,
        nvrtc_dir,
        cuda_path,
    })
}

/// Resolves a request into a device, probing CUDA and listing wgpu adapters when
/// needed. `auto` never fails: CUDA, else the first wgpu adapter that is a GPU (not a
/// software rasterizer), else the CPU.
pub fn resolve(request: DeviceRequest) -> Result<(DeviceKind, Option<CudaProbe>), String> {
    match request {
        DeviceRequest::Cpu => Ok((DeviceKind::Cpu, None)),
        DeviceRequest::Auto => match probe_cuda() {
            Ok(probe) => Ok((DeviceKind::Cuda(0), Some(probe))),
            Err(_) => Ok((first_wgpu_gpu().unwrap_or(DeviceKind::Cpu), None)),
        },
        DeviceRequest::Wgpu(n) => {
            wgpu::adapter(n)
                .map_err(|why| format!("wgpu was requested but cannot be used: {why}"))?;
            Ok((DeviceKind::Wgpu(n), None))
        }
        DeviceRequest::Cuda(n) => {
            let probe = probe_cuda()
                .map_err(|why| format!("CUDA was requested but cannot be used: {why}"))?;
            if n >= probe.devices {
                return Err(format!(
                    "cuda:{n} was requested but the driver reports {} device(s) (cuda:0 to cuda:{})",
                    probe.devices,
                    probe.devices - 1
                ));
            }
            Ok((DeviceKind::Cuda(n), Some(probe)))
        }
    }
}

fn first_wgpu_gpu() -> Option<DeviceKind> {
    let gpu = wgpu::adapters().ok()?.iter().find(|a| a.is_gpu())?;
    Some(DeviceKind::Wgpu(gpu.index))
}

type CuInit = unsafe extern "C" fn(u32) -> i32;
type CuDeviceGetCount = unsafe extern "C" fn(*mut i32) -> i32;
type CuDriverGetVersion = unsafe extern "C" fn(*mut i32) -> i32;

/// Loads `libcuda` and asks it for the device count and driver version.
fn probe_driver() -> Result<(u32, i32), String> {
    // SAFETY: loading the NVIDIA driver library runs its initializers, which is what
    // every CUDA program does; the symbols are called with their documented C
    // signatures (CUDA Driver API) and valid out-pointers.
    unsafe {
        let lib = ["libcuda.so.1", "libcuda.so"]
            .iter()
            .find_map(|name| libloading::Library::new(name).ok())
            .ok_or("the NVIDIA driver library (libcuda.so.1) was not found: no NVIDIA driver is installed on this machine")?;
        let init: libloading::Symbol<CuInit> = lib
            .get(b"cuInit")
            .map_err(|e| format!("libcuda has no cuInit ({e})"))?;
        let code = init(0);
        if code != 0 {
            return Err(format!(
                "cuInit failed with CUDA error {code} (100 means no CUDA-capable device is present)"
            ));
        }
        let count: libloading::Symbol<CuDeviceGetCount> = lib
            .get(b"cuDeviceGetCount")
            .map_err(|e| format!("libcuda has no cuDeviceGetCount ({e})"))?;
        let mut n = 0i32;
        let code = count(&mut n);
        if code != 0 {
            return Err(format!("cuDeviceGetCount failed with CUDA error {code}"));
        }
        let version: libloading::Symbol<CuDriverGetVersion> = lib
            .get(b"cuDriverGetVersion")
            .map_err(|e| format!("libcuda has no cuDriverGetVersion ({e})"))?;
        let mut v = 0i32;
        version(&mut v);
        // Keep the driver loaded: unloading it after cuInit is not supported.
        std::mem::forget(lib);
        Ok((n.max(0) as u32, v))
    }
}

/// `CUDA_PATH`, else `/usr/local/cuda` when it exists.
fn cuda_root() -> Option<PathBuf> {
    std::env::var_os("CUDA_PATH")
        .map(PathBuf::from)
        .or_else(|| Some(PathBuf::from("/usr/local/cuda")))
        .filter(|p| p.is_dir())
}

/// The folders searched for `libnvrtc`, in order.
pub fn nvrtc_search_dirs(cuda_path: Option<&Path>) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("LD_LIBRARY_PATH")
        .map(|v| std::env::split_paths(&v).collect())
        .unwrap_or_default();
    if let Some(root) = cuda_path {
        dirs.push(root.join("lib64"));
        dirs.push(root.join("targets/x86_64-linux/lib"));
        dirs.push(root.join("lib"));
    }
    dirs.extend(
        ["/usr/lib/x86_64-linux-gnu", "/usr/lib64", "/usr/lib"]
            .iter()
            .map(PathBuf::from),
    );
    dirs
}

fn find_nvrtc(cuda_path: Option<&Path>) -> Option<PathBuf> {
    nvrtc_search_dirs(cuda_path).into_iter().find(|dir| {
        std::fs::read_dir(dir).is_ok_and(|entries| {
            entries.flatten().any(|e| {
                let name = e.file_name();
                let name = name.to_string_lossy();
                name.starts_with("libnvrtc.so") || name.starts_with("libnvrtc64")
            })
        })
    })
}

/// NVRTC's version, from the file its `libnvrtc.so` resolves to in `dir` (e.g.
/// `libnvrtc.so.13.0.88` → `13.0.88`): NVRTC compiles every kernel, so a record names it.
pub fn nvrtc_version(dir: &Path) -> Option<String> {
    let entries = std::fs::read_dir(dir).ok()?;
    let mut versions: Vec<String> = entries
        .flatten()
        .filter_map(|e| {
            let real = std::fs::canonicalize(e.path()).ok()?;
            let name = real.file_name()?.to_string_lossy().into_owned();
            let version = name.strip_prefix("libnvrtc.so.")?;
            version
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_digit())
                .then(|| version.to_string())
        })
        .collect();
    // The most specific name (13.0.88 over 13) of the newest major version.
    versions.sort_by_key(|v| {
        (
            v.split('.')
                .map(|p| p.parse::<u64>().unwrap_or(0))
                .collect::<Vec<_>>(),
            v.len(),
        )
    });
    versions.pop()
}

/// The version of the NVRTC this process loads: the first found on the search path,
/// which for a worker is the folder the runner's probe put first (`worker_env`). No
/// driver call: the runner has probed the driver already.
pub fn nvrtc_version_in_use() -> Option<String> {
    nvrtc_version(&find_nvrtc(cuda_root().as_deref())?)
}

/// Environment variables a CUDA worker needs so Burn finds NVRTC and the headers.
pub fn worker_env(probe: &CudaProbe) -> Vec<(String, String)> {
    let mut paths = vec![probe.nvrtc_dir.clone()];
    if let Some(existing) = std::env::var_os("LD_LIBRARY_PATH") {
        paths.extend(std::env::split_paths(&existing));
    }
    let mut env = vec![
        (
            "LD_LIBRARY_PATH".to_string(),
            std::env::join_paths(paths)
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_default(),
        ),
        // NVML and CUDA then number devices the same way.
        ("CUDA_DEVICE_ORDER".to_string(), "PCI_BUS_ID".to_string()),
    ];
    if let Some(root) = &probe.cuda_path {
        env.push(("CUDA_PATH".to_string(), root.display().to_string()));
    }
    env
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_nvrtc_version_is_read_from_the_library_the_links_resolve_to() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("libnvrtc.so.13.0.88"), b"").unwrap();
        std::fs::write(d.join("libnvrtc-builtins.so.13.0"), b"").unwrap();
        std::os::unix::fs::symlink("libnvrtc.so.13.0.88", d.join("libnvrtc.so.13")).unwrap();
        std::os::unix::fs::symlink("libnvrtc.so.13", d.join("libnvrtc.so")).unwrap();
        assert_eq!(nvrtc_version(d).as_deref(), Some("13.0.88"));
        std::fs::write(d.join("libnvrtc.so.12.4.127"), b"").unwrap();
        assert_eq!(nvrtc_version(d).as_deref(), Some("13.0.88"), "the newest");
        assert_eq!(nvrtc_version(&d.join("missing")), None);
    }

    #[test]
    fn cpu_needs_no_probe() {
        assert_eq!(
            resolve(DeviceRequest::Cpu).unwrap(),
            (DeviceKind::Cpu, None)
        );
    }

    #[test]
    fn auto_never_fails() {
        let (kind, probe) = resolve(DeviceRequest::Auto).unwrap();
        assert_eq!(matches!(kind, DeviceKind::Cuda(_)), probe.is_some());
    }

    #[test]
    fn missing_cuda_is_one_clear_sentence() {
        // On machines without a GPU (CI, the development machine) this is the error path;
        // on a GPU machine it succeeds, which the runner tests cover.
        if let Err(e) = resolve(DeviceRequest::Cuda(0)) {
            assert!(
                e.starts_with("CUDA was requested but cannot be used: "),
                "{e}"
            );
            assert!(
                e.contains("libcuda") || e.contains("NVRTC") || e.contains("device"),
                "{e}"
            );
            assert!(!e.contains('\n'));
        }
    }

    #[test]
    fn device_names_round_trip() {
        for text in ["cpu", "cuda:0", "cuda:3", "wgpu:0", "wgpu:2"] {
            assert_eq!(text.parse::<DeviceKind>().unwrap().to_string(), text);
        }
        assert!("auto".parse::<DeviceKind>().is_err());
    }
}
