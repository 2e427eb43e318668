//! What the command-line tests share: the `batchbench` binary with the environment
//! cleared of everything that would change what a sweep does (fault injection, a
//! scheduler's shard index, the CPU backend), so a test run inside a Slurm job or with
//! a developer's variables set still measures what it says.
#![allow(dead_code)] // each test file uses its own share

use std::process::Command as StdCommand;

use assert_cmd::Command;
use assert_cmd::cargo::cargo_bin;

/// Variables batchbench reads that a test must set itself or not at all.
pub const SWEEP_ENV: &[&str] = &[
    "BATCHBENCH_FAULT",
    "BATCHBENCH_CPU_BACKEND",
    "BATCHBENCH_SHARDS",
    "BATCHBENCH_PYTHON",
    "BATCHBENCH_ENGINES",
    "SLURM_ARRAY_TASK_ID",
    "SLURM_ARRAY_TASK_COUNT",
    "SLURM_ARRAY_TASK_MIN",
    "SLURM_ARRAY_TASK_STEP",
    "JOB_COMPLETION_INDEX",
];

/// The binary under test, for assertions on its output.
pub fn batchbench() -> Command {
    let mut cmd = Command::cargo_bin("batchbench").expect("the binary is built");
    for var in SWEEP_ENV {
        cmd.env_remove(var);
    }
    cmd
}

/// The binary under test as a plain process, for tests that signal or kill it.
pub fn batchbench_process() -> StdCommand {
    let mut cmd = StdCommand::new(cargo_bin("batchbench"));
    for var in SWEEP_ENV {
        cmd.env_remove(var);
    }
    cmd
}
