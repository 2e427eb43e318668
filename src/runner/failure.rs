//! How a failed run is explained: which failures are out-of-memory, which line of
//! what the worker printed is the cause, and the fault injection that tests both.
//!
//! What CubeCL 0.10 really does on CUDA (read in its sources): a failed device
//! allocation is `IoError::BufferTooBig`, "can't allocate buffer of size: N", and it
//! usually surfaces as a panic on CubeCL's device thread (`DSD-…`) at an `unwrap()`.
//! That thread catches the panic and logs only "Task failed: Any { .. }" (a `log`
//! warning); the training thread then panics on a bare `CallError`. (CubeCL's
//! `LaunchError::OutOfMemory` is never constructed on CUDA.) So the worker keeps
//! every panic message it sees, from any thread ([`install_panic_recorder`]), and
//! explains a failure by the first one; the runner also keeps the tail of the
//! worker's stderr and picks the first real error line from it ([`first_error_line`]).
//! A Rust allocation failure (a host buffer too large) prints "memory allocation of
//! N bytes failed" and aborts: also out-of-memory.

use std::sync::Mutex;
use std::time::Duration;

use crate::results::record::RunStatus;

/// What CubeCL prints for a failed CUDA allocation (`IoError::BufferTooBig`).
pub const CUBECL_OOM: &str = "can't allocate buffer of size";

/// Classifies a failure message (or everything the worker printed): allocation
/// failures are `oom`, anything else `crashed`.
pub fn classify_failure(message: &str) -> RunStatus {
    let m = message.to_lowercase();
    let oom = [
        CUBECL_OOM,
        "buffertoobig",
        "out of memory",
        "out-of-memory",
        "outofmemory",
        "out_of_memory",
    ]
    .iter()
    .any(|p| m.contains(p))
        || (m.contains("memory allocation of ") && m.contains(" bytes failed"));
    if oom {
        RunStatus::Oom
    } else {
        RunStatus::Crashed
    }
}

/// The text of a panic payload.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic with a non-text payload".into())
}

/// First line of a message, shortened: records keep a sentence, not a backtrace.
pub fn short_reason(message: &str) -> String {
    let line = message
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("Caused by") && !is_noise(l))
        .take(2)
        .collect::<Vec<_>>()
        .join(": ");
    line.chars().take(400).collect()
}

/// Lines that never explain a failure: backtrace frames and hints, CubeCL's empty
/// backtrace, its "Task failed: Any { .. }".
fn is_noise(line: &str) -> bool {
    let l = line.trim();
    l.is_empty()
        || l == "No backtrace available"
        || l.starts_with("note: ")
        || l.starts_with("stack backtrace:")
        || l.starts_with("at ")
        || is_frame(l)
        || l.contains("Task failed: Any")
}

/// A backtrace frame: `12: crate::function`.
fn is_frame(line: &str) -> bool {
    let digits = line.chars().take_while(char::is_ascii_digit).count();
    digits > 0 && line[digits..].starts_with(": ")
}

/// Panic messages seen in this process, in order, with the thread that panicked.
static PANICS: Mutex<Vec<(String, String)>> = Mutex::new(Vec::new());

/// Keeps every panic's message (and thread) before the default hook prints it, so a
/// failure whose real cause was a panic on another thread (CubeCL's device thread)
/// can be explained by it. Installed once per process.
pub fn install_panic_recorder() {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(install_hook);
}

fn install_hook() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let thread = std::thread::current().name().unwrap_or("?").to_string();
        if let Ok(mut p) = PANICS.lock()
            && p.len() < 32
        {
            p.push((thread, panic_message(info.payload())));
        }
        default(info);
    }));
}

/// Forgets the panics recorded so far (a new run starts).
pub fn forget_panics() {
    if let Ok(mut p) = PANICS.lock() {
        p.clear();
    }
}

/// The reason for a failure caught as `caught`: the first panic recorded during the
/// run, when it differs (the real cause, e.g. on CubeCL's device thread), followed by
/// what was caught.
pub fn explain(caught: &str) -> String {
    let first = PANICS
        .lock()
        .ok()
        .and_then(|p| p.iter().find(|(_, m)| m != caught).cloned());
    match first {
        Some((thread, message)) => format!(
            "{} (on thread {thread}; then: {})",
            short_reason(&message),
            short_reason(caught)
        ),
        None => short_reason(caught),
    }
}

/// The first line of a worker's stderr that says what went wrong: a panic's message
/// (the line after "panicked at", or on it in older formats), else a line that
/// reads as an error, else the last line. Backtraces and notes are skipped, so the
/// reason is the same with or without `RUST_BACKTRACE`.
pub fn first_error_line(lines: &[String]) -> Option<String> {
    for (i, line) in lines.iter().enumerate() {
        if let Some((_, rest)) = line.split_once("panicked at ") {
            // Rust ≥ 1.73: "thread 'x' panicked at file:line:col:" then the message.
            let after_location = rest.split_once(": ").map(|(_, m)| m.trim());
            let message = match after_location.filter(|m| !m.is_empty()) {
                Some(m) => m.to_string(),
                None => lines
                    .get(i + 1..)
                    .into_iter()
                    .flatten()
                    .find(|l| !is_noise(l))
                    .cloned()
                    .unwrap_or_default(),
            };
            if !message.is_empty() {
                return Some(message.trim().to_string());
            }
        }
    }
    let errorish = |l: &&String| {
        let t = l.trim_start().to_lowercase();
        t.starts_with("error") || t.contains(" error") || t.contains("failed")
    };
    lines
        .iter()
        .filter(|l| !is_noise(l))
        .find(errorish)
        .or_else(|| lines.iter().rev().find(|l| !is_noise(l)))
        .map(|l| l.trim().to_string())
}

