//! Masking secrets out of text that leaves the daemon (command lines, action
//! output, audit records).
//!
//! Owns: the list of secret values the daemon knows — configured passwords,
//! the credential environment variables, and values of keys that look secret
//! (`*PASSWORD*`, `*SECRET*`, `*TOKEN*`, `*KEY*`) in action environments and
//! headers — and replacing each with `***`.
//! Must never: be bypassed for text written to the audit trail or the store.

use crate::config::Config;

/// The environment variables that hold credentials (runbook names).
pub const CREDENTIAL_VARIABLES: &[&str] =
    &["SMTP_PASSWORD", "KAFKA_PASSWORD", "KEYSTORE_PASSWORD", "TRUSTSTORE_PASSWORD", "JMX_PASSWORD"];

/// Replaces known secret values with `***`.
#[derive(Debug, Clone, Default)]
pub struct Masker {
    secrets: Vec<String>,
}

/// Whether a variable or header name looks like it holds a secret.
pub fn looks_secret(name: &str) -> bool {
    let n = name.to_ascii_uppercase();
    ["PASSWORD", "SECRET", "TOKEN", "KEY", "AUTHORIZATION", "CREDENTIAL"].iter().any(|w| n.contains(w))
}

impl Masker {
    /// Every secret of `config` and of the environment `env` answers for.
    pub fn from_config(config: &Config, env: &dyn Fn(&str) -> Option<String>) -> Self {
        let mut secrets = Vec::new();
        if let Some(smtp) = &config.notifications.smtp
            && let Some(p) = &smtp.password
        {
            secrets.push(p.expose().to_string());
        }
        if let Some(p) = &config.monitoring.jmx.password {
            secrets.push(p.expose().to_string());
        }
        if let Some(p) = &config.notifications.dead_mans_switch.ping_url {
            secrets.push(p.expose().to_string());
        }
        let s = &config.security;
        for name in CREDENTIAL_VARIABLES.iter().map(|n| n.to_string()).chain([
            s.sasl.password_env.clone(),
            s.ssl.keystore_password_env.clone(),
            s.ssl.truststore_password_env.clone(),
            config.ha.password_env.clone(),
        ]) {
            if let Some(v) = env(&name) {
                secrets.push(v);
            }
        }
        let r = &config.recovery;
        for (k, v) in r.script.environment_variables.iter().chain(r.http.headers.iter()) {
            if looks_secret(k) {
                secrets.push(v.clone());
            }
        }
        Masker::new(secrets)
    }

    pub fn new(secrets: Vec<String>) -> Self {
        // Very short values would mask ordinary text; longest first, so a
        // secret containing another is masked whole.
        let mut secrets: Vec<String> = secrets.into_iter().filter(|s| s.len() >= 4).collect();
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets.dedup();
        Masker { secrets }
    }

    pub fn mask(&self, text: &str) -> String {
        let mut out = text.to_string();
        for s in &self.secrets {
            if out.contains(s.as_str()) {
                out = out.replace(s.as_str(), "***");
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_masked_longest_first() {
        let m = Masker::new(vec!["abc".into(), "hunter2".into(), "hunter2-long".into()]);
        assert_eq!(m.mask("pw=hunter2-long and hunter2, abc"), "pw=*** and ***, abc");
        assert!(looks_secret("DB_PASSWORD") && looks_secret("api_token") && !looks_secret("KAFKA_HOME"));
    }
}
