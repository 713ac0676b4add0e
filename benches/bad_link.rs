//! A bad link for a long while, on the production topology:
//! `bash testing/package.sh && cargo bench --bench bad_link`.
//!
//! KRaft with a dedicated controller host and three broker hosts (hosts
//! booting systemd, Kafka 4.x as units), the packaged healer on a host of its
//! own with the hosts tests' monitoring (`interval_seconds: 2`,
//! `timeout_seconds: 5`). `kafka-3`'s link is made bad by the lab's link
//! relay — `KSH_BENCH_DELAY_MS` each way (default 300) and `KSH_BENCH_LOSS`
//! (default 0.01) — for `KSH_BENCH_WINDOW` seconds (default 300). Reported:
//!   rtt        = `ping` round trips from kafka-1 to kafka-3 through the relay,
//!                every 30 s (what the relay really gives, under this load);
//!   transitions = every `Node status: kafka-3` line of the healer's log;
//!   detected   = incidents opened for kafka-3 (a bad link is no failure: 0).

use std::time::{Duration, Instant};

use kafka_testbed::{HostCluster, HostSpec, Impairment};

fn env_or(name: &str, default: f64) -> f64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("bad_link: a benchmark; run it with `cargo bench --bench bad_link`");
        return;
    }
    let delay = Duration::from_millis(env_or("KSH_BENCH_DELAY_MS", 300.0) as u64);
    let loss = env_or("KSH_BENCH_LOSS", 0.01);
    let window = Duration::from_secs(env_or("KSH_BENCH_WINDOW", 300.0) as u64);
    let mut cluster = HostCluster::start(HostSpec::kraft_separate(1, 3)).unwrap();
    let config = format!(
        "{}monitoring:\n  interval_seconds: 2\n  timeout_seconds: 5\nrecovery:\n  actions: [restart_service]\n  \
         restart_service: {{use_sudo: true}}\n  ssh: {{user: kafka-healing, timeout: 20, connect_timeout: 5}}\n\
         system:\n  metrics: {{port: 8080}}\n",
        cluster.cluster_section("bench")
    );
    cluster.start_healer("healer", &config, Duration::from_secs(120)).unwrap();
    cluster.lab.impair("kafka-3", Some(Impairment { delay, loss })).unwrap();
    let since = Instant::now();
    let mut rtts: Vec<String> = Vec::new();
    while since.elapsed() < window {
        let ping = cluster.lab.host("kafka-1").sh("ping -c 3 -i 0.3 -q kafka-3").unwrap_or_default();
        if let Some(line) = ping.lines().find(|l| l.starts_with("rtt")) {
            rtts.push(format!("{:>4.0} s: {line}", since.elapsed().as_secs_f64()));
        }
        std::thread::sleep(Duration::from_secs(30).min(window.saturating_sub(since.elapsed())));
    }
    cluster.lab.impair("kafka-3", None).unwrap();
    let healer = cluster.lab.host("healer");
    let log = healer.read("/var/log/kafka-self-healing/application.log");
    let transitions: Vec<&str> = log.lines().filter(|l| l.contains("Node status: kafka-3")).collect();
    let detected = healer
        .read("/var/log/kafka-self-healing/audit.log")
        .lines()
        .filter(|l| l.contains("\"event\":\"detected\"") && l.contains("\"node\":\"kafka-3\""))
        .count();
    println!(
        "bad link on kafka-3: {} ms each way, {:.1} % loss, for {} s",
        delay.as_millis(),
        loss * 100.0,
        window.as_secs()
    );
    println!("ping kafka-1 → kafka-3 through the relay (min/avg/max/mdev, ms):");
    for r in &rtts {
        println!("  {r}");
    }
    println!("kafka-3's state changes in the healer's log: {}", transitions.len());
    for t in &transitions {
        println!("  {t}");
    }
    println!("incidents opened for kafka-3: {detected}");
    assert_eq!(detected, 0, "a slow link is no failure");
}
