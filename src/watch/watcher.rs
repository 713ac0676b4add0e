//! Continuous monitoring: a loop per node, a fast path on lost connections,
//! and a cluster view recomputed on every change.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use futures::future::join_all;
use serde::Serialize;
use tokio::sync::{Notify, Semaphore, broadcast, mpsc};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, info, warn};

use super::board::{Board, NodeSnapshot, Wake};
use super::round::{CONFIRMATION_SPACING, HANG_SPACING, confirm};
use crate::config::Config;
use crate::health::{
    CUT_OFF_CONFIRM, NodeHealth, NodeState, Seen, Thresholds, Transition, Verdict, summarize, verdict,
};
use crate::kafka::{Connection, KafkaError, Security, Timeouts};
use crate::logging::PERFORMANCE;
use crate::monitor::{Cause, Observation, Prober, Status};
use crate::telemetry::Telemetry;
use crate::topology::{self, Node, Role};

/// A node changed state. Published for recovery and notifications.
#[derive(Debug, Clone, Serialize)]
pub struct NodeEvent {
    pub node: Node,
    pub transition: Transition,
    pub at: SystemTime,
    pub observations: Vec<Observation>,
}

/// Starts watching every node of `config` until `shutdown`; tasks are tracked by `tracker`.
pub fn spawn(
    config: &Config,
    prober: Arc<Prober>,
    events: broadcast::Sender<NodeEvent>,
    board: Arc<Board>,
    telemetry: Arc<Telemetry>,
    tracker: &TaskTracker,
    shutdown: CancellationToken,
) {
    let thresholds = Thresholds::from_config(&config.monitoring);
    let perf = &config.logging.performance;
    let slow = perf.log_slow_operations.then(|| Duration::from_millis(perf.slow_operation_threshold_ms));
    let interval = config.monitoring.interval_seconds.duration();
    let limit = Arc::new(Semaphore::new(config.system.max_concurrent_operations.max(1) as usize));
    let changed = Arc::new(Notify::new());
    let mut nodes = topology::nodes(config);
    topology::mark_this_host(&mut nodes, crate::host::is_named_this_host);
    for node in nodes.iter().filter(|n| n.role == Role::KafkaBroker) {
        if let Some(id) = node.broker_id {
            board.learn_broker_id(&node.id, id, super::board::CONFIGURED);
        }
    }
    for node in &nodes {
        board.publish(NodeSnapshot::unknown(node));
    }
    let zookeeper_connect: Vec<String> =
        nodes.iter().filter(|n| n.role == Role::Zookeeper).map(|n| n.address()).collect();
    let brokers: Vec<Node> = nodes.iter().filter(|n| n.role == Role::KafkaBroker).cloned().collect();
    if brokers.iter().any(|n| n.broker_id.is_none()) {
        tracker.spawn(learn_broker_ids(brokers.clone(), prober.clone(), board.clone(), interval, shutdown.clone()));
    }
    // Brokers the registration watch wakes: those without a held connection.
    // A held connection already notices a crash or hang first and better; a
    // round started by the deregistration would only delay its evidence.
    let mut broker_wakes = std::collections::HashSet::new();
    for node in nodes {
        let (signal, wake) = mpsc::channel(4);
        board.add_waker(&node.id, signal.clone());
        if node.role == Role::KafkaBroker && !uses_kafka_protocol(&node) {
            broker_wakes.insert(node.id.clone());
        }
        if node.role != Role::Zookeeper && uses_kafka_protocol(&node) {
            let timeouts = Timeouts { connect: prober.connect_timeout, request: prober.timeout };
            tracker.spawn(watch_connection(node.clone(), prober.security.clone(), timeouts, signal, shutdown.clone()));
        }
        let peers = brokers.iter().filter(|b| b.id != node.id).cloned().collect();
        let task = NodeTask {
            peers,
            node,
            prober: prober.clone(),
            thresholds,
            interval,
            limit: limit.clone(),
            events: events.clone(),
            board: board.clone(),
            changed: changed.clone(),
            telemetry: telemetry.clone(),
            slow,
            wake,
        };
        tracker.spawn(task.run(shutdown.clone()));
    }
    // ZooKeeper mode: the ensemble's own list of registered brokers.
    if !zookeeper_connect.is_empty() && !brokers.is_empty() {
        tracker.spawn(super::registrations::watch_registrations(
            zookeeper_connect.join(","),
            broker_wakes,
            board.clone(),
            changed.clone(),
            config.monitoring.timeout_seconds.duration().max(Duration::from_secs(6)),
            shutdown.clone(),
        ));
    }
    tracker.spawn(watch_cluster(board, changed, interval, config.monitoring.isolation_fraction, telemetry, shutdown));
}

