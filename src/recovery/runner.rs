//! Running a plan: processes in their own process group with a time limit,
//! bounded capture of their output, or one HTTP call.
//!
//! Owns: each step's run through `crate::child` (its own group, SIGTERM and
//! SIGKILL after a grace period at the time limit, head and tail of its
//! output kept), the steps in order, the HTTP call, and the result of each.
//! Must never: wait forever on a pipe a daemonised grandchild keeps open, keep
//! more than `MAX_CAPTURE` bytes of output, or return unmasked output.

use std::time::{Duration, Instant};

use super::actions::{Plan, Step};
use crate::child::{self, AtLimit, Keep};
use crate::secrets::Masker;

/// Output kept per stream: the first and the last half of this.
const MAX_CAPTURE: usize = 16 * 1024;
/// Time between SIGTERM and SIGKILL on timeout.
const KILL_GRACE: Duration = Duration::from_secs(5);

/// What running a plan gave.
#[derive(Debug, Clone, PartialEq)]
pub struct RunResult {
    pub success: bool,
    /// Exit code of the last step run (HTTP: the status code).
    pub exit_code: Option<i32>,
    pub duration: Duration,
    /// One line: which step ended how.
    pub summary: String,
    /// Output excerpt, secrets masked.
    pub output: String,
}

/// Runs every step in order (stopping at the first failure), or the HTTP call.
pub async fn run(plan: &Plan, masker: &Masker, http: &reqwest::Client) -> RunResult {
    let started = Instant::now();
    match plan {
        Plan::Steps(steps) => {
            let mut output = String::new();
            let mut last = None;
            for step in steps {
                let r = run_step(step).await;
                if !r.output.is_empty() {
                    output.push_str(&format!("[{}]\n{}\n", step.label, r.output.trim_end()));
                }
                let ok = r.exit_code == Some(0) && !r.timed_out;
                let summary = match (r.timed_out, r.exit_code, &r.error) {
                    (_, _, Some(e)) => format!("{}: {e}", step.label),
                    (true, _, _) => format!("{}: killed after the {:?} time limit", step.label, step.timeout),
                    (false, Some(255), _) if step.argv.first().is_some_and(|a| a == "ssh") => {
                        ssh_failure(&step.label, &r.output)
                    }
                    (false, Some(code), _) => format!("{}: exit {code}", step.label),
                    (false, None, _) => format!("{}: killed by a signal", step.label),
                };
                last = Some((r.exit_code, summary));
                if !ok {
                    let (exit_code, summary) = last.unwrap_or((None, String::new()));
                    return RunResult {
                        success: false,
                        exit_code,
                        duration: started.elapsed(),
                        summary: masker.mask(&summary),
                        output: masker.mask(&output),
                    };
                }
            }
            let (exit_code, summary) = last.unwrap_or((Some(0), "nothing to run".into()));
            RunResult {
                success: true,
                exit_code,
                duration: started.elapsed(),
                summary: masker.mask(&summary),
                output: masker.mask(&output),
            }
        }
        Plan::Http { url, headers, body, timeout } => {
            let mut request = http
                .post(url)
                .timeout(*timeout)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.clone());
            for (k, v) in headers {
                request = request.header(k.as_str(), v.as_str());
            }
            let (success, code, summary, output) = match request.send().await {
                Ok(response) => {
                    let status = response.status();
                    let text = response.text().await.unwrap_or_default();
                    let excerpt: String = text.chars().take(MAX_CAPTURE).collect();
                    (status.is_success(), Some(status.as_u16() as i32), format!("POST {url}: HTTP {status}"), excerpt)
                }
                Err(e) => (false, None, format!("POST {url}: {e}"), String::new()),
            };
            RunResult {
                success,
                exit_code: code,
                duration: started.elapsed(),
                summary: masker.mask(&summary),
                output: masker.mask(&output),
            }
        }
    }
}

/// ssh exits 255 when it could not run the command at all: say why in the
/// words an operator acts on — the host is unreachable, refuses SSH, or
/// refuses the key — rather than "exit 255".
fn ssh_failure(label: &str, output: &str) -> String {
    let said = output.lines().rev().find(|l| l.starts_with("ssh:") || l.contains("Permission denied")).unwrap_or("");
    let cause = if said.contains("No route to host")
        || said.contains("Network is unreachable")
        || said.contains("timed out")
        || said.contains("Could not resolve hostname")
    {
        "host unreachable"
    } else if said.contains("Connection refused") {
        "the host refuses SSH (no sshd listening)"
    } else if said.contains("Permission denied") || said.contains("Host key verification failed") {
        "SSH authentication failed"
    } else {
        "ssh could not run the command"
    };
    if said.is_empty() {
        format!("{label}: {cause} (ssh exit 255)")
    } else {
        format!("{label}: {cause}: {}", said.trim())
    }
}

struct StepResult {
    exit_code: Option<i32>,
    timed_out: bool,
    error: Option<String>,
    output: String,
}

