//! Time to recover a killed broker, split into its parts, against the real
//! test bed: `cargo bench --bench recovery`.
//!
//! A ZooKeeper-mode cluster (1 ZooKeeper + 3 Kafka 3.9 brokers, Kafka's default
//! broker settings; `KSH_BENCH_TUNED=1`: the bed's 6 s ZooKeeper session), a
//! topic with replication factor 3, and the daemon
//! (release build) with the demo's recovery action — the test bed's own start
//! command, as an operator's restart script — and default monitoring settings,
//! except flap detection, which would (rightly) escalate a broker killed every
//! few seconds instead of restarting it again.
//! `broker-2` is killed with SIGKILL `KSH_BENCH_KILLS` times (default 5); each
//! time the incident's records give:
//!   detection  = kill → incident opened
//!   decision   = incident opened → attempt started (guards, re-verification)
//!   action     = the restart command's own run time (the JVM's start-up)
//!   validation = command exited → node confirmed serving (our lag)
//!   catch-up   = serving → back in the ISR of every partition it hosts
//! Our own overhead is decision + validation. An incident closes once the
//! broker is in sync and its leadership is restored.
//!
//! `KSH_BENCH_FLAVOR=kraft`: 3 KRaft controllers and 3 Kafka 4.x brokers
//! instead (no registration to wait for: kill → first restart command is
//! detection and decision alone).
//! `KSH_BENCH_BED=hosts` runs it on the production topology instead: hosts
//! booting systemd, ZooKeeper and Kafka 3.9 as units, the packaged healer
//! (`testing/package.sh` first) restarting with `sudo systemctl restart kafka`
//! over SSH; `action` is then the SSH session and systemd's restart.

use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use kafka_testbed::{Cluster, Daemon, HostCluster, HostSpec, Spec, cluster_section, http_line, repo_dir};
use serde_json::Value;

fn now_ms() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs_f64() * 1000.0
}

