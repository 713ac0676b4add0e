//! The `logging` section, checked by the component that writes the logs.
//!
//! Owns: the audit trail's settings (the level and the format are parsed
//! at load, `config::LogLevel`, `config::LogFormat`).
//! Must never: open a log file, or stop at the first problem.

use crate::config::validate::Checker;

pub fn check(c: &mut Checker) {
    let config = c.config;
    let l = &config.logging;
    if l.audit.include_sensitive_data {
        c.warning(
            "logging.audit.include_sensitive_data",
            "`include_sensitive_data: true` is ignored: secrets are never written to the audit log",
            "",
        );
    }
}
