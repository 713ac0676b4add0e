//! Healed means the cluster is whole again, on real clusters of both kinds:
//! an incident closes once the restarted broker is back in every ISR, its
//! partitions are led by it again within seconds (not Kafka's 300 s
//! rebalance), a running broker is not restarted while partitions are short
//! of another replica (a broker still catching up included), a hung broker is
//! failed about one time limit after it stopped, and a pause shorter than the
//! time limit never opens an incident.

use std::time::{Duration, Instant};

use kafka_testbed::impact::{Clients, create_topic};
use kafka_testbed::{Cluster, Spec};
use serde_json::Value;

use crate::support::{Run, for_node, script, start_command, wait_until};
use crate::support::{TESTBED, bin, cluster_lock, kcat, run};

/// One partition as a real client (kcat) sees it.
#[derive(Debug)]
struct Partition {
    id: i32,
    leader: i32,
    replicas: Vec<i32>,
    isr: Vec<i32>,
}

fn partitions(cluster: &Cluster, topic: &str) -> Vec<Partition> {
    let (ok, text) = kcat(&["-L", "-b", &cluster.bootstrap_servers(), "-t", topic, "-m", "5"], None);
    assert!(ok, "kcat -L: {text}");
    let ids = |s: &str| -> Vec<i32> { s.split(',').filter_map(|x| x.trim().parse().ok()).collect() };
    text.lines()
        .filter_map(|l| {
            // `    partition 0, leader 2, replicas: 2,3,1, isrs: 2,3,1`
            let l = l.trim().strip_prefix("partition ")?;
            let (id, rest) = l.split_once(", leader ")?;
            let (leader, rest) = rest.split_once(", replicas: ")?;
            let (replicas, isr) = rest.split_once(", isrs: ")?;
            Some(Partition {
                id: id.parse().ok()?,
                leader: leader.parse().ok()?,
                replicas: ids(replicas),
                isr: ids(isr.split_whitespace().next().unwrap_or("")),
            })
        })
        .collect()
}

/// Every partition of `topic` is led by its preferred replica.
fn balanced(cluster: &Cluster, topic: &str) -> bool {
    let parts = partitions(cluster, topic);
    !parts.is_empty() && parts.iter().all(|p| p.replicas.first() == Some(&p.leader))
}

/// The events of `node`'s audit trail in order, without the waits and the
/// (timing-dependent) catching-up record.
fn trail(audit: &[Value], node: &str) -> Vec<String> {
    let skipped =
        ["awaiting_registration_expiry", "registration_expired", "catching_up", "guard_refused", "guard_released"];
    for_node(audit, node)
        .iter()
        .map(|r| r["event"].as_str().unwrap().to_string())
        .filter(|e| !skipped.contains(&e.as_str()))
        .collect()
}

/// What an incident that ended whole looks like in the audit trail and the store.
fn assert_whole(daemon: &Run, node: &str, preferred: &[String]) {
    let audit = daemon.audit();
    let mut expected = vec!["detected", "attempt_started", "attempt_finished", "serving", "in_sync"];
    if !preferred.is_empty() {
        expected.push("leadership_restored");
    }
    expected.push("recovered");
    assert_eq!(trail(&audit, node), expected, "{audit:#?}");
    let recovered = for_node(&audit, node).into_iter().rfind(|r| r["event"] == "recovered").unwrap().clone();
    let (serve, sync) = (recovered["serve_s"].as_f64().unwrap(), recovered["in_sync_s"].as_f64().unwrap());
    assert!(0.0 < serve && serve <= sync, "serving after {serve} s, in sync after {sync} s");
    if !preferred.is_empty() {
        let moved = for_node(&audit, node).into_iter().find(|r| r["event"] == "leadership_restored").unwrap().clone();
        // Moved by our election — or already moved by Kafka's own rebalance,
        // which a new controller runs 5 s after it takes over.
        let led: Vec<String> = ["moved", "not_needed"]
            .iter()
            .flat_map(|k| moved[*k].as_array().unwrap().iter().map(|m| m.as_str().unwrap().to_string()))
            .collect();
        for p in preferred {
            assert!(led.contains(p), "{p} led by {node} again: {moved:#}");
        }
        assert_eq!(moved["failed"], serde_json::json!([]), "{moved:#}");
    }
    let incidents = daemon.incidents();
    let i = incidents.iter().find(|i| i["node"] == node && i["state"] == "recovered").expect("a recovered incident");
    assert_eq!(i["phase"], "recovered");
    assert!(i["served_at"].as_i64().unwrap() <= i["in_sync_at"].as_i64().unwrap(), "{i:#}");
    assert!(i["outcome"].as_str().unwrap().contains("in sync (ISR) after"), "{i:#}");
}

