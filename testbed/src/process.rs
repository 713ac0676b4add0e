//! Starting JVMs so that none outlives the process that started it, and signalling them.

use std::path::Path;
use std::process::{Child, Command};
use std::sync::mpsc;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

type SpawnRequest = (Command, mpsc::Sender<std::io::Result<Child>>);

/// Spawns `cmd` in its own process group.
///
/// With `tied`, the child is started from one long-lived thread and asks the
/// kernel to SIGKILL it when that thread dies (`PR_SET_PDEATHSIG`), so JVMs
/// die with the test process however it ends — panic, exit or SIGKILL. The
/// signal follows the *thread* that forked, hence the dedicated thread: test
/// threads come and go, this one lives as long as the process.
pub fn spawn(mut cmd: Command, tied: bool) -> std::io::Result<Child> {
    use std::os::unix::process::CommandExt;
    cmd.process_group(0);
    if !tied {
        return cmd.spawn();
    }
    // SAFETY: the closure only calls async-signal-safe functions (prctl, getppid, kill).
    unsafe {
        let parent = libc::getpid();
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The parent may have died between fork and prctl.
            if libc::getppid() != parent {
                libc::kill(libc::getpid(), libc::SIGKILL);
            }
            Ok(())
        });
    }
    static SPAWNER: OnceLock<Mutex<mpsc::Sender<SpawnRequest>>> = OnceLock::new();
    let sender = SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<SpawnRequest>();
        std::thread::Builder::new()
            .name("testbed-spawner".into())
            .spawn(move || {
                for (mut cmd, reply) in rx {
                    let _ = reply.send(cmd.spawn());
                }
                // The sender lives in a static, so the loop never ends: park for good.
                loop {
                    std::thread::park();
                }
            })
            .expect("cannot start the test bed's spawner thread");
        Mutex::new(tx)
    });
    let (reply_tx, reply_rx) = mpsc::channel();
    sender
        .lock()
        .map_err(|_| std::io::Error::other("spawner lock poisoned"))?
        .send((cmd, reply_tx))
        .map_err(|_| std::io::Error::other("the spawner thread is gone"))?;
    reply_rx.recv().map_err(|_| std::io::Error::other("the spawner thread did not answer"))?
}

/// Sends `signal` to the process group `pgid` (the JVM and anything it started).
pub fn signal_group(pgid: u32, signal: i32) -> std::io::Result<()> {
    // SAFETY: plain syscall with integer arguments.
    let rc = unsafe { libc::kill(-(pgid as i32), signal) };
    if rc == 0 { Ok(()) } else { Err(std::io::Error::last_os_error()) }
}

/// True while `pid` exists and is not a zombie.
pub fn pid_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state is the field after the parenthesised command name.
        Ok(stat) => stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().next()) != Some("Z"),
        Err(_) => false,
    }
}

/// Waits until `pid` is gone (reaping it when it is our child), up to `timeout`.
pub fn wait_gone(pid: u32, child: Option<&mut Child>, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    let mut child = child;
    loop {
        if let Some(c) = child.as_deref_mut() {
            if let Ok(Some(_)) = c.try_wait() {
                return true;
            }
        } else if !pid_alive(pid) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Pids of live `java` processes whose command line mentions `dir`.
pub fn jvm_pids_under(dir: &Path) -> Vec<u32> {
    let needle = dir.to_string_lossy().into_owned();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()))
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|raw| {
                let cmdline = String::from_utf8_lossy(&raw).replace('\0', " ");
                cmdline.contains("java") && cmdline.contains(&needle)
            }) && pid_alive(*pid)
        })
        .collect()
}
