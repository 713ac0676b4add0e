//! Fuzzing what probes read from the outside: ZooKeeper's four-letter-word
//! answers and AdminServer JSON, a protocol plugin's stdout and exit code,
//! and a Nagios check's output. Whatever comes back, the probe's verdict
//! names what it saw — never a panic, never a healthy node from nonsense.

use std::time::Duration;

use proptest::prelude::*;
use serde_json::Value;

use super::zookeeper::{Word, read_admin, read_word};
use super::{Status, ZookeeperView, command, external_probe};
use crate::plugin::Kind;
use crate::plugin::external::{DEFAULT_TIMEOUT, External, RawRun, Style};

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(2048)
}

/// Any JSON value, a few levels deep, with the keys the readers look for.
fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        "\\PC{0,12}".prop_map(Value::String),
        proptest::sample::select(vec!["healthy", "degraded", "failed", "unknown", "leader", "follower"])
            .prop_map(|s| Value::String(s.into())),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        let key = proptest::sample::select(vec![
            "status",
            "message",
            "metrics",
            "error",
            "server_stats",
            "server_state",
            "node_count",
            "synced_followers",
            "success",
            "x",
        ]);
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::vec((key, inner), 0..5)
                .prop_map(|kv| Value::Object(kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect())),
        ]
    })
}

/// Four-letter-word answers: real shapes with their fields changed, and noise.
fn answer() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("imok".to_string()),
        "Zookeeper version: 3\\.8\\.[0-9]\nMode: (leader|follower|standalone|)\nZxid: 0x[0-9a-f]{0,20}\nNode count: [0-9-]{0,25}\n",
        "zk_server_state\t(leader|follower|x)\nzk_synced_followers\t[0-9-]{0,25}\n",
        Just("This ZooKeeper instance is not currently serving requests".to_string()),
        Just("srvr is not executed because it is not in the whitelist.".to_string()),
        "\\PC{0,120}",
        "(Mode:|Zxid:|Node count:|zk_server_state\t|\n|\t| ){0,12}",
    ]
}

fn plugin(style: Style) -> External {
    External {
        name: "fuzzed".into(),
        kind: Kind::Monitor,
        path: "/usr/lib/kafka-self-healing/plugins/monitoring/fuzzed".into(),
        style,
        timeout: DEFAULT_TIMEOUT,
        timeout_asked: false,
        description: String::new(),
        manifest: "describe".into(),
        config_schema: None,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn four_letter_word_answers_are_read_or_named(
        word in proptest::sample::select(vec!["ruok", "srvr", "stat", "mntr", "conf"]),
        text in answer(),
    ) {
        let mut view = ZookeeperView::default();
        match read_word(word, &text, &mut view) {
            Word::Failed(o) => prop_assert!(o.status == Status::Failed && !o.detail.is_empty()),
            Word::Served => prop_assert!(word != "ruok" || text.trim() == "imok"),
            Word::Skipped => {}
        }
    }

    #[test]
    fn admin_server_answers_are_read_or_named(srvr in json(), monitor in proptest::option::of(json())) {
        let o = read_admin(&srvr, monitor.as_ref());
        prop_assert!(!o.detail.is_empty());
        if o.status == Status::Healthy {
            let mode = srvr["server_stats"]["server_state"].as_str().unwrap_or_default();
            prop_assert!(!mode.is_empty() && srvr["error"].as_str().is_none(), "healthy from {srvr}");
        }
    }

    #[test]
    fn protocol_plugin_output_is_a_verdict_or_a_named_plugin_error(
        stdout in prop_oneof![json().prop_map(|v| v.to_string().into_bytes()), proptest::collection::vec(any::<u8>(), 0..80)],
        stderr in proptest::collection::vec(any::<u8>(), 0..40),
        exit_code in proptest::option::of(-3i32..300),
    ) {
        let raw = RawRun { exit_code, stdout: stdout.clone(), stderr, duration: Duration::ZERO };
        let o = external_probe::read(&plugin(Style::Protocol), &raw);
        if o.status != Status::Unknown {
            // A verdict needs exit 0 and one JSON object with a known status.
            let answer: Value = serde_json::from_slice(&stdout).unwrap_or_default();
            prop_assert_eq!(exit_code, Some(0));
            prop_assert!(matches!(answer["status"].as_str(), Some("healthy" | "degraded" | "failed")), "{}", answer);
        } else {
            prop_assert!(!o.detail.is_empty());
        }
    }

    #[test]
    fn nagios_output_is_a_verdict(out in proptest::collection::vec(any::<u8>(), 0..120), code in proptest::option::of(-3i32..300)) {
        let o = command::nagios(code, &out);
        prop_assert!(!o.detail.is_empty());
        prop_assert_eq!(o.status == Status::Healthy, code == Some(0));
    }
}