/// Kafka's own `kafka-configs --alter` with `args`, through broker-2 (the one
/// the ZooKeeper test never breaks: a hung broker in the bootstrap list can
/// take the admin client's request).
fn configs(cluster: &Cluster, args: &[&str]) {
    let boot = cluster.node("broker-2").unwrap().addr().to_string();
    let mut all = vec!["--bootstrap-server", boot.as_str(), "--alter"];
    all.extend_from_slice(args);
    cluster.run_tool("kafka.admin.ConfigCommand", &all).unwrap();
}

/// `topic-partition` of the partitions broker `id` is the preferred leader of.
fn preferred_by(cluster: &Cluster, topic: &str, id: i32) -> Vec<String> {
    partitions(cluster, topic)
        .iter()
        .filter(|p| p.replicas.first() == Some(&id))
        .map(|p| format!("{topic}-{}", p.id))
        .collect()
}

/// ZooKeeper mode at Kafka's own session timeout (18 s): a killed broker is
/// started once its old registration is gone — one attempt — and the incident
/// closes only once it is back in every ISR and leads its partitions again; a
/// broker that cannot catch up is degraded, and holds back the restart of a
/// hung one until it has.
#[test]
fn zookeeper_a_crash_at_kafkas_default_session_takes_one_attempt_and_ends_in_sync_and_leading() {
    let _lock = cluster_lock();
    let spec = Spec { zookeepers: 1, brokers: 3, kafka_defaults: true, ..Spec::zookeeper() };
    let mut cluster = Cluster::start(spec).unwrap();
    cluster.create_topic("whole", 3, 3).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let bed = cluster.dir().display().to_string();
    // An operator's restart: whatever is left of the process goes first.
    let scripts = script(
        dir.path(),
        &format!("{TESTBED} kill \"$KAFKA_NODE_ID\" --dir {bed} 2>/dev/null\n{}", start_command(&cluster)),
    );
    let pager = crate::notify::Receiver::start();
    let recovery = format!(
        "  actions: [script]\n  isr_catch_up_timeout_seconds: 10\n  script: {{script_directory: {}}}\n\
         notifications:\n  webhook: {{url: \"http://127.0.0.1:{}/hook\"}}",
        scripts.display(),
        pager.port
    );
    let daemon = Run::start(&cluster, dir.path(), &recovery, &[]);
    wait_until("leaders balanced", Duration::from_secs(30), || balanced(&cluster, "whole"));
    let preferred = preferred_by(&cluster, "whole", 2);
    assert!(!preferred.is_empty(), "broker 2 is the preferred leader of a partition");
    // Kafka's own verifiable clients write and read throughout (acks=all, min ISR 2).
    create_topic(&cluster, "verified", 3).unwrap();
    let clients = Clients::start(&cluster, "verified", 100).unwrap();
    wait_until("the producer's first acknowledgements", Duration::from_secs(60), || clients.acked() > 100);

    cluster.kill("broker-2").unwrap();
    daemon.wait_for("recovered", Duration::from_secs(120), |r| r["node"] == "broker-2");
    let seen = clients.stop(Duration::from_secs(30));
    assert!(seen.acked.len() > 1000, "the producer kept writing: {} acknowledged", seen.acked.len());
    assert_eq!(seen.lost(), 0, "acknowledged messages were lost");
    // Led by their preferred replicas at once — not after leader.imbalance.check.interval.seconds (300).
    wait_until("leaders balanced", Duration::from_secs(5), || balanced(&cluster, "whole"));
    assert_whole(&daemon, "broker-2", &preferred);
    let audit = daemon.audit();
    let expired = for_node(&audit, "broker-2").into_iter().find(|r| r["event"] == "registration_expired").cloned();
    let expired = expired.expect("the restart waited for the old registration");
    assert_eq!(expired["gone"], true, "{expired:#}");
    assert!(expired["waited_s"].as_f64().unwrap() > 5.0, "Kafka's 18 s session, not the bed's 6 s: {expired:#}");
    assert_eq!(daemon.incidents()[0]["attempts"].as_array().unwrap().len(), 1, "one attempt per crash");

    // A broker that cannot catch up: replication to out-of-sync replicas is
    // throttled to 1 KiB/s and 4 MB arrive while it is down. It serves again,
    // is degraded once its 10 s are up (people told, the incident open), and
    // recovered once the throttle is lifted.
    cluster.create_topic("slow", 1, 3).unwrap();
    let rates = "leader.replication.throttled.rate=1024,follower.replication.throttled.rate=1024";
    configs(&cluster, &["--entity-type", "brokers", "--entity-default", "--add-config", rates]);
    let replicas = "leader.replication.throttled.replicas=*,follower.replication.throttled.replicas=*";
    configs(&cluster, &["--entity-type", "topics", "--entity-name", "slow", "--add-config", replicas]);
    cluster.kill("broker-3").unwrap();
    let line = "x".repeat(1000);
    let data: String = (0..4000).map(|i| format!("{i}{line}\n")).collect();
    let (ok, out) = kcat(&["-P", "-b", &cluster.bootstrap_servers(), "-t", "slow", "-X", "acks=all"], Some(&data));
    assert!(ok, "{out}");
    let late = daemon.wait_for("catch_up_timed_out", Duration::from_secs(120), |r| r["node"] == "broker-3");
    assert!(late["behind"].as_array().unwrap().iter().any(|p| p == "slow-0"), "{late:#}");
    let open = daemon.incidents().into_iter().find(|i| i["node"] == "broker-3").unwrap();
    assert_eq!((open["state"].as_str(), open["phase"].as_str()), (Some("open"), Some("degraded")), "{open:#}");
    assert!(open["serve_s"].as_f64().is_some() && open["in_sync_s"].is_null(), "{open:#}");
    wait_until("the catch-up timeout's notification", Duration::from_secs(20), || {
        pager.json().iter().any(|n| n["trigger"] == "on_catch_up_timeout" && n["node"] == "broker-3")
    });
    let page = pager.json().into_iter().find(|n| n["trigger"] == "on_catch_up_timeout").unwrap();
    assert!(page["body"].as_str().unwrap().contains("slow-0"), "the partitions are named: {page:#}");
    assert!(daemon.events("recovered").iter().all(|r| r["node"] != "broker-3"), "not recovered while behind");
    // The gate counts a broker still catching up: a hung broker-1 is not
    // restarted while slow-0 is short of broker-3.
    cluster.pause("broker-1").unwrap();
    let held = daemon.wait_for("guard_refused", Duration::from_secs(90), |r| {
        r["node"] == "broker-1" && r["guard"] == "under_replicated"
    });
    assert!(held["reason"].as_str().unwrap().contains("slow-0"), "{held:#}");
    assert!(daemon.events("attempt_started").iter().all(|r| r["node"] != "broker-1"), "restarted while short");
    configs(
        &cluster,
        &["--entity-type", "brokers", "--entity-default", "--delete-config", rates.replace("=1024", "").as_str()],
    );
    let recovered = daemon.wait_for("recovered", Duration::from_secs(120), |r| r["node"] == "broker-3");
    assert!(recovered["in_sync_s"].as_f64().unwrap() > recovered["serve_s"].as_f64().unwrap() + 10.0, "{recovered:#}");
    // Once broker-3 is whole, broker-1's turn.
    let started = daemon.wait_for("attempt_started", Duration::from_secs(60), |r| r["node"] == "broker-1");
    assert_eq!(started["guards"]["partitions_short_elsewhere"], serde_json::json!([]), "{started:#}");
    daemon.wait_for("recovered", Duration::from_secs(120), |r| r["node"] == "broker-1");
}

