//! A TCP path that can be cut: a relay on 127.0.0.1 in front of one
//! service, for the tests that give one healer a broken network to one
//! node or to the backend while the others keep theirs.
//!
//! Cut, it behaves like a partition, not a refusal: connections stay open
//! and carry nothing either way, new ones are accepted and left silent — so
//! the healer sees time-outs, as behind a dead switch.
//!
//! Owns: its listener and the copying threads.
//! Must never: listen on anything but 127.0.0.1, or outlive its owner
//! (dropping it stops the threads at their next poll).

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// How often a copying thread looks at the switch.
const POLL: Duration = Duration::from_millis(50);

pub struct Cuttable {
    pub port: u16,
    cut: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
}

impl Cuttable {
    /// A relay to `127.0.0.1:target`.
    pub fn start(target: u16) -> std::io::Result<Cuttable> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        listener.set_nonblocking(true)?;
        let (cut, stop) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicBool::new(false)));
        let (c, s) = (cut.clone(), stop.clone());
        std::thread::spawn(move || {
            while !s.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((inbound, _)) => {
                        let _ = inbound.set_nonblocking(false);
                        let Ok(outbound) = TcpStream::connect(("127.0.0.1", target)) else {
                            let _ = inbound.shutdown(Shutdown::Both);
                            continue;
                        };
                        for (from, to) in [(&inbound, &outbound), (&outbound, &inbound)] {
                            let (from, to) = (from.try_clone().unwrap(), to.try_clone().unwrap());
                            let (c, s) = (c.clone(), s.clone());
                            std::thread::spawn(move || copy(from, to, &c, &s));
                        }
                    }
                    Err(_) => std::thread::sleep(POLL),
                }
            }
        });
        Ok(Cuttable { port, cut, stop })
    }

    /// Nothing passes any more, either way.
    pub fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
    }

    /// Bytes flow again (what was sent meanwhile is gone).
    pub fn restore(&self) {
        self.cut.store(false, Ordering::SeqCst);
    }
}

impl Drop for Cuttable {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn copy(mut from: TcpStream, mut to: TcpStream, cut: &AtomicBool, stop: &AtomicBool) {
    let _ = from.set_read_timeout(Some(POLL));
    let mut buf = [0u8; 16 * 1024];
    while !stop.load(Ordering::SeqCst) {
        match from.read(&mut buf) {
            Ok(0) => break,
            // While cut, what arrives is dropped, like on a dead link.
            Ok(n) if !cut.load(Ordering::SeqCst) => {
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
            Ok(_) => {}
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
            Err(_) => break,
        }
    }
    let _ = to.shutdown(Shutdown::Both);
    let _ = from.shutdown(Shutdown::Both);
}
