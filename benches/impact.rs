//! How much less a client suffers with the healer than without it:
//! `cargo bench --bench impact`.
//!
//! Real clients — Kafka's own `VerifiableProducer` (acks=all, idempotence on,
//! 200 messages a second) and `VerifiableConsumer` — on a topic with
//! replication factor 3 and `min.insync.replicas` 2, on a ZooKeeper-mode
//! cluster (3 ZooKeeper and 3 Kafka 3.9 brokers) and a KRaft one (3
//! controllers and 3 Kafka 4.x brokers), both at Kafka's default broker settings
//! (`zookeeper.session.timeout.ms` 18 s, `broker.session.timeout.ms` 9 s,
//! `leader.imbalance.check.interval.seconds` 300 s). Each scenario runs twice:
//! with the healer (release build, default monitoring and recovery settings,
//! an operator's restart script: kill what is left, start the node) and
//! without it (the node stays down for the observation window).
//!
//! Scenarios: kill -9 of one broker; SIGSTOP of one broker; kill -9 of the
//! active controller; kill -9 of a ZooKeeper node (ZooKeeper mode); two
//! brokers killed 5 s apart.
//!
//! Reported per run: acknowledged messages lost (the benchmark fails if any
//! is), duplicates the consumer saw, seconds with producer send errors,
//! seconds without a single acknowledgement (writes stalled: the producer
//! retries within `delivery.timeout.ms` before it reports an error), seconds
//! with under-replicated and with offline partitions (sampled about twice
//! a second), and kill → serving, → every ISR whole, → leadership balanced.
//!
//! `KSH_BENCH_WINDOW` (default 60) is how long a run without the healer
//! watches; `KSH_BENCH_MODES` (`zookeeper,kraft`) and `KSH_BENCH_SCENARIOS`
//! (substrings of the names) pick a subset. Prints a Markdown table for
//! docs/performance.md.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use kafka_testbed::impact::{Clients, Sample, create_topic, now_ms};
use kafka_testbed::{
    Cluster, Daemon, NodeKind, Spec, api_versions, cluster_section, http_line, pid_alive, repo_dir,
    zookeeper_four_letter_word,
};

/// How a run breaks the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    KillBroker,
    PauseBroker,
    KillController,
    KillZookeeper,
    KillTwoBrokers,
}

impl Fault {
    fn name(self) -> &'static str {
        match self {
            Fault::KillBroker => "kill -9 of one broker",
            Fault::PauseBroker => "SIGSTOP of one broker",
            Fault::KillController => "kill -9 of the active controller",
            Fault::KillZookeeper => "kill -9 of a ZooKeeper node",
            Fault::KillTwoBrokers => "two brokers killed 5 s apart",
        }
    }
}

/// One run's figures.
struct Row {
    fault: Fault,
    healer: bool,
    lost: usize,
    duplicates: usize,
    error_s: usize,
    silent_s: usize,
    urp_s: f64,
    offline_s: f64,
    serving: Option<f64>,
    whole: Option<f64>,
    balanced: Option<f64>,
}

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// The test bed's launcher (an example, which `cargo bench` does not build by itself).
fn launcher() -> PathBuf {
    let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
    let status = std::process::Command::new(env!("CARGO"))
        .args(["build", "--quiet", "--release", "--locked", "--example", "kafka-testbed", "--manifest-path", manifest])
        .status()
        .expect("cargo runs");
    assert!(status.success(), "cannot build the kafka-testbed launcher");
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("../release/examples/kafka-testbed")
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("impact: a benchmark; run it with `cargo bench --bench impact`");
        return;
    }
    // kcat samples the partitions; testing/setup.sh installs it (and the JDK tools).
    if std::process::Command::new("kcat").arg("-V").output().is_err() {
        let status = std::process::Command::new(repo_dir().join("testing/setup.sh")).status().expect("setup.sh runs");
        assert!(status.success(), "testing/setup.sh failed");
    }
    let window = Duration::from_secs(env_or("KSH_BENCH_WINDOW", 60));
    let modes = std::env::var("KSH_BENCH_MODES").unwrap_or_else(|_| "zookeeper,kraft".into());
    let only = std::env::var("KSH_BENCH_SCENARIOS").ok();
    let testbed = launcher();
    let picked = |f: Fault| only.as_deref().is_none_or(|o| o.split(',').any(|s| f.name().contains(s.trim())));
    let mut tables = Vec::new();
    for mode in modes.split(',').map(str::trim) {
        let (spec, faults) = match mode {
            "zookeeper" => (
                Spec { kafka_defaults: true, ..Spec::zookeeper() },
                vec![
                    Fault::KillBroker,
                    Fault::PauseBroker,
                    Fault::KillController,
                    Fault::KillZookeeper,
                    Fault::KillTwoBrokers,
                ],
            ),
            "kraft" => (
                Spec { kafka_defaults: true, ..Spec::kraft_separate() },
                vec![Fault::KillBroker, Fault::PauseBroker, Fault::KillController, Fault::KillTwoBrokers],
            ),
            other => panic!("KSH_BENCH_MODES: unknown mode `{other}` (zookeeper, kraft)"),
        };
        let mut cluster = Cluster::start(spec).unwrap();
        let mut rows = Vec::new();
        for (i, fault) in faults.into_iter().filter(|f| picked(*f)).enumerate() {
            for healer in [true, false] {
                let topic = format!("impact-{i}-{}", if healer { "on" } else { "off" });
                let row = scenario(&mut cluster, &testbed, &topic, fault, healer, window);
                eprintln!(
                    "{mode}: {} with{} the healer: lost {}, duplicates {}, serving {:?}, whole {:?}, balanced {:?}",
                    fault.name(),
                    if healer { "" } else { "out" },
                    row.lost,
                    row.duplicates,
                    row.serving,
                    row.whole,
                    row.balanced
                );
                rows.push(row);
            }
        }
        let _ = cluster.refresh();
        cluster.teardown();
        tables.push((mode.to_string(), rows));
    }
    let secs = |v: Option<f64>| v.map_or("—".to_string(), |s| format!("{s:.1}"));
    let mut lost_any = 0;
    for (mode, rows) in &tables {
        println!(
            "\n{}, Kafka's default settings:\n",
            if mode == "kraft" { "KRaft (Kafka 4.x)" } else { "ZooKeeper mode (Kafka 3.9)" }
        );
        println!(
            "| scenario | healer | acked lost | duplicates | s with send errors | s without an ack | s under-replicated | s offline | → serving (s) | → ISR whole (s) | → leaders balanced (s) |"
        );
        println!("|---|---|---|---|---|---|---|---|---|---|---|");
        for r in rows {
            lost_any += r.lost;
            println!(
                "| {} | {} | {} | {} | {} | {} | {:.1} | {:.1} | {} | {} | {} |",
                r.fault.name(),
                if r.healer { "on" } else { "off" },
                r.lost,
                r.duplicates,
                r.error_s,
                r.silent_s,
                r.urp_s,
                r.offline_s,
                secs(r.serving),
                secs(r.whole),
                secs(r.balanced)
            );
        }
    }
    println!("\n(— : not reached within the {} s window)", window.as_secs());
    assert_eq!(lost_any, 0, "acknowledged messages were lost");
}

