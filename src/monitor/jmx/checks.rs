//! What the `jmx` probe reads and how it judges the values: pure functions.
//!
//! Owns: the built-in broker MBeans, the `metrics_to_check` syntax, and the
//! verdict from a set of readings.
//! Must never: do I/O, or call a node failed on a metric alone — only
//! BrokerState says whether a broker serves; every other metric can at most
//! make it `degraded` (a restart because of a metric would make things worse).

use crate::monitor::{Cause, Outcome};
use crate::topology::Role;

/// One MBean attribute to read.
#[derive(Debug, Clone, PartialEq)]
pub struct Metric {
    pub mbean: String,
    pub attribute: String,
}

impl Metric {
    fn new(mbean: &str, attribute: &str) -> Self {
        Metric { mbean: mbean.to_string(), attribute: attribute.to_string() }
    }
}

/// What reading one attribute gave.
#[derive(Debug, Clone, PartialEq)]
pub enum Reading {
    Value(f64),
    /// The MBean or attribute does not exist on this node.
    NotFound,
    /// It exists but is not a number, or could not be read.
    Error(String),
}

/// A comparison in `metrics_to_check`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Op {
    Gt,
    Ge,
    Lt,
    Le,
    Eq,
    Ne,
}

impl Op {
    fn symbol(self) -> &'static str {
        match self {
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Eq => "==",
            Op::Ne => "!=",
        }
    }
    fn holds(self, value: f64, limit: f64) -> bool {
        match self {
            Op::Gt => value > limit,
            Op::Ge => value >= limit,
            Op::Lt => value < limit,
            Op::Le => value <= limit,
            Op::Eq => value == limit,
            Op::Ne => value != limit,
        }
    }
}

/// One entry of `monitoring.jmx.metrics_to_check`.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    pub metric: Metric,
    /// Degraded when the comparison holds.
    pub threshold: Option<(Op, f64)>,
}

/// Parses `MBEAN[::ATTRIBUTE] [OP NUMBER]`.
pub fn parse_check(text: &str) -> Result<Check, String> {
    let text = text.trim();
    let ops = [(">=", Op::Ge), ("<=", Op::Le), ("==", Op::Eq), ("!=", Op::Ne), (">", Op::Gt), ("<", Op::Lt)];
    let (name, threshold) = match ops.iter().find_map(|(s, op)| text.find(s).map(|i| (i, *s, *op))) {
        Some((i, symbol, op)) => {
            let number = text[i + symbol.len()..].trim();
            let limit: f64 = number
                .parse()
                .map_err(|_| format!("`{number}` after `{symbol}` is not a number (write e.g. `> 0` or `< 0.3`)"))?;
            (text[..i].trim(), Some((op, limit)))
        }
        None => (text, None),
    };
    let (mbean, attribute) = match name.split_once("::") {
        Some((m, a)) => (m.trim(), a.trim()),
        None => (name, "Value"),
    };
    let Some((domain, keys)) = mbean.split_once(':') else {
        return Err(format!("`{mbean}` is not an MBean name (`domain:key=value,...`)"));
    };
    if domain.is_empty() || keys.is_empty() || keys.split(',').any(|kv| !kv.contains('=')) {
        return Err(format!("`{mbean}` is not an MBean name (`domain:key=value,...`)"));
    }
    if attribute.is_empty() || attribute.contains(char::is_whitespace) {
        return Err(format!("`{attribute}` is not an attribute name"));
    }
    Ok(Check { metric: Metric::new(mbean, attribute), threshold })
}

/// The built-in metrics, in the order `evaluate` expects their readings.
pub fn builtin_metrics() -> Vec<Metric> {
    vec![
        Metric::new("kafka.server:type=KafkaServer,name=BrokerState", "Value"),
        Metric::new("kafka.server:type=ReplicaManager,name=UnderReplicatedPartitions", "Value"),
        Metric::new("kafka.controller:type=KafkaController,name=OfflinePartitionsCount", "Value"),
        Metric::new("kafka.controller:type=KafkaController,name=ActiveControllerCount", "Value"),
        Metric::new("kafka.server:type=KafkaRequestHandlerPool,name=RequestHandlerAvgIdlePercent", "OneMinuteRate"),
    ]
}

