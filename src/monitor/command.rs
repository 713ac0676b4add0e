//! `command`: any executable, with the Nagios plugin convention — exit 0 OK,
//! 1 WARNING, 2 CRITICAL, 3 UNKNOWN; the first output line is the message.
//! The world of existing `check_*` scripts plugs in here.

use super::{Cause, Outcome, Prober};
use crate::topology::Node;

/// At most this much output is read; a check that prints more is cut.
const MAX_OUTPUT: usize = 64 * 1024;

pub(super) async fn probe(p: &Prober, node: &Node) -> Outcome {
    let Some(template) = &p.command.command else {
        return Outcome::unknown(Cause::ProbeError, "`monitoring.command.command` is not set");
    };
    let command = node.fill(template, true);
    let limit = p.command.timeout.map_or(p.timeout, |t| t.duration());
    let spec = crate::child::Spec {
        program: "sh".as_ref(),
        args: vec!["-c".into(), command.clone().into()],
        env: node.environment().into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
        stdin: None,
        stdout: crate::child::Keep::Head(MAX_OUTPUT),
        stderr: crate::child::Keep::Nothing,
        limit,
        // The check and everything it started.
        at_limit: crate::child::AtLimit::Kill,
        death_signal: libc::SIGKILL,
    };
    let exit = match crate::child::run(spec).await {
        Ok(exit) => exit,
        Err(e) => return Outcome::unknown(Cause::ProbeError, format!("cannot start `{command}`: {e}")),
    };
    if exit.timed_out {
        return Outcome::unknown(
            Cause::ProbeError,
            format!("`{command}` did not finish within {limit:?} and was killed"),
        );
    }
    nagios(exit.code, &exit.stdout.head)
}

/// The Nagios convention: exit 0 OK, 1 WARNING, 2 CRITICAL, else UNKNOWN; the
/// first output line (before any `|` performance data) is the message.
pub(super) fn nagios(exit_code: Option<i32>, out: &[u8]) -> Outcome {
    let text = String::from_utf8_lossy(out);
    let message = text.lines().next().unwrap_or("").split('|').next().unwrap_or("").trim().to_string();
    let message = if message.is_empty() { "(no output)".to_string() } else { message };
    match exit_code {
        Some(0) => Outcome::healthy(message),
        Some(1) => Outcome::degraded(Cause::CheckWarning, message),
        Some(2) => Outcome::failed(Cause::CheckCritical, message),
        Some(code) => Outcome::unknown(Cause::ProbeError, format!("exit {code}: {message}")),
        None => Outcome::unknown(Cause::ProbeError, format!("killed by a signal: {message}")),
    }
}
