//! `batchbench env`: this machine's fingerprint and what it can train on.

use std::process::ExitCode;

use crate::backend::{CpuBackend, backend_name};
use crate::device::DeviceKind;
use crate::results::Environment;

#[derive(clap::Args)]
pub struct EnvArgs {}

impl EnvArgs {
    pub fn run(self) -> anyhow::Result<ExitCode> {
        let cuda = crate::device::probe_cuda();
        let kind = match &cuda {
            Ok(_) => DeviceKind::Cuda(0),
            Err(_) => DeviceKind::Cpu,
        };
        let mut env =
            Environment::capture(&kind.to_string(), backend_name(kind, CpuBackend::default()));
        env.nvrtc = cuda
            .as_ref()
            .ok()
            .and_then(|p| crate::device::nvrtc_version(&p.nvrtc_dir));
        println!("{}", serde_json::to_string_pretty(&env)?);
        match cuda {
            Ok(p) => eprintln!(
                "CUDA: {} device(s), driver CUDA {}.{}, NVRTC in {}",
                p.devices,
                p.driver_version / 1000,
                (p.driver_version % 1000) / 10,
                p.nvrtc_dir.display()
            ),
            Err(why) => eprintln!("CUDA: not usable ({why}); runs use the CPU"),
        }
        Ok(ExitCode::SUCCESS)
    }
}
