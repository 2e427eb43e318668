//! Burn's wgpu backend: the adapters this machine offers, listed in the parent process
//! before any worker opens one.
//!
//! CubeCL picks a wgpu adapter by its type and its position among adapters of that
//! type (`WgpuDevice::DiscreteGpu(1)`), and panics inside the worker when there is none.
//! batchbench numbers the adapters in the order CubeCL enumerates them, for the
//! graphics API CubeCL uses on this platform (Vulkan on Linux and Windows, Metal on
//! macOS), so `wgpu:N` is one adapter everywhere: in `batchbench env`, in the record
//! and in the worker that opens it. A software adapter (Mesa's lavapipe, reported by
//! Vulkan as a CPU device) runs the same GPU code path on the CPU; it is recorded as
//! such and never counted as a GPU.

use serde::{Deserialize, Serialize};

/// One wgpu adapter, as recorded in `env.adapter`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AdapterInfo {
    /// The N of `wgpu:N`.
    pub index: u32,
    /// The adapter's name, e.g. `AMD Radeon RX 7900 XTX` or `llvmpipe (LLVM 15.0.6, 256 bits)`.
    pub name: String,
    /// The vendor, from the PCI vendor id (`AMD`, `NVIDIA`, `Intel`, `Apple`, `Mesa`
    /// for Mesa's software drivers), else the id in hex.
    pub vendor: String,
    /// The PCI vendor id (Vulkan's `vendorID`), in hex.
    pub vendor_id: String,
    /// `discrete_gpu`, `integrated_gpu`, `virtual_gpu`, `cpu` or `other`.
    pub device_type: String,
    /// The driver's name and version, e.g. `llvmpipe` and `Mesa 22.3.6 (LLVM 15.0.6)`.
    pub driver: String,
    /// The driver's own description of its version.
    pub driver_info: String,
    /// The graphics API: `vulkan`, `metal` or `dx12`.
    pub api: String,
    /// The PCI bus address (`0000:03:00.0`) where the driver reports one: how the AMD
    /// sysfs counters and NVML are matched to this adapter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pci_bus_id: Option<String>,
    /// A software rasterizer running on the CPU (lavapipe/llvmpipe, SwiftShader,
    /// WARP): the GPU code path without a GPU. Never reported as a GPU.
    pub software: bool,
    /// Whether shaders can compute in f16 (`precision: f16`).
    pub shader_f16: bool,
}

impl AdapterInfo {
    /// A GPU (not a software rasterizer): what `device: auto` may choose.
    pub fn is_gpu(&self) -> bool {
        !self.software
    }

    /// `llvmpipe (LLVM 15.0.6, 256 bits), software Vulkan on the CPU` or
    /// `AMD Radeon RX 7900 XTX, Vulkan`.
    pub fn label(&self) -> String {
        if self.software {
            format!(
                "{}, software {} on the CPU",
                self.name,
                api_label(&self.api)
            )
        } else {
            format!("{}, {}", self.name, api_label(&self.api))
        }
    }
}

fn api_label(api: &str) -> &str {
    match api {
        "vulkan" => "Vulkan",
        "metal" => "Metal",
        "dx12" => "DirectX 12",
        other => other,
    }
}

/// The vendor a PCI (or Khronos) vendor id names.
pub fn vendor_name(id: u32) -> String {
    match id {
        0x1002 | 0x1022 => "AMD".into(),
        0x10de => "NVIDIA".into(),
        0x8086 => "Intel".into(),
        0x106b => "Apple".into(),
        0x13b5 => "ARM".into(),
        0x5143 => "Qualcomm".into(),
        0x1414 => "Microsoft".into(),
        // Khronos-registered ids of software implementations (VK_VENDOR_ID_MESA).
        0x10005 => "Mesa".into(),
        other => format!("{other:#x}"),
    }
}

/// Whether a driver with these properties renders in software on the CPU.
pub fn is_software(device_type: &str, name: &str, vendor_id: u32) -> bool {
    let name = name.to_lowercase();
    device_type == "cpu"
        || vendor_id == 0x10005
        || ["llvmpipe", "lavapipe", "swiftshader", "basic render"]
            .iter()
            .any(|s| name.contains(s))
}

/// Switches off Mesa's device-select Vulkan layer unless the user configured it.
///
/// The layer reorders adapters by what the display server calls the default GPU, and
/// on a headless machine it prints `error: XDG_RUNTIME_DIR is invalid` from Wayland on
/// every listing. batchbench numbers adapters itself, identically in the runner and
/// its workers (which inherit this variable). Call it first in `main`, while the
/// process has one thread.
pub fn quiet_mesa_device_select() {
    let configured = ["NODEVICE_SELECT", "MESA_VK_DEVICE_SELECT"]
        .iter()
        .any(|v| std::env::var_os(v).is_some());
    if !configured {
        // SAFETY: called at the start of `main`, before any thread is started, so no
        // other thread can read the environment concurrently.
        unsafe { std::env::set_var("NODEVICE_SELECT", "1") };
    }
}

/// Every adapter, listed once per process.
pub fn adapters() -> Result<&'static [AdapterInfo], String> {
    static ADAPTERS: std::sync::OnceLock<Result<Vec<AdapterInfo>, String>> =
        std::sync::OnceLock::new();
    ADAPTERS
        .get_or_init(imp::enumerate)
        .as_deref()
        .map_err(Clone::clone)
}

