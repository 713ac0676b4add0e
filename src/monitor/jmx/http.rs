//! MBeans over HTTP: a Jolokia agent (bulk read, JSON) or a Prometheus JMX
//! exporter (text format).
//!
//! Owns: the request to the agent and mapping its answer to readings —
//! including finding an MBean attribute among the exporter's metric names.
//! Must never: follow redirects, or read an unbounded body.

use std::time::Duration;

use serde_json::{Value, json};

use super::checks::{Metric, Reading};
use crate::monitor::Cause;
use crate::monitor::http::{error_chain, io_source};
use crate::monitor::io_cause;

/// Why an agent gave no readings; `failed` when it says the node is down.
#[derive(Debug)]
pub struct AgentError {
    pub cause: Cause,
    pub failed: bool,
    pub detail: String,
}

/// The most an agent may send: a Kafka broker's full exporter page is ~1 MiB.
const MAX_BODY: usize = 16 * 1024 * 1024;

async fn send(request: reqwest::RequestBuilder, url: &str, limit: Duration) -> Result<String, AgentError> {
    let response = match request.timeout(limit).send().await {
        Ok(r) => r,
        Err(e) => {
            let cause =
                if e.is_timeout() { Cause::Timeout } else { io_source(&e).map_or(Cause::NetworkError, io_cause) };
            return Err(AgentError { cause, failed: true, detail: format!("{url}: {}", error_chain(&e)) });
        }
    };
    let status = response.status().as_u16();
    if status == 401 || status == 403 {
        return Err(AgentError {
            cause: Cause::AuthenticationFailed,
            failed: false,
            detail: format!("{url}: HTTP {status}: check `monitoring.jmx.username`/`password`"),
        });
    }
    if status != 200 {
        return Err(AgentError {
            cause: Cause::ProbeError,
            failed: false,
            detail: format!("{url}: HTTP {status}: check `monitoring.jmx.url`"),
        });
    }
    let mut response = response;
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                body.extend_from_slice(&chunk);
                if body.len() > MAX_BODY {
                    return Err(AgentError {
                        cause: Cause::ProtocolError,
                        failed: false,
                        detail: format!("{url}: the answer is larger than {} MiB", MAX_BODY >> 20),
                    });
                }
            }
            Ok(None) => break,
            Err(e) => {
                let cause = if e.is_timeout() { Cause::Timeout } else { Cause::NetworkError };
                return Err(AgentError { cause, failed: true, detail: format!("{url}: {}", error_chain(&e)) });
            }
        }
    }
    Ok(String::from_utf8_lossy(&body).into_owned())
}

fn with_auth(request: reqwest::RequestBuilder, credentials: Option<(&str, &str)>) -> reqwest::RequestBuilder {
    match credentials {
        Some((user, password)) => request.basic_auth(user, Some(password)),
        None => request,
    }
}

/// One Jolokia bulk read of every metric.
pub async fn jolokia(
    client: &reqwest::Client,
    url: &str,
    credentials: Option<(&str, &str)>,
    metrics: &[Metric],
    limit: Duration,
) -> Result<Vec<Reading>, AgentError> {
    let body: Vec<Value> =
        metrics.iter().map(|m| json!({"type": "read", "mbean": m.mbean, "attribute": m.attribute})).collect();
    let request = client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(serde_json::to_vec(&body).unwrap_or_default());
    let request = with_auth(request, credentials);
    let text = send(request, url, limit).await?;
    parse_jolokia(&text, metrics.len()).map_err(|detail| AgentError {
        cause: Cause::ProtocolError,
        failed: false,
        detail: format!("{url}: {detail}"),
    })
}

