//! The application log: console and `logging.file`, text or JSON.
//!
//! Owns: installing the global `tracing` subscriber from `logging.*`.
//! Must never: format secrets (callers log `Secret`, which prints `***`), or
//! fail silently — a log file that cannot be opened stops start-up with the
//! path and the reason.

use std::fs::OpenOptions;
use std::path::Path;
use std::sync::Mutex;

use anyhow::Context;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::fmt::writer::MakeWriterExt;

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

/// Installs the subscriber: console (stderr) always, plus `logging.file` when set.
pub fn init(config: &LoggingConfig) -> anyhow::Result<()> {
    let level = level_filter(&config.level).unwrap_or(LevelFilter::INFO);
    let file = match config.file.as_deref().filter(|f| !f.is_empty()) {
        Some(path) => Some(open_log_file(Path::new(path))?),
        None => None,
    };
    let json = config.format == "json";
    // Libraries speak at WARN and above: their INFO lines are not the operator's business.
    let filter = tracing_subscriber::EnvFilter::new(format!("{level},zookeeper_client=warn"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_target(false);
    let result = match (file, json) {
        (Some(file), true) => builder.json().with_writer(std::io::stderr.and(Mutex::new(file))).try_init(),
        (Some(file), false) => builder.with_ansi(false).with_writer(std::io::stderr.and(Mutex::new(file))).try_init(),
        (None, true) => builder.json().with_writer(std::io::stderr).try_init(),
        (None, false) => builder.with_writer(std::io::stderr).try_init(),
    };
    result.map_err(|e| anyhow::anyhow!("cannot install the logger: {e}"))
}

fn open_log_file(path: &Path) -> anyhow::Result<std::fs::File> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| {
            format!(
                "cannot create the log directory {} (logging.file); create it for the daemon's user or point logging.file elsewhere",
                dir.display()
            )
        })?;
    }
    OpenOptions::new().create(true).append(true).open(path).with_context(|| {
        format!("cannot open the log file {} (logging.file); check that the daemon's user may write it", path.display())
    })
}