/// KRaft (dedicated controllers, Kafka's default `broker.session.timeout.ms`):
/// a 4 s pause never opens an incident; a hang is failed well within two
/// time limits and repaired to a whole, balanced broker; and a hung broker is
/// not restarted while another broker's partitions are short — until that
/// one, dead and so restarted at once, has caught up.
#[test]
fn kraft_pauses_hangs_and_the_running_broker_gate() {
    let _lock = cluster_lock();
    let mut cluster = Cluster::start(Spec::kraft_separate()).unwrap();
    cluster.create_topic("whole", 3, 3).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let bed = cluster.dir().display().to_string();
    // An operator's restart: whatever is left of the process goes first.
    let scripts = script(
        dir.path(),
        &format!("{TESTBED} kill \"$KAFKA_NODE_ID\" --dir {bed} 2>/dev/null\n{}", start_command(&cluster)),
    );
    let recovery =
        format!("  actions: [script]\n  cooldown_seconds: 1\n  script: {{script_directory: {}}}", scripts.display());
    // A long interval: whatever is caught quickly was caught by the held connection.
    let mut daemon = Run::config_with(&cluster, dir.path(), "  interval_seconds: 30\n  timeout_seconds: 6", &recovery);
    daemon.spawn(&[]);
    wait_until("leaders balanced", Duration::from_secs(30), || balanced(&cluster, "whole"));
    create_topic(&cluster, "verified", 3).unwrap();
    let clients = Clients::start(&cluster, "verified", 100).unwrap();
    wait_until("the producer's first acknowledgements", Duration::from_secs(60), || clients.acked() > 100);

    // A pause shorter than the time limit (a long GC pause): no incident.
    cluster.pause("broker-1").unwrap();
    std::thread::sleep(Duration::from_secs(4));
    cluster.resume("broker-1").unwrap();
    std::thread::sleep(Duration::from_secs(8));
    assert!(daemon.events("detected").is_empty(), "a 4 s pause opened an incident: {:#?}", daemon.audit());
    let log = std::fs::read_to_string(dir.path().join("application.log")).unwrap();
    assert!(!log.contains("Node status: broker-1 suspect -> failed"), "broker-1 was failed by a 4 s pause");

    // A hang: failed about one time limit after it stopped (the late heartbeat
    // starts the confirmation), not two; restarted once the cluster agrees.
    let preferred = preferred_by(&cluster, "whole", 2);
    let paused = Instant::now();
    cluster.pause("broker-2").unwrap();
    daemon.wait_for("detected", Duration::from_secs(30), |r| r["node"] == "broker-2");
    let took = paused.elapsed();
    assert!(took < Duration::from_secs(11), "a hang took {took:?} to detect with a 6 s time limit");
    daemon.wait_for("recovered", Duration::from_secs(120), |r| r["node"] == "broker-2");
    wait_until("leaders balanced", Duration::from_secs(5), || balanced(&cluster, "whole"));
    assert_whole(&daemon, "broker-2", &preferred);

    // The gate: broker-3 down in maintenance, so every partition is short of it.
    let maintenance = |args: &[&str]| {
        let out = run(bin().arg("maintenance").args(args).arg("--config").arg(&daemon.config));
        assert!(out.status.success(), "{}", crate::support::stderr(&out));
    };
    maintenance(&["start", "--node", "broker-3", "--for", "10m"]);
    cluster.kill("broker-3").unwrap();
    wait_until("broker-3 out of every ISR", Duration::from_secs(40), || {
        partitions(&cluster, "whole").iter().all(|p| !p.isr.contains(&3))
    });
    // A hung, still running broker-1 is held back…
    cluster.pause("broker-1").unwrap();
    let held = daemon.wait_for("guard_refused", Duration::from_secs(60), |r| {
        r["node"] == "broker-1" && r["guard"] == "under_replicated"
    });
    assert!(held["reason"].as_str().unwrap().contains("whole-"), "the partitions are named: {held:#}");
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        !daemon.events("attempt_started").iter().any(|r| r["node"] == "broker-1"),
        "a running broker was restarted while partitions were short"
    );
    // …a dead one is not: when its window ends, broker-3 is restarted at once,
    // catches up, and only then is broker-1's turn.
    maintenance(&["end", "--node", "broker-3"]);
    let restarted = daemon.wait_for("attempt_started", Duration::from_secs(60), |r| r["node"] == "broker-3");
    assert_eq!(restarted["guards"]["node_running"], false, "{restarted:#}");
    daemon.wait_for("in_sync", Duration::from_secs(120), |r| r["node"] == "broker-3");
    let started = daemon.wait_for("attempt_started", Duration::from_secs(60), |r| r["node"] == "broker-1");
    assert!(started["ts"].as_str().unwrap() > restarted["ts"].as_str().unwrap(), "{restarted:#}\n{started:#}");
    // It went only once nothing but its own absence kept partitions short.
    assert_eq!(started["guards"]["partitions_short_elsewhere"], serde_json::json!([]), "{started:#}");
    daemon.wait_for("recovered", Duration::from_secs(120), |r| r["node"] == "broker-1");
    daemon.wait_for("recovered", Duration::from_secs(10), |r| r["node"] == "broker-3");
    wait_until("every ISR whole and leaders balanced", Duration::from_secs(30), || {
        partitions(&cluster, "whole").iter().all(|p| p.isr.len() == 3) && balanced(&cluster, "whole")
    });
    // Through pauses, a hang and two repairs, nothing acknowledged was lost.
    let seen = clients.stop(Duration::from_secs(30));
    assert!(seen.acked.len() > 1000, "the producer kept writing: {} acknowledged", seen.acked.len());
    assert_eq!(seen.lost(), 0, "acknowledged messages were lost");
}
