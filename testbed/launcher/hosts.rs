//! The hosts flavours: a lab of `systemd-nspawn` hosts kept by one process
//! (`up --foreground`, or started in the background by `up`), reached by the
//! other commands through `DIR/hosts.json`.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use kafka_testbed::{HostCluster, HostSpec, HostsState};

use super::{Cmd, wait_for_signal};

/// Starts the lab. In the foreground this process keeps it until SIGTERM or
/// Ctrl-C; otherwise a detached copy of this command does (its output in
/// `DIR/lab.log`), and this one returns once the lab is ready.
pub fn up(spec: HostSpec, dir: &Path, foreground: bool) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    if dir.join(HostsState::FILE).exists() {
        bail!("{} already holds a running lab (`kafka-testbed down --dir {}` first)", dir.display(), dir.display());
    }
    let _ = std::fs::remove_file(dir.join("ready"));
    if !foreground {
        return detach(dir);
    }
    let started = Instant::now();
    let cluster = HostCluster::start(spec)?;
    let state = cluster.state(std::process::id());
    state.save(dir)?;
    print_status(&state);
    println!(
        "ready in {:.1}s; bootstrap servers (on the lab's bridge): {}",
        started.elapsed().as_secs_f64(),
        state.bootstrap
    );
    std::fs::write(dir.join("ready"), "")?;
    wait_for_signal();
    println!("stopping");
    drop(cluster);
    let _ = std::fs::remove_file(dir.join(HostsState::FILE));
    let _ = std::fs::remove_file(dir.join("ready"));
    Ok(())
}

/// This command again with `--foreground`, in a session of its own.
fn detach(dir: &Path) -> anyhow::Result<()> {
    let log = std::fs::File::create(dir.join("lab.log"))?;
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    args.push("--foreground".into());
    let mut cmd = Command::new(std::env::current_exe()?);
    cmd.args(&args).stdin(Stdio::null()).stdout(log.try_clone()?).stderr(log);
    // SAFETY: setsid only: the lab outlives this shell's job control.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut cmd, || {
            libc::setsid();
            Ok(())
        });
    }
    let mut child = cmd.spawn().context("start the lab's keeper")?;
    let deadline = Instant::now() + Duration::from_secs(600);
    while !dir.join("ready").exists() {
        if let Some(status) = child.try_wait()? {
            bail!(
                "the lab did not start ({status}):\n{}",
                std::fs::read_to_string(dir.join("lab.log")).unwrap_or_default()
            );
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            bail!("the lab was not ready within 10 minutes (see {})", dir.join("lab.log").display());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let state = HostsState::load(dir)?;
    print_status(&state);
    println!("bootstrap servers (on the lab's bridge): {}", state.bootstrap);
    Ok(())
}

/// Every command but `up`, against the lab in `dir`.
pub fn run(cmd: Cmd, dir: &Path) -> anyhow::Result<()> {
    let state = HostsState::load(dir)?;
    match cmd {
        Cmd::Up { .. } => {
            bail!("{} already holds a running lab (`kafka-testbed down --dir {}` first)", dir.display(), dir.display())
        }
        Cmd::Down { .. } => down(&state, dir),
        Cmd::Bootstrap { .. } => {
            println!("{}", state.bootstrap);
            Ok(())
        }
        Cmd::Status { json, .. } => {
            if json {
                println!("{}", serde_json::to_string_pretty(&state)?);
            } else {
                print_status(&state);
            }
            Ok(())
        }
        Cmd::Config { .. } => {
            print!("{}", state.cluster_section);
            Ok(())
        }
        Cmd::Stop { node, .. } => state.systemctl(&node, "stop"),
        Cmd::Start { node, .. } => state.systemctl(&node, "start"),
        Cmd::Kill { node, .. } => state.signal(&node, "KILL"),
        Cmd::Pause { node, .. } => state.signal(&node, "STOP"),
        Cmd::Resume { node, .. } => state.signal(&node, "CONT"),
        Cmd::Exec { host, command, .. } => {
            let status = state.lab.enter(&host)?.args(&command).status()?;
            passthrough(status)
        }
        Cmd::Lab { command, .. } => {
            let status = state.lab.command(&command[0]).args(&command[1..]).status()?;
            passthrough(status)
        }
    }
}

fn passthrough(status: std::process::ExitStatus) -> anyhow::Result<()> {
    if status.success() {
        Ok(())
    } else {
        std::process::exit(status.code().unwrap_or(1));
    }
}

/// SIGTERM to the lab's keeper; waits until it has torn the lab down.
fn down(state: &HostsState, dir: &Path) -> anyhow::Result<()> {
    let pid = state.owner as i32;
    // SAFETY: a signal to the lab's keeper, whose pid we wrote.
    if unsafe { libc::kill(pid, libc::SIGTERM) } != 0 {
        let _ = std::fs::remove_file(dir.join(HostsState::FILE));
        bail!("the lab's keeper (pid {pid}) is gone; its leftovers are swept by the next lab");
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    while kafka_testbed::pid_alive(state.owner) {
        if Instant::now() > deadline {
            bail!("the lab's keeper (pid {pid}) did not stop within 120 s");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    Ok(())
}

fn print_status(state: &HostsState) {
    println!("{:<14} {:<10} {:>4} {:<12} {:>5}  STATE", "HOST", "UNIT", "ID", "ADDRESS", "PORT");
    for n in &state.nodes {
        println!(
            "{:<14} {:<10} {:>4} {:<12} {:>5}  {}",
            n.host,
            n.unit,
            n.id,
            n.address,
            n.port,
            state.unit_state(&n.host)
        );
    }
    for h in state.lab.hosts.iter().filter(|h| !state.nodes.iter().any(|n| n.host == h.name)) {
        println!("{:<14} {:<10} {:>4} {:<12} {:>5}  kafka-self-healing installed", h.name, "-", "-", h.address, "-");
    }
}
