//! Safety guards: whether an attempt may run now. Pure: everything the
//! decision needs is in `GuardInput`; the engine gathers it.
//!
//! Owns: the order and wording of every refusal — the reasons operators read
//! in the audit trail.
//! Must never: look at the clock or the network itself, or let an action
//! through when a guard cannot tell (missing facts refuse).

use crate::config::{BlackoutPeriod, RunningBrokerGate, Timezone};
use crate::ha::opinion::SecondOpinion;
use crate::topology::Role;

/// The health of a node's quorum peers (ZooKeeper ensemble or KRaft voters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Peers {
    /// Members of the quorum, this node included.
    pub members: usize,
    /// Other members serving now.
    pub serving_others: usize,
}

/// Everything the guards look at for one attempt on one node.
#[derive(Debug, Clone)]
pub struct GuardInput {
    pub role: Role,
    /// The node's process answers at all (a hang, a not-serving ZooKeeper):
    /// acting on it takes away something that may still count.
    pub running: bool,
    pub flapping: bool,
    /// The monitor cannot reach the cluster.
    pub isolated: bool,
    /// Failed nodes that are not expected down; one process listed twice (a
    /// KRaft broker and its controller: same host, same node id) counts once.
    pub failed_nodes: usize,
    /// The configured nodes, counted the same way.
    pub total_nodes: usize,
    pub max_failed_fraction: f64,
    /// Paused by an operator; the text says until when.
    pub paused: Option<String>,
    /// The node is in an operator's maintenance window; the text says until when and why.
    pub maintenance: Option<String>,
    /// Inside a blackout period; the text names it.
    pub blackout: Option<String>,
    /// Attempts started in the cluster in the last hour; `Err` when the
    /// store could not say (then nothing runs: the budget cannot be kept).
    pub actions_last_hour: Result<u32, String>,
    pub max_actions_per_hour: u32,
    /// Roles of the actions running now on other nodes.
    pub in_flight: Vec<Role>,
    /// Another entry of the same process (a KRaft node that is broker and
    /// controller: same host and node id) is being acted on.
    pub sibling_in_flight: bool,
    pub max_parallel: usize,
    /// ZooKeeper ensemble or KRaft voters, for those roles.
    pub peers: Peers,
    /// Partitions of which this broker is one of only `min.insync.replicas`
    /// in-sync replicas (or fewer); `None` when unknown.
    pub at_min_isr: Option<Vec<String>>,
    /// Partitions short of a replica other than this broker that restarting it
    /// could make worse (`recovery.running_broker_gate` says which count; a
    /// broker still catching up after its own recovery makes its partitions
    /// short); `None` when unknown.
    pub short_elsewhere: Option<Vec<String>>,
    /// `recovery.running_broker_gate`, for the refusal's words.
    pub gate: RunningBrokerGate,
    /// A broker that does not answer *from here* (a timeout, no route) while
    /// the cluster still counts it — its peers' metadata lists it unfenced and
    /// ZooKeeper holds its registration: the evidence, when so.
    pub cluster_counts_it: Option<String>,
    /// Several healers (`ha.confirm_from`): what the others see of the node;
    /// `Err` when their verdicts could not be read; `None` when not asked.
    pub second_opinion: Option<Result<SecondOpinion, String>>,
}

/// Why an attempt does not run now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The guard's name, for the audit trail and metrics.
    pub guard: &'static str,
    pub reason: String,
    pub kind: RefusalKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusalKind {
    /// Wait and ask again (pause, blackout, budget, a slot, the quorum).
    Wait,
    /// Escalate this incident: people must look (a flapping node).
    Escalate,
    /// A cluster-wide event: no action anywhere, one escalation for all.
    ClusterEvent,
}

impl Refusal {
    /// Whether this refusal ends without anyone doing anything: an operator's
    /// hold (maintenance, pause, blackout) ends when the operator said, and a
    /// cluster-wide event was escalated once for all. (A failure soon after a
    /// recovery is no guard's: the lifecycle restarts it after a growing delay
    /// and says so, see `lifecycle::Repeat`.) Any other guard that holds an incident for longer than
    /// `recovery.guard_wait_escalate_seconds` is escalated.
    pub fn ends_by_itself(&self) -> bool {
        self.kind == RefusalKind::ClusterEvent || matches!(self.guard, "maintenance" | "paused" | "blackout")
    }
}

