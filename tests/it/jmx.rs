//! The `jmx` probe on real brokers: JMX/RMI through the bundled Java bridge,
//! a Jolokia agent and the Prometheus JMX exporter, with and without
//! credentials; Kafka 3.9 (ZooKeeper mode) and 4.x (KRaft).

use std::path::Path;

use kafka_testbed::{Cluster, JMX_PASSWORD, JMX_USER, Spec, repo_dir};
use serde_json::Value;

use crate::support::{bin, cluster_lock, run, stderr, write_temp};

/// Builds the bridge jar where the binary looks for it (`target/jmx-bridge.jar`).
fn build_bridge() {
    let out = run(std::process::Command::new("bash").arg(repo_dir().join("jmx-bridge/build.sh")));
    assert!(out.status.success(), "jmx-bridge/build.sh failed: {}", stderr(&out));
}

fn config(port: u16, jmx_port: u16, transport: &str, auth: bool, checks: &[&str]) -> String {
    let checks: Vec<String> = checks.iter().map(|c| format!("\"{c}\"")).collect();
    format!(
        "cluster:\n  kafka_brokers:\n    - {{node_id: b1, host: 127.0.0.1, port: {port}, jmx_port: {jmx_port}, monitoring_methods: [jmx]}}\n\
         monitoring:\n  timeout_seconds: 5\n  jmx: {{transport: {transport}, authentication: {auth}, read_timeout: 5, connection_timeout: 5,\n\
         \x20       metrics_to_check: [{}]}}\nlogging: {{file: \"\"}}\n",
        checks.join(", ")
    )
}

fn check(dir: &Path, name: &str, text: &str, password: &str) -> (i32, Value) {
    let file = write_temp(dir, name, text);
    let out = run(bin()
        .args(["check", "--output", "json", "--config"])
        .arg(&file)
        .env("JMX_USERNAME", JMX_USER)
        .env("JMX_PASSWORD", password));
    let report: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| panic!("JSON report for {name}; stderr: {}", stderr(&out)));
    assert!(!String::from_utf8_lossy(&out.stdout).contains(password), "{name}: the JMX password reached the report");
    assert!(!stderr(&out).contains(password), "{name}: the JMX password reached stderr");
    (out.status.code().unwrap_or(-1), report)
}

fn verdict(report: &Value) -> (&str, &str, &str) {
    let n = &report["nodes"][0];
    (
        n["state"].as_str().unwrap_or(""),
        n["verdict"]["cause"].as_str().unwrap_or(""),
        n["verdict"]["detail"].as_str().unwrap_or(""),
    )
}

#[test]
fn jmx_over_rmi_jolokia_and_prometheus_on_kafka_3_9() {
    let _lock = cluster_lock();
    build_bridge();
    let spec = Spec { zookeepers: 1, brokers: 1, jmx_agents: true, jmx_auth: true, ..Spec::zookeeper() };
    let mut cluster = Cluster::start(spec).expect("test bed with JMX agents");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let b = cluster.brokers().next().unwrap().clone();
    let transports = [
        ("rmi", b.jmx_port.unwrap()),
        ("jolokia", b.jolokia_port.unwrap()),
        ("prometheus", b.prometheus_port.unwrap()),
    ];
    let calm = ["java.lang:type=Threading::ThreadCount > 100000", "java.lang:type=Runtime::Uptime"];
    for (transport, port) in transports {
        let name = format!("{transport}.yaml");
        let (code, report) = check(d, &name, &config(b.port, port, transport, true, &calm), JMX_PASSWORD);
        let (state, _, detail) = verdict(&report);
        assert_eq!((code, state), (0, "healthy"), "{transport}: {report:#}");
        assert!(detail.starts_with("jmx: BrokerState=3 (running), 0 under-replicated"), "{transport}: {detail}");
        assert!(detail.contains("java.lang:type=Threading::ThreadCount="), "{transport}: {detail}");
        assert!(detail.contains("java.lang:type=Runtime::Uptime="), "{transport}: {detail}");

        // A crossed threshold makes the broker degraded, never failed.
        let hot = ["java.lang:type=Threading::ThreadCount > 1"];
        let (code, report) = check(d, &name, &config(b.port, port, transport, true, &hot), JMX_PASSWORD);
        let (state, cause, detail) = verdict(&report);
        assert_eq!((code, state, cause), (1, "degraded", "check_warning"), "{transport}: {report:#}");
        assert!(detail.contains("ThreadCount=") && detail.contains("(> 1)"), "{detail}");

        // Wrong credentials say nothing about the broker.
        let (code, report) = check(d, &name, &config(b.port, port, transport, true, &[]), "not-the-password");
        let (state, cause, _) = verdict(&report);
        assert_eq!((code, state, cause), (1, "unknown", "authentication_failed"), "{transport}: {report:#}");
    }

    // The JVM is gone: every transport finds its port closed.
    cluster.kill(&b.name).unwrap();
    for (transport, port) in transports {
        let (code, report) =
            check(d, &format!("{transport}-dead.yaml"), &config(b.port, port, transport, true, &[]), JMX_PASSWORD);
        let (state, cause, _) = verdict(&report);
        assert_eq!((code, state, cause), (2, "failed", "connection_refused"), "{transport}: {report:#}");
    }
}

#[test]
fn jmx_over_rmi_on_kafka_4_kraft() {
    let _lock = cluster_lock();
    build_bridge();
    let cluster = Cluster::start(Spec { brokers: 1, ..Spec::kraft() }).expect("KRaft test bed");
    let dir = tempfile::tempdir().unwrap();
    let n = cluster.nodes()[0].clone();
    let (code, report) =
        check(dir.path(), "kraft.yaml", &config(n.port, n.jmx_port.unwrap(), "rmi", false, &[]), "unused-password");
    let (state, _, detail) = verdict(&report);
    assert_eq!((code, state), (0, "healthy"), "{report:#}");
    // A combined node is its own (single) KRaft quorum's active controller.
    assert!(detail.starts_with("jmx: BrokerState=3 (running)"), "{detail}");
    assert!(detail.contains("active controller here"), "{detail}");
}

#[test]
fn jmx_settings_are_validated() {
    let dir = tempfile::tempdir().unwrap();
    let text = "cluster:\n  kafka_brokers:\n    - {node_id: b1, host: 127.0.0.1, monitoring_methods: [jmx]}\n\
                monitoring:\n  jmx:\n    transport: jconsole\n    metrics_to_check:\n      - \"UnderReplicatedPartitions > 0\"\n\
                \x20     - \"kafka.server:type=ReplicaManager,name=UnderReplicatedPartitions > lots\"\n";
    let file = write_temp(dir.path(), "c.yaml", text);
    let out = run(bin().arg("validate").arg(&file));
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("c.yaml:6:16: error: unknown JMX transport `jconsole`"), "{err}");
    assert!(err.contains("c.yaml:8:9: error: `UnderReplicatedPartitions` is not an MBean name"), "{err}");
    assert!(err.contains("c.yaml:9:9: error: `lots` after `>` is not a number"), "{err}");
    // With rmi (the default) the node needs its JMX port.
    let text = "cluster:\n  kafka_brokers:\n    - {node_id: b1, host: 127.0.0.1, monitoring_methods: [jmx]}\n";
    let file = write_temp(dir.path(), "d.yaml", text);
    let err = stderr(&run(bin().arg("validate").arg(&file)));
    assert!(err.contains("d.yaml:3:7: error: node `b1` is watched with `jmx` but has no `jmx_port`"), "{err}");
}
