//! A bad link between a host and the lab's bridge: delay and loss, in user space.
//!
//! `tc netem` needs the kernel's `sch_netem`, which this machine's kernel does
//! not have (`CONFIG_NET_SCH_NETEM` unset: "Specified qdisc kind is unknown").
//! So the lab puts a relay in the host's path instead: the host's end of the
//! link is moved off the shared bridge onto a bridge of its own with one TAP
//! device, a second TAP device joins the shared bridge, and two threads copy
//! Ethernet frames between the TAPs — each frame held for `delay` and dropped
//! with probability `loss`, in each direction, in order.
//!
//! Owns: the two TAP devices (they vanish when the relay drops their file
//! descriptors) and the relay's threads.
//! Must never: reorder frames, or outlive the lab (dropping a relay stops it).

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// What the link does to every frame, in each direction.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Impairment {
    pub delay: Duration,
    /// Share of frames dropped, 0.0–1.0.
    pub loss: f64,
}

/// Two TAP devices and the threads that copy frames between them.
pub struct Relay {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

/// `TUNSETIFF` (`_IOW('T', 202, int)`).
const TUNSETIFF: libc::c_ulong = 0x4004_54ca;

#[repr(C)]
struct IfReq {
    name: [u8; libc::IFNAMSIZ],
    flags: libc::c_short,
    _pad: [u8; 22],
}

/// A TAP device named `name` in the network namespace of the calling thread.
pub fn open_tap(name: &str) -> anyhow::Result<File> {
    if name.len() >= libc::IFNAMSIZ {
        bail!("interface name `{name}` is too long");
    }
    let file = OpenOptions::new().read(true).write(true).open("/dev/net/tun").context("open /dev/net/tun")?;
    let mut req =
        IfReq { name: [0; libc::IFNAMSIZ], flags: (libc::IFF_TAP | libc::IFF_NO_PI) as libc::c_short, _pad: [0; 22] };
    req.name[..name.len()].copy_from_slice(name.as_bytes());
    // SAFETY: TUNSETIFF reads and writes an ifreq we own, on a descriptor we hold.
    if unsafe { libc::ioctl(file.as_raw_fd(), TUNSETIFF as _, &mut req) } != 0 {
        bail!("TUNSETIFF {name}: {}", std::io::Error::last_os_error());
    }
    Ok(file)
}

impl Relay {
    /// Copies frames between `a` and `b` (both TAP devices) with `impairment`.
    pub fn start(a: File, b: File, impairment: Impairment) -> anyhow::Result<Relay> {
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        for (from, to) in [(a.try_clone()?, b.try_clone()?), (b, a)] {
            let (tx, rx) = mpsc::channel::<(Instant, Vec<u8>)>();
            let s = stop.clone();
            threads.push(std::thread::spawn(move || read_frames(from, tx, impairment, s)));
            let s = stop.clone();
            threads.push(std::thread::spawn(move || write_frames(to, rx, s)));
        }
        Ok(Relay { stop, threads })
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// Frames from `tap`, each kept (with the time it may leave) or dropped.
fn read_frames(mut tap: File, out: mpsc::Sender<(Instant, Vec<u8>)>, link: Impairment, stop: Arc<AtomicBool>) {
    let mut buf = vec![0u8; 65_536];
    while !stop.load(Ordering::SeqCst) {
        let mut pfd = libc::pollfd { fd: tap.as_raw_fd(), events: libc::POLLIN, revents: 0 };
        // SAFETY: one pollfd we own.
        if unsafe { libc::poll(&mut pfd, 1, 200) } <= 0 {
            continue;
        }
        let Ok(n) = tap.read(&mut buf) else { continue };
        if n == 0 || rand::random::<f64>() < link.loss {
            continue;
        }
        if out.send((Instant::now() + link.delay, buf[..n].to_vec())).is_err() {
            return;
        }
    }
}

/// Writes each frame to `tap` once its time has come, in arrival order.
fn write_frames(mut tap: File, frames: mpsc::Receiver<(Instant, Vec<u8>)>, stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::SeqCst) {
        let Ok((due, frame)) = frames.recv_timeout(Duration::from_millis(200)) else { continue };
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        // A frame the other side cannot take is lost, as on a wire.
        let _ = tap.write(&frame);
    }
}
