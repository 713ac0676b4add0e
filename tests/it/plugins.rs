//! External plugins through the real daemon: discovery, manifests, the
//! protocol, Nagios checks, switches and order, every way a plugin can
//! misbehave — while a real cluster is monitored — and the shipped examples
//! driving a real recovery.

use std::path::{Path, PathBuf};
use std::time::Duration;

use kafka_testbed::{Cluster, Spec, cluster_section, http_line};
use serde_json::Value;

use crate::support::{audit_log, bin, cluster_lock, repo, run, stderr, stdout, write_temp};

use crate::support::TESTBED;

fn executable(path: &Path, body: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, body).unwrap();
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
}

/// A protocol-1 monitor in sh that prints `answer` (after reading its request).
fn monitor(dir: &Path, name: &str, answer: &str, timeout: f64) {
    let path = dir.join("monitoring").join(format!("{name}.sh"));
    executable(&path, &format!("#!/bin/sh\ncat > /dev/null\n{answer}\n"));
    std::fs::write(
        dir.join("monitoring").join(format!("{name}.yaml")),
        format!("name: {name}\nprotocol_version: 1\ntimeout_seconds: {timeout}\n"),
    )
    .unwrap();
}

/// Plugins that each go wrong in one way, a good one, and a Nagios check.
fn misbehaving_plugins(dir: &Path) {
    monitor(dir, "good", r#"echo '{"status": "healthy", "message": "all fine", "metrics": {"checked": 3}}'"#, 5.0);
    // Its `sleep` (a grandchild, in the plugin's process group) records its pid.
    monitor(dir, "hangs", &format!("sleep 60 &\necho $! >> {}\nwait", dir.join("hang.pids").display()), 1.0);
    monitor(dir, "crashes", "kill -SEGV $$", 5.0);
    monitor(dir, "garbage", "echo '%%% this is not JSON'", 5.0);
    monitor(dir, "huge", r#"head -c 3000000 /dev/zero | tr '\0' x"#, 5.0);
    monitor(dir, "bad_exit", r#"echo '{"status": "healthy"}'; exit 3"#, 5.0);
    monitor(dir, "bad_status", r#"echo '{"status": "so-so"}'"#, 5.0);
    executable(&dir.join("monitoring/check_always_ok"), "#!/bin/sh\necho 'OK - fine | t=1ms'\n");
    // Cannot be loaded: a protocol version from the future, and a file with no manifest outside a kind directory.
    executable(&dir.join("monitoring/future.sh"), "#!/bin/sh\necho '{}'\n");
    std::fs::write(dir.join("monitoring/future.yaml"), "name: future\nprotocol_version: 2\n").unwrap();
    executable(&dir.join("stray.sh"), "#!/bin/sh\nexit 1\n");
}

fn config_with_plugins(cluster: &Cluster, d: &Path, plugins: &Path, broker_methods: &str, extra: &str) -> PathBuf {
    let mut section = cluster_section("plugins", &[("", cluster)]);
    // Every broker is watched by `broker_methods`.
    section = section.replace(", broker_id: ", &format!(", monitoring_methods: {broker_methods}, broker_id: "));
    write_temp(
        d,
        "config.yaml",
        &format!(
            "{section}monitoring:\n  interval_seconds: 1\n  timeout_seconds: 2\n\
             plugins:\n  discovery: {{directories: [{}]}}\n{extra}\
             logging:\n  file: {}\n  format: json\n  audit: {{file: {}}}\n\
             system:\n  state_dir: {}\n{}",
            plugins.display(),
            d.join("application.log").display(),
            d.join("audit.log").display(),
            d.join("state").display(),
            http_line(),
        ),
    )
}

use crate::support::wait_until;

fn http_port(config: &Path) -> u16 {
    let text = std::fs::read_to_string(config).unwrap();
    let at = text.find("metrics: {port: ").unwrap() + "metrics: {port: ".len();
    text[at..].split(',').next().unwrap().parse().unwrap()
}

fn status(config: &Path) -> Option<Value> {
    let url = format!("http://127.0.0.1:{}/api/v1/status", http_port(config));
    reqwest::blocking::get(url).ok()?.json().ok()
}

#[test]
fn misbehaving_plugins_are_reported_and_contained_while_a_real_cluster_is_watched() {
    let _lock = cluster_lock();
    let cluster = Cluster::start(Spec { zookeepers: 1, brokers: 1, ..Spec::zookeeper() }).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let plugins = d.join("plugins");
    misbehaving_plugins(&plugins);
    let methods = "[kafka_api, good, hangs, crashes, garbage, huge, bad_exit, bad_status, check_always_ok]";
    let people = crate::notify::Receiver::start();
    let extra = format!(
        "  monitoring_plugins:\n    check_always_ok: {{priority: 1}}\n    good: {{priority: 2, config: {{threshold: 7}}}}\n\
         notifications:\n  webhook: {{url: \"http://127.0.0.1:{}/hook\"}}\n",
        people.port
    );
    let config = config_with_plugins(&cluster, d, &plugins, methods, &extra);

    // `plugins list`: built-ins, the discovered plugins in order, and the two that cannot load.
    let out = run(bin().args(["plugins", "list", "--output", "json", "--config"]).arg(&config));
    assert_eq!(out.status.code(), Some(1), "a plugin failed to load");
    let listing: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    let entry =
        |name: &str| listing.iter().find(|l| l["name"] == name).unwrap_or_else(|| panic!("{name}: {listing:#?}"));
    assert_eq!(entry("socket")["source"], "built-in");
    assert!(entry("good")["source"].as_str().unwrap().ends_with("good.sh (NAME.yaml)"));
    assert!(entry("check_always_ok")["source"].as_str().unwrap().ends_with("(nagios)"));
    assert!(entry("future")["error"].as_str().unwrap().contains("protocol_version 2 is not supported"), "{listing:#?}");
    assert!(entry("stray")["error"].as_str().unwrap().contains("no manifest"), "{listing:#?}");
    let table = stdout(&run(bin().args(["plugins", "list", "--config"]).arg(&config)));
    assert!(
        table.lines().any(|l| l.starts_with("monitoring") && l.contains("check_always_ok") && l.contains(" 1 ")),
        "{table}"
    );

    // `validate` warns about the broken ones and accepts the rest.
    let out = run(bin().arg("validate").arg(&config));
    assert!(out.status.success());
    assert!(stdout(&out).contains("future.sh is not loaded"), "{}", stdout(&out));

    // `plugins test`: the request (with the plugin's own config) and the answer.
    let out = run(bin().args(["plugins", "test", "good", "--config"]).arg(&config));
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("\"threshold\": 7") && text.contains("\"kind\": \"monitoring\"") && text.contains("all fine"),
        "{text}"
    );
    let out = run(bin().args(["plugins", "test", "garbage", "--config"]).arg(&config));
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("printed something that is not JSON"), "{}", stderr(&out));

    // The daemon: the broker stays healthy; each misbehaving plugin is an unknown
    // observation naming what went wrong.
    let _daemon = crate::operate::spawn_daemon(&config);
    let s = wait_until("every plugin probed", Duration::from_secs(30), || {
        let s = status(&config)?;
        let probes = s["nodes"].as_array()?.iter().find(|n| n["id"] == "broker-1")?["probes"].as_array()?.clone();
        (probes.len() == 9).then_some(s)
    });
    let broker = s["nodes"].as_array().unwrap().iter().find(|n| n["id"] == "broker-1").unwrap().clone();
    assert_eq!(broker["state"], "healthy", "{broker:#}");
    let probe = |m: &str| broker["probes"].as_array().unwrap().iter().find(|p| p["method"] == m).unwrap().clone();
    // Priority order: check_always_ok (1), good (2), then the rest as written.
    let order: Vec<&str> = broker["probes"].as_array().unwrap().iter().map(|p| p["method"].as_str().unwrap()).collect();
    assert_eq!(&order[..3], ["check_always_ok", "good", "kafka_api"], "{order:?}");
    assert_eq!(
        (probe("good")["status"].as_str(), probe("good")["detail"].as_str()),
        (Some("healthy"), Some("all fine (checked=3)"))
    );
    assert_eq!(probe("check_always_ok")["detail"], "OK - fine");
    for (method, says) in [
        ("hangs", "did not answer within 1s and was killed"),
        ("crashes", "was killed by a signal (crashed)"),
        ("garbage", "printed something that is not JSON"),
        ("huge", "printed more than 1024 KiB on stdout"),
        ("bad_exit", "exited 3"),
        ("bad_status", "answered status `so-so`"),
    ] {
        let p = probe(method);
        assert_eq!(
            (p["status"].as_str(), p["cause"].as_str()),
            (Some("unknown"), Some("plugin_error")),
            "{method}: {p}"
        );
        assert!(p["detail"].as_str().unwrap().contains(&format!("plugin `{method}`: {says}")), "{method}: {p}");
    }
    let log = std::fs::read_to_string(d.join("application.log")).unwrap();
    assert!(log.contains("Plugin error") && log.contains("future.sh is not loaded"), "the log says so");
    // People hear that a plugin is missing (on_system_error).
    let told = wait_until("the system error notification", Duration::from_secs(20), || {
        people.json().into_iter().find(|n| n["trigger"] == "on_system_error")
    });
    assert!(told["body"].as_str().unwrap().contains("future.sh: protocol_version 2 is not supported"), "{told}");
    let metrics =
        reqwest::blocking::get(format!("http://127.0.0.1:{}/metrics", http_port(&config))).unwrap().text().unwrap();
    assert!(metrics.contains("method=\"garbage\",cause=\"plugin_error\""), "counted");
    // Every hung run was killed with its whole process group (the latest may still be running).
    let pids: Vec<i32> = wait_until("the hung plugin ran three times", Duration::from_secs(30), || {
        let pids: Vec<i32> = std::fs::read_to_string(plugins.join("hang.pids"))
            .ok()?
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect();
        (pids.len() >= 3).then_some(pids)
    });
    // Running, not a zombie waiting to be reaped.
    let running = |pid: i32| {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .is_ok_and(|st| st.rsplit(')').next().is_some_and(|rest| !rest.trim_start().starts_with('Z')))
    };
    let older = pids[..pids.len() - 1].to_vec();
    let survivors = wait_until("the hung runs are gone", Duration::from_secs(5), || {
        let left: Vec<i32> = older.iter().copied().filter(|p| running(*p)).collect();
        left.is_empty().then_some(left)
    });
    assert!(survivors.is_empty());

    // Switched off: the method is reported as disabled, never run.
    let text = std::fs::read_to_string(&config).unwrap();
    let off = text.replace("    good: {priority: 2, config: {threshold: 7}}\n", "    good: {enabled: false}\n");
    let config_off = write_temp(d, "off.yaml", &off);
    let out = run(bin().arg("validate").arg(&config_off));
    assert!(stdout(&out).contains("plugin `good` is disabled"), "{}", stdout(&out));
    let out = run(bin().args(["check", "--output", "json", "--config"]).arg(&config_off));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(report.to_string().contains("monitoring plugin `good` is disabled"), "{report}");
    // A node listing a plugin that failed to load is an error naming why.
    let broken = text.replace("[kafka_api, good,", "[kafka_api, future, good,");
    let out = run(bin().arg("validate").arg(write_temp(d, "broken.yaml", &broken)));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("monitoring method plugin `future` could not be loaded: protocol_version 2"),
        "{}",
        stderr(&out)
    );
}

/// The shipped examples: the Nagios check detects a real crash, the Python
/// recovery plugin restarts the broker, the sh notifier records the recovery.
#[test]
fn the_example_plugins_detect_repair_and_report_a_real_crash() {
    let _lock = cluster_lock();
    let mut cluster = Cluster::start(Spec { zookeepers: 1, brokers: 2, ..Spec::zookeeper() }).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let examples = repo().join("examples/plugins");
    let notifications = d.join("notifications.jsonl");
    let extra = format!(
        "  recovery_plugins:\n    restart_with_command:\n      config: {{command: [{TESTBED}, start, \"{{node_id}}\", --dir, {}]}}\n\
         recovery:\n  actions: [restart_with_command]\n  initial_delay_seconds: 1\n  max_failed_fraction: 0.6\n",
        cluster.dir().display()
    );
    let config = config_with_plugins(&cluster, d, &examples, "[check_tcp_port]", &extra);
    let out = run(bin().args(["plugins", "list", "--config"]).arg(&config));
    assert!(out.status.success(), "{}", stdout(&out));
    let table = stdout(&out);
    for (kind, name, manifest) in [
        ("monitoring", "check_tcp_port", "(nagios)"),
        ("recovery", "restart_with_command", "(NAME.yaml)"),
        ("notification", "append_to_file", "(describe)"),
    ] {
        assert!(table.lines().any(|l| l.starts_with(kind) && l.contains(name) && l.ends_with(manifest)), "{table}");
    }
    // The recovery plugin in a dry run changes nothing and says what it would do.
    let out =
        run(bin().args(["plugins", "test", "restart_with_command", "--node", "broker-2", "--config"]).arg(&config));
    assert!(
        stdout(&out).contains("\"dry_run\": true") && stdout(&out).contains("dry run: would run"),
        "{}",
        stdout(&out)
    );

    let mut daemon = std::process::Command::new(env!("CARGO_BIN_EXE_kafka-self-healing"));
    daemon.args(["run", "--config"]).arg(&config).env("NOTIFICATION_FILE", &notifications);
    let _daemon = crate::operate::Guard(
        daemon.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null()).spawn().unwrap(),
    );
    wait_until("brokers healthy", Duration::from_secs(30), || {
        let s = status(&config)?;
        s["nodes"]
            .as_array()?
            .iter()
            .filter(|n| n["role"] == "kafka_broker")
            .all(|n| n["state"] == "healthy")
            .then_some(())
    });
    cluster.kill("broker-2").unwrap();
    wait_until("recovered by the plugin", Duration::from_secs(120), || {
        audit_log(d).into_iter().find(|r| r["event"] == "recovered" && r["node"] == "broker-2")
    });
    let audit = audit_log(d);
    let detected = audit.iter().find(|r| r["event"] == "detected" && r["node"] == "broker-2").unwrap();
    assert!(detected["evidence"].as_str().unwrap().contains("check_tcp_port: TCP CRITICAL"), "{detected}");
    let finished = audit.iter().find(|r| r["event"] == "attempt_finished" && r["node"] == "broker-2").unwrap();
    assert_eq!(finished["success"], true, "{finished}");
    assert!(finished["result"].as_str().unwrap().starts_with("plugin restart_with_command: ran "), "{finished}");
    // The notifier got the recovery (on_recovery_success), as one JSON line.
    let lines = wait_until("the notifier wrote", Duration::from_secs(30), || {
        let text = std::fs::read_to_string(&notifications).ok()?;
        let lines: Vec<Value> = text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
        lines.iter().any(|l| l["notification"]["trigger"] == "on_recovery_success").then_some(lines)
    });
    assert!(lines.iter().all(|l| l["protocol_version"] == 1 && l["kind"] == "notification"));
}

