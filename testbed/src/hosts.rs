//! Hosts that boot a real systemd: the production topology as a test bed.
//!
//! Owns: a minimal Debian root built once with `mmdebstrap` (cached under
//! `~/.cache/kafka-self-healing/`), and a *lab*: N `systemd-nspawn`
//! containers booting systemd as PID 1 from throw-away overlays of that root,
//! each in its own network namespace with its own address, on a bridge that
//! lives in a network namespace of the lab's own. Entering hosts
//! (`nsenter`), powering them off (`cgroup.kill`), rebooting them, cutting or
//! delaying their links (a relay in user space: [`link`](super::link)), and tearing everything down — also
//! after a panicking test, and what an earlier, killed run left behind.
//! Must never: put an address outside 127.0.0.0/8 in the machine's root
//! network namespace (every such address lives in the lab's namespaces), or
//! leave a container, mount, namespace, cgroup or process behind.

use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};

use super::dist::cache_dir;
use super::link::{Impairment, Relay, open_tap};

/// Debian packages of the hosts' root: systemd as PID 1, an SSH server for
/// the healer, sudo and polkit for its least-privilege setups, and the tools
/// the runbook's commands use (`curl`, `journalctl`, `ping`).
const PACKAGES: &[&str] = &[
    "systemd",
    "systemd-sysv",
    "dbus",
    "iproute2",
    "procps",
    "openssh-server",
    "openssh-client",
    "sudo",
    "polkitd",
    "adduser",
    "ca-certificates",
    "curl",
    "iputils-ping",
];

/// The first three octets of every lab's subnet. Only ever inside the lab's
/// namespaces, so two labs (or a lab and anything else) never meet.
pub const SUBNET: &str = "10.77.0";

/// Prefix of everything a lab creates: namespaces, cgroups, directories.
const PREFIX: &str = "ksh";

static LABS: AtomicU32 = AtomicU32::new(0);

/// The cached Debian root, built with `mmdebstrap` on first use (15–60 s,
/// about 185 MB) from the mirror apt already uses.
pub fn root() -> anyhow::Result<PathBuf> {
    let version = {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        PACKAGES.hash(&mut h);
        format!("{:x}", h.finish() & 0xffff_ffff)
    };
    let dir = cache_dir().join(format!("hosts-root-bookworm-{version}"));
    if dir.join("usr/lib/systemd/systemd").exists() {
        return Ok(dir);
    }
    let mirror = apt_mirror().unwrap_or_else(|| "http://deb.debian.org/debian".to_string());
    let partial = cache_dir().join(format!("hosts-root-bookworm-{version}.partial-{}", std::process::id()));
    let _ = fs::remove_dir_all(&partial);
    fs::create_dir_all(cache_dir())?;
    let out = Command::new("mmdebstrap")
        .args(["--mode=root", "--variant=minbase", "--quiet"])
        .arg(format!("--include={}", PACKAGES.join(",")))
        .args(["--dpkgopt=path-exclude=/usr/share/doc/*", "--dpkgopt=path-exclude=/usr/share/man/*"])
        .arg("--dpkgopt=path-exclude=/usr/share/locale/*")
        .arg("bookworm")
        .arg(&partial)
        .arg(&mirror)
        .stdin(Stdio::null())
        .output()
        .context("run mmdebstrap (testing/setup.sh installs it)")?;
    if !out.status.success() {
        let _ = fs::remove_dir_all(&partial);
        bail!("mmdebstrap failed ({}): {}", out.status, String::from_utf8_lossy(&out.stderr));
    }
    match fs::rename(&partial, &dir) {
        Ok(()) => Ok(dir),
        // Another run finished first: use its root.
        Err(_) if dir.join("usr/lib/systemd/systemd").exists() => {
            let _ = fs::remove_dir_all(&partial);
            Ok(dir)
        }
        Err(e) => Err(e).context("move the new root into the cache"),
    }
}

