//! The recovery engine against real clusters: a killed node is restarted by
//! the operator's tool (a script, Ansible, SSH), attempts back off and
//! escalate, guards hold actions back, and a daemon killed mid-attempt
//! resumes without repeating anything. Every run is checked in the audit
//! trail and the state store (`incidents --output json`).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kafka_testbed::netns::Netns;
use kafka_testbed::{Cluster, Spec};
use serde_json::Value;

use crate::support::{
    Run, bin, cluster_lock, for_node, fully_in_sync, produce_and_consume, run, script, start_command, stderr, tail,
    wait_until, write_temp,
};

use crate::support::TESTBED;

/// Removes `broker_id` from the brokers of the configuration at `path` (the
/// controllers keep theirs): the daemon must learn them from the metadata.
fn without_broker_ids(path: &Path) {
    let text = std::fs::read_to_string(path).unwrap();
    let mut in_brokers = false;
    let lines: Vec<String> = text
        .lines()
        .map(|l| {
            if !l.starts_with("    ") {
                in_brokers = l.trim() == "kafka_brokers:";
            }
            match (in_brokers, l.find(", broker_id: ")) {
                (true, Some(i)) => format!("{}}}", &l[..i]),
                _ => l.to_string(),
            }
        })
        .collect();
    let stripped = lines.join("\n") + "\n";
    assert!(stripped.contains("kafka_brokers:") && !stripped.contains(&text), "{stripped}");
    std::fs::write(path, stripped).unwrap();
}

/// Attempt time spans `(started_at, finished_at)` in epoch millis, of every incident.
fn spans(incidents: &[Value]) -> Vec<(String, i64, i64)> {
    incidents
        .iter()
        .flat_map(|i| {
            i["attempts"].as_array().unwrap().iter().map(move |a| {
                (
                    i["node"].as_str().unwrap().to_string(),
                    a["started_at"].as_i64().unwrap(),
                    a["finished_at"].as_i64().unwrap_or(i64::MAX),
                )
            })
        })
        .collect()
}

fn assert_no_overlap(spans: &[(String, i64, i64)]) {
    for (i, a) in spans.iter().enumerate() {
        for b in &spans[i + 1..] {
            assert!(a.2 <= b.1 || b.2 <= a.1, "attempts ran at the same time: {a:?} and {b:?}");
        }
    }
}

#[test]
fn killed_brokers_are_restarted_one_at_a_time_and_the_cluster_serves_again() {
    let _lock = cluster_lock();
    let mut cluster = Cluster::start(Spec { zookeepers: 1, brokers: 3, ..Spec::zookeeper() }).unwrap();
    cluster.create_topic("recovery", 3, 3).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let scripts = script(dir.path(), &start_command(&cluster));
    let recovery = format!(
        "  actions: [script]\n  initial_delay_seconds: 1\n  max_failed_fraction: 0.6\n  script: {{script_directory: {}}}",
        scripts.display()
    );
    let daemon = Run::start(&cluster, dir.path(), &recovery, &[]);
    daemon.wait_for("daemon_started", Duration::from_secs(5), |_| true);
    std::thread::sleep(Duration::from_secs(3));

    // One broker: detected → attempt → recovered, with the downtime.
    cluster.kill("broker-2").unwrap();
    let recovered = daemon.wait_for("recovered", Duration::from_secs(90), |r| r["node"] == "broker-2");
    let audit = daemon.audit();
    // The restart waits for the killed broker's ZooKeeper session to expire
    // (Kafka refuses to start while /brokers/ids/2 exists), then runs once.
    let waits = ["awaiting_registration_expiry", "registration_expired", "catching_up"];
    let trail: Vec<&str> = for_node(&audit, "broker-2")
        .iter()
        .map(|r| r["event"].as_str().unwrap())
        .filter(|e| !waits.contains(e))
        .collect();
    let whole = ["serving", "in_sync", "leadership_restored"];
    let trail: Vec<&str> = trail.into_iter().filter(|e| !whole.contains(e)).collect();
    assert_eq!(trail, ["detected", "attempt_started", "attempt_finished", "recovered"], "{audit:#?}");
    for w in for_node(&audit, "broker-2").iter().filter(|r| r["event"] == "registration_expired") {
        assert_eq!(w["gone"], true, "{w:#}");
    }
    let records: Vec<&Value> =
        for_node(&audit, "broker-2").into_iter().filter(|r| !waits.contains(&r["event"].as_str().unwrap())).collect();
    assert_eq!(records[0]["cause"], "connection_refused");
    assert_eq!(records[1]["action"], "script");
    assert_eq!(records[1]["guards"]["node_running"], false);
    assert_eq!(records[2]["success"], true);
    assert_eq!(records[2]["exit_code"], 0);
    assert!(records[2]["result"].as_str().unwrap().contains("node serves again"), "{:#}", records[2]);
    assert!(recovered["downtime_s"].as_f64().unwrap() > 0.0);
    assert_eq!(recovered["attempts"], 1);
    let incidents = daemon.incidents();
    assert_eq!(incidents.len(), 1, "{incidents:#?}");
    assert_eq!(incidents[0]["state"], "recovered");
    assert_eq!(incidents[0]["attempts"][0]["n"], 1);
    wait_until("every partition of `recovery` in sync", Duration::from_secs(60), || {
        fully_in_sync(&cluster, "recovery", 3)
    });
    produce_and_consume(&cluster, "recovery", "after-recovery");

    // Two brokers at once, max_parallel 1: restarted one after the other.
    cluster.kill("broker-1").unwrap();
    cluster.kill("broker-3").unwrap();
    for node in ["broker-1", "broker-3"] {
        daemon.wait_for("recovered", Duration::from_secs(120), |r| r["node"] == node);
    }
    let incidents = daemon.incidents();
    assert_eq!(incidents.len(), 3);
    assert!(incidents.iter().all(|i| i["state"] == "recovered"), "{incidents:#?}");
    assert_no_overlap(&spans(&incidents));
    let refusals = daemon.events("guard_refused");
    assert!(refusals.iter().any(|r| r["guard"] == "max_parallel"), "one waited for the other: {refusals:#?}");
    wait_until("every partition of `recovery` in sync", Duration::from_secs(60), || {
        fully_in_sync(&cluster, "recovery", 3)
    });
    produce_and_consume(&cluster, "recovery", "after-two-recoveries");
}

