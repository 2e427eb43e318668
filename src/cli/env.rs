//! `batchbench env`: this machine's fingerprint and what it can train on.

use std::process::ExitCode;

use crate::backend::{CpuBackend, backend_name};
use crate::device::DeviceKind;
use crate::results::Environment;
use crate::suite::Engine;

#[derive(clap::Args)]
pub struct EnvArgs {
    /// The Python interpreter of the pytorch and jax engines (default: python3).
    #[arg(long, env = "BATCHBENCH_PYTHON", value_name = "PATH")]
    python: Option<String>,
}

impl EnvArgs {
    pub fn run(self) -> anyhow::Result<ExitCode> {
        let cuda = crate::device::probe_cuda();
        let adapters = crate::device::wgpu::adapters();
        // What `device: auto` picks.
        let kind = match crate::device::resolve(crate::suite::DeviceRequest::Auto) {
            Ok((kind, _)) => kind,
            Err(_) => DeviceKind::Cpu,
        };
        let mut env =
            Environment::capture(&kind.to_string(), backend_name(kind, CpuBackend::default()));
        if let DeviceKind::Wgpu(n) = kind {
            env.adapter = crate::device::wgpu::adapter(n).ok().cloned();
        }
        env.nvrtc = cuda
            .as_ref()
            .ok()
            .and_then(|p| crate::device::nvrtc_version(&p.nvrtc_dir));
        // The engines this machine can train with, each probed as a sweep would.
        let python = crate::runner::engine::python(self.python.as_deref());
        let cuda_ok = cuda.is_ok();
        let engines: Vec<serde_json::Value> = Engine::ALL
            .iter()
            .map(|&engine| match crate::runner::engine::probe(&python, engine, cuda_ok) {
                Ok(info) => serde_json::json!({"engine": engine.as_str(), "available": true, "info": info}),
                Err(why) => serde_json::json!({"engine": engine.as_str(), "available": false, "why": why}),
            })
            .collect();
        for e in &engines {
            let line = match e["available"].as_bool() {
                Some(true) => format!("engine {}: ready", e["engine"].as_str().unwrap_or("")),
                _ => format!("{}", e["why"].as_str().unwrap_or("")),
            };
            eprintln!("{line}");
        }
        let mut out = serde_json::to_value(&env)?;
        out["engines"] = serde_json::Value::Array(engines);
        out["wgpu_adapters"] = match &adapters {
            Ok(list) => serde_json::to_value(list)?,
            Err(why) => serde_json::json!({ "unavailable": why.clone() }),
        };
        println!("{}", serde_json::to_string_pretty(&out)?);
        match cuda {
            Ok(p) => eprintln!(
                "CUDA: {} device(s), driver CUDA {}.{}, NVRTC in {}",
                p.devices,
                p.driver_version / 1000,
                (p.driver_version % 1000) / 10,
                p.nvrtc_dir.display()
            ),
            Err(why) => eprintln!("CUDA: not usable ({why})"),
        }
        match &adapters {
            Ok([]) => eprintln!(
                "wgpu: no adapter (install a Vulkan driver; `vulkaninfo --summary` lists them)"
            ),
            Ok(list) => {
                for a in list.iter() {
                    eprintln!(
                        "wgpu:{}: {} ({}, driver {} {})",
                        a.index,
                        a.label(),
                        a.device_type,
                        a.driver,
                        a.driver_info
                    );
                }
            }
            Err(why) => eprintln!("wgpu: not usable ({why})"),
        }
        eprintln!("device auto: {}", env.device_label());
        Ok(ExitCode::SUCCESS)
    }
}