/// The Debian mirror of `/etc/apt/sources.list.d/*.sources` or `sources.list`.
fn apt_mirror() -> Option<String> {
    let mut texts = Vec::new();
    if let Ok(dir) = fs::read_dir("/etc/apt/sources.list.d") {
        for e in dir.flatten() {
            if e.path().extension().is_some_and(|x| x == "sources") {
                texts.push(fs::read_to_string(e.path()).unwrap_or_default());
            }
        }
    }
    for text in &texts {
        for stanza in text.split("\n\n") {
            let suites = stanza.lines().find(|l| l.starts_with("Suites:")).unwrap_or("");
            if !suites.split_whitespace().any(|s| s == "bookworm") {
                continue;
            }
            if let Some(uris) = stanza.lines().find(|l| l.starts_with("URIs:")) {
                return uris.split_whitespace().nth(1).map(str::to_string);
            }
        }
    }
    let list = fs::read_to_string("/etc/apt/sources.list").ok()?;
    list.lines()
        .filter(|l| l.starts_with("deb ") && l.contains(" bookworm "))
        .find_map(|l| l.split_whitespace().find(|w| w.starts_with("http")).map(str::to_string))
}

/// One host: a booted systemd in its own network namespace.
pub struct Host {
    pub name: String,
    /// Its address on the lab's bridge.
    pub address: String,
    dir: PathBuf,
    netns: String,
    cgroup: String,
    root: PathBuf,
    binds: Vec<String>,
    nspawn: Option<Child>,
    pid1: Option<u32>,
}

/// A set of hosts on one bridge; dropped, it leaves nothing behind.
pub struct Lab {
    id: String,
    dir: PathBuf,
    lab_netns: String,
    pub hosts: Vec<Host>,
    /// Impaired links, by host.
    relays: std::collections::HashMap<String, Relay>,
}

