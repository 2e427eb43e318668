//! The worker's `log` backend: CubeCL's warnings and errors (and anything at
//! `RUST_LOG`'s level) go to stderr with a timestamp, where the runner keeps them
//! with a failed run; CubeCL's "[Compiling kernel]" messages are counted, so a CUDA
//! record says how many kernels its warm-up compiled (none with a warm cache).

use std::sync::atomic::{AtomicU64, Ordering};

/// What CubeCL 0.10 logs (at info level, when its compilation logger is switched on
/// and routed to `log`) each time it compiles a kernel.
const COMPILING: &str = "[Compiling kernel]";

static KERNELS_COMPILED: AtomicU64 = AtomicU64::new(0);

struct WorkerLog {
    inner: env_logger::Logger,
}

impl log::Log for WorkerLog {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        metadata.level() <= log::Level::Info || self.inner.enabled(metadata)
    }

    fn log(&self, record: &log::Record) {
        if record.level() == log::Level::Info && record.args().to_string().starts_with(COMPILING) {
            KERNELS_COMPILED.fetch_add(1, Ordering::Relaxed);
        }
        if self.inner.matches(record) {
            self.inner.log(record);
        }
    }

    fn flush(&self) {
        self.inner.flush();
    }
}

/// Installs the worker's logger (once; later calls do nothing).
pub fn install() {
    let inner = env_logger::Builder::new()
        .filter_level(log::LevelFilter::Warn)
        .parse_env("RUST_LOG")
        .target(env_logger::Target::Stderr)
        .format_timestamp_millis()
        .build();
    let level = inner.filter().max(log::LevelFilter::Info);
    if log::set_boxed_logger(Box::new(WorkerLog { inner })).is_ok() {
        log::set_max_level(level);
    }
}

/// Kernels CubeCL compiled in this process so far.
pub fn kernels_compiled() -> u64 {
    KERNELS_COMPILED.load(Ordering::Relaxed)
}

/// Counts `n` compiled kernels as if CubeCL had logged them (tests without a GPU).
#[cfg(test)]
pub fn pretend_compiled(n: u64) {
    KERNELS_COMPILED.fetch_add(n, Ordering::Relaxed);
}
