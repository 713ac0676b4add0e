//! The production topology: hosts booting a real systemd (`systemd-nspawn`),
//! each broker and ZooKeeper node a systemd unit on its own host, the healer
//! installed from its .deb with `dpkg -i` and run by the shipped unit,
//! restarting brokers with `restart_service` — over SSH with the shipped
//! sudoers drop-in, or locally through the shipped polkit rule.

use std::time::{Duration, Instant};

use kafka_testbed::{HostCluster, HostSpec, Impairment, hosts};
use serde_json::Value;

use crate::support::{cluster_lock, wait_until};

/// The healer's configuration on its host, as an operator writes it.
fn healer_config(cluster: &HostCluster, recovery: &str) -> String {
    format!(
        "{}monitoring:\n  interval_seconds: 2\n  timeout_seconds: 2\nrecovery:\n{recovery}\nsystem:\n  metrics: {{port: 8080}}\n",
        cluster.cluster_section("hosts")
    )
}

/// Writes the configuration and starts the healer's unit; waits until every node is seen healthy.
fn start_healer(cluster: &HostCluster, on: &str, config: &str) {
    cluster
        .start_healer(on, config, Duration::from_secs(60))
        .unwrap_or_else(|e| panic!("{e}\n{}", journal(cluster, on)));
}