fn parse_jolokia(text: &str, expected: usize) -> Result<Vec<Reading>, String> {
    let answer: Value = serde_json::from_str(text).map_err(|e| format!("not a Jolokia answer: {e}"))?;
    let Some(items) = answer.as_array() else {
        let error = answer["error"].as_str().unwrap_or("an object instead of a list");
        return Err(format!("Jolokia refused the bulk read: {error}"));
    };
    if items.len() != expected {
        return Err(format!("Jolokia answered {} reads of {expected}", items.len()));
    }
    Ok(items
        .iter()
        .map(|item| match (item["status"].as_u64(), &item["value"]) {
            (Some(200), Value::Number(n)) => n.as_f64().map_or(Reading::Error("not a number".into()), Reading::Value),
            (Some(200), other) => Reading::Error(format!("not a number: {}", short(&other.to_string()))),
            (Some(404), _) => Reading::NotFound,
            (status, _) => Reading::Error(format!(
                "status {}: {}",
                status.unwrap_or(0),
                short(item["error"].as_str().unwrap_or("no error text"))
            )),
        })
        .collect())
}

fn short(s: &str) -> String {
    s.chars().take(200).collect()
}

/// One scrape of a Prometheus JMX exporter; each metric is looked up in it.
pub async fn prometheus(
    client: &reqwest::Client,
    url: &str,
    credentials: Option<(&str, &str)>,
    metrics: &[Metric],
    limit: Duration,
) -> Result<Vec<Reading>, AgentError> {
    let request = with_auth(client.get(url), credentials);
    let text = send(request, url, limit).await?;
    let samples = parse_exposition(&text);
    if samples.is_empty() {
        return Err(AgentError {
            cause: Cause::ProtocolError,
            failed: false,
            detail: format!("{url}: no samples in the answer (is it a Prometheus exporter?)"),
        });
    }
    Ok(metrics.iter().map(|m| find(&samples, m)).collect())
}

/// One sample of the text exposition format.
#[derive(Debug, Clone, PartialEq)]
struct Sample {
    name: String,
    labels: Vec<(String, String)>,
    value: f64,
}

fn parse_exposition(text: &str) -> Vec<Sample> {
    text.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()).filter_map(parse_sample).collect()
}

fn parse_sample(line: &str) -> Option<Sample> {
    let (name, rest) = match line.find(['{', ' ']) {
        Some(i) => line.split_at(i),
        None => return None,
    };
    let mut labels = Vec::new();
    let rest = if let Some(body) = rest.strip_prefix('{') {
        let mut chars = body.char_indices().peekable();
        let mut end = None;
        while let Some((i, c)) = chars.next() {
            match c {
                '}' => {
                    end = Some(i);
                    break;
                }
                ',' | ' ' => continue,
                _ => {
                    let key_start = i;
                    let mut key_end = i;
                    for (j, c) in chars.by_ref() {
                        if c == '=' {
                            key_end = j;
                            break;
                        }
                    }
                    if chars.next().map(|(_, c)| c) != Some('"') {
                        return None;
                    }
                    let mut value = String::new();
                    while let Some((_, c)) = chars.next() {
                        match c {
                            '\\' => match chars.next().map(|(_, c)| c) {
                                Some('n') => value.push('\n'),
                                Some(other) => value.push(other),
                                None => return None,
                            },
                            '"' => break,
                            c => value.push(c),
                        }
                    }
                    labels.push((body[key_start..key_end].trim().to_string(), value));
                }
            }
        }
        &body[end? + 1..]
    } else {
        rest
    };
    let value = rest.split_whitespace().next()?.parse().ok()?;
    Some(Sample { name: name.to_string(), labels, value })
}