fn refuse(guard: &'static str, kind: RefusalKind, reason: String) -> Result<(), Refusal> {
    Err(Refusal { guard, reason, kind })
}

/// The guards in order; the first that refuses says why.
pub fn check(i: &GuardInput) -> Result<(), Refusal> {
    if i.isolated {
        return refuse(
            "isolation",
            RefusalKind::ClusterEvent,
            "the monitor cannot reach the cluster: its own network is suspect, so nothing is restarted".into(),
        );
    }
    // One failed node (process) is never a mass failure, whatever the fraction
    // says: a healer next to a single broker must still repair it.
    if i.failed_nodes >= 2 && i.failed_nodes as f64 > i.max_failed_fraction * i.total_nodes as f64 {
        return refuse(
            "mass_failure",
            RefusalKind::ClusterEvent,
            format!(
                "{} of {} nodes are down at once (more than recovery.max_failed_fraction {}): network or data-centre event suspected",
                i.failed_nodes, i.total_nodes, i.max_failed_fraction
            ),
        );
    }
    if i.flapping {
        return refuse(
            "flapping",
            RefusalKind::Escalate,
            "the node is flapping: restarting it again would not fix the cause".into(),
        );
    }
    match &i.second_opinion {
        Some(Ok(o)) if !o.confirmed => return refuse("second_opinion", RefusalKind::Wait, o.refusal("the node")),
        Some(Err(e)) => {
            return refuse(
                "second_opinion",
                RefusalKind::Wait,
                format!(
                    "the other healers' verdicts cannot be read ({e}): nothing is restarted on this healer's view alone"
                ),
            );
        }
        _ => {}
    }
    if let Some(window) = &i.maintenance {
        return refuse("maintenance", RefusalKind::Wait, format!("the node is in maintenance {window}"));
    }
    if let Some(until) = &i.paused {
        return refuse("paused", RefusalKind::Wait, format!("recovery is paused by an operator {until}"));
    }
    if let Some(window) = &i.blackout {
        return refuse("blackout", RefusalKind::Wait, format!("inside the blackout period {window}"));
    }
    match &i.actions_last_hour {
        Ok(n) if *n >= i.max_actions_per_hour => {
            return refuse(
                "budget",
                RefusalKind::Wait,
                format!("{n} actions in the last hour (recovery.max_actions_per_hour is {})", i.max_actions_per_hour),
            );
        }
        Ok(_) => {}
        Err(e) => {
            return refuse(
                "budget",
                RefusalKind::Wait,
                format!(
                    "the actions of the last hour cannot be counted ({e}): recovery.max_actions_per_hour cannot be kept, so nothing runs until the state store answers"
                ),
            );
        }
    }
    if let Some(evidence) = &i.cluster_counts_it {
        return refuse(
            "cluster_says_serving",
            RefusalKind::Wait,
            format!(
                "the broker does not answer from here, but the cluster counts it ({evidence}): this host's path to it is suspect, not the broker — no restart"
            ),
        );
    }
    if i.sibling_in_flight {
        return refuse(
            "same_process",
            RefusalKind::Wait,
            "another entry of the same process (same host and node id) is being acted on".into(),
        );
    }
    if i.in_flight.len() >= i.max_parallel.max(1) {
        return refuse(
            "max_parallel",
            RefusalKind::Wait,
            format!("{} action(s) already running (recovery.max_parallel is {})", i.in_flight.len(), i.max_parallel),
        );
    }
    if matches!(i.role, Role::Zookeeper | Role::KraftController) && i.in_flight.contains(&i.role) {
        return refuse(
            "one_quorum_member_at_a_time",
            RefusalKind::Wait,
            format!("another {} is being acted on: never two quorum members at once", i.role.as_str()),
        );
    }
    if matches!(i.role, Role::Zookeeper | Role::KraftController) && i.running {
        let majority = i.peers.members / 2 + 1;
        if i.peers.serving_others < majority {
            return refuse(
                "quorum",
                RefusalKind::Wait,
                format!(
                    "the node is still running and only {} of the other {} quorum members serve; the quorum needs {majority}: restarting it could cost the quorum",
                    i.peers.serving_others,
                    i.peers.members.saturating_sub(1)
                ),
            );
        }
    }
    if i.role == Role::KafkaBroker && i.running {
        match &i.at_min_isr {
            None => {
                return refuse(
                    "min_isr",
                    RefusalKind::Wait,
                    "the broker is still running and no partition view is available to prove that restarting it keeps every partition at min.insync.replicas".into(),
                );
            }
            Some(partitions) if !partitions.is_empty() => {
                let shown: Vec<&str> = partitions.iter().take(5).map(String::as_str).collect();
                return refuse(
                    "min_isr",
                    RefusalKind::Wait,
                    format!(
                        "the broker is still running and in the ISR of {} partition(s) at min.insync.replicas ({}): restarting it would stop writes",
                        partitions.len(),
                        shown.join(", ")
                    ),
                );
            }
            Some(_) => {}
        }
        if let Some(partitions) = i.short_elsewhere.as_ref().filter(|p| !p.is_empty()) {
            let shown: Vec<&str> = partitions.iter().take(5).map(String::as_str).collect();
            return refuse(
                "under_replicated",
                RefusalKind::Wait,
                format!(
                    "the broker is still running and {} partition(s) are short of another replica ({}{}): restarting it now could take one more replica of them away; waiting until they are whole (recovery.running_broker_gate: {})",
                    partitions.len(),
                    shown.join(", "),
                    if partitions.len() > shown.len() { ", …" } else { "" },
                    i.gate
                ),
            );
        }
    }
    Ok(())
}

