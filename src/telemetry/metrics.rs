//! The daemon's Prometheus metrics, in the text exposition format (0.0.4).
//!
//! Owns: the counters and the probe-latency histogram the other components
//! feed, and rendering them together with the gauges read at scrape time
//! (node states, open incidents, outbox depth, the process's own resources).
//! Must never: put a secret or an unbounded value in a label — labels are node
//! ids, method, action, guard, channel and trigger names from the configuration.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Duration;

use crate::config::LatencyLabels;

/// Upper bounds (seconds) of the probe-latency histogram's buckets.
pub const LATENCY_BUCKETS: [f64; 12] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

/// Every metric name we export, with its type and help; the Grafana dashboard
/// and the runbook use these names (a test checks the dashboard against them).
pub const FAMILIES: &[(&str, &str, &str)] = &[
    ("kafka_self_healing_build_info", "gauge", "Version of the running daemon (always 1)."),
    ("kafka_self_healing_up", "gauge", "1 while the daemon's loops are ticking."),
    (
        "kafka_self_healing_monitoring_latency_seconds",
        "histogram",
        "Time one probe of a node took, by node and method (or by role and method: system.metrics.latency_labels).",
    ),
    (
        "kafka_self_healing_monitoring_last_latency_seconds",
        "gauge",
        "Time the last probe of a node took, by node and method.",
    ),
    (
        "kafka_self_healing_probe_errors_total",
        "counter",
        "Probes that did not find a node healthy, by node, method and cause.",
    ),
    (
        "kafka_self_healing_node_state",
        "gauge",
        "1 for each node's current state (unknown, healthy, degraded, suspect, failed).",
    ),
    ("kafka_self_healing_node_up", "gauge", "1 when the node serves (healthy or degraded), else 0."),
    ("kafka_self_healing_cluster_healthy", "gauge", "1 when the cluster view finds no problem."),
    ("kafka_self_healing_monitor_isolated", "gauge", "1 when every node is unreachable from the daemon."),
    ("kafka_self_healing_open_incidents", "gauge", "Incidents being worked on."),
    ("kafka_self_healing_held_nodes", "gauge", "Escalated nodes no action touches until healthy or reset."),
    ("kafka_self_healing_paused", "gauge", "1 while an operator pause holds every recovery action."),
    ("kafka_self_healing_maintenance_nodes", "gauge", "Nodes in an operator's maintenance window."),
    (
        "kafka_self_healing_ha_role",
        "gauge",
        "Several healers: 1 for this healer's role (leader, follower, candidate), by instance.",
    ),
    ("kafka_self_healing_ha_epoch", "gauge", "Several healers: the fencing token of the term this healer knows of."),
    (
        "kafka_self_healing_ha_lease_age_seconds",
        "gauge",
        "Several healers: seconds since this healer last renewed its lease with the backend.",
    ),
    ("kafka_self_healing_recovery_attempts_total", "counter", "Recovery attempts finished, by node and action."),
    (
        "kafka_self_healing_recovery_success_total",
        "counter",
        "Recovery attempts after which the node served again, by node and action.",
    ),
    ("kafka_self_healing_incidents_opened_total", "counter", "Incidents opened, by node."),
    ("kafka_self_healing_escalations_total", "counter", "Incidents escalated to people, by node."),
    (
        "kafka_self_healing_catch_up_timeouts_total",
        "counter",
        "Brokers that served again but were not back in every ISR within recovery.isr_catch_up_timeout_seconds, by node.",
    ),
    ("kafka_self_healing_guard_refusals_total", "counter", "Attempts a safety guard held back, by guard."),
    (
        "kafka_self_healing_notifications_sent_total",
        "counter",
        "Notification deliveries, by channel, trigger and result (delivered, failed, dropped, suppressed).",
    ),
    ("kafka_self_healing_outbox_depth", "gauge", "Notifications waiting in the outbox."),
    ("kafka_self_healing_process_resident_memory_bytes", "gauge", "Resident memory of the daemon."),
    ("kafka_self_healing_process_cpu_seconds_total", "counter", "CPU time the daemon used."),
    (
        "kafka_self_healing_disk_used_ratio",
        "gauge",
        "Used fraction of the file system holding each path (state, logs).",
    ),
    (
        "kafka_self_healing_shedding",
        "gauge",
        "1 while the daemon is above system.memory_limit_mb and sheds optional work.",
    ),
];

