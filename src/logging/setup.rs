//! The `logging` section, checked by the component that writes the logs.
//!
//! Owns: the log level and format, and the audit trail's settings.
//! Must never: open a log file, or stop at the first problem.

use crate::config::validate::Checker;

pub fn check(c: &mut Checker) {
    let config = c.config;
    let l = &config.logging;
    if crate::logging::level_filter(&l.level).is_none() {
        c.error(
            "logging.level",
            format!("unknown log level `{}`", l.level),
            "write TRACE, DEBUG, INFO, WARNING or ERROR",
        );
    }
    match l.format.as_str() {
        "text" | "json" => {}
        f if f.contains("%(") => c.warning(
            "logging.format",
            "a Python logging format string is not used by this implementation; lines are written in the `text` format",
            "write `format: text` or `format: json` to silence this warning",
        ),
        other => c.error("logging.format", format!("unknown log format `{other}`"), "write `text` or `json`"),
    }
    if l.audit.include_sensitive_data {
        c.warning(
            "logging.audit.include_sensitive_data",
            "`include_sensitive_data: true` is ignored: secrets are never written to the audit log",
            "",
        );
    }
}