/// What the guards saw when they let an attempt through, for its audit record.
pub fn consulted(i: &GuardInput) -> serde_json::Value {
    let mut v = serde_json::json!({
        "node_running": i.running,
        "failed_nodes": i.failed_nodes,
        "total_nodes": i.total_nodes,
        "actions_running_elsewhere": i.in_flight.len(),
        "actions_last_hour": i.actions_last_hour.as_ref().ok(),
    });
    if matches!(i.role, Role::Zookeeper | Role::KraftController) {
        v["quorum"] = serde_json::json!({"members": i.peers.members, "other_members_serving": i.peers.serving_others});
    }
    if let Some(Ok(o)) = &i.second_opinion {
        v["second_opinion"] = serde_json::json!(o);
    }
    if i.role == Role::KafkaBroker && i.running {
        v["partitions_at_min_isr"] = serde_json::json!(i.at_min_isr);
        v["partitions_short_elsewhere"] = serde_json::json!(i.short_elsewhere);
    }
    v
}

/// The blackout period `now` falls in, if any. `weekday` is 0 for Monday;
/// `minute` is the minute of the day, both in the period's own time zone
/// (`clock(tz)` gives them).
pub fn blackout_at(periods: &[BlackoutPeriod], clock: &dyn Fn(Timezone) -> (usize, u32)) -> Option<String> {
    periods.iter().find_map(|p| {
        let (start, end) = (p.start_time.minute, p.end_time.minute);
        let (day, minute) = clock(p.timezone);
        let on = |d: usize| p.days.is_empty() || p.days.iter().any(|x| x.index() == d);
        let yesterday = (day + 6) % 7;
        let active = if start <= end {
            on(day) && minute >= start && minute < end
        } else {
            (on(day) && minute >= start) || (on(yesterday) && minute < end)
        };
        active.then(|| format!("{}-{} {}", p.start_time, p.end_time, p.timezone))
    })
}

