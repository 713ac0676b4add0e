//! The application and performance logs: console (or journald), `logging.file`
//! (text or JSON) and `logging.performance.file` (JSON), rotated by size.
//!
//! Owns: installing the global `tracing` subscriber from `logging.*`, and the
//! size-rotated file writer the audit log uses too.
//! Must never: format secrets (callers log `Secret`, which prints `***`), or
//! fail silently — a log file that cannot be opened stops start-up with the
//! path and the reason.

pub mod rotate;

use std::path::Path;
use std::sync::Mutex;

use anyhow::Context;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::prelude::*;
use tracing_subscriber::{Layer, Registry, fmt};

pub use rotate::RotatingFile;

use crate::config::LoggingConfig;

/// Maps the runbook's level names (Python's included) to a filter.
pub fn level_filter(level: &str) -> Option<LevelFilter> {
    Some(match level.to_ascii_uppercase().as_str() {
        "TRACE" => LevelFilter::TRACE,
        "DEBUG" => LevelFilter::DEBUG,
        "INFO" => LevelFilter::INFO,
        "WARN" | "WARNING" => LevelFilter::WARN,
        "ERROR" | "CRITICAL" | "FATAL" => LevelFilter::ERROR,
        "OFF" => LevelFilter::OFF,
        _ => return None,
    })
}

/// The `tracing` target of lines meant for `performance.log` only.
pub const PERFORMANCE: &str = "performance";

type BoxedLayer = Box<dyn Layer<Registry> + Send + Sync>;

/// Installs the subscriber: the console (stderr, or journald when systemd runs
/// the daemon), `logging.file` rotated by size, and `logging.performance.file`
/// for the `performance` target.
pub fn init(config: &LoggingConfig) -> anyhow::Result<()> {
    let level = level_filter(&config.level).unwrap_or(LevelFilter::INFO);
    let json = config.format == "json";
    // Libraries speak at WARN and above: their INFO lines are not the operator's business.
    let app_filter = || tracing_subscriber::EnvFilter::new(format!("{level},zookeeper_client=warn,{PERFORMANCE}=off"));
    let mut layers: Vec<BoxedLayer> = Vec::new();
    // Under systemd (JOURNAL_STREAM names its stream), structured fields go to the journal.
    let journald = std::env::var_os("JOURNAL_STREAM").and_then(|_| tracing_journald::layer().ok());
    match journald {
        Some(j) => layers.push(Box::new(j.with_filter(app_filter()))),
        None if json => layers.push(Box::new(
            fmt::layer().json().with_target(false).with_writer(std::io::stderr).with_filter(app_filter()),
        )),
        None => layers
            .push(Box::new(fmt::layer().with_target(false).with_writer(std::io::stderr).with_filter(app_filter()))),
    }
    if let Some(path) = config.file.as_deref().filter(|f| !f.is_empty()) {
        let file = Mutex::new(open_log_file(Path::new(path), "logging.file", config.max_size_mb, config.backup_count)?);
        let layer: BoxedLayer = if json {
            Box::new(fmt::layer().json().with_target(false).with_writer(file).with_filter(app_filter()))
        } else {
            Box::new(fmt::layer().with_ansi(false).with_target(false).with_writer(file).with_filter(app_filter()))
        };
        layers.push(layer);
    }
    let perf = &config.performance;
    if perf.enabled && !perf.file.is_empty() {
        let file = Mutex::new(open_log_file(
            Path::new(&perf.file),
            "logging.performance.file",
            config.max_size_mb,
            config.backup_count,
        )?);
        let only_performance = Targets::new().with_target(PERFORMANCE, LevelFilter::TRACE);
        layers.push(Box::new(fmt::layer().json().with_target(false).with_writer(file).with_filter(only_performance)));
    }
    tracing_subscriber::registry()
        .with(layers)
        .try_init()
        .map_err(|e| anyhow::anyhow!("cannot install the logger: {e}"))
}

/// Opens a rotated log file; `key` names the setting in errors.
pub fn open_log_file(path: &Path, key: &str, max_mb: u64, backups: u32) -> anyhow::Result<RotatingFile> {
    RotatingFile::open(path, max_mb, backups).with_context(|| {
        format!(
            "cannot open the log file {} ({key}); check that its directory exists or can be created, and that the daemon's user may write it",
            path.display()
        )
    })
}
