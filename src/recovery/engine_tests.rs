//! The engine's shell in-process, without a JVM: a board fed by hand, a real
//! state store and audit trail in a temporary directory, and a real script
//! as the action (it records each run). Real time, but seconds: the rules'
//! delays are configured short.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::Engine;
use crate::events::Event;
use crate::health::{NodeState, Verdict};
use crate::monitor::{Cause, Prober, Status};
use crate::secrets::Masker;
use crate::store::Store;
use crate::telemetry::Telemetry;
use crate::watch::{Board, NodeSnapshot};

/// One ZooKeeper node nobody listens for (its probes are refused at once),
/// watched by an engine whose action is `script` in `dir`.
struct Bed {
    _dir: tempfile::TempDir,
    runs: std::path::PathBuf,
    audit: std::path::PathBuf,
    board: Arc<Board>,
    engine: Arc<Engine>,
    events: broadcast::Receiver<Event>,
    stop: CancellationToken,
    tracker: TaskTracker,
    _node_events: broadcast::Sender<crate::watch::NodeEvent>,
}

impl Bed {
    fn start(recovery: &str) -> Bed {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let runs = d.join("runs");
        std::fs::create_dir_all(d.join("scripts")).unwrap();
        let script = d.join("scripts/default.sh");
        std::fs::write(&script, format!("#!/bin/sh\necho \"$KAFKA_NODE_ID $KAFKA_ATTEMPT\" >> {}\n", runs.display()))
            .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let yaml = format!(
            "cluster:\n  name: shell\n  zookeeper_nodes:\n    - {{node_id: zk-1, host: 127.0.0.1, port: {port}}}\n\
             monitoring:\n  timeout_seconds: 1\nrecovery:\n  actions: [script]\n  script: {{script_directory: {}}}\n\
             \x20 recovery_validation: {{timeout_seconds: 5}}\n{recovery}\n\
             logging:\n  file: \"\"\n  audit: {{file: {}}}\nsystem:\n  state_dir: {}\n",
            d.join("scripts").display(),
            d.join("audit.log").display(),
            d.join("state").display()
        );
        let loaded = crate::setup::parse_str(&yaml, std::path::Path::new("shell.yaml"), &|_| None)
            .unwrap_or_else(|e| panic!("{e}"));
        let config = Arc::new(loaded.config.clone());
        let store = Store::open(&d.join("state")).unwrap();
        let masker = Arc::new(Masker::from_config(&config, &|_| None));
        let audit = crate::audit::Audit::open("shell", store.clone(), &config.logging.audit, masker.clone()).unwrap();
        let board = Arc::new(Board::default());
        let prober = Arc::new(Prober::from_config(&config, loaded.security.clone(), loaded.plugins.clone()));
        let (tx, events) = broadcast::channel(64);
        let stop = CancellationToken::new();
        let ha = crate::ha::Ha::standalone("shell", &stop);
        let engine = Arc::new(Engine::new(
            config.clone(),
            store,
            audit,
            masker,
            prober,
            board.clone(),
            false,
            tx,
            Arc::new(Telemetry::default()),
            ha,
        ));
        let tracker = TaskTracker::new();
        // The watcher's events: none come (the board is fed by hand), but the
        // channel stays open for as long as the bed lives.
        let (node_tx, node_events) = broadcast::channel(16);
        tracker.spawn(engine.clone().run(node_events, tracker.clone(), stop.clone()));
        let audit = d.join("audit.log");
        let bed = Bed { _dir: dir, runs, audit, board, engine, events, stop, tracker, _node_events: node_tx };
        bed.set(NodeState::Healthy);
        bed
    }

    /// The watcher's word on zk-1, now.
    fn set(&self, state: NodeState) {
        let node = self.engine.nodes[0].clone();
        let (status, cause) = match state {
            NodeState::Failed => (Status::Failed, Some(Cause::ConnectionRefused)),
            _ => (Status::Healthy, None),
        };
        self.board.publish(NodeSnapshot {
            verdict: Some(Verdict { status, cause, detail: "by hand".into() }),
            state,
            since: Instant::now(),
            probed_at: Some(std::time::SystemTime::now()),
            ..NodeSnapshot::unknown(&node)
        });
    }

    fn runs(&self) -> usize {
        std::fs::read_to_string(&self.runs).map_or(0, |t| t.lines().count())
    }