/// A Nagios check that hangs gets its node's probe time, not 30 s: `check`
/// returns within it and names the check that could not tell. Its directory
/// is listed directly as `…/plugins/monitoring` and is taken as that kind; a
/// manifest asking for more than the node's probe time is warned about.
#[test]
fn a_hanging_check_gets_the_nodes_probe_time_and_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let monitoring = d.join("plugins/monitoring");
    executable(&monitoring.join("check_hang.sh"), "#!/bin/sh\nsleep 30\necho 'OK - never'\n");
    monitor(&d.join("plugins"), "slow", r#"echo '{"status": "healthy"}'"#, 60.0);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let config = write_temp(
        d,
        "config.yaml",
        &format!(
            "cluster:\n  name: limits\n  kafka_brokers:\n    - {{node_id: b1, host: 127.0.0.1, port: {port}, monitoring_methods: [socket, check_hang, slow]}}\n\
             monitoring:\n  timeout_seconds: 2\nrecovery:\n  actions: []\nplugins:\n  discovery: {{directories: [{}]}}\n\
             system:\n  state_dir: {}\n",
            monitoring.display(),
            d.join("state").display()
        ),
    );
    let out = run(bin().arg("validate").arg(&config));
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert!(out.status.success(), "{text}");
    assert!(!text.contains("no manifest"), "a directory named `monitoring` is that kind: {text}");
    assert!(text.contains("monitoring plugin `slow` asks for 60s") && text.contains("it is killed after 2s"), "{text}");
    let started = std::time::Instant::now();
    let out = run(bin().args(["check", "--output", "json", "--config"]).arg(&config));
    let took = started.elapsed();
    let report = stdout(&out);
    assert!(took < Duration::from_secs(10), "one round took {took:?}: {report}");
    assert!(
        report.contains("check_hang: could not tell (plugin `check_hang`: did not answer within 2s and was killed)"),
        "{report}"
    );
    drop(listener);
}