#[test]
fn failing_actions_back_off_escalate_and_stop_until_reset_and_dry_runs_execute_nothing() {
    let _lock = cluster_lock();
    let mut cluster = Cluster::start(Spec { zookeepers: 1, brokers: 2, ..Spec::zookeeper() }).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let calls = dir.path().join("calls.log");
    let scripts = script(dir.path(), &format!("date +%s.%N >> {}\necho 'cannot restart' >&2\nexit 1", calls.display()));
    let recovery = format!(
        "  actions: [script]\n  max_attempts: 3\n  initial_delay_seconds: 1\n  backoff_multiplier: 2\n  max_delay_seconds: 10\n  script: {{script_directory: {}}}",
        scripts.display()
    );
    let mut daemon = Run::start(&cluster, dir.path(), &recovery, &[]);
    std::thread::sleep(Duration::from_secs(3));

    // Paused by an operator: down is expected, no incident and nothing runs.
    let out = run(bin().args(["pause", "--for", "1h", "--config"]).arg(&daemon.config));
    assert!(out.status.success(), "{}", stderr(&out));
    cluster.kill("broker-1").unwrap();
    let held = daemon.wait_for("down_while_held_off", Duration::from_secs(30), |r| r["node"] == "broker-1");
    assert!(held["reason"].as_str().unwrap().starts_with("recovery is paused until"), "{held:#}");
    std::thread::sleep(Duration::from_secs(2));
    assert!(!calls.exists(), "nothing runs while paused");
    assert!(daemon.events("detected").is_empty(), "no incident while paused");
    // Resumed: the node still down is an incident now.
    let out = run(bin().args(["resume", "--config"]).arg(&daemon.config));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!daemon.events("operator_pause").is_empty() && !daemon.events("operator_resume").is_empty());

    let escalated = daemon.wait_for("escalated", Duration::from_secs(60), |r| r["node"] == "broker-1");
    assert!(escalated["reason"].as_str().unwrap().contains("3 attempts failed"), "{escalated:#}");
    let finished = daemon.events("attempt_finished");
    assert_eq!(finished.len(), 3);
    assert!(finished.iter().all(|f| f["success"] == false && f["exit_code"] == 1));
    assert!(finished[0]["output"].as_str().unwrap().contains("cannot restart"));
    // Delays: 1 s, then 2 s (±10 % jitter), measured where the script ran.
    let times: Vec<f64> = std::fs::read_to_string(&calls).unwrap().lines().map(|l| l.parse().unwrap()).collect();
    assert_eq!(times.len(), 3);
    let gaps = [times[1] - times[0], times[2] - times[1]];
    assert!(gaps[0] >= 0.85 && gaps[0] < 3.0, "first delay {gaps:?}");
    assert!(gaps[1] >= 1.75 && gaps[1] < 4.5, "second delay {gaps:?}");
    // Escalated: no further attempt while the node stays down.
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(std::fs::read_to_string(&calls).unwrap().lines().count(), 3, "no attempt after the escalation");
    let incidents = daemon.incidents();
    assert_eq!(incidents[0]["state"], "escalated");

    // An operator re-arms the node: a new incident, attempts again from 1.
    let out = run(bin().args(["incidents", "reset", "broker-1", "--config"]).arg(&daemon.config));
    assert!(out.status.success(), "{}", stderr(&out));
    daemon.wait_for("operator_reset", Duration::from_secs(10), |r| r["node"] == "broker-1");
    daemon.wait_for("attempt_started", Duration::from_secs(20), |r| {
        r["attempt"] == 1 && r["incident_id"] != escalated["incident_id"]
    });
    daemon.kill();

    // A dry run decides and audits the same, and executes nothing.
    let before = std::fs::read_to_string(&calls).unwrap().lines().count();
    let dry_dir = tempfile::tempdir().unwrap();
    let dry = Run::start(&cluster, dry_dir.path(), &recovery, &["--dry-run"]);
    let started = dry.wait_for("attempt_started", Duration::from_secs(30), |r| r["node"] == "broker-1");
    assert!(started["command"].as_str().unwrap().starts_with("would run: "), "{started:#}");
    assert_eq!(started["dry_run"], true);
    let finished = dry.wait_for("attempt_finished", Duration::from_secs(10), |r| r["node"] == "broker-1");
    assert_eq!(finished["result"], "dry run: not executed");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(std::fs::read_to_string(&calls).unwrap().lines().count(), before, "a dry run executed the script");
    drop(dry);

    // A command that exits 0 but leaves the broker down is a failed attempt.
    let liar_dir = tempfile::tempdir().unwrap();
    let scripts = script(liar_dir.path(), "echo 'restarted (not really)'; exit 0");
    let recovery = format!(
        "  actions: [script]\n  max_attempts: 1\n  recovery_validation: {{timeout_seconds: 3}}\n  script: {{script_directory: {}}}",
        scripts.display()
    );
    let liar = Run::start(&cluster, liar_dir.path(), &recovery, &[]);
    let finished = liar.wait_for("attempt_finished", Duration::from_secs(30), |r| r["node"] == "broker-1");
    assert_eq!((finished["success"].as_bool(), finished["exit_code"].as_i64()), (Some(false), Some(0)), "{finished:#}");
    assert!(finished["result"].as_str().unwrap().contains("did not pass its probes within 3s"), "{finished:#}");
    liar.wait_for("escalated", Duration::from_secs(10), |r| r["node"] == "broker-1");
}

