//! `run` watching a real cluster: transitions are logged as they happen, a
//! crash is caught through the held connection instead of waiting for the next
//! round, a hang through heartbeat timeouts, and a return is noticed too.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use kafka_testbed::{Cluster, Daemon, Spec};
use serde_json::Value;

use crate::support::{cluster_lock, config_for, write_temp};

/// Starts the daemon under test (see `testbed::Daemon`).
fn start(config: &Path, log: PathBuf) -> Daemon {
    Daemon::start(Path::new(env!("CARGO_BIN_EXE_kafka-self-healing")), config, log, &["--dry-run"]).unwrap()
}

/// Waiting for what the daemon logs.
trait WaitFor {
    fn wait_for_line(&self, message: &str, limit: Duration);
    fn wait_for(&self, node: &str, to: &str, limit: Duration) -> (Duration, (String, String, String));
}

impl WaitFor for Daemon {
    /// Waits until a line with exactly this message is logged.
    fn wait_for_line(&self, message: &str, limit: Duration) {
        let started = Instant::now();
        while !self.lines().iter().any(|l| l["fields"]["message"] == message) {
            assert!(started.elapsed() < limit, "no `{message}` within {limit:?}; log:\n{}", self.log_text());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until `node` logs a transition to `to`; returns how long it took.
    fn wait_for(&self, node: &str, to: &str, limit: Duration) -> (Duration, (String, String, String)) {
        let started = Instant::now();
        loop {
            if let Some(t) = self.transitions(node).into_iter().rev().find(|t| t.1 == to) {
                return (started.elapsed(), t);
            }
            assert!(
                started.elapsed() < limit,
                "{node} did not become {to} within {limit:?}; log:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

#[test]
fn run_logs_crashes_hangs_and_returns_as_they_happen() {
    let _serial = cluster_lock();
    let mut cluster = Cluster::start(Spec { zookeepers: 1, brokers: 2, ..Spec::zookeeper() }).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("application.log");
    // A long interval: anything detected quickly was detected by the fast path.
    let text = config_for(&cluster, "  interval_seconds: 60\n  timeout_seconds: 2", dir.path())
        .replace("logging:\n  file: \"\"\n", &format!("logging:\n  file: {}\n  format: json\n", log.display()));
    let config = write_temp(dir.path(), "c.yaml", &text);
    let daemon = start(&config, log);
    for node in ["broker-1", "broker-2", "zk-1"] {
        daemon.wait_for(node, "healthy", Duration::from_secs(30));
    }

    // kill -9: the held connection closes; confirmed long before the next round.
    cluster.kill("broker-2").unwrap();
    let (took, (from, _, cause)) = daemon.wait_for("broker-2", "failed", Duration::from_secs(20));
    assert!(took < Duration::from_secs(10), "a crash took {took:?}: the fast path did not fire");
    assert_eq!((from.as_str(), cause.as_str()), ("suspect", "connection_refused"));
    cluster.start_node("broker-2").unwrap();
    let (took, _) = daemon.wait_for("broker-2", "healthy", Duration::from_secs(50));
    assert!(took < Duration::from_secs(45), "the return was noticed only by the regular round");

    // SIGSTOP: sockets stay open; heartbeats time out, probes confirm.
    cluster.pause("broker-1").unwrap();
    let (_, (_, _, cause)) = daemon.wait_for("broker-1", "failed", Duration::from_secs(40));
    assert_eq!(cause, "timeout");
    // Its ZooKeeper session expires meanwhile (6 s here); the session the daemon
    // holds on /brokers/ids sees the registration go, and come back.
    daemon.wait_for_line("Broker 1 deregistered from ZooKeeper (/brokers/ids/1 deleted).", Duration::from_secs(30));
    cluster.resume("broker-1").unwrap();
    daemon.wait_for("broker-1", "healthy", Duration::from_secs(40));
    daemon.wait_for_line("Broker 1 registered in ZooKeeper.", Duration::from_secs(30));

    // ZooKeeper never wavered: one transition, unknown → healthy.
    assert_eq!(daemon.transitions("zk-1"), vec![("unknown".to_string(), "healthy".to_string(), "none".to_string())]);
    assert!(daemon.lines().iter().any(|l| {
        l["fields"]["message"].as_str().is_some_and(|m| m.starts_with("Cluster status: kafka_broker broker-2 is down"))
    }));
}

#[test]
fn a_slow_network_and_a_cut_connection_never_fail_a_node() {
    let _serial = cluster_lock();
    let cluster = Cluster::start(Spec { zookeepers: 1, brokers: 1, ..Spec::zookeeper() }).unwrap();
    let broker = cluster.node("broker-1").unwrap();
    // 300 ms each way: every request takes over half a second, well below the 2 s limit.
    let proxy = crate::support::DelayProxy::start(broker.addr(), Duration::from_millis(300));
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("application.log");
    let text = config_for(&cluster, "  interval_seconds: 1\n  timeout_seconds: 2", dir.path())
        .replace(&format!("port: {}, broker_id", broker.port), &format!("port: {}, broker_id", proxy.port))
        .replace(
            "logging:\n  file: \"\"\n",
            &format!("logging:\n  file: {}\n  format: json\n  level: DEBUG\n", log.display()),
        );
    let config = write_temp(dir.path(), "c.yaml", &text);
    let daemon = start(&config, log);
    daemon.wait_for("broker-1", "healthy", Duration::from_secs(30));

    // Many rounds (one a second) and heartbeats over a slow link: no transition.
    std::thread::sleep(Duration::from_secs(12));
    // A blip: every connection through the proxy is cut once.
    assert!(proxy.cut_connections() > 0, "the daemon holds a connection to the broker");
    std::thread::sleep(Duration::from_secs(6));

    // A probe that was in flight when the connection was cut may make the node
    // suspect for a moment; it is never failed, and it is healthy at the end.
    let transitions = daemon.transitions("broker-1");
    assert!(
        transitions.iter().all(|t| t.1 != "failed"),
        "a slow answer or a cut connection failed the node: {transitions:?}"
    );
    assert_eq!(transitions.last().map(|t| t.1.as_str()), Some("healthy"), "{transitions:?}");
    let rounds: Vec<Value> = daemon
        .lines()
        .into_iter()
        .filter(|l| l["fields"]["message"] == "Probe round." && l["fields"]["node"] == "broker-1")
        .collect();
    assert!(rounds.len() >= 6, "only {} probe rounds", rounds.len());
    let slow = rounds.iter().filter(|r| r["fields"]["response_time_ms"].as_u64().unwrap_or(0) >= 600).count();
    assert!(slow >= rounds.len() - 1, "the proxy did slow the probes down: {slow} of {}", rounds.len());
    // Nodes without a held connection (ZooKeeper) are probed at the interval, not in a loop.
    let zk_rounds = daemon
        .lines()
        .iter()
        .filter(|l| l["fields"]["message"] == "Probe round." && l["fields"]["node"] == "zk-1")
        .count();
    assert!((10..=30).contains(&zk_rounds), "zk-1 was probed {zk_rounds} times in about 20 s at a 1 s interval");
    let unhealthy = rounds.iter().filter(|r| r["fields"]["status"] != "Healthy").count();
    assert!(unhealthy <= 1, "only the round in flight during the cut may fail: {rounds:#?}");
}
