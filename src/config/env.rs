//! `${VAR}`, `${VAR:-default}` and `${VAR:?message}` in configuration values.
//!
//! Owns: expanding references in one string against an environment lookup.
//! Must never: read the process environment itself (the caller injects it, so
//! tests and `validate` see exactly what `run` will see), or log values.

/// Why a string could not be expanded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnvError {
    /// `${VAR}` with VAR unset.
    Missing { var: String },
    /// `${VAR:?message}` with VAR unset or empty.
    Required { var: String, message: String },
    /// `${` without a closing brace, or a bad variable name.
    Malformed { detail: String },
}

impl EnvError {
    pub fn message(&self) -> String {
        match self {
            EnvError::Missing { var } => format!("environment variable `{var}` is not set"),
            EnvError::Required { var, message } => {
                format!("environment variable `{var}` is required: {message}")
            }
            EnvError::Malformed { detail } => format!("bad variable reference: {detail}"),
        }
    }

    pub fn hint(&self) -> String {
        match self {
            EnvError::Missing { var } => format!(
                "export {var} before starting (for systemd: Environment= or EnvironmentFile=), \
                 or give a default with ${{{var}:-value}}"
            ),
            EnvError::Required { var, .. } => format!("export {var} before starting"),
            EnvError::Malformed { .. } => {
                "write ${NAME}, ${NAME:-default} or ${NAME:?message}; write $$ for a literal $".into()
            }
        }
    }
}

/// Expands every reference in `text`. Returns `None` when there is nothing to
/// expand, so callers can keep the original without copying.
///
/// `$$` is a literal `$`. A lone `$` not followed by `{` is kept as is, since
/// passwords and shell commands legitimately contain it.
pub fn expand(text: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<Option<String>, Vec<EnvError>> {
    if !text.contains('$') {
        return Ok(None);
    }
    let mut out = String::with_capacity(text.len());
    let mut errors = Vec::new();
    let mut rest = text;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(inner_start) = after.strip_prefix('{') {
            let Some(close) = inner_start.find('}') else {
                errors.push(EnvError::Malformed { detail: format!("`${{{inner_start}` has no closing `}}`") });
                return Err(errors);
            };
            let inner = &inner_start[..close];
            match expand_one(inner, lookup) {
                Ok(value) => out.push_str(&value),
                Err(e) => errors.push(e),
            }
            rest = &inner_start[close + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    if errors.is_empty() { Ok(Some(out)) } else { Err(errors) }
}

fn expand_one(inner: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String, EnvError> {
    let (name, op) = match inner.find([':', '-', '?']) {
        Some(i) => (&inner[..i], Some(&inner[i..])),
        None => (inner, None),
    };
    if name.is_empty()
        || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        || name.starts_with(|c: char| c.is_ascii_digit())
    {
        return Err(EnvError::Malformed { detail: format!("`${{{inner}}}`: `{name}` is not a variable name") });
    }
    let value = lookup(name);
    match op {
        None => value.ok_or_else(|| EnvError::Missing { var: name.into() }),
        // `:-` uses the default when unset or empty, `-` only when unset (as in sh).
        Some(op) if op.starts_with(":-") => Ok(value.filter(|v| !v.is_empty()).unwrap_or_else(|| op[2..].to_string())),
        Some(op) if op.starts_with('-') => Ok(value.unwrap_or_else(|| op[1..].to_string())),
        Some(op) if op.starts_with(":?") || op.starts_with('?') => {
            let message = op.trim_start_matches(':')[1..].to_string();
            let message = if message.is_empty() { "not set".to_string() } else { message };
            match value {
                Some(v) if !v.is_empty() || !op.starts_with(":?") => Ok(v),
                _ => Err(EnvError::Required { var: name.into(), message }),
            }
        }
        Some(op) => Err(EnvError::Malformed { detail: format!("`${{{inner}}}`: unknown operator `{op}`") }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "HOST" => Some("kafka1".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    fn run(text: &str) -> Result<Option<String>, Vec<EnvError>> {
        expand(text, &env)
    }

    #[test]
    fn expansion_table() {
        let ok = [
            ("plain", None),
            ("${HOST}:9092", Some("kafka1:9092")),
            ("${MISSING:-fallback}", Some("fallback")),
            ("${EMPTY:-fallback}", Some("fallback")),
            ("${EMPTY-fallback}", Some("")),
            ("${MISSING-x}", Some("x")),
            ("${HOST:?need a host}", Some("kafka1")),
            ("pa$$word", Some("pa$word")),
            ("pa$word", Some("pa$word")),
            ("${HOST}-${HOST}", Some("kafka1-kafka1")),
            ("${MISSING:-}", Some("")),
        ];
        for (input, want) in ok {
            assert_eq!(run(input), Ok(want.map(String::from)), "input {input}");
        }
    }

    #[test]
    fn errors_name_the_variable() {
        assert_eq!(run("${NOPE}"), Err(vec![EnvError::Missing { var: "NOPE".into() }]));
        assert_eq!(
            run("${NOPE:?set the SMTP password}"),
            Err(vec![EnvError::Required { var: "NOPE".into(), message: "set the SMTP password".into() }])
        );
        assert_eq!(
            run("${EMPTY:?empty}"),
            Err(vec![EnvError::Required { var: "EMPTY".into(), message: "empty".into() }])
        );
        let both = run("${A1} and ${B2}").unwrap_err();
        assert_eq!(both.len(), 2);
        assert!(matches!(&run("${HOST").unwrap_err()[0], EnvError::Malformed { .. }));
        assert!(matches!(&run("${1X}").unwrap_err()[0], EnvError::Malformed { .. }));
        assert!(matches!(&run("${}").unwrap_err()[0], EnvError::Malformed { .. }));
    }
}
