//! A process's CPU time and resident memory, read from `/proc` (Linux).

use std::time::{Duration, Instant};

/// One reading of a process's counters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Sample {
    /// When it was taken.
    pub(crate) at: Instant,
    /// User plus system CPU time so far.
    pub(crate) cpu: Duration,
    /// Resident set size, in KiB.
    pub(crate) rss_kib: u64,
}

impl Sample {
    /// Reads process `pid` (`"self"` for this one); `None` when it is gone
    /// or `/proc` is not there.
    pub(crate) fn read(pid: &str, ticks_per_second: u64) -> Option<Sample> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let at = Instant::now();
        let ticks = cpu_ticks(&stat)?;
        let cpu = Duration::from_secs_f64(ticks as f64 / ticks_per_second.max(1) as f64);
        Some(Sample { at, cpu, rss_kib: rss_kib(&status)? })
    }

    /// CPU use between `earlier` and this sample, in percent of one core.
    pub(crate) fn cpu_percent_since(&self, earlier: &Sample) -> f64 {
        let wall = self.at.saturating_duration_since(earlier.at).as_secs_f64();
        if wall <= 0.0 {
            return 0.0;
        }
        self.cpu.saturating_sub(earlier.cpu).as_secs_f64() / wall * 100.0
    }
}

/// The whole machine's CPU counters (`/proc/stat`, all cores): busy and
/// total ticks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Machine {
    pub(crate) busy: u64,
    pub(crate) total: u64,
}

impl Machine {
    /// Reads `/proc/stat`.
    pub(crate) fn read() -> Option<Machine> {
        machine_ticks(&std::fs::read_to_string("/proc/stat").ok()?)
    }

    /// CPU use between `earlier` and now, in percent of one core, given
    /// the number of cores.
    pub(crate) fn percent_since(&self, earlier: &Machine, cores: usize) -> f64 {
        let total = self.total.saturating_sub(earlier.total);
        if total == 0 {
            return 0.0;
        }
        self.busy.saturating_sub(earlier.busy) as f64 / total as f64 * 100.0 * cores as f64
    }
}

/// Busy and total ticks from the `cpu` line of `/proc/stat`: user, nice,
/// system, idle, iowait, irq, softirq, steal; idle and iowait are not busy.
pub(crate) fn machine_ticks(stat: &str) -> Option<Machine> {
    let line = stat.lines().find(|line| line.starts_with("cpu "))?;
    let ticks: Vec<u64> =
        line.split_whitespace().skip(1).take(8).filter_map(|t| t.parse().ok()).collect();
    if ticks.len() < 5 {
        return None;
    }
    let total: u64 = ticks.iter().sum();
    let idle = ticks.get(3).copied().unwrap_or(0) + ticks.get(4).copied().unwrap_or(0);
    Some(Machine { busy: total - idle, total })
}

/// `utime + stime` from the text of `/proc/<pid>/stat`. The command name
/// (field 2) may hold spaces and parentheses, so fields are counted from
/// the last `)`: state is field 3, utime 14 and stime 15.
pub(crate) fn cpu_ticks(stat: &str) -> Option<u64> {
    let after = stat.get(stat.rfind(')')? + 1..)?;
    let mut fields = after.split_whitespace().skip(11);
    let user: u64 = fields.next()?.parse().ok()?;
    let system: u64 = fields.next()?.parse().ok()?;
    Some(user + system)
}

/// `VmRSS` from the text of `/proc/<pid>/status`, in KiB.
pub(crate) fn rss_kib(status: &str) -> Option<u64> {
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Clock ticks per second of `/proc`'s CPU times (`getconf CLK_TCK`; 100
/// on every Linux this runs on when `getconf` is missing).
pub(crate) fn ticks_per_second() -> u64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or(100)
}

/// The CPU model and the number of online cores, for the report.
pub(crate) fn machine() -> (String, usize) {
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|line| line.starts_with("model name"))
                .and_then(|line| line.split_once(':'))
                .map(|(_, model)| model.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".to_owned());
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    (model, cores)
}
