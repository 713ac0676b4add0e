//! The application and performance logs: console (or journald), `logging.file`
//! (text or JSON) and `logging.performance.file` (JSON), rotated by size.
//!
//! Owns: installing the global `tracing` subscriber from `logging.*`, and the
//! size-rotated file writer the audit log uses too.
//! Must never: format secrets (callers log `Secret`, which prints `***`), or
//! fail silently — a log file that cannot be opened stops start-up with the
//! path and the reason.

pub mod rotate;
pub mod setup;

use std::path::Path;
use std::sync::Mutex;

use anyhow::Context;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::prelude::*;
use tracing_subscriber::{Layer, Registry, fmt};

pub use rotate::RotatingFile;

use crate::config::{LogLevel, LoggingConfig};

/// Maps the runbook's level names (Python's included) to a filter.
pub fn level_filter(level: LogLevel) -> LevelFilter {
    match level {
        LogLevel::Trace => LevelFilter::TRACE,
        LogLevel::Debug => LevelFilter::DEBUG,
        LogLevel::Info => LevelFilter::INFO,
        LogLevel::Warning => LevelFilter::WARN,
        LogLevel::Error => LevelFilter::ERROR,
        LogLevel::Off => LevelFilter::OFF,
    }
}

/// The `tracing` target of lines meant for `performance.log` only.
pub const PERFORMANCE: &str = "performance";

type BoxedLayer = Box<dyn Layer<Registry> + Send + Sync>;

/// Installs the subscriber: the console (stderr, or journald when systemd runs
/// the daemon), `logging.file` rotated by size, and `logging.performance.file`
/// for the `performance` target.
pub fn init(config: &LoggingConfig) -> anyhow::Result<()> {
    let level = level_filter(config.level);
    let json = config.format == crate::config::LogFormat::Json;
    // Libraries speak at WARN and above: their INFO lines are not the operator's business.
    // Missing CA certificates are said once by the daemon itself (`http_client`).
    let app_filter = || {
        tracing_subscriber::EnvFilter::new(format!(
            "{level},zookeeper_client=warn,rustls_platform_verifier=error,{PERFORMANCE}=off"
        ))
    };
    let mut layers: Vec<BoxedLayer> = Vec::new();
    // Under systemd (JOURNAL_STREAM names its stream), structured fields go to the journal.
    let journald = std::env::var_os("JOURNAL_STREAM").and_then(|_| tracing_journald::layer().ok());
    match journald {
        Some(j) => layers.push(Box::new(j.with_filter(app_filter()))),
        None if json => layers.push(Box::new(
            fmt::layer().json().with_target(false).with_writer(std::io::stderr).with_filter(app_filter()),
        )),
        None => layers.push(Box::new(
            fmt::layer()
                .fmt_fields(escaped_fields())
                .with_target(false)
                .with_writer(std::io::stderr)
                .with_filter(app_filter()),
        )),
    }
    if let Some(path) = config.file.as_deref().filter(|f| !f.is_empty()) {
        let file = Mutex::new(open_log_file(Path::new(path), "logging.file", config.max_size_mb, config.backup_count)?);
        let layer: BoxedLayer = if json {
            Box::new(fmt::layer().json().with_target(false).with_writer(file).with_filter(app_filter()))
        } else {
            Box::new(
                fmt::layer()
                    .fmt_fields(escaped_fields())
                    .with_ansi(false)
                    .with_target(false)
                    .with_writer(file)
                    .with_filter(app_filter()),
            )
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

/// The text format's fields with every control character escaped (`\n` as
/// `\\n`): one event is one line, whatever a value holds, so no value can
/// forge a line that no event wrote. JSON lines are escaped by JSON itself.
fn escaped_fields() -> EscapedFields {
    EscapedFields
}

/// Formats fields like tracing's default (`message` first and bare, then
/// `key=value`), with [`escape_control`] applied to every value.
struct EscapedFields;

impl<'w> fmt::FormatFields<'w> for EscapedFields {
    fn format_fields<R: tracing_subscriber::field::RecordFields>(
        &self,
        writer: fmt::format::Writer<'w>,
        fields: R,
    ) -> std::fmt::Result {
        let mut visitor = EscapingVisitor { writer, first: true, result: Ok(()) };
        fields.record(&mut visitor);
        visitor.result
    }
}

struct EscapingVisitor<'w> {
    writer: fmt::format::Writer<'w>,
    first: bool,
    result: std::fmt::Result,
}

impl EscapingVisitor<'_> {
    fn write(&mut self, field: &tracing::field::Field, text: &str) {
        if self.result.is_err() {
            return;
        }
        let sep = if self.first { "" } else { " " };
        self.first = false;
        let text = escape_control(text);
        self.result = if field.name() == "message" {
            write!(self.writer, "{sep}{text}")
        } else {
            write!(self.writer, "{sep}{field}={text}")
        };
    }
}

impl tracing::field::Visit for EscapingVisitor<'_> {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        if field.name() == "message" { self.write(field, value) } else { self.write(field, &format!("{value:?}")) }
    }

    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.write(field, &format!("{value:?}"))
    }
}

/// `text` with control characters written as escapes (`\n`, `\r`, `\t`, `\u{1b}`).
pub fn escape_control(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&c.escape_unicode().to_string()),
            c => out.push(c),
        }
    }
    out
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_never_reach_a_text_line() {
        assert_eq!(escape_control("a\nNode status: x healthy -> failed"), "a\\nNode status: x healthy -> failed");
        assert_eq!(escape_control("tab\there\r\u{1b}[31m"), "tab\\there\\r\\u{1b}[31m");
        assert_eq!(escape_control("plain — ünïcode"), "plain — ünïcode");
    }

    #[test]
    fn the_text_format_writes_one_line_per_event() {
        #[derive(Clone, Default)]
        struct Buf(std::sync::Arc<Mutex<Vec<u8>>>);
        impl std::io::Write for Buf {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let buf = Buf::default();
        let writer = buf.clone();
        let layer = fmt::layer()
            .fmt_fields(escaped_fields())
            .with_ansi(false)
            .with_target(false)
            .with_writer(move || writer.clone());
        let subscriber = tracing_subscriber::registry().with(layer);
        tracing::subscriber::with_default(subscriber, || {
            let node = "evil\n2026-12-01T00:00:00Z  WARN Node status: broker-1 healthy -> failed";
            let line = format!("Node status: {node} unknown -> healthy");
            tracing::info!(message = %line, node = %node, detail = "x\ny");
            tracing::info!(message = "A literal message.", count = 3);
        });
        let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        assert_eq!(text.lines().count(), 2, "{text}");
        assert!(text.contains("A literal message. count=3"), "{text}");
        assert!(text.contains(r#"detail="x\ny""#), "{text}");
        assert!(text.contains("Node status: evil\\n2026"), "{text}");
        assert!(text.contains("node=evil\\n2026"), "{text}");
    }
}