impl Lab {
    /// Boots one host per name (`binds`: extra `--bind-ro=` arguments for every
    /// host). Waits until each says `running` (or `degraded`).
    pub fn start(names: &[&str], binds: &[String]) -> anyhow::Result<Lab> {
        sweep_leftovers();
        let root = root()?;
        let n = LABS.fetch_add(1, Ordering::SeqCst);
        let id = format!("{PREFIX}{}x{n}", std::process::id());
        let dir = std::env::temp_dir().join(format!("{id}-hosts"));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir)?;
        let lab_netns = format!("{id}-lab");
        let mut lab = Lab { id, dir, lab_netns, hosts: Vec::new(), relays: Default::default() };
        ip(&["netns", "add", &lab.lab_netns])?;
        lab.ip_in_lab(&["link", "set", "lo", "up"])?;
        lab.ip_in_lab(&["link", "add", "br0", "type", "bridge"])?;
        lab.ip_in_lab(&["link", "set", "br0", "up"])?;
        // The lab's own address: how the tests reach the hosts (`in_lab`, `command`).
        lab.ip_in_lab(&["addr", "add", &format!("{SUBNET}.1/24"), "dev", "br0"])?;
        let etc_hosts: String =
            names.iter().enumerate().map(|(i, name)| format!("{SUBNET}.{} {name}\n", 11 + i)).collect::<String>();
        // `ip netns exec` shows this file as /etc/hosts: clients in the lab resolve the hosts.
        let resolv = Path::new("/etc/netns").join(&lab.lab_netns);
        fs::create_dir_all(&resolv)?;
        fs::write(resolv.join("hosts"), format!("127.0.0.1 localhost\n{etc_hosts}"))?;
        for (i, name) in names.iter().enumerate() {
            let address = format!("{SUBNET}.{}", 11 + i);
            let netns = format!("{}-h{i}", lab.id);
            ip(&["netns", "add", &netns])?;
            let veth = format!("v{i}");
            lab.ip_in_lab(&["link", "add", &veth, "type", "veth", "peer", "name", "eth0", "netns", &netns])?;
            lab.ip_in_lab(&["link", "set", &veth, "master", "br0", "up"])?;
            ip(&["-n", &netns, "link", "set", "lo", "up"])?;
            ip(&["-n", &netns, "addr", "add", &format!("{address}/24"), "dev", "eth0"])?;
            ip(&["-n", &netns, "link", "set", "eth0", "up"])?;
            let hdir = lab.dir.join(name);
            for d in ["upper", "work", "merged"] {
                fs::create_dir_all(hdir.join(d))?;
            }
            let cgroup = format!("{}-h{i}", lab.id);
            let host = Host {
                name: name.to_string(),
                address,
                dir: hdir,
                netns,
                cgroup,
                root: root.clone(),
                binds: binds.to_vec(),
                nspawn: None,
                pid1: None,
            };
            host.mount()?;
            let merged = host.fs();
            fs::write(merged.join("etc/hostname"), format!("{name}\n"))?;
            fs::write(merged.join("etc/hosts"), format!("127.0.0.1 localhost\n::1 localhost\n{etc_hosts}"))?;
            fs::write(merged.join("etc/machine-id"), format!("{:032x}\n", rand::random::<u128>()))?;
            lab.hosts.push(host);
        }
        for host in &mut lab.hosts {
            host.boot()?;
        }
        for host in &mut lab.hosts {
            host.wait_running(Duration::from_secs(60))?;
        }
        Ok(lab)
    }

    pub fn host(&self, name: &str) -> &Host {
        self.hosts.iter().find(|h| h.name == name).unwrap_or_else(|| panic!("no host `{name}` in the lab"))
    }

    pub fn host_mut(&mut self, name: &str) -> &mut Host {
        self.hosts.iter_mut().find(|h| h.name == name).unwrap_or_else(|| panic!("no host `{name}` in the lab"))
    }

    /// `program` run in the lab's network namespace (on the bridge, at `SUBNET.1`).
    pub fn command(&self, program: &str) -> Command {
        netns_command(&self.lab_netns, program)
    }

    /// Runs `f` on a thread inside the lab's network namespace: its sockets reach the hosts.
    pub fn in_lab<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> anyhow::Result<T> {
        in_netns(&self.lab_netns, f)
    }

    /// `ip ARGS` in the lab's namespace (the bridge side of every link).
    fn ip_in_lab(&self, args: &[&str]) -> anyhow::Result<()> {
        let mut full = vec!["-n", self.lab_netns.as_str()];
        full.extend_from_slice(args);
        ip(&full)
    }

    /// `host` loses power: every process dies at once and its network card goes
    /// dark (nothing answers its address, not even a refusal).
    pub fn power_off(&mut self, host: &str) -> anyhow::Result<()> {
        self.link(host, false)?;
        self.host_mut(host).power_off();
        Ok(())
    }

    /// Power back on: the link comes up and the host boots from its disk.
    pub fn power_on(&mut self, host: &str) -> anyhow::Result<()> {
        self.link(host, true)?;
        let h = self.host_mut(host);
        h.boot()?;
        h.wait_running(Duration::from_secs(60))
    }

    /// From `from`, no route to `to` (`on`), or the route back: one path cut
    /// while every other host still reaches `to`.
    pub fn cut_path(&self, from: &str, to: &str, on: bool) -> anyhow::Result<()> {
        let netns = self.host(from).netns.clone();
        let target = format!("{}/32", self.host(to).address);
        ip(&["-n", &netns, "route", if on { "add" } else { "del" }, "unreachable", &target])
    }

    /// `host` and every other host but `reachable_from` lose their paths to
    /// each other, both ways (`on`), or get them back: a broker partitioned
    /// from its peers that the healer still reaches.
    pub fn partition(&self, host: &str, reachable_from: &[&str], on: bool) -> anyhow::Result<()> {
        let others: Vec<String> = self
            .hosts
            .iter()
            .map(|h| h.name.clone())
            .filter(|n| n != host && !reachable_from.contains(&n.as_str()))
            .collect();
        for other in &others {
            self.cut_path(host, other, on)?;
            self.cut_path(other, host, on)?;
        }
        Ok(())
    }

    /// Cuts `host`'s link to the bridge (`up: false`) or restores it.
    pub fn link(&self, host: &str, up: bool) -> anyhow::Result<()> {
        let i = self.hosts.iter().position(|h| h.name == host).ok_or_else(|| anyhow!("no host `{host}`"))?;
        self.ip_in_lab(&["link", "set", &format!("v{i}"), if up { "up" } else { "down" }])
    }

    /// Delay and loss on `host`'s link, in each direction (a relay in user
    /// space, see [`link`](super::link)); `None` restores the plain link.
    pub fn impair(&mut self, host: &str, impairment: Option<Impairment>) -> anyhow::Result<()> {
        let i = self.hosts.iter().position(|h| h.name == host).ok_or_else(|| anyhow!("no host `{host}`"))?;
        let (veth, own_bridge, near, far) = (format!("v{i}"), format!("l{i}"), format!("a{i}"), format!("b{i}"));
        if self.relays.remove(host).is_some() {
            self.ip_in_lab(&["link", "set", &veth, "nomaster"])?;
            self.ip_in_lab(&["link", "set", &veth, "master", "br0"])?;
            self.ip_in_lab(&["link", "del", &own_bridge])?;
        }
        let Some(impairment) = impairment else { return Ok(()) };
        let names = (near.clone(), far.clone());
        let (a, b) = self.in_lab(move || -> anyhow::Result<_> { Ok((open_tap(&names.0)?, open_tap(&names.1)?)) })??;
        self.ip_in_lab(&["link", "add", &own_bridge, "type", "bridge"])?;
        self.ip_in_lab(&["link", "set", &own_bridge, "up"])?;
        self.ip_in_lab(&["link", "set", &veth, "nomaster"])?;
        self.ip_in_lab(&["link", "set", &veth, "master", &own_bridge])?;
        self.ip_in_lab(&["link", "set", &far, "master", &own_bridge, "up"])?;
        self.ip_in_lab(&["link", "set", &near, "master", "br0", "up"])?;
        self.relays.insert(host.to_string(), Relay::start(a, b, impairment)?);
        Ok(())
    }

    /// How another process reaches this lab while it runs.
    pub fn state(&self) -> LabState {
        LabState {
            netns: self.lab_netns.clone(),
            hosts: self
                .hosts
                .iter()
                .map(|h| HostState { name: h.name.clone(), address: h.address.clone(), pid1: h.pid1 })
                .collect(),
        }
    }

    /// Where the lab keeps its files (overlays, keys).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Shuts every host down and removes every trace of the lab.
    pub fn teardown(&mut self) {
        self.relays.clear();
        for host in &mut self.hosts {
            host.shutdown();
        }
        for host in &mut self.hosts {
            host.unmount();
            remove_cgroup(&host.cgroup);
            let _ = ip(&["netns", "del", &host.netns]);
        }
        let _ = ip(&["netns", "del", &self.lab_netns]);
        let _ = fs::remove_dir_all(Path::new("/etc/netns").join(&self.lab_netns));
        let _ = fs::remove_dir_all(&self.dir);
        self.hosts.clear();
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        self.teardown();
    }
}

