//! kafka-self-healing: watches Apache Kafka brokers, KRaft controllers and
//! ZooKeeper nodes, repairs what is safe to repair, escalates the rest.
//!
//! See ARCHITECTURE.md for the map of modules and their invariants.

pub mod app;
pub mod audit;
pub mod child;
pub mod cli;
pub mod cli_docs;
pub mod config;
pub mod events;
pub mod ha;
pub mod health;
pub mod host;
pub mod http_client;
pub mod kafka;
pub mod logging;
pub mod monitor;
pub mod notify;
pub mod operate;
pub mod plugin;
pub mod plugin_inspect;
pub mod recovery;
pub mod report;
pub mod report_html;
pub mod secrets;
pub mod server;
pub mod setup;
pub mod status_client;
pub mod store;
pub mod systemd;
pub mod telemetry;
pub mod topology;
pub mod watch;
