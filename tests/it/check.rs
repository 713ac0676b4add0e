//! `check` against real clusters: what it reports when nodes crash, hang and
//! come back, and what it says about ZooKeeper and KRaft quorums.

use std::path::Path;
use std::time::{Duration, Instant};

use kafka_testbed::{Cluster, Spec};
use serde_json::Value;

use crate::support::{bin, cluster_lock, config_for, run, write_temp};

/// Runs `check --output json`; returns the exit code and the report.
fn check(config: &Path) -> (i32, Value) {
    let out = run(bin().args(["check", "--output", "json", "--config"]).arg(config));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("check printed no JSON: {e}"));
    (out.status.code().unwrap_or(-1), report)
}

fn node<'a>(report: &'a Value, id: &str) -> &'a Value {
    report["nodes"].as_array().unwrap().iter().find(|n| n["node"]["id"] == id).unwrap_or_else(|| panic!("no node {id}"))
}

fn state(report: &Value, id: &str) -> String {
    node(report, id)["state"].as_str().unwrap().to_string()
}

fn cause(report: &Value, id: &str) -> String {
    node(report, id)["verdict"]["cause"].as_str().unwrap_or("none").to_string()
}

/// Re-runs `check` until `done` holds (elections and session expiry take a few seconds).
fn check_until(config: &Path, what: &str, limit: Duration, done: impl Fn(i32, &Value) -> bool) -> (i32, Value) {
    let deadline = Instant::now() + limit;
    loop {
        let (code, report) = check(config);
        if done(code, &report) {
            return (code, report);
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}; last report: {report:#}");
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[test]
fn check_sees_crashes_hangs_and_zookeeper_quorum_on_kafka_3_9() {
    let _serial = cluster_lock();
    let mut cluster = Cluster::start(Spec::zookeeper()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = write_temp(
        dir.path(),
        "c.yaml",
        &config_for(&cluster, "  timeout_seconds: 2\n  failure_threshold: 3", dir.path()),
    );

    let (code, report) = check(&config);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["cluster"]["zookeeper"]["quorum"], "held");
    assert_eq!(report["cluster"]["zookeeper"]["leaders"].as_array().unwrap().len(), 1);
    assert!(report["cluster"]["kafka"]["controller_id"].is_i64(), "{report:#}");
    assert_eq!(report["cluster"]["kafka"]["brokers"].as_array().unwrap().len(), 3);
    assert_eq!(report["cluster"]["registered"], serde_json::json!([1, 2, 3]), "ZooKeeper's /brokers/ids");

    // The runbook's `methods: [socket]` asks no member its mode: the quorum is
    // unknown, never "lost", and a healthy ensemble exits 0.
    let socket_only = write_temp(
        dir.path(),
        "socket.yaml",
        &config_for(&cluster, "  timeout_seconds: 2\n  methods: [socket]", dir.path()),
    );
    let (code, report) = check(&socket_only);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["cluster"]["zookeeper"]["quorum"], "unknown", "{report:#}");
    let out = run(bin().args(["check", "--config"]).arg(&socket_only));
    assert!(
        crate::support::stdout(&out).contains("quorum unknown (no mode information"),
        "{}",
        crate::support::stdout(&out)
    );
    let out = run(bin().arg("validate").arg(&socket_only));
    assert!(
        crate::support::stdout(&out).contains("watched without the `zookeeper` method")
            || crate::support::stderr(&out).contains("watched without the `zookeeper` method"),
        "validate suggests the method"
    );

    // kill -9: failed, because nothing listens any more, confirmed in under a second.
    cluster.kill("broker-2").unwrap();
    let started = Instant::now();
    let (code, report) = check(&config);
    assert!(started.elapsed() < Duration::from_secs(2), "confirmation took {:?}", started.elapsed());
    assert_eq!(code, 2, "{report:#}");
    assert_eq!(state(&report, "broker-2"), "failed");
    assert_eq!(cause(&report, "broker-2"), "connection_refused");
    assert_eq!(node(&report, "broker-2")["probes"], 3, "confirmed by failure_threshold probes");
    assert_eq!(state(&report, "broker-1"), "healthy");

    // SIGSTOP: the port still accepts, nothing answers; failed by timeout.
    cluster.pause("broker-3").unwrap();
    let (_, report) = check(&config);
    assert_eq!(state(&report, "broker-3"), "failed", "{report:#}");
    assert_eq!(cause(&report, "broker-3"), "timeout");
    // Once broker-2's ZooKeeper session expires, ZooKeeper no longer lists it
    // (nor, a little later, the paused broker-3).
    check_until(&config, "broker-2 deregistered", Duration::from_secs(30), |_, r| {
        let ids = r["cluster"]["registered"].as_array().cloned().unwrap_or_default();
        ids.contains(&serde_json::json!(1)) && !ids.contains(&serde_json::json!(2))
    });
    cluster.resume("broker-3").unwrap();
    cluster.start_node("broker-2").unwrap();
    let (_, report) = check_until(&config, "every broker healthy again", Duration::from_secs(60), |code, _| code == 0);
    assert_eq!(report["cluster"]["registered"], serde_json::json!([1, 2, 3]));

    // One ZooKeeper server down: it is failed, the quorum holds (at risk).
    cluster.kill("zk-1").unwrap();
    let (code, report) =
        check_until(&config, "zk-1 failed", Duration::from_secs(30), |_, r| state(r, "zk-1") == "failed");
    assert_eq!(code, 2);
    assert_eq!(report["cluster"]["zookeeper"]["quorum"], "at_risk", "{report:#}");
    assert_eq!(report["cluster"]["zookeeper"]["serving"], 2);
    // Two down: the last one stops serving; the quorum is lost.
    cluster.kill("zk-2").unwrap();
    check_until(&config, "quorum lost", Duration::from_secs(30), |_, r| r["cluster"]["zookeeper"]["quorum"] == "lost");
    // The survivor notices within its sync limit and stops serving.
    let (_, report) = check_until(&config, "the last ZooKeeper to stop serving", Duration::from_secs(30), |_, r| {
        state(r, "zk-3") == "failed"
    });
    assert_eq!(cause(&report, "zk-3"), "not_serving", "{report:#}");
    assert_eq!(report["cluster"]["zookeeper"]["quorum"], "lost");
}

#[test]
fn check_follows_the_kraft_quorum_on_kafka_4() {
    let _serial = cluster_lock();
    let mut cluster = Cluster::start(Spec::kraft()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = write_temp(dir.path(), "c.yaml", &config_for(&cluster, "  timeout_seconds: 2", dir.path()));

    let (code, report) = check_until(&config, "a healthy cluster", Duration::from_secs(60), |code, _| code == 0);
    assert_eq!(code, 0);
    let leader = report["cluster"]["kraft"]["leader_id"].as_i64().expect("a KRaft leader");
    assert_eq!(report["cluster"]["kraft"]["voters"].as_array().unwrap().len(), 3);
    assert_eq!(state(&report, "kafka-1-controller"), "healthy");

    // The active controller dies: a new leader is elected and reported.
    let victim = format!("kafka-{leader}");
    cluster.kill(&victim).unwrap();
    let (code, report) = check_until(&config, "a new KRaft leader", Duration::from_secs(60), |_, r| {
        r["cluster"]["kraft"]["leader_id"].as_i64().is_some_and(|l| l != leader)
            && r["cluster"]["kraft"]["voters"].as_array().is_some_and(|v| v.len() == 3)
    });
    assert_eq!(code, 2, "{report:#}");
    assert_eq!(state(&report, &victim), "failed");
    assert_eq!(state(&report, &format!("{victim}-controller")), "failed");
    // (In KRaft the Metadata `controller_id` is a random broker, by design; the
    // active controller is the quorum leader.)
    let new_leader = report["cluster"]["kraft"]["leader_id"].as_i64().unwrap();
    assert_ne!(new_leader, leader);
    assert_eq!(
        report["cluster"]["kraft"]["voters"].as_array().unwrap().len(),
        3,
        "the new leader describes all voters"
    );

    cluster.start_node(&victim).unwrap();
    check_until(&config, "the cluster healthy again", Duration::from_secs(90), |code, _| code == 0);
}

#[test]
fn a_node_down_before_the_first_round_is_failed_on_it() {
    let _serial = cluster_lock();
    let mut cluster = Cluster::start(Spec { zookeepers: 1, brokers: 1, ..Spec::zookeeper() }).unwrap();
    cluster.kill("broker-1").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = write_temp(dir.path(), "c.yaml", &config_for(&cluster, "  timeout_seconds: 2", dir.path()));
    let (code, report) = check(&config);
    assert_eq!(code, 2);
    assert_eq!(state(&report, "broker-1"), "failed");
    assert_eq!(state(&report, "zk-1"), "healthy");
    // Table output names the node, its state and why.
    let out = run(bin().args(["check", "--config"]).arg(&config));
    let table = String::from_utf8_lossy(&out.stdout);
    let line = table.lines().find(|l| l.starts_with("broker-1")).expect("a row for broker-1");
    assert!(line.contains("failed") && line.contains("Connection refused"), "{table}");
    assert!(table.contains("Overall:    failed"), "{table}");
}

#[test]
fn everything_unreachable_is_reported_as_the_daemons_own_problem() {
    // Two ports nothing listens on: the daemon cannot tell the cluster is down.
    let dir = tempfile::tempdir().unwrap();
    let ports: Vec<u16> =
        (0..2).map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()).collect();
    let config = write_temp(
        dir.path(),
        "c.yaml",
        &format!(
            "cluster:\n  kafka_brokers:\n    - {{node_id: a, host: 127.0.0.1, port: {}}}\n    - {{node_id: b, host: 127.0.0.1, port: {}}}\nlogging: {{file: \"\"}}\n",
            ports[0], ports[1]
        ),
    );
    let (code, report) = check(&config);
    assert_eq!(code, 1, "unknown, not failed: {report:#}");
    assert_eq!(report["cluster"]["isolated"], true);
    assert!(report["cluster"]["problems"][0].as_str().unwrap().contains("daemon's own network"));
}

#[test]
fn an_offline_log_dir_is_reported_as_a_disk_failure() {
    let _serial = cluster_lock();
    let cluster = Cluster::start(Spec { zookeepers: 1, brokers: 1, log_dirs: 2, ..Spec::zookeeper() }).unwrap();
    cluster.create_topic("spread", 4, 1).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = write_temp(
        dir.path(),
        "c.yaml",
        &config_for(&cluster, "  timeout_seconds: 2\n  methods: [kafka_api, kafka_log_dirs]", dir.path()),
    );
    let (code, report) = check(&config);
    assert_eq!(code, 0, "{report:#}");
    assert!(
        node(&report, "broker-1")["verdict"]["detail"]
            .as_str()
            .unwrap()
            .contains("kafka_log_dirs: 2 log dir(s) online"),
        "{report:#}"
    );
    assert_eq!(state(&report, "zk-1"), "healthy", "ZooKeeper keeps its own method: {report:#}");

    // The disk behind one log directory goes away. The broker keeps serving
    // from the other, and says the first is offline.
    let broker = cluster.node("broker-1").unwrap();
    let lost = cluster.log_dirs(broker)[1].clone();
    std::fs::remove_dir_all(&lost).unwrap();
    let (code, report) = check_until(&config, "the log dir offline", Duration::from_secs(60), |_, r| {
        cause(r, "broker-1") == "log_dir_offline"
    });
    assert_eq!(code, 1, "a failed disk degrades the broker; a restart would not fix it: {report:#}");
    assert_eq!(state(&report, "broker-1"), "degraded");
    let detail = node(&report, "broker-1")["verdict"]["detail"].as_str().unwrap().to_string();
    assert!(detail.contains("1 of 2 log dir(s) offline") && detail.contains(&lost.display().to_string()), "{detail}");
}