/// Weekday (0 = Monday) and minute of the day of `now` in `tz`.
pub fn wall_clock(now: std::time::SystemTime, tz: Timezone) -> (usize, u32) {
    let secs = now.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
    if tz == Timezone::Local {
        let t = secs as libc::time_t;
        // SAFETY: localtime_r writes only into `tm`, which we own.
        let mut tm: libc::tm = unsafe { std::mem::zeroed() };
        if !unsafe { libc::localtime_r(&t, &mut tm) }.is_null() {
            return (((tm.tm_wday + 6) % 7) as usize, (tm.tm_hour * 60 + tm.tm_min) as u32);
        }
    }
    let days = secs.div_euclid(86_400);
    // 1970-01-01 was a Thursday (3 with Monday = 0).
    (((days + 3).rem_euclid(7)) as usize, (secs.rem_euclid(86_400) / 60) as u32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn calm(role: Role) -> GuardInput {
        GuardInput {
            role,
            running: false,
            flapping: false,
            isolated: false,
            failed_nodes: 1,
            total_nodes: 6,
            max_failed_fraction: 0.4,
            paused: None,
            maintenance: None,
            blackout: None,
            actions_last_hour: Ok(0),
            max_actions_per_hour: 20,
            in_flight: Vec::new(),
            sibling_in_flight: false,
            max_parallel: 1,
            peers: Peers { members: 3, serving_others: 2 },
            at_min_isr: Some(Vec::new()),
            short_elsewhere: Some(Vec::new()),
            gate: RunningBrokerGate::Cluster,
            cluster_counts_it: None,
            second_opinion: None,
        }
    }

    fn guard(i: &GuardInput) -> Option<&'static str> {
        check(i).err().map(|r| r.guard)
    }

    #[test]
    fn a_down_node_in_a_calm_cluster_may_be_restarted() {
        for role in [Role::KafkaBroker, Role::KraftController, Role::Zookeeper] {
            assert_eq!(check(&calm(role)), Ok(()));
        }
    }

    #[test]
    fn a_broker_the_cluster_still_counts_is_not_restarted_from_a_host_that_cannot_reach_it() {
        let seen = GuardInput {
            running: true,
            cluster_counts_it: Some("listed by broker-1, broker-3; registered in ZooKeeper".into()),
            ..calm(Role::KafkaBroker)
        };
        let r = check(&seen).unwrap_err();
        assert_eq!((r.guard, r.kind), ("cluster_says_serving", RefusalKind::Wait));
        assert!(r.reason.contains("this host's path to it is suspect"), "{}", r.reason);
        assert!(!r.ends_by_itself(), "escalated when it lasts");
    }

    #[test]
    fn cluster_events_stop_everything() {
        let isolated = GuardInput { isolated: true, ..calm(Role::KafkaBroker) };
        assert_eq!(check(&isolated).unwrap_err().kind, RefusalKind::ClusterEvent);
        let mass = GuardInput { failed_nodes: 3, ..calm(Role::KafkaBroker) };
        let r = check(&mass).unwrap_err();
        assert_eq!((r.guard, r.kind), ("mass_failure", RefusalKind::ClusterEvent));
        assert!(r.reason.contains("3 of 6 nodes"), "{}", r.reason);
        // 2 of 6 is not more than 40 %.
        assert_eq!(check(&GuardInput { failed_nodes: 2, ..calm(Role::KafkaBroker) }), Ok(()));
        // A single node (a one-broker cluster) is never a mass failure.
        assert_eq!(check(&GuardInput { failed_nodes: 1, total_nodes: 1, ..calm(Role::KafkaBroker) }), Ok(()));
        let two_of_two = GuardInput { failed_nodes: 2, total_nodes: 2, ..calm(Role::KafkaBroker) };
        assert_eq!(check(&two_of_two).unwrap_err().guard, "mass_failure");
    }

    #[test]
    fn waits_and_escalations() {
        let b = || calm(Role::KafkaBroker);
        assert_eq!(guard(&GuardInput { flapping: true, ..b() }), Some("flapping"));
        assert_eq!(check(&GuardInput { flapping: true, ..b() }).unwrap_err().kind, RefusalKind::Escalate);
        assert_eq!(guard(&GuardInput { paused: Some("until resumed".into()), ..b() }), Some("paused"));
        assert_eq!(guard(&GuardInput { maintenance: Some("until 10:00".into()), ..b() }), Some("maintenance"));
        assert_eq!(guard(&GuardInput { blackout: Some("02:00-03:00 utc".into()), ..b() }), Some("blackout"));
        assert_eq!(guard(&GuardInput { actions_last_hour: Ok(20), ..b() }), Some("budget"));
        // A store that cannot count is no budget of 4294967295: nothing runs, and it says why.
        let unknown = check(&GuardInput { actions_last_hour: Err("disk I/O error".into()), ..b() }).unwrap_err();
        assert_eq!(unknown.guard, "budget");
        assert!(unknown.reason.contains("cannot be counted (disk I/O error)"), "{}", unknown.reason);
        assert_eq!(guard(&GuardInput { in_flight: vec![Role::KafkaBroker], ..b() }), Some("max_parallel"));
        assert_eq!(guard(&GuardInput { sibling_in_flight: true, max_parallel: 5, ..b() }), Some("same_process"));
        let two = GuardInput { in_flight: vec![Role::KafkaBroker], max_parallel: 2, ..b() };
        assert_eq!(check(&two), Ok(()));
    }

    #[test]
    fn quorum_members_one_at_a_time_and_never_at_the_cost_of_the_quorum() {
        let zk = || calm(Role::Zookeeper);
        let two = GuardInput { in_flight: vec![Role::Zookeeper], max_parallel: 3, ..zk() };
        assert_eq!(guard(&two), Some("one_quorum_member_at_a_time"));
        // Down (refused): always allowed. Running with one serving peer of 3: refused.
        assert_eq!(check(&GuardInput { peers: Peers { members: 3, serving_others: 1 }, ..zk() }), Ok(()));
        let risky = GuardInput { running: true, peers: Peers { members: 3, serving_others: 1 }, ..zk() };
        assert_eq!(guard(&risky), Some("quorum"));
        let safe = GuardInput { running: true, peers: Peers { members: 3, serving_others: 2 }, ..zk() };
        assert_eq!(check(&safe), Ok(()));
        let c =
            GuardInput { running: true, peers: Peers { members: 5, serving_others: 2 }, ..calm(Role::KraftController) };
        assert_eq!(guard(&c), Some("quorum"));
    }

    #[test]
    fn a_running_broker_is_not_restarted_below_min_isr() {
        let b = || GuardInput { running: true, ..calm(Role::KafkaBroker) };
        assert_eq!(check(&b()), Ok(()));
        let r = check(&GuardInput { at_min_isr: Some(vec!["orders-0".into()]), ..b() }).unwrap_err();
        assert_eq!(r.guard, "min_isr");
        assert!(r.reason.contains("orders-0"));
        assert_eq!(guard(&GuardInput { at_min_isr: None, ..b() }), Some("min_isr"), "unknown refuses");
        // A broker that is down cannot lose the ISR anything.
        assert_eq!(check(&GuardInput { running: false, at_min_isr: None, ..b() }), Ok(()));
        // Partitions short of another replica hold back a running broker, never a dead one.
        let short = GuardInput { short_elsewhere: Some(vec!["orders-1".into()]), ..b() };
        let r = check(&short).unwrap_err();
        assert_eq!(r.guard, "under_replicated");
        assert!(r.reason.contains("orders-1") && r.reason.contains("running_broker_gate: cluster"), "{}", r.reason);
        assert_eq!(check(&GuardInput { running: false, ..short }), Ok(()));
    }

    #[test]
    fn blackout_windows_cross_midnight_and_respect_days() {
        let period = |s: &str, e: &str, days: &[&str]| BlackoutPeriod {
            start_time: crate::config::TimeOfDay::parse(s).unwrap(),
            end_time: crate::config::TimeOfDay::parse(e).unwrap(),
            days: days.iter().map(|d| crate::config::Weekday::parse(d).unwrap()).collect(),
            timezone: Timezone::Utc,
        };
        let at = |day: usize, h: u32, m: u32| move |_: Timezone| (day, h * 60 + m);
        let night = [period("23:00", "01:00", &["sun"])];
        assert!(blackout_at(&night, &at(6, 23, 30)).is_some(), "Sunday 23:30");
        assert!(blackout_at(&night, &at(0, 0, 30)).is_some(), "Monday 00:30, window started Sunday");
        assert!(blackout_at(&night, &at(0, 23, 30)).is_none(), "Monday 23:30");
        let daily = [period("02:00", "03:00", &[])];
        assert!(blackout_at(&daily, &at(2, 2, 0)).is_some());
        assert!(blackout_at(&daily, &at(2, 3, 0)).is_none(), "the end is exclusive");
        // 2026-11-24 16:29 UTC was a Tuesday.
        let t = std::time::UNIX_EPOCH + Duration::from_secs(1_795_537_773);
        assert_eq!(wall_clock(t, Timezone::Utc), (1, 16 * 60 + 29));
    }
}