fn audit(dir: &Path) -> Vec<Value> {
    std::fs::read_to_string(dir.join("audit.log"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

fn incidents(dir: &Path) -> Vec<Value> {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kafka-self-healing"))
        .args(["incidents", "--output", "json", "--config"])
        .arg(dir.join("config.yaml"))
        .output()
        .unwrap();
    serde_json::from_slice(&out.stdout).unwrap()
}

fn stats(mut ms: Vec<f64>) -> String {
    ms.sort_by(|a, b| a.total_cmp(b));
    let pick = |q: f64| ms[((ms.len() as f64 - 1.0) * q).round() as usize];
    format!("{} | {:.0} | {:.0} | {:.0} | {:.0}", ms.len(), ms[0], pick(0.5), pick(0.99), ms[ms.len() - 1])
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("recovery: a benchmark; run it with `cargo bench --bench recovery`");
        return;
    }
    let kills: usize = std::env::var("KSH_BENCH_KILLS").ok().and_then(|v| v.parse().ok()).unwrap_or(5);
    if std::env::var("KSH_BENCH_BED").as_deref() == Ok("hosts") {
        hosts(kills);
    } else {
        loopback(kills);
    }
}

/// The test bed's launcher (an example of this package, which `cargo bench`
/// does not build by itself), built now for this profile.
fn launcher() -> std::path::PathBuf {
    let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
    let status = std::process::Command::new(env!("CARGO"))
        .args(["build", "--quiet", "--release", "--locked", "--example", "kafka-testbed", "--manifest-path", manifest])
        .status()
        .expect("cargo runs");
    assert!(status.success(), "cannot build the kafka-testbed launcher");
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("../release/examples/kafka-testbed")
}

/// JVMs on 127.0.0.1, the test bed's start command as the restart script.
fn loopback(kills: usize) {
    // Kafka's default broker settings (its 18 s ZooKeeper session);
    // KSH_BENCH_TUNED=1 for the test bed's 6 s.
    let defaults = std::env::var("KSH_BENCH_TUNED").as_deref() != Ok("1");
    // KSH_BENCH_FLAVOR=kraft: 3 KRaft controllers and 3 brokers (Kafka 4.x) instead.
    let spec = match std::env::var("KSH_BENCH_FLAVOR").as_deref() {
        Ok("kraft") => Spec { kafka_defaults: defaults, ..Spec::kraft_separate() },
        _ => Spec { zookeepers: 1, brokers: 3, kafka_defaults: defaults, ..Spec::zookeeper() },
    };
    let mut cluster = Cluster::start(spec).unwrap();
    cluster.create_topic("bench", 3, 3).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    eprintln!("recovery: files in {}", d.display());
    let testbed = launcher();
    let testbed = testbed.as_path();
    // SAFETY: set before any thread of ours reads the environment; the daemon inherits it.
    unsafe {
        std::env::set_var("DEMO_TESTBED", testbed);
        std::env::set_var("DEMO_BED", cluster.dir());
    }
    let config = format!(
        "{}monitoring:\n  flapping: {{max_changes: 1000}}\nrecovery:\n  actions: [script]\n  initial_delay_seconds: 2\n  cooldown_seconds: 1\n  script: {{script_directory: {}}}\n\
         logging:\n  file: {}\n  format: json\n  audit: {{file: {}}}\nsystem:\n  state_dir: {}\n{}",
        cluster_section("bench", &[("", &cluster)]),
        repo_dir().join("testing/demo").display(),
        d.join("application.log").display(),
        d.join("audit.log").display(),
        d.join("state").display(),
        http_line()
    );
    std::fs::write(d.join("config.yaml"), config).unwrap();
    let _daemon = Daemon::start(
        Path::new(env!("CARGO_BIN_EXE_kafka-self-healing")),
        &d.join("config.yaml"),
        d.join("application.log"),
        &[],
    )
    .unwrap();
    std::thread::sleep(Duration::from_secs(5));
    let log = || std::fs::read_to_string(d.join("application.log")).unwrap_or_default();
    measure(kills, || cluster.kill("broker-2").unwrap(), || audit(d), || incidents(d), log);
}

/// The production topology: hosts booting systemd, Kafka as units, the
/// packaged healer on a host of its own restarting over SSH with `systemctl`
/// (`testing/package.sh` builds the .deb first).
fn hosts(kills: usize) {
    let cluster = HostCluster::start(HostSpec::zookeeper(3)).unwrap();
    let config = format!(
        "{}monitoring:\n  flapping: {{max_changes: 1000}}\nrecovery:\n  actions: [restart_service]\n  initial_delay_seconds: 2\n  cooldown_seconds: 1\n  \
         restart_service: {{use_sudo: true}}\n  ssh: {{user: kafka-healing, timeout: 60, connect_timeout: 5}}\nsystem:\n  metrics: {{port: 8080}}\n",
        cluster.cluster_section("bench")
    );
    cluster.start_healer("healer", &config, Duration::from_secs(120)).unwrap();
    let healer = cluster.lab.host("healer");
    let read_audit = || {
        healer
            .read("/var/log/kafka-self-healing/audit.log")
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect::<Vec<Value>>()
    };
    let read_incidents = || {
        let out = healer
            .sh("kafka-self-healing incidents --output json --config /etc/kafka-self-healing/config.yaml")
            .unwrap();
        serde_json::from_str::<Vec<Value>>(&out).unwrap()
    };
    let log = || healer.read("/var/log/kafka-self-healing/application.log");
    measure(
        kills,
        || {
            cluster.crash("broker-2").unwrap();
        },
        read_audit,
        read_incidents,
        log,
    );
}

/// Kills `broker-2` `kills` times (`kill`) and prints each part's figures from
/// the incident's own records.
fn measure(
    kills: usize,
    mut kill: impl FnMut(),
    audit: impl Fn() -> Vec<Value>,
    incidents: impl Fn() -> Vec<Value>,
    log: impl Fn() -> String,
) {
    let (mut detection, mut decision, mut action, mut validation, mut overhead, mut total) =
        (vec![], vec![], vec![], vec![], vec![], vec![]);
    let (mut catch_up, mut serving, mut attempts, mut first_restart) = (vec![], vec![], vec![], vec![]);
    for i in 0..kills {
        let recovered_before = audit().iter().filter(|r| r["event"] == "recovered").count();
        let killed = now_ms();
        kill();
        let t = Instant::now();
        while audit().iter().filter(|r| r["event"] == "recovered").count() <= recovered_before {
            if t.elapsed() > Duration::from_secs(180) {
                let log = log();
                let tail: Vec<&str> = log.lines().rev().take(30).collect();
                panic!("broker-2 did not recover; audit: {:#?}\nlog (newest first): {tail:#?}", audit());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let incident = incidents().into_iter().next().unwrap();
        let attempt = &incident["attempts"][0];
        let finished = audit().into_iter().rev().find(|r| r["event"] == "attempt_finished").unwrap();
        let opened = incident["opened_at"].as_f64().unwrap();
        let started = attempt["started_at"].as_f64().unwrap();
        let act = finished["action_s"].as_f64().unwrap() * 1000.0;
        let val = finished["validation_s"].as_f64().unwrap() * 1000.0;
        detection.push(opened - killed);
        decision.push(started - opened);
        first_restart.push(started - killed);
        action.push(act);
        validation.push(val);
        overhead.push(started - opened + val);
        total.push(incident["closed_at"].as_f64().unwrap() - killed);
        if let (Some(served), Some(synced)) = (incident["served_at"].as_f64(), incident["in_sync_at"].as_f64()) {
            serving.push(served - killed);
            catch_up.push(synced - served);
        }
        attempts.push(incident["attempts"].as_array().map_or(0, Vec::len) as f64);
        eprintln!(
            "kill #{}: detection {:.0} ms, decision {:.0} ms, action {:.0} ms, validation {:.0} ms",
            i + 1,
            opened - killed,
            started - opened,
            act,
            val
        );
        std::thread::sleep(Duration::from_secs(3));
    }
    println!("| part (ms) | runs | min | median | p99 | max |");
    println!("|---|---|---|---|---|---|");
    for (name, v) in [
        ("detection (kill → incident)", detection),
        ("decision (incident → action start)", decision),
        ("kill → first restart command", first_restart),
        ("action (restart command)", action),
        ("validation (command exit → serving)", validation),
        ("our overhead (decision + validation)", overhead),
        ("kill → serving", serving),
        ("catch-up (serving → back in every ISR)", catch_up),
        ("kill → recovered (in sync, leadership restored)", total),
    ] {
        println!("| {name} | {} |", stats(v));
    }
    attempts.sort_by(|a, b| a.total_cmp(b));
    println!(
        "\nattempts per crash: min {}, max {}",
        attempts.first().copied().unwrap_or(0.0),
        attempts.last().copied().unwrap_or(0.0)
    );
}
