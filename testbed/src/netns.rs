//! A network namespace of its own for one process of the bed (a healer),
//! whose paths the tests cut in the kernel.
//!
//! The namespace has only its loopback. The services it may reach — brokers,
//! etcd, ZooKeeper, receivers, all on the machine's 127.0.0.1 — are forwarded
//! into it port by port (a listener on the namespace's 127.0.0.1 with the same
//! port number, so advertised addresses stay true), and its own HTTP port is
//! forwarded out. No address outside 127.0.0.0/8 exists anywhere, and no veth
//! joins the machine's namespace.
//!
//! A cut is `iptables -j DROP` inside the namespace on one forwarded port,
//! both ways: the process's packets are dropped by the kernel, so a new
//! connection hangs in SYN-SENT and an open one retransmits into the void —
//! a dead switch, not a refusal. Every other path of the process, and every
//! other process's path to the same service, stays whole.
//!
//! Owns: the namespace (deleted on drop, with its rules), the forwarders'
//! listeners and copying threads.
//! Must never: listen outside 127.0.0.1, touch the machine's own packet
//! filter, or outlive its owner (what a killed run left is swept by the next
//! lab or namespace).

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use anyhow::Context;

use super::hosts::{in_netns, ip, netns_command, run_ok, sweep_leftovers};

/// How often an idle forwarder looks whether it should stop.
const POLL: Duration = Duration::from_millis(50);

static NAMESPACES: AtomicU32 = AtomicU32::new(0);

pub struct Netns {
    name: String,
    stop: Arc<AtomicBool>,
}

impl Netns {
    /// A new namespace with its loopback up and nothing forwarded yet.
    pub fn create() -> anyhow::Result<Netns> {
        sweep_leftovers();
        let n = NAMESPACES.fetch_add(1, Ordering::SeqCst);
        let name = format!("ksh{}xn{n}", std::process::id());
        ip(&["netns", "add", &name])?;
        let ns = Netns { name, stop: Arc::new(AtomicBool::new(false)) };
        ip(&["-n", &ns.name, "link", "set", "lo", "up"])?;
        Ok(ns)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// `program` run inside the namespace.
    pub fn command(&self, program: &str) -> Command {
        command_in(&self.name, program)
    }

    /// Inside the namespace, `127.0.0.1:port` leads to the machine's `127.0.0.1:port`.
    pub fn reach(&self, port: u16) -> anyhow::Result<()> {
        let listener = in_netns(&self.name, move || TcpListener::bind(("127.0.0.1", port)))?
            .with_context(|| format!("listen on 127.0.0.1:{port} in {}", self.name))?;
        forward(listener, self.stop.clone(), move || TcpStream::connect(("127.0.0.1", port)))
    }

    /// The machine's `127.0.0.1:port` leads to `127.0.0.1:port` inside the namespace.
    pub fn expose(&self, port: u16) -> anyhow::Result<()> {
        let listener = TcpListener::bind(("127.0.0.1", port)).with_context(|| format!("listen on 127.0.0.1:{port}"))?;
        let name = self.name.clone();
        forward(listener, self.stop.clone(), move || {
            in_netns(&name, move || TcpStream::connect(("127.0.0.1", port))).map_err(std::io::Error::other)?
        })
    }

    /// Drops every packet to and from the forwarded `port` inside the
    /// namespace (`on`), or lets them pass again. What was sent meanwhile is
    /// lost; TCP retransmits it once the path is back.
    pub fn cut(&self, port: u16, on: bool) -> anyhow::Result<()> {
        let port = port.to_string();
        for way in ["--dport", "--sport"] {
            let rule = ["OUTPUT", "-p", "tcp", way, &port, "-j", "DROP"];
            let mut cmd = self.command("iptables");
            cmd.args(["-w", if on { "-I" } else { "-D" }]).args(rule);
            run_ok(&mut cmd).context("iptables in the namespace (testing/setup.sh installs it)")?;
        }
        Ok(())
    }
}

/// `program` run inside the namespace called `name` (a [`Netns::name`]),
/// for a caller that keeps the name rather than the namespace.
pub fn command_in(name: &str, program: &str) -> Command {
    netns_command(name, program)
}

impl Drop for Netns {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = ip(&["netns", "del", &self.name]);
    }
}

/// Accepts on `listener` until `stop`; each connection is joined to a new
/// one from `connect`, bytes copied both ways until either side closes.
fn forward(
    listener: TcpListener,
    stop: Arc<AtomicBool>,
    connect: impl Fn() -> std::io::Result<TcpStream> + Send + 'static,
) -> anyhow::Result<()> {
    listener.set_nonblocking(true)?;
    std::thread::spawn(move || {
        while !stop.load(Ordering::SeqCst) {
            let Ok((inbound, _)) = listener.accept() else {
                std::thread::sleep(POLL);
                continue;
            };
            let _ = inbound.set_nonblocking(false);
            let Ok(outbound) = connect() else {
                let _ = inbound.shutdown(Shutdown::Both);
                continue;
            };
            for (from, to) in [(&inbound, &outbound), (&outbound, &inbound)] {
                let (Ok(from), Ok(to)) = (from.try_clone(), to.try_clone()) else { continue };
                std::thread::spawn(move || copy(from, to));
            }
        }
    });
    Ok(())
}

fn copy(mut from: TcpStream, mut to: TcpStream) {
    let mut buf = [0u8; 16 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown(Shutdown::Both);
    let _ = from.shutdown(Shutdown::Both);
}