/// The nodes a fault breaks, by name.
fn inject(cluster: &mut Cluster, topic: &str, fault: Fault) -> Vec<String> {
    match fault {
        Fault::KillBroker => {
            cluster.kill("broker-2").unwrap();
            vec!["broker-2".into()]
        }
        Fault::PauseBroker => {
            cluster.pause("broker-2").unwrap();
            vec!["broker-2".into()]
        }
        Fault::KillController => {
            let name = active_controller(cluster, topic);
            cluster.kill(&name).unwrap();
            vec![name]
        }
        Fault::KillZookeeper => {
            cluster.kill("zk-2").unwrap();
            vec!["zk-2".into()]
        }
        Fault::KillTwoBrokers => {
            cluster.kill("broker-1").unwrap();
            std::thread::sleep(Duration::from_secs(5));
            cluster.kill("broker-3").unwrap();
            vec!["broker-1".into(), "broker-3".into()]
        }
    }
}

/// ZooKeeper mode: the broker Metadata calls the controller; KRaft: the quorum's leader.
fn active_controller(cluster: &Cluster, topic: &str) -> String {
    let id = if cluster.spec().zookeepers > 0 {
        Sample::read(cluster, topic).and_then(|s| s.controller).expect("the metadata names a controller") as u32
    } else {
        let out = cluster
            .run_tool(
                "org.apache.kafka.tools.MetadataQuorumCommand",
                &["--bootstrap-server", &cluster.bootstrap_servers(), "describe", "--status"],
            )
            .unwrap();
        let line = out.lines().find(|l| l.trim_start().starts_with("LeaderId:")).expect("LeaderId");
        line.split(':').nth(1).unwrap().trim().parse().unwrap()
    };
    let kinds = |k: NodeKind| matches!(k, NodeKind::Controller | NodeKind::Combined | NodeKind::Broker);
    let node =
        cluster.nodes().iter().find(|n| n.id == id && kinds(n.kind)).expect("the controller is a node of the bed");
    node.name.clone()
}

/// Whether `name` serves: answers its own protocol, and a broker is in the metadata again.
fn serving(cluster: &Cluster, name: &str, sample: Option<&Sample>) -> bool {
    let Ok(node) = cluster.node(name) else { return false };
    let t = Duration::from_millis(500);
    match node.kind {
        NodeKind::Zookeeper => zookeeper_four_letter_word(node.addr(), "srvr", t).is_ok_and(|s| s.contains("Mode:")),
        NodeKind::Broker => {
            api_versions(node.addr(), t).is_ok() && sample.is_some_and(|s| s.brokers.contains(&(node.id as i32)))
        }
        _ => api_versions(node.addr(), t).is_ok(),
    }
}

