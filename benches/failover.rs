//! Several healers on a real etcd cluster or ZooKeeper ensemble:
//! `cargo bench --bench failover` (etcd), `KSH_BENCH_BACKEND=zookeeper
//! cargo bench --bench failover` (ZooKeeper).
//!
//! Three healers (release build) watch a real ZooKeeper-mode cluster
//! (1 ZooKeeper + 1 Kafka 3.9 broker) with `ha.lease_seconds`
//! `KSH_BENCH_LEASE` (default 10, the default), sharing a 3-member etcd
//! (Debian's `etcd-server`) or a 3-node ZooKeeper ensemble of their own,
//! on 127.0.0.1. Reported:
//!   failover  = kill -9 of the leader → the new leader's first decision
//!               (its `handover`: it has taken over the open incidents and acts),
//!               `KSH_BENCH_KILLS` times (default 10);
//!   fence     = one fence: the compare-and-write on the token that puts an
//!               attempt into the intent journal before it runs (200 times);
//!               On ZooKeeper: a multi that checks a held lock node and
//!               sets the intent, as the healer's fence does;
//!   traffic   = etcd requests and bytes (ZooKeeper: packets, from `mntr`)
//!               per healer per minute, idle, over `KSH_BENCH_WINDOW`
//!               seconds (default 60).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use kafka_testbed::etcd::EtcdCluster;
use kafka_testbed::{Cluster, Daemon, Spec, cluster_section, http_line, zookeeper_four_letter_word};
use serde_json::Value;

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

/// Who leads, from the healers' own audit trails: the healer whose last
/// leadership record is `leadership_acquired`, with the highest epoch.
fn leader(healers: &[Healer]) -> Option<(usize, i64)> {
    let mut best: Option<(usize, i64)> = None;
    for (i, h) in healers.iter().enumerate() {
        let last = audit(&h.dir).into_iter().rev().find(|r| {
            matches!(r["event"].as_str(), Some("leadership_acquired" | "leadership_lost" | "leadership_released"))
        });
        if let Some(r) = last
            && r["event"] == "leadership_acquired"
        {
            let epoch = r["epoch"].as_i64().unwrap_or_default();
            if best.is_none_or(|(_, e)| epoch > e) {
                best = Some((i, epoch));
            }
        }
    }
    best
}

/// The coordination backend the healers share.
enum Coordination {
    Etcd(EtcdCluster),
    ZooKeeper(Box<Cluster>),
}

impl Coordination {
    fn ha_lines(&self) -> String {
        match self {
            Coordination::Etcd(e) => format!("  endpoints: {}\n", e.endpoints_yaml()),
            Coordination::ZooKeeper(z) => {
                let hosts: Vec<String> = z.zookeepers().map(|n| format!("127.0.0.1:{}", n.port)).collect();
                format!("  backend: zookeeper\n  connect: {}/bench-ha\n", hosts.join(","))
            }
        }
    }

