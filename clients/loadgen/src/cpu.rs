//! Where a phase's CPU time went, read from Linux `/proc`: the server processes, this program (the
//! simulated devices), everything else on the machine (the database above all), and the time the
//! machine's cores stood idle. A phase that leaves no idle time is bound by CPU, and the split says
//! whose; a phase with idle time to spare is bound by something else (latency, locks, the disk).

use serde::Serialize;

/// A phase's CPU time, in core-seconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CpuSplit {
    /// The server processes; null when their ids are unknown (`--server` without `--server-pid`)
    /// or a server runs inside this program, and then counted under `other_s` or `loadgen_s`.
    pub server_s: Option<f64>,
    /// This program: the devices' SDK and their SQLite stores.
    pub loadgen_s: f64,
    /// Every other process and the kernel's own work: the database, when it runs on this machine.
    pub other_s: f64,
    /// Core-seconds no process used.
    pub idle_s: f64,
}

/// The machine's and the processes' CPU counters at one moment, in clock ticks.
#[derive(Debug, Clone, Copy)]
pub struct CpuClock {
    busy: u64,
    idle: u64,
    loadgen: u64,
    server: Option<u64>,
}

impl CpuClock {
    /// The counters now; None where `/proc` cannot be read (not Linux) or a server has exited.
    pub fn read(server_pids: &[u32]) -> Option<CpuClock> {
        let (busy, idle) = machine_ticks(&std::fs::read_to_string("/proc/stat").ok()?)?;
        let me = std::process::id();
        let server = if server_pids.is_empty() || server_pids.contains(&me) {
            None
        } else {
            Some(
                server_pids
                    .iter()
                    .map(|pid| process_ticks(*pid))
                    .sum::<Option<u64>>()?,
            )
        };
        Some(CpuClock {
            busy,
            idle,
            loadgen: process_ticks(me)?,
            server,
        })
    }

    /// What was spent between `earlier` and this reading.
    pub fn since(&self, earlier: &CpuClock) -> CpuSplit {
        let tick = 1.0 / ticks_per_second();
        let server = match (self.server, earlier.server) {
            (Some(now), Some(then)) => Some(now.saturating_sub(then)),
            _ => None,
        };
        let busy = self.busy.saturating_sub(earlier.busy);
        let loadgen = self.loadgen.saturating_sub(earlier.loadgen);
        // The machine's and the processes' counters are sampled at slightly different moments, so
        // the rest can come out a tick or two below zero.
        let other = busy.saturating_sub(loadgen + server.unwrap_or(0));
        CpuSplit {
            server_s: server.map(|t| t as f64 * tick),
            loadgen_s: loadgen as f64 * tick,
            other_s: other as f64 * tick,
            idle_s: self.idle.saturating_sub(earlier.idle) as f64 * tick,
        }
    }
}

/// Busy and idle ticks summed over every core, from the `cpu` line of `/proc/stat`: user, nice,
/// system, idle, iowait, irq, softirq, steal (guest time is already inside user).
fn machine_ticks(stat: &str) -> Option<(u64, u64)> {
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .take(8)
        .map(|f| f.parse().ok())
        .collect::<Option<_>>()?;
    let [user, nice, system, idle, iowait, irq, softirq, steal] = v[..] else {
        return None;
    };
    Some((user + nice + system + irq + softirq + steal, idle + iowait))
}

/// User and system ticks of a process, all its threads included: fields 14 and 15 of
/// `/proc/PID/stat`, counted after the command name (which may hold spaces, but ends at the last
/// `)`).
fn process_ticks(pid: u32) -> Option<u64> {
    parse_process_ticks(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

fn parse_process_ticks(stat: &str) -> Option<u64> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    // Field 3 (state) is the first after the name, so fields 14 and 15 are the 12th and 13th.
    let mut fields = after_name.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

fn ticks_per_second() -> f64 {
    // SAFETY: sysconf reads a constant of the system; it has no preconditions.
    match unsafe { libc::sysconf(libc::_SC_CLK_TCK) } {
        n if n > 0 => n as f64,
        _ => 100.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn machine_ticks_sum_busy_and_idle_fields() {
        let stat = "cpu  100 5 50 1000 20 3 2 1 0 0\ncpu0 50 2 25 500 10 1 1 0 0 0\n";
        assert_eq!(machine_ticks(stat), Some((161, 1020)));
        assert_eq!(machine_ticks("cpu  1 2 3\n"), None);
    }

    #[test]
    fn process_ticks_are_read_past_a_command_name_with_spaces_and_parentheses() {
        let stat = "4242 (tokio rt (x)) S 1 4242 4242 0 -1 4194560 500 0 0 0 730 215 0 0 20 0 3 0";
        assert_eq!(parse_process_ticks(stat), Some(945));
    }

    /// This process's CPU time as `getrusage` counts it, in seconds: the same time through another
    /// interface.
    fn rusage_s() -> f64 {
        // SAFETY: getrusage writes one plain struct that we own.
        let usage = unsafe {
            let mut usage = std::mem::zeroed::<libc::rusage>();
            assert_eq!(libc::getrusage(libc::RUSAGE_SELF, &mut usage), 0);
            usage
        };
        let s = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
        s(usage.ru_utime) + s(usage.ru_stime)
    }

    #[test]
    fn work_done_in_this_program_is_counted_to_it() {
        let before = CpuClock::read(&[]).expect("Linux /proc");
        let start = rusage_s();
        let mut x = 0u64;
        while rusage_s() - start < 0.3 {
            x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
        }
        let spent = rusage_s() - start;
        let split = CpuClock::read(&[]).expect("Linux /proc").since(&before);
        assert_eq!(split.server_s, None, "no server process named");
        // The readings enclose the work; each rounds down by at most a tick.
        assert!(split.loadgen_s >= spent - 0.03, "{split:?} for {spent} s");
    }

    #[test]
    fn a_server_inside_this_program_is_not_split_from_it() {
        let clock = CpuClock::read(&[std::process::id()]).expect("Linux /proc");
        assert_eq!(clock.since(&clock).server_s, None);
    }
}