impl Host {
    /// The host's file system as seen from outside (its overlay).
    pub fn fs(&self) -> PathBuf {
        self.dir.join("merged")
    }

    /// Writes `text` to `path` inside the host (mode 0644 unless `mode`).
    pub fn write(&self, path: &str, text: &str, mode: u32) -> anyhow::Result<()> {
        let target = self.fs().join(path.trim_start_matches('/'));
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent)?;
        }
        fs::write(&target, text).with_context(|| format!("write {path} on {}", self.name))?;
        fs::set_permissions(&target, std::os::unix::fs::PermissionsExt::from_mode(mode))?;
        Ok(())
    }

    /// Reads `path` inside the host.
    pub fn read(&self, path: &str) -> String {
        fs::read_to_string(self.fs().join(path.trim_start_matches('/'))).unwrap_or_default()
    }

    /// Runs `script` with `sh -c` inside the host, as root, with a clean environment.
    pub fn exec(&self, script: &str) -> anyhow::Result<Output> {
        let pid1 = self.pid1.ok_or_else(|| anyhow!("host `{}` is not running", self.name))?;
        enter(pid1)
            .args(["sh", "-c"])
            .arg(format!("cd / && {script}"))
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("nsenter into `{}`", self.name))
    }

    /// Runs `script` inside the host; its stdout, or an error with both outputs.
    pub fn sh(&self, script: &str) -> anyhow::Result<String> {
        let out = self.exec(script)?;
        if !out.status.success() {
            bail!(
                "on `{}`: `{script}` failed ({}):\n{}{}",
                self.name,
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// `systemctl is-active UNIT` inside the host: `active`, `activating`, `failed`, …
    pub fn unit_state(&self, unit: &str) -> String {
        self.exec(&format!("systemctl is-active {unit}"))
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_else(|e| format!("unknown ({e})"))
    }

    /// The main PID of `unit`, when it runs.
    pub fn main_pid(&self, unit: &str) -> Option<u32> {
        self.sh(&format!("systemctl show -p MainPID --value {unit}")).ok()?.trim().parse().ok().filter(|p| *p > 0)
    }

    /// Whether the host is booted (its container runs).
    pub fn is_up(&self) -> bool {
        self.pid1.is_some()
    }

    fn mount(&self) -> anyhow::Result<()> {
        let merged = self.fs();
        if is_mounted(&merged) {
            return Ok(());
        }
        let options = format!(
            "lowerdir={},upperdir={},workdir={}",
            self.root.display(),
            self.dir.join("upper").display(),
            self.dir.join("work").display()
        );
        run_ok(Command::new("mount").args(["-t", "overlay", "overlay", "-o", &options]).arg(&merged))
    }

    fn unmount(&self) {
        let merged = self.fs();
        if is_mounted(&merged) && !Command::new("umount").arg(&merged).status().is_ok_and(|s| s.success()) {
            let _ = Command::new("umount").arg("-l").arg(&merged).status();
        }
    }

    /// Boots the host (again, after `power_off` or `shutdown`: a reboot keeps its disk).
    pub fn boot(&mut self) -> anyhow::Result<()> {
        if self.nspawn.is_some() {
            return Ok(());
        }
        self.mount()?;
        let procs: Vec<String> = ["systemd", "unified"]
            .iter()
            .map(|h| {
                let dir = format!("/sys/fs/cgroup/{h}/{}", self.cgroup);
                let _ = fs::create_dir_all(&dir);
                format!("{dir}/cgroup.procs")
            })
            .collect();
        let console = fs::OpenOptions::new().create(true).append(true).open(self.dir.join("console.log"))?;
        let mut nspawn = vec![
            "systemd-nspawn".to_string(),
            "-D".into(),
            self.fs().display().to_string(),
            "-M".into(),
            self.name.clone(),
            "--boot".into(),
            "--register=no".into(),
            "--keep-unit".into(),
            "--link-journal=no".into(),
            "--console=read-only".into(),
            format!("--network-namespace-path=/run/netns/{}", self.netns),
        ];
        nspawn.extend(self.binds.iter().map(|b| format!("--bind-ro={b}")));
        let quoted: Vec<String> = nspawn.iter().map(|a| format!("'{}'", a.replace('\'', "'\\''"))).collect();
        // Into a cgroup of its own on both hierarchies, then nspawn itself.
        let script = format!("echo $$ > {} && echo $$ > {} && exec {}", procs[0], procs[1], quoted.join(" "));
        let mut cmd = Command::new("sh");
        cmd.arg("-c").arg(script).stdin(Stdio::null()).stdout(console.try_clone()?).stderr(console);
        // SAFETY: prctl only. An orphaned container powers off with its test.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                Ok(())
            });
        }
        let child = cmd.spawn().context("start systemd-nspawn (testing/setup.sh installs systemd-container)")?;
        let nspawn_pid = child.id();
        self.nspawn = Some(child);
        // The container's PID 1 (not nspawn's short-lived outer child, which
        // exits once the container runs: entering that one fails).
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(pid) = container_init(nspawn_pid) {
                self.pid1 = Some(pid);
                return Ok(());
            }
            if let Some(Ok(Some(status))) = self.nspawn.as_mut().map(|c| c.try_wait()) {
                self.nspawn = None;
                bail!("systemd-nspawn for `{}` exited ({status}): {}", self.name, self.console_tail());
            }
            if Instant::now() > deadline {
                bail!("systemd-nspawn for `{}` started no container: {}", self.name, self.console_tail());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn wait_running(&self, limit: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + limit;
        loop {
            let state = self
                .exec("systemctl is-system-running")
                .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
                .unwrap_or_default();
            if state == "running" || state == "degraded" {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("`{}` did not finish booting (state `{state}`): {}", self.name, self.console_tail());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Boots again and waits until systemd is up.
    pub fn reboot(&mut self) -> anyhow::Result<()> {
        self.shutdown();
        self.boot()?;
        self.wait_running(Duration::from_secs(60))
    }

    /// Powered off: every process of the host dies at once (`cgroup.kill`), no shutdown.
    pub fn power_off(&mut self) {
        let _ = fs::write(format!("/sys/fs/cgroup/unified/{}/cgroup.kill", self.cgroup), "1");
        if let Some(mut child) = self.nspawn.take() {
            let _ = child.wait();
        }
        self.pid1 = None;
    }

    /// An orderly poweroff (SIGTERM to nspawn: units stop as systemd stops them).
    pub fn shutdown(&mut self) {
        let Some(mut child) = self.nspawn.take() else { return };
        let pid = child.id() as i32;
        for (signal, patience) in [(libc::SIGTERM, 20), (libc::SIGTERM, 5)] {
            // SAFETY: signalling our own child.
            unsafe { libc::kill(pid, signal) };
            let deadline = Instant::now() + Duration::from_secs(patience);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    self.pid1 = None;
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        self.nspawn = Some(child);
        self.power_off();
    }

    fn console_tail(&self) -> String {
        let text = fs::read_to_string(self.dir.join("console.log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().rev().take(15).collect();
        lines.into_iter().rev().collect::<Vec<_>>().join("\n")
    }
}

/// `program` run by `ip netns exec` in the namespace `name` (which shows
/// `/etc/netns/NAME/hosts` as its `/etc/hosts`).
pub(crate) fn netns_command(name: &str, program: &str) -> Command {
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", name, program]);
    cmd
}

/// Runs `f` on a thread inside the network namespace `/run/netns/NAME`.
pub(crate) fn in_netns<T: Send + 'static>(name: &str, f: impl FnOnce() -> T + Send + 'static) -> anyhow::Result<T> {
    let path = format!("/run/netns/{name}");
    std::thread::spawn(move || -> anyhow::Result<T> {
        let ns = fs::File::open(&path).with_context(|| format!("open {path}"))?;
        // SAFETY: setns on this thread only, with a namespace file we hold open.
        let rc = unsafe { libc::setns(std::os::fd::AsRawFd::as_raw_fd(&ns), libc::CLONE_NEWNET) };
        if rc != 0 {
            bail!("setns {path}: {}", std::io::Error::last_os_error());
        }
        Ok(f())
    })
    .join()
    .map_err(|_| anyhow!("the lab thread panicked"))?
}

/// A command prefix that runs what follows inside the host whose PID 1 is
/// `pid1` (every namespace, its root), as root, with a clean environment.
pub fn enter(pid1: u32) -> Command {
    let mut cmd = Command::new("nsenter");
    cmd.args(["--target", &pid1.to_string(), "--all", "--root", "--wd"])
        .args(["env", "-i", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root"])
        .arg("LANG=C.UTF-8");
    cmd
}

/// What another process needs to reach a running lab: its network namespace
/// and each host's address and PID 1 (the `kafka-testbed` launcher's `hosts.json`).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct LabState {
    pub netns: String,
    pub hosts: Vec<HostState>,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct HostState {
    pub name: String,
    pub address: String,
    pub pid1: Option<u32>,
}

impl LabState {
    /// `program` run in the lab's network namespace (the hosts resolve by name there).
    pub fn command(&self, program: &str) -> Command {
        netns_command(&self.netns, program)
    }

    /// Runs `f` on a thread inside the lab's network namespace.
    pub fn in_lab<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> anyhow::Result<T> {
        in_netns(&self.netns, f)
    }

    /// A command prefix for `host` (see [`enter`]).
    pub fn enter(&self, host: &str) -> anyhow::Result<Command> {
        let h = self.hosts.iter().find(|h| h.name == host).ok_or_else(|| {
            let names: Vec<&str> = self.hosts.iter().map(|h| h.name.as_str()).collect();
            anyhow!("no host `{host}` in the lab (hosts: {})", names.join(", "))
        })?;
        Ok(enter(h.pid1.ok_or_else(|| anyhow!("host `{host}` is not running"))?))
    }

    /// Runs `script` with `sh -c` on `host`; its stdout, or an error with both outputs.
    pub fn sh(&self, host: &str, script: &str) -> anyhow::Result<String> {
        let out = self.enter(host)?.args(["sh", "-c", script]).stdin(Stdio::null()).output()?;
        if !out.status.success() {
            bail!("on `{host}`: `{script}` failed ({}): {}", out.status, String::from_utf8_lossy(&out.stderr).trim());
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

pub(crate) fn ip(args: &[&str]) -> anyhow::Result<()> {
    run_ok(Command::new("ip").args(args))
}

pub(crate) fn run_ok(cmd: &mut Command) -> anyhow::Result<()> {
    let out = cmd.stdin(Stdio::null()).output().with_context(|| format!("run {cmd:?}"))?;
    if !out.status.success() {
        bail!("{cmd:?} failed ({}): {}", out.status, String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(())
}

fn is_mounted(path: &Path) -> bool {
    let target = path.display().to_string();
    fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .any(|l| l.split_whitespace().nth(4) == Some(target.as_str()))
}

/// The PID (in our namespace) of the process below `nspawn` that is PID 1
/// of a PID namespace of its own: the container's systemd.
fn container_init(nspawn: u32) -> Option<u32> {
    let children = |pid: u32| -> Vec<u32> {
        fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
            .unwrap_or_default()
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect()
    };
    let is_init = |pid: u32| {
        fs::read_to_string(format!("/proc/{pid}/status")).ok().is_some_and(|status| {
            status.lines().find_map(|l| l.strip_prefix("NSpid:")).is_some_and(|ids| {
                let ids: Vec<&str> = ids.split_whitespace().collect();
                ids.len() >= 2 && ids.last() == Some(&"1")
            })
        })
    };
    let mut candidates = children(nspawn);
    candidates.extend(candidates.clone().into_iter().flat_map(children));
    candidates.into_iter().find(|p| is_init(*p))
}

/// Kills what is left in a cgroup of ours and removes it, deepest first.
fn remove_cgroup(name: &str) {
    let unified = format!("/sys/fs/cgroup/unified/{name}");
    if Path::new(&unified).exists() {
        let _ = fs::write(format!("{unified}/cgroup.kill"), "1");
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline && has_processes(Path::new(&unified)) {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    for hierarchy in ["unified", "systemd"] {
        remove_tree(Path::new(&format!("/sys/fs/cgroup/{hierarchy}/{name}")));
    }
}

fn has_processes(dir: &Path) -> bool {
    let here = fs::read_to_string(dir.join("cgroup.procs")).is_ok_and(|t| !t.trim().is_empty());
    here || fs::read_dir(dir).into_iter().flatten().flatten().any(|e| e.path().is_dir() && has_processes(&e.path()))
}

fn remove_tree(dir: &Path) {
    if let Ok(entries) = fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.path().is_dir() {
                remove_tree(&e.path());
            }
        }
    }
    let _ = fs::remove_dir(dir);
}

/// The pid in a name `ksh<PID>x<N>…`, if it has one.
fn owner(name: &str) -> Option<u32> {
    name.strip_prefix(PREFIX)?.split('x').next()?.parse().ok()
}

fn alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// Removes what labs of processes that no longer run left behind (a test
/// binary killed with SIGKILL cannot clean up after itself).
pub(crate) fn sweep_leftovers() {
    for dir in ["/sys/fs/cgroup/unified", "/sys/fs/cgroup/systemd"] {
        for e in fs::read_dir(dir).into_iter().flatten().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if owner(&name).is_some_and(|p| !alive(p)) {
                remove_cgroup(&name);
            }
        }
    }
    let tmp = std::env::temp_dir();
    for e in fs::read_dir(&tmp).into_iter().flatten().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.ends_with("-hosts") && owner(&name).is_some_and(|p| !alive(p)) {
            for host in fs::read_dir(e.path()).into_iter().flatten().flatten() {
                let merged = host.path().join("merged");
                if is_mounted(&merged) {
                    let _ = Command::new("umount").arg("-l").arg(&merged).status();
                }
            }
            let _ = fs::remove_dir_all(e.path());
        }
    }
    for e in fs::read_dir("/run/netns").into_iter().flatten().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if owner(&name).is_some_and(|p| !alive(p)) {
            let _ = ip(&["netns", "del", &name]);
        }
    }
    for e in fs::read_dir("/etc/netns").into_iter().flatten().flatten() {
        if owner(&e.file_name().to_string_lossy()).is_some_and(|p| !alive(p)) {
            let _ = fs::remove_dir_all(e.path());
        }
    }
}

/// What labs of this process left behind — namespaces, cgroups, overlays,
/// `systemd-nspawn` processes — for the test that checks teardown.
pub fn leftovers() -> Vec<String> {
    let mine = |name: &str| owner(name) == Some(std::process::id());
    let mut out = Vec::new();
    for e in fs::read_dir("/run/netns").into_iter().flatten().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if mine(&name) {
            out.push(format!("network namespace {name}"));
        }
    }
    for e in fs::read_dir("/etc/netns").into_iter().flatten().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if mine(&name) {
            out.push(format!("/etc/netns/{name}"));
        }
    }
    for dir in ["/sys/fs/cgroup/unified", "/sys/fs/cgroup/systemd"] {
        for e in fs::read_dir(dir).into_iter().flatten().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if mine(&name) {
                out.push(format!("cgroup {dir}/{name}"));
            }
        }
    }
    let prefix = std::env::temp_dir().join(format!("{PREFIX}{}x", std::process::id())).display().to_string();
    for line in fs::read_to_string("/proc/self/mountinfo").unwrap_or_default().lines() {
        if let Some(target) = line.split_whitespace().nth(4).filter(|t| t.starts_with(&prefix)) {
            out.push(format!("mount {target}"));
        }
    }
    for e in fs::read_dir("/proc").into_iter().flatten().flatten() {
        let cmdline = fs::read(e.path().join("cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if cmdline.starts_with("systemd-nspawn") && cmdline.contains(&prefix) {
            out.push(format!("process {}: {cmdline}", e.file_name().to_string_lossy()));
        }
    }
    out
}
