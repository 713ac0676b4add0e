//! `kafka-self-healing status`: asks a running daemon's HTTP API and prints
//! what it says, for people (a table) or programs (JSON).
//!
//! Owns: finding the daemon's URL (`--url`, else the configuration's
//! `system.metrics` address) and rendering `/api/v1/status` as a table.
//! Must never: guess — a daemon that does not answer is an error saying where
//! it looked, never an empty "all fine".

use std::time::Duration;

use serde_json::Value;

use crate::config::Config;

/// The daemon's base URL from its configuration (`0.0.0.0` is asked on 127.0.0.1).
pub fn url_of(config: &Config) -> String {
    let m = &config.system.metrics;
    let host = match m.bind_address.as_str() {
        "0.0.0.0" => "127.0.0.1".to_string(),
        "::" => "[::1]".to_string(),
        a if a.contains(':') => format!("[{a}]"),
        a => a.to_string(),
    };
    format!("http://{host}:{}", m.port)
}

/// `GET {url}/api/v1/status` as JSON.
pub async fn fetch_status(url: &str) -> Result<Value, String> {
    let client = crate::http_client::build(|b| b.timeout(Duration::from_secs(10))).0;
    let target = format!("{}/api/v1/status", url.trim_end_matches('/'));
    let response = client.get(&target).send().await.map_err(|e| {
        format!("the daemon does not answer at {target}: {e}; is it running (systemctl status kafka-self-healing), and is system.metrics enabled on that port?")
    })?;
    let code = response.status();
    let body = response.text().await.map_err(|e| format!("{target}: cannot read the answer: {e}"))?;
    if !code.is_success() {
        return Err(format!("{target} answered {code}: {}", body.chars().take(300).collect::<String>()));
    }
    serde_json::from_str(&body).map_err(|e| format!("{target} did not answer JSON: {e}"))
}

