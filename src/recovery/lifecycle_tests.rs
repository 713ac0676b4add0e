//! The incident lifecycle and the opening rules, table-tested with a clock
//! passed in: every path the real-cluster tests take, without sleeping.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::*;
use crate::recovery::guards::Refusal;
use crate::recovery::opening::{self, Facts, Opening, Stop, StopFacts};
use crate::recovery::state::{Back, State};
use crate::store::controls::Pause;

/// One thing that happens to an incident, at second `t` of the case.
#[derive(Debug, Clone)]
enum Input {
    /// The engine steps with the node in this state (and the broker's own report, if any).
    Observe(NodeState, Option<Cause>),
    /// systemd answered: `active` state, main process started at second `t` (if running).
    Unit(&'static str, Option<u64>),
    /// A guard refused: its name, kind, reason.
    Refuse(&'static str, RefusalKind, &'static str),
    /// The guards admitted the attempt.
    Admit,
    /// The attempt ended.
    Finish(Attempted),
    /// It served, then failed again before it caught up (`whole`).
    FailedAgain,
    /// The engine steps with the node failed and flapping.
    FlappingNow,
}
use Input::*;

/// A case: its name, its ladder and max attempts, and what happens with what is expected:
/// (second, input, the next step as `describe` words it, the notes as `note_names` words them).
struct Case {
    name: &'static str,
    ladder: &'static [&'static str],
    max_attempts: u32,
    attempts_done: u32,
    /// When the last attempt before a restart ended (second of the case, may be negative).
    last_end: Option<i64>,
    /// A repeat failure: its place in the row, and the second its previous incident recovered.
    repeat: Option<(u32, i64)>,
    steps: Vec<(i64, Input, &'static str, &'static [&'static str])>,
}

const T0: u64 = 1_800_000_000;

fn at(t: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs((T0 as i64 + t) as u64)
}

fn settings(ladder: &[&str], max_attempts: u32) -> Settings {
    Settings {
        policy: RetryPolicy {
            max_attempts,
            initial_delay: Duration::from_secs(10),
            multiplier: 2.0,
            max_delay: Duration::from_secs(60),
        },
        ladder: ladder.iter().map(|s| s.to_string()).collect(),
        stall: Duration::from_secs(30),
        guard_wait: Duration::from_secs(120),
        systemd_wait: Duration::from_secs(20),
    }
}

fn describe(next: &Next) -> String {
    match next {
        Next::Recovered(by) => format!("recovered by {by:?}").to_lowercase(),
        Next::Wait(d) => format!("wait {}", d.as_secs_f64()),
        Next::Escalate(reason) => format!("escalate: {reason}"),
        Next::AskSystemd => "ask systemd".into(),
        Next::AskGuards { attempt } => format!("ask guards {attempt}"),
    }
}

fn note_names(notes: &[Note]) -> Vec<&'static str> {
    notes
        .iter()
        .map(|n| match n {
            Note::RecoveringByItself { .. } => "recovering_by_itself",
            Note::SelfRecoveryStalled { .. } => "self_recovery_stalled",
            Note::RestartingBySystemd { .. } => "restarting_by_systemd",
            Note::SystemdRestartStalled { .. } => "systemd_restart_stalled",
            Note::Held { .. } => "held",
            Note::Released { .. } => "released",
            Note::FailedAgain { .. } => "failed_again",
        })
        .collect()
}

fn unit(active: &str, started: Option<u64>) -> UnitState {
    UnitState {
        unit: "kafka.service".into(),
        active: active.into(),
        sub: "x".into(),
        result: "success".into(),
        restarts: 0,
        started_at: started.map(|t| (T0 + t) as i64),
    }
}

/// Runs one case; the node failed at second 0.
fn run(case: &Case) {
    let mut life =
        Lifecycle::new(settings(case.ladder, case.max_attempts), case.attempts_done, case.last_end.map(at), 0.0);
    if let Some((n, t)) = case.repeat {
        life = life.repeating(Repeat { n, recovered_at: at(t) });
    }
    let mut observed = Observed { state: NodeState::Failed, self_recovery: None, failed_at: at(0), flapping: false };
    for (i, (t, input, next, notes)) in case.steps.iter().enumerate() {
        let now = at(*t);
        let (got_next, got_notes) = match input {
            FlappingNow => {
                observed.state = NodeState::Failed;
                observed.flapping = true;
                let step = life.next(&observed, now);
                (describe(&step.next), note_names(&step.notes))
            }
            Observe(state, report) => {
                observed.state = *state;
                observed.self_recovery = report.map(|c| (c, format!("BrokerState {}", c.as_str())));
                let step = life.next(&observed, now);
                (describe(&step.next), note_names(&step.notes))
            }
            Unit(active, started) => {
                life.unit_answered(Some(unit(active, *started)), now);
                let step = life.next(&observed, now);
                (describe(&step.next), note_names(&step.notes))
            }
            Refuse(guard, kind, reason) => {
                let r = Refusal { guard, kind: *kind, reason: reason.to_string() };
                let step = life.refused(&r, now);
                (describe(&step.next), note_names(&step.notes))
            }
            Admit => {
                let a = life.admitted(&observed, now);
                let words = format!(
                    "attempt {} {}{}{}",
                    a.attempt,
                    a.action,
                    if a.unit_failed { " unit_failed" } else { "" },
                    if a.systemd.is_some() { " with systemd" } else { "" }
                );
                (words, note_names(&a.notes))
            }
            Finish(how) => (describe(&life.finished(*how, now)), Vec::new()),
            FailedAgain => {
                life.failed_again(now);
                ("failed again".to_string(), Vec::new())
            }
        };
        // The expected words, whole, or the first words of it (up to a space or a colon).
        let matches = got_next
            .strip_prefix(next)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with(' ') || rest.starts_with(':'));
        assert!(matches, "{} step {i} ({input:?} at {t}s): next is `{got_next}`, expected `{next}`", case.name);
        assert_eq!(got_notes, *notes, "{} step {i} ({input:?} at {t}s): notes", case.name);
    }
}

