//! Scheduling probes and feeding their observations to `health`.
//!
//! Owns: when each node is probed (rounds, and fast confirmation re-probes of
//! a suspect node), running probes concurrently under a bound, and assembling
//! a round's report.
//! Must never: decide a node's state itself (that is `health`), or probe
//! anything that is not in the configuration.

mod board;
mod registrations;
mod report;
mod round;
mod watcher;

pub use board::{Board, BrokerId, CONFIGURED, NodeSnapshot, REMEMBERED, Wake};
pub use report::{CheckReport, NodeReport};
pub use round::{CONFIRMATION_SPACING, check_round};
pub use watcher::{NodeEvent, spawn};