#[test]
fn a_daemon_killed_mid_attempt_resumes_without_repeating_and_an_isolated_monitor_does_nothing() {
    let _lock = cluster_lock();
    let mut cluster = Cluster::start(Spec { zookeepers: 1, brokers: 2, ..Spec::zookeeper() }).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let calls = dir.path().join("calls.log");
    // Slow on purpose: the daemon is killed while it sleeps.
    let scripts = script(
        dir.path(),
        &format!(
            "echo \"start $KAFKA_ATTEMPT\" >> {c}\nsleep 4\necho \"exec $KAFKA_ATTEMPT\" >> {c}\n{}",
            start_command(&cluster),
            c = calls.display()
        ),
    );
    let recovery = format!(
        "  actions: [script]\n  initial_delay_seconds: 1\n  script: {{script_directory: {}}}",
        scripts.display()
    );
    let mut daemon = Run::start(&cluster, dir.path(), &recovery, &[]);
    std::thread::sleep(Duration::from_secs(3));
    cluster.kill("broker-1").unwrap();
    daemon.wait_for("attempt_started", Duration::from_secs(30), |r| r["node"] == "broker-1");
    std::thread::sleep(Duration::from_millis(500));
    daemon.kill(); // SIGKILL, mid-attempt
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(std::fs::read_to_string(&calls).unwrap(), "start 1\n", "the attempt died with the daemon");

    daemon.spawn(&[]);
    daemon.wait_for("incident_resumed", Duration::from_secs(10), |r| r["node"] == "broker-1");
    daemon.wait_for("recovered", Duration::from_secs(90), |r| r["node"] == "broker-1");
    assert_eq!(std::fs::read_to_string(&calls).unwrap(), "start 1\nstart 2\nexec 2\n", "attempt 1 was not run again");
    let incidents = daemon.incidents();
    assert_eq!(incidents.len(), 1, "the same incident resumed: {incidents:#?}");
    let attempts = incidents[0]["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 2);
    assert_eq!(attempts[0]["success"], false);
    assert!(attempts[0]["result"].as_str().unwrap().starts_with("interrupted"), "{:#}", attempts[0]);
    assert_eq!((attempts[1]["n"].as_u64(), attempts[1]["success"].as_bool()), (Some(2), Some(true)));
    daemon.kill();

    // The monitor in a network namespace of its own cannot reach the cluster:
    // every node looks down, so it acts on none and escalates once.
    let netns = Netns::create().unwrap();
    let iso_dir = tempfile::tempdir().unwrap();
    let iso = Run::start_in(&netns, &cluster, iso_dir.path(), &recovery);
    let escalation = iso.wait_for("escalated", Duration::from_secs(30), |r| r["scope"] == "cluster");
    assert!(escalation["reason"].as_str().unwrap().contains("cannot reach the cluster"), "{escalation:#}");
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(iso.events("escalated").len(), 1, "escalated once");
    assert!(iso.events("attempt_started").is_empty(), "no action while isolated");
    assert_eq!(std::fs::read_to_string(&calls).unwrap().lines().count(), 3);
}

#[test]
fn zookeeper_nodes_are_restarted_one_at_a_time() {
    let _lock = cluster_lock();
    let mut cluster = Cluster::start(Spec { zookeepers: 3, brokers: 1, ..Spec::zookeeper() }).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let scripts = script(dir.path(), &start_command(&cluster));
    let recovery = format!(
        "  actions: [script]\n  initial_delay_seconds: 1\n  max_parallel: 3\n  max_failed_fraction: 0.6\n  script: {{script_directory: {}}}",
        scripts.display()
    );
    let daemon = Run::start(&cluster, dir.path(), &recovery, &[]);
    std::thread::sleep(Duration::from_secs(3));
    cluster.kill("zk-2").unwrap();
    let started = daemon.wait_for("attempt_started", Duration::from_secs(30), |r| r["node"] == "zk-2");
    assert_eq!(started["guards"]["quorum"]["members"], 3, "{started:#}");
    assert_eq!(started["guards"]["quorum"]["other_members_serving"], 2, "{started:#}");
    daemon.wait_for("recovered", Duration::from_secs(60), |r| r["node"] == "zk-2");

    // Two of three: the quorum is lost; both come back, never two at once
    // even though max_parallel allows three actions.
    cluster.kill("zk-1").unwrap();
    cluster.kill("zk-3").unwrap();
    for node in ["zk-1", "zk-3"] {
        daemon.wait_for("recovered", Duration::from_secs(90), |r| r["node"] == node);
    }
    let incidents = daemon.incidents();
    let zk: Vec<Value> = incidents.into_iter().filter(|i| i["role"] == "zookeeper").collect();
    assert_no_overlap(&spans(&zk));
    for node in ["zk-1", "zk-3"] {
        let mine: Vec<&Value> = zk.iter().filter(|i| i["node"] == node).collect();
        assert_eq!(mine.len(), 1, "{node}: {zk:#?}");
        assert_eq!(mine[0]["attempts"].as_array().unwrap().len(), 1, "{node}: {zk:#?}");
    }
    let refusals = daemon.events("guard_refused");
    assert!(refusals.iter().any(|r| r["guard"] == "one_quorum_member_at_a_time"), "{refusals:#?}");
    // The survivor stops serving without a quorum: it is failed, but running,
    // and restarting it could not help the quorum: it is never touched.
    for survivor in zk.iter().filter(|i| i["node"] == "zk-2" && i["cause"] != "connection_refused") {
        assert!(survivor["attempts"].as_array().unwrap().is_empty(), "{survivor:#}");
        assert_eq!(survivor["state"], "recovered", "{survivor:#}");
    }
}

#[test]
fn a_killed_kraft_controller_is_restarted_with_the_quorum_guard_consulted() {
    let _lock = cluster_lock();
    let mut cluster = Cluster::start(Spec { brokers: 1, ..Spec::kraft_separate() }).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let scripts = script(dir.path(), &start_command(&cluster));
    let recovery = format!("  actions: [script]\n  script: {{script_directory: {}}}", scripts.display());
    let daemon = Run::start(&cluster, dir.path(), &recovery, &[]);
    std::thread::sleep(Duration::from_secs(3));
    cluster.kill("controller-2").unwrap();
    let started = daemon.wait_for("attempt_started", Duration::from_secs(30), |r| r["node"] == "controller-2");
    assert_eq!(started["guards"]["quorum"]["members"], 3, "{started:#}");
    assert_eq!(started["guards"]["quorum"]["other_members_serving"], 2, "{started:#}");
    let recovered = daemon.wait_for("recovered", Duration::from_secs(90), |r| r["node"] == "controller-2");
    assert_eq!(recovered["attempts"], 1);
}

/// A real OpenSSH server on 127.0.0.1 with a throw-away host key and a client
/// key authorised for the current user; killed on drop.
struct Sshd {
    port: u16,
    key: PathBuf,
    child: Child,
}

impl Sshd {
    fn start(dir: &Path) -> Sshd {
        let sshd = Path::new("/usr/sbin/sshd");
        assert!(sshd.exists(), "openssh-server is installed by testing/setup.sh");
        std::fs::create_dir_all("/run/sshd").unwrap();
        for key in ["host_key", "client_key"] {
            let out = run(Command::new("ssh-keygen").args(["-q", "-t", "ed25519", "-N", "", "-f"]).arg(dir.join(key)));
            assert!(out.status.success(), "ssh-keygen: {}", stderr(&out));
        }
        std::fs::copy(dir.join("client_key.pub"), dir.join("authorized_keys")).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new(sshd)
            .args(["-D", "-e", "-f", "/dev/null", "-p", &port.to_string(), "-h"])
            .arg(dir.join("host_key"))
            .args(["-o", "ListenAddress=127.0.0.1", "-o", "StrictModes=no", "-o", "UsePAM=no"])
            .args(["-o", "PermitRootLogin=prohibit-password", "-o"])
            .arg(format!("AuthorizedKeysFile={}", dir.join("authorized_keys").display()))
            .arg("-o")
            .arg(format!("PidFile={}", dir.join("sshd.pid").display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("sshd starts");
        wait_until("the daemon's port answers", Duration::from_secs(10), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        Sshd { port, key: dir.join("client_key"), child }
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn ansible_ssh_and_a_webhook_restart_brokers() {
    let _lock = cluster_lock();
    let mut cluster = Cluster::start(Spec { zookeepers: 1, brokers: 2, ..Spec::zookeeper() }).unwrap();
    let bed = cluster.dir().display().to_string();

    // A real ansible-playbook run against this host, limited to the node.
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let inventory =
        write_temp(d, "inventory", "127.0.0.1 ansible_connection=local ansible_python_interpreter=/usr/bin/python3\n");
    std::fs::create_dir_all(d.join("playbooks")).unwrap();
    write_temp(
        &d.join("playbooks"),
        "kafka_broker.yml",
        &format!(
            "- hosts: all\n  gather_facts: false\n  tasks:\n    - name: Start the broker\n      ansible.builtin.command: \"{TESTBED} start {{{{ node_id }}}} --dir {bed}\"\n"
        ),
    );
    let recovery = format!(
        "  actions: [ansible]\n  ansible: {{playbook_directory: {}, inventory_file: {}}}",
        d.join("playbooks").display(),
        inventory.display()
    );
    let mut daemon = Run::start(&cluster, d, &recovery, &[]);
    std::thread::sleep(Duration::from_secs(3));
    cluster.kill("broker-1").unwrap();
    let started = daemon.wait_for("attempt_started", Duration::from_secs(30), |r| r["node"] == "broker-1");
    let command = started["command"].as_str().unwrap();
    assert!(
        command.starts_with(&format!("ansible-playbook -i {} --limit 127.0.0.1 --extra-vars", inventory.display())),
        "{command}"
    );
    let finished = daemon.wait_for("attempt_finished", Duration::from_secs(120), |r| r["node"] == "broker-1");
    assert_eq!(finished["success"], true, "{finished:#}");
    assert!(finished["output"].as_str().unwrap().contains("PLAY RECAP"), "{finished:#}");
    daemon.wait_for("recovered", Duration::from_secs(30), |r| r["node"] == "broker-1");
    daemon.kill();

    // A real ssh to 127.0.0.1 runs the restart command on the "remote" host.
    let ssh_dir = tempfile::tempdir().unwrap();
    let sshd = Sshd::start(ssh_dir.path());
    let run_dir = tempfile::tempdir().unwrap();
    let recovery = format!(
        "  actions: [ssh]\n  ssh:\n    user: root\n    port: {}\n    identity_file: {}\n    options: [StrictHostKeyChecking=no, UserKnownHostsFile=/dev/null, LogLevel=ERROR]\n    command: \"{TESTBED} start {{node_id}} --dir {bed}\"",
        sshd.port,
        sshd.key.display()
    );
    let daemon = Run::start(&cluster, run_dir.path(), &recovery, &[]);
    std::thread::sleep(Duration::from_secs(3));
    cluster.kill("broker-2").unwrap();
    let started = daemon.wait_for("attempt_started", Duration::from_secs(30), |r| r["node"] == "broker-2");
    let command = started["command"].as_str().unwrap();
    assert!(
        command.starts_with(&format!("ssh -o BatchMode=yes -o ConnectTimeout=10 -p {} -i", sshd.port)),
        "{command}"
    );
    assert!(command.contains("root@127.0.0.1 --"), "{command}");
    let finished = daemon.wait_for("attempt_finished", Duration::from_secs(120), |r| r["node"] == "broker-2");
    assert_eq!(finished["success"], true, "{finished:#}");
    daemon.wait_for("recovered", Duration::from_secs(30), |r| r["node"] == "broker-2");
    drop(daemon);

    // An orchestration webhook (`http`): a local receiver stands in for the
    // orchestrator; it records the call and starts the node.
    let hook = Webhook::start(cluster.dir());
    let hook_dir = tempfile::tempdir().unwrap();
    let recovery = format!(
        "  actions: [http]\n  http:\n    url: \"http://127.0.0.1:{}/restart/{{node_id}}\"\n    headers: {{Authorization: Bearer hook-token-secret}}",
        hook.port
    );
    let daemon = Run::start(&cluster, hook_dir.path(), &recovery, &[]);
    std::thread::sleep(Duration::from_secs(3));
    cluster.kill("broker-1").unwrap();
    daemon.wait_for("recovered", Duration::from_secs(120), |r| r["node"] == "broker-1");
    let calls = hook.calls.lock().unwrap().clone();
    assert_eq!(calls.len(), 1, "{calls:#?}");
    let (path, auth, body) = &calls[0];
    assert_eq!(path, "/restart/broker-1");
    assert_eq!(auth, "Bearer hook-token-secret");
    assert_eq!(body["node"]["node_id"], "broker-1");
    assert_eq!(body["node"]["attempt"], 1);
    let audit = std::fs::read_to_string(hook_dir.path().join("audit.log")).unwrap();
    assert!(!audit.contains("hook-token-secret"), "a secret header reached the audit trail");
}

pub(crate) type Calls = std::sync::Arc<std::sync::Mutex<Vec<(String, String, Value)>>>;

/// A local HTTP receiver that records each POST (path, Authorization, JSON
/// body) and starts the node it names in the test bed, then answers 200.
pub(crate) struct Webhook {
    pub(crate) port: u16,
    pub(crate) calls: Calls,
}

impl Webhook {
    pub(crate) fn start(bed: &Path) -> Webhook {
        use std::io::{BufRead, BufReader, Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let calls: Calls = Default::default();
        let (recorded, bed) = (calls.clone(), bed.to_path_buf());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut request_line = String::new();
                reader.read_line(&mut request_line).unwrap();
                let path = request_line.split_whitespace().nth(1).unwrap_or("").to_string();
                let (mut length, mut auth) = (0, String::new());
                loop {
                    let mut line = String::new();
                    reader.read_line(&mut line).unwrap();
                    let line = line.trim_end();
                    if line.is_empty() {
                        break;
                    }
                    let (k, v) = line.split_once(": ").unwrap_or((line, ""));
                    match k.to_ascii_lowercase().as_str() {
                        "content-length" => length = v.parse().unwrap_or(0),
                        "authorization" => auth = v.to_string(),
                        _ => {}
                    }
                }
                let mut body = vec![0; length];
                reader.read_exact(&mut body).unwrap();
                let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                let node = body["node"]["node_id"].as_str().unwrap_or("").to_string();
                recorded.lock().unwrap().push((path, auth, body));
                let ok =
                    Command::new(TESTBED).args(["start", &node, "--dir"]).arg(&bed).status().is_ok_and(|s| s.success());
                let status = if ok { "200 OK" } else { "500 Internal Server Error" };
                let mut stream = stream;
                let _ = write!(stream, "HTTP/1.1 {status}\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok");
            }
        });
        Webhook { port, calls }
    }
}

#[test]
fn a_node_in_maintenance_is_left_alone_until_its_window_ends() {
    let _lock = cluster_lock();
    let mut cluster = Cluster::start(Spec { zookeepers: 1, brokers: 2, ..Spec::zookeeper() }).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let scripts = script(dir.path(), &start_command(&cluster));
    let recovery = format!("  actions: [script]\n  script: {{script_directory: {}}}", scripts.display());
    let daemon = Run::start(&cluster, dir.path(), &recovery, &[]);
    std::thread::sleep(Duration::from_secs(3));

    // The operator's rolling restart: maintenance first, then a graceful stop.
    let out = run(bin()
        .args(["maintenance", "start", "--node", "broker-1", "--for", "12s", "--reason", "rolling restart", "--config"])
        .arg(&daemon.config));
    assert!(out.status.success(), "{}", stderr(&out));
    let started = Instant::now();
    cluster.stop("broker-1").unwrap(); // SIGTERM: Kafka's controlled shutdown
    std::thread::sleep(
        Duration::from_secs(12).saturating_sub(started.elapsed()).saturating_sub(Duration::from_secs(2)),
    );
    assert!(daemon.events("detected").is_empty(), "no incident during maintenance: {:#?}", daemon.audit());
    assert!(daemon.events("attempt_started").is_empty());
    let window = daemon.events("maintenance_started");
    assert_eq!(window[0]["reason"], "rolling restart");

    // The window ends with the broker still down: now it is an incident, and repaired.
    daemon.wait_for("maintenance_ended", Duration::from_secs(20), |r| r["node"] == "broker-1");
    daemon.wait_for("detected", Duration::from_secs(20), |r| r["node"] == "broker-1");
    daemon.wait_for("recovered", Duration::from_secs(90), |r| r["node"] == "broker-1");
}

#[test]
fn a_controlled_shutdown_is_not_a_crash_until_its_grace_period_ends() {
    let _lock = cluster_lock();
    let mut cluster = Cluster::start(Spec { zookeepers: 1, brokers: 3, ..Spec::zookeeper() }).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let scripts = script(dir.path(), &start_command(&cluster));
    let recovery = format!(
        "  actions: [script]\n  planned_restart_grace_seconds: 25\n  script: {{script_directory: {}}}",
        scripts.display()
    );
    let daemon = Run::start(&cluster, dir.path(), &recovery, &[]);
    std::thread::sleep(Duration::from_secs(3));

    // SIGTERM: Kafka's controlled shutdown; ZooKeeper sees the session close at once.
    let stopped = Instant::now();
    cluster.stop("broker-1").unwrap();
    let planned = daemon.wait_for("planned_stop_detected", Duration::from_secs(20), |r| r["node"] == "broker-1");
    assert!(planned["evidence"].as_str().unwrap().contains("ZooKeeper registration"), "{planned:#}");

    // A crash of another broker meanwhile is not mistaken for a planned stop, and
    // the stopped broker does not count toward a mass failure.
    cluster.kill("broker-2").unwrap();
    daemon.wait_for("recovered", Duration::from_secs(60), |r| r["node"] == "broker-2");
    assert!(stopped.elapsed() < Duration::from_secs(25), "the crash was handled inside the grace period");
    assert!(
        daemon.events("detected").iter().all(|r| r["node"] != "broker-1"),
        "no incident for the stopped broker within its grace period: {:#?}",
        daemon.audit()
    );

    // Still down after the grace period: an incident, and repaired.
    daemon.wait_for("detected", Duration::from_secs(60), |r| r["node"] == "broker-1");
    assert!(stopped.elapsed() >= Duration::from_secs(25));
    daemon.wait_for("recovered", Duration::from_secs(90), |r| r["node"] == "broker-1");
}

/// Issue: a broker replaying its logs after `kill -9` must not be restarted
/// again. The daemon's action starts the broker in the background and exits;
/// the broker then loads 2000 logs of an unclean shutdown (about 8 s here,
/// port closed, BrokerState 2 over JMX) — longer than the validation timeout
/// of 4 s. The validation waits for it, no second attempt runs, and
/// the incident closes when the broker serves.
#[test]
fn a_broker_replaying_its_logs_is_not_restarted_again() {
    let _lock = cluster_lock();
    let bridge = run(Command::new("bash").arg(crate::support::repo().join("jmx-bridge/build.sh")));
    assert!(bridge.status.success(), "jmx-bridge/build.sh failed");
    let mut cluster = Cluster::start(Spec { zookeepers: 1, brokers: 1, ..Spec::zookeeper() }).unwrap();
    cluster.create_topic("many-logs", 2000, 1).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let marker = d.join("attempts");
    // Starts the broker detached (as `systemctl start` would) and returns at once.
    let scripts = script(
        d,
        &format!(
            "echo \"$KAFKA_NODE_ID\" >> {}\nsetsid {TESTBED} start \"$KAFKA_NODE_ID\" --dir {} > {} 2>&1 < /dev/null &\nexit 0",
            marker.display(),
            cluster.dir().display(),
            d.join("start.log").display()
        ),
    );
    let broker = cluster.node("broker-1").unwrap().clone();
    let zk = cluster.node("zk-1").unwrap().clone();
    let config = write_temp(
        d,
        "config.yaml",
        &format!(
            "cluster:\n  name: log-recovery\n  kafka_brokers:\n    - {{node_id: broker-1, host: 127.0.0.1, port: {}, broker_id: 1, jmx_port: {}, monitoring_methods: [kafka_api, jmx]}}\n  \
             zookeeper_nodes:\n    - {{node_id: zk-1, host: 127.0.0.1, port: {}}}\n\
             monitoring:\n  interval_seconds: 1\n  timeout_seconds: 2\n  jmx: {{read_timeout: 2, connection_timeout: 2}}\n\
             recovery:\n  actions: [script]\n  max_attempts: 3\n  initial_delay_seconds: 1\n  max_failed_fraction: 1.0\n  \
             recovery_validation: {{timeout_seconds: 4}}\n  script: {{script_directory: {}}}\n\
             logging:\n  file: {}\n  format: json\n  audit: {{file: {}}}\n\
             system:\n  state_dir: {}\n{}",
            broker.port,
            broker.jmx_port.unwrap(),
            zk.port,
            scripts.display(),
            d.join("application.log").display(),
            d.join("audit.log").display(),
            d.join("state").display(),
            crate::support::http_line(),
        ),
    );
    let mut daemon = Run::with_config(d, config);
    daemon.spawn(&[]);
    std::thread::sleep(Duration::from_secs(3));

    cluster.kill("broker-1").unwrap();
    let recovered = daemon.wait_for("recovered", Duration::from_secs(120), |r| r["node"] == "broker-1");
    let attempts = std::fs::read_to_string(&marker).unwrap_or_default();
    assert_eq!(attempts.lines().count(), 1, "exactly one start while the broker replayed its logs:\n{attempts}");
    let log = std::fs::read_to_string(d.join("application.log")).unwrap();
    assert!(
        log.contains("validation extended while the broker recovers by itself"),
        "the validation waited for the log recovery:\n{}",
        tail(&log)
    );
    let extended: Vec<&str> = log.lines().filter(|l| l.contains("BrokerState=")).collect();
    assert!(log.contains("BrokerState=2"), "the broker reported its log recovery over JMX:\n{}", extended.join("\n"));
    let extensions: Vec<String> =
        daemon.events("validation_extended").iter().map(|r| r["evidence"].as_str().unwrap().to_string()).collect();
    assert!(extensions.iter().any(|e| e.contains("BrokerState=2")), "audited with its evidence: {extensions:?}");
    let finished = daemon.events("attempt_finished");
    assert_eq!(finished.len(), 1);
    assert_eq!(finished[0]["success"], true, "{:?}", finished[0]);
    assert!(finished[0]["validation_s"].as_f64().unwrap() > 4.0, "validated past its 4 s timeout: {:?}", finished[0]);
    assert!(recovered["outcome"].is_null() || recovered.to_string().contains("attempt"));
    let server_log = std::fs::read_to_string(cluster.dir().join("broker-1/server.log")).unwrap_or_default();
    assert!(server_log.contains("unclean log dirs"), "the broker really recovered an unclean shutdown");
    daemon.kill();
}

/// Issue: planned restarts on KRaft. An operator's rolling restart of every
/// broker (SIGTERM: Kafka's controlled shutdown; the controller fences the
/// broker at once) opens no incident, runs no action and pages nobody; a
/// broker stopped and left down is an incident after the grace period, and
/// repaired. A webhook receiver stands in for the pager, with
/// `on_failure_detected` switched on so any incident would page.
#[test]
fn a_rolling_restart_on_kraft_is_not_an_outage_and_a_forgotten_broker_is() {
    let _lock = cluster_lock();
    let mut cluster = Cluster::start(Spec::kraft_separate()).unwrap();
    let pager = crate::notify::Receiver::start();
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("attempts");
    let scripts =
        script(dir.path(), &format!("echo \"$KAFKA_NODE_ID\" >> {}\n{}", marker.display(), start_command(&cluster)));
    let recovery = format!(
        "  actions: [script]\n  planned_restart_grace_seconds: 20\n  script: {{script_directory: {}}}\n\
         notifications:\n  webhook: {{url: \"http://127.0.0.1:{}/page\"}}\n  triggers: {{on_failure_detected: true}}",
        scripts.display(),
        pager.port
    );
    // The brokers are listed without `broker_id`, as docs/configuration.md allows:
    // the fencing evidence needs the ids, learned from the metadata.
    let mut daemon = Run::start_config_only(&cluster, dir.path(), &recovery);
    without_broker_ids(&daemon.config);
    daemon.spawn(&[]);
    for broker in ["broker-1", "broker-2", "broker-3"] {
        daemon.wait_for("broker_id_learned", Duration::from_secs(20), |r| r["node"] == broker);
    }
    std::thread::sleep(Duration::from_secs(1));

    for broker in ["broker-1", "broker-2", "broker-3"] {
        cluster.stop(broker).unwrap();
        let planned = daemon.wait_for("planned_stop_detected", Duration::from_secs(20), |r| r["node"] == broker);
        assert!(planned["evidence"].as_str().unwrap().contains("fenced"), "{planned:#}");
        cluster.start_node(broker).unwrap();
        cluster.wait_ready(broker).unwrap();
        // Back in the cluster before the next one goes, as an operator waits.
        std::thread::sleep(Duration::from_secs(3));
    }
    assert!(daemon.events("detected").is_empty(), "no incident during the rolling restart: {:#?}", daemon.audit());
    assert!(!marker.exists(), "no action during the rolling restart");
    assert!(pager.accepted().is_empty(), "nobody paged: {:?}", pager.json());

    // Stopped and forgotten: after the grace period, an incident and a repair.
    let stopped = Instant::now();
    cluster.stop("broker-2").unwrap();
    daemon
        .wait_for("planned_stop_detected", Duration::from_secs(20), |r| r["node"] == "broker-2" && r["ts"].is_string());
    daemon.wait_for("detected", Duration::from_secs(60), |r| r["node"] == "broker-2");
    assert!(stopped.elapsed() >= Duration::from_secs(20), "not before the grace period");
    daemon.wait_for("recovered", Duration::from_secs(90), |r| r["node"] == "broker-2");
    assert_eq!(std::fs::read_to_string(&marker).unwrap().lines().collect::<Vec<_>>(), ["broker-2"]);

    // A crash stays a crash: kill -9 is acted on before its session would even time out.
    let killed = Instant::now();
    cluster.kill("broker-3").unwrap();
    daemon.wait_for("attempt_started", Duration::from_secs(30), |r| r["node"] == "broker-3");
    assert!(killed.elapsed() < Duration::from_secs(9), "acted at once, not after a grace: {:?}", killed.elapsed());
    let planned_3 = daemon.events("planned_stop_detected").iter().filter(|r| r["node"] == "broker-3").count();
    assert_eq!(planned_3, 1, "only the rolling restart's stop of broker-3 was a planned stop");
    daemon.wait_for("recovered", Duration::from_secs(90), |r| r["node"] == "broker-3");
}

/// Issue: `broker_id` was silently required. Without it the ids are learned
/// from the metadata, and every path that needs them works: a hung broker is
/// restarted (the `min_isr` guard has its facts), a clean stop is a planned
/// stop, the action sees `KAFKA_BROKER_ID`. A crash soon after a recovery is
/// a repeat, told once with its restart time (issue: it was held by the
/// cooldown in silence); a guard that holds an incident says so once, and one
/// that holds too long is escalated, naming the guard.
#[test]
fn without_broker_ids_every_path_works_a_repeat_is_told_and_guards_that_hold_say_so_once() {
    let _lock = cluster_lock();
    let mut cluster = Cluster::start(Spec { zookeepers: 1, brokers: 3, ..Spec::zookeeper() }).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let calls = dir.path().join("invocations");
    let scripts = script(
        dir.path(),
        &format!(
            "echo \"$KAFKA_NODE_ID $KAFKA_BROKER_ID\" >> {}\n{TESTBED} kill \"$KAFKA_NODE_ID\" --dir {} 2>/dev/null\n{}",
            calls.display(),
            cluster.dir().display(),
            start_command(&cluster)
        ),
    );
    let recovery = format!(
        "  actions: [script]\n  initial_delay_seconds: 1\n  cooldown_seconds: 10\n  max_actions_per_hour: 3\n  \
         guard_wait_escalate_seconds: 5\n  planned_restart_grace_seconds: 8\n  script: {{script_directory: {}}}",
        scripts.display()
    );
    let mut daemon = Run::start_config_only(&cluster, dir.path(), &recovery);
    without_broker_ids(&daemon.config);
    daemon.spawn(&[]);

    // The ids, from the metadata: the ones the brokers were started with.
    for n in cluster.nodes().iter().filter(|n| n.name.starts_with("broker")) {
        let learned = daemon.wait_for("broker_id_learned", Duration::from_secs(20), |r| r["node"] == n.name.as_str());
        assert_eq!(learned["broker_id"], n.id, "{learned:#}");
    }

    // A hung broker: restarted, with the min_isr guard's facts in hand.
    cluster.pause("broker-2").unwrap();
    let started = daemon.wait_for("attempt_started", Duration::from_secs(30), |r| r["node"] == "broker-2");
    assert!(started["guards"]["partitions_at_min_isr"].is_array(), "the guard had its facts: {started:#}");
    daemon.wait_for("recovered", Duration::from_secs(60), |r| r["node"] == "broker-2");
    assert!(daemon.events("planned_stop_detected").is_empty(), "a hang is not a planned stop");

    // SIGTERM: a planned stop (the registration of the learned id vanished), then an incident.
    cluster.stop("broker-1").unwrap();
    let planned = daemon.wait_for("planned_stop_detected", Duration::from_secs(20), |r| r["node"] == "broker-1");
    assert!(planned["evidence"].as_str().unwrap().contains("ZooKeeper registration"), "{planned:#}");
    let opened = daemon.wait_for("detected", Duration::from_secs(30), |r| r["node"] == "broker-1");
    let recovered = daemon.wait_for("recovered", Duration::from_secs(60), |r| r["node"] == "broker-1");

    // Crashed again at once, inside recovery.cooldown_seconds: a repeat, told
    // at once with its restart time (the policy's delay for a first repeat,
    // initial_delay_seconds), never held in silence by a guard.
    cluster.kill("broker-1").unwrap();
    let second = daemon.wait_for("detected", Duration::from_secs(30), |r| {
        r["node"] == "broker-1" && r["incident_id"] != opened["incident_id"]
    });
    let incident = second["incident_id"].clone();
    let again = daemon.wait_for("failed_again", Duration::from_secs(10), |r| r["incident_id"] == incident);
    assert_eq!(again["repeat"], 1, "{again:#}");
    let delay = again["restart_in_s"].as_f64().unwrap();
    assert!((0.9..=1.1).contains(&delay), "initial_delay_seconds (±10 % jitter) for a first repeat: {again:#}");
    assert!(again["recovered_ago_s"].as_f64().unwrap() < 10.0, "{again:#}");
    assert!(again["restart_at"].is_string(), "{again:#}");
    daemon.wait_for("recovered", Duration::from_secs(60), |r| r["incident_id"] == incident);
    let held: Vec<Value> =
        daemon.events("guard_refused").into_iter().filter(|r| r["incident_id"] == incident).collect();
    assert!(held.is_empty(), "no guard holds a repeat: {held:#?}");
    assert_eq!(daemon.events("failed_again").len(), 1, "told once");
    assert!(recovered["downtime_s"].is_number());

    // Three attempts in the hour: the budget holds the next crash, and after
    // guard_wait_escalate_seconds it is escalated, naming the guard.
    cluster.kill("broker-3").unwrap();
    let escalated = daemon.wait_for("escalated", Duration::from_secs(40), |r| r["node"] == "broker-3");
    let reason = escalated["reason"].as_str().unwrap();
    assert!(reason.contains("held back by the `budget` guard for 5s"), "{escalated:#}");
    assert!(reason.contains("recovery.max_actions_per_hour is 3"), "{escalated:#}");
    let held = daemon.events("guard_refused").into_iter().filter(|r| r["node"] == "broker-3").count();
    assert_eq!(held, 1, "one record while the budget held it");

    // Four recoveries, and never a false "cut off from the cluster" on a
    // broker just back (issue: its peers' metadata from while it was down).
    let log = std::fs::read_to_string(daemon.dir.join("application.log")).unwrap();
    let false_cut_off: Vec<&str> =
        log.lines().filter(|l| l.contains("Cluster status") && l.contains("cut off")).collect();
    assert!(false_cut_off.is_empty(), "{false_cut_off:#?}");
    assert!(daemon.events("cut_off").is_empty(), "{:#?}", daemon.events("cut_off"));

    // The action saw the learned ids.
    let lines = std::fs::read_to_string(&calls).unwrap();
    assert_eq!(lines.lines().collect::<Vec<_>>(), ["broker-2 2", "broker-1 1", "broker-1 1"], "{lines}");
    // Remembered: `incidents` works from the store, and the ids survive a restart.
    daemon.kill();
    let store = rusqlite::Connection::open(dir.path().join("state/state.db")).unwrap();
    let ids: Vec<(String, i32)> = store
        .prepare("SELECT node, broker_id FROM broker_ids ORDER BY node")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(ids, [("broker-1".to_string(), 1), ("broker-2".to_string(), 2), ("broker-3".to_string(), 3)]);
}

/// Issue: between the guards' consent and the action there is a re-probe that
/// can take a whole `timeout_seconds` (a hung broker answers nothing). A pause
/// given meanwhile stops the action before it runs; after `resume` it runs.
#[test]
fn a_pause_given_while_an_attempt_is_prepared_stops_it_before_it_runs() {
    let _lock = cluster_lock();
    let mut cluster = Cluster::start(Spec { zookeepers: 1, brokers: 2, ..Spec::zookeeper() }).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let calls = dir.path().join("invocations");
    let scripts = script(
        dir.path(),
        &format!(
            "echo \"$KAFKA_NODE_ID\" >> {}\n{TESTBED} kill \"$KAFKA_NODE_ID\" --dir {} 2>/dev/null\n{}",
            calls.display(),
            cluster.dir().display(),
            start_command(&cluster)
        ),
    );
    let recovery = format!("  actions: [script]\n  script: {{script_directory: {}}}", scripts.display());
    let mut daemon = Run::start_config_only(&cluster, dir.path(), &recovery);
    // A re-probe of a hung broker takes this long: the window the pause falls in.
    let text = std::fs::read_to_string(&daemon.config).unwrap().replace("timeout_seconds: 2", "timeout_seconds: 6");
    std::fs::write(&daemon.config, text).unwrap();
    daemon.spawn(&[]);
    std::thread::sleep(Duration::from_secs(3));

    cluster.pause("broker-2").unwrap();
    daemon.wait_for("detected", Duration::from_secs(40), |r| r["node"] == "broker-2");
    // The guards have agreed by now; the re-probe is waiting for its timeout.
    std::thread::sleep(Duration::from_secs(1));
    let out = run(bin().args(["pause", "--config"]).arg(&daemon.config));
    assert!(out.status.success(), "{}", stderr(&out));
    let cancelled = daemon.wait_for("attempt_cancelled", Duration::from_secs(20), |r| r["node"] == "broker-2");
    assert_eq!(cancelled["guard"], "paused", "{cancelled:#}");
    assert!(daemon.events("attempt_started").is_empty(), "nothing started: {:#?}", daemon.audit());
    daemon.wait_for("guard_refused", Duration::from_secs(10), |r| r["node"] == "broker-2" && r["guard"] == "paused");
    assert!(!calls.exists(), "the action never ran");

    let out = run(bin().args(["resume", "--config"]).arg(&daemon.config));
    assert!(out.status.success(), "{}", stderr(&out));
    daemon.wait_for("guard_released", Duration::from_secs(10), |r| r["node"] == "broker-2" && r["guard"] == "paused");
    daemon.wait_for("recovered", Duration::from_secs(90), |r| r["node"] == "broker-2");
    assert_eq!(std::fs::read_to_string(&calls).unwrap(), "broker-2\n", "one run, after resume");
}
