//! This machine: its host name, and whether a configured host is this machine.
//!
//! Owns: the one place that asks the kernel for the host name.
//! Must never: resolve names over the network (a node's host is this machine
//! when it is a loopback address, `localhost`, or this host's own name).

/// This machine's host name (`gethostname`), empty when it cannot be read.
pub fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most `buf.len()` bytes into `buf`.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return String::new();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// Whether `host` names this machine, given its host name `me`. Pure.
pub fn is_this_host_named(host: &str, me: &str) -> bool {
    if host == "localhost" || host == "::1" || host.starts_with("127.") {
        return true;
    }
    !me.is_empty() && (host == me || host.split('.').next() == Some(me))
}

/// Whether `host` is this machine (then commands run here, not over SSH).
pub fn is_this_host(host: &str) -> bool {
    is_this_host_named(host, &hostname())
}

/// Whether `host` is this machine *by its name* (`kafka-1`, `kafka-1.example.com`):
/// such a node's failure says nothing about this machine's network. A loopback
/// address does not count here: the daemon may run in a network namespace of
/// its own, where 127.0.0.1 is not the broker's host.
pub fn is_named_this_host(host: &str) -> bool {
    let me = hostname();
    !me.is_empty() && (host == me || host.split('.').next() == Some(me.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_localhost_and_our_own_name_are_this_host() {
        for host in ["127.0.0.1", "127.0.1.1", "localhost", "::1", "kafka-1", "kafka-1.example.com"] {
            assert!(is_this_host_named(host, "kafka-1"), "{host}");
        }
        for host in ["kafka-2", "10.0.0.1", "kafka-10"] {
            assert!(!is_this_host_named(host, "kafka-1"), "{host}");
        }
        assert!(!is_this_host_named("kafka-1", ""));
    }
}
