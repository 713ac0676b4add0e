//! The command line as an operator uses it: exit codes, output, signals.

use crate::support::{bin, repo, run, stderr, stdout, write_temp};

/// Values for every variable the shipped examples reference.
pub(crate) const EXAMPLE_ENV: &[(&str, &str)] = &[
    ("SMTP_USERNAME", "alerts"),
    ("SMTP_PASSWORD", "example-smtp-secret"),
    ("JMX_USERNAME", "monitor"),
    ("JMX_PASSWORD", "example-jmx-secret"),
    ("SMTP_HOST", "relay.example.com"),
    ("ALERT_EMAIL", "oncall@example.com"),
];

#[test]
fn every_shipped_example_validates() {
    let examples = [
        "config_minimal.yaml",
        "config_production.yaml",
        "config_development.yaml",
        "config_docker.yaml",
        "config_demo.yaml",
    ];
    for name in examples {
        let path = repo().join("examples").join(name);
        let out = run(bin()
            .arg("validate")
            .arg(&path)
            .envs(EXAMPLE_ENV.iter().copied())
            .env_remove("KAFKA_SELF_HEALING_CONFIG"));
        assert_eq!(out.status.code(), Some(0), "{name}: {}", stderr(&out));
        let text = stdout(&out);
        assert!(text.contains(&format!("OK: {}: cluster `", path.display())), "{name}: {text}");
        assert!(!text.contains(": error:"), "{name}: {text}");
    }
}

#[test]
fn validate_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let bad = write_temp(dir.path(), "bad.yaml", "cluster:\n  kafka_brokers:\n    - {node_id: k1, host: a, prot: 1}\n");
    let out = run(bin().arg("validate").arg(&bad));
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("{}:3:30: error: unknown key `prot` in `cluster.kafka_brokers[0]`", bad.display())),
        "{err}"
    );
    assert!(err.contains("hint: did you mean `port`?"), "{err}");

    let out = run(bin().args(["validate", "--no-such-flag"]));
    assert_eq!(out.status.code(), Some(2), "usage errors exit 2");
}

#[test]
fn the_config_path_comes_from_the_environment_when_not_given() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_temp(dir.path(), "c.yaml", "cluster:\n  zookeeper_nodes: [{node_id: z1, host: zk1}]\n");
    let out = run(bin().arg("validate").env("KAFKA_SELF_HEALING_CONFIG", &path));
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout(&out).contains("1 ZooKeeper node(s)"));

    let out = run(bin().arg("validate").env_remove("KAFKA_SELF_HEALING_CONFIG"));
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).starts_with("/etc/kafka-self-healing/config.yaml: error: cannot read the configuration file"));
}

#[test]
fn config_show_fills_defaults_and_hides_secrets() {
    let path = repo().join("examples/config_production.yaml");
    let out = run(bin().args(["config", "show", "--config"]).arg(&path).envs(EXAMPLE_ENV.iter().copied()));
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    for secret in ["example-smtp-secret", "example-jmx-secret"] {
        assert!(!text.contains(secret), "secret {secret} shown:\n{text}");
    }
    assert!(text.contains("password: \"***\""), "{text}");
    // A default the file does not set, and an inherited per-node value.
    assert!(text.contains("state_dir: /var/lib/kafka-self-healing"), "{text}");
    assert!(text.contains("service_manager: systemctl"), "{text}");

    let out = run(bin()
        .args(["config", "show", "--output", "json", "--config"])
        .arg(&path)
        .envs(EXAMPLE_ENV.iter().copied()));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("valid JSON");
    assert_eq!(json["notifications"]["smtp"]["password"], "***");
    assert_eq!(json["monitoring"]["jmx"]["password"], "***");
    assert_eq!(json["cluster"]["zookeeper_nodes"][0]["port"], 2181);
    assert_eq!(json["cluster"]["kafka_brokers"][2]["retry_policy"]["max_attempts"], 3);
    assert_eq!(json["cluster"]["kafka_brokers"][0]["retry_policy"]["max_attempts"], 5);
}

