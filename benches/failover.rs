//! Several healers on a real etcd cluster: `cargo bench --bench failover`.
//!
//! Three healers (release build) watch a real ZooKeeper-mode cluster
//! (1 ZooKeeper + 1 Kafka 3.9 broker) with `ha.lease_seconds`
//! `KSH_BENCH_LEASE` (default 10, the default), sharing a 3-member etcd
//! (Debian's `etcd-server`) on 127.0.0.1. Reported:
//!   failover  = kill -9 of the leader → the new leader's first decision
//!               (its `handover`: it has taken over the open incidents and acts),
//!               `KSH_BENCH_KILLS` times (default 10);
//!   fence     = one fence: the compare-and-write on the token that puts an
//!               attempt into the intent journal before it runs (200 times);
//!   traffic   = etcd requests and bytes per healer per minute, idle, over
//!               `KSH_BENCH_WINDOW` seconds (default 60).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use kafka_testbed::etcd::EtcdCluster;
use kafka_testbed::{Cluster, Daemon, Spec, cluster_section, http_line};
use serde_json::Value;

const PREFIX: &str = "/kafka-self-healing/bench";

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn audit(dir: &Path) -> Vec<Value> {
    std::fs::read_to_string(dir.join("audit.log"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

fn stats(mut ms: Vec<f64>) -> String {
    ms.sort_by(|a, b| a.total_cmp(b));
    let pick = |q: f64| ms[((ms.len() as f64 - 1.0) * q).round() as usize];
    format!(
        "{} runs: min {:.0} / median {:.0} / p90 {:.0} / max {:.0} ms",
        ms.len(),
        ms[0],
        pick(0.5),
        pick(0.9),
        ms[ms.len() - 1]
    )
}

struct Healer {
    dir: PathBuf,
    daemon: Option<Daemon>,
}

impl Healer {
    fn start(&mut self) {
        let daemon = Daemon::start(
            Path::new(env!("CARGO_BIN_EXE_kafka-self-healing")),
            &self.dir.join("config.yaml"),
            self.dir.join("application.log"),
            &[],
        )
        .unwrap();
        self.daemon = Some(daemon);
    }
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let (lease, kills, window) =
        (env_or("KSH_BENCH_LEASE", 10), env_or("KSH_BENCH_KILLS", 10), env_or("KSH_BENCH_WINDOW", 60));
    let cluster = Cluster::start(Spec { zookeepers: 1, brokers: 1, ..Spec::zookeeper() }).unwrap();
    let root = tempfile::tempdir().unwrap();
    let etcd = EtcdCluster::start(3, &root.path().join("etcd")).unwrap();
    let mut healers: Vec<Healer> = (0..3)
        .map(|i| {
            let dir = root.path().join(format!("healer-{i}"));
            std::fs::create_dir_all(&dir).unwrap();
            let config = format!(
                "{}ha:\n  enabled: true\n  instance_id: healer-{i}\n  lease_seconds: {lease}\n  endpoints: {}\n\
                 logging:\n  file: {}\n  format: json\n  audit: {{file: {}}}\nsystem:\n  state_dir: {}\n{}",
                cluster_section("bench", &[("", &cluster)]),
                etcd.endpoints_yaml(),
                dir.join("application.log").display(),
                dir.join("audit.log").display(),
                dir.join("state").display(),
                http_line()
            );
            std::fs::write(dir.join("config.yaml"), config).unwrap();
            Healer { dir, daemon: None }
        })
        .collect();
    for h in &mut healers {
        h.start();
    }
    let leader = || etcd.get(&format!("{PREFIX}/leader"));
    let started = Instant::now();
    while leader().is_none() {
        assert!(started.elapsed() < Duration::from_secs(30), "nobody leads");
        std::thread::sleep(Duration::from_millis(50));
    }

    // Traffic first, idle (one leader, two followers).
    let requests = |e: &EtcdCluster| e.metric_sum("grpc_server_msg_received_total");
    let bytes = |e: &EtcdCluster| {
        e.metric_sum("etcd_network_client_grpc_received_bytes_total")
            + e.metric_sum("etcd_network_client_grpc_sent_bytes_total")
    };
    std::thread::sleep(Duration::from_secs(5));
    let (r0, b0) = (requests(&etcd), bytes(&etcd));
    std::thread::sleep(Duration::from_secs(window));
    let (r1, b1) = (requests(&etcd), bytes(&etcd));
    let per = |d: f64| d / 3.0 * 60.0 / window as f64;

    // Failover: kill -9 of whoever leads, the next handover, the killed one back.
    let mut failovers = Vec::new();
    for _ in 0..kills {
        let (name, epoch) = leader().unwrap();
        let i: usize = name.trim_start_matches("healer-").parse().unwrap();
        healers[i].daemon = None; // SIGKILL on drop
        let killed = Instant::now();
        let new_leader = loop {
            if let Some((l, e)) = leader()
                && e > epoch
            {
                break l;
            }
            assert!(killed.elapsed() < Duration::from_secs(lease * 3), "no new leader");
            std::thread::sleep(Duration::from_millis(20));
        };
        let j: usize = new_leader.trim_start_matches("healer-").parse().unwrap();
        let dir = healers[j].dir.clone();
        let decided = loop {
            let seen = audit(&dir).into_iter().any(|r| r["event"] == "handover" && r["epoch"].as_i64() > Some(epoch));
            if seen {
                break killed.elapsed();
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        failovers.push(decided.as_secs_f64() * 1000.0);
        healers[i].start();
        std::thread::sleep(Duration::from_secs(2));
    }

    // The fence's round trip, on the leader's own term (then cleaned up).
    let (_, epoch) = leader().unwrap();
    let text = std::fs::read_to_string(healers[0].dir.join("config.yaml")).unwrap();
    let loaded = kafka_self_healing::setup::parse_str(&text, Path::new("bench.yaml"), &|_| None).unwrap();
    let backend = kafka_self_healing::ha::backend::Backend::from_config(&loaded.config, &|_| None).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let fences: Vec<f64> = runtime.block_on(async {
        let mut out = Vec::new();
        let incident = kafka_self_healing::store::IncidentRecord {
            id: "bench-fence".into(),
            node: "broker-1".into(),
            ..Default::default()
        };
        for _ in 0..200 {
            let t = Instant::now();
            backend.write_intent(epoch, &incident, Duration::from_secs(5)).await.unwrap();
            out.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        backend.forget_intent(epoch, "bench-fence").await.unwrap();
        out
    });

    println!("\nha.lease_seconds {lease}, 3 healers, 3-member etcd 3.4 on 127.0.0.1");
    println!("failover (kill -9 of the leader -> the new leader's handover): {}", stats(failovers));
    println!("fence (compare-and-write of the intent): {}", stats(fences).replace("runs", "fences"));
    println!(
        "backend traffic per healer, idle: {:.0} requests/min, {:.1} KiB/min (over {window} s)",
        per(r1 - r0),
        per(b1 - b0) / 1024.0
    );
}
