//! The daemon watching itself: memory, CPU and disk against
//! `system.self_monitoring` and `system.memory_limit_mb`.
//!
//! Owns: the periodic sample (a `performance.log` line each interval), the
//! judgement of a sample against the thresholds (pure: `assess`), saying so
//! once when it changes, and the shedding switch.
//! Must never: stop or slow monitoring and recovery — above the memory limit
//! only optional work is shed (per-round timing lines of `performance.log`).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::Telemetry;
use super::process::{self, Sample};
use crate::config::Config;
use crate::events::Event;
use crate::logging::PERFORMANCE;

/// What a sample says against the configuration.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Assessment {
    /// One line per threshold crossed.
    pub problems: Vec<String>,
    /// Above `system.memory_limit_mb`.
    pub shed: bool,
}

/// Judges `sample` (and the CPU share since the last one) against the thresholds.
pub fn assess(config: &Config, sample: &Sample, cpu_percent: Option<f64>) -> Assessment {
    let s = &config.system;
    let m = &s.self_monitoring;
    let mut problems = Vec::new();
    let rss = sample.rss_mb();
    if rss > m.memory_threshold_mb as f64 {
        problems.push(format!(
            "resident memory {rss:.0} MB above system.self_monitoring.memory_threshold_mb ({})",
            m.memory_threshold_mb
        ));
    }
    if let Some(cpu) = cpu_percent {
        if cpu > m.cpu_threshold_percent {
            problems.push(format!(
                "CPU {cpu:.0} % above system.self_monitoring.cpu_threshold_percent ({})",
                m.cpu_threshold_percent
            ));
        }
        if cpu > s.cpu_limit_percent {
            problems.push(format!("CPU {cpu:.0} % above system.cpu_limit_percent ({})", s.cpu_limit_percent));
        }
    }
    for (path, ratio) in &sample.disks {
        let used = ratio * 100.0;
        if used > m.disk_threshold_percent {
            problems.push(format!(
                "disk of {path} {used:.0} % full, above system.self_monitoring.disk_threshold_percent ({})",
                m.disk_threshold_percent
            ));
        }
    }
    Assessment { problems, shed: rss > s.memory_limit_mb as f64 }
}

/// The directories the daemon writes: the state store and the log files'.
pub fn watched_paths(config: &Config) -> Vec<String> {
    let mut paths = vec![config.system.state_dir.clone()];
    let logs = [config.logging.file.clone().unwrap_or_default(), config.logging.audit.file.clone()];
    for file in logs.iter().filter(|f| !f.is_empty()) {
        if let Some(dir) = std::path::Path::new(file).parent().map(|d| d.display().to_string()) {
            if !dir.is_empty() && !paths.contains(&dir) {
                paths.push(dir);
            }
        }
    }
    paths
}

/// Samples every `system.self_monitoring.interval_seconds` until `shutdown`.
pub async fn watch(
    config: Arc<Config>,
    telemetry: Arc<Telemetry>,
    events: broadcast::Sender<Event>,
    shutdown: CancellationToken,
) {
    let m = &config.system.self_monitoring;
    if !m.enabled {
        return;
    }
    let paths = watched_paths(&config);
    let mut last: Option<(Instant, f64)> = None;
    let mut previous = Assessment::default();
    loop {
        let sample = process::sample(&paths);
        let now = Instant::now();
        let cpu = last.map(|(at, secs)| {
            let wall = now.duration_since(at).as_secs_f64();
            if wall > 0.0 { (sample.cpu_seconds - secs) / wall * 100.0 } else { 0.0 }
        });
        last = Some((now, sample.cpu_seconds));
        let disks: Vec<String> = sample.disks.iter().map(|(p, r)| format!("{p}={:.1}%", r * 100.0)).collect();
        info!(
            target: PERFORMANCE,
            message = "Self-monitoring sample.",
            rss_mb = (sample.rss_mb() * 10.0).round() / 10.0,
            cpu_percent = cpu.map(|c| (c * 10.0).round() / 10.0),
            disk_used = %disks.join(" "),
        );
        let now_assessed = assess(&config, &sample, cpu);
        if now_assessed.shed != previous.shed {
            telemetry.shedding.store(now_assessed.shed, Ordering::Relaxed);
            if now_assessed.shed {
                warn!(
                    message = "Self-monitoring: above system.memory_limit_mb; shedding optional work (per-round timing lines of performance.log). Monitoring and recovery go on.",
                    rss_mb = sample.rss_mb().round(),
                    limit_mb = config.system.memory_limit_mb
                );
            } else {
                info!(message = "Self-monitoring: memory back under system.memory_limit_mb; optional work resumed.");
            }
        }
        if now_assessed.problems != previous.problems {
            if now_assessed.problems.is_empty() {
                info!(message = "Self-monitoring: the daemon's resources are back within thresholds.");
            } else {
                let reason = now_assessed.problems.join("; ");
                warn!(message = "Self-monitoring: the daemon is short of resources.", detail = %reason);
                let _ = events.send(Event::PerformanceDegraded { reason });
            }
        }
        previous = now_assessed;
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(m.interval_seconds.duration()) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(yaml: &str) -> Config {
        crate::setup::parse_str(
            &format!("cluster:\n  kafka_brokers: [{{node_id: b, host: h}}]\n{yaml}"),
            std::path::Path::new("t.yaml"),
            &|_| None,
        )
        .expect("valid")
        .config
    }

    #[test]
    fn thresholds_name_the_setting_crossed() {
        let c = config(
            "system:\n  memory_limit_mb: 100\n  self_monitoring: {memory_threshold_mb: 50, cpu_threshold_percent: 40, disk_threshold_percent: 80}\n",
        );
        let sample = Sample { rss_bytes: 120 * 1024 * 1024, cpu_seconds: 0.0, disks: vec![("/var/lib/x".into(), 0.9)] };
        let a = assess(&c, &sample, Some(55.0));
        assert!(a.shed);
        assert_eq!(a.problems.len(), 3, "{:?}", a.problems);
        assert!(a.problems[0].contains("memory_threshold_mb (50)"));
        assert!(a.problems[1].contains("cpu_threshold_percent (40)"));
        assert!(a.problems[2].contains("/var/lib/x 90 % full"));
        let calm = Sample { rss_bytes: 10 * 1024 * 1024, cpu_seconds: 0.0, disks: vec![("/".into(), 0.1)] };
        assert_eq!(assess(&c, &calm, Some(1.0)), Assessment::default());
    }
}
