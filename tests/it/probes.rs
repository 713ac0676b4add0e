//! The `command` (Nagios convention) and `http` probes, through `check`.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use crate::support::{bin, run, write_temp};

fn check_json(config: &Path) -> (i32, Value) {
    let out = run(bin().args(["check", "--output", "json", "--config"]).arg(config));
    (out.status.code().unwrap_or(-1), serde_json::from_slice(&out.stdout).expect("JSON report"))
}

fn node<'a>(report: &'a Value, id: &str) -> &'a Value {
    report["nodes"].as_array().unwrap().iter().find(|n| n["node"]["id"] == id).unwrap()
}

fn script(dir: &Path, name: &str, body: &str) {
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn nagios_checks_map_exit_codes_to_states() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    script(d, "check_ok.sh", "echo 'OK - all fine|latency=3ms'; exit 0");
    script(d, "check_warn.sh", "echo 'WARNING - disk 85%'; exit 1");
    script(d, "check_crit.sh", "echo 'CRITICAL - broker gone'; exit 2");
    script(d, "check_unknown.sh", "echo 'UNKNOWN - no idea'; exit 3");
    script(d, "check_env.sh", "echo \"node=$KAFKA_NODE_ID type=$KAFKA_NODE_TYPE port=$KAFKA_PORT arg=$1\"; exit 0");
    script(d, "check_hang.sh", &format!("echo $$ > {}/hang.pid; sleep 300 & wait", d.display()));
    script(d, "check_loud.sh", "yes 'OK - loud' | head -c 5000000; exit 0");
    let nodes: String = ["ok", "warn", "crit", "unknown", "env", "hang", "loud"]
        .iter()
        .enumerate()
        .map(|(i, n)| {
            format!("    - {{node_id: {n}, host: 127.0.0.1, port: {}, monitoring_methods: [command]}}\n", 9000 + i)
        })
        .collect();
    let config = write_temp(
        d,
        "c.yaml",
        &format!(
            "cluster:\n  kafka_brokers:\n{nodes}monitoring:\n  timeout_seconds: 2\n  command:\n    command: \"{}/check_{{node_id}}.sh {{node_type}}\"\n    timeout: 1\nlogging: {{file: \"\"}}\n",
            d.display()
        ),
    );
    let (code, report) = check_json(&config);
    assert_eq!(code, 2, "a CRITICAL check fails its node: {report:#}");
    let expect = [
        ("ok", "healthy", "OK - all fine"),
        ("warn", "degraded", "WARNING - disk 85%"),
        ("crit", "failed", "CRITICAL - broker gone"),
        ("unknown", "unknown", "exit 3: UNKNOWN - no idea"),
        ("env", "healthy", "node=env type=kafka_broker port=9004 arg=kafka_broker"),
        ("loud", "healthy", "OK - loud"),
    ];
    for (id, state, detail) in expect {
        let n = node(&report, id);
        assert_eq!(n["state"], state, "{id}: {n:#}");
        assert_eq!(n["verdict"]["detail"], format!("command: {detail}"), "{id}");
    }
    assert_eq!(node(&report, "crit")["verdict"]["cause"], "check_critical");
    let hang = node(&report, "hang");
    assert_eq!(hang["state"], "unknown", "a check that hangs says nothing about the node: {hang:#}");
    assert!(hang["verdict"]["detail"].as_str().unwrap().contains("did not finish within 1s and was killed"));
    // The hanging check and its child were killed together.
    let pid: i32 = std::fs::read_to_string(d.join("hang.pid")).unwrap().trim().parse().unwrap();
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists()
            || std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap().contains(") Z")
    );
    // Killed with its group; on a loaded machine the exit may take a moment to show.
    let started = std::time::Instant::now();
    let sleeping =
        || !std::process::Command::new("pgrep").args(["-f", "sleep 300"]).output().unwrap().stdout.is_empty();
    while sleeping() && started.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(!sleeping(), "the check's `sleep` outlived it");
}

/// A one-connection-at-a-time HTTP server answering `status` with `body`.
fn http_server(status: &'static str, body: &'static str) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    port
}

#[test]
fn http_checks_status_and_body() {
    let ready = http_server("200 OK", "{\"status\": \"ready\"}");
    let starting = http_server("200 OK", "{\"status\": \"starting\"}");
    let broken = http_server("503 Service Unavailable", "down");
    let closed = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let nodes: String = [("ready", ready), ("starting", starting), ("broken", broken), ("closed", closed)]
        .iter()
        .map(|(n, p)| format!("    - {{node_id: {n}, host: 127.0.0.1, port: {p}, monitoring_methods: [http]}}\n"))
        .collect();
    let config = write_temp(
        dir.path(),
        "c.yaml",
        &format!(
            "cluster:\n  kafka_brokers:\n{nodes}monitoring:\n  timeout_seconds: 2\n  http:\n    url: \"http://{{host}}:{{port}}/health\"\n    body_contains: ready\nlogging: {{file: \"\"}}\n"
        ),
    );
    let (_, report) = check_json(&config);
    assert_eq!(node(&report, "ready")["state"], "healthy", "{report:#}");
    assert_eq!(
        node(&report, "ready")["verdict"]["detail"],
        format!("http: GET http://127.0.0.1:{ready}/health: HTTP 200")
    );
    assert_eq!(node(&report, "starting")["state"], "failed");
    assert!(node(&report, "starting")["verdict"]["detail"].as_str().unwrap().contains("the body lacks `ready`"));
    assert_eq!(node(&report, "broken")["verdict"]["cause"], "check_critical");
    assert!(node(&report, "broken")["verdict"]["detail"].as_str().unwrap().contains("HTTP 503, expected 200"));
    assert_eq!(node(&report, "closed")["verdict"]["cause"], "connection_refused", "{report:#}");
}

#[test]
fn zookeeper_without_whitelisted_words_is_asked_through_its_admin_server() {
    use kafka_testbed::{Cluster, Spec};
    let _serial = crate::support::cluster_lock();
    // Only `srvr` (the testbed's own readiness word) is whitelisted; the probe asks for others.
    let spec = Spec { zookeepers: 1, brokers: 0, zookeeper_whitelist: "isro".into(), ..Spec::zookeeper() };
    let cluster = Cluster::start(spec).unwrap();
    let zk = cluster.node("zk-1").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let yaml = |admin: &str| {
        format!(
            "cluster:\n  zookeeper_nodes:\n    - {{node_id: zk-1, host: 127.0.0.1, port: {}{admin}}}\nmonitoring:\n  timeout_seconds: 2\n  zookeeper: {{four_letter_words: [ruok, mntr]}}\nlogging: {{file: \"\"}}\n",
            zk.port
        )
    };
    // Without an AdminServer port the probe cannot tell: unknown, not down.
    let config = write_temp(dir.path(), "plain.yaml", &yaml(""));
    let (_, report) = check_json(&config);
    assert_eq!(node(&report, "zk-1")["state"], "unknown", "{report:#}");
    assert!(node(&report, "zk-1")["verdict"]["detail"].as_str().unwrap().contains("4lw.commands.whitelist"));
    // With it, the AdminServer answers.
    let config = write_temp(dir.path(), "admin.yaml", &yaml(&format!(", admin_port: {}", zk.admin_port.unwrap())));
    let (code, report) = check_json(&config);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(node(&report, "zk-1")["verdict"]["detail"], "zookeeper: mode standalone (AdminServer)");
    assert_eq!(report["cluster"]["zookeeper"]["quorum"], "held");
}
