//! Several healers on a real etcd cluster (Debian's `etcd-server`, three
//! members on 127.0.0.1) or a real 3-node ZooKeeper ensemble, in front of a
//! real Kafka cluster, one healer in a network namespace of its own whose
//! paths are cut there (`kafka_testbed::netns`): exactly one acts,
//! a dead or stopped leader is replaced within its lease, a deposed leader's
//! pending action is fenced, the new leader takes over open incidents
//! without repeating what ran, nobody acts without the backend, a healer
//! that alone sees a broker down restarts nothing, and the dead man's switch
//! stops only when every healer is down.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use kafka_testbed::etcd::EtcdCluster;
use kafka_testbed::netns::Netns;
use kafka_testbed::{Cluster, Spec};
use serde_json::Value;

use crate::notify::{Receiver, alertmanager, http_get};
use crate::support::{Run, TESTBED, cluster_lock, script, start_command};

/// The election's key prefix for the bed's cluster name.
const PREFIX: &str = "/kafka-self-healing/test-bed";
/// The healers' lease: a dead leader is replaced within it (plus etcd's own
/// expiry check, every 500 ms).
const LEASE_S: u64 = 3;

/// One healer: its own directory, state store and audit trail.
struct Healer {
    name: &'static str,
    run: Run,
}

impl Healer {
    /// A healer called `name` watching `cluster` with `recovery` (indented
    /// lines), `ha` (indented lines after `enabled`, `instance_id`,
    /// `lease_seconds`), and `more` top-level sections.
    fn configure(name: &'static str, cluster: &Cluster, root: &Path, recovery: &str, ha: &str, more: &str) -> Healer {
        let dir = root.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        let sections = format!(
            "{recovery}\nha:\n  enabled: true\n  instance_id: {name}\n  lease_seconds: {LEASE_S}\n{ha}\n{more}"
        );
        let run = Run::config_with(cluster, &dir, "  interval_seconds: 1\n  timeout_seconds: 1", &sections);
        Healer { name, run }
    }

    fn start(&mut self) {
        self.run.spawn(&[]);
    }

    /// The healer's HTTP port, from its configuration.
    fn port(&self) -> u16 {
        let text = std::fs::read_to_string(&self.run.config).unwrap();
        let at = text.find("metrics: {port: ").expect("the configuration has the HTTP port") + "metrics: {port: ".len();
        text[at..].split(',').next().unwrap().trim().parse().unwrap()
    }

    fn status(&self) -> Option<Value> {
        serde_json::from_str(&http_get(self.port(), "/api/v1/status")?).ok()
    }

    fn pid(&self) -> u32 {
        self.run.pid().expect("the healer runs")
    }

    fn signal(&self, sig: &str) {
        let ok = Command::new("kill").args([sig, &self.pid().to_string()]).status().unwrap().success();
        assert!(ok, "kill {sig} {}", self.name);
    }

    fn has(&self, event: &str, pred: impl Fn(&Value) -> bool) -> bool {
        self.run.events(event).iter().any(pred)
    }

    /// From now on the healer runs inside `ns`: every port of 127.0.0.1 its
    /// configuration names is forwarded into it, its own HTTP port out.
    fn isolate(&mut self, ns: &Netns) {
        let own = self.port();
        for port in ports_named(&std::fs::read_to_string(&self.run.config).unwrap()) {
            if port != own {
                ns.reach(port).unwrap();
            }
        }
        ns.expose(own).unwrap();
        self.run.netns = Some(ns.name().to_string());
    }
}

/// Every port a configuration names: `port: N`, `admin_port: N` and `127.0.0.1:N`.
fn ports_named(text: &str) -> Vec<u16> {
    let mut ports: Vec<u16> = ["port: ", "127.0.0.1:"]
        .iter()
        .flat_map(|before| text.match_indices(before).map(move |(at, _)| &text[at + before.len()..]))
        .filter_map(|rest| rest[..rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len())].parse().ok())
        .collect();
    ports.sort_unstable();
    ports.dedup();
    ports
}

/// Who holds the election, and its fencing token.
fn leader(etcd: &EtcdCluster) -> Option<(String, i64)> {
    etcd.get(&format!("{PREFIX}/leader"))
}