async fn run_step(step: &Step) -> StepResult {
    let Some((program, args)) = step.argv.split_first() else {
        return StepResult {
            exit_code: None,
            timed_out: false,
            error: Some("empty command".into()),
            output: String::new(),
        };
    };
    let spec = child::Spec {
        program: program.as_ref(),
        args: args.iter().map(Into::into).collect(),
        env: step.env.clone(),
        stdin: None,
        stdout: Keep::HeadAndTail(MAX_CAPTURE),
        stderr: Keep::HeadAndTail(MAX_CAPTURE),
        limit: step.timeout,
        at_limit: AtLimit::TermThenKill(KILL_GRACE),
        // If the daemon dies mid-attempt, the action dies with it: the attempt is
        // then recorded as interrupted and never half-runs next to its successor.
        death_signal: libc::SIGTERM,
    };
    let exit = match child::run(spec).await {
        Ok(exit) => exit,
        Err(e) => {
            return StepResult {
                exit_code: None,
                timed_out: false,
                error: Some(format!("cannot run `{program}`: {e}")),
                output: String::new(),
            };
        }
    };
    let text = |c: &child::Captured| {
        if c.held_open { "(output not closed: a background process keeps it open)".to_string() } else { c.text() }
    };
    let mut output = text(&exit.stdout);
    let stderr = text(&exit.stderr);
    if !stderr.trim().is_empty() {
        if !output.is_empty() && !output.ends_with('\n') {
            output.push('\n');
        }
        output.push_str(&stderr);
    }
    StepResult { exit_code: exit.code, timed_out: exit.timed_out, error: None, output }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(script: &str, timeout: Duration) -> Step {
        Step {
            label: "test".into(),
            argv: vec!["sh".into(), "-c".into(), script.into()],
            env: vec![("SECRET_VALUE".into(), "hunter22".into())],
            timeout,
        }
    }

    #[test]
    fn ssh_failures_name_their_cause() {
        let unreachable = "ssh: connect to host broker-2 port 22: No route to host\n";
        assert_eq!(
            ssh_failure("restart", unreachable),
            "restart: host unreachable: ssh: connect to host broker-2 port 22: No route to host"
        );
        assert!(ssh_failure("restart", "ssh: connect to host b port 22: Connection refused").contains("refuses SSH"));
        assert!(ssh_failure("restart", "kafka-healing@b: Permission denied (publickey).").contains("authentication"));
        assert_eq!(ssh_failure("restart", ""), "restart: ssh could not run the command (ssh exit 255)");
    }

    #[tokio::test]
    async fn steps_run_in_order_until_one_fails() {
        let masker = Masker::new(vec!["hunter22".into()]);
        let http = reqwest::Client::new();
        let plan = Plan::Steps(vec![
            step("echo one; echo \"pw=$SECRET_VALUE\" >&2", Duration::from_secs(5)),
            step("exit 3", Duration::from_secs(5)),
            step("echo never", Duration::from_secs(5)),
        ]);
        let r = run(&plan, &masker, &http).await;
        assert!(!r.success);
        assert_eq!(r.exit_code, Some(3));
        assert_eq!(r.summary, "test: exit 3");
        assert!(r.output.contains("one") && r.output.contains("pw=***"), "{}", r.output);
        assert!(!r.output.contains("never") && !r.output.contains("hunter22"));
    }

    #[tokio::test]
    async fn a_hanging_step_is_killed_with_its_children_and_output_is_bounded() {
        let masker = Masker::default();
        let http = reqwest::Client::new();
        let started = Instant::now();
        let r = run(
            &Plan::Steps(vec![step("sleep 301 & sleep 301; echo late", Duration::from_millis(300))]),
            &masker,
            &http,
        )
        .await;
        assert!(!r.success && r.summary.contains("time limit"), "{r:?}");
        assert!(started.elapsed() < Duration::from_secs(4), "SIGTERM ends it; {:?}", started.elapsed());
        let loud =
            run(&Plan::Steps(vec![step("yes x | head -c 1000000", Duration::from_secs(10))]), &masker, &http).await;
        assert!(loud.success);
        assert!(loud.output.len() < MAX_CAPTURE + 200 && loud.output.contains("bytes left out"));
        // A daemonised grandchild keeping stdout open does not hold the attempt.
        let started = Instant::now();
        let bg =
            run(&Plan::Steps(vec![step("sleep 30 & echo started", Duration::from_secs(10))]), &masker, &http).await;
        assert!(bg.success && started.elapsed() < Duration::from_secs(5), "{bg:?}");
        let missing = run(
            &Plan::Steps(vec![Step {
                label: "x".into(),
                argv: vec!["/nonexistent/x".into()],
                env: vec![],
                timeout: Duration::from_secs(1),
            }]),
            &masker,
            &http,
        )
        .await;
        assert!(!missing.success && missing.summary.contains("cannot run `/nonexistent/x`"));
    }
}
