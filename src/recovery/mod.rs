//! Recovery: incidents, the retry policy and action ladder, safety guards, and
//! the actions that run the operator's tools.
//!
//! Owns: deciding whether, when and how to act on a failed node (`policy`,
//! `guards`: pure), what an action runs (`actions`: pure plans), running it
//! (`runner`), systemd's own view of a unit (`unit_state`), and the incident
//! lifecycle with its records (`engine`).
//! Must never: act while the monitor is isolated or a guard refuses, act on a
//! node that answers again, or run anything it has not first recorded in the
//! store and the audit trail.

pub mod actions;
pub mod engine;
pub mod guards;
pub mod policy;
pub mod runner;
pub mod unit_state;

pub use engine::{Engine, EngineStatus, IncidentEvent};
