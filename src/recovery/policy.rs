//! The retry policy and the action ladder: pure arithmetic.

use std::time::Duration;

use crate::config::{Config, NodeConfig};

/// When attempts come and how many.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub initial_delay: Duration,
    pub multiplier: f64,
    pub max_delay: Duration,
}

/// Up to ±10 % of a delay, so nodes that failed together are not retried in lockstep.
pub const JITTER: f64 = 0.1;

impl RetryPolicy {
    /// `recovery.*`, overridden key by key by the node's `retry_policy`.
    pub fn for_node(config: &Config, node: Option<&NodeConfig>) -> Self {
        let r = &config.recovery;
        let o = node.and_then(|n| n.retry_policy.as_ref());
        RetryPolicy {
            max_attempts: o.and_then(|o| o.max_attempts).unwrap_or(r.max_attempts).max(1),
            initial_delay: o.and_then(|o| o.initial_delay_seconds).unwrap_or(r.initial_delay_seconds).duration(),
            multiplier: o.and_then(|o| o.backoff_multiplier).unwrap_or(r.backoff_multiplier).max(1.0),
            max_delay: o.and_then(|o| o.max_delay_seconds).unwrap_or(r.max_delay_seconds).duration(),
        }
    }

    /// The pause before attempt `n` (1-based): none before the first;
    /// `min(initial × multiplier^(n-2), max)` before the others, scaled by
    /// `1 + jitter × JITTER` with `jitter` in [-1, 1].
    pub fn delay_before(&self, n: u32, jitter: f64) -> Duration {
        if n <= 1 {
            return Duration::ZERO;
        }
        let base = self.initial_delay.as_secs_f64() * self.multiplier.powi(n as i32 - 2);
        let capped = base.min(self.max_delay.as_secs_f64());
        let jittered = capped * (1.0 + jitter.clamp(-1.0, 1.0) * JITTER);
        Duration::from_secs_f64(jittered.max(0.0))
    }
}

/// The action of attempt `n` (1-based): step n of the ladder, the last step repeating.
pub fn ladder_step(ladder: &[String], n: u32) -> Option<&str> {
    let i = (n.max(1) as usize - 1).min(ladder.len().checked_sub(1)?);
    ladder.get(i).map(String::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 5,
            initial_delay: Duration::from_secs(10),
            multiplier: 2.0,
            max_delay: Duration::from_secs(60),
        }
    }

    #[test]
    fn delays_grow_by_the_multiplier_up_to_the_cap() {
        let p = policy();
        let d: Vec<u64> = (1..=6).map(|n| p.delay_before(n, 0.0).as_secs()).collect();
        assert_eq!(d, [0, 10, 20, 40, 60, 60]);
        assert_eq!(p.delay_before(2, 1.0), Duration::from_secs(11));
        assert_eq!(p.delay_before(2, -1.0), Duration::from_secs(9));
        assert_eq!(p.delay_before(1, 1.0), Duration::ZERO, "the first attempt starts at once");
    }

    #[test]
    fn the_last_step_of_the_ladder_repeats() {
        let ladder: Vec<String> = ["restart_service", "ansible"].iter().map(|s| s.to_string()).collect();
        let steps: Vec<_> = (1..=4).map(|n| ladder_step(&ladder, n).unwrap()).collect();
        assert_eq!(steps, ["restart_service", "ansible", "ansible", "ansible"]);
        assert_eq!(ladder_step(&[], 1), None);
    }

    #[test]
    fn node_type_policies_sit_between_the_node_and_recovery() {
        let yaml = "cluster:\n  kafka_brokers:\n    - {node_id: a, host: h, retry_policy: {max_attempts: 2}}\n  zookeeper_nodes:\n    - {node_id: z, host: h}\n\
                    recovery:\n  initial_delay_seconds: 3\n  node_types:\n    kafka_broker: {max_attempts: 9, initial_delay_seconds: 5}\n\
                    \x20   zookeeper: {actions: [script], max_attempts: 7}\n";
        let loaded = crate::setup::parse_str(yaml, std::path::Path::new("t.yaml"), &|_| None).unwrap();
        let c = &loaded.config;
        let broker = RetryPolicy::for_node(c, Some(&c.cluster.kafka_brokers[0]));
        assert_eq!((broker.max_attempts, broker.initial_delay), (2, Duration::from_secs(5)), "node, then type");
        let zk = &c.cluster.zookeeper_nodes[0];
        let p = RetryPolicy::for_node(c, Some(zk));
        assert_eq!((p.max_attempts, p.initial_delay), (7, Duration::from_secs(3)), "type, then recovery");
        assert_eq!(zk.recovery_actions.as_deref(), Some(&["script".to_string()][..]));
    }

    #[test]
    fn node_overrides_apply_key_by_key() {
        let yaml = "cluster:\n  kafka_brokers:\n    - {node_id: a, host: h, retry_policy: {max_attempts: 2}}\n\
                    recovery: {initial_delay_seconds: 3, max_delay_seconds: 7}\n";
        let loaded = crate::setup::parse_str(yaml, std::path::Path::new("t.yaml"), &|_| None).unwrap();
        let node = &loaded.config.cluster.kafka_brokers[0];
        let p = RetryPolicy::for_node(&loaded.config, Some(node));
        assert_eq!(p.max_attempts, 2);
        assert_eq!(p.initial_delay, Duration::from_secs(3));
        assert_eq!(p.max_delay, Duration::from_secs(7));
    }
}
