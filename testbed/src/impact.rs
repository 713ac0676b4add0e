//! What clients see through a failure: Kafka's own `VerifiableProducer`
//! (acks=all, idempotence on) and `VerifiableConsumer` — the tools Kafka's
//! system tests use for exactly this — run against the bed, and the cluster's
//! partitions sampled with a real client (`kcat`) while it happens.
//!
//! Owns: starting and stopping the two clients, collecting their JSON events,
//! and the arithmetic of what they saw (acknowledged messages lost,
//! duplicates, seconds with send errors or without any acknowledgement).
//! Must never: decide what a scenario does (the benchmark and the tests do).

use std::collections::{BTreeSet, HashMap};
use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};

use crate::Cluster;

/// Milliseconds since the Unix epoch (the clients' own timestamps).
pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// What the producer and the consumer reported, as they reported it.
#[derive(Debug, Default)]
struct Seen {
    /// (value, acknowledged at ms).
    acked: Vec<(String, i64)>,
    /// Send errors, at ms.
    errors: Vec<i64>,
    /// Values consumed (with repeats).
    consumed: Vec<String>,
}

/// The two clients on one topic.
pub struct Clients {
    producer: Child,
    consumer: Child,
    seen: Arc<Mutex<Seen>>,
    readers: Vec<std::thread::JoinHandle<()>>,
}

/// Creates `topic` with replication factor 3 and `min.insync.replicas` 2.
pub fn create_topic(cluster: &Cluster, topic: &str, partitions: u32) -> anyhow::Result<()> {
    cluster.create_topic_with(topic, partitions, 3, &["min.insync.replicas=2"])
}

impl Clients {
    /// Starts the consumer, waits until it has joined its group, then the
    /// producer at `throughput` messages a second.
    pub fn start(cluster: &Cluster, topic: &str, throughput: u32) -> anyhow::Result<Clients> {
        let bootstrap = cluster.bootstrap_servers();
        let config = cluster.dir().join(format!("producer-{topic}.properties"));
        // VerifiableProducer sets `retries=0` unless told; idempotence needs retries.
        std::fs::write(&config, "enable.idempotence=true\nretries=2147483647\n")?;
        let seen = Arc::new(Mutex::new(Seen::default()));
        let group = format!("impact-{topic}");
        let mut consumer = cluster.spawn_tool(
            "org.apache.kafka.tools.VerifiableConsumer",
            &[
                "--bootstrap-server",
                &bootstrap,
                "--topic",
                topic,
                "--group-id",
                &group,
                "--reset-policy",
                "earliest",
                "--verbose",
            ],
        )?;
        let (joined_tx, joined) = std::sync::mpsc::channel();
        let mut readers =
            vec![read_events(consumer.stdout.take().context("consumer stdout")?, seen.clone(), Some(joined_tx))];
        if joined.recv_timeout(Duration::from_secs(60)).is_err() {
            let _ = consumer.kill();
            bail!("the VerifiableConsumer did not join its group within 60 s");
        }
        let rate = throughput.to_string();
        let mut producer = cluster.spawn_tool(
            "org.apache.kafka.tools.VerifiableProducer",
            &[
                "--bootstrap-server",
                &bootstrap,
                "--topic",
                topic,
                "--acks",
                "-1",
                "--throughput",
                &rate,
                "--max-messages",
                "-1",
                "--producer.config",
                &config.display().to_string(),
            ],
        )?;
        readers.push(read_events(producer.stdout.take().context("producer stdout")?, seen.clone(), None));
        Ok(Clients { producer, consumer, seen, readers })
    }

    /// Acknowledged so far.
    pub fn acked(&self) -> usize {
        self.seen.lock().unwrap().acked.len()
    }

    /// Stops the producer (it flushes), waits until the consumer has read
    /// every acknowledged value or `drain` has passed, and stops it.
    pub fn stop(mut self, drain: Duration) -> Outcome {
        signal(&self.producer, libc::SIGTERM);
        let _ = wait_or_kill(&mut self.producer, Duration::from_secs(30));
        let started = Instant::now();
        while started.elapsed() < drain {
            let s = self.seen.lock().unwrap();
            let consumed: BTreeSet<&str> = s.consumed.iter().map(String::as_str).collect();
            if s.acked.iter().all(|(v, _)| consumed.contains(v.as_str())) {
                break;
            }
            drop(s);
            std::thread::sleep(Duration::from_millis(200));
        }
        signal(&self.consumer, libc::SIGTERM);
        let _ = wait_or_kill(&mut self.consumer, Duration::from_secs(30));
        for r in self.readers.drain(..) {
            let _ = r.join();
        }
        let s = std::mem::take(&mut *self.seen.lock().unwrap());
        Outcome { acked: s.acked, errors: s.errors, consumed: s.consumed }
    }
}