/// Finds `metric` among the exporter's samples. Two naming schemes are known:
/// the exporter's default (`kafka_server_KafkaServer_Value{name="BrokerState"}`:
/// domain, first key's value, attribute; other keys as labels) and the common
/// Kafka rule sets (`kafka_server_kafkaserver_brokerstate`, optionally with the
/// attribute appended).
fn find(samples: &[Sample], metric: &Metric) -> Reading {
    let Some((domain, keys)) = metric.mbean.split_once(':') else { return Reading::NotFound };
    let props: Vec<(&str, &str)> = keys.split(',').filter_map(|kv| kv.split_once('=')).collect();
    let Some((_, first)) = props.first() else { return Reading::NotFound };
    let norm = |s: &str| {
        s.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' }).collect::<String>()
    };
    let domain = norm(domain);
    let attribute = norm(&metric.attribute);
    let default_name = format!("{domain}_{}_{attribute}", norm(first));
    let values: Vec<String> = props.iter().map(|(_, v)| norm(v)).collect();
    let joined = format!("{domain}_{}", values.join("_"));
    let rule_names = [joined.clone(), format!("{joined}_{attribute}")];
    let strip = |n: &str| {
        let n = norm(n);
        n.strip_suffix("_total").map(str::to_string).unwrap_or(n)
    };
    for s in samples {
        let name = strip(&s.name);
        let default_match =
            name == default_name && props[1..].iter().all(|(k, v)| s.labels.iter().any(|(lk, lv)| lk == k && lv == v));
        if default_match {
            return Reading::Value(s.value);
        }
    }
    for s in samples {
        if rule_names.contains(&strip(&s.name)) {
            return Reading::Value(s.value);
        }
    }
    Reading::NotFound
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metric(mbean: &str, attribute: &str) -> Metric {
        Metric { mbean: mbean.into(), attribute: attribute.into() }
    }

    #[test]
    fn exporter_default_and_rule_names_are_found() {
        let text = "# HELP x\n# TYPE x gauge\n\
            kafka_server_KafkaServer_Value{name=\"BrokerState\",} 3.0\n\
            kafka_server_KafkaRequestHandlerPool_OneMinuteRate{name=\"RequestHandlerAvgIdlePercent\",} 0.75\n\
            kafka_server_replicamanager_underreplicatedpartitions 2\n\
            kafka_server_BrokerTopicMetrics_Count{name=\"MessagesInPerSec\",topic=\"a \\\"b\\\"\",} 7 1700000000\n";
        let samples = parse_exposition(text);
        assert_eq!(samples.len(), 4);
        assert_eq!(samples[3].labels[1], ("topic".to_string(), "a \"b\"".to_string()));
        let r = |m: &str, a: &str| find(&samples, &metric(m, a));
        assert_eq!(r("kafka.server:type=KafkaServer,name=BrokerState", "Value"), Reading::Value(3.0));
        assert_eq!(
            r("kafka.server:type=KafkaRequestHandlerPool,name=RequestHandlerAvgIdlePercent", "OneMinuteRate"),
            Reading::Value(0.75)
        );
        assert_eq!(r("kafka.server:type=ReplicaManager,name=UnderReplicatedPartitions", "Value"), Reading::Value(2.0));
        assert_eq!(
            r("kafka.server:type=BrokerTopicMetrics,name=MessagesInPerSec,topic=a \"b\"", "Count"),
            Reading::Value(7.0)
        );
        assert_eq!(r("kafka.controller:type=KafkaController,name=ActiveControllerCount", "Value"), Reading::NotFound);
        assert!(parse_sample("garbage").is_none());
        assert!(parse_sample("x{a=b} 1").is_none());
    }

    #[test]
    fn jolokia_answers_map_to_readings() {
        let text = r#"[{"status":200,"value":3},{"status":404,"error":"InstanceNotFound"},{"status":200,"value":{"a":1}},{"status":500,"error":"boom"}]"#;
        let r = parse_jolokia(text, 4).unwrap();
        assert_eq!(r[0], Reading::Value(3.0));
        assert_eq!(r[1], Reading::NotFound);
        assert!(matches!(&r[2], Reading::Error(e) if e.starts_with("not a number")));
        assert!(matches!(&r[3], Reading::Error(e) if e.contains("boom")));
        assert!(parse_jolokia(r#"{"error":"forbidden","status":403}"#, 4).unwrap_err().contains("forbidden"));
        assert!(parse_jolokia("[]", 4).is_err());
    }
}
