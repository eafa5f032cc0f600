//! What a run reports: the JSON shape (a public interface, described in BENCHMARKS.md) and its table form.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use crate::cpu::CpuSplit;
use crate::fleet::Workload;
use crate::soak::SoakReport;

/// One measured phase of a fleet run.
#[derive(Debug, Clone, Serialize)]
pub struct Phase {
    pub name: &'static str,
    pub wall_s: f64,
    pub records_per_s: f64,
    pub changes_per_s: f64,
    /// Latencies of one sync round per device (for a single-device phase, its wall time).
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    /// Sync body bytes (headers not counted).
    pub bytes_up: u64,
    pub bytes_down: u64,
    /// Records and changes the phase moved.
    pub records: usize,
    pub changes: usize,
    /// Bootstrap only: the sum over records of the size of the compacted document (`save()`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compacted_bytes: Option<u64>,
    /// Bootstrap only: `bytes_down / compacted_bytes` (target ≤ 1.5).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes_down_per_compacted: Option<f64>,
    /// Pull phases: document entries the pages carried (a record can come more than once: whole,
    /// then again with a newer chunk).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub docs_in_pages: Option<usize>,
    /// Incremental pull only: the wall time scaled to 1,000 changed records (target < 200 ms).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ms_per_1000_records: Option<f64>,
    /// Push phases: pushes the SDK gave up on after its retries (timeouts, 5xx, 429) that the device
    /// then made again, as a sync job does on its next run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pushes_given_up: Option<usize>,
    /// Push phases: the pushes given up, by the error code of the SDK's last try (`network` when
    /// the server did not answer).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub given_up_for: Option<BTreeMap<String, usize>>,
    /// Where the phase's CPU time went (Linux): the servers, the devices, the rest, idle.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu: Option<CpuSplit>,
}

impl Phase {
    /// A phase from its wall time, its counts and the latencies of its sync rounds.
    pub fn new(
        name: &'static str,
        wall: Duration,
        records: usize,
        changes: usize,
        latencies: &mut [Duration],
        (bytes_up, bytes_down): (u64, u64),
    ) -> Phase {
        latencies.sort();
        let wall_s = wall.as_secs_f64();
        Phase {
            name,
            wall_s,
            records_per_s: records as f64 / wall_s,
            changes_per_s: changes as f64 / wall_s,
            p50_ms: percentile_ms(latencies, 0.50),
            p95_ms: percentile_ms(latencies, 0.95),
            p99_ms: percentile_ms(latencies, 0.99),
            bytes_up,
            bytes_down,
            records,
            changes,
            compacted_bytes: None,
            bytes_down_per_compacted: None,
            docs_in_pages: None,
            ms_per_1000_records: None,
            pushes_given_up: None,
            given_up_for: None,
            cpu: None,
        }
    }
}

/// The nearest-rank percentile of sorted latencies, in milliseconds (0 when there are none).
pub fn percentile_ms(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i].as_secs_f64() * 1000.0
}

/// Resident memory of the server processes: the largest one and the sum over all of them.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq)]
pub struct Rss {
    pub max_bytes: u64,
    pub sum_bytes: u64,
}

/// A fleet run (`initial-push`, `second-push`, `incremental-pull`, `bootstrap`).
#[derive(Debug, Serialize)]
pub struct Report {
    /// `customers` or `domain`.
    pub workload: Workload,
    pub devices: usize,
    pub records: usize,
    pub edits: usize,
    /// Server processes the devices were spread over.
    pub processes: usize,
    /// The CPU each server process was capped at (`--server-cpus`), in cores; null when uncapped.
    pub server_cpus: Option<f64>,
    /// Logging in and creating every record offline (not a measured phase).
    pub setup_s: f64,
    pub phases: Vec<Phase>,
    /// Peak resident memory of the largest server process; null when it cannot be read (with
    /// `--server` and no `--server-pid`).
    pub server_rss_peak_bytes: Option<u64>,
    /// The sum of every server process's peak.
    pub server_rss_peak_sum_bytes: Option<u64>,
    /// The database's size at the end (SQLite: file plus WAL); null when unknown.
    pub database_bytes: Option<u64>,
    pub converged: bool,
    /// What did not converge, when something did not.
    pub divergence: Vec<String>,
}

/// A soak run, with the server figures of the fleet report.
#[derive(Debug, Serialize)]
pub struct SoakRun {
    pub soak: SoakReport,
    pub processes: usize,
    pub server_cpus: Option<f64>,
    pub server_rss_peak_bytes: Option<u64>,
    pub server_rss_peak_sum_bytes: Option<u64>,
    pub database_bytes: Option<u64>,
    pub converged: bool,
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1u64 << 20) as f64)
}

fn capped(cpus: Option<f64>) -> String {
    cpus.map(|c| format!(" capped at {c} core(s) each"))
        .unwrap_or_default()
}

fn opt_mib(bytes: Option<u64>) -> String {
    bytes.map(mib).unwrap_or_else(|| "unknown".into())
}