type Labels = Vec<(&'static str, String)>;

#[derive(Default, Clone)]
struct Histogram {
    buckets: [u64; LATENCY_BUCKETS.len()],
    sum: f64,
    count: u64,
    /// The latest observation, for the per-node gauge.
    last: f64,
}

impl Histogram {
    fn add(&mut self, other: &Histogram) {
        for (b, o) in self.buckets.iter_mut().zip(other.buckets) {
            *b += o;
        }
        self.sum += other.sum;
        self.count += other.count;
    }
}

#[derive(Default)]
struct Inner {
    counters: BTreeMap<&'static str, BTreeMap<Labels, f64>>,
    latency: BTreeMap<Labels, Histogram>,
}

/// The counters and histogram fed while the daemon runs; cheap to share.
#[derive(Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

/// Values read at scrape time from the components that own them.
#[derive(Debug, Default, Clone)]
pub struct Gauges {
    /// (node id, role, state).
    pub nodes: Vec<(String, &'static str, &'static str)>,
    pub cluster_healthy: Option<bool>,
    pub isolated: bool,
    pub open_incidents: usize,
    pub held_nodes: usize,
    pub paused: bool,
    pub maintenance_nodes: usize,
    pub outbox_depth: Option<u32>,
    pub up: bool,
    pub process: Option<super::process::Sample>,
    pub shedding: bool,
    /// Several healers: (instance, role, epoch, seconds since the lease was renewed).
    pub ha: Option<(String, &'static str, Option<i64>, Option<f64>)>,
}

const HA_ROLES: [&str; 3] = ["leader", "follower", "candidate"];

const NODE_STATES: [&str; 5] = ["unknown", "healthy", "degraded", "suspect", "failed"];

impl Metrics {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn add(&self, family: &'static str, labels: Labels, by: f64) {
        *self.lock().counters.entry(family).or_default().entry(labels).or_default() += by;
    }

    /// One probe of `node` by `method`: its latency, and its cause when not healthy.
    pub fn probe(&self, node: &str, method: &str, latency: Duration, problem: Option<&str>) {
        let seconds = latency.as_secs_f64();
        {
            let mut inner = self.lock();
            let h = inner.latency.entry(vec![("node", node.to_string()), ("method", method.to_string())]).or_default();
            for (i, bound) in LATENCY_BUCKETS.iter().enumerate() {
                if seconds <= *bound {
                    h.buckets[i] += 1;
                }
            }
            h.sum += seconds;
            h.count += 1;
            h.last = seconds;
        }
        if let Some(cause) = problem {
            self.add(
                "kafka_self_healing_probe_errors_total",
                vec![("node", node.into()), ("method", method.into()), ("cause", cause.into())],
                1.0,
            );
        }
    }

    /// A recovery attempt finished; `success` when the node served again.
    pub fn attempt(&self, node: &str, action: &str, success: bool) {
        let labels: Labels = vec![("node", node.into()), ("action", action.into())];
        self.add("kafka_self_healing_recovery_attempts_total", labels.clone(), 1.0);
        // Present from the first attempt on, so a rate of zero successes is visible.
        self.add("kafka_self_healing_recovery_success_total", labels, if success { 1.0 } else { 0.0 });
    }

    pub fn incident_opened(&self, node: &str) {
        self.add("kafka_self_healing_incidents_opened_total", vec![("node", node.into())], 1.0);
    }

    pub fn escalated(&self, node: &str) {
        self.add("kafka_self_healing_escalations_total", vec![("node", node.into())], 1.0);
    }

    pub fn catch_up_timed_out(&self, node: &str) {
        self.add("kafka_self_healing_catch_up_timeouts_total", vec![("node", node.into())], 1.0);
    }

    pub fn guard_refused(&self, guard: &str) {
        self.add("kafka_self_healing_guard_refusals_total", vec![("guard", guard.into())], 1.0);
    }

    /// `result`: `delivered`, `failed` (will be retried), `dropped` (given up) or `suppressed` (rate limit).
    pub fn notification(&self, channel: &str, trigger: &str, result: &str, count: usize) {
        self.add(
            "kafka_self_healing_notifications_sent_total",
            vec![("channel", channel.into()), ("trigger", trigger.into()), ("result", result.into())],
            count as f64,
        );
    }

    /// The value of a counter, summed over the series matching `labels`.
    #[cfg(test)]
    pub fn counter(&self, family: &str, labels: &[(&str, &str)]) -> f64 {
        let inner = self.lock();
        inner
            .counters
            .get(family)
            .map(|series| {
                series
                    .iter()
                    .filter(|(l, _)| labels.iter().all(|(k, v)| l.iter().any(|(lk, lv)| lk == k && lv == v)))
                    .map(|(_, v)| v)
                    .sum()
            })
            .unwrap_or(0.0)
    }

    /// The whole exposition, `cluster` as a label on every sample; the
    /// latency histogram per node, or summed per role (`latency`).
    pub fn render(&self, cluster: &str, gauges: &Gauges, latency: LatencyLabels) -> String {
        let inner = self.lock();
        // Kept per node, shown per node or summed per role and method.
        let histograms: BTreeMap<Labels, Histogram> = match latency {
            LatencyLabels::Node => inner.latency.clone(),
            LatencyLabels::Role => {
                let role_of = |node: &str| {
                    gauges.nodes.iter().find(|(n, _, _)| n == node).map_or("unknown", |(_, role, _)| *role)
                };
                let mut by_role: BTreeMap<Labels, Histogram> = BTreeMap::new();
                for (labels, h) in &inner.latency {
                    let node = labels.iter().find(|(k, _)| *k == "node").map_or("", |(_, v)| v.as_str());
                    let method = labels.iter().find(|(k, _)| *k == "method").map_or("", |(_, v)| v.as_str());
                    let key = vec![("role", role_of(node).to_string()), ("method", method.to_string())];
                    by_role.entry(key).or_default().add(h);
                }
                by_role
            }
        };
        let mut out = String::with_capacity(8192);
        let c = ("cluster", cluster.to_string());
        for (name, kind, help) in FAMILIES {
            let mut samples: Vec<(String, Labels, f64)> = Vec::new();
            let plain = |labels: Labels, v: f64| (name.to_string(), labels, v);
            match *name {
                "kafka_self_healing_build_info" => {
                    samples.push(plain(vec![c.clone(), ("version", env!("CARGO_PKG_VERSION").into())], 1.0))
                }
                "kafka_self_healing_up" => samples.push(plain(vec![c.clone()], bool_f(gauges.up))),
                "kafka_self_healing_monitoring_last_latency_seconds" => {
                    for (labels, h) in &inner.latency {
                        let mut l = vec![c.clone()];
                        l.extend(labels.iter().cloned());
                        samples.push(plain(l, h.last));
                    }
                }
                "kafka_self_healing_monitoring_latency_seconds" => {
                    for (labels, h) in &histograms {
                        let mut base = vec![c.clone()];
                        base.extend(labels.iter().cloned());
                        for (i, bound) in LATENCY_BUCKETS.iter().enumerate() {
                            let mut l = base.clone();
                            l.push(("le", format_float(*bound)));
                            samples.push((format!("{name}_bucket"), l, h.buckets[i] as f64));
                        }
                        let mut inf = base.clone();
                        inf.push(("le", "+Inf".into()));
                        samples.push((format!("{name}_bucket"), inf, h.count as f64));
                        samples.push((format!("{name}_sum"), base.clone(), h.sum));
                        samples.push((format!("{name}_count"), base, h.count as f64));
                    }
                }
                "kafka_self_healing_node_state" => {
                    for (node, role, state) in &gauges.nodes {
                        for s in NODE_STATES {
                            let l = vec![
                                c.clone(),
                                ("node", node.clone()),
                                ("role", role.to_string()),
                                ("state", s.into()),
                            ];
                            samples.push(plain(l, bool_f(s == *state)));
                        }
                    }
                }
                "kafka_self_healing_ha_role" => {
                    if let Some((instance, role, ..)) = &gauges.ha {
                        for r in HA_ROLES {
                            let l = vec![c.clone(), ("instance", instance.clone()), ("role", r.into())];
                            samples.push(plain(l, bool_f(r == *role)));
                        }
                    }
                }
                "kafka_self_healing_ha_epoch" => {
                    if let Some((instance, _, Some(epoch), _)) = &gauges.ha {
                        samples.push(plain(vec![c.clone(), ("instance", instance.clone())], *epoch as f64));
                    }
                }
                "kafka_self_healing_ha_lease_age_seconds" => {
                    if let Some((instance, _, _, Some(age))) = &gauges.ha {
                        samples.push(plain(vec![c.clone(), ("instance", instance.clone())], *age));
                    }
                }
                "kafka_self_healing_node_up" => {
                    for (node, role, state) in &gauges.nodes {
                        let l = vec![c.clone(), ("node", node.clone()), ("role", role.to_string())];
                        samples.push(plain(l, bool_f(matches!(*state, "healthy" | "degraded"))));
                    }
                }
                "kafka_self_healing_cluster_healthy" => {
                    if let Some(h) = gauges.cluster_healthy {
                        samples.push(plain(vec![c.clone()], bool_f(h)));
                    }
                }
                "kafka_self_healing_monitor_isolated" => samples.push(plain(vec![c.clone()], bool_f(gauges.isolated))),
                "kafka_self_healing_open_incidents" => {
                    samples.push(plain(vec![c.clone()], gauges.open_incidents as f64))
                }
                "kafka_self_healing_held_nodes" => samples.push(plain(vec![c.clone()], gauges.held_nodes as f64)),
                "kafka_self_healing_paused" => samples.push(plain(vec![c.clone()], bool_f(gauges.paused))),
                "kafka_self_healing_maintenance_nodes" => {
                    samples.push(plain(vec![c.clone()], gauges.maintenance_nodes as f64))
                }
                "kafka_self_healing_outbox_depth" => {
                    if let Some(d) = gauges.outbox_depth {
                        samples.push(plain(vec![c.clone()], d as f64));
                    }
                }
                "kafka_self_healing_process_resident_memory_bytes" => {
                    if let Some(p) = &gauges.process {
                        samples.push(plain(vec![c.clone()], p.rss_bytes as f64));
                    }
                }
                "kafka_self_healing_process_cpu_seconds_total" => {
                    if let Some(p) = &gauges.process {
                        samples.push(plain(vec![c.clone()], p.cpu_seconds));
                    }
                }
                "kafka_self_healing_disk_used_ratio" => {
                    if let Some(p) = &gauges.process {
                        for (path, ratio) in &p.disks {
                            samples.push(plain(vec![c.clone(), ("path", path.clone())], *ratio));
                        }
                    }
                }
                "kafka_self_healing_shedding" => samples.push(plain(vec![c.clone()], bool_f(gauges.shedding))),
                counter => {
                    if let Some(series) = inner.counters.get(counter) {
                        for (labels, v) in series {
                            let mut l = vec![c.clone()];
                            l.extend(labels.iter().cloned());
                            samples.push(plain(l, *v));
                        }
                    }
                }
            }
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} {kind}");
            for (sample, labels, value) in samples {
                out.push_str(&sample);
                if !labels.is_empty() {
                    out.push('{');
                    for (i, (k, v)) in labels.iter().enumerate() {
                        if i > 0 {
                            out.push(',');
                        }
                        let _ = write!(out, "{k}=\"{}\"", escape(v));
                    }
                    out.push('}');
                }
                let _ = writeln!(out, " {}", format_float(value));
            }
        }
        out
    }
}

fn bool_f(b: bool) -> f64 {
    if b { 1.0 } else { 0.0 }
}

fn format_float(v: f64) -> String {
    if v.is_infinite() {
        return if v > 0.0 { "+Inf".into() } else { "-Inf".into() };
    }
    if v.fract() == 0.0 && v.abs() < 1e15 { format!("{}", v as i64) } else { format!("{v}") }
}

/// Label values: backslash, double quote and newline escaped.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative_and_labels_escaped() {
        let m = Metrics::default();
        m.probe("broker-1", "socket", Duration::from_millis(3), None);
        m.probe("broker-1", "socket", Duration::from_millis(300), Some("timeout"));
        m.notification("slack", "on_failure", "delivered", 1);
        let text = m.render("a\"b", &Gauges::default(), LatencyLabels::Node);
        assert!(text.contains(
            "kafka_self_healing_monitoring_latency_seconds_bucket{cluster=\"a\\\"b\",node=\"broker-1\",method=\"socket\",le=\"0.005\"} 1"
        ));
        assert!(text.contains(
            "kafka_self_healing_monitoring_latency_seconds_bucket{cluster=\"a\\\"b\",node=\"broker-1\",method=\"socket\",le=\"0.5\"} 2"
        ));
        assert!(text.contains("le=\"+Inf\"} 2"));
        assert!(text.contains("kafka_self_healing_probe_errors_total{cluster=\"a\\\"b\",node=\"broker-1\",method=\"socket\",cause=\"timeout\"} 1"));
        assert!(text.contains("kafka_self_healing_notifications_sent_total{cluster=\"a\\\"b\",channel=\"slack\",trigger=\"on_failure\",result=\"delivered\"} 1"));
        assert_eq!(m.counter("kafka_self_healing_notifications_sent_total", &[("channel", "slack")]), 1.0);
        // Every family has its HELP and TYPE once.
        for (name, kind, _) in FAMILIES {
            assert_eq!(text.matches(&format!("# TYPE {name} {kind}\n")).count(), 1, "{name}");
        }
    }

    #[test]
    fn recovery_success_is_exported_from_the_first_attempt() {
        let m = Metrics::default();
        m.attempt("broker-2", "restart_service", false);
        let text = m.render("c", &Gauges::default(), LatencyLabels::Node);
        assert!(text.contains(
            "kafka_self_healing_recovery_success_total{cluster=\"c\",node=\"broker-2\",action=\"restart_service\"} 0"
        ));
    }

    /// `promtool check metrics` (Prometheus's own linter) on `text`.
    fn promtool(text: &str) {
        use std::io::Write as _;
        let mut child = std::process::Command::new("promtool")
            .args(["check", "metrics"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("promtool runs (Debian's `prometheus` package; testing/setup.sh installs it)");
        child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success() && said.trim().is_empty(), "promtool: {said}");
    }

    #[test]
    fn role_labels_bound_a_fleets_scrape_and_both_forms_pass_promtool() {
        let m = Metrics::default();
        let nodes: Vec<(String, &'static str, &'static str)> =
            (0..2000).map(|i| (format!("kafka-{i}"), "kafka_broker", "healthy")).collect();
        for (n, _, _) in &nodes {
            for method in ["kafka_api", "kafka_metadata"] {
                m.probe(n, method, Duration::from_millis(4), None);
            }
        }
        let gauges = Gauges { nodes, ..Gauges::default() };
        let per_node = m.render("c", &gauges, LatencyLabels::Node);
        let per_role = m.render("c", &gauges, LatencyLabels::Role);
        let series = |text: &str, family: &str| text.lines().filter(|l| l.starts_with(&format!("{family}_"))).count();
        let histogram = "kafka_self_healing_monitoring_latency_seconds";
        // 12 buckets, +Inf, sum and count: 15 series per histogram.
        assert_eq!(series(&per_node, histogram), 2000 * 2 * 15);
        assert_eq!(series(&per_role, histogram), 2 * 15, "one histogram per role and method");
        assert!(
            per_role.contains(&format!(
                "{histogram}_count{{cluster=\"c\",role=\"kafka_broker\",method=\"kafka_api\"}} 2000"
            ))
        );
        // What a node costs with `role`: its state (5), up (1), last latency per method (2).
        let per_node_series = |text: &str| text.lines().filter(|l| l.contains("node=\"kafka-7\"")).count();
        assert_eq!(per_node_series(&per_node), 5 + 1 + 2 + 2 * 15);
        assert_eq!(per_node_series(&per_role), 5 + 1 + 2);
        eprintln!("2,000 brokers, 2 methods: {} bytes per node, {} bytes per role", per_node.len(), per_role.len());
        assert!(per_role.len() * 4 < per_node.len(), "{} vs {}", per_role.len(), per_node.len());
        // Both forms are what Prometheus expects, on a few nodes.
        let small = Metrics::default();
        small.probe("kafka-1", "kafka_api", Duration::from_millis(3), Some("timeout"));
        small.probe("zk-1", "zookeeper", Duration::from_millis(2), None);
        small.attempt("kafka-1", "restart_service", true);
        let few = Gauges {
            nodes: vec![("kafka-1".into(), "kafka_broker", "failed"), ("zk-1".into(), "zookeeper", "healthy")],
            ..Gauges::default()
        };
        promtool(&small.render("c", &few, LatencyLabels::Node));
        promtool(&small.render("c", &few, LatencyLabels::Role));
    }
}
