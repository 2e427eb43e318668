//! The worker's CPU and memory, from the kernel's own per-process counters.
//!
//! CPU use is the change of the process's user + system CPU time (`/proc/PID/stat`,
//! in clock ticks) over the wall time between two samples, so every CPU-second the
//! process (all its threads) used is counted once, whatever the sampling interval.
//! (An earlier sampler read sysinfo's per-process percentage, which needs a refresh
//! cycle it did not get and under-reported a 2-core CNN run by about 2.5×.) Resident
//! memory is `/proc/PID/statm`; host memory in use is MemTotal − MemAvailable from
//! `/proc/meminfo`. Off Linux these figures are `null`, with the reason.

use std::time::Instant;

use super::{Sample, Sampler};

const MIB: f64 = 1024.0 * 1024.0;

/// Samples one process (by PID) and the host's memory.
pub struct ProcessSampler {
    pid: u32,
    cores: f64,
    ticks_per_s: f64,
    page_bytes: f64,
    last: Option<(Instant, u64)>,
    missing: Option<String>,
}

impl ProcessSampler {
    /// A sampler for process `pid`.
    pub fn new(pid: u32) -> Self {
        // SAFETY: sysconf only reads system constants.
        let (ticks, page) = unsafe {
            (
                libc::sysconf(libc::_SC_CLK_TCK),
                libc::sysconf(libc::_SC_PAGESIZE),
            )
        };
        let mut sampler = ProcessSampler {
            pid,
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()) as f64,
            ticks_per_s: if ticks > 0 { ticks as f64 } else { 100.0 },
            page_bytes: if page > 0 { page as f64 } else { 4096.0 },
            last: None,
            missing: None,
        };
        // The first reading only sets the starting point of the CPU-time difference.
        sampler.last = sampler.cpu_ticks().map(|t| (Instant::now(), t));
        sampler
    }

    /// User + system CPU time of the process so far, in clock ticks.
    fn cpu_ticks(&mut self) -> Option<u64> {
        let path = format!("/proc/{}/stat", self.pid);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) => {
                // Once read, a missing file means the process has exited: not a gap.
                if self.last.is_none() {
                    self.missing
                        .get_or_insert_with(|| format!("cannot read {path} ({e})"));
                }
                return None;
            }
        };
        parse_stat_ticks(&text)
    }

    fn rss_mib(&self) -> Option<f64> {
        let text = std::fs::read_to_string(format!("/proc/{}/statm", self.pid)).ok()?;
        let pages: f64 = text.split_whitespace().nth(1)?.parse().ok()?;
        Some(pages * self.page_bytes / MIB)
    }
}

/// utime + stime (fields 14 and 15) of a `/proc/PID/stat` line. The command name
/// (field 2) is in parentheses and may hold spaces, so fields are counted after the
/// last `)`.
pub fn parse_stat_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state): utime is field 14, stime field 15.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// Host memory in use, MiB: MemTotal − MemAvailable.
fn host_used_mib() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let field = |name: &str| -> Option<f64> {
        let line = text.lines().find(|l| l.starts_with(name))?;
        let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kib / 1024.0)
    };
    Some(field("MemTotal:")? - field("MemAvailable:")?)
}

impl Sampler for ProcessSampler {
    fn name(&self) -> &'static str {
        "procfs"
    }

    fn sample(&mut self, into: &mut Sample) {
        let now = Instant::now();
        if let Some(ticks) = self.cpu_ticks() {
            if let Some((then, before)) = self.last {
                let wall = now.duration_since(then).as_secs_f64();
                if wall > 0.0 {
                    let cpu_s = ticks.saturating_sub(before) as f64 / self.ticks_per_s;
                    into.cpu_util = Some(100.0 * cpu_s / wall / self.cores);
                }
            }
            self.last = Some((now, ticks));
        }
        into.rss_mib = self.rss_mib();
        into.sys_mem_mib = host_used_mib();
    }

    fn notes(&self) -> Vec<(&'static str, String)> {
        match &self.missing {
            Some(why) => vec![("cpu_util_mean", why.clone())],
            None => vec![],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_counted_after_the_command_name() {
        let line = "1234 (my (odd) cmd) R 1 2 3 4 5 6 7 8 9 10 250 40 0 0 20 0 3 0";
        assert_eq!(parse_stat_ticks(line), Some(290));
        assert_eq!(parse_stat_ticks("garbage"), None);
    }

    /// The sampler's CPU integral against the kernel's own account of a child's CPU
    /// time (wait4's rusage): a busy shell loop, sampled every 20 ms.
    #[cfg(target_os = "linux")]
    #[test]
    fn cpu_use_matches_the_kernels_account_of_a_busy_loop() {
        let child = std::process::Command::new("sh")
            .arg("-c")
            .arg("i=0; while [ $i -lt 400000 ]; do i=$((i+1)); done")
            .spawn()
            .unwrap();
        let pid = child.id();
        let mut sampler = ProcessSampler::new(pid);
        let mut integral = 0.0; // core-seconds
        let mut last = Instant::now();
        loop {
            std::thread::sleep(std::time::Duration::from_millis(20));
            // A zombie's stat keeps its final CPU times: one last sample, then stop.
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
            let exited = stat[stat.rfind(')').unwrap() + 1..]
                .trim_start()
                .starts_with('Z');
            let mut s = Sample::default();
            sampler.sample(&mut s);
            let now = Instant::now();
            integral += s.cpu_util.unwrap() / 100.0
                * sampler.cores
                * now.duration_since(last).as_secs_f64();
            last = now;
            if exited {
                break;
            }
        }
        // The process has exited (its stat is gone or a zombie's): reap it with wait4.
        let mut status = 0;
        // SAFETY: an all-zero rusage is a valid out-value; pid is our own child.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        unsafe { libc::wait4(pid as i32, &mut status, 0, &mut usage) };
        let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
        let kernel = tv(usage.ru_utime) + tv(usage.ru_stime);
        assert!(
            kernel > 0.1,
            "the loop burned only {kernel} s; make it longer"
        );
        let ratio = integral / kernel;
        assert!(
            (0.85..=1.1).contains(&ratio),
            "sampled {integral:.3} core-s, kernel says {kernel:.3} s"
        );
        drop(child);
    }
}