    fn audit(&self, event: &str) -> Vec<serde_json::Value> {
        std::fs::read_to_string(&self.audit)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|r| r["event"] == event)
            .collect()
    }

    async fn until(&self, what: &str, limit: Duration, f: impl Fn(&Bed) -> bool) {
        let started = Instant::now();
        while !f(self) {
            assert!(
                started.elapsed() < limit,
                "{what}: not within {limit:?}; engine: {:?}; board: {:?}; audit:\n{}",
                self.engine.status(),
                self.board.state("zk-1"),
                self.all()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn all(&self) -> String {
        std::fs::read_to_string(&self.audit).unwrap_or_default()
    }

    /// One crash: failed, the script runs, then it serves again and the incident closes.
    async fn crash_and_repair(&self, limit: Duration) {
        let (runs, recovered) = (self.runs(), self.audit("recovered").len());
        self.set(NodeState::Failed);
        self.until("the restart runs", limit, |b| b.runs() > runs).await;
        self.set(NodeState::Healthy);
        self.until("the incident closes", Duration::from_secs(10), |b| b.audit("recovered").len() > recovered).await;
    }

    async fn stop(self) {
        self.stop.cancel();
        self.tracker.close();
        let _ = tokio::time::timeout(Duration::from_secs(10), self.tracker.wait()).await;
    }
}

/// Issue: a crash inside `recovery.cooldown_seconds` was held back by the
/// cooldown guard in silence. Now it is a repeat: told at once (an event,
/// which the `on_failed_again` notification rides on), restarted after the
/// policy's delay for its place in the row, and the row grows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_soon_after_a_recovery_is_told_and_restarted_after_a_growing_delay() {
    let mut bed = Bed::start("  initial_delay_seconds: 1\n  backoff_multiplier: 2\n  cooldown_seconds: 300");
    bed.crash_and_repair(Duration::from_secs(10)).await;
    assert!(bed.audit("failed_again").is_empty(), "a first failure is no repeat");

    // Again, at once: a repeat, restarted 1 s (initial_delay) later, not 300 s.
    let crashed = Instant::now();
    bed.crash_and_repair(Duration::from_secs(10)).await;
    let took = crashed.elapsed();
    let told = bed.audit("failed_again");
    assert_eq!(told.len(), 1, "told once: {}", bed.all());
    // initial_delay_seconds (±10 % jitter).
    let delay = told[0]["restart_in_s"].as_f64().unwrap();
    assert!((0.9..=1.1).contains(&delay) && told[0]["repeat"] == 1, "{:#}", told[0]);
    assert!(took >= Duration::from_millis(900), "the restart waited the repeat's delay: {took:?}");
    assert!(bed.audit("guard_refused").is_empty(), "no guard holds a repeat: {}", bed.all());
    let mut event = None;
    while let Ok(e) = bed.events.try_recv() {
        if let Event::FailedAgain { repeat, .. } = e {
            event = Some(repeat);
        }
    }
    assert_eq!(event, Some(1), "the notification's event");

    // And again: the second in a row waits twice as long.
    bed.crash_and_repair(Duration::from_secs(10)).await;
    let told = bed.audit("failed_again");
    let delay = told[1]["restart_in_s"].as_f64().unwrap();
    assert!((1.8..=2.2).contains(&delay) && told[1]["repeat"] == 2, "twice as long: {:#}", told[1]);
    let incidents = bed.engine.journal.store.call(|c| crate::store::records::list_incidents(c, None, None, false));
    let incidents = incidents.await.unwrap();
    let rows: Vec<u32> = incidents.iter().rev().map(|i| i.repeat).collect();
    assert_eq!(rows, [0, 1, 2], "the row is in the store");
    bed.stop().await;
}

/// A repeat that reaches `max_attempts` in a row is escalated at once, never restarted again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarts_that_do_not_hold_are_escalated_at_once() {
    let bed = Bed::start("  max_attempts: 2\n  initial_delay_seconds: 0.2\n  cooldown_seconds: 300");
    bed.crash_and_repair(Duration::from_secs(10)).await;
    bed.crash_and_repair(Duration::from_secs(10)).await;
    let runs = bed.runs();
    bed.set(NodeState::Failed);
    bed.until("escalated", Duration::from_secs(10), |b| !b.audit("escalated").is_empty()).await;
    let reason = bed.audit("escalated")[0]["reason"].as_str().unwrap_or_default().to_string();
    assert!(reason.contains("the 2nd time in a row within recovery.cooldown_seconds"), "{reason}");
    assert_eq!(bed.runs(), runs, "not restarted again");
    bed.stop().await;
}