fn uses_kafka_protocol(node: &Node) -> bool {
    node.methods
        .iter()
        .any(|m| matches!(m.as_str(), "kafka_api" | "kafka_metadata" | "kafka_log_dirs" | "kraft_quorum"))
}

struct NodeTask {
    node: Node,
    /// The other brokers: whose metadata says what the cluster thinks of this one.
    peers: Vec<Node>,
    prober: Arc<Prober>,
    thresholds: Thresholds,
    interval: Duration,
    limit: Arc<Semaphore>,
    events: broadcast::Sender<NodeEvent>,
    board: Arc<Board>,
    changed: Arc<Notify>,
    telemetry: Arc<Telemetry>,
    /// `logging.performance.slow_operation_threshold_ms`, when slow operations are logged.
    slow: Option<Duration>,
    /// From the connection watcher (probe now, a late heartbeat, a failed one) and the board.
    wake: mpsc::Receiver<Wake>,
}

impl NodeTask {
    async fn run(mut self, shutdown: CancellationToken) {
        let mut health = NodeHealth::new(Instant::now());
        // A failed heartbeat from the connection watcher counts as a round.
        let mut evidence: Option<Vec<Observation>> = None;
        // A late heartbeat: confirm at once, all rounds together.
        let mut suspected = false;
        loop {
            if self.node.role == Role::KafkaBroker {
                // Learned from the metadata since the last round, perhaps.
                self.node.broker_id = self.board.broker_id(&self.node.id);
            }
            let suspicion = std::mem::take(&mut suspected);
            if !suspicion {
                let observations = match evidence.take() {
                    Some(observations) => observations,
                    None => self.round().await,
                };
                self.feed(&mut health, &observations);
            }
            if suspicion || health.needs_confirmation() {
                let round = || self.round();
                // While our own rounds wait for a hung broker (the heartbeat was
                // late, the sockets stay open), the cluster's own verdict
                // (fenced, session expired) may come first. Not for a closed
                // port: a stopped broker is fenced too, and its own rounds tell a
                // clean stop from a crash.
                let cluster = self.cluster_verdict(suspicion);
                let spacing = if suspicion { HANG_SPACING } else { CONFIRMATION_SPACING };
                let confirmation = confirm(
                    &mut health,
                    &self.thresholds,
                    spacing,
                    &round,
                    |health, observations| self.feed(health, &observations),
                    cluster,
                    |health, v| self.feed_verdict(health, v),
                );
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = confirmation => {}
                }
            }
            let next = if health.needs_confirmation() {
                CONFIRMATION_SPACING
            } else if health.is_recovering() {
                RECOVERY_SPACING.min(self.interval)
            } else {
                self.interval
            };
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(next) => {}
                Some(signal) = self.wake.recv() => match signal {
                    Wake::Probe => debug!(message = "Connection watcher: probing now.", node = %self.node.id),
                    Wake::Suspect if health.state() != NodeState::Failed => {
                        debug!(message = "Connection watcher: heartbeat late; confirming now.", node = %self.node.id);
                        suspected = true;
                    }
                    Wake::Suspect => {}
                    Wake::Evidence(o) => evidence = Some(vec![*o]),
                },
            }
        }
    }

    /// What the cluster says of this broker while it does not answer us
    /// (`hang_suspected`: a late heartbeat on an open connection): completes
    /// only when the cluster has given up on it too — ZooKeeper dropped its
    /// registration, or a serving peer's metadata has it fenced or no more.
    /// Never completes for a node that is not a broker, without a suspected
    /// hang, or once a round found its port closed.
    async fn cluster_verdict(&self, hang_suspected: bool) -> Verdict {
        let Some(id) = self.node.broker_id.filter(|_| self.node.role == Role::KafkaBroker && hang_suspected) else {
            return std::future::pending().await;
        };
        let started = Instant::now();
        loop {
            // A round that found the port closed: the process is gone or
            // stopping, not hung; the rounds decide (and a clean stop stays one).
            let closed = self
                .board
                .snapshot(&self.node.id)
                .and_then(|s| s.verdict)
                .is_some_and(|v| v.status == Status::Failed && v.cause != Some(Cause::Timeout));
            if closed {
                return std::future::pending().await;
            }
            let late = started.elapsed().as_secs_f64();
            let failed = |detail: String| Verdict { status: Status::Failed, cause: Some(Cause::Timeout), detail };
            if self.board.registered().is_some_and(|ids| !ids.contains(&id)) {
                return failed(format!(
                    "no answer for {late:.1}s, and its ZooKeeper session expired (/brokers/ids/{id} is gone): the cluster has given up on it too"
                ));
            }
            let serving: Vec<Node> = self
                .peers
                .iter()
                .filter(|p| self.board.snapshot(&p.id).is_some_and(|s| s.serving()))
                .cloned()
                .collect();
            if let Some(m) = self.prober.cluster_metadata(&serving, None).await {
                match m.listed(id) {
                    Some(true) => {
                        return failed(format!(
                            "no answer for {late:.1}s, and the controller fenced broker {id} (DescribeCluster from {}): its heartbeats to the controller stopped too",
                            m.asked
                        ));
                    }
                    None => {
                        return failed(format!(
                            "no answer for {late:.1}s, and broker {id} is gone from the cluster's metadata (from {}): the controller gave up on it too",
                            m.asked
                        ));
                    }
                    Some(false) => {}
                }
            }
            tokio::time::sleep(CLUSTER_VERDICT_POLL).await;
        }
    }

    /// The cluster's verdict: a confirmed failure, however few rounds we counted.
    fn feed_verdict(&self, health: &mut NodeHealth, v: Verdict) {
        let transition = health.observe_confirmed(&v, Instant::now(), &self.thresholds);
        let observations = self.board.snapshot(&self.node.id).map(|s| s.observations).unwrap_or_default();
        self.publish(health, &v, &observations, transition, Duration::ZERO);
    }

    /// Every method of the node once, concurrently: one slow method never delays another.
    async fn round(&self) -> Vec<Observation> {
        let _permit = self.limit.acquire().await;
        join_all(self.node.methods.iter().map(|m| self.prober.probe(&self.node, m))).await
    }

    fn feed(&self, health: &mut NodeHealth, observations: &[Observation]) {
        for o in observations {
            let problem = (o.status != Status::Healthy).then(|| o.cause.map_or(o.status.as_str(), |c| c.as_str()));
            self.telemetry.metrics.probe(&self.node.id, &o.method, o.latency, problem);
        }
        let v = verdict(observations);
        let latency = observations.iter().map(|o| o.latency).max().unwrap_or_default();
        debug!(message = "Probe round.", node = %self.node.id, status = ?v.status, response_time_ms = latency.as_millis() as u64);
        if !self.telemetry.shedding() {
            info!(target: PERFORMANCE, message = "Probe round.", node = %self.node.id, status = v.status.as_str(), response_time_ms = latency.as_millis() as u64);
        }
        if let Some(slow) = self.slow.filter(|s| latency > *s) {
            let slowest = observations.iter().max_by_key(|o| o.latency).map_or("-", |o| o.method.as_str());
            let line = format!(
                "Probe slow: {} {slowest} took {} ms (threshold {} ms)",
                self.node.id,
                latency.as_millis(),
                slow.as_millis()
            );
            warn!(target: PERFORMANCE, message = %line, node = %self.node.id, method = slowest, response_time_ms = latency.as_millis() as u64);
            warn!(message = %line, node = %self.node.id, method = slowest, response_time_ms = latency.as_millis() as u64);
        }
        let transition = health.observe(&v, Instant::now(), &self.thresholds);
        self.publish(health, &v, observations, transition, latency);
    }

    fn publish(
        &self,
        health: &NodeHealth,
        v: &Verdict,
        observations: &[Observation],
        transition: Option<Transition>,
        latency: Duration,
    ) {
        self.board.publish(NodeSnapshot {
            node: self.node.clone(),
            state: health.state(),
            verdict: Some(v.clone()),
            observations: observations.to_vec(),
            flapping: health.is_flapping(Instant::now(), &self.thresholds),
            since: health.since(),
            probed_at: Some(SystemTime::now()),
        });
        let Some(t) = transition else { return };
        let cause = t.cause.map_or("none", |c| c.as_str());
        let line = format!("Node status: {} {} -> {}", self.node.id, t.from.as_str(), t.to.as_str());
        // One field list for both levels: failures are warnings, the rest info.
        macro_rules! transition {
            ($level:ident) => {
                $level!(
                    message = %line,
                    node = %self.node.id,
                    role = self.node.role.as_str(),
                    from = t.from.as_str(),
                    to = t.to.as_str(),
                    cause,
                    response_time_ms = latency.as_millis() as u64,
                    flapping = t.flapping,
                    detail = %t.detail,
                )
            };
        }
        match t.to {
            NodeState::Failed | NodeState::Suspect => transition!(warn),
            _ => transition!(info),
        }
        let event = NodeEvent {
            node: self.node.clone(),
            transition: t,
            at: SystemTime::now(),
            observations: observations.to_vec(),
        };
        // No subscriber yet is fine: recovery and notifications subscribe when they exist.
        let _ = self.events.send(event);
        self.changed.notify_one();
    }
}

