//! Fuzzing configuration loading: YAML built from the schema's own keys with
//! hostile values (aliases, anchors, merges, tags, deep nesting, control
//! characters, huge numbers, `${VAR}`), and the shipped examples with bytes
//! changed. Whatever the file holds, loading gives a configuration or located
//! errors — never a panic, never an error without a message.

use std::path::Path;

use proptest::prelude::*;

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(1024)
}

/// Keys the schema knows (and a few it does not), so values reach the rules between keys.
const KEYS: &[&str] = &[
    "cluster",
    "name",
    "kafka_brokers",
    "kraft_controllers",
    "zookeeper_nodes",
    "node_id",
    "host",
    "port",
    "broker_id",
    "jmx_port",
    "admin_port",
    "monitoring_methods",
    "recovery_actions",
    "retry_policy",
    "monitoring",
    "interval_seconds",
    "timeout_seconds",
    "failure_threshold",
    "recovery_threshold",
    "methods",
    "blackout_periods",
    "start_time",
    "end_time",
    "days",
    "timezone",
    "jmx",
    "transport",
    "metrics_to_check",
    "http",
    "url",
    "command",
    "zookeeper",
    "four_letter_words",
    "recovery",
    "actions",
    "max_attempts",
    "initial_delay_seconds",
    "backoff_multiplier",
    "max_delay_seconds",
    "max_parallel",
    "max_failed_fraction",
    "restart_service",
    "service_manager",
    "ssh",
    "user",
    "script",
    "scripts",
    "ansible",
    "playbooks",
    "node_types",
    "kafka_broker",
    "notifications",
    "smtp",
    "slack",
    "webhook",
    "pagerduty",
    "alertmanager",
    "routing",
    "triggers",
    "templates",
    "rate_limiting",
    "logging",
    "level",
    "format",
    "audit",
    "security",
    "ssl",
    "sasl",
    "enabled",
    "mechanism",
    "password_env",
    "system",
    "state_dir",
    "metrics",
    "bind_address",
    "api",
    "token_file",
    "unknown_key",
    "<<",
];

fn scalar() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("~".to_string()),
        Just("true".to_string()),
        Just("-1".to_string()),
        Just("1e400".to_string()),
        Just("99999999999999999999999".to_string()),
        Just(".nan".to_string()),
        Just("0x1F".to_string()),
        Just("\"${HOME}\"".to_string()),
        Just("\"${UNSET:-fallback}\"".to_string()),
        Just("\"${\"".to_string()),
        Just("*a".to_string()),
        Just("!!binary aGk=".to_string()),
        Just("\"a\\nb\\u0000c\"".to_string()),
        Just("'it''s'".to_string()),
        Just("[1, [2, [3]]]".to_string()),
        Just("{a: {b: {c: d}}}".to_string()),
        Just("02:00".to_string()),
        Just("|\n    block\n    text".to_string()),
        any::<i64>().prop_map(|n| n.to_string()),
        any::<f64>().prop_map(|f| f.to_string()),
        "[a-z0-9_.:@/-]{0,12}".prop_map(|s| s),
        "\\PC{0,8}".prop_map(|s| format!("{s:?}")),
    ]
}

/// A YAML value `depth` levels deep, indented by `indent`.
fn value(depth: u32) -> BoxedStrategy<String> {
    if depth == 0 {
        return scalar().boxed();
    }
    prop_oneof![
        3 => scalar(),
        1 => proptest::collection::vec((proptest::sample::select(KEYS), value(depth - 1)), 0..4).prop_map(|entries| {
            let inner: Vec<String> = entries.into_iter().map(|(k, v)| format!("{k}: {v}")).collect();
            format!("{{{}}}", inner.join(", "))
        }),
        1 => proptest::collection::vec(value(depth - 1), 0..4).prop_map(|items| format!("[{}]", items.join(", "))),
        1 => value(depth - 1).prop_map(|v| format!("&a {v}")),
    ]
    .boxed()
}

fn document() -> impl Strategy<Value = String> {
    proptest::collection::vec((proptest::sample::select(KEYS), value(4)), 0..8)
        .prop_map(|sections| sections.into_iter().map(|(k, v)| format!("{k}: {v}\n")).collect::<String>())
}

fn examples() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut all: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();
    all.sort();
    all
}

/// Loading never panics, and every problem says what and where.
fn loads_or_says_where(text: &str) -> Result<(), TestCaseError> {
    // Discovery runs the executables in the directories a file names: none here.
    if text.contains("discovery") {
        return Ok(());
    }
    let env = |name: &str| (name == "HOME").then(|| "/root".to_string());
    if let Err(report) = crate::setup::parse_str(text, Path::new("fuzz.yaml"), &env) {
        prop_assert!(report.has_errors());
        // As YAML counts them: `\r\n`, a lone `\r` and `\n` each end a line; the
        // end of the file may be on the line after the last break.
        let lines = text.replace("\r\n", "\n").matches(['\n', '\r']).count() + 1;
        for d in report.errors() {
            prop_assert!(!d.message.trim().is_empty(), "an error without a message: {d:?}");
            if let Some(m) = d.mark {
                prop_assert!(m.line >= 1 && m.line <= lines.max(1), "{d:?} outside the {lines} lines of:\n{text}");
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn generated_configurations_load_or_say_where(text in document()) {
        loads_or_says_where(&text)?;
    }

    #[test]
    fn changed_examples_load_or_say_where(
        pick in any::<proptest::sample::Index>(),
        changes in proptest::collection::vec((any::<proptest::sample::Index>(), any::<u8>()), 1..6),
    ) {
        let all = examples();
        let mut bytes = all[pick.index(all.len())].clone().into_bytes();
        for (at, b) in changes {
            let i = at.index(bytes.len());
            bytes[i] = b;
        }
        loads_or_says_where(&String::from_utf8_lossy(&bytes))?;
    }

    #[test]
    fn arbitrary_text_loads_or_says_where(text in "\\PC{0,200}") {
        loads_or_says_where(&text)?;
    }
}
