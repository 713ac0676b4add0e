//! `kafka-testbed`: start and drive the real Kafka/ZooKeeper test bed from a shell.
//!
//! Thin front end over `kafka_testbed`; `testing/testbed.sh` wraps it.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use kafka_testbed::{Cluster, HostSpec, HostsState, Spec, cluster_section, pid_alive};

mod hosts;

#[derive(Parser)]
#[command(name = "kafka-testbed", about = "Real Apache Kafka and ZooKeeper clusters on 127.0.0.1 for tests and demos.")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Clone, Copy, ValueEnum)]
enum Flavor {
    /// Kafka 3.9 brokers on ZooKeeper.
    Zookeeper,
    /// Kafka 4.x, combined broker+controller nodes.
    Kraft,
    /// Kafka 4.x, dedicated controllers and brokers.
    KraftSeparate,
    /// Hosts booting systemd (`systemd-nspawn`): ZooKeeper on `zk-1`, Kafka 3.9 on `broker-1…n`, as units.
    HostsZookeeper,
    /// Hosts booting systemd: Kafka 4.x combined nodes `kafka-1…n`.
    HostsKraft,
    /// Hosts booting systemd: Kafka 4.x controllers `controller-1…c` and brokers `kafka-1…n`.
    HostsKraftSeparate,
}

/// JVMs on 127.0.0.1, or hosts booting systemd.
enum Bed {
    Loopback(Spec),
    Hosts(HostSpec),
}

impl Flavor {
    fn bed(self) -> Bed {
        match self {
            Flavor::Zookeeper => Bed::Loopback(Spec::zookeeper()),
            Flavor::Kraft => Bed::Loopback(Spec::kraft()),
            Flavor::KraftSeparate => Bed::Loopback(Spec::kraft_separate()),
            Flavor::HostsZookeeper => Bed::Hosts(HostSpec::zookeeper(3)),
            Flavor::HostsKraft => Bed::Hosts(HostSpec::kraft(3)),
            Flavor::HostsKraftSeparate => Bed::Hosts(HostSpec::kraft_separate(1, 3)),
        }
    }
}