impl Drop for Clients {
    fn drop(&mut self) {
        let _ = self.producer.kill();
        let _ = self.consumer.kill();
        let _ = self.producer.wait();
        let _ = self.consumer.wait();
    }
}

fn signal(child: &Child, sig: i32) {
    // SAFETY: kill(2) on a pid we own.
    unsafe {
        libc::kill(child.id() as i32, sig);
    }
}

fn wait_or_kill(child: &mut Child, patience: Duration) -> std::io::Result<()> {
    let started = Instant::now();
    while started.elapsed() < patience {
        if child.try_wait()?.is_some() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    child.kill()?;
    child.wait().map(|_| ())
}

/// Reads one client's JSON events into `seen`; tells `joined` when the
/// consumer got its partitions.
fn read_events(
    out: std::process::ChildStdout,
    seen: Arc<Mutex<Seen>>,
    joined: Option<std::sync::mpsc::Sender<()>>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            let Ok(event) = serde_json::from_str::<serde_json::Value>(&line) else { continue };
            let ts = event["timestamp"].as_i64().unwrap_or_else(now_ms);
            let value = || event["value"].as_str().map(str::to_string).unwrap_or_else(|| event["value"].to_string());
            let mut s = seen.lock().unwrap();
            match event["name"].as_str() {
                Some("producer_send_success") => s.acked.push((value(), ts)),
                Some("producer_send_error") => s.errors.push(ts),
                Some("record_data") => s.consumed.push(value()),
                Some("partitions_assigned") => {
                    if let Some(j) = &joined
                        && event["partitions"].as_array().is_some_and(|p| !p.is_empty())
                    {
                        let _ = j.send(());
                    }
                }
                _ => {}
            }
        }
    })
}

/// What the clients saw, whole.
#[derive(Debug)]
pub struct Outcome {
    pub acked: Vec<(String, i64)>,
    pub errors: Vec<i64>,
    pub consumed: Vec<String>,
}

impl Outcome {
    /// Acknowledged messages the consumer never read: data loss.
    pub fn lost(&self) -> usize {
        let consumed: BTreeSet<&str> = self.consumed.iter().map(String::as_str).collect();
        self.acked.iter().filter(|(v, _)| !consumed.contains(v.as_str())).count()
    }

    /// Messages the consumer read more than once.
    pub fn duplicates(&self) -> usize {
        let mut counts: HashMap<&str, usize> = HashMap::new();
        for v in &self.consumed {
            *counts.entry(v).or_default() += 1;
        }
        counts.values().map(|c| c - 1).sum()
    }

    /// Whole seconds in `[from, to)` (ms) in which the producer saw a send error.
    pub fn error_seconds(&self, from: i64, to: i64) -> usize {
        self.errors.iter().filter(|t| (from..to).contains(*t)).map(|t| (t - from) / 1000).collect::<BTreeSet<_>>().len()
    }

    /// Whole seconds in `[from, to)` (ms) without a single acknowledgement:
    /// writes stalled (the producer retries inside `delivery.timeout.ms`
    /// before it reports an error).
    pub fn silent_seconds(&self, from: i64, to: i64) -> usize {
        let acked: BTreeSet<i64> =
            self.acked.iter().filter(|(_, t)| (from..to).contains(t)).map(|(_, t)| (t - from) / 1000).collect();
        let seconds = ((to - from).max(0) / 1000) as usize;
        seconds - acked.iter().filter(|s| (**s as usize) < seconds).count()
    }
}

/// One partition of the sampled topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partition {
    pub id: i32,
    /// `-1`: offline.
    pub leader: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
}

