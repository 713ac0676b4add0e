//! A ZooKeeper session watching `/brokers/ids` (ZooKeeper-mode clusters).
//!
//! A broker's registration is an ephemeral znode tied to its ZooKeeper
//! session: it disappears when the broker shuts down or its session expires
//! (a hung or partitioned broker). Watching it shows that at once, before any
//! probe round, and it is the cluster's own word on which brokers count.

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};
use zookeeper_client as zk;

use super::board::Board;

const IDS: &str = "/brokers/ids";

/// The registered broker ids now, for one-shot use (`check`); `None` when the
/// ensemble cannot be asked within `limit`.
pub async fn registered_now(connect: &str, limit: Duration) -> Option<BTreeSet<i32>> {
    let ask = async {
        let client = zk::Client::connector()
            .with_session_timeout(limit.max(Duration::from_secs(6)))
            .with_connection_timeout(limit)
            .connect(connect)
            .await
            .ok()?;
        let (children, _) = client.get_children(IDS).await.ok()?;
        Some(children.iter().filter_map(|c| c.parse().ok()).collect())
    };
    tokio::time::timeout(limit, ask).await.ok().flatten()
}

/// Keeps the board's registrations up to date (the cluster view is recomputed on
/// every change) and wakes the task of each broker (node id) in `wakes` whose
/// registration changes — its broker id configured or learned. Reconnects
/// (with a new session) on loss.
pub async fn watch_registrations(
    connect: String,
    wakes: HashSet<String>,
    board: Arc<Board>,
    changed: Arc<Notify>,
    session_timeout: Duration,
    shutdown: CancellationToken,
) {
    let mut known: Option<BTreeSet<i32>> = None;
    loop {
        let connecting = zk::Client::connector()
            .with_session_timeout(session_timeout)
            .with_connection_timeout(session_timeout)
            .connect(&connect);
        let client = tokio::select! {
            _ = shutdown.cancelled() => return,
            c = connecting => c,
        };
        let client = match client {
            Ok(c) => c,
            Err(e) => {
                if known.is_some() {
                    lost(&board, &changed, &e.to_string());
                }
                debug!(message = "Cannot open a ZooKeeper session for /brokers/ids; retrying.", error = %e);
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(Duration::from_secs(2)) => continue,
                }
            }
        };
        loop {
            let listed = tokio::select! {
                _ = shutdown.cancelled() => return,
                r = client.get_and_watch_children(IDS) => r,
            };
            let (children, _, watcher) = match listed {
                Ok(r) => r,
                Err(zk::Error::NoNode) => {
                    // No broker has ever registered; look again shortly.
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        _ = tokio::time::sleep(Duration::from_secs(2)) => continue,
                    }
                }
                Err(e) => {
                    lost(&board, &changed, &e.to_string());
                    break;
                }
            };
            let ids: BTreeSet<i32> = children.iter().filter_map(|c| c.parse().ok()).collect();
            if let Some(before) = &known {
                for gone in before.difference(&ids) {
                    warn!(message = %format!("Broker {gone} deregistered from ZooKeeper ({IDS}/{gone} deleted)."), broker_id = gone);
                    if let Some(node) = board.node_of_broker(*gone).filter(|n| wakes.contains(n)) {
                        board.wake(&node);
                    }
                }
                for back in ids.difference(before) {
                    info!(message = %format!("Broker {back} registered in ZooKeeper."), broker_id = back);
                    if let Some(node) = board.node_of_broker(*back).filter(|n| wakes.contains(n)) {
                        board.wake(&node);
                    }
                }
            }
            board.set_registered(ids.clone(), Instant::now());
            known = Some(ids);
            changed.notify_one();
            let event = tokio::select! {
                _ = shutdown.cancelled() => return,
                e = watcher.changed() => e,
            };
            if event.event_type == zk::EventType::Session {
                // The session ended (expired or closed): start a new one.
                lost(&board, &changed, &format!("{:?}", event.session_state));
                break;
            }
        }
    }
}

/// The session is gone: the registrations are unknown until a new one reads
/// them (never their last list: a broker may have gone or come meanwhile).
fn lost(board: &Board, changed: &Notify, why: &str) {
    if board.registrations_unknown_since().is_none() {
        warn!(message = "Lost the ZooKeeper session watching /brokers/ids: the registrations are unknown until a new session reads them; reconnecting.", error = %why);
        board.registrations_lost(Instant::now());
        changed.notify_one();
    }
}