impl Report {
    pub fn print_table(&self) {
        println!(
            "{:?} workload: {} devices x {} records x {} edits, {} server process(es){}; setup {:.1} s; converged: {}",
            self.workload,
            self.devices,
            self.records,
            self.edits,
            self.processes,
            capped(self.server_cpus),
            self.setup_s,
            self.converged
        );
        println!(
            "{:<17} {:>8} {:>10} {:>10} {:>8} {:>8} {:>8} {:>12} {:>12}",
            "phase",
            "wall_s",
            "records/s",
            "changes/s",
            "p50_ms",
            "p95_ms",
            "p99_ms",
            "bytes_up",
            "bytes_down"
        );
        for p in &self.phases {
            println!(
                "{:<17} {:>8.3} {:>10.0} {:>10.0} {:>8.1} {:>8.1} {:>8.1} {:>12} {:>12}",
                p.name,
                p.wall_s,
                p.records_per_s,
                p.changes_per_s,
                p.p50_ms,
                p.p95_ms,
                p.p99_ms,
                p.bytes_up,
                p.bytes_down
            );
            if let (Some(c), Some(r)) = (p.compacted_bytes, p.bytes_down_per_compacted) {
                println!("  compacted documents: {c} bytes; bytes down / compacted: {r:.2}");
            }
            if let Some(docs) = p.docs_in_pages {
                println!("  document entries in the pages: {docs}");
            }
            if let Some(ms) = p.ms_per_1000_records {
                println!("  per 1,000 changed records: {ms:.1} ms");
            }
            if let Some(c) = p.cpu {
                let server = c
                    .server_s
                    .map_or_else(|| "unknown".into(), |s| format!("{s:.2} s"));
                println!(
                    "  CPU: server {server}, devices {:.2} s, other (database) {:.2} s, idle {:.2} s",
                    c.loadgen_s, c.other_s, c.idle_s
                );
            }
        }
        println!(
            "server peak RSS: {} (largest process), {} (sum); database: {}",
            opt_mib(self.server_rss_peak_bytes),
            opt_mib(self.server_rss_peak_sum_bytes),
            opt_mib(self.database_bytes)
        );
        for d in &self.divergence {
            println!("diverged: {d}");
        }
    }
}

impl SoakRun {
    pub fn print_table(&self) {
        let s = &self.soak;
        println!(
            "soak: {} devices in {} territories for {:.0} s, {} server process(es){}",
            s.devices,
            s.territories,
            s.seconds,
            self.processes,
            capped(self.server_cpus)
        );
        println!(
            "syncs: {} ({:.1}/s), p50 {:.1} ms, p95 {:.1} ms, p99 {:.1} ms; throttled: {}",
            s.syncs, s.syncs_per_s, s.sync_p50_ms, s.sync_p95_ms, s.sync_p99_ms, s.throttled
        );
        println!(
            "changes made: {} ({} records created); errors: {}; lost changes: {}; converged: {}",
            s.changes_made, s.records_created, s.errors, s.lost_changes, s.converged
        );
        for e in &s.error_samples {
            println!("  error: {e}");
        }
        if let (Some(first), Some(peak), Some(last)) = (s.rss_first, s.rss_peak, s.rss_last) {
            println!(
                "server RSS (sum over processes): first {}, peak {}, last {}; stable: {}",
                mib(first.sum_bytes),
                mib(peak.sum_bytes),
                mib(last.sum_bytes),
                s.memory_stable
                    .map(|b| b.to_string())
                    .unwrap_or_else(|| "too few samples".into())
            );
        }
        println!(
            "database: {}; passed: {}",
            opt_mib(self.database_bytes),
            s.passed
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: &[u64]) -> Vec<Duration> {
        v.iter().map(|&m| Duration::from_millis(m)).collect()
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let sorted = ms(&(1..=100).collect::<Vec<_>>());
        assert_eq!(percentile_ms(&sorted, 0.50), 50.0);
        assert_eq!(percentile_ms(&sorted, 0.95), 95.0);
        assert_eq!(percentile_ms(&sorted, 0.99), 99.0);
        assert_eq!(percentile_ms(&ms(&[7]), 0.99), 7.0);
        assert_eq!(percentile_ms(&[], 0.5), 0.0);
    }

    #[test]
    fn a_phase_sorts_its_latencies_and_divides_by_its_wall_time() {
        let mut latencies = ms(&[30, 10, 20]);
        let p = Phase::new("x", Duration::from_secs(2), 10, 40, &mut latencies, (1, 2));
        assert_eq!((p.records_per_s, p.changes_per_s), (5.0, 20.0));
        assert_eq!((p.p50_ms, p.p99_ms), (20.0, 30.0));
        let json = serde_json::to_value(&p).unwrap();
        for field in [
            "name",
            "wall_s",
            "records_per_s",
            "changes_per_s",
            "p50_ms",
            "p95_ms",
            "p99_ms",
            "bytes_up",
            "bytes_down",
        ] {
            assert!(json.get(field).is_some(), "{field}");
        }
        assert!(json.get("compacted_bytes").is_none());
    }
}