/// The `BATCHBENCH_FAULT` test hook: `KIND[@BATCH|>=BATCH]` makes the worker fail
/// that way (only at batch size BATCH, or from BATCH up), so the runner's handling of
/// each failure is tested without a GPU. Kinds, firing at the step-0 evaluation:
/// `panic`; `oom`, CubeCL's failed allocation exactly as it surfaces (a panic on a
/// device thread, "Task failed", then `CallError` on the training thread); `abort`;
/// `exit`; `alloc` (a host allocation failure); `hang-warmup` (hangs before warm-up
/// ends). In the first step: `slow-warmup`. Once warm-up has ended: `hang`. Unset in
/// normal use.
fn fault_for(batch_size: u64) -> Option<String> {
    let fault = std::env::var("BATCHBENCH_FAULT").ok()?;
    let (kind, applies) = if let Some((k, b)) = fault.split_once('@') {
        (
            k.to_string(),
            b.parse::<u64>().is_ok_and(|b| b == batch_size),
        )
    } else if let Some((k, b)) = fault.split_once(">=") {
        (
            k.to_string(),
            b.parse::<u64>().is_ok_and(|b| batch_size >= b),
        )
    } else {
        (fault, true)
    };
    applies.then_some(kind)
}

/// Faults that fire at the step-0 evaluation.
pub fn inject_at_start(batch_size: u64) {
    match fault_for(batch_size).as_deref() {
        Some("panic") => panic!("injected fault: the worker panicked"),
        Some("oom") => cubecl_oom(batch_size),
        Some("abort") => std::process::abort(),
        Some("exit") => std::process::exit(3),
        Some("alloc") => std::alloc::handle_alloc_error(
            std::alloc::Layout::from_size_align(1 << 34, 8).expect("valid layout"),
        ),
        Some("hang-warmup") => hang(),
        _ => {}
    }
}

/// Faults that fire in the first optimizer step: `slow-warmup` takes 3 s there, as
/// compiling kernels on a cold CUDA cache does.
pub fn inject_in_first_step(batch_size: u64) {
    if fault_for(batch_size).as_deref() == Some("slow-warmup") {
        std::thread::sleep(Duration::from_secs(3));
    }
}

/// Faults that fire when warm-up ends.
pub fn inject_after_warmup(batch_size: u64) {
    if fault_for(batch_size).as_deref() == Some("hang") {
        hang();
    }
}

fn hang() -> ! {
    loop {
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// Replays CubeCL 0.10's out-of-memory path: the device thread's `reserve(size)
/// .unwrap()` panics with `BufferTooBig`'s text, the thread catches it and logs
/// "Task failed: Any { .. }", and the caller's `CallError` unwrap panics.
fn cubecl_oom(batch_size: u64) -> ! {
    let size = batch_size * (1 << 24);
    let _ = std::thread::Builder::new()
        .name("DSD-0-0".into())
        .spawn(move || {
            let caught = std::panic::catch_unwind(|| {
                panic!(
                    "called `Result::unwrap()` on an `Err` value: {CUBECL_OOM}: {size}\nNo backtrace available"
                )
            });
            let Err(err) = caught;
            log::warn!("Task failed: {err:?}");
        })
        .map(|h| h.join());
    panic!("called `Result::unwrap()` on an `Err` value: CallError");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str) -> Vec<String> {
        text.lines().map(String::from).collect()
    }

    #[test]
    fn cubecl_and_host_allocation_failures_are_out_of_memory() {
        for m in [
            "called `Result::unwrap()` on an `Err` value: can't allocate buffer of size: 1073741824",
            "[Io(BufferTooBig(1024))]",
            "DriverError(CUDA_ERROR_OUT_OF_MEMORY, \"out of memory\")",
            "memory allocation of 17179869184 bytes failed",
        ] {
            assert_eq!(classify_failure(m), RunStatus::Oom, "{m}");
        }
        assert_eq!(
            classify_failure("called `Result::unwrap()` on an `Err` value: CallError"),
            RunStatus::Crashed
        );
    }

    #[test]
    fn the_first_panic_message_is_the_reason_with_or_without_a_backtrace() {
        let plain = lines(
            "thread 'DSD-0-0' panicked at src/compute/server.rs:124:46:\n\
             called `Result::unwrap()` on an `Err` value: can't allocate buffer of size: 64\n\
             No backtrace available\n\
             note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n\
             2026-01-01T00:00:00.000Z WARN  cubecl_common] Task failed: Any { .. }\n\
             thread 'main' panicked at burn-fusion/src/client.rs:175:14:\n\
             called `Result::unwrap()` on an `Err` value: CallError",
        );
        let expected =
            "called `Result::unwrap()` on an `Err` value: can't allocate buffer of size: 64";
        assert_eq!(first_error_line(&plain).as_deref(), Some(expected));
        let with_backtrace = lines(
            "thread 'main' panicked at src/a.rs:1:1:\n\
             injected fault: the worker panicked\n\
             stack backtrace:\n\
             0: rust_begin_unwind\n\
             at /rustc/library/std/src/panicking.rs:665:5\n\
             1: core::panicking::panic_fmt",
        );
        assert_eq!(
            first_error_line(&with_backtrace).as_deref(),
            Some("injected fault: the worker panicked")
        );
        assert_eq!(
            first_error_line(&lines("loading\nmemory allocation of 64 bytes failed")).as_deref(),
            Some("memory allocation of 64 bytes failed")
        );
    }

    #[test]
    fn short_reasons_drop_cubecls_empty_backtrace() {
        assert_eq!(
            short_reason("can't allocate buffer of size: 8\nNo backtrace available"),
            "can't allocate buffer of size: 8"
        );
    }
}
