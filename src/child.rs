//! Child processes: the one way the daemon runs a program — recovery
//! actions, external plugins and the `command` probe.
//!
//! Owns: a process group of its own (so a time limit reaches everything the
//! program started), death with the daemon (`PR_SET_PDEATHSIG`), stdin fed
//! and closed, bounded capture of stdout and stderr (the head, or the head
//! and the tail), the time limit with the caller's policy at it (SIGKILL the
//! group, or SIGTERM and SIGKILL after a grace), and a bounded wait for pipes
//! a daemonised grandchild keeps open.
//! Must never: wait forever, keep more output than asked, or run a shell
//! string it was not given as an argument vector.

use std::collections::VecDeque;
use std::ffi::{OsStr, OsString};
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;

/// After the program exits (or is killed), how long its pipes may take to close.
pub const DRAIN: Duration = Duration::from_secs(1);

/// What is kept of one output stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    /// Not even opened (`/dev/null`).
    Nothing,
    /// The first `n` bytes; the rest is read and counted, not kept.
    Head(usize),
    /// The first and the last `n / 2` bytes.
    HeadAndTail(usize),
}

/// What happens at the time limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AtLimit {
    /// SIGKILL to the group at once.
    Kill,
    /// SIGTERM to the group; SIGKILL after the grace if it is still there.
    TermThenKill(Duration),
}

/// One program to run.
#[derive(Debug, Clone)]
pub struct Spec<'a> {
    pub program: &'a OsStr,
    pub args: Vec<OsString>,
    /// Added to the daemon's environment.
    pub env: Vec<(String, String)>,
    /// Written to its stdin, which is then closed; `None`: stdin is `/dev/null`.
    pub stdin: Option<&'a [u8]>,
    pub stdout: Keep,
    pub stderr: Keep,
    pub limit: Duration,
    pub at_limit: AtLimit,
    /// The signal it gets when the daemon dies.
    pub death_signal: i32,
}

/// One stream's output, as kept.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Captured {
    pub head: Vec<u8>,
    pub tail: Vec<u8>,
    /// Bytes read but not kept.
    pub left_out: usize,
    /// The pipe was still open `DRAIN` after the program ended (a background
    /// process holds it): what was read until then.
    pub held_open: bool,
}

impl Captured {
    /// The kept bytes as text, with a line where bytes were left out of the middle.
    pub fn text(&self) -> String {
        let mut text = String::from_utf8_lossy(&self.head).into_owned();
        if self.left_out > 0 && !self.tail.is_empty() {
            text.push_str(&format!("\n… {} bytes left out …\n", self.left_out));
        }
        text.push_str(&String::from_utf8_lossy(&self.tail));
        text
    }
}

/// How the program ended.
#[derive(Debug, Clone)]
pub struct Exit {
    /// Its exit code; `None` when a signal ended it.
    pub code: Option<i32>,
    /// It reached the time limit and was stopped.
    pub timed_out: bool,
    pub stdout: Captured,
    pub stderr: Captured,
    pub duration: Duration,
}