    /// (requests or packets, bytes if known) so far, summed over the members.
    fn traffic(&self) -> (f64, Option<f64>) {
        match self {
            Coordination::Etcd(e) => (
                e.metric_sum("grpc_server_msg_received_total"),
                Some(
                    e.metric_sum("etcd_network_client_grpc_received_bytes_total")
                        + e.metric_sum("etcd_network_client_grpc_sent_bytes_total"),
                ),
            ),
            Coordination::ZooKeeper(z) => {
                let mut packets = 0.0;
                for n in z.zookeepers() {
                    let mntr = zookeeper_four_letter_word(n.addr(), "mntr", Duration::from_secs(2)).unwrap();
                    for line in mntr.lines() {
                        let mut w = line.split_whitespace();
                        if let (Some("zk_packets_received" | "zk_packets_sent"), Some(v)) = (w.next(), w.next()) {
                            packets += v.parse::<f64>().unwrap_or_default();
                        }
                    }
                }
                (packets, None)
            }
        }
    }
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
    let zookeeper = std::env::var("KSH_BENCH_BACKEND").is_ok_and(|b| b == "zookeeper");
    let backend = if zookeeper {
        Coordination::ZooKeeper(Box::new(
            Cluster::start(Spec { zookeepers: 3, brokers: 0, ..Spec::zookeeper() }).unwrap(),
        ))
    } else {
        Coordination::Etcd(EtcdCluster::start(3, &root.path().join("etcd")).unwrap())
    };
    let mut healers: Vec<Healer> = (0..3)
        .map(|i| {
            let dir = root.path().join(format!("healer-{i}"));
            std::fs::create_dir_all(&dir).unwrap();
            let config = format!(
                "{}ha:\n  enabled: true\n  instance_id: healer-{i}\n  lease_seconds: {lease}\n{}\
                 logging:\n  file: {}\n  format: json\n  audit: {{file: {}}}\nsystem:\n  state_dir: {}\n{}",
                cluster_section("bench", &[("", &cluster)]),
                backend.ha_lines(),
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
    let started = Instant::now();
    while leader(&healers).is_none() {
        assert!(started.elapsed() < Duration::from_secs(30), "nobody leads");
        std::thread::sleep(Duration::from_millis(50));
    }

    // Traffic first, idle (one leader, two followers).
    std::thread::sleep(Duration::from_secs(5));
    let (r0, b0) = backend.traffic();
    std::thread::sleep(Duration::from_secs(window));
    let (r1, b1) = backend.traffic();
    let per = |d: f64| d / 3.0 * 60.0 / window as f64;

    // Failover: kill -9 of whoever leads, the next handover, the killed one back.
    let mut failovers = Vec::new();
    for _ in 0..kills {
        let (i, epoch) = leader(&healers).unwrap();
        healers[i].daemon = None; // SIGKILL on drop
        let killed = Instant::now();
        let j = loop {
            if let Some((l, e)) = leader(&healers)
                && e > epoch
            {
                break l;
            }
            assert!(killed.elapsed() < Duration::from_secs(lease * 3), "no new leader");
            std::thread::sleep(Duration::from_millis(20));
        };
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

    // The fence's round trip (then cleaned up).
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let incident = kafka_self_healing::store::IncidentRecord {
        id: "bench-fence".into(),
        node: "broker-1".into(),
        ..Default::default()
    };
    let fences: Vec<f64> = match &backend {
        // On the leader's own term, through the daemon's own backend code.
        Coordination::Etcd(_) => {
            let (_, epoch) = leader(&healers).unwrap();
            let text = std::fs::read_to_string(healers[0].dir.join("config.yaml")).unwrap();
            let loaded = kafka_self_healing::setup::parse_str(&text, Path::new("bench.yaml"), &|_| None).unwrap();
            let b = kafka_self_healing::ha::backend::Backend::from_config(&loaded.config, &|_| None).unwrap();
            runtime.block_on(async {
                let mut out = Vec::new();
                for _ in 0..200 {
                    let t = Instant::now();
                    b.write_intent(epoch, &incident, Duration::from_secs(5)).await.unwrap();
                    out.push(t.elapsed().as_secs_f64() * 1000.0);
                }
                b.forget_intent(epoch, "bench-fence").await.unwrap();
                out
            })
        }
        // The same multi the daemon sends (check the held lock node, set the
        // intent), on a lock of the bench's own: the leader's is its session's.
        Coordination::ZooKeeper(z) => {
            use zookeeper_client as zk;
            let hosts: Vec<String> = z.zookeepers().map(|n| format!("127.0.0.1:{}", n.port)).collect();
            let value = kafka_self_healing::ha::backend::intent_value(&incident).unwrap();
            runtime.block_on(async {
                let client = zk::Client::connect(&hosts.join(",")).await.unwrap();
                let dir = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
                client.mkdir("/bench-fence/lock", &dir).await.unwrap();
                let prefix = zk::LockPrefix::new_curator("/bench-fence/lock", "latch-").unwrap();
                let lock = client.lock(prefix, b"bench", zk::LockOptions::new(zk::Acls::anyone_all())).await.unwrap();
                lock.create("/bench-fence/intent", &value, &dir).await.unwrap();
                let mut out = Vec::new();
                for _ in 0..200 {
                    let t = Instant::now();
                    lock.set_data("/bench-fence/intent", &value, None).await.unwrap();
                    out.push(t.elapsed().as_secs_f64() * 1000.0);
                }
                lock.delete("/bench-fence/intent", None).await.unwrap();
                out
            })
        }
    };

    let what = match &backend {
        Coordination::Etcd(_) => "3-member etcd 3.4",
        Coordination::ZooKeeper(_) => "3-node ZooKeeper 3.8 ensemble",
    };
    println!("\nha.lease_seconds {lease}, 3 healers, {what} on 127.0.0.1");
    println!("failover (kill -9 of the leader -> the new leader's handover): {}", stats(failovers));
    println!("fence (compare-and-write of the intent): {}", stats(fences).replace("runs", "fences"));
    match (b0, b1) {
        (Some(b0), Some(b1)) => println!(
            "backend traffic per healer, idle: {:.0} requests/min, {:.1} KiB/min (over {window} s)",
            per(r1 - r0),
            per(b1 - b0) / 1024.0
        ),
        _ => println!("backend traffic per healer, idle: {:.0} packets/min (over {window} s)", per(r1 - r0)),
    }
}