/// Spacing of the probes that confirm a failed node is back: longer than the
/// failure confirmation, because a restarting broker may answer once and stop.
pub const RECOVERY_SPACING: Duration = Duration::from_secs(1);

/// How often the held connection is asked whether the node still answers.
pub const HEARTBEAT: Duration = Duration::from_secs(1);

/// A heartbeat later than this (or four times the usual round trip, if that
/// is longer, up to half the time limit) starts the confirmation rounds at
/// once: a hung broker is then failed about one time limit after it stopped,
/// not two — and a pause shorter than the time limit clears them.
const LATE_HEARTBEAT: Duration = Duration::from_millis(500);

/// How often the cluster's own verdict is asked while a suspicion is confirmed.
const CLUSTER_VERDICT_POLL: Duration = Duration::from_millis(500);

/// How long the held connection waits after the listener refused our TLS or SASL credentials.
const REFUSED_RETRY: Duration = Duration::from_secs(30);

/// Holds a connection to a Kafka node and wakes the node's task to probe at
/// once when the node drops it (a crash closes every socket at once) or stops
/// answering a heartbeat (a hung process keeps its sockets open; the missed
/// heartbeat is handed over as a failed `kafka_api` observation). It never
/// decides anything itself: the probes and `health` do.
async fn watch_connection(
    node: Node,
    security: Security,
    timeouts: Timeouts,
    signal: mpsc::Sender<Wake>,
    shutdown: CancellationToken,
) {
    let retry = Duration::from_secs(1);
    // The usual heartbeat round trip (a moving average): a slow link is not a hang.
    let mut usual = Duration::from_millis(10);
    let mut lost_before = false;
    loop {
        let connected = tokio::select! {
            _ = shutdown.cancelled() => return,
            c = Connection::connect(&node.host, node.port, &security, timeouts) => c,
        };
        match connected {
            Ok(mut conn) => {
                if lost_before {
                    // It answers again: let the probes confirm the recovery now.
                    let _ = signal.try_send(Wake::Probe);
                }
                lost_before = true;
                let (lost, evidence) = loop {
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        e = conn.closed() => break (e, None),
                        _ = tokio::time::sleep(HEARTBEAT) => {
                            let sent = Instant::now();
                            let late = (usual * 4).max(LATE_HEARTBEAT).min(timeouts.request / 2);
                            let ping = conn.ping();
                            tokio::pin!(ping);
                            let answer = tokio::select! {
                                a = &mut ping => a,
                                _ = tokio::time::sleep(late) => {
                                    let _ = signal.try_send(Wake::Suspect);
                                    ping.await
                                }
                            };
                            match answer {
                                // One late answer (a pause) moves the average by at most `late`.
                                Ok(()) => usual = (usual * 7 + sent.elapsed().min(late)) / 8,
                                Err(e @ KafkaError::Timeout { .. }) => {
                                    let observation = Observation {
                                        node: node.id.clone(),
                                        method: "kafka_api".to_string(),
                                        status: Status::Failed,
                                        cause: Some(Cause::Timeout),
                                        detail: format!("heartbeat on the held connection: {e}"),
                                        latency: sent.elapsed(),
                                        findings: None,
                                    };
                                    break (e, Some(Wake::Evidence(Box::new(observation))));
                                }
                                Err(e) => break (e, None),
                            }
                        }
                    }
                };
                debug!(message = "Watched connection lost.", node = %node.id, error = %lost);
                let _ = signal.try_send(evidence.unwrap_or(Wake::Probe));
            }
            Err(e) => {
                // Down or hung: the node's own probes report it; try again shortly.
                // Refused credentials will not get better in a second: don't hammer the broker.
                let wait = match e {
                    KafkaError::Authentication { .. } | KafkaError::Tls { .. } => REFUSED_RETRY,
                    _ => retry,
                };
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(wait) => {}
                }
            }
        }
    }
}

