//! Fuzzing the API's request bodies: any bytes in a POST body get a 400 with
//! the reason, or a request the operator commands can carry out — never a
//! panic, and never a duration that overflows the clock.

use std::time::SystemTime;

use axum::body::Bytes;
use proptest::prelude::*;

use super::{body_object, duration_field, optional_string};
use crate::operate::{MAX_DURATION_SECS, parse_duration};

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(2048)
}

/// JSON-looking bodies: objects with the fields the endpoints know, and others.
fn body() -> impl Strategy<Value = String> {
    let key = proptest::sample::select(vec!["for", "reason", "node", "x", ""]);
    let value = prop_oneof![
        "[0-9]{0,25}[smhdw]{0,2}[0-9]{0,5}[smhdwx]?".prop_map(|s| format!("\"{s}\"")),
        Just("null".to_string()),
        any::<i64>().prop_map(|n| n.to_string()),
        Just("[\"1h\"]".to_string()),
        Just("{\"for\": \"1h\"}".to_string()),
        "\\PC{0,12}".prop_map(|s| serde_json::to_string(&s).unwrap()),
    ];
    prop_oneof![
        proptest::collection::vec((key, value), 0..4).prop_map(|kv| {
            let fields: Vec<String> = kv.into_iter().map(|(k, v)| format!("\"{k}\": {v}")).collect();
            format!("{{{}}}", fields.join(", "))
        }),
        "\\PC{0,40}",
        Just(" \n\t".to_string()),
        Just("[]".to_string()),
        Just("{\"for\": \"1h\"".to_string()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn any_body_is_a_request_or_a_clear_refusal(text in body(), raw in proptest::collection::vec(any::<u8>(), 0..64)) {
        for bytes in [Bytes::from(text.clone()), Bytes::from(raw.clone())] {
            let Ok(object) = body_object(&bytes) else { continue };
            if let Ok(Some(d)) = duration_field(&object, &["for", "reason"]) {
                prop_assert!(d.as_secs() <= MAX_DURATION_SECS);
                prop_assert!(SystemTime::now().checked_add(d).is_some());
            }
            let _ = optional_string(&object, "reason", &["for", "reason"]);
        }
    }

    #[test]
    fn durations_parse_or_say_how_to_write_them(text in "[0-9]{0,30}[smhdw]{0,3}[0-9]{0,30}[smhdwq ]{0,2}") {
        match parse_duration(&text) {
            Ok(d) => prop_assert!(d.as_secs() >= 1 && d.as_secs() <= MAX_DURATION_SECS, "{text}: {d:?}"),
            Err(e) => prop_assert!(e.contains(&format!("`{text}`")), "{e}"),
        }
    }
}

#[test]
fn a_duration_too_long_for_the_clock_is_refused_not_wrapped() {
    let err = parse_duration("99999999999999999999w").unwrap_err();
    assert!(err.contains("not a duration"), "{err}"); // more digits than a u64 holds
    let err = parse_duration("30000000000000000w").unwrap_err();
    assert!(err.contains("longer than 3650 days"), "{err}");
    let err = parse_duration("3651d").unwrap_err();
    assert!(err.contains("longer than 3650 days"), "{err}");
    assert_eq!(parse_duration("3650d").unwrap().as_secs(), MAX_DURATION_SECS);
}