/// 0 healthy, 1 degraded or unknown, 2 failed — like `check`.
pub fn exit_code(status: &Value) -> u8 {
    match status["cluster"]["status"].as_str() {
        Some("healthy") => {
            let all_up = status["nodes"].as_array().is_some_and(|nodes| {
                nodes.iter().all(|n| matches!(n["shown"].as_str(), Some("healthy" | "maintenance")))
            });
            if all_up { 0 } else { 1 }
        }
        Some("failed") => 2,
        _ => 1,
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The status as a table.
pub fn table(status: &Value) -> String {
    let mut out = String::new();
    let c = &status["cluster"];
    let d = &status["daemon"];
    out.push_str(&format!(
        "Cluster {}: {}   (daemon {}, up {} s{}{})\n",
        text(&c["name"]),
        text(&c["status"]).to_uppercase(),
        text(&d["version"]),
        text(&d["uptime_seconds"]),
        if d["ready"].as_bool() == Some(true) { ", ready" } else { ", not ready yet" },
        if d["dry_run"].as_bool() == Some(true) { ", DRY RUN" } else { "" },
    ));
    let ha = &status["ha"];
    match ha["role"].as_str() {
        None | Some("standalone") => {}
        Some("leader") => out.push_str(&format!(
            "Healer {}: LEADER (epoch {}, lease renewed {} s ago)\n",
            text(&ha["instance"]),
            text(&ha["epoch"]),
            text(&ha["lease_age_s"])
        )),
        Some(role) => out.push_str(&format!(
            "Healer {}: {}; {}\n",
            text(&ha["instance"]),
            role.to_uppercase(),
            match ha["leader"].as_str() {
                Some(l) => format!("{l} leads (epoch {}) and acts; this healer only watches", text(&ha["epoch"])),
                None => "nobody leads: no healer acts".into(),
            }
        )),
    }
    if let Some(error) = ha["error"].as_str() {
        out.push_str(&format!("Coordination backend: {error}\n"));
    }
    if let Some(until) = d["paused_until"].as_str() {
        out.push_str(&format!(
            "Recovery PAUSED {}\n",
            if until == "until resumed" { until.into() } else { format!("until {until}") }
        ));
    }
    if let Some(event) = d["cluster_event"].as_str() {
        out.push_str(&format!("Holding every action: {event}\n"));
    }
    if d["healthy"].as_bool() == Some(false) {
        out.push_str("WARNING: a loop of the daemon stalled (see /health)\n");
    }
    let rows: Vec<[String; 7]> = status["nodes"]
        .as_array()
        .map(|nodes| {
            nodes
                .iter()
                .map(|n| {
                    [
                        text(&n["id"]),
                        text(&n["role"]),
                        text(&n["address"]),
                        text(&n["shown"]).to_uppercase(),
                        n["latency_ms"].as_f64().map_or("-".into(), |l| format!("{l:.1} ms")),
                        n["since_seconds"].as_f64().map_or("-".into(), |s| format!("{s:.0} s")),
                        text(&n["reason"]),
                    ]
                })
                .collect()
        })
        .unwrap_or_default();
    let header = ["NODE", "ROLE", "ADDRESS", "STATE", "LATENCY", "SINCE", "REASON"].map(String::from);
    let mut widths = header.clone().map(|h| h.len());
    for r in &rows {
        for (i, cell) in r.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    for r in std::iter::once(&header).chain(rows.iter()) {
        let line: Vec<String> = r
            .iter()
            .enumerate()
            .map(|(i, cell)| if i == 6 { cell.clone() } else { format!("{cell:<w$}", w = widths[i]) })
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    if let Some(problems) = c["problems"].as_array().filter(|p| !p.is_empty()) {
        out.push_str("Cluster findings:\n");
        for p in problems {
            out.push_str(&format!("  - {}\n", text(p)));
        }
    }
    match status["open_incidents"].as_array() {
        Some(list) if !list.is_empty() => {
            out.push_str("Open incidents:\n");
            for i in list {
                out.push_str(&format!(
                    "  {}  {}  {}  cause: {}  attempts: {}\n",
                    text(&i["id"]),
                    text(&i["node"]),
                    text(&i["phase"]),
                    text(&i["cause"]),
                    i["attempts"].as_array().map_or(0, Vec::len)
                ));
                let mut times = Vec::new();
                if let Some(s) = i["serve_s"].as_f64() {
                    times.push(format!("serving after {s:.1}s"));
                }
                if let Some(behind) = i["behind"].as_array().filter(|b| !b.is_empty()) {
                    let shown: Vec<String> = behind.iter().take(10).map(text).collect();
                    times.push(format!("behind on {} partition(s): {}", behind.len(), shown.join(", ")));
                }
                if !times.is_empty() {
                    out.push_str(&format!("    {}\n", times.join("; ")));
                }
            }
        }
        Some(_) => out.push_str("Open incidents: none\n"),
        None => out.push_str("Open incidents: unknown (the daemon's state store did not answer)\n"),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn with_ha(ha: Value) -> String {
        table(
            &json!({"cluster": {"name": "prod", "status": "healthy"}, "daemon": {"ready": true}, "ha": ha, "nodes": []}),
        )
    }

    #[test]
    fn the_table_says_who_leads_and_what_this_healer_is() {
        assert!(!with_ha(json!({"role": "standalone", "instance": "h1"})).contains("Healer"));
        let leader = with_ha(json!({"role": "leader", "instance": "h1", "epoch": 42, "lease_age_s": 1.2}));
        assert!(leader.contains("Healer h1: LEADER (epoch 42, lease renewed 1.2 s ago)"), "{leader}");
        let follower = with_ha(json!({"role": "follower", "instance": "h2", "leader": "h1", "epoch": 42}));
        assert!(
            follower.contains("Healer h2: FOLLOWER; h1 leads (epoch 42) and acts; this healer only watches"),
            "{follower}"
        );
        let lost = with_ha(json!({"role": "candidate", "instance": "h2", "error": "etcd did not answer within 1s"}));
        assert!(lost.contains("Healer h2: CANDIDATE; nobody leads: no healer acts"), "{lost}");
        assert!(lost.contains("Coordination backend: etcd did not answer within 1s"), "{lost}");
    }
}
