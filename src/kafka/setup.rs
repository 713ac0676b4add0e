//! The `security` section, checked and built by the Kafka client that uses it.
//!
//! Owns: the credentials' storage, TLS files that can be read, and the real
//! TLS and SASL settings built now — wrong passwords, unreadable stores and
//! unset variables are found at load, not at the first probe.
//! Must never: print a secret's value, or stop at the first problem.

use super::{Security, SecurityError};
use crate::config::validate::Checker;

/// Checks `security` and returns the settings Kafka connections will use.
pub fn check(c: &mut Checker) -> Security {
    let config = c.config;
    let s = &config.security;
    if s.credentials.encryption_key_file.is_some() {
        c.warning(
            "security.credentials.encryption_key_file",
            "`encryption_key_file` is not used by this implementation",
            "",
        );
    }
    let ssl = &s.ssl;
    let mut usable = true;
    if ssl.enabled {
        for (key, value) in [
            ("keystore_path", &ssl.keystore_path),
            ("truststore_path", &ssl.truststore_path),
            ("ca_file", &ssl.ca_file),
            ("cert_file", &ssl.cert_file),
            ("key_file", &ssl.key_file),
        ] {
            if let Some(file) = value {
                usable &= c.readable_file(&format!("security.ssl.{key}"), file);
            }
        }
        if ssl.cert_file.is_some() != ssl.key_file.is_some() {
            usable = false;
            c.error(
                "security.ssl",
                "`cert_file` and `key_file` go together",
                "give both (PEM client certificate and its key), or neither",
            );
        }
    }
    if !(ssl.enabled || s.sasl.enabled) {
        return Security::plaintext();
    }
    let cx = &*c.cx;
    let problems = Security::problems(s, &|name| cx.env(name));
    usable &= problems.is_empty();
    for e in problems {
        security_error(c, e);
    }
    if !usable {
        return Security::plaintext();
    }
    // Build the real TLS and SASL settings: wrong passwords, unreadable
    // stores and unset variables are found now, not at the first probe.
    let cx = &*c.cx;
    match Security::from_config(s, &|name| cx.env(name)) {
        Ok(security) => security,
        Err(e) => {
            security_error(c, e);
            Security::plaintext()
        }
    }
}

/// Reports at the key if written, else at the section's `enabled: true`.
fn security_error(c: &mut Checker, e: SecurityError) {
    let section = if e.key.starts_with("security.sasl") { "security.sasl" } else { "security.ssl" };
    let at = if c.written(&e.key) { e.key.clone() } else { format!("{section}.enabled") };
    c.error(&at, e.message, e.hint);
}
