//! The integration tests: one binary, one module per feature (rust-analyzer style).
//!
//! Tests that need a real cluster take `support::cluster_lock()` and run one
//! at a time; everything else runs in parallel. `support` has what they
//! share: the one wait (`wait_until`), the daemon harness (`Run`), the
//! clients (kcat) and the configurations.

mod check;
mod cli;
mod config_errors;
mod docs;
mod ha;
mod hosts;
mod image;
mod jmx;
mod notify;
mod operate;
mod packaging;
mod plugins;
mod probes;
mod recovery;
mod security;
mod support;
mod testbed;
mod watch;
mod whole;
