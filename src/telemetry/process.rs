//! The standard `process_*` metrics and `piigate_build_info`, read at scrape time.
//!
//! prometheus-client ships no process collector, and the crates that add one pull in a
//! platform layer for a handful of numbers that Linux exposes in `/proc/self`: CPU time,
//! memory, threads, file descriptors, start time. The names and units are the ones every
//! Prometheus client library exports, so existing dashboards and alerts apply. Elsewhere than
//! Linux the process metrics are simply absent.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

/// `USER_HZ`: the unit of the times in `/proc/<pid>/stat`. The kernel fixes it at 100 for
/// user space on every architecture Linux supports today (it is part of the ABI, unlike the
/// internal `HZ`).
const USER_HZ: f64 = 100.0;

/// Reads `/proc/self` at every scrape.
#[derive(Debug, Default)]
pub struct ProcessCollector;

/// What one scrape read; `None` where a file was unreadable.
#[derive(Debug, Default, PartialEq)]
pub struct ProcessStats {
    /// User plus system CPU time, seconds.
    pub cpu_seconds: Option<f64>,
    /// Resident set size, bytes.
    pub resident_bytes: Option<u64>,
    /// Virtual memory size, bytes.
    pub virtual_bytes: Option<u64>,
    /// Threads.
    pub threads: Option<u64>,
    /// Open file descriptors.
    pub open_fds: Option<u64>,
    /// The soft limit on file descriptors.
    pub max_fds: Option<u64>,
    /// Start time, seconds since the Unix epoch.
    pub start_time_seconds: Option<f64>,
}

impl ProcessStats {
    /// Reads the current process's numbers.
    pub fn read() -> Self {
        let stat = std::fs::read_to_string("/proc/self/stat").ok();
        let status = std::fs::read_to_string("/proc/self/status").ok();
        let fields = stat.as_deref().and_then(stat_fields);
        let field = |i: usize| {
            fields
                .as_ref()
                .and_then(|f| f.get(i))
                .and_then(|v| v.parse::<u64>().ok())
        };
        let kib = |key: &str| {
            status
                .as_deref()
                .and_then(|s| status_kib(s, key))
                .map(|k| k * 1024)
        };
        // Field numbers as in proc(5), counted from 1; `stat_fields` starts at field 3.
        let cpu = field(14 - 3)
            .zip(field(15 - 3))
            .map(|(u, s)| (u + s) as f64 / USER_HZ);
        let boot = std::fs::read_to_string("/proc/stat").ok().and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("btime "))
                .and_then(|v| v.trim().parse::<u64>().ok())
        });
        let start = field(22 - 3)
            .zip(boot)
            .map(|(ticks, boot)| boot as f64 + ticks as f64 / USER_HZ);
        Self {
            cpu_seconds: cpu,
            resident_bytes: kib("VmRSS:"),
            virtual_bytes: kib("VmSize:"),
            threads: status.as_deref().and_then(|s| status_value(s, "Threads:")),
            open_fds: std::fs::read_dir("/proc/self/fd")
                .ok()
                .map(|d| d.count() as u64),
            max_fds: std::fs::read_to_string("/proc/self/limits")
                .ok()
                .and_then(|s| max_open_files(&s)),
            start_time_seconds: start,
        }
    }
}

/// The fields of `/proc/self/stat` after the command name (which may contain spaces and
/// parentheses, so the split is at the last `)`), starting with field 3 (`state`).
fn stat_fields(stat: &str) -> Option<Vec<&str>> {
    let rest = &stat[stat.rfind(')')? + 1..];
    Some(rest.split_ascii_whitespace().collect())
}

fn status_value(status: &str, key: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.split_ascii_whitespace().next())
        .and_then(|v| v.parse().ok())
}

fn status_kib(status: &str, key: &str) -> Option<u64> {
    status_value(status, key)
}

fn max_open_files(limits: &str) -> Option<u64> {
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..]
        .split_ascii_whitespace()
        .next()
        .and_then(|v| v.parse().ok())
}

fn gauge<N: prometheus_client::encoding::EncodeGaugeValue>(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    value: Option<N>,
) -> Result<(), std::fmt::Error> {
    if let Some(v) = value {
        let metric = ConstGauge::new(v);
        metric.encode(encoder.encode_descriptor(name, help, None, MetricType::Gauge)?)?;
    }
    Ok(())
}

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let s = ProcessStats::read();
        if let Some(cpu) = s.cpu_seconds {
            let metric = ConstCounter::new(cpu);
            metric.encode(encoder.encode_descriptor(
                "process_cpu_seconds",
                "Total user and system CPU time spent in seconds",
                None,
                MetricType::Counter,
            )?)?;
        }
        gauge(
            &mut encoder,
            "process_resident_memory_bytes",
            "Resident memory size in bytes",
            s.resident_bytes,
        )?;
        gauge(
            &mut encoder,
            "process_virtual_memory_bytes",
            "Virtual memory size in bytes",
            s.virtual_bytes,
        )?;
        gauge(
            &mut encoder,
            "process_threads",
            "Number of OS threads",
            s.threads,
        )?;
        gauge(
            &mut encoder,
            "process_open_fds",
            "Number of open file descriptors",
            s.open_fds,
        )?;
        gauge(
            &mut encoder,
            "process_max_fds",
            "Maximum number of open file descriptors",
            s.max_fds,
        )?;
        gauge(
            &mut encoder,
            "process_start_time_seconds",
            "Start time of the process since unix epoch in seconds",
            s.start_time_seconds,
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_survive_a_command_name_with_spaces_and_parentheses() {
        let stat = "42 (tokio (rt) 1) S 1 42 42 0 -1 4194560 100 0 0 0 250 130 0 0 20 0 7 0 12345 1000 300";
        let f = stat_fields(stat).expect("fields");
        assert_eq!(f[0], "S");
        assert_eq!(f[14 - 3], "250");
        assert_eq!(f[15 - 3], "130");
        assert_eq!(f[20 - 3], "7");
        assert_eq!(f[22 - 3], "12345");
    }

    #[test]
    fn limits_give_the_soft_file_limit() {
        let limits = "Limit                     Soft Limit           Hard Limit           Units     \n\
                      Max open files            65536                524288               files     \n";
        assert_eq!(max_open_files(limits), Some(65536));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn this_process_reports_plausible_numbers() {
        let s = ProcessStats::read();
        assert!(s.cpu_seconds.is_some_and(|c| c >= 0.0));
        assert!(s.resident_bytes.is_some_and(|r| r > 1 << 20));
        assert!(s.threads.is_some_and(|t| t >= 1));
        assert!(s.open_fds.is_some_and(|n| n >= 3));
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        assert!(
            s.start_time_seconds
                .is_some_and(|t| t <= now + 1.0 && t > now - 86_400.0)
        );
    }
}