fn journal(cluster: &HostCluster, on: &str) -> String {
    cluster
        .lab
        .host(on)
        .exec("journalctl -u kafka-self-healing --no-pager -n 60")
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

fn audit(cluster: &HostCluster, on: &str) -> Vec<Value> {
    cluster
        .lab
        .host(on)
        .read("/var/log/kafka-self-healing/audit.log")
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

fn wait_audit(cluster: &HostCluster, on: &str, event: &str, limit: Duration, pred: impl Fn(&Value) -> bool) -> Value {
    let started = Instant::now();
    loop {
        if let Some(r) = audit(cluster, on).into_iter().find(|r| r["event"] == event && pred(r)) {
            return r;
        }
        assert!(
            started.elapsed() < limit,
            "no `{event}` within {limit:?}; audit:\n{}\njournal:\n{}",
            cluster.lab.host(on).read("/var/log/kafka-self-healing/audit.log"),
            journal(cluster, on)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// `kcat` in the lab's network namespace: produce one message and read it back through `broker`.
fn produce_and_consume(cluster: &HostCluster, broker: &str, topic: &str, message: &str) {
    let bootstrap = format!("{broker}:9092");
    let out = cluster
        .lab
        .command("kcat")
        .args(["-b", &bootstrap, "-t", topic, "-P", "-X", "acks=all", "-X", "message.timeout.ms=20000"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(format!("{message}\n").as_bytes())?;
            c.wait_with_output()
        })
        .unwrap();
    assert!(out.status.success(), "kcat -P: {}", String::from_utf8_lossy(&out.stderr));
    let out = cluster
        .lab
        .command("kcat")
        .args([
            "-b",
            &bootstrap,
            "-t",
            topic,
            "-C",
            "-o",
            "beginning",
            "-e",
            "-q",
            "-X",
            "topic.metadata.refresh.interval.ms=1000",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.lines().any(|l| l == message), "kcat -C read {text:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// Issue: the shipped unit plus `restart_service` could not restart anything.
/// Here every broker is `kafka.service` on its own host, the healer runs from
/// its .deb under the shipped unit (hardening unchanged) and restarts a
/// crashed broker over SSH with `sudo -n systemctl restart kafka`, allowed by
/// the shipped sudoers drop-in and nothing else. The runbook's commands work
/// on the healer's host as written.
#[test]
fn a_crashed_broker_is_restarted_over_ssh_by_the_packaged_healer() {
    let _lock = cluster_lock();
    let mut cluster = HostCluster::start(HostSpec::zookeeper(3)).unwrap();
    let config = healer_config(
        &cluster,
        "  actions: [restart_service]\n  max_attempts: 2\n  initial_delay_seconds: 2\n  cooldown_seconds: 5\n  restart_service: {use_sudo: true}\n  ssh: {user: kafka-healing, timeout: 20, connect_timeout: 5}\n  guard_wait_escalate_seconds: 6",
    );
    // broker-2 runs with Kafka's default ZooKeeper session (18 s), as operators run it.
    cluster
        .lab
        .host("broker-2")
        .sh("sed -i '/^zookeeper.session.timeout.ms=/d' /etc/kafka/server.properties && systemctl restart kafka")
        .unwrap();
    cluster.wait_serving("broker-2", Duration::from_secs(120)).unwrap();
    start_healer(&cluster, "healer", &config);
    let healer = cluster.lab.host("healer");
    // READY and STATUS reached systemd.
    let status = healer.sh("systemctl show -p StatusText --value kafka-self-healing").unwrap();
    assert!(status.contains("cluster `hosts`: 3 Kafka broker(s)"), "{status}");
    produce_and_consume(&cluster, "broker-2", "before", "hello before");

    // kill -9 of kafka's main process on broker-2's host.
    let old = cluster.crash("broker-2").unwrap();
    let started =
        wait_audit(&cluster, "healer", "attempt_started", Duration::from_secs(60), |r| r["node"] == "broker-2");
    let command = started["command"].as_str().unwrap();
    assert!(command.contains("ssh") && command.contains("kafka-healing@broker-2"), "{command}");
    assert!(command.ends_with("'sudo -n systemctl restart kafka'"), "{command}");
    let recovered = wait_audit(&cluster, "healer", "recovered", Duration::from_secs(120), |r| r["node"] == "broker-2");
    // One restart: it waited for the crashed broker's ZooKeeper session (18 s)
    // to expire instead of starting into NodeExists and trying again.
    let trail = cluster.lab.host("healer").read("/var/log/kafka-self-healing/audit.log");
    assert_eq!(recovered["attempts"], 1, "{trail}");
    let waited = audit(&cluster, "healer")
        .into_iter()
        .find(|r| r["event"] == "registration_expired" && r["node"] == "broker-2")
        .unwrap_or_else(|| panic!("no wait for the old registration:\n{trail}"));
    assert_eq!(waited["gone"], true, "{waited:#}");
    assert!(waited["waited_s"].as_f64().unwrap() > 5.0, "the rest of an 18 s session: {waited:#}");
    let broker = cluster.lab.host("broker-2");
    assert_eq!(broker.unit_state("kafka"), "active");
    assert_ne!(broker.main_pid("kafka"), Some(old), "a new process");
    produce_and_consume(&cluster, "broker-2", "after", "hello after");

    // The sudoers drop-in allows the units' restarts and nothing else.
    let denied = broker.exec("runuser -u kafka-healing -- sudo -n systemctl stop ssh").unwrap();
    assert!(!denied.status.success(), "sudo let the healer's user do more than restart the units");

    // ZooKeeper too: kill -9 on zk-1, `systemctl restart zookeeper` over SSH.
    cluster.crash("zk-1").unwrap();
    let started = wait_audit(&cluster, "healer", "attempt_started", Duration::from_secs(60), |r| r["node"] == "zk-1");
    assert!(started["command"].as_str().unwrap().ends_with("'sudo -n systemctl restart zookeeper'"), "{started:#}");
    wait_audit(&cluster, "healer", "recovered", Duration::from_secs(120), |r| r["node"] == "zk-1");
    assert_eq!(cluster.lab.host("zk-1").unit_state("zookeeper"), "active");

    // systemd's own view. broker-3's operator adds Restart=on-failure: systemd
    // restarts the crashed broker itself, and the healer starts no second restart
    // on top; it waits, says so, and says who restarted it.
    let b3 = cluster.lab.host("broker-3");
    b3.write(
        "/etc/systemd/system/kafka.service.d/restart.conf",
        "[Unit]\nStartLimitIntervalSec=120\nStartLimitBurst=2\n[Service]\nRestart=on-failure\nRestartSec=3\n",
        0o644,
    )
    .unwrap();
    b3.sh("systemctl daemon-reload").unwrap();
    cluster.crash("broker-3").unwrap();
    let waiting =
        wait_audit(&cluster, "healer", "restarting_by_systemd", Duration::from_secs(60), |r| r["node"] == "broker-3");
    // `activating` (auto-restart), or already `active` with a process systemd started after the crash.
    let evidence = waiting["evidence"].as_str().unwrap();
    assert!(
        evidence.contains("kafka.service is activating") || evidence.contains("1 automatic restart(s)"),
        "{waiting:#}"
    );
    let recovered = wait_audit(&cluster, "healer", "recovered", Duration::from_secs(120), |r| r["node"] == "broker-3");
    assert_eq!(recovered["restarted_by"], "systemd", "{recovered:#}");
    assert_eq!(recovered["attempts"], 0, "{recovered:#}");
    let ours = audit(&cluster, "healer")
        .into_iter()
        .filter(|r| r["event"] == "attempt_started" && r["node"] == "broker-3")
        .count();
    assert_eq!(ours, 0, "no restart on top of systemd's");
    let incidents =
        healer.sh("kafka-self-healing incidents --node broker-3 --config /etc/kafka-self-healing/config.yaml").unwrap();
    assert!(incidents.contains("restarted by systemd"), "{incidents}");

    // systemd gives up (the broker cannot start, the start limit is hit): the unit
    // is `failed`. The healer resets it and starts it once the cause is fixed.
    b3.sh("systemctl reset-failed kafka; mv /etc/kafka/server.properties /etc/kafka/server.properties.away").unwrap();
    cluster.crash("broker-3").unwrap();
    wait_until("systemd gives up", Duration::from_secs(60), || b3.unit_state("kafka") == "failed");
    b3.sh("mv /etc/kafka/server.properties.away /etc/kafka/server.properties").unwrap();
    let reset = wait_audit(&cluster, "healer", "attempt_started", Duration::from_secs(60), |r| r["node"] == "broker-3");
    assert!(reset["command"].as_str().unwrap().contains("'sudo -n systemctl reset-failed kafka' && "), "{reset:#}");
    assert!(reset["guards"]["systemd"].as_str().unwrap().contains("is failed"), "{reset:#}");
    let back = wait_audit(&cluster, "healer", "recovered", Duration::from_secs(120), |r| {
        r["node"] == "broker-3" && r["incident_id"] != recovered["incident_id"]
    });
    assert_eq!(back["restarted_by"], "kafka-self-healing", "{back:#}");
    assert_eq!(b3.unit_state("kafka"), "active");

    // The healer cut off from broker-1 while its peers still list it and ZooKeeper
    // holds its registration: the cluster says it serves — no restart from here.
    cluster.lab.cut_path("healer", "broker-1", true).unwrap();
    let held = wait_audit(&cluster, "healer", "escalated", Duration::from_secs(90), |r| r["node"] == "broker-1");
    assert!(held["reason"].as_str().unwrap().contains("`cluster_says_serving` guard"), "{held:#}");
    assert!(held["reason"].as_str().unwrap().contains("registered in ZooKeeper"), "{held:#}");
    let restarted = audit(&cluster, "healer")
        .into_iter()
        .filter(|r| r["event"] == "attempt_started" && r["node"] == "broker-1")
        .count();
    assert_eq!(restarted, 0, "a broker the cluster counts is never restarted from a host that cannot reach it");
    assert_eq!(cluster.lab.host("broker-1").unit_state("kafka"), "active");
    cluster.lab.cut_path("healer", "broker-1", false).unwrap();
    let released =
        wait_audit(&cluster, "healer", "hold_released", Duration::from_secs(60), |r| r["node"] == "broker-1");

    // A broker host powered off: the SSH restart fails fast, with the cause an
    // operator acts on ("host unreachable"), and the incident is escalated with it.
    cluster.lab.power_off("broker-1").unwrap();
    let escalated = wait_audit(&cluster, "healer", "escalated", Duration::from_secs(120), |r| {
        r["node"] == "broker-1" && r["incident_id"] != held["incident_id"]
    });
    let failures: Vec<Value> = audit(&cluster, "healer")
        .into_iter()
        .filter(|r| r["event"] == "attempt_finished" && r["node"] == "broker-1")
        .collect();
    assert!(!failures.is_empty(), "{escalated:#}");
    for f in &failures {
        assert!(f["result"].as_str().unwrap().contains("host unreachable"), "{f:#}");
        assert!(f["duration_s"].as_f64().unwrap() < 15.0, "fails fast, not at the time limit: {f:#}");
    }
    // Powered on again: it boots, the broker starts at boot, the hold is released.
    cluster.lab.power_on("broker-1").unwrap();
    wait_audit(&cluster, "healer", "hold_released", Duration::from_secs(120), |r| {
        r["node"] == "broker-1" && r["ts"] != released["ts"]
    });
    let healer = cluster.lab.host("healer");

    // The runbook's commands, verbatim, on the healer's host.
    for (command, expect) in [
        ("journalctl -u kafka-self-healing --no-pager", "Node status"),
        ("journalctl -u kafka-self-healing --no-pager", "Recovery"),
        ("curl -s http://localhost:8080/metrics", "kafka_self_healing_recovery_success_total"),
        ("grep \"Node status\" /var/log/kafka-self-healing/application.log", "broker-2"),
        ("grep \"Recovery\" /var/log/kafka-self-healing/audit.log", "broker-2"),
        ("kafka-self-healing validate /etc/kafka-self-healing/config.yaml", "OK:"),
        ("systemctl status kafka-self-healing --no-pager", "active (running)"),
    ] {
        let out = healer.sh(command).unwrap_or_else(|e| panic!("{e}"));
        assert!(out.contains(expect), "`{command}` printed no `{expect}`:\n{out}");
    }
    // `systemctl reload` re-reads the file; a broken one is refused and the daemon stays up.
    healer.sh("systemctl reload kafka-self-healing").unwrap();
    wait_until("reloaded", Duration::from_secs(20), || {
        healer.read("/var/log/kafka-self-healing/application.log").contains("Configuration reloaded")
    });
    healer.write("/etc/kafka-self-healing/config.yaml", "cluster: {}\n", 0o640).unwrap();
    healer.sh("systemctl reload kafka-self-healing").unwrap();
    wait_until("refused", Duration::from_secs(20), || {
        healer.read("/var/log/kafka-self-healing/application.log").contains("Configuration reload refused")
    });
    assert_eq!(healer.unit_state("kafka-self-healing"), "active");
    healer.sh("systemctl stop kafka-self-healing").unwrap();
    assert_eq!(healer.unit_state("kafka-self-healing"), "inactive");
}

/// A healer next to a single broker: a one-node KRaft cluster (broker and
/// controller in one `kafka.service`) with the .deb on the same host. The
/// restart is local, through the shipped polkit rule (sudo cannot work under
/// the unit's NoNewPrivileges); loopback is not a network, so the node's
/// failure is not "isolation", and one failed host is never a mass failure.
#[test]
fn a_healer_next_to_its_only_broker_restarts_it_locally_through_polkit() {
    let _lock = cluster_lock();
    let spec = HostSpec { healer: false, healer_on: Some("kafka-1".into()), ..HostSpec::kraft(1) };
    let cluster = HostCluster::start(spec).unwrap();
    let config = healer_config(
        &cluster,
        "  actions: [restart_service]\n  initial_delay_seconds: 2\n  cooldown_seconds: 3\n  recovery_validation: {timeout_seconds: 10}",
    );
    start_healer(&cluster, "kafka-1", &config);
    let old = cluster.crash("kafka-1").unwrap();
    let started = wait_audit(&cluster, "kafka-1", "attempt_started", Duration::from_secs(60), |_| true);
    // Without Restart= the crashed unit is `failed`: reset, then restarted — both allowed by the polkit rule.
    assert_eq!(started["command"], "systemctl reset-failed kafka && systemctl restart kafka", "{started:#}");
    wait_audit(&cluster, "kafka-1", "recovered", Duration::from_secs(120), |_| true);
    let host = cluster.lab.host("kafka-1");
    assert_eq!(host.unit_state("kafka"), "active");
    assert_ne!(host.main_pid("kafka"), Some(old));
    let events: Vec<String> =
        audit(&cluster, "kafka-1").iter().map(|r| r["event"].as_str().unwrap_or("").to_string()).collect();
    assert!(!events.iter().any(|e| e == "escalated"), "no isolation, no mass failure: {events:?}");
    // One process listed twice (broker and controller) is restarted once: the
    // validation waits for both entries, the other incident sees it serve again.
    std::thread::sleep(Duration::from_secs(5));
    let restarts = audit(&cluster, "kafka-1").iter().filter(|r| r["event"] == "attempt_started").count();
    assert_eq!(restarts, 1, "{}", host.read("/var/log/kafka-self-healing/audit.log"));
    produce_and_consume(&cluster, "kafka-1", "local", "restarted here");

    // The daemon as a service. An incident is open with failed attempts (the broker
    // cannot start: its configuration is away) when the daemon hangs (SIGSTOP):
    // systemd's watchdog kills it and starts it again; the incident resumes where
    // it was — no attempt repeated — and is repaired once the cause is fixed.
    host.write(
        "/etc/systemd/system/kafka-self-healing.service.d/watchdog.conf",
        "[Service]\nWatchdogSec=4s\nRestartSec=1s\n",
        0o644,
    )
    .unwrap();
    host.sh("systemctl daemon-reload && systemctl restart kafka-self-healing").unwrap();
    wait_until("the healer is back", Duration::from_secs(60), || {
        host.exec("kafka-self-healing status --url http://localhost:8080").is_ok_and(|o| o.status.success())
    });
    host.sh("mv /etc/kafka/server.properties /etc/kafka/server.properties.away").unwrap();
    cluster.crash("kafka-1").unwrap();
    let attempts = |cluster: &HostCluster| -> Vec<u64> {
        audit(cluster, "kafka-1")
            .iter()
            .filter(|r| r["event"] == "attempt_started" && r["node"] == "kafka-1")
            .filter_map(|r| r["attempt"].as_u64())
            .collect()
    };
    wait_until("a failed attempt", Duration::from_secs(60), || {
        attempts(&cluster).contains(&2) || attempts(&cluster).len() >= 2
    });
    let pid = host.main_pid("kafka-self-healing").unwrap();
    host.sh(&format!("kill -STOP {pid}")).unwrap();
    wait_until("the watchdog restarts the daemon", Duration::from_secs(60), || {
        host.main_pid("kafka-self-healing").is_some_and(|p| p != pid)
    });
    let journal = journal(&cluster, "kafka-1");
    assert!(journal.contains("Watchdog timeout"), "{journal}");
    let resumed =
        wait_audit(&cluster, "kafka-1", "incident_resumed", Duration::from_secs(30), |r| r["node"] == "kafka-1");
    host.sh("mv /etc/kafka/server.properties.away /etc/kafka/server.properties").unwrap();
    wait_audit(&cluster, "kafka-1", "recovered", Duration::from_secs(120), |r| {
        r["incident_id"] == resumed["incident_id"]
    });
    let numbers: Vec<u64> = audit(&cluster, "kafka-1")
        .iter()
        .filter(|r| r["event"] == "attempt_started" && r["incident_id"] == resumed["incident_id"])
        .filter_map(|r| r["attempt"].as_u64())
        .collect();
    let mut unique = numbers.clone();
    unique.dedup();
    assert_eq!(numbers, unique, "no attempt number twice: {numbers:?}");
    assert!(numbers.windows(2).all(|w| w[1] == w[0] + 1), "attempts go on where they were: {numbers:?}");

    // The host rebooted: the broker and the daemon start at boot, the daemon resumes.
    let started_before = audit(&cluster, "kafka-1").iter().filter(|r| r["event"] == "daemon_started").count();
    let mut cluster = cluster;
    cluster.lab.host_mut("kafka-1").reboot().unwrap();
    cluster.wait_serving("kafka-1", Duration::from_secs(120)).unwrap();
    let host = cluster.lab.host("kafka-1");
    wait_until("the daemon started at boot", Duration::from_secs(60), || {
        audit(&cluster, "kafka-1").iter().filter(|r| r["event"] == "daemon_started").count() > started_before
    });
    assert_eq!(host.unit_state("kafka-self-healing"), "active");
    wait_until("every node healthy after the reboot", Duration::from_secs(60), || {
        host.exec("kafka-self-healing status --url http://localhost:8080").is_ok_and(|o| o.status.success())
    });
}

/// Teardown leaves nothing behind: no namespace, cgroup, overlay or container.
#[test]
fn a_lab_leaves_nothing_behind_even_after_a_panic() {
    let _lock = cluster_lock();
    let result = std::panic::catch_unwind(|| {
        let lab = hosts::Lab::start(&["a", "b"], &[]).unwrap();
        let ssh =
            lab.host("a").exec(&format!("timeout 5 bash -c 'echo > /dev/tcp/{}/22'", lab.host("b").address)).unwrap();
        assert!(ssh.status.success(), "hosts reach each other over the bridge: {ssh:?}");
        assert!(hosts::leftovers().len() > 3, "the lab exists while it runs");
        // No address of the lab in the machine's own namespace.
        let own = std::process::Command::new("ip").args(["-4", "addr"]).output().unwrap();
        assert!(!String::from_utf8_lossy(&own.stdout).contains(hosts::SUBNET));
        panic!("a test that panics with a lab running");
    });
    assert!(result.is_err());
    assert_eq!(hosts::leftovers(), Vec::<String>::new());
}

/// KRaft with a dedicated controller host and three broker hosts, the healer
/// on a host of its own, while one broker's link is bad (300 ms each way and
/// 1 % loss, the lab's link relay) for the whole test: that broker never
/// becomes failed. Meanwhile the controller crashes and is restarted over
/// SSH, and another broker is cut off from its peers while the healer still
/// reaches it: the healer reports the partition from the cluster's view, tells
/// people once, and never restarts it (a restart cannot mend a network path).
/// Five minutes of the bad link, and the relay's measured delay, are the
/// `bad_link` benchmark's (`cargo bench --bench bad_link`): a timing under
/// the suite's load is no behaviour to assert.
#[test]
fn kraft_controllers_on_their_own_hosts_a_partition_and_a_bad_link() {
    let _lock = cluster_lock();
    let mut cluster = HostCluster::start(HostSpec::kraft_separate(1, 3)).unwrap();
    let config = healer_config(
        &cluster,
        "  actions: [restart_service]\n  initial_delay_seconds: 2\n  cooldown_seconds: 5\n  restart_service: {use_sudo: true}\n  ssh: {user: kafka-healing, timeout: 20, connect_timeout: 5}",
    )
    .replace("timeout_seconds: 2", "timeout_seconds: 5");
    start_healer(&cluster, "healer", &config);
    let bad_link_since = Instant::now();
    let bad = Impairment { delay: Duration::from_millis(300), loss: 0.01 };
    cluster.lab.impair("kafka-3", Some(bad)).unwrap();
    // The link is bad: no round trip can be shorter than its 600 ms (how much
    // longer, under the suite's load, is the benchmark's to measure).
    let ping = cluster.lab.host("kafka-1").sh("ping -c 3 -i 0.3 -q kafka-3").unwrap();
    let rtt_min: f64 = ping
        .split("rtt min/avg/max/mdev = ")
        .nth(1)
        .and_then(|r| r.split('/').next())
        .and_then(|m| m.parse().ok())
        .unwrap_or_else(|| panic!("no round-trip times:\n{ping}"));
    assert!(rtt_min >= 590.0, "300 ms each way, so at least 600 ms a round trip:\n{ping}");
    let healer = cluster.lab.host("healer");

    // The controller crashes: `systemctl restart kafka` on its host, over SSH.
    let old = cluster.crash("controller-1").unwrap();
    let started =
        wait_audit(&cluster, "healer", "attempt_started", Duration::from_secs(60), |r| r["node"] == "controller-1");
    assert!(started["command"].as_str().unwrap().contains("kafka-healing@controller-1"), "{started:#}");
    wait_audit(&cluster, "healer", "recovered", Duration::from_secs(120), |r| r["node"] == "controller-1");
    let controller = cluster.lab.host("controller-1");
    assert_eq!(controller.unit_state("kafka"), "active");
    assert_ne!(controller.main_pid("kafka"), Some(old));

    // kafka-2 cut off from the controller and its peers; the healer still reaches it.
    cluster.lab.partition("kafka-2", &["healer"], true).unwrap();
    let api = || healer.sh("curl -s http://localhost:8080/api/v1/status").unwrap_or_default();
    let reported = Instant::now();
    while !api().contains("cut off") {
        assert!(
            reported.elapsed() < Duration::from_secs(60),
            "the partition is not reported:\n{}\n{}",
            api(),
            healer.read("/var/log/kafka-self-healing/application.log")
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    println!("status during the partition: {}", api());
    wait_audit(&cluster, "healer", "cut_off", Duration::from_secs(30), |r| r["node"] == "kafka-2");
    // Five more probe rounds (interval 2 s) of the partition: still no restart.
    std::thread::sleep(Duration::from_secs(10));
    let log = healer.read("/var/log/kafka-self-healing/application.log");
    println!(
        "{}",
        log.lines().filter(|l| l.contains("kafka-2") || l.contains("Cluster status")).collect::<Vec<_>>().join("\n")
    );
    let restarts = audit(&cluster, "healer")
        .into_iter()
        .filter(|r| r["event"] == "attempt_started" && r["node"] == "kafka-2")
        .count();
    assert_eq!(restarts, 0, "a partitioned broker is never restarted");
    let told: Vec<Value> =
        audit(&cluster, "healer").into_iter().filter(|r| r["event"] == "cut_off" && r["node"] == "kafka-2").collect();
    assert_eq!(told.len(), 1, "the cut-off is told once: {told:#?}");
    cluster.lab.partition("kafka-2", &["healer"], false).unwrap();
    wait_until("the partition heals", Duration::from_secs(90), || !api().contains("cut off"));
    wait_audit(&cluster, "healer", "cut_off_cleared", Duration::from_secs(30), |r| r["node"] == "kafka-2");

    // The bad link all along: not one failed transition of kafka-3.
    println!("kafka-3's link was bad for {:?}", bad_link_since.elapsed());
    cluster.lab.impair("kafka-3", None).unwrap();
    let failed: Vec<Value> =
        audit(&cluster, "healer").into_iter().filter(|r| r["event"] == "detected" && r["node"] == "kafka-3").collect();
    assert!(failed.is_empty(), "kafka-3 was called failed under a slow link: {failed:#?}");
    let log = cluster.lab.host("healer").read("/var/log/kafka-self-healing/application.log");
    let transitions: Vec<&str> = log.lines().filter(|l| l.contains("Node status: kafka-3")).collect();
    assert!(!transitions.iter().any(|l| l.contains("failed")), "{transitions:#?}");
}
