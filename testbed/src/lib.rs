//! The real test bed: Apache Kafka and ZooKeeper JVMs on 127.0.0.1.
//!
//! Owns: fetching the Kafka distributions (through `testing/fetch-kafka.sh`),
//! writing node configurations, starting, signalling and stopping the JVMs, and
//! waiting until each node really answers (ApiVersions, ZooKeeper `srvr`).
//! Used by the integration tests, the benchmark, the `kafka-testbed` command and
//! `./run.sh`; tests and the benchmark also run the daemon itself through `Daemon`,
//! and real clients through a failure through `impact`.
//! The `hosts` flavour (`hosts.rs`, `host_cluster.rs`) is the production
//! topology: hosts booting a real systemd (`systemd-nspawn`), Kafka and
//! ZooKeeper as units, the healer installed from its .deb.
//! Must never: be used by the daemon's own monitoring or recovery code, listen
//! on anything but 127.0.0.1 in the machine's own network namespace (hosts have
//! their addresses only inside the lab's namespaces), or leave a JVM, a
//! container, a mount or a namespace behind: every JVM it starts for a test
//! dies with the process that started it (even on SIGKILL), and a lab is torn
//! down on drop (what a killed run left is swept by the next).

mod cluster;
mod config;
mod daemon;
mod dist;
pub mod etcd;
mod host_cluster;
pub mod hosts;
pub mod impact;
pub mod link;
pub mod netns;
mod process;
mod readiness;
mod tls;

pub use cluster::{Cluster, Flavor, JMX_PASSWORD, JMX_USER, NodeInfo, NodeKind, SASL_PASSWORD, SASL_USER, Spec};
pub use config::{cluster_section, free_port, http_line};
pub use daemon::Daemon;
pub use dist::{KafkaLine, ensure_distribution, repo_dir};
pub use host_cluster::{HostCluster, HostFlavor, HostNode, HostSpec, HostsState, NodeState};
pub use link::Impairment;
pub use process::{jvm_pids_under, pid_alive};
pub use readiness::{api_versions, zookeeper_four_letter_word};
pub use tls::{STORE_PASSWORD, TlsFiles, generate as generate_tls};
