//! Detection latency and footprint against the real test bed.
//!
//! `cargo bench --bench detection` starts a ZooKeeper-mode cluster (3 + 3) at
//! Kafka's default broker settings (`KSH_BENCH_TUNED=1`: the test bed's 6 s
//! ZooKeeper session) and the daemon with default monitoring settings, then:
//! - kills broker-2 with SIGKILL `KSH_BENCH_KILLS` times (default 10) and
//!   measures kill → `failed` transition in the daemon's log;
//! - SIGSTOPs it `KSH_BENCH_STOPS` times (default 10) and measures the same,
//!   there and on a KRaft cluster (3 controllers + 3 brokers);
//! - watches a ZooKeeper-mode and a KRaft cluster for `KSH_BENCH_IDLE_SECS`
//!   (default 60) and samples the daemon's RSS and CPU;
//! - then GETs `/metrics` and `/api/v1/status` `KSH_BENCH_HTTP` times (default 200).
//!
//! Prints a Markdown table for docs/performance.md. Not a test: it asserts
//! nothing, it measures.

use std::path::Path;
use std::time::{Duration, Instant};

use kafka_testbed::{Cluster, Daemon, Spec, cluster_section, free_port};

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn config(clusters: &[&Cluster], log: &Path, http: &str) -> String {
    let prefixes = ["c0-", "c1-"];
    let named: Vec<(&str, &Cluster)> = clusters.iter().enumerate().map(|(i, c)| (prefixes[i], *c)).collect();
    let dir = log.parent().unwrap_or(Path::new("."));
    format!(
        "{}logging:\n  file: {}\n  format: json\n  audit: {{file: {}}}\nsystem:\n  state_dir: {}\n{}",
        cluster_section("bench", &named),
        log.display(),
        dir.join("audit.log").display(),
        dir.join("state").display(),
        http
    )
}

/// The daemon, and its HTTP server's port.
fn start_daemon(dir: &Path, clusters: &[&Cluster]) -> (Daemon, u16) {
    let log = dir.join(format!("daemon-{}.log", clusters.len()));
    let cfg = dir.join(format!("bench-{}.yaml", clusters.len()));
    let port = free_port();
    let http = format!("  metrics: {{port: {port}, bind_address: 127.0.0.1}}\n");
    std::fs::write(&cfg, config(clusters, &log, &http)).unwrap();
    let daemon = Daemon::start(Path::new(env!("CARGO_BIN_EXE_kafka-self-healing")), &cfg, log, &["--dry-run"]).unwrap();
    (daemon, port)
}

/// Latency (ms) of `n` GETs of `path`, one after the other, each on a new connection.
fn http_latencies(port: u16, path: &str, n: usize) -> Vec<f64> {
    use std::io::{Read, Write};
    (0..n)
        .filter_map(|_| {
            let started = Instant::now();
            let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
            write!(s, "GET {path} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n").ok()?;
            let mut body = Vec::new();
            s.read_to_end(&mut body).ok()?;
            body.starts_with(b"HTTP/1.1 200").then(|| started.elapsed().as_secs_f64() * 1000.0)
        })
        .collect()
}

fn count(daemon: &Daemon, node: &str, to: &str) -> usize {
    daemon.transitions(node).iter().filter(|t| t.1 == to).count()
}

/// Waits for one more `to` transition of `node` than `before`; returns when it was seen.
fn wait(daemon: &Daemon, node: &str, to: &str, before: usize, limit: Duration) -> Instant {
    let start = Instant::now();
    while count(daemon, node, to) <= before {
        assert!(start.elapsed() < limit, "{node} did not become {to} within {limit:?}");
        std::thread::sleep(Duration::from_millis(5));
    }
    Instant::now()
}

fn stats(mut ms: Vec<f64>) -> (f64, f64, f64, f64) {
    ms.sort_by(|a, b| a.total_cmp(b));
    let pick = |q: f64| ms[((ms.len() as f64 - 1.0) * q).round() as usize];
    (ms[0], pick(0.5), pick(0.99), ms[ms.len() - 1])
}

/// `runs` times: SIGKILL (or SIGSTOP, `hang`) `bed_name` of `cluster`, watched
/// as `node`, and the time until the daemon logs it failed; then it comes back.
fn measure(daemon: &Daemon, cluster: &mut Cluster, node: &str, bed_name: &str, runs: u64, hang: bool) -> Vec<f64> {
    let mut out = Vec::new();
    for i in 0..runs {
        let failed_before = count(daemon, node, "failed");
        let healthy_before = count(daemon, node, "healthy");
        let t0 = Instant::now();
        if hang {
            cluster.pause(bed_name).unwrap()
        } else {
            cluster.kill(bed_name).unwrap()
        }
        let seen = wait(daemon, node, "failed", failed_before, Duration::from_secs(120));
        let ms = seen.duration_since(t0).as_secs_f64() * 1000.0;
        eprintln!("{node} {} #{}: {ms:.0} ms", if hang { "SIGSTOP" } else { "SIGKILL" }, i + 1);
        out.push(ms);
        if hang {
            cluster.resume(bed_name).unwrap()
        } else {
            cluster.start_node(bed_name).unwrap()
        }
        wait(daemon, node, "healthy", healthy_before, Duration::from_secs(120));
        // Back in the cluster (re-registered, unfenced) before the next run.
        std::thread::sleep(Duration::from_secs(5));
    }
    out
}

