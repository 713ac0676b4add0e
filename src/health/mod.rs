//! Deciding, from observations, what state each node and the cluster are in.
//!
//! Owns: the per-node state machine (healthy → suspect → failed, degraded,
//! recovery after consecutive good rounds, flapping) and the cluster view
//! (controller, partitions, ZooKeeper quorum, KRaft leader, isolation).
//! Must never: do I/O or read the clock — time comes in as an argument, so
//! every rule is a plain function tested without sleeping.

mod cluster;
mod node;

pub use cluster::{CUT_OFF_CONFIRM, ClusterView, CutOff, EnsembleState, Quorum, Seen, summarize};
pub use node::{NodeHealth, NodeState, Thresholds, Transition, Verdict, verdict};