/// Waits until `name` leads; its token.
fn await_leader(etcd: &EtcdCluster, name: &str, limit: Duration) -> i64 {
    let started = Instant::now();
    loop {
        if let Some((l, epoch)) = leader(etcd)
            && l == name
        {
            return epoch;
        }
        assert!(started.elapsed() < limit, "{name} does not lead within {limit:?}; leader: {:?}", leader(etcd));
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The script's invocations: (epoch, node, attempt).
fn invocations(file: &Path) -> Vec<(String, String, String)> {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .map(|l| {
            let mut w = l.split_whitespace().map(str::to_string);
            (w.next().unwrap_or_default(), w.next().unwrap_or_default(), w.next().unwrap_or_default())
        })
        .collect()
}

/// A restart script for every healer: it logs its invocation with the
/// token it was given, then does what `mode` (a file) says: `fail-first`
/// fails attempt 1, `linger` starts the broker and keeps running.
fn restart_script(root: &Path, cluster: &Cluster) -> (PathBuf, PathBuf, PathBuf) {
    let (log, mode) = (root.join("invocations"), root.join("mode"));
    std::fs::write(&mode, "plain").unwrap();
    let bed = cluster.dir().display().to_string();
    // The brokers live in the machine's network namespace: a healer in one of
    // its own starts them there, as an action reaches a broker's host.
    let host = format!("nsenter --net=/proc/{}/ns/net", std::process::id());
    let body = format!(
        "echo \"$KAFKA_HEALER_EPOCH $KAFKA_NODE_ID $KAFKA_ATTEMPT\" >> {log}\n\
         case \"$(cat {mode})\" in\n\
           fail-first) [ \"$KAFKA_ATTEMPT\" = 1 ] && exit 1 ;;\n\
           linger) {host} {TESTBED} start \"$KAFKA_NODE_ID\" --dir {bed} && sleep 60; exit 0 ;;\n\
         esac\n\
         {TESTBED} kill \"$KAFKA_NODE_ID\" --dir {bed} 2>/dev/null\nexec {host} {}",
        start_command(cluster).trim_start_matches("exec "),
        log = log.display(),
        mode = mode.display(),
    );
    (script(root, &body), log, mode)
}

fn recovery_section(scripts: &Path) -> String {
    format!(
        "  actions: [script]\n  initial_delay_seconds: 12\n\
         \x20 script: {{script_directory: {}}}",
        scripts.display()
    )
}

/// Idle failover, then a repair by the new leader; a leader stopped past its
/// lease is fenced when it wakes while the new one finishes its incident; a
/// leader killed in the middle of an attempt: the new one closes it as
/// interrupted, finds the broker serving, and runs nothing again.
#[test]
fn a_dead_or_stopped_leader_is_replaced_within_its_lease_and_nothing_runs_twice() {
    let _lock = cluster_lock();
    let mut cluster = Cluster::start(Spec { zookeepers: 1, brokers: 3, ..Spec::zookeeper() }).unwrap();
    let root = tempfile::tempdir().unwrap();
    let root = root.path();
    let etcd = EtcdCluster::start(3, &root.join("etcd")).unwrap();
    let (scripts, log, mode) = restart_script(root, &cluster);
    let ha = format!("  endpoints: {}\n  confirm_from: 1", etcd.endpoints_yaml());
    let recovery = recovery_section(&scripts);
    let pager = Receiver::start();
    let more = format!(
        "notifications:\n  webhook: {{url: \"http://127.0.0.1:{}/hook\"}}\n\
         \x20 triggers: {{on_failure_detected: true}}\n\
         \x20 delivery: {{initial_backoff_seconds: 0.2, max_backoff_seconds: 1}}",
        pager.port
    );
    let mut a = Healer::configure("healer-a", &cluster, root, &recovery, &ha, &more);
    let mut b = Healer::configure("healer-b", &cluster, root, &recovery, &ha, &more);
    a.start();
    let epoch_a = await_leader(&etcd, "healer-a", Duration::from_secs(15));
    b.start();
    crate::support::wait_until("healer-b follows healer-a", Duration::from_secs(15), || {
        let s = b.status()?;
        (s["ha"]["role"] == "follower" && s["ha"]["leader"] == "healer-a").then_some(())
    });
    let s = a.status().unwrap();
    assert_eq!((s["ha"]["role"].as_str(), s["ha"]["epoch"].as_i64()), (Some("leader"), Some(epoch_a)), "{s:#}");
    let out = crate::support::run(crate::support::bin().args(["status", "--config"]).arg(&b.run.config));
    let shown = crate::support::stdout(&out);
    assert!(shown.contains(&format!("Healer healer-b: FOLLOWER; healer-a leads (epoch {epoch_a})")), "{shown}");
    let ready = http_get(b.port(), "/ready").unwrap();
    assert!(ready.contains("\"role\":\"follower\""), "{ready}");
    let metrics = http_get(a.port(), "/metrics").unwrap();
    assert!(
        metrics.contains("kafka_self_healing_ha_role{cluster=\"test-bed\",instance=\"healer-a\",role=\"leader\"} 1"),
        "{metrics}"
    );

    // 0. The operator's controls live in etcd: a pause given to the follower
    // holds on the leader too, a resume given to the leader lifts it on both
    // (issue: each healer had its own, and a follower's API refused them).
    let paused = |h: &Healer| h.status().is_some_and(|s| s["daemon"]["paused_until"].is_string());
    let cli = |h: &Healer, args: &[&str]| {
        let out = crate::support::run(crate::support::bin().args(args).arg("--config").arg(&h.run.config));
        assert!(out.status.success(), "{args:?}: {}", crate::support::stderr(&out));
    };
    cli(&b, &["pause"]);
    crate::support::wait_until("the follower's pause holds on the leader", Duration::from_secs(10), || paused(&a));
    assert!(paused(&b), "and on the follower itself");
    let given = b.run.events("operator_pause");
    assert_eq!((given[0]["healer"].as_str(), given[0]["shared"].as_bool()), (Some("healer-b"), Some(true)));
    cli(&a, &["resume"]);
    crate::support::wait_until("the leader's resume lifts it on the follower", Duration::from_secs(10), || !paused(&b));
    // A maintenance window given to the leader binds the next one.
    cli(&a, &["maintenance", "start", "--node", "broker-2", "--for", "10m", "--reason", "disk swap"]);
    crate::support::wait_until("the window is shown by the follower", Duration::from_secs(10), || {
        b.status().is_some_and(|s| s["daemon"]["maintenance"].to_string().contains("broker-2"))
    });

    // 1. kill -9 of the idle leader: the follower leads within the lease (+1 s).
    a.run.kill();
    let killed = Instant::now();
    let epoch_b = await_leader(&etcd, "healer-b", Duration::from_secs(LEASE_S + 1));
    let took = killed.elapsed();
    assert!(epoch_b > epoch_a, "the token grows: {epoch_a} then {epoch_b}");
    eprintln!("failover after kill -9 of the leader: {took:?}");
    // The new leader leaves broker-2 alone while the window the old one was given lasts …
    cluster.kill("broker-2").unwrap();
    crate::support::wait_until("healer-b sees broker-2 down, in maintenance", Duration::from_secs(20), || {
        b.status().is_some_and(|s| {
            s["nodes"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|n| n["id"] == "broker-2" && n["state"] == "failed" && n["shown"] == "maintenance")
        })
    });
    std::thread::sleep(Duration::from_secs(3));
    assert!(!b.has("detected", |r| r["node"] == "broker-2"), "no incident inside the window: {:#?}", b.run.audit());
    // … and repairs it once the window is ended (on the only healer up), alone and saying so.
    cli(&b, &["maintenance", "end", "--node", "broker-2"]);
    b.run.wait_for("recovered", Duration::from_secs(60), |r| r["node"] == "broker-2");
    let started = b.run.events("attempt_started");
    let attempt = started.iter().find(|r| r["node"] == "broker-2").unwrap();
    assert_eq!(attempt["epoch"], epoch_b, "{attempt:#}");
    assert_eq!(attempt["guards"]["second_opinion"]["alone"], true, "{attempt:#}");
    assert_eq!(invocations(&log), [(epoch_b.to_string(), "broker-2".into(), "1".into())]);
    assert!(!a.has("attempt_started", |_| true), "the dead leader ran nothing");

    // 2. The old leader comes back as a follower; the second opinion is its.
    a.start();
    crate::support::wait_until("healer-a follows", Duration::from_secs(15), || {
        (a.status()?["ha"]["role"] == "follower").then_some(())
    });
    std::fs::write(&mode, "fail-first").unwrap();
    cluster.kill("broker-1").unwrap();
    b.run.wait_for("attempt_finished", Duration::from_secs(60), |r| r["node"] == "broker-1" && r["success"] == false);
    let first = b.run.events("attempt_started").into_iter().find(|r| r["node"] == "broker-1").unwrap();
    assert_eq!(first["guards"]["second_opinion"]["agree"], serde_json::json!(["healer-a"]), "{first:#}");
    // SIGSTOP of the leader during its backoff: healer-a takes over the incident.
    b.signal("-STOP");
    let stopped = Instant::now();
    let epoch_a2 = await_leader(&etcd, "healer-a", Duration::from_secs(LEASE_S + 2));
    eprintln!("failover after SIGSTOP of the leader: {:?}", stopped.elapsed());
    let handover = a.run.wait_for("handover", Duration::from_secs(10), |r| r["epoch"] == epoch_a2);
    let incident = first["incident_id"].clone();
    assert!(handover["incidents"].as_array().unwrap().contains(&incident), "{handover:#}");
    a.run.wait_for("recovered", Duration::from_secs(60), |r| r["node"] == "broker-1");
    // SIGCONT: the old leader's pending attempt 2 is refused, never run.
    b.signal("-CONT");
    b.run.wait_for("fenced", Duration::from_secs(20), |r| r["incident_id"] == incident);
    std::thread::sleep(Duration::from_secs(2));
    let broker1: Vec<_> = invocations(&log).into_iter().filter(|(_, n, _)| n == "broker-1").collect();
    assert_eq!(
        broker1,
        [(epoch_b.to_string(), "broker-1".into(), "1".into()), (epoch_a2.to_string(), "broker-1".into(), "2".into())],
        "attempt 1 by healer-b, attempt 2 by healer-a, nothing by healer-b after it was deposed"
    );
    assert!(!b.has("attempt_started", |r| r["node"] == "broker-1" && r["attempt"] == 2));
    crate::support::wait_until("healer-b follows again", Duration::from_secs(15), || {
        (b.status()?["ha"]["role"] == "follower").then_some(())
    });

    // 3. kill -9 of the leader in the middle of an attempt (the broker is
    // already back, the script still runs): closed as interrupted, not repeated.
    // Its notifications cannot be delivered meanwhile: the next leader delivers them.
    std::fs::write(&mode, "linger").unwrap();
    pager.down.store(true, std::sync::atomic::Ordering::SeqCst);
    cluster.kill("broker-3").unwrap();
    a.run.wait_for("attempt_started", Duration::from_secs(60), |r| r["node"] == "broker-3");
    crate::support::wait_until("broker-3 serves again", Duration::from_secs(60), || {
        kafka_testbed::api_versions(cluster.node("broker-3").unwrap().addr(), Duration::from_secs(1)).ok()
    });
    a.run.kill();
    let epoch_b2 = await_leader(&etcd, "healer-b", Duration::from_secs(LEASE_S + 1));
    let handover = b.run.wait_for("handover", Duration::from_secs(10), |r| r["epoch"] == epoch_b2);
    let interrupted = handover["interrupted_attempts"].as_array().unwrap();
    assert_eq!(interrupted, &[serde_json::json!("broker-3 attempt 1 (script)")], "{handover:#}");
    assert!(handover["notifications_taken_over"].as_u64() >= Some(1), "{handover:#}");
    pager.down.store(false, std::sync::atomic::Ordering::SeqCst);
    let broker3_incident =
        a.run.events("detected").into_iter().find(|r| r["node"] == "broker-3").unwrap()["incident_id"].clone();
    crate::support::wait_until(
        "healer-a's undelivered notification, delivered by healer-b",
        Duration::from_secs(20),
        || {
            pager
                .json()
                .iter()
                .any(|n| n["trigger"] == "on_failure_detected" && n["incident_id"] == broker3_incident)
                .then_some(())
        },
    );
    assert!(b.has("notification_delivered", |r| r["incident_id"] == broker3_incident), "delivered by healer-b");
    b.run.wait_for("recovered", Duration::from_secs(30), |r| r["node"] == "broker-3");
    let broker3: Vec<_> = invocations(&log).into_iter().filter(|(_, n, _)| n == "broker-3").collect();
    assert_eq!(broker3.len(), 1, "re-verified, not repeated: {broker3:?}");
    let incidents = b.run.incidents();
    let i = incidents.iter().find(|i| i["node"] == "broker-3" && i["state"] == "recovered").unwrap();
    assert!(i["attempts"][0]["result"].as_str().unwrap().starts_with("interrupted"), "{i:#}");

    // 4. A routine reload of the leader (SIGHUP, `ha` unchanged) keeps its
    // term (issue: it stood again, handing the cluster over for nothing), and
    // it goes on acting under the same token.
    let reloads = || {
        let log = std::fs::read_to_string(b.run.dir.join("application.log")).unwrap_or_default();
        log.lines().filter(|l| l.contains("Configuration reloaded.")).count()
    };
    let ended = |h: &Healer| h.run.events("leadership_lost").len() + h.run.events("leadership_released").len();
    let ended_before = ended(&b);
    b.signal("-HUP");
    crate::support::wait_until("healer-b reloaded", Duration::from_secs(20), || (reloads() == 1).then_some(()));
    assert_eq!(leader(&etcd), Some(("healer-b".to_string(), epoch_b2)), "the same term");
    assert_eq!(ended(&b), ended_before, "no term ended: {:#?}", b.run.audit());
    assert_eq!(b.run.events("handover").len(), 2, "nothing taken over again: its own term");
    std::fs::write(&mode, "plain").unwrap();
    let before: Vec<Value> = b
        .run
        .events("detected")
        .into_iter()
        .filter(|r| r["node"] == "broker-1")
        .map(|r| r["incident_id"].clone())
        .collect();
    cluster.kill("broker-1").unwrap();
    let opened = b.run.wait_for("detected", Duration::from_secs(20), |r| {
        r["node"] == "broker-1" && !before.contains(&r["incident_id"])
    });
    b.run.wait_for("recovered", Duration::from_secs(60), |r| r["incident_id"] == opened["incident_id"]);
    let last = b.run.events("attempt_started").into_iter().rev().find(|r| r["node"] == "broker-1").unwrap();
    assert_eq!(last["epoch"], epoch_b2, "acting after the reload under the same token: {last:#}");
    // A changed `ha` section is a new candidacy: leadership given back, then won again.
    let text = std::fs::read_to_string(&b.run.config).unwrap();
    let changed = text.replace(&format!("lease_seconds: {LEASE_S}"), &format!("lease_seconds: {}", LEASE_S + 1));
    assert_ne!(changed, text);
    std::fs::write(&b.run.config, changed).unwrap();
    b.signal("-HUP");
    crate::support::wait_until("healer-b reloaded again", Duration::from_secs(20), || (reloads() == 2).then_some(()));
    b.run.wait_for("leadership_released", Duration::from_secs(10), |_| true);
    let epoch_b3 = await_leader(&etcd, "healer-b", Duration::from_secs(LEASE_S + 5));
    assert!(epoch_b3 > epoch_b2, "a new term: {epoch_b2} then {epoch_b3}");
}

/// The backend failing: a leader cut off from etcd stops acting within its
/// lease before another leads; etcd's quorum lost, nobody acts and people
/// are told once; a healer that alone cannot reach a broker restarts
/// nothing; the dead man's switch stops only when both healers are down.
#[test]
fn without_the_backend_or_a_second_opinion_nothing_acts() {
    let _lock = cluster_lock();
    let mut cluster = Cluster::start(Spec { zookeepers: 1, brokers: 3, ..Spec::zookeeper() }).unwrap();
    let root = tempfile::tempdir().unwrap();
    let root = root.path();
    let mut etcd = EtcdCluster::start(3, &root.join("etcd")).unwrap();
    let (scripts, log, _mode) = restart_script(root, &cluster);
    let (_am, am_port) = alertmanager(root);
    let (pager, pings) = (Receiver::start(), Receiver::start());
    let more = format!(
        "notifications:\n  webhook: {{url: \"http://127.0.0.1:{}/hook\"}}\n\
         \x20 dead_mans_switch: {{alertmanager_url: \"http://127.0.0.1:{am_port}\", ping_url: \"http://127.0.0.1:{}/ping/secret-check-id\", interval_seconds: 1}}",
        pager.port, pings.port
    );
    let recovery = recovery_section(&scripts);
    // healer-a runs in a network namespace of its own: its paths to etcd and
    // to broker-2 are cut there, in the kernel, while healer-b's stay whole.
    let ha = format!("  endpoints: {}\n  confirm_from: 1", etcd.endpoints_yaml());
    let netns = Netns::create().unwrap();
    let mut a = Healer::configure("healer-a", &cluster, root, &recovery, &ha, &more);
    a.isolate(&netns);
    let etcd_ports = ports_named(&etcd.endpoints_yaml());
    let broker2 = cluster.node("broker-2").unwrap().port;
    let mut b = Healer::configure("healer-b", &cluster, root, &recovery, &ha, &more);
    a.start();
    await_leader(&etcd, "healer-a", Duration::from_secs(15));
    b.start();
    crate::support::wait_until("healer-b follows", Duration::from_secs(15), || {
        (b.status()?["ha"]["role"] == "follower").then_some(())
    });
    let watchdog = || {
        let alerts = http_get(am_port, "/api/v2/alerts?filter=alertname%3D%22KafkaSelfHealingWatchdog%22")?;
        let alerts: Value = serde_json::from_str(&alerts).ok()?;
        Some(alerts.as_array()?.iter().filter(|a| a["status"]["state"] == "active").count())
    };
    crate::support::wait_until("the watchdog alert fires", Duration::from_secs(15), || {
        (watchdog()? == 1).then_some(())
    });

    // 1. healer-a alone cannot reach broker-2; healer-b sees it serving: no restart.
    netns.cut(broker2, true).unwrap();
    a.run.wait_for("guard_refused", Duration::from_secs(30), |r| r["guard"] == "second_opinion");
    std::thread::sleep(Duration::from_secs(5));
    let refused = a.run.events("guard_refused");
    let why = refused.iter().find(|r| r["guard"] == "second_opinion").unwrap();
    assert!(why["reason"].as_str().unwrap().contains("healer-b see it serving"), "{why:#}");
    assert!(!a.has("attempt_started", |_| true) && !b.has("attempt_started", |_| true));
    netns.cut(broker2, false).unwrap();
    a.run.wait_for("recovered", Duration::from_secs(30), |r| r["node"] == "broker-2");
    assert!(invocations(&log).is_empty(), "nothing ran: {:?}", invocations(&log));

    // 2. healer-a cut off from etcd: it stops acting within its lease, before healer-b leads.
    for &port in &etcd_ports {
        netns.cut(port, true).unwrap();
    }
    let lost = a.run.wait_for("leadership_lost", Duration::from_secs(LEASE_S + 2), |_| true);
    let won = b.run.wait_for("leadership_acquired", Duration::from_secs(LEASE_S + 5), |_| true);
    assert!(lost["ts"].as_str() < won["ts"].as_str(), "no overlap: healer-a stopped {lost} before healer-b led {won}");
    cluster.kill("broker-3").unwrap();
    b.run.wait_for("recovered", Duration::from_secs(60), |r| r["node"] == "broker-3");
    assert!(!a.has("attempt_started", |_| true), "the cut-off healer ran nothing");
    for &port in &etcd_ports {
        netns.cut(port, false).unwrap();
    }

    // 3. etcd's quorum lost: nobody acts, people are told once.
    etcd.kill(1);
    etcd.kill(2);
    b.run.wait_for("leadership_lost", Duration::from_secs(LEASE_S + 2), |_| true);
    cluster.kill("broker-1").unwrap();
    std::thread::sleep(Duration::from_secs(12));
    assert!(!a.has("attempt_started", |r| r["node"] == "broker-1"));
    assert!(!b.has("attempt_started", |r| r["node"] == "broker-1"));
    let told: Vec<Value> = pager
        .json()
        .into_iter()
        .filter(|n| n.to_string().contains("healer healer-b led last and cannot reach the coordination backend"))
        .collect();
    assert_eq!(told.len(), 1, "one message for both healers: {told:#?}");
    let others: Vec<Value> =
        pager.json().into_iter().filter(|n| n.to_string().contains("healer healer-a led last")).collect();
    assert!(others.len() <= 1, "healer-a, cut off alone in step 2, said so at most once: {others:#?}");
    // The quorum back: a leader repairs broker-1.
    etcd.restart(1).unwrap();
    etcd.restart(2).unwrap();
    let repaired = |h: &Healer| h.has("recovered", |r| r["node"] == "broker-1");
    crate::support::wait_until("broker-1 repaired once etcd is back", Duration::from_secs(90), || {
        (repaired(&a) || repaired(&b)).then_some(())
    });

    // 4. The dead man's switch: still firing with one healer, gone with none.
    a.run.kill();
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(watchdog(), Some(1), "one healer still runs");
    b.run.kill();
    let pinged = pings.accepted().len();
    assert!(pinged > 10, "both healers pinged every second: {pinged}");
    assert!(pings.accepted().iter().all(|r| r.path == "/ping/secret-check-id"));
    crate::support::wait_until("the watchdog alert ends", Duration::from_secs(15), || (watchdog()? == 0).then_some(()));
    assert_eq!(pings.accepted().len(), pinged, "no healer runs, no ping");
    // The ping URL is a secret: in no log.
    for h in [&a, &b] {
        let log = std::fs::read_to_string(h.run.dir.join("application.log")).unwrap_or_default();
        assert!(!log.contains("secret-check-id"), "{} logged the ping URL", h.name);
    }
}

/// Who leads, as the healers themselves say: the one whose status says
/// `leader`, and its token.
fn leading(healers: &[&Healer]) -> Option<(&'static str, i64)> {
    healers.iter().find_map(|h| {
        let s = h.status()?;
        (s["ha"]["role"] == "leader").then(|| (h.name, s["ha"]["epoch"].as_i64().unwrap_or_default()))
    })
}

/// Waits until `name` says it leads; its token.
fn await_leading(healers: &[&Healer], name: &str, limit: Duration) -> i64 {
    let started = Instant::now();
    loop {
        if let Some((l, epoch)) = leading(healers)
            && l == name
        {
            return epoch;
        }
        assert!(started.elapsed() < limit, "{name} does not lead within {limit:?}; leader: {:?}", leading(healers));
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The `n`th (from 0) `event` of `h`, once it is there.
fn await_nth(h: &Healer, event: &str, n: usize, limit: Duration) -> Value {
    let started = Instant::now();
    loop {
        if let Some(record) = h.run.events(event).into_iter().nth(n) {
            return record;
        }
        assert!(started.elapsed() < limit, "{} has no new `{event}` within {limit:?}", h.name);
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The ZooKeeper backend, on a real 3-node ensemble of its own (under a
/// chroot, with `digest` credentials): a killed leader is replaced within
/// its session, a stopped one is fenced when it wakes, the incident handed
/// over; a leader cut off from the ensemble (in its network namespace)
/// stops before another leads; the ensemble's quorum lost, nobody acts,
/// people are told once, and the repair follows once it is back; the dead
/// man's switch stops with the last healer.
#[test]
fn on_zookeeper_one_acts_a_stopped_leader_is_fenced_and_a_lost_quorum_stops_everyone() {
    let _lock = cluster_lock();
    let mut cluster = Cluster::start(Spec { zookeepers: 1, brokers: 3, ..Spec::zookeeper() }).unwrap();
    // The ensemble serves its clients over TLS too (secureClientPort, client
    // certificates required): the healers use that port only.
    let mut ensemble = Cluster::start(Spec { zookeepers: 3, brokers: 0, secure: true, ..Spec::zookeeper() }).unwrap();
    let root = tempfile::tempdir().unwrap();
    let root = root.path();
    let (scripts, log, mode) = restart_script(root, &cluster);
    let hosts: Vec<String> = ensemble.zookeepers().map(|z| format!("127.0.0.1:{}", z.port)).collect();
    let secure: Vec<String> =
        ensemble.zookeepers().map(|z| format!("127.0.0.1:{}", z.secure_port.expect("a TLS port"))).collect();
    let tls = ensemble.tls().expect("the bed's certificates");
    let ha = format!(
        "  backend: zookeeper\n  connect: {}/ksh-ha\n  username: healer\n  password_env: KSH_TEST_ZK_PASSWORD\n  confirm_from: 1\n\
         \x20 tls: {{ca_file: {}, cert_file: {}, key_file: {}}}",
        secure.join(","),
        tls.ca_pem.display(),
        tls.client_cert_pem.display(),
        tls.client_key_pem.display()
    );
    let recovery = recovery_section(&scripts);
    let (pager, pings) = (Receiver::start(), Receiver::start());
    let more = format!(
        "notifications:\n  webhook: {{url: \"http://127.0.0.1:{}/hook\"}}\n\
         \x20 dead_mans_switch: {{ping_url: \"http://127.0.0.1:{}/ping\", interval_seconds: 1}}",
        pager.port, pings.port
    );
    // healer-a in a network namespace of its own: its path to the ensemble is cut there.
    let netns = Netns::create().unwrap();
    let mut a = Healer::configure("healer-a", &cluster, root, &recovery, &ha, &more);
    a.isolate(&netns);
    let mut b = Healer::configure("healer-b", &cluster, root, &recovery, &ha, &more);
    for h in [&mut a, &mut b] {
        h.run.env.push(("KSH_TEST_ZK_PASSWORD".into(), "zk-secret-word".into()));
    }
    a.start();
    let epoch_a = await_leading(&[&a, &b], "healer-a", Duration::from_secs(15));
    b.start();
    crate::support::wait_until("healer-b follows healer-a", Duration::from_secs(15), || {
        let s = b.status()?;
        (s["ha"]["role"] == "follower" && s["ha"]["leader"] == "healer-a" && s["ha"]["epoch"] == epoch_a).then_some(())
    });
    // The nodes are the healers' only (digest), under the chroot: a client
    // without the credentials cannot read the journal.
    let denied = ensemble
        .run_tool(
            "org.apache.zookeeper.ZooKeeperMain",
            &["-server", &hosts[0], "ls", "/ksh-ha/kafka-self-healing/test-bed/intents"],
        )
        .unwrap_err()
        .to_string();
    assert!(denied.contains("Insufficient permission : /ksh-ha/kafka-self-healing/test-bed/intents"), "{denied}");

    // The operator's controls live in the ensemble: a pause given to the
    // follower holds on the leader, a resume given to the leader lifts it.
    let paused = |h: &Healer| h.status().is_some_and(|s| s["daemon"]["paused_until"].is_string());
    let cli = |h: &Healer, args: &[&str]| {
        let mut cmd = crate::support::bin();
        cmd.args(args).arg("--config").arg(&h.run.config).env("KSH_TEST_ZK_PASSWORD", "zk-secret-word");
        let out = crate::support::run(&mut cmd);
        assert!(out.status.success(), "{args:?}: {}", crate::support::stderr(&out));
    };
    cli(&b, &["pause", "--for", "1h"]);
    crate::support::wait_until("the follower's pause holds on the leader", Duration::from_secs(10), || paused(&a));
    cli(&a, &["resume"]);
    crate::support::wait_until("the leader's resume lifts it on the follower", Duration::from_secs(10), || !paused(&b));

    // 1. kill -9 of the idle leader: the follower leads once the session expires.
    a.run.kill();
    let killed = Instant::now();
    let epoch_b = await_leading(&[&b], "healer-b", Duration::from_secs(LEASE_S + 2));
    eprintln!("failover after kill -9 of the leader (ZooKeeper): {:?}", killed.elapsed());
    assert!(epoch_b > epoch_a, "the token (the lock node's czxid) grows: {epoch_a} then {epoch_b}");
    cluster.kill("broker-2").unwrap();
    b.run.wait_for("recovered", Duration::from_secs(60), |r| r["node"] == "broker-2");
    let attempt = b.run.events("attempt_started").into_iter().find(|r| r["node"] == "broker-2").unwrap();
    assert_eq!(
        (attempt["epoch"].as_i64(), &attempt["guards"]["second_opinion"]["alone"]),
        (Some(epoch_b), &Value::Bool(true)),
        "{attempt:#}"
    );
    assert_eq!(invocations(&log), [(epoch_b.to_string(), "broker-2".into(), "1".into())]);

    // 2. SIGSTOP of the leader during its backoff: healer-a takes the incident over;
    // after SIGCONT the old leader's pending attempt is refused.
    a.start();
    crate::support::wait_until("healer-a follows", Duration::from_secs(15), || {
        (a.status()?["ha"]["role"] == "follower").then_some(())
    });
    std::fs::write(&mode, "fail-first").unwrap();
    cluster.kill("broker-1").unwrap();
    b.run.wait_for("attempt_finished", Duration::from_secs(60), |r| r["node"] == "broker-1" && r["success"] == false);
    let first = b.run.events("attempt_started").into_iter().find(|r| r["node"] == "broker-1").unwrap();
    assert_eq!(first["guards"]["second_opinion"]["agree"], serde_json::json!(["healer-a"]), "{first:#}");
    b.signal("-STOP");
    let epoch_a2 = await_leading(&[&a], "healer-a", Duration::from_secs(LEASE_S + 3));
    let handover = a.run.wait_for("handover", Duration::from_secs(10), |r| r["epoch"] == epoch_a2);
    let incident = first["incident_id"].clone();
    assert!(handover["incidents"].as_array().unwrap().contains(&incident), "{handover:#}");
    a.run.wait_for("recovered", Duration::from_secs(60), |r| r["node"] == "broker-1");
    b.signal("-CONT");
    b.run.wait_for("fenced", Duration::from_secs(20), |r| r["incident_id"] == incident);
    std::thread::sleep(Duration::from_secs(2));
    let broker1: Vec<_> = invocations(&log).into_iter().filter(|(_, n, _)| n == "broker-1").collect();
    assert_eq!(
        broker1,
        [(epoch_b.to_string(), "broker-1".into(), "1".into()), (epoch_a2.to_string(), "broker-1".into(), "2".into())],
        "attempt 1 by healer-b, attempt 2 by healer-a, nothing by healer-b after it was deposed"
    );
    crate::support::wait_until("healer-b follows again", Duration::from_secs(20), || {
        (b.status()?["ha"]["role"] == "follower").then_some(())
    });
    std::fs::write(&mode, "plain").unwrap();

    // 3. The leader cut off from the ensemble (SUSPENDED): it stops acting at
    // once, before healer-b leads on the expired session (LOST); it follows once back.
    let ensemble_ports: Vec<u16> = ensemble.zookeepers().filter_map(|z| z.secure_port).collect();
    let (lost_before, won_before) = (a.run.events("leadership_lost").len(), b.run.events("leadership_acquired").len());
    for &port in &ensemble_ports {
        netns.cut(port, true).unwrap();
    }
    let lost = await_nth(&a, "leadership_lost", lost_before, Duration::from_secs(LEASE_S + 2));
    let won = await_nth(&b, "leadership_acquired", won_before, Duration::from_secs(LEASE_S + 5));
    assert!(lost["ts"].as_str() < won["ts"].as_str(), "no overlap: healer-a stopped {lost} before healer-b led {won}");
    for &port in &ensemble_ports {
        netns.cut(port, false).unwrap();
    }
    crate::support::wait_until("healer-a follows healer-b", Duration::from_secs(20), || {
        let s = a.status()?;
        (s["ha"]["role"] == "follower" && s["ha"]["leader"] == "healer-b").then_some(())
    });

    // 4. The ensemble's quorum lost: the leader stops at once, nobody acts, one message.
    let lost_before = b.run.events("leadership_lost").len();
    ensemble.kill("zk-2").unwrap();
    ensemble.kill("zk-3").unwrap();
    await_nth(&b, "leadership_lost", lost_before, Duration::from_secs(LEASE_S + 2));
    cluster.kill("broker-3").unwrap();
    std::thread::sleep(Duration::from_secs(12));
    assert!(!a.has("attempt_started", |r| r["node"] == "broker-3"));
    assert!(!b.has("attempt_started", |r| r["node"] == "broker-3"));
    let told = |who: &str| -> Vec<Value> {
        let text = format!("healer {who} led last and cannot reach the coordination backend (ZooKeeper");
        pager.json().into_iter().filter(|n| n.to_string().contains(&text)).collect()
    };
    assert_eq!(told("healer-b").len(), 1, "one message for both healers: {:#?}", told("healer-b"));
    assert!(told("healer-a").len() <= 1, "healer-a, cut off alone in step 3, said so at most once");
    ensemble.start_node("zk-2").unwrap();
    ensemble.start_node("zk-3").unwrap();
    let repaired = |h: &Healer| h.has("recovered", |r| r["node"] == "broker-3");
    crate::support::wait_until("broker-3 repaired once the quorum is back", Duration::from_secs(90), || {
        (repaired(&a) || repaired(&b)).then_some(())
    });

    // 5. The dead man's switch, on this backend too: pings while a healer runs, none after.
    a.run.kill();
    b.run.kill();
    let pinged = pings.accepted().len();
    assert!(pinged > 10, "both healers pinged every second: {pinged}");
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(pings.accepted().len(), pinged, "no healer runs, no ping");
    // The password is in no log.
    for h in [&a, &b] {
        for file in ["application.log", "audit.log", "stderr.log"] {
            let text = std::fs::read_to_string(h.run.dir.join(file)).unwrap_or_default();
            assert!(!text.contains("zk-secret-word"), "{} wrote the ZooKeeper password in {file}", h.name);
        }
    }
}
