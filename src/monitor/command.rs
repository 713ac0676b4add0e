//! `command`: any executable, with the Nagios plugin convention — exit 0 OK,
//! 1 WARNING, 2 CRITICAL, 3 UNKNOWN; the first output line is the message.
//! The world of existing `check_*` scripts plugs in here.

use std::process::Stdio;

use tokio::io::AsyncReadExt;

use super::{Cause, Outcome, Prober};
use crate::topology::Node;

/// At most this much output is read; a check that prints more is cut.
const MAX_OUTPUT: u64 = 64 * 1024;

pub(super) async fn probe(p: &Prober, node: &Node) -> Outcome {
    let Some(template) = &p.command.command else {
        return Outcome::unknown(Cause::ProbeError, "`monitoring.command.command` is not set");
    };
    let command = node.fill(template, true);
    let limit = p.command.timeout.map_or(p.timeout, |t| t.duration());
    let mut child = match tokio::process::Command::new("sh")
        .arg("-c")
        .arg(&command)
        .envs(node.environment())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
    {
        Ok(c) => c,
        Err(e) => return Outcome::unknown(Cause::ProbeError, format!("cannot start `{command}`: {e}")),
    };
    let pid = child.id();
    let mut stdout = child.stdout.take();
    let run = async {
        let mut out = Vec::new();
        if let Some(s) = stdout.as_mut() {
            let _ = s.take(MAX_OUTPUT).read_to_end(&mut out).await;
            // Drain the rest so a chatty check is not blocked on a full pipe.
            let _ = tokio::io::copy(s, &mut tokio::io::sink()).await;
        }
        let status = child.wait().await;
        (status, out)
    };
    let (status, out) = match tokio::time::timeout(limit, run).await {
        Ok(done) => done,
        Err(_) => {
            if let Some(pid) = pid {
                // The check and everything it started.
                // SAFETY: plain syscall with integer arguments.
                unsafe { libc::kill(-(pid as i32), libc::SIGKILL) };
            }
            return Outcome::unknown(
                Cause::ProbeError,
                format!("`{command}` did not finish within {limit:?} and was killed"),
            );
        }
    };
    nagios(status.ok().and_then(|s| s.code()), &out)
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
