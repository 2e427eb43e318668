//! Records the build's provenance (git commit, Burn and CubeCL versions, compiler)
//! so every run record can say exactly which code produced it.

use std::process::Command;

fn main() {
    let git = Command::new("git")
        .args([
            "describe",
            "--always",
            "--dirty",
            "--abbrev=12",
            "--exclude=*",
        ])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=BATCHBENCH_GIT={git}");

    let lock = std::fs::read_to_string("Cargo.lock").unwrap_or_default();
    for (name, var) in [
        ("burn", "BATCHBENCH_BURN_VERSION"),
        ("cubecl", "BATCHBENCH_CUBECL_VERSION"),
    ] {
        println!("cargo:rustc-env={var}={}", locked_version(&lock, name));
    }

    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let version = Command::new(rustc)
        .arg("--version")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    println!("cargo:rustc-env=BATCHBENCH_RUSTC={version}");
    println!("cargo:rustc-env=BATCHBENCH_PROFILE={}", profile());
    println!("cargo:rerun-if-changed=Cargo.lock");
    println!("cargo:rerun-if-changed=.git/HEAD");
    println!("cargo:rerun-if-changed=.git/index");
}

/// The cargo profile's name. `PROFILE` says only `release` or `debug`, also for custom
/// profiles such as `make dist`'s, so the name is read from the output folder's path
/// (`<target>/<profile>/build/<package>/out`; the dev profile's folder is `debug`).
fn profile() -> String {
    std::env::var_os("OUT_DIR")
        .and_then(|out| {
            let dir = std::path::Path::new(&out).ancestors().nth(3)?.file_name()?;
            Some(dir.to_string_lossy().into_owned())
        })
        .or_else(|| std::env::var("PROFILE").ok())
        .unwrap_or_default()
}

/// The version of package `name` in Cargo.lock's text.
fn locked_version(lock: &str, name: &str) -> String {
    let needle = format!("name = \"{name}\"\n");
    lock.find(&needle)
        .and_then(|i| lock[i + needle.len()..].lines().next())
        .and_then(|line| line.strip_prefix("version = \""))
        .map(|v| v.trim_end_matches('"').to_string())
        .unwrap_or_else(|| "unknown".into())
}