/// Adapter `wgpu:index`, or a sentence saying why it cannot be used.
pub fn adapter(index: u32) -> Result<&'static AdapterInfo, String> {
    let all = adapters()?;
    if all.is_empty() {
        return Err(NO_ADAPTER.into());
    }
    all.get(index as usize).ok_or_else(|| {
        format!(
            "wgpu:{index} was requested but there are {} adapter(s) (wgpu:0 to wgpu:{}; `batchbench env` lists them)",
            all.len(),
            all.len() - 1
        )
    })
}

const NO_ADAPTER: &str = "no wgpu adapter was found: install a Vulkan driver (your GPU vendor's, \
     or Mesa's `mesa-vulkan-drivers` for its software one) and check `vulkaninfo --summary`";

#[cfg(feature = "wgpu")]
pub use imp::burn_device;

#[cfg(feature = "wgpu")]
mod imp {
    use super::{AdapterInfo, is_software, vendor_name};
    use burn::backend::wgpu::WgpuDevice;
    use burn::backend::wgpu::graphics::{AutoGraphicsApi, GraphicsApi};

    fn device_type(t: wgpu::DeviceType) -> &'static str {
        match t {
            wgpu::DeviceType::DiscreteGpu => "discrete_gpu",
            wgpu::DeviceType::IntegratedGpu => "integrated_gpu",
            wgpu::DeviceType::VirtualGpu => "virtual_gpu",
            wgpu::DeviceType::Cpu => "cpu",
            wgpu::DeviceType::Other => "other",
        }
    }

    fn raw_adapters() -> Vec<wgpu::Adapter> {
        // As CubeCL's `create_client` does, so the order is the same.
        let backend = AutoGraphicsApi::backend();
        let instance = wgpu::Instance::new(wgpu::InstanceDescriptor {
            backends: backend.into(),
            ..wgpu::InstanceDescriptor::new_without_display_handle()
        });
        cubecl_common::future::block_on(instance.enumerate_adapters(backend.into()))
    }

    pub(super) fn enumerate() -> Result<Vec<AdapterInfo>, String> {
        let listed = std::panic::catch_unwind(raw_adapters)
            .map_err(|p| format!("listing the wgpu adapters failed: {}", panic_text(&p)))?;
        Ok(listed
            .iter()
            .enumerate()
            .map(|(index, adapter)| {
                let info = adapter.get_info();
                let kind = device_type(info.device_type);
                AdapterInfo {
                    index: index as u32,
                    software: is_software(kind, &info.name, info.vendor),
                    name: info.name,
                    vendor: vendor_name(info.vendor),
                    vendor_id: format!("{:#06x}", info.vendor),
                    device_type: kind.into(),
                    driver: info.driver,
                    driver_info: info.driver_info,
                    api: info.backend.to_str().into(),
                    pci_bus_id: (!info.device_pci_bus_id.is_empty())
                        .then_some(info.device_pci_bus_id),
                    shader_f16: adapter.features().contains(wgpu::Features::SHADER_F16),
                }
            })
            .collect())
    }

    fn panic_text(p: &Box<dyn std::any::Any + Send>) -> String {
        p.downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "a panic without a message".into())
    }

    /// The `WgpuDevice` CubeCL opens for adapter `index`: its type and its position
    /// among adapters of that type.
    pub fn burn_device(index: u32) -> Result<WgpuDevice, String> {
        let all = super::adapters()?;
        let chosen = super::adapter(index)?;
        let nth = all[..index as usize]
            .iter()
            .filter(|a| a.device_type == chosen.device_type)
            .count();
        match chosen.device_type.as_str() {
            "discrete_gpu" => Ok(WgpuDevice::DiscreteGpu(nth)),
            "integrated_gpu" => Ok(WgpuDevice::IntegratedGpu(nth)),
            "virtual_gpu" => Ok(WgpuDevice::VirtualGpu(nth)),
            "cpu" if nth == 0 => Ok(WgpuDevice::Cpu),
            _ => Err(format!(
                "wgpu:{index} ({}, type {}) cannot be opened through CubeCL, which opens only \
                 the first adapter of type cpu and none of type other",
                chosen.name, chosen.device_type
            )),
        }
    }
}

#[cfg(not(feature = "wgpu"))]
mod imp {
    pub(super) fn enumerate() -> Result<Vec<super::AdapterInfo>, String> {
        Err(
            "this batchbench was built without the wgpu backend: rebuild with the default \
             features (`make build`, or `cargo build --release --features wgpu`)"
                .into(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn software_adapters_are_told_apart_from_gpus() {
        assert!(is_software(
            "cpu",
            "llvmpipe (LLVM 15.0.6, 256 bits)",
            0x10005
        ));
        assert!(is_software("other", "SwiftShader Device", 0x1ae0));
        assert!(!is_software(
            "discrete_gpu",
            "AMD Radeon RX 7900 XTX",
            0x1002
        ));
        assert_eq!(vendor_name(0x1002), "AMD");
        assert_eq!(vendor_name(0x10005), "Mesa");
        assert_eq!(vendor_name(0xabcd), "0xabcd");
    }

    #[test]
    fn labels_say_software_on_the_cpu() {
        let lavapipe = AdapterInfo {
            name: "llvmpipe (LLVM 15.0.6, 256 bits)".into(),
            api: "vulkan".into(),
            software: true,
            ..AdapterInfo::default()
        };
        assert_eq!(
            lavapipe.label(),
            "llvmpipe (LLVM 15.0.6, 256 bits), software Vulkan on the CPU"
        );
        assert!(!lavapipe.is_gpu());
    }
}