#[test]
fn run_logs_a_summary_and_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("logs/application.log");
    let config = write_temp(
        dir.path(),
        "c.yaml",
        &format!(
            "cluster:\n  name: sig-test\n  kafka_brokers: [{{node_id: k1, host: 127.0.0.1}}]\n  zookeeper_nodes: [{{node_id: z1, host: 127.0.0.1}}]\n\
             notifications:\n  smtp: {{host: localhost, password: \"${{SMTP_PASSWORD}}\", to_emails: [a@b.c]}}\n\
             logging:\n  file: {}\n  audit: {{file: {}}}\nsystem:\n  state_dir: {}\n{}",
            log.display(),
            dir.path().join("audit.log").display(),
            dir.path().join("state").display(),
            crate::support::http_line()
        ),
    );
    let child = bin()
        .args(["run", "--dry-run", "--config"])
        .arg(&config)
        .env("SMTP_PASSWORD", "run-secret-value")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the daemon says it is up, then ask it to stop.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !std::fs::read_to_string(&log).is_ok_and(|t| t.contains("monitoring until SIGTERM")) {
        assert!(std::time::Instant::now() < deadline, "the daemon did not start");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains("cluster `sig-test`: 1 Kafka broker(s), 0 KRaft controller(s), 1 ZooKeeper node(s); notification channels: smtp"),
        "{text}"
    );
    assert!(text.contains("Dry run"), "{text}");
    assert!(text.contains("Shutdown signal received"), "{text}");
    assert!(!text.contains("run-secret-value") && !String::from_utf8_lossy(&out.stderr).contains("run-secret-value"));
}

#[test]
fn run_refuses_an_invalid_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_temp(dir.path(), "c.yaml", "cluster: {}\n");
    let out = run(bin().args(["run", "--config"]).arg(&config));
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("the cluster has no nodes"));
}

/// "Billion laughs": ten aliases of ten aliases, nine levels deep, in under 1 KB.
pub(crate) fn alias_bomb() -> String {
    let mut text = String::from("bomb:\n  a: &a [l,l,l,l,l,l,l,l,l,l]\n");
    for (prev, name) in ["a", "b", "c", "d", "e", "f", "g", "h"].iter().zip(["b", "c", "d", "e", "f", "g", "h", "i"]) {
        text += &format!("  {name}: &{name} [{}]\n", vec![format!("*{prev}"); 10].join(","));
    }
    text
}

#[test]
fn hostile_input_is_refused_and_never_takes_the_daemon_down() {
    let dir = tempfile::tempdir().unwrap();
    let bomb = alias_bomb();
    assert!(bomb.len() < 1024);
    // `validate` under a 1 GB address-space cap: a located error, not an abort.
    let file =
        write_temp(dir.path(), "bomb.yaml", &format!("cluster:\n  kafka_brokers: [{{node_id: k1, host: a}}]\n{bomb}"));
    let out = run(std::process::Command::new("sh").arg("-c").arg(format!(
        "ulimit -v 1048576; exec {} validate {}",
        env!("CARGO_BIN_EXE_kafka-self-healing"),
        file.display()
    )));
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(":9:31: error: the document expands to more than 1000000 values"),
        "{}",
        stderr(&out)
    );

    // A running daemon fed the same file on SIGHUP refuses it and keeps running.
    let log = dir.path().join("application.log");
    let good = format!(
        "cluster:\n  name: hostile\n  kafka_brokers: [{{node_id: k1, host: 127.0.0.1, port: {}}}]\nrecovery:\n  actions: []\n\
         logging:\n  file: {}\n  audit: {{file: {}}}\nsystem:\n  state_dir: {}\n{}",
        kafka_testbed::free_port(),
        log.display(),
        dir.path().join("audit.log").display(),
        dir.path().join("state").display(),
        crate::support::http_line()
    );
    let config = write_temp(dir.path(), "c.yaml", &good);
    let mut child = bin().args(["run", "--config"]).arg(&config).stderr(std::process::Stdio::null()).spawn().unwrap();
    let logged = |what: &str| std::fs::read_to_string(&log).is_ok_and(|t| t.contains(what));
    crate::support::wait_until("the daemon starts", std::time::Duration::from_secs(20), || {
        logged("monitoring until SIGTERM").then_some(())
    });
    for (name, text) in [
        ("an alias bomb", format!("{good}{bomb}")),
        (
            "a node id with a newline",
            good.replace("node_id: k1", "node_id: \"k1\\nNode status: k1 healthy -> failed\""),
        ),
    ] {
        std::fs::write(&config, &text).unwrap();
        let before = std::fs::read_to_string(&log).unwrap().matches("Configuration reload refused").count();
        unsafe { libc::kill(child.id() as i32, libc::SIGHUP) };
        crate::support::wait_until(name, std::time::Duration::from_secs(20), || {
            (std::fs::read_to_string(&log).unwrap().matches("Configuration reload refused").count() > before)
                .then_some(())
        });
        assert!(child.try_wait().unwrap().is_none(), "{name}: the daemon died");
    }
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("expands to more than 1000000 values"), "{text}");
    assert!(text.contains(r"has '\n' at character 3"), "{text}");
    // No line that no transition wrote: the forged status line never starts a line.
    assert!(!text.lines().any(|l| l.starts_with("Node status")), "{text}");
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    assert_eq!(child.wait().unwrap().code(), Some(0));
}