const FAILED: Input = Observe(NodeState::Failed, None);
const HEALTHY: Input = Observe(NodeState::Healthy, None);
const LOG_RECOVERY: Input = Observe(NodeState::Failed, Some(Cause::LogRecovery));
const STARTING: Input = Observe(NodeState::Failed, Some(Cause::Starting));
const SYSTEMD: &[&str] = &["restart_service"];
const SCRIPT: &[&str] = &["script"];
const NONE: &[&str] = &[];

fn case(name: &'static str, steps: Vec<(i64, Input, &'static str, &'static [&'static str])>) -> Case {
    Case { name, ladder: SCRIPT, max_attempts: 3, attempts_done: 0, last_end: None, repeat: None, steps }
}

#[test]
fn the_incident_lifecycle() {
    let cases = vec![
        case(
            "serves again before any attempt: it came back by itself",
            vec![(1, HEALTHY, "recovered by nobody", NONE)],
        ),
        case("degraded counts as serving", vec![(1, Observe(NodeState::Degraded, None), "recovered by nobody", NONE)]),
        case("not probed yet: look again shortly", vec![(0, Observe(NodeState::Unknown, None), "wait 0.25", NONE)]),
        case("being confirmed: look again shortly", vec![(0, Observe(NodeState::Suspect, None), "wait 0.25", NONE)]),
        case("a failed node: the first attempt at once", vec![(0, FAILED, "ask guards 1", NONE)]),
        case(
            "served, then failed again while catching up: the next attempt after its backoff",
            vec![
                (0, FAILED, "ask guards 1", NONE),
                (0, Admit, "attempt 1 script", NONE),
                (5, Finish(Attempted::Validated), "recovered by us", NONE),
                (20, FailedAgain, "failed again", NONE),
                (21, FAILED, "wait", NONE),
                (30, FAILED, "ask guards 2", NONE),
            ],
        ),
        case(
            "a broker replaying its logs is left alone, noted once",
            vec![
                (0, LOG_RECOVERY, "wait 0.25", &["recovering_by_itself"]),
                (10, LOG_RECOVERY, "wait 0.25", NONE),
                (29, LOG_RECOVERY, "wait 0.25", NONE),
            ],
        ),
        case(
            "its own recovery stalls: noted once, then acted on",
            vec![
                (0, LOG_RECOVERY, "wait", &["recovering_by_itself"]),
                (30, LOG_RECOVERY, "ask guards 1", &["self_recovery_stalled"]),
                (31, LOG_RECOVERY, "ask guards 1", NONE),
            ],
        ),
        case(
            "a new state is progress: the stall time runs again",
            vec![
                (0, STARTING, "wait", &["recovering_by_itself"]),
                (25, LOG_RECOVERY, "wait", &["recovering_by_itself"]),
                (50, LOG_RECOVERY, "wait", NONE),
                (55, LOG_RECOVERY, "ask guards 1", &["self_recovery_stalled"]),
            ],
        ),
        case(
            "the report ends without serving: act",
            vec![(0, LOG_RECOVERY, "wait", &["recovering_by_itself"]), (5, FAILED, "ask guards 1", NONE)],
        ),
        Case {
            ladder: NONE,
            ..case(
                "no action configured: escalated at once",
                vec![(0, FAILED, "escalate: no recovery action is configured", NONE)],
            )
        },
        case(
            "a failed attempt: backoff before the next, then the next",
            vec![
                (0, FAILED, "ask guards 1", NONE),
                (0, Admit, "attempt 1 script", NONE),
                (5, Finish(Attempted::Failed), "wait 0", NONE),
                (5, FAILED, "wait 0.25", NONE),
                (14, FAILED, "wait 0.25", NONE),
                (15, FAILED, "ask guards 2", NONE),
            ],
        ),
        case(
            "max attempts: escalated with the count",
            vec![
                (0, Admit, "attempt 1", NONE),
                (1, Finish(Attempted::Failed), "wait 0", NONE),
                (11, Admit, "attempt 2", NONE),
                (12, Finish(Attempted::Failed), "wait 0", NONE),
                (32, Admit, "attempt 3", NONE),
                (33, Finish(Attempted::Failed), "wait 0", NONE),
                (100, FAILED, "escalate: 3 attempts failed (max_attempts 3)", NONE),
            ],
        ),
        case(
            "a validated attempt closes it, ours",
            vec![(0, Admit, "attempt 1", NONE), (8, Finish(Attempted::Validated), "recovered by us", NONE)],
        ),
        case(
            "cancelled (it answered again): nothing counted, a second later again",
            vec![(0, Finish(Attempted::Cancelled), "wait 1", NONE), (1, FAILED, "ask guards 1", NONE)],
        ),
        case(
            "the store refused the attempt's record: five seconds later again",
            vec![(0, Finish(Attempted::NotRecorded), "wait 5", NONE), (5, FAILED, "ask guards 1", NONE)],
        ),
        Case {
            attempts_done: 1,
            last_end: Some(-4),
            ..case(
                "resumed after a restart: the backoff runs from the last recorded end",
                vec![(0, FAILED, "wait 0.25", NONE), (6, FAILED, "ask guards 2", NONE)],
            )
        },
        Case {
            attempts_done: 1,
            last_end: Some(-3600),
            ..case("resumed long after: the next attempt at once", vec![(0, FAILED, "ask guards 2", NONE)])
        },
        Case {
            attempts_done: 3,
            last_end: Some(-1),
            ..case(
                "resumed with every attempt spent: escalated",
                vec![(0, FAILED, "escalate: 3 attempts failed", NONE)],
            )
        },
        Case {
            ladder: &["restart_service", "script"],
            ..case(
                "the ladder: step n, the last repeating",
                vec![
                    (0, Unit("inactive", None), "ask guards 1", NONE),
                    (0, Admit, "attempt 1 restart_service with systemd", NONE),
                    (1, Finish(Attempted::Failed), "wait 0", NONE),
                    (11, FAILED, "ask guards 2", NONE),
                    (11, Admit, "attempt 2 script", NONE),
                ],
            )
        },
        Case {
            ladder: SYSTEMD,
            ..case(
                "restart_service: systemd is asked first",
                vec![(0, FAILED, "ask systemd", NONE), (0, Unit("inactive", None), "ask guards 1", NONE)],
            )
        },
        Case {
            ladder: SYSTEMD,
            ..case(
                "systemd restarts the unit itself: no restart on top, and the credit is systemd's",
                vec![
                    (0, Unit("activating", None), "wait 0.25", &["restarting_by_systemd"]),
                    (2, Unit("active", Some(1)), "wait 0.25", NONE),
                    (6, HEALTHY, "recovered by systemd", NONE),
                ],
            )
        },
        Case {
            ladder: SYSTEMD,
            ..case(
                "systemd's own restart stalls: noted once, then acted on",
                vec![
                    (0, Unit("activating", None), "wait", &["restarting_by_systemd"]),
                    (20, Unit("activating", None), "ask guards 1", &["systemd_restart_stalled"]),
                    (21, Unit("activating", None), "ask guards 1", NONE),
                    (21, Admit, "attempt 1 restart_service with systemd", NONE),
                ],
            )
        },
        Case {
            ladder: SYSTEMD,
            ..case(
                "systemd gave up (failed): the restart resets the unit first",
                vec![
                    (0, Unit("failed", None), "ask guards 1", NONE),
                    (0, Admit, "attempt 1 restart_service unit_failed with systemd", NONE),
                ],
            )
        },
        Case {
            ladder: SYSTEMD,
            ..case(
                "a unit active since before the failure is no restart in progress",
                vec![(5, Unit("active", None), "ask guards 1", NONE)],
            )
        },
        case(
            "a guard holds it back: noted once however its words change",
            vec![
                (0, Refuse("budget", RefusalKind::Wait, "20 actions in the last hour"), "wait 1", &["held"]),
                (1, Refuse("budget", RefusalKind::Wait, "21 actions in the last hour"), "wait 1", NONE),
                (2, Admit, "attempt 1", &["released"]),
            ],
        ),
        case(
            "another guard takes over: the first lets go, the second holds",
            vec![
                (0, Refuse("max_parallel", RefusalKind::Wait, "1 action runs"), "wait 1", &["held"]),
                (3, Refuse("paused", RefusalKind::Wait, "until resumed"), "wait 1", &["released", "held"]),
            ],
        ),
        case(
            "a guard that will not let go by itself is escalated after guard_wait",
            vec![
                (0, Refuse("min_isr", RefusalKind::Wait, "t-0 at min ISR"), "wait 1", &["held"]),
                (119, Refuse("min_isr", RefusalKind::Wait, "t-0 at min ISR"), "wait 1", NONE),
                (
                    120,
                    Refuse("min_isr", RefusalKind::Wait, "t-1 at min ISR"),
                    "escalate: held back by the `min_isr` guard for 120s (recovery.guard_wait_escalate_seconds is 120s): t-1",
                    NONE,
                ),
            ],
        ),
        case(
            "an operator's hold ends by itself: never escalated for its length",
            vec![
                (0, Refuse("maintenance", RefusalKind::Wait, "until 12:00"), "wait 1", &["held"]),
                (7200, Refuse("maintenance", RefusalKind::Wait, "until 12:00"), "wait 1", NONE),
            ],
        ),
        case(
            "a flapping node is escalated at once",
            vec![(
                0,
                Refuse("flapping", RefusalKind::Escalate, "5 changes in 10 minutes"),
                "escalate: 5 changes",
                NONE,
            )],
        ),
        Case {
            repeat: Some((1, -36)),
            ..case(
                "failed again 36 s after it recovered: told once, restarted after the policy's delay for a repeat",
                vec![
                    (0, FAILED, "wait 0.25", &["failed_again"]),
                    (1, FAILED, "wait 0.25", NONE),
                    (9, FAILED, "wait 0.25", NONE),
                    (10, FAILED, "ask guards 1", NONE),
                    (10, Admit, "attempt 1 script", NONE),
                ],
            )
        },
        Case {
            repeat: Some((2, -5)),
            ..case(
                "the second repeat in a row waits longer (initial × multiplier)",
                vec![
                    (0, FAILED, "wait", &["failed_again"]),
                    (19, FAILED, "wait", NONE),
                    (20, FAILED, "ask guards 1", NONE),
                ],
            )
        },
        Case {
            repeat: Some((1, -36)),
            ..case(
                "a repeat that serves again before its restart came back by itself",
                vec![(0, FAILED, "wait", &["failed_again"]), (3, HEALTHY, "recovered by nobody", NONE)],
            )
        },
        Case {
            repeat: Some((3, -20)),
            ..case(
                "restarts do not hold: the repeat that reaches max_attempts is escalated at once",
                vec![(
                    0,
                    FAILED,
                    "escalate: it failed again 20s after it recovered, the 3rd time in a row within recovery.cooldown_seconds",
                    NONE,
                )],
            )
        },
        Case {
            repeat: Some((1, -36)),
            ..case(
                "a repeat that flaps is escalated at once, not restarted",
                vec![(0, FlappingNow, "escalate: it failed again 36s after it recovered and is flapping", NONE)],
            )
        },
        Case {
            repeat: Some((1, -36)),
            ..case(
                "a broker replaying its logs after a repeat is still left alone first",
                vec![(0, LOG_RECOVERY, "wait 0.25", &["recovering_by_itself"])],
            )
        },
    ];
    assert!(cases.len() >= 25, "{} cases", cases.len());
    for c in &cases {
        run(c);
    }
}

