//! One round: every node probed by all its methods, failures confirmed at once.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use futures::future::join_all;
use futures::stream::FuturesOrdered;
use tokio::sync::Semaphore;

use super::report::{CheckReport, NodeReport};
use crate::config::Config;
use crate::health::{NodeHealth, Seen, Thresholds, Verdict, summarize, verdict};
use crate::kafka::Security;
use crate::monitor::{Observation, Prober};
use crate::topology::{self, Node, Role};

/// Spacing of the re-probes that confirm a failure: short, so a crashed node
/// is confirmed in about 200 ms (`failure_threshold` 3: the round that found
/// it, then two more 100 ms and 200 ms later), each a connection of its own,
/// so one lost packet or one refused connect is not confirmed; a slow answer
/// is never confirmed by the spacing (each round waits its whole time limit).
pub const CONFIRMATION_SPACING: Duration = Duration::from_millis(100);

/// Spacing of the rounds that confirm a suspected hang (a late heartbeat):
/// each of them waits a whole time limit for a node that does not answer, so
/// spacing them adds to the detection time without making them more
/// independent.
pub const HANG_SPACING: Duration = Duration::from_millis(100);

/// Probes every node once (plus confirmation probes for nodes that fail) and
/// reports their states and what the cluster looks like.
pub async fn check_round(config: &Config, security: &Security, plugins: Arc<crate::plugin::Registry>) -> CheckReport {
    let prober = Arc::new(Prober::from_config(config, security.clone(), plugins));
    let thresholds = Thresholds::from_config(&config.monitoring);
    let mut nodes = topology::nodes(config);
    topology::mark_this_host(&mut nodes, crate::host::is_named_this_host);
    let limit = Arc::new(Semaphore::new(config.system.max_concurrent_operations.max(1) as usize));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for (index, node) in nodes.into_iter().enumerate() {
        let (prober, limit) = (prober.clone(), limit.clone());
        tasks.spawn(async move { (index, confirm_node(&prober, &limit, node, thresholds).await) });
    }
    let mut reports: Vec<(usize, NodeReport)> = Vec::new();
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok(r) => reports.push(r),
            Err(e) => tracing::error!(message = "A probe task panicked.", error = %e),
        }
    }
    reports.sort_by_key(|(i, _)| *i);
    let mut reports: Vec<NodeReport> = reports.into_iter().map(|(_, r)| r).collect();
    // Brokers without a configured id: the one the metadata lists at their address.
    let views: Vec<crate::monitor::KafkaView> = reports
        .iter()
        .flat_map(|r| r.observations.iter())
        .filter_map(|o| match &o.findings {
            Some(crate::monitor::Findings::Kafka(v)) => Some(v.clone()),
            _ => None,
        })
        .collect();
    for r in reports.iter_mut().filter(|r| r.node.role == Role::KafkaBroker && r.node.broker_id.is_none()) {
        r.node.broker_id = views.iter().find_map(|v| crate::monitor::advertised_id(v, &r.node.host, r.node.port));
    }
    let states: Vec<(Node, _)> = reports.iter().map(|r| (r.node.clone(), r.state)).collect();
    let observations: Vec<Observation> = reports.iter().flat_map(|r| r.observations.iter().cloned()).collect();
    // ZooKeeper mode: the ensemble's list of registered brokers, if it answers.
    let zookeepers: Vec<String> =
        states.iter().filter(|(n, _)| n.role == Role::Zookeeper).map(|(n, _)| n.address()).collect();
    let has_brokers = states.iter().any(|(n, _)| n.role == Role::KafkaBroker);
    let registered = if zookeepers.is_empty() || !has_brokers {
        None
    } else {
        super::registrations::registered_now(&zookeepers.join(","), prober.timeout).await
    };
    let cluster = summarize(
        &states,
        &observations,
        registered.as_ref(),
        config.monitoring.isolation_fraction,
        &Seen::one_round(std::time::SystemTime::now()),
    );
    CheckReport { cluster_name: config.cluster.name.clone(), nodes: reports, cluster, duration: started.elapsed() }
}

/// Probes `node` until its state is settled: once if it is up, up to
/// `failure_threshold` rounds if it is not.
async fn confirm_node(prober: &Prober, limit: &Semaphore, node: Node, thresholds: Thresholds) -> NodeReport {
    let round = || async {
        let _permit = limit.acquire().await;
        // A node's methods run together: one slow method never delays another.
        join_all(node.methods.iter().map(|m| prober.probe(&node, m))).await
    };
    let mut health = NodeHealth::new(Instant::now());
    let mut last = round().await;
    let mut rounds = 1;
    let mut v = verdict(&last);
    health.observe(&v, Instant::now(), &thresholds);
    if health.needs_confirmation() {
        let feed = |health: &mut NodeHealth, observations: Vec<Observation>| {
            rounds += 1;
            v = verdict(&observations);
            health.observe(&v, Instant::now(), &thresholds);
            last = observations;
        };
        // One look, not a watch: the cluster's own verdict is not waited for.
        confirm(&mut health, &thresholds, CONFIRMATION_SPACING, &round, feed, std::future::pending(), |_, _| {}).await;
    }
    NodeReport { state: health.state(), verdict: v, observations: last, probes: rounds, node: node.clone() }
}

/// Confirms a suspicion: the remaining rounds start `spacing` apart
/// (`CONFIRMATION_SPACING`, or `HANG_SPACING` for a late heartbeat) without
/// waiting for each other, so a hung node (every round ends in
/// a timeout) is confirmed in about one timeout, not one per round. Results
/// are fed to `feed` in order; the first one that clears the suspicion ends it
/// (the rounds still running are dropped). `cluster` is the cluster's own
/// verdict on the node, when it gives one first: fed to `confirmed`, it ends
/// the confirmation too.
pub(super) async fn confirm<R, F, C>(
    health: &mut NodeHealth,
    thresholds: &Thresholds,
    spacing: Duration,
    round: &R,
    mut feed: impl FnMut(&mut NodeHealth, Vec<Observation>),
    cluster: C,
    mut confirmed: impl FnMut(&mut NodeHealth, Verdict),
) where
    R: Fn() -> F,
    F: std::future::Future<Output = Vec<Observation>>,
    C: std::future::Future<Output = Verdict>,
{
    let remaining = thresholds.failure.saturating_sub(health.failed_rounds());
    let mut pending = FuturesOrdered::new();
    for k in 1..=remaining {
        pending.push_back(async move {
            tokio::time::sleep(spacing * k).await;
            round().await
        });
    }
    tokio::pin!(cluster);
    loop {
        tokio::select! {
            next = pending.next() => match next {
                Some(observations) => {
                    feed(health, observations);
                    if !health.needs_confirmation() {
                        return;
                    }
                }
                None => return,
            },
            v = &mut cluster => return confirmed(health, v),
        }
    }
}