/// The cluster as a real client sees it at one moment.
#[derive(Debug, Clone, Default)]
pub struct Sample {
    /// Broker ids in the metadata (unfenced in KRaft, registered in ZooKeeper mode).
    pub brokers: Vec<i32>,
    pub controller: Option<i32>,
    pub partitions: Vec<Partition>,
}

impl Sample {
    /// `kcat -L` for `topic`; `None` when no broker answered.
    pub fn read(cluster: &Cluster, topic: &str) -> Option<Sample> {
        let out = std::process::Command::new("kcat")
            .args(["-L", "-b", &cluster.bootstrap_servers(), "-t", topic, "-m", "3"])
            .stdin(Stdio::null())
            .output()
            .ok()?;
        out.status.success().then(|| Sample::parse(&String::from_utf8_lossy(&out.stdout)))
    }

    /// Parses `kcat -L` output.
    pub fn parse(text: &str) -> Sample {
        let ids = |s: &str| -> Vec<i32> { s.split(',').filter_map(|x| x.trim().parse().ok()).collect() };
        let mut sample = Sample::default();
        for line in text.lines().map(str::trim) {
            if let Some(rest) = line.strip_prefix("broker ") {
                let Some(id) = rest.split_whitespace().next().and_then(|i| i.parse().ok()) else { continue };
                sample.brokers.push(id);
                if rest.ends_with("(controller)") {
                    sample.controller = Some(id);
                }
            } else if let Some(rest) = line.strip_prefix("partition ") {
                let field = |name: &str| rest.split(name).nth(1).map(|r| r.split(", ").next().unwrap_or(r).trim());
                let Some(id) = rest.split(',').next().and_then(|i| i.trim().parse().ok()) else { continue };
                sample.partitions.push(Partition {
                    id,
                    leader: field("leader ").and_then(|l| l.parse().ok()).unwrap_or(-1),
                    replicas: field("replicas: ").map(ids).unwrap_or_default(),
                    isr: field("isrs: ").map(|s| ids(s.split_whitespace().next().unwrap_or(""))).unwrap_or_default(),
                });
            }
        }
        sample
    }

    pub fn under_replicated(&self) -> bool {
        self.partitions.iter().any(|p| p.isr.len() < p.replicas.len())
    }

    pub fn offline(&self) -> bool {
        self.partitions.iter().any(|p| p.leader < 0)
    }

    /// Every partition in sync on every replica.
    pub fn whole(&self) -> bool {
        !self.partitions.is_empty() && !self.under_replicated()
    }

    /// Every partition led by its preferred replica.
    pub fn balanced(&self) -> bool {
        !self.partitions.is_empty() && self.partitions.iter().all(|p| p.replicas.first() == Some(&p.leader))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kcat_metadata_is_read() {
        let text = "Metadata for impact (from broker 1: 127.0.0.1:4001/1):\n 2 brokers:\n  broker 1 at 127.0.0.1:4001 (controller)\n  broker 3 at 127.0.0.1:4003\n 1 topics:\n  topic \"impact\" with 2 partitions:\n    partition 0, leader 1, replicas: 2,1,3, isrs: 1,3\n    partition 1, leader -1, replicas: 2, isrs: 2, Broker: Leader not available\n";
        let s = Sample::parse(text);
        assert_eq!((s.brokers.clone(), s.controller), (vec![1, 3], Some(1)));
        assert_eq!(s.partitions[0], Partition { id: 0, leader: 1, replicas: vec![2, 1, 3], isr: vec![1, 3] });
        assert_eq!(s.partitions[1].leader, -1);
        assert_eq!(s.partitions[1].isr, vec![2]);
        assert!(s.under_replicated() && s.offline() && !s.whole() && !s.balanced());
    }

    #[test]
    fn what_the_clients_saw_is_counted() {
        let o = Outcome {
            acked: vec![("1".into(), 1_000), ("2".into(), 1_500), ("3".into(), 4_200)],
            errors: vec![2_100, 2_900, 3_100],
            consumed: vec!["1".into(), "2".into(), "2".into()],
        };
        assert_eq!(o.lost(), 1, "3 was acknowledged and never read");
        assert_eq!(o.duplicates(), 1);
        assert_eq!(o.error_seconds(1_000, 5_000), 2, "seconds 1 and 2");
        assert_eq!(o.silent_seconds(1_000, 5_000), 2, "seconds 1 and 2 had no ack");
    }
}
