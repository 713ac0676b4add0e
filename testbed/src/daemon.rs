//! The kafka-self-healing daemon run as a child for tests and benchmarks,
//! with its JSON application log read back.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::Value;

use super::process;

/// A running `kafka-self-healing run`; killed when dropped, and with this
/// process however it ends.
pub struct Daemon {
    child: Child,
    log: PathBuf,
}

impl Daemon {
    /// Starts `binary run --config config [args]`; the configuration must log JSON to `log`.
    pub fn start(binary: &Path, config: &Path, log: PathBuf, args: &[&str]) -> std::io::Result<Daemon> {
        let mut cmd = Command::new(binary);
        cmd.args(["run", "--config"]).arg(config).args(args).stderr(Stdio::null());
        let child = process::spawn(cmd, true)?;
        Ok(Daemon { child, log })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The exit code once the daemon has exited (`Some(None)` when killed by a signal).
    pub fn try_wait(&mut self) -> Option<Option<i32>> {
        self.child.try_wait().ok().flatten().map(|s| s.code())
    }

    /// The application log as written so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Every JSON log line so far.
    pub fn lines(&self) -> Vec<Value> {
        self.log_text().lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
    }

    /// The transitions of `node` logged so far, as `(from, to, cause)`.
    pub fn transitions(&self, node: &str) -> Vec<(String, String, String)> {
        self.lines()
            .iter()
            .filter(|l| {
                l["fields"]["node"] == node
                    && l["fields"]["message"].as_str().is_some_and(|m| m.starts_with("Node status"))
            })
            .map(|l| {
                let f = &l["fields"];
                let s = |k: &str| f[k].as_str().unwrap_or("").to_string();
                (s("from"), s("to"), s("cause"))
            })
            .collect()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