#[test]
fn help_is_there_for_every_command() {
    for args in [&["help", "--help"][..], &["help"], &["help", "incidents", "reset"], &["--help"]] {
        let out = run(bin().args(args));
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
    }
    let out = run(bin().args(["help", "no-such-command"]));
    assert_eq!(out.status.code(), Some(2));
    let out = run(bin().args(["incidents", "reset", "--help"]));
    assert!(stdout(&out).contains("<NODE>  The node's `node_id`"), "{}", stdout(&out));
    let out = run(bin().args(["maintenance", "start", "--help"]));
    assert!(stdout(&out).contains("--node <NODE>      The node's `node_id`"), "{}", stdout(&out));
}

/// Operator commands write the audit trail through the daemon's writer: the
/// same record shape, secrets masked, the file rotated by size.
#[test]
fn operator_commands_audit_through_the_one_writer() {
    let dir = tempfile::tempdir().unwrap();
    let audit = dir.path().join("audit.log");
    // Just over `max_size_mb`: the next record rotates it.
    std::fs::write(&audit, "x".repeat(1024 * 1024 + 10) + "\n").unwrap();
    let config = write_temp(
        dir.path(),
        "c.yaml",
        &format!(
            "cluster:\n  name: audited\n  kafka_brokers: [{{node_id: k1, host: 127.0.0.1}}]\n\
             notifications:\n  smtp: {{host: localhost, password: \"${{SMTP_PASSWORD}}\", to_emails: [a@b.c]}}\n\
             logging:\n  file: \"\"\n  audit: {{file: {}, max_size_mb: 1, backup_count: 2}}\nsystem:\n  state_dir: {}\n",
            audit.display(),
            dir.path().join("state").display()
        ),
    );
    let out = run(bin()
        .args([
            "maintenance",
            "start",
            "--node",
            "k1",
            "--reason",
            "rotating disks; smtp pw is op-secret-value",
            "--config",
        ])
        .arg(&config)
        .env("SMTP_PASSWORD", "op-secret-value"));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(dir.path().join("audit.log.1.gz").exists(), "the full file was rotated and compressed");
    assert!(!dir.path().join("audit.log.1").exists(), "no half-way backup left behind");
    let text = std::fs::read_to_string(&audit).unwrap();
    let record: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(record["event"], "maintenance_started");
    assert_eq!(record["cluster"], "audited", "the daemon's record shape");
    assert_eq!(record["node"], "k1");
    assert!(record["reason"].as_str().unwrap().ends_with("smtp pw is ***"), "{record}");
    assert!(!text.contains("op-secret-value"));
    let db = std::fs::read(dir.path().join("state/state.db")).unwrap();
    assert!(!String::from_utf8_lossy(&db).contains("op-secret-value"), "masked in the store too");
}