/// RSS in KiB and CPU seconds (user + system) of `pid`.
fn usage(pid: u32) -> (u64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit_once(')').map(|(_, r)| r.split_whitespace().collect()).unwrap_or_default();
    let ticks: f64 = fields.get(11).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0)
        + fields.get(12).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (rss, ticks / 100.0)
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` does not: do not
    // spend ten minutes of a test run measuring.
    if !std::env::args().any(|a| a == "--bench") {
        println!("detection: a benchmark; run it with `cargo bench --bench detection`");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // Kafka's default broker settings (ZooKeeper session 18 s, KRaft broker
    // session 9 s); KSH_BENCH_TUNED=1 for the test bed's 6 s ZooKeeper session.
    let defaults = std::env::var("KSH_BENCH_TUNED").as_deref() != Ok("1");
    let mut zk = Cluster::start(Spec { kafka_defaults: defaults, ..Spec::zookeeper() }).unwrap();
    let kills = env_or("KSH_BENCH_KILLS", 10);
    let stops = env_or("KSH_BENCH_STOPS", 10);
    let idle = env_or("KSH_BENCH_IDLE_SECS", 60);

    let (daemon, _) = start_daemon(dir.path(), &[&zk]);
    for n in ["c0-broker-1", "c0-broker-2", "c0-broker-3"] {
        wait(&daemon, n, "healthy", 0, Duration::from_secs(60));
    }
    let crash = stats(measure(&daemon, &mut zk, "c0-broker-2", "broker-2", kills, false));
    let hang = stats(measure(&daemon, &mut zk, "c0-broker-2", "broker-2", stops, true));
    drop(daemon);

    let mut kraft = Cluster::start(Spec { kafka_defaults: defaults, ..Spec::kraft_separate() }).unwrap();
    let (daemon, port) = start_daemon(dir.path(), &[&zk, &kraft]);
    for n in ["c1-broker-1", "c1-broker-2", "c1-broker-3"] {
        wait(&daemon, n, "healthy", 0, Duration::from_secs(60));
    }
    let kraft_hang = stats(measure(&daemon, &mut kraft, "c1-broker-2", "broker-2", stops, true));
    std::thread::sleep(Duration::from_secs(5));
    let pid = daemon.pid();
    let (_, cpu0) = usage(pid);
    let t0 = Instant::now();
    let mut peak = 0;
    while t0.elapsed() < Duration::from_secs(idle) {
        std::thread::sleep(Duration::from_secs(1));
        peak = peak.max(usage(pid).0);
    }
    let (rss, cpu1) = usage(pid);
    let cpu_percent = (cpu1 - cpu0) / t0.elapsed().as_secs_f64() * 100.0;
    // The HTTP server while the daemon watches 12 nodes.
    let requests = env_or("KSH_BENCH_HTTP", 200) as usize;
    let metrics = stats(http_latencies(port, "/metrics", requests));
    let api = stats(http_latencies(port, "/api/v1/status", requests));

    println!("| measurement | runs | min | median | p99 | max |");
    println!("|---|---|---|---|---|---|");
    println!("| SIGKILL → failed (ms) | {kills} | {:.0} | {:.0} | {:.0} | {:.0} |", crash.0, crash.1, crash.2, crash.3);
    println!(
        "| SIGSTOP → failed, ZooKeeper mode (ms) | {stops} | {:.0} | {:.0} | {:.0} | {:.0} |",
        hang.0, hang.1, hang.2, hang.3
    );
    println!(
        "| SIGSTOP → failed, KRaft (ms) | {stops} | {:.0} | {:.0} | {:.0} | {:.0} |",
        kraft_hang.0, kraft_hang.1, kraft_hang.2, kraft_hang.3
    );
    println!(
        "| GET /metrics, 12 nodes (ms) | {requests} | {:.1} | {:.1} | {:.1} | {:.1} |",
        metrics.0, metrics.1, metrics.2, metrics.3
    );
    println!(
        "| GET /api/v1/status, 12 nodes (ms) | {requests} | {:.1} | {:.1} | {:.1} | {:.1} |",
        api.0, api.1, api.2, api.3
    );
    println!();
    println!("| footprint, watching 6 ZooKeeper-mode + 6 KRaft nodes for {idle} s | value |");
    println!("|---|---|");
    println!("| RSS at the end (MiB) | {:.1} |", rss as f64 / 1024.0);
    println!("| peak RSS (MiB) | {:.1} |", peak as f64 / 1024.0);
    println!("| CPU (% of one core) | {cpu_percent:.2} |");
}