#[test]
fn an_escalation_lists_each_guard_once_with_its_latest_words() {
    let mut life = Lifecycle::new(settings(SCRIPT, 3), 0, None, 0.0);
    for (guard, reason) in [("budget", "20 actions"), ("max_parallel", "busy"), ("budget", "21 actions")] {
        life.refused(&Refusal { guard, kind: RefusalKind::Wait, reason: reason.into() }, at(0));
    }
    assert_eq!(life.refusals(), ["budget: 21 actions", "max_parallel: busy"]);
    assert_eq!(life.hold().map(|h| h.guard), Some("budget"));
}

#[test]
fn ordinals_read_as_words() {
    let words: Vec<String> = [1, 2, 3, 4, 11, 12, 13, 21, 22, 101, 111].into_iter().map(ordinal).collect();
    assert_eq!(words, ["1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "101st", "111th"]);
}

fn stop_facts(now: Instant) -> StopFacts {
    StopFacts {
        broker_id: Some(2),
        zookeeper_mode: true,
        failed_since: Some(now),
        grace: Duration::from_secs(300),
        ..StopFacts::default()
    }
}

#[test]
fn the_opening_rules() {
    let t = Instant::now();
    let later = |s: u64| t + Duration::from_secs(s);
    let now_ms = 1_000_000;
    let open = |f: &Facts, s: u64| opening::open(f, now_ms, later(s));
    let base = Facts { stop: stop_facts(t), ..Facts::default() };
    let with = |f: &dyn Fn(&mut Facts)| {
        let mut facts = base.clone();
        f(&mut facts);
        facts
    };
    let cases: Vec<(&str, Facts, u64, Opening)> = vec![
        ("already worked on", with(&|f| f.active = true), 0, Opening::Handled),
        ("held after an escalation", with(&|f| f.held = true), 0, Opening::Handled),
        (
            "paused until resumed",
            with(&|f| f.pause = Some(Pause::UntilResumed)),
            0,
            Opening::HeldOff("recovery is paused until resumed".into()),
        ),
        (
            "a pause that is over",
            with(&|f| f.pause = Some(Pause::Until(now_ms - 1))),
            9,
            Opening::Open { grace_over: false },
        ),
        (
            "a blackout period",
            with(&|f| f.blackout = Some("02:00-04:00 UTC".into())),
            0,
            Opening::HeldOff("blackout period 02:00-04:00 UTC".into()),
        ),
        (
            "its maintenance window",
            with(&|f| f.maintenance = Some((now_ms + 60_000, "disk".into()))),
            0,
            Opening::InMaintenance(now_ms + 60_000, "disk".into()),
        ),
        (
            "ZooKeeper: deregistered within 3 s of the port closing is a clean stop",
            with(&|f| f.stop.deregistered_at = Some(later(1))),
            1,
            Opening::Planned(Stop::Detected(
                "its ZooKeeper registration was removed within 3 s of its port closing (a clean session close)",
            )),
        ),
        (
            "ZooKeeper: deregistered 18 s later is an expired session, a crash",
            with(&|f| f.stop.deregistered_at = Some(later(18))),
            18,
            Opening::Open { grace_over: false },
        ),
        (
            "no evidence yet: the few seconds a clean stop takes",
            base.clone(),
            2,
            Opening::Planned(Stop::AwaitingEvidence),
        ),
        ("no evidence after them: a crash", base.clone(), 4, Opening::Open { grace_over: false }),
        (
            "ZooKeeper: still leading what another replica could lead when its port closed: a crash, at once",
            with(&|f| f.stop.still_leads = Some(true)),
            0,
            Opening::Open { grace_over: false },
        ),
        (
            "KRaft: unfenced and still leading: a crash, at once",
            with(&|f| {
                f.stop.zookeeper_mode = false;
                f.stop.kraft_mode = true;
                f.stop.kraft_fenced = Some(false);
                f.stop.still_leads = Some(true);
            }),
            0,
            Opening::Open { grace_over: false },
        ),
        (
            "leading nothing another could take proves nothing: the evidence of a clean stop is awaited",
            with(&|f| f.stop.still_leads = Some(false)),
            1,
            Opening::Planned(Stop::AwaitingEvidence),
        ),
        (
            "KRaft: fenced wins over a metadata that still names it leader",
            with(&|f| {
                f.stop.zookeeper_mode = false;
                f.stop.kraft_mode = true;
                f.stop.kraft_fenced = Some(true);
                f.stop.still_leads = Some(true);
            }),
            0,
            Opening::Planned(Stop::Detected(
                "the controller fenced it within 3 s of its port closing (a controlled shutdown; a crash stays unfenced until its session times out)",
            )),
        ),
        (
            "KRaft: fenced at once is a controlled shutdown",
            with(&|f| {
                f.stop.zookeeper_mode = false;
                f.stop.kraft_mode = true;
                f.stop.kraft_fenced = Some(true);
            }),
            1,
            Opening::Planned(Stop::Detected(
                "the controller fenced it within 3 s of its port closing (a controlled shutdown; a crash stays unfenced until its session times out)",
            )),
        ),
        (
            "a hung broker is never a planned stop",
            with(&|f| {
                f.stop.hung = true;
                f.stop.deregistered_at = Some(later(1));
            }),
            1,
            Opening::Open { grace_over: false },
        ),
        (
            "a planned stop within its grace",
            with(&|f| f.stop.planned_since = Some(t)),
            299,
            Opening::Planned(Stop::InGrace),
        ),
        (
            "a planned stop past its grace",
            with(&|f| f.stop.planned_since = Some(t)),
            300,
            Opening::Open { grace_over: true },
        ),
        (
            "down since a maintenance window that ended: no second grace",
            with(&|f| {
                f.stop.failed_in_maintenance = true;
                f.stop.deregistered_at = Some(later(1));
            }),
            1,
            Opening::Open { grace_over: false },
        ),
        (
            "nothing to tell a clean stop by (no registrations, no KRaft)",
            with(&|f| f.stop.zookeeper_mode = false),
            0,
            Opening::Open { grace_over: false },
        ),
        ("not a broker", with(&|f| f.stop.broker_id = None), 0, Opening::Open { grace_over: false }),
    ];
    for (name, facts, s, expected) in cases {
        assert_eq!(open(&facts, s), expected, "{name}");
    }
}

#[test]
fn a_node_that_serves_again_is_rearmed_and_back_from_its_planned_stop() {
    let mut state = State::default();
    state.held.insert("kafka-1".into());
    state.planned_stops.insert("kafka-2".into(), Instant::now());
    state.failed_in_maintenance.insert("kafka-2".into());
    assert_eq!(state.serves_again("kafka-1"), Back { from_planned_stop: false, hold_released: true });
    assert_eq!(state.serves_again("kafka-2"), Back { from_planned_stop: true, hold_released: false });
    assert!(state.failed_in_maintenance.is_empty() && state.held.is_empty());
    assert_eq!(state.serves_again("kafka-2"), Back::default());
}
