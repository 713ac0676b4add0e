//! Recovery: incidents, the retry policy and action ladder, safety guards, and
//! the actions that run the operator's tools.
//!
//! Owns: deciding whether, when and how to act on a failed node (`policy`,
//! `guards`: pure), what an action runs (`actions`: pure plans), running it
//! (`runner`), systemd's own view of a unit (`unit_state`), whether a failed
//! node opens an incident (`opening`: pure), each incident's steps
//! (`lifecycle`: pure), when a broker that serves again is whole (`catch_up`:
//! pure; `whole` waits for it, `leadership` moves its partitions back),
//! writing each step everywhere once (`journal`), and the shell that gathers
//! the facts and carries the decisions out (`engine`, with `facts`,
//! `attempt`, `plugin_action`, `serving`, `state`, `controls`, `resume`).
//! Must never: act while the monitor is isolated or a guard refuses, act on a
//! node that answers again, or run anything it has not first recorded in the
//! store and the audit trail.

pub mod actions;
mod attempt;
pub mod catch_up;
mod controls;
pub mod engine;
mod facts;
pub mod files;
pub mod guards;
mod journal;
mod leadership;
pub mod lifecycle;
pub mod opening;
mod plugin_action;
pub mod policy;
mod resume;
pub mod runner;
mod serving;
pub mod setup;
mod state;
pub mod unit_state;
mod whole;

pub use engine::Engine;
pub use state::EngineStatus;
