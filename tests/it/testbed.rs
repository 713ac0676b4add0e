//! The test bed is real: clusters of Apache Kafka and ZooKeeper JVMs start,
//! serve produce/consume, survive a killed broker, and never outlive a test.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use kafka_testbed::{Cluster, Flavor, Spec, api_versions, jvm_pids_under, zookeeper_four_letter_word};

use crate::support::{
    cluster_lock, fully_in_sync, produce_and_consume, registered_brokers, repo, run, stdout, testbed_bin,
};

/// Polls `f` until it returns `Some`, failing the test with `what` after `limit`.
fn wait_for<T>(what: &str, limit: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out after {limit:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// The whole life of a cluster: up, a replicated topic, a message through it,
/// a broker killed and started again, rejoining; torn down with nothing left.
fn exercise(spec: Spec) {
    let started = Instant::now();
    let mut cluster = Cluster::start(spec.clone()).unwrap_or_else(|e| panic!("cannot start {:?}: {e:#}", spec.flavor));
    eprintln!("{:?} cluster up in {:.1}s at {}", spec.flavor, started.elapsed().as_secs_f64(), cluster.dir().display());
    let dir = cluster.dir().to_path_buf();

    // Every Kafka node serves the protocol and every JVM has its JMX port open.
    for node in cluster.nodes().iter().filter(|n| n.jmx_port.is_some()) {
        assert!(api_versions(node.addr(), Duration::from_secs(5)).unwrap() > 10, "{} ApiVersions", node.name);
        let jmx = ([127, 0, 0, 1], node.jmx_port.unwrap()).into();
        std::net::TcpStream::connect_timeout(&jmx, Duration::from_secs(5))
            .unwrap_or_else(|e| panic!("{} JMX port: {e}", node.name));
    }
    // A ZooKeeper ensemble has exactly one leader.
    let modes: Vec<String> = cluster
        .zookeepers()
        .map(|zk| {
            let srvr = zookeeper_four_letter_word(zk.addr(), "srvr", Duration::from_secs(5)).unwrap();
            srvr.lines().find_map(|l| l.strip_prefix("Mode: ")).unwrap_or("none").to_string()
        })
        .collect();
    if cluster.zookeepers().count() == 3 {
        assert_eq!(modes.iter().filter(|m| *m == "leader").count(), 1, "modes: {modes:?}");
        assert_eq!(modes.iter().filter(|m| *m == "follower").count(), 2, "modes: {modes:?}");
    }

    let brokers = cluster.brokers().count();
    wait_for("every broker registered", Duration::from_secs(60), || {
        (registered_brokers(&cluster) == Some(brokers)).then_some(())
    });
    cluster.create_topic("bed-check", 3, 3).unwrap();
    wait_for("the topic fully in sync", Duration::from_secs(60), || {
        fully_in_sync(&cluster, "bed-check", 3).then_some(())
    });
    produce_and_consume(&cluster, "bed-check", "before-the-kill");

    // kill -9 one broker: it stops answering and the cluster sees it gone.
    let victim = cluster.brokers().nth(1).unwrap().name.clone();
    let addr = cluster.node(&victim).unwrap().addr();
    cluster.kill(&victim).unwrap();
    let refused = api_versions(addr, Duration::from_secs(2)).unwrap_err();
    assert!(format!("{refused:#}").contains("Connection refused"), "{refused:#}");
    wait_for("the killed broker to leave the metadata", Duration::from_secs(60), || {
        (registered_brokers(&cluster) == Some(brokers - 1)).then_some(())
    });
    produce_and_consume(&cluster, "bed-check", "while-one-is-down");

    // Started again with the same data, it rejoins and catches up.
    cluster.start_node(&victim).unwrap();
    wait_for("the broker to rejoin", Duration::from_secs(90), || {
        (registered_brokers(&cluster) == Some(brokers)).then_some(())
    });
    wait_for("the topic in sync again", Duration::from_secs(90), || {
        fully_in_sync(&cluster, "bed-check", 3).then_some(())
    });
    produce_and_consume(&cluster, "bed-check", "after-the-restart");

    drop(cluster);
    assert_eq!(jvm_pids_under(&dir), Vec::<u32>::new(), "JVMs left behind");
}

#[test]
fn zookeeper_mode_cluster_on_kafka_3_9_is_real() {
    let _serial = cluster_lock();
    exercise(Spec::zookeeper());
}

#[test]
fn kraft_cluster_on_kafka_4_is_real() {
    let _serial = cluster_lock();
    exercise(Spec::kraft());
}

#[test]
fn kraft_cluster_with_separate_controllers_is_real() {
    let _serial = cluster_lock();
    let spec = Spec::kraft_separate();
    assert_eq!(spec.flavor, Flavor::KraftSeparate);
    let mut cluster = Cluster::start(spec).unwrap();
    let dir = cluster.dir().to_path_buf();
    assert_eq!(cluster.controllers().count(), 3);
    for c in cluster.controllers() {
        assert!(
            api_versions(c.addr(), Duration::from_secs(5)).is_ok(),
            "{} answers on its controller listener",
            c.name
        );
    }
    wait_for("every broker registered", Duration::from_secs(60), || {
        (registered_brokers(&cluster) == Some(3)).then_some(())
    });
    cluster.create_topic("separate", 1, 3).unwrap();
    produce_and_consume(&cluster, "separate", "through-separate-controllers");

    // A controller stopped gracefully and started again rejoins the quorum.
    cluster.stop("controller-1").unwrap();
    produce_and_consume(&cluster, "separate", "with-two-controllers");
    cluster.start_node("controller-1").unwrap();
    drop(cluster);
    assert_eq!(jvm_pids_under(&dir), Vec::<u32>::new());
}

#[test]
fn a_panicking_test_leaves_no_jvm_behind() {
    let _serial = cluster_lock();
    let spec = Spec { zookeepers: 1, brokers: 1, ..Spec::zookeeper() };
    let dir = std::sync::Mutex::new(None);
    let result = std::panic::catch_unwind(|| {
        let mut cluster = Cluster::start(spec).unwrap();
        // The cheap variant works too, hung and resumed.
        cluster.pause("broker-1").unwrap();
        let addr = cluster.node("broker-1").unwrap().addr();
        assert!(api_versions(addr, Duration::from_millis(500)).is_err(), "a SIGSTOPped broker does not answer");
        cluster.resume("broker-1").unwrap();
        assert!(api_versions(addr, Duration::from_secs(10)).is_ok(), "a SIGCONTed broker answers again");
        *dir.lock().unwrap() = Some(cluster.dir().to_path_buf());
        assert!(!jvm_pids_under(cluster.dir()).is_empty());
        panic!("deliberate panic with a running cluster");
    });
    assert!(result.is_err());
    let dir = dir.into_inner().unwrap().expect("the cluster started");
    assert_eq!(jvm_pids_under(&dir), Vec::<u32>::new(), "JVMs outlived the panic");
}

#[test]
fn a_killed_launcher_takes_its_jvms_with_it() {
    let _serial = cluster_lock();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("bed");
    let mut launcher = testbed_bin()
        .args(["up", "--foreground", "--flavor", "zookeeper", "--zookeepers", "1", "--brokers", "1", "--dir"])
        .arg(&dir)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    wait_for("the launcher's cluster to be ready", Duration::from_secs(120), || {
        dir.join("ready").exists().then_some(())
    });
    assert_eq!(jvm_pids_under(&dir).len(), 2);
    launcher.kill().unwrap(); // SIGKILL: no destructor runs, the kernel must do it.
    launcher.wait().unwrap();
    wait_for("the JVMs to die with their launcher", Duration::from_secs(20), || {
        jvm_pids_under(&dir).is_empty().then_some(())
    });
}

#[test]
fn the_shell_launcher_starts_drives_and_stops_a_cluster() {
    let _serial = cluster_lock();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("bed");
    let script = repo().join("testing/testbed.sh");
    let sh = |args: &[&str]| {
        let mut cmd = Command::new("bash");
        cmd.arg(&script).args(args).arg("--dir").arg(&dir);
        run(&mut cmd)
    };
    let out = sh(&["up", "--flavor", "zookeeper", "--zookeepers", "1", "--brokers", "1"]);
    assert!(out.status.success());
    let guard = Teardown(&dir, &script);
    let out = sh(&["status", "--json"]);
    let nodes: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(nodes.as_array().unwrap().len(), 2, "{}", stdout(&out));
    assert!(sh(&["kill", "broker-1"]).status.success());
    assert!(stdout(&sh(&["status"])).lines().any(|l| l.starts_with("broker-1") && l.trim_end().ends_with('-')));
    assert!(sh(&["start", "broker-1"]).status.success());
    assert!(sh(&["down"]).status.success());
    drop(guard);
    assert_eq!(jvm_pids_under(&dir), Vec::<u32>::new());
}

/// Stops a detached cluster even when an assertion fails half-way.
struct Teardown<'a>(&'a Path, &'a Path);
impl Drop for Teardown<'_> {
    fn drop(&mut self) {
        let _ = Command::new("bash").arg(self.1).arg("down").arg("--dir").arg(self.0).status();
    }
}