/// Issue (hosts): on a host without the `ca-certificates` package the daemon
/// panicked at start (`Client::new()`), and systemd restarted it in a loop.
/// `SSL_CERT_FILE`/`SSL_CERT_DIR` pointing at nothing is that host. The daemon
/// starts, says once what cannot verify TLS, and a plain-HTTP channel still delivers.
#[test]
fn without_ca_certificates_the_daemon_starts_and_says_what_cannot_verify_tls() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("application.log");
    let receiver = crate::notify::Receiver::start();
    let config = write_temp(
        dir.path(),
        "c.yaml",
        &format!(
            "cluster:\n  name: no-ca\n  kafka_brokers: [{{node_id: k1, host: 127.0.0.1, port: {}}}]\nrecovery:\n  actions: []\n\
             notifications:\n  slack: {{webhook_url: \"https://127.0.0.1:9/hook\"}}\n  webhook: {{url: \"http://127.0.0.1:{}/hook\"}}\n\
             logging:\n  file: {}\n  audit: {{file: {}}}\nsystem:\n  state_dir: {}\n{}",
            kafka_testbed::free_port(),
            receiver.port,
            log.display(),
            dir.path().join("audit.log").display(),
            dir.path().join("state").display(),
            crate::support::http_line()
        ),
    );
    let mut child = bin()
        .args(["run", "--config"])
        .arg(&config)
        .env("SSL_CERT_FILE", "/dev/null")
        .env("SSL_CERT_DIR", "/nonexistent")
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    crate::support::wait_until("the daemon starts", std::time::Duration::from_secs(20), || {
        std::fs::read_to_string(&log).is_ok_and(|t| t.contains("monitoring until SIGTERM")).then_some(())
    });
    assert!(child.try_wait().unwrap().is_none(), "the daemon runs");
    // A manual alert goes through the running daemon's outbox: the plain-HTTP webhook gets it.
    let out = run(bin()
        .args(["alert", "no CA certificates here", "--config"])
        .arg(&config)
        .env("SSL_CERT_FILE", "/dev/null")
        .env("SSL_CERT_DIR", "/nonexistent"));
    assert!(out.status.code().is_some_and(|c| c <= 1), "{}", stderr(&out));
    crate::support::wait_until("the webhook delivery", std::time::Duration::from_secs(20), || {
        (!receiver.accepted().is_empty()).then_some(())
    });
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    assert_eq!(child.wait().unwrap().code(), Some(0));
    let text = std::fs::read_to_string(&log).unwrap();
    let said: Vec<&str> =
        text.lines().filter(|l| l.contains("TLS certificates cannot be verified on this host")).collect();
    assert_eq!(said.len(), 1, "said once: {text}");
    assert!(said[0].contains("uses=notifications.slack") && !said[0].contains("notifications.webhook"), "{}", said[0]);
    assert!(said[0].contains("install the `ca-certificates` package"), "{}", said[0]);
    assert!(!text.contains("Error loading CA root certificate"), "the library's own lines are not repeated: {text}");
}

/// What a host can get wrong at start-up — the HTTP port taken, a log, audit
/// or state path that cannot be a directory — is an error that names the
/// path or port and exits 1 (systemd shows it), never a panic (exit 101).
#[test]
fn start_up_failures_name_the_place_and_never_panic() {
    let dir = tempfile::tempdir().unwrap();
    let blocker = write_temp(dir.path(), "a-file", "not a directory\n");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let good = |key: &str| match key {
        "log" => dir.path().join("application.log").display().to_string(),
        "audit" => dir.path().join("audit.log").display().to_string(),
        _ => dir.path().join("state").display().to_string(),
    };
    let under_file = blocker.join("x").display().to_string();
    for (case, log, audit, state, http, expect) in [
        ("port taken", good("log"), good("audit"), good("state"), port, format!("127.0.0.1:{port}")),
        ("log under a file", under_file.clone(), good("audit"), good("state"), 0, under_file.clone()),
        ("audit under a file", good("log"), under_file.clone(), good("state"), 0, under_file.clone()),
        ("state under a file", good("log"), good("audit"), under_file.clone(), 0, under_file.clone()),
    ] {
        let http = if http == 0 { kafka_testbed::free_port() } else { http };
        let config = write_temp(
            dir.path(),
            "c.yaml",
            &format!(
                "cluster:\n  name: start\n  kafka_brokers: [{{node_id: k1, host: 127.0.0.1, port: {}}}]\nrecovery:\n  actions: []\n\
                 logging:\n  file: {log}\n  audit: {{file: {audit}}}\nsystem:\n  state_dir: {state}\n  metrics: {{port: {http}, bind_address: 127.0.0.1}}\n",
                kafka_testbed::free_port()
            ),
        );
        let mut child = bin()
            .args(["run", "--config"])
            .arg(&config)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            assert!(std::time::Instant::now() < deadline, "{case}: the daemon kept running");
            std::thread::sleep(std::time::Duration::from_millis(50));
        };
        let out = child.wait_with_output().unwrap();
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert_eq!(status.code(), Some(1), "{case}: {text}");
        assert!(!text.contains("panicked"), "{case}: {text}");
        assert!(text.contains(&expect), "{case}: the error names `{expect}`: {text}");
    }
    drop(taken);
}