/// Every node running and serving, every partition whole and led by its preferred replica.
fn restore(cluster: &mut Cluster, topic: &str, paused: &[String]) {
    for name in paused {
        let _ = cluster.resume(name);
    }
    let _ = cluster.refresh();
    let down: Vec<String> =
        cluster.nodes().iter().filter(|n| n.pid.is_none_or(|p| !pid_alive(p))).map(|n| n.name.clone()).collect();
    for name in down {
        cluster.start_node(&name).unwrap();
    }
    let started = Instant::now();
    while !Sample::read(cluster, topic).is_some_and(|s| s.whole() && s.brokers.len() == 3) {
        assert!(started.elapsed() < Duration::from_secs(180), "the cluster did not come back whole");
        std::thread::sleep(Duration::from_millis(500));
    }
    let _ = cluster.run_tool(
        "org.apache.kafka.tools.LeaderElectionCommand",
        &["--bootstrap-server", &cluster.bootstrap_servers(), "--election-type", "PREFERRED", "--all-topic-partitions"],
    );
    while !Sample::read(cluster, topic).is_some_and(|s| s.balanced()) {
        assert!(started.elapsed() < Duration::from_secs(240), "leadership did not come back");
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn healer(cluster: &Cluster, dir: &Path, testbed: &Path) -> Daemon {
    let scripts = dir.join("scripts");
    std::fs::create_dir_all(&scripts).unwrap();
    let bed = cluster.dir().display().to_string();
    let script = scripts.join("default.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\n# An operator's restart: whatever is left of the process goes, then it starts.\n\
             {t} kill \"$KAFKA_NODE_ID\" --dir {bed} 2>/dev/null\nexec {t} start \"$KAFKA_NODE_ID\" --dir {bed}\n",
            t = testbed.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let config = format!(
        "{}recovery:\n  actions: [script]\n  script: {{script_directory: {}}}\n\
         logging:\n  file: {}\n  format: json\n  audit: {{file: {}}}\nsystem:\n  state_dir: {}\n{}",
        cluster_section("impact", &[("", cluster)]),
        scripts.display(),
        dir.join("application.log").display(),
        dir.join("audit.log").display(),
        dir.join("state").display(),
        http_line()
    );
    std::fs::write(dir.join("config.yaml"), config).unwrap();
    let daemon = Daemon::start(
        Path::new(env!("CARGO_BIN_EXE_kafka-self-healing")),
        &dir.join("config.yaml"),
        dir.join("application.log"),
        &[],
    )
    .unwrap();
    std::thread::sleep(Duration::from_secs(5));
    daemon
}

fn scenario(
    cluster: &mut Cluster,
    testbed: &Path,
    topic: &str,
    fault: Fault,
    with_healer: bool,
    window: Duration,
) -> Row {
    let dir = tempfile::tempdir().unwrap();
    create_topic(cluster, topic, 6).unwrap();
    restore(cluster, topic, &[]);
    let daemon = with_healer.then(|| healer(cluster, dir.path(), testbed));
    let clients = Clients::start(cluster, topic, 200).unwrap();
    // Warm up: the producer acknowledges, the consumer reads.
    let warm = Instant::now();
    while clients.acked() < 500 {
        assert!(warm.elapsed() < Duration::from_secs(60), "the producer acknowledges nothing");
        std::thread::sleep(Duration::from_millis(100));
    }
    let from = now_ms();
    let broken = inject(cluster, topic, fault);
    let t0 = Instant::now();
    let (mut serving_at, mut whole_at, mut balanced_at) = (None, None, None);
    let (mut urp, mut offline) = (0.0, 0.0);
    // With the healer: until whole and balanced (bounded); without: the window.
    let limit = if with_healer { Duration::from_secs(300) } else { window };
    let mut last = Instant::now();
    while t0.elapsed() < limit {
        let tick = Instant::now();
        let sample = Sample::read(cluster, topic);
        let s = t0.elapsed().as_secs_f64();
        // Each sample stands for the time since the one before.
        let dt = last.elapsed().as_secs_f64();
        last = Instant::now();
        if let Some(sm) = &sample {
            if sm.under_replicated() {
                urp += dt;
            }
            if sm.offline() {
                offline += dt;
            }
        }
        if serving_at.is_none() && broken.iter().all(|n| serving(cluster, n, sample.as_ref())) {
            serving_at = Some(s);
        }
        if serving_at.is_some() && whole_at.is_none() && sample.as_ref().is_some_and(|x| x.whole()) {
            whole_at = Some(s);
        }
        if whole_at.is_some() && balanced_at.is_none() && sample.as_ref().is_some_and(|x| x.balanced()) {
            balanced_at = Some(s);
        }
        if with_healer && balanced_at.is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(500).saturating_sub(tick.elapsed()));
    }
    let to = now_ms();
    drop(daemon);
    let paused: Vec<String> = if fault == Fault::PauseBroker { broken.clone() } else { Vec::new() };
    restore(cluster, topic, &paused);
    let outcome = clients.stop(Duration::from_secs(60));
    Row {
        fault,
        healer: with_healer,
        lost: outcome.lost(),
        duplicates: outcome.duplicates(),
        error_s: outcome.error_seconds(from, to),
        silent_s: outcome.silent_seconds(from, to),
        urp_s: urp,
        offline_s: offline,
        serving: serving_at,
        whole: whole_at,
        balanced: balanced_at,
    }
}