#[derive(Subcommand)]
enum Cmd {
    /// Start a cluster in DIR and wait until every node answers.
    Up {
        #[arg(long, value_enum, default_value_t = Flavor::Zookeeper)]
        flavor: Flavor,
        /// Directory for the cluster's data, logs and testbed.json (must be new or empty).
        #[arg(long)]
        dir: PathBuf,
        #[arg(long)]
        brokers: Option<usize>,
        #[arg(long)]
        zookeepers: Option<usize>,
        #[arg(long)]
        controllers: Option<usize>,
        /// Give each broker a SASL_SSL listener too (certificates in DIR/tls).
        #[arg(long)]
        secure: bool,
        /// Attach a Jolokia agent and the Prometheus JMX exporter to each Kafka JVM.
        #[arg(long)]
        jmx_agents: bool,
        /// Stay in the foreground; the cluster dies with this process (Ctrl-C, SIGTERM, or SIGKILL).
        #[arg(long)]
        foreground: bool,
        /// Hosts flavours: a host `healer` with the project's .deb installed (testing/package.sh builds it).
        #[arg(long)]
        healer: bool,
    },
    /// Hosts flavours: run a command on a host (stdin and stdout pass through), e.g. `exec --dir D healer -- journalctl -u kafka-self-healing`.
    Exec {
        #[arg(long)]
        dir: PathBuf,
        host: String,
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
        command: Vec<String>,
    },
    /// Hosts flavours: run a command on the lab's bridge, where the hosts resolve by name, e.g. `lab --dir D -- kcat -L -b broker-1:9092`.
    Lab {
        #[arg(long)]
        dir: PathBuf,
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
        command: Vec<String>,
    },
    /// Kill every node of the cluster in DIR.
    Down {
        #[arg(long)]
        dir: PathBuf,
    },
    /// Print the cluster's bootstrap servers (host:port,...) for Kafka clients.
    Bootstrap {
        #[arg(long)]
        dir: PathBuf,
    },
    /// Print the nodes, ports and pids of the cluster in DIR (JSON with --json).
    Status {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Print the `cluster:` section of a kafka-self-healing configuration watching the cluster in DIR.
    Config {
        #[arg(long)]
        dir: PathBuf,
    },
    /// Stop a node gracefully (SIGTERM, controlled shutdown).
    Stop {
        #[arg(long)]
        dir: PathBuf,
        node: String,
    },
    /// kill -9 a node.
    Kill {
        #[arg(long)]
        dir: PathBuf,
        node: String,
    },
    /// SIGSTOP a node (it hangs with its sockets open).
    Pause {
        #[arg(long)]
        dir: PathBuf,
        node: String,
    },
    /// SIGCONT a paused node.
    Resume {
        #[arg(long)]
        dir: PathBuf,
        node: String,
    },
    /// Start a stopped node again with the same data and wait until it answers.
    Start {
        #[arg(long)]
        dir: PathBuf,
        node: String,
    },
}

fn main() -> ExitCode {
    match run(Cli::parse().command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kafka-testbed: error: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn run(cmd: Cmd) -> anyhow::Result<()> {
    if let Some(dir) = hosts_dir(&cmd) {
        return hosts::run(cmd, &dir);
    }
    match cmd {
        Cmd::Up { flavor, dir, brokers, zookeepers, controllers, secure, jmx_agents, foreground, healer } => {
            let mut spec = match flavor.bed() {
                Bed::Loopback(spec) => spec,
                Bed::Hosts(mut spec) => {
                    spec.brokers = brokers.unwrap_or(spec.brokers);
                    spec.controllers = controllers.unwrap_or(spec.controllers);
                    spec.healer = healer;
                    return hosts::up(spec, &dir, foreground);
                }
            };
            spec.brokers = brokers.unwrap_or(spec.brokers);
            spec.zookeepers = zookeepers.unwrap_or(spec.zookeepers);
            spec.controllers = controllers.unwrap_or(spec.controllers);
            spec.secure = secure;
            spec.jmx_agents = jmx_agents;
            let started = std::time::Instant::now();
            let cluster = Cluster::start_in(spec, &dir, foreground)?;
            print_status(&cluster);
            println!(
                "ready in {:.1}s; bootstrap servers: {}",
                started.elapsed().as_secs_f64(),
                cluster.bootstrap_servers()
            );
            std::fs::write(dir.join("ready"), "")?;
            if foreground {
                wait_for_signal();
                println!("stopping");
                drop(cluster);
            }
            Ok(())
        }
        Cmd::Down { dir } => {
            let mut cluster = Cluster::attach(&dir)?;
            cluster.teardown();
            let _ = std::fs::remove_file(dir.join("ready"));
            Ok(())
        }
        Cmd::Status { dir, json } => {
            let cluster = Cluster::attach(&dir)?;
            if json {
                println!("{}", serde_json::to_string_pretty(cluster.nodes())?);
            } else {
                print_status(&cluster);
            }
            Ok(())
        }
        Cmd::Bootstrap { dir } => {
            println!("{}", Cluster::attach(&dir)?.bootstrap_servers());
            Ok(())
        }
        Cmd::Config { dir } => {
            let cluster = Cluster::attach(&dir)?;
            print!("{}", cluster_section("test-bed", &[("", &cluster)]));
            Ok(())
        }
        Cmd::Stop { dir, node } => Cluster::attach(&dir)?.stop(&node),
        Cmd::Kill { dir, node } => Cluster::attach(&dir)?.kill(&node),
        Cmd::Pause { dir, node } => Cluster::attach(&dir)?.pause(&node),
        Cmd::Resume { dir, node } => Cluster::attach(&dir)?.resume(&node),
        Cmd::Start { dir, node } => Cluster::attach(&dir)?.start_node(&node),
        Cmd::Exec { .. } | Cmd::Lab { .. } => {
            anyhow::bail!("`exec` and `lab` need a hosts flavour (`up --flavor hosts-…`)")
        }
    }
}

/// The directory of a running hosts bed, when the command is about one.
fn hosts_dir(cmd: &Cmd) -> Option<PathBuf> {
    let dir = match cmd {
        Cmd::Up { .. } => return None,
        Cmd::Down { dir }
        | Cmd::Bootstrap { dir }
        | Cmd::Status { dir, .. }
        | Cmd::Config { dir }
        | Cmd::Stop { dir, .. }
        | Cmd::Kill { dir, .. }
        | Cmd::Pause { dir, .. }
        | Cmd::Resume { dir, .. }
        | Cmd::Start { dir, .. }
        | Cmd::Exec { dir, .. }
        | Cmd::Lab { dir, .. } => dir,
    };
    dir.join(HostsState::FILE).exists().then(|| dir.clone())
}

fn print_status(cluster: &Cluster) {
    println!(
        "{:<14} {:<11} {:>4} {:>6} {:>10} {:>6} {:>8} {:>8} {:>10} {:>8}",
        "NODE", "KIND", "ID", "PORT", "CONTROLLER", "JMX", "SASL_SSL", "JOLOKIA", "PROMETHEUS", "PID"
    );
    for n in cluster.nodes() {
        let pid = match n.pid {
            Some(p) if pid_alive(p) => p.to_string(),
            Some(_) => "dead".into(),
            None => "-".into(),
        };
        let opt = |p: Option<u16>| p.map_or("-".to_string(), |p| p.to_string());
        println!(
            "{:<14} {:<11} {:>4} {:>6} {:>10} {:>6} {:>8} {:>8} {:>10} {:>8}",
            n.name,
            format!("{:?}", n.kind).to_lowercase(),
            n.id,
            n.port,
            opt(n.controller_port),
            opt(n.jmx_port),
            opt(n.secure_port),
            opt(n.jolokia_port),
            opt(n.prometheus_port),
            pid
        );
    }
}

fn wait_for_signal() {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build();
    if let Ok(rt) = runtime {
        rt.block_on(async {
            // Any signal the daemon would stop on (SIGTERM, SIGINT); SIGHUP means nothing here.
            if let Ok(mut signals) = kafka_self_healing::app::signals() {
                while let Some(s) = signals.recv().await {
                    if s == kafka_self_healing::app::Signal::Stop {
                        return;
                    }
                }
            }
        });
    }
}