/// Learns the broker id of every broker configured without one: from the
/// metadata of any broker that answers (the entry advertising the node's
/// host and port — by name, or by address after resolving both), at once and
/// then every `interval` while one is still unknown (a broker that is down is
/// not in the metadata). Read-only: a Metadata request like `kafka_metadata`'s.
async fn learn_broker_ids(
    brokers: Vec<Node>,
    prober: Arc<Prober>,
    board: Arc<Board>,
    interval: Duration,
    shutdown: CancellationToken,
) {
    loop {
        let unknown: Vec<&Node> = brokers.iter().filter(|n| board.broker_id(&n.id).is_none()).collect();
        if !unknown.is_empty() {
            for asked in &brokers {
                let o = prober.probe(asked, "kafka_metadata").await;
                let Some(crate::monitor::Findings::Kafka(view)) = o.findings else { continue };
                for node in &unknown {
                    let id = match crate::monitor::advertised_id(&view, &node.host, node.port) {
                        Some(id) => Some(id),
                        None => resolved_match(&view, node).await,
                    };
                    if let Some(id) = id {
                        board.learn_broker_id(&node.id, id, &format!("metadata from {}", asked.id));
                    }
                }
                break;
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(interval.max(Duration::from_secs(1))) => {}
        }
    }
}

/// The broker whose advertised host resolves to an address of `node`'s host, on its port.
async fn resolved_match(view: &crate::monitor::KafkaView, node: &Node) -> Option<i32> {
    let addresses = |host: String, port: u16| async move {
        let lookup = tokio::time::timeout(Duration::from_secs(2), tokio::net::lookup_host((host, port))).await;
        lookup.ok().and_then(Result::ok).map(|a| a.map(|s| s.ip()).collect::<Vec<_>>()).unwrap_or_default()
    };
    let mine = addresses(node.host.clone(), node.port).await;
    if mine.is_empty() {
        return None;
    }
    for b in view.brokers.iter().filter(|b| b.port == i32::from(node.port)) {
        if addresses(b.host.clone(), node.port).await.iter().any(|a| mine.contains(a)) {
            return Some(b.id);
        }
    }
    None
}

/// Recomputes the cluster view on every node transition (and each interval)
/// and logs when its problems change.
async fn watch_cluster(
    board: Arc<Board>,
    changed: Arc<Notify>,
    interval: Duration,
    isolation_fraction: f64,
    telemetry: Arc<Telemetry>,
    shutdown: CancellationToken,
) {
    let mut last: Option<(Vec<String>, bool)> = None;
    // Since when each broker has looked cut off; a new suspicion asks its
    // peers again at once and is looked at again when it could be reported.
    let mut cut_off_since: HashMap<String, SystemTime> = HashMap::new();
    let mut next = interval;
    loop {
        telemetry.liveness.beat("monitoring", interval);
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = changed.notified() => {}
            _ = tokio::time::sleep(next) => {}
        }
        let snapshots = board.snapshots();
        let states: Vec<(Node, NodeState)> = snapshots.iter().map(|s| (s.node.clone(), s.state)).collect();
        let observations: Vec<Observation> = snapshots.iter().flat_map(|s| s.observations.clone()).collect();
        next = interval;
        if states.iter().any(|(_, s)| *s == NodeState::Unknown) {
            continue;
        }
        let registered = board.registered();
        let now = SystemTime::now();
        let times = snapshots.iter().map(|s| (s.node.id.clone(), (now - s.since.elapsed(), s.probed_at))).collect();
        let seen = Seen { now, times, cut_off_since: cut_off_since.clone(), confirm: CUT_OFF_CONFIRM };
        let view = summarize(&states, &observations, registered.as_ref(), isolation_fraction, &seen);
        cut_off_since.retain(|node, _| view.suspected_cut_off.contains(node));
        for node in &view.suspected_cut_off {
            if !cut_off_since.contains_key(node) {
                cut_off_since.insert(node.clone(), now);
                info!(message = "Monitor: a broker looks cut off from its peers; asking them again before reporting it.", node = %node, confirm_s = CUT_OFF_CONFIRM.as_secs());
                for peer in states.iter().filter(|(n, _)| n.role == Role::KafkaBroker && n.id != *node) {
                    board.wake(&peer.0.id);
                }
            }
        }
        if view.suspected_cut_off.len() > view.cut_off.len() {
            next = interval.min(Duration::from_secs(1));
        }
        let key = (view.problems.clone(), view.isolated);
        if last.as_ref() != Some(&key) {
            if view.isolated {
                warn!(
                    message = "Monitor isolated: every node is unreachable; the daemon's own network is suspected.",
                    isolated = true
                );
            } else if view.problems.is_empty() {
                let word = format!("{:?}", view.status).to_lowercase();
                info!(message = %format!("Cluster status: {word}."), status = ?view.status);
            } else {
                warn!(message = %format!("Cluster status: {}", view.problems.join("; ")), status = ?view.status);
            }
            last = Some(key);
        }
        board.set_cluster(view);
    }
}
