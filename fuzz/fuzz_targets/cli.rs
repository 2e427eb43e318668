//! Fuzzes the command-line parser with every subcommand's value parsers (durations,
//! budgets, fractions, percentages, shard specs, paths): arbitrary arguments, split at
//! NUL bytes, must parse or give clap's error, never panic.
#![no_main]

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;

use clap::Parser;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let args = std::iter::once(OsString::from("batchbench"))
        .chain(data.split(|&b| b == 0).map(|a| OsString::from_vec(a.to_vec())));
    let _ = batchbench::cli::Cli::try_parse_from(args);
});