/// Runs `spec` to its end or its time limit. `Err` only when it cannot start.
pub async fn run(spec: Spec<'_>) -> std::io::Result<Exit> {
    let started = Instant::now();
    let pipe = |keep: Keep| if keep == Keep::Nothing { Stdio::null() } else { Stdio::piped() };
    let mut cmd = Command::new(spec.program);
    cmd.args(&spec.args)
        .envs(spec.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(if spec.stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(pipe(spec.stdout))
        .stderr(pipe(spec.stderr))
        .process_group(0)
        .kill_on_drop(true);
    let death = spec.death_signal;
    // SAFETY: prctl is async-signal-safe and touches only the child.
    unsafe {
        cmd.pre_exec(move || {
            libc::prctl(libc::PR_SET_PDEATHSIG, death);
            Ok(())
        });
    }
    let mut child = cmd.spawn()?;
    let group = child.id().map(|p| p as i32);
    let out = tokio::spawn(capture(child.stdout.take(), spec.stdout));
    let err = tokio::spawn(capture(child.stderr.take(), spec.stderr));
    let feed = match (child.stdin.take(), spec.stdin) {
        (Some(mut input), Some(body)) => {
            let body = body.to_vec();
            Some(tokio::spawn(async move {
                // A program that does not read its input is not an error by itself.
                let _ = input.write_all(&body).await;
                let _ = input.shutdown().await;
            }))
        }
        _ => None,
    };
    let (status, timed_out) = match tokio::time::timeout(spec.limit, child.wait()).await {
        Ok(status) => (status.ok(), false),
        Err(_) => {
            let status = match spec.at_limit {
                AtLimit::Kill => {
                    signal(group, libc::SIGKILL);
                    child.wait().await.ok()
                }
                AtLimit::TermThenKill(grace) => {
                    signal(group, libc::SIGTERM);
                    match tokio::time::timeout(grace, child.wait()).await {
                        Ok(s) => s.ok(),
                        Err(_) => {
                            signal(group, libc::SIGKILL);
                            child.wait().await.ok()
                        }
                    }
                }
            };
            (status, true)
        }
    };
    if let Some(feed) = feed {
        feed.abort();
    }
    let drained = |h: tokio::task::JoinHandle<Captured>| async move {
        match tokio::time::timeout(DRAIN, h).await {
            Ok(Ok(c)) => c,
            _ => Captured { held_open: true, ..Captured::default() },
        }
    };
    let (stdout, stderr) = (drained(out).await, drained(err).await);
    Ok(Exit { code: status.and_then(|s| s.code()), timed_out, stdout, stderr, duration: started.elapsed() })
}

/// `sig` to the whole group the child leads.
fn signal(group: Option<i32>, sig: i32) {
    if let Some(pg) = group {
        // SAFETY: plain syscall with integer arguments, on the group we created.
        unsafe { libc::kill(-pg, sig) };
    }
}

/// Reads a stream to its end, keeping what `keep` says.
async fn capture(stream: Option<impl AsyncRead + Unpin>, keep: Keep) -> Captured {
    let mut c = Captured::default();
    let Some(mut stream) = stream else { return c };
    let (head_max, tail_max) = match keep {
        Keep::Nothing => (0, 0),
        Keep::Head(n) => (n, 0),
        Keep::HeadAndTail(n) => (n / 2, n / 2),
    };
    let mut tail = VecDeque::new();
    let mut buf = [0u8; 8192];
    loop {
        let n = match stream.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        for &b in &buf[..n] {
            if c.head.len() < head_max {
                c.head.push(b);
            } else if tail_max > 0 {
                tail.push_back(b);
                if tail.len() > tail_max {
                    tail.pop_front();
                    c.left_out += 1;
                }
            } else {
                c.left_out += 1;
            }
        }
    }
    c.tail = tail.into_iter().collect();
    c
}

/// The last `max` bytes of `s` (on a character boundary).
pub fn tail(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut start = s.len() - max;
    while !s.is_char_boundary(start) {
        start += 1;
    }
    format!("…{}", &s[start..])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str, keep: Keep, limit: Duration, at_limit: AtLimit) -> Spec<'static> {
        Spec {
            program: OsStr::new("sh"),
            args: vec!["-c".into(), script.into()],
            env: vec![("GREETING".into(), "hello".into())],
            stdin: None,
            stdout: keep,
            stderr: keep,
            limit,
            at_limit,
            death_signal: libc::SIGKILL,
        }
    }

    #[tokio::test]
    async fn output_is_kept_as_asked_and_stdin_is_fed() {
        let long = sh(
            "head -c 5000 /dev/zero | tr '\\0' a; echo; echo end",
            Keep::HeadAndTail(100),
            Duration::from_secs(5),
            AtLimit::Kill,
        );
        let exit = run(long).await.unwrap();
        assert_eq!(exit.code, Some(0));
        assert_eq!(exit.stdout.head.len() + exit.stdout.tail.len(), 100);
        assert!(exit.stdout.text().contains("bytes left out") && exit.stdout.text().ends_with("end\n"));
        let head = sh("echo $GREETING; echo oops >&2; exit 3", Keep::Head(3), Duration::from_secs(5), AtLimit::Kill);
        let exit = run(head).await.unwrap();
        assert_eq!((exit.code, exit.stdout.text().as_str(), exit.stdout.left_out), (Some(3), "hel", 3));
        assert_eq!(exit.stderr.text(), "oop");
        let body = b"{\"x\": 1}";
        let cat = Spec { stdin: Some(body), ..sh("cat", Keep::Head(64), Duration::from_secs(5), AtLimit::Kill) };
        assert_eq!(run(cat).await.unwrap().stdout.text(), "{\"x\": 1}");
    }

    #[tokio::test]
    async fn the_limit_reaches_the_whole_group_and_a_held_pipe_does_not_hang() {
        // A child that ignores SIGTERM gets SIGKILL after the grace.
        let stubborn = sh(
            "trap '' TERM; sleep 30 & wait",
            Keep::Head(64),
            Duration::from_millis(200),
            AtLimit::TermThenKill(Duration::from_millis(300)),
        );
        let started = Instant::now();
        let exit = run(stubborn).await.unwrap();
        assert!(exit.timed_out && exit.code.is_none());
        assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
        // A grandchild in a new session keeps stdout open: the wait for it is bounded.
        let daemonised = sh("setsid sleep 5 & echo started", Keep::Head(64), Duration::from_secs(5), AtLimit::Kill);
        let started = Instant::now();
        let exit = run(daemonised).await.unwrap();
        assert_eq!(exit.code, Some(0));
        assert!(exit.stdout.held_open && started.elapsed() < Duration::from_secs(3), "{exit:?}");
        assert!(
            run(Spec {
                program: OsStr::new("/nonexistent/x"),
                ..sh("", Keep::Nothing, Duration::from_secs(1), AtLimit::Kill)
            })
            .await
            .is_err()
        );
    }
}