/// Request handlers idle less than this fraction of the time: overloaded.
const MIN_IDLE: f64 = 0.2;

/// Kafka's BrokerState values (same numbers in ZooKeeper mode and KRaft).
fn broker_state_name(state: f64) -> &'static str {
    match state as i64 {
        0 => "not running",
        1 => "starting",
        2 => "recovering from an unclean shutdown",
        3 => "running",
        4 => "pending controlled shutdown (old)",
        6 => "pending controlled shutdown",
        7 => "shutting down",
        _ => "unknown",
    }
}

/// Judges the readings of `builtin_metrics()` followed by those of `checks`.
pub fn evaluate(role: Role, readings: &[Reading], checks: &[Check]) -> Outcome {
    let builtin = builtin_metrics().len();
    let get = |i: usize| readings.get(i).cloned().unwrap_or(Reading::NotFound);
    let mut parts = Vec::new();
    let mut worst: Option<Outcome> = None;
    let note = |o: Outcome, worst: &mut Option<Outcome>| {
        if worst.as_ref().is_none_or(|w| o.status > w.status) {
            *worst = Some(o);
        }
    };

    match get(0) {
        Reading::Value(state) => {
            let name = broker_state_name(state);
            parts.push(format!("BrokerState={} ({name})", state as i64));
            let cause = match state as i64 {
                3 => None,
                1 => Some(Cause::Starting),
                2 => Some(Cause::LogRecovery),
                4 | 6 | 7 => Some(Cause::ShuttingDown),
                _ => Some(Cause::NotServing),
            };
            if let Some(cause) = cause {
                note(Outcome::failed(cause, ""), &mut worst);
            }
        }
        Reading::NotFound if role == Role::KraftController => {}
        Reading::NotFound => {
            parts.push("no BrokerState MBean".into());
            note(Outcome::unknown(Cause::ProbeError, ""), &mut worst);
        }
        Reading::Error(e) => {
            parts.push(format!("BrokerState unreadable: {e}"));
            note(Outcome::unknown(Cause::ProbeError, ""), &mut worst);
        }
    }
    if let Reading::Value(urp) = get(1) {
        parts.push(format!("{} under-replicated", urp as i64));
        if urp > 0.0 {
            note(Outcome::degraded(Cause::UnderReplicated, ""), &mut worst);
        }
    }
    if let Reading::Value(offline) = get(2) {
        parts.push(format!("{} offline partitions", offline as i64));
        if offline > 0.0 {
            note(Outcome::degraded(Cause::OfflinePartitions, ""), &mut worst);
        }
    }
    if let Reading::Value(active) = get(3) {
        parts.push(format!("active controller {}", if active >= 1.0 { "here" } else { "elsewhere" }));
    }
    if let Reading::Value(idle) = get(4) {
        // The meter reads exactly 0 until its first tick (5 s after start-up): not measured yet.
        if idle > 0.0 {
            parts.push(format!("request handlers {:.0}% idle", idle * 100.0));
            if idle < MIN_IDLE {
                note(Outcome::degraded(Cause::Overloaded, ""), &mut worst);
            }
        }
    }
    for (i, check) in checks.iter().enumerate() {
        let label = format!("{}::{}", check.metric.mbean, check.metric.attribute);
        match get(builtin + i) {
            Reading::Value(v) => match check.threshold {
                Some((op, limit)) if op.holds(v, limit) => {
                    parts.push(format!("{label}={v} ({} {limit})", op.symbol()));
                    note(Outcome::degraded(Cause::CheckWarning, ""), &mut worst);
                }
                _ => parts.push(format!("{label}={v}")),
            },
            Reading::NotFound => parts.push(format!("{label} not found")),
            Reading::Error(e) => parts.push(format!("{label} unreadable: {e}")),
        }
    }
    let detail = parts.join(", ");
    match worst {
        None => Outcome::healthy(detail),
        Some(mut o) => {
            o.detail = detail;
            o
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::monitor::Status;

    fn values(v: &[f64]) -> Vec<Reading> {
        v.iter().map(|x| Reading::Value(*x)).collect()
    }

    #[test]
    fn checks_parse_with_attribute_and_threshold() {
        let c = parse_check("kafka.server:type=ReplicaManager,name=UnderReplicatedPartitions > 0").unwrap();
        assert_eq!(c.metric.attribute, "Value");
        assert_eq!(c.threshold, Some((Op::Gt, 0.0)));
        let c = parse_check("kafka.network:type=RequestChannel,name=RequestQueueSize::Value >= 500").unwrap();
        assert_eq!(c.metric.mbean, "kafka.network:type=RequestChannel,name=RequestQueueSize");
        assert_eq!(c.threshold, Some((Op::Ge, 500.0)));
        let c = parse_check("java.lang:type=Memory::HeapMemoryUsage").unwrap();
        assert_eq!((c.metric.attribute.as_str(), c.threshold), ("HeapMemoryUsage", None));
        assert!(parse_check("UnderReplicatedPartitions").unwrap_err().contains("not an MBean name"));
        assert!(parse_check("a:b=c > lots").unwrap_err().contains("not a number"));
        assert!(parse_check("a:b > 1").unwrap_err().contains("not an MBean name"));
    }

    #[test]
    fn broker_state_decides_serving_and_metrics_only_degrade() {
        let running = evaluate(Role::KafkaBroker, &values(&[3.0, 0.0, 0.0, 1.0, 0.97]), &[]);
        assert_eq!(running.status, Status::Healthy);
        assert_eq!(
            running.detail,
            "BrokerState=3 (running), 0 under-replicated, 0 offline partitions, active controller here, request handlers 97% idle"
        );
        let recovering = evaluate(Role::KafkaBroker, &values(&[2.0, 0.0]), &[]);
        assert_eq!((recovering.status, recovering.cause), (Status::Failed, Some(Cause::LogRecovery)));
        let starting = evaluate(Role::KafkaBroker, &values(&[1.0]), &[]);
        assert_eq!(starting.cause, Some(Cause::Starting));
        let stopping = evaluate(Role::KafkaBroker, &values(&[6.0]), &[]);
        assert_eq!(stopping.cause, Some(Cause::ShuttingDown));
        let urp = evaluate(Role::KafkaBroker, &values(&[3.0, 4.0, 0.0, 0.0, 0.05]), &[]);
        assert_eq!((urp.status, urp.cause), (Status::Degraded, Some(Cause::UnderReplicated)));
        assert!(urp.detail.contains("4 under-replicated") && urp.detail.contains("5% idle"));
    }

    #[test]
    fn missing_mbeans_and_thresholds() {
        let none = vec![Reading::NotFound; 5];
        assert_eq!(evaluate(Role::KafkaBroker, &none, &[]).status, Status::Unknown);
        // A dedicated KRaft controller has no BrokerState.
        let mut controller = none.clone();
        controller[3] = Reading::Value(1.0);
        let o = evaluate(Role::KraftController, &controller, &[]);
        assert_eq!((o.status, o.detail.as_str()), (Status::Healthy, "active controller here"));
        // The idle meter reads 0 before its first tick: not "overloaded".
        assert_eq!(evaluate(Role::KafkaBroker, &values(&[3.0, 0.0, 0.0, 0.0, 0.0]), &[]).status, Status::Healthy);
        let check = parse_check("a:type=B::Count > 10").unwrap();
        let mut r = values(&[3.0, 0.0, 0.0, 0.0, 0.9]);
        r.push(Reading::Value(11.0));
        let o = evaluate(Role::KafkaBroker, &r, std::slice::from_ref(&check));
        assert_eq!((o.status, o.cause), (Status::Degraded, Some(Cause::CheckWarning)));
        assert!(o.detail.ends_with("a:type=B::Count=11 (> 10)"), "{}", o.detail);
        r[5] = Reading::Value(3.0);
        assert_eq!(evaluate(Role::KafkaBroker, &r, &[check]).status, Status::Healthy);
    }
}
