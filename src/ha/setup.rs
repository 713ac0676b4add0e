//! The `ha` section, checked by the component that runs the election.
//!
//! Owns: what the election needs to start — etcd endpoints that name a
//! scheme, or a ZooKeeper connect string of `host:port`s and a chroot; a
//! lease the backend can grant (whole seconds for etcd, at least 3), a key
//! prefix, an instance id other healers can tell apart, TLS files that
//! exist, the password's variable set.
//! Must never: connect to the backend (a backend down at start is not a
//! configuration error: the healer waits for it and says so).

use crate::config::HaBackend;
use crate::config::validate::Checker;

pub fn check(c: &mut Checker) {
    let ha = &c.config.ha.clone();
    if !ha.enabled {
        return;
    }
    match ha.backend {
        HaBackend::Etcd => check_etcd(c),
        HaBackend::Zookeeper => check_zookeeper(c),
    }
    let lease = ha.lease_seconds.0;
    let whole = ha.backend == HaBackend::Zookeeper || lease.fract() == 0.0;
    if !whole || lease < 3.0 {
        c.error(
            "ha.lease_seconds",
            match ha.backend {
                HaBackend::Etcd => format!(
                    "`ha.lease_seconds` must be whole seconds, at least 3 (etcd grants whole seconds), found {lease}"
                ),
                HaBackend::Zookeeper => format!("`ha.lease_seconds` must be at least 3, found {lease}"),
            },
            "10 (the default): a dead leader is replaced about 10 s after it stops",
        );
    }
    check_common(c);
}

/// The etcd members.
fn check_etcd(c: &mut Checker) {
    let ha = &c.config.ha.clone();
    if ha.connect.is_some() {
        c.error(
            "ha.connect",
            "`ha.connect` is the ZooKeeper backend's connect string, but `ha.backend` is etcd",
            "remove it, or set `backend: zookeeper`",
        );
    }
    if ha.endpoints.is_empty() {
        c.error(
            "ha.endpoints",
            "`ha.enabled` is true but `ha.endpoints` is empty",
            "list the etcd members: endpoints: [http://etcd1:2379, http://etcd2:2379, http://etcd3:2379]",
        );
    }
    for (i, e) in ha.endpoints.iter().enumerate() {
        let key = format!("ha.endpoints[{i}]");
        let lower = e.to_ascii_lowercase();
        if !(lower.starts_with("http://") || lower.starts_with("https://")) || e.len() <= "https://".len() {
            c.error(
                &key,
                format!("`{e}` is not an etcd endpoint URL"),
                "write http://HOST:2379 (or https:// with ha.tls)",
            );
        } else if lower.starts_with("https://") && ha.tls.ca_file.is_none() {
            c.error(
                &key,
                format!("`{e}` is https but `ha.tls.ca_file` is not set"),
                "give the CA that signed etcd's certificates",
            );
        }
    }
}

/// The ZooKeeper ensemble: `host:port,host:port[/chroot]`, plain text.
fn check_zookeeper(c: &mut Checker) {
    let ha = &c.config.ha.clone();
    if !ha.endpoints.is_empty() {
        c.error(
            "ha.endpoints",
            "`ha.endpoints` lists etcd members, but `ha.backend` is zookeeper",
            "give the ensemble as `connect: zk1:2181,zk2:2181,zk3:2181/kafka-self-healing` instead",
        );
    }
    let t = &ha.tls;
    if (t.cert_file.is_some() || t.key_file.is_some()) && t.ca_file.is_none() {
        c.error(
            "ha.tls",
            "a client certificate without `ha.tls.ca_file`: the ZooKeeper servers' certificates cannot be verified",
            "add `ca_file:` (PEM, the CA that signed the servers' certificates) and connect to their secureClientPort",
        );
    }
    let Some(connect) = &ha.connect else {
        c.error(
            "ha.connect",
            "`ha.backend` is zookeeper but `ha.connect` is not set",
            "give the ensemble: connect: zk1:2181,zk2:2181,zk3:2181/kafka-self-healing (a ZooKeeper-mode cluster's own ensemble will do, under a chroot of its own)",
        );
        return;
    };
    if let Some(why) = connect_error(connect) {
        c.error(
            "ha.connect",
            format!("`{connect}` is not a ZooKeeper connect string: {why}"),
            "write host:port,host:port,host:port, then an optional chroot such as /kafka-self-healing",
        );
    }
}

/// What is wrong with a ZooKeeper connect string, if anything.
fn connect_error(connect: &str) -> Option<String> {
    let (hosts, chroot) = match connect.find('/') {
        Some(i) => (&connect[..i], Some(&connect[i..])),
        None => (connect, None),
    };
    if hosts.is_empty() {
        return Some("it names no server".into());
    }
    for host in hosts.split(',') {
        let Some((name, port)) = host.rsplit_once(':') else {
            return Some(format!("`{host}` has no port"));
        };
        if name.is_empty() || name.chars().any(|ch| ch.is_whitespace()) {
            return Some(format!("`{host}` has no host name"));
        }
        if port.parse::<u16>().map_or(true, |p| p == 0) {
            return Some(format!("`{port}` is not a port"));
        }
    }
    if let Some(root) = chroot
        && (root.contains("//") || root.chars().any(|ch| ch.is_whitespace() || ch.is_control()))
    {
        return Some(format!("the chroot `{root}` is not a path"));
    }
    None
}

/// What both backends need.
fn check_common(c: &mut Checker) {
    let ha = &c.config.ha.clone();
    if let Some(path) = &ha.election_path
        && (!path.starts_with('/') || path.trim_end_matches('/').is_empty())
    {
        c.error(
            "ha.election_path",
            format!("`{path}` is not a key prefix"),
            "write an absolute path: /kafka-self-healing/prod",
        );
    }
    let instance = crate::ha::backend::instance_id(c.config);
    if instance.is_empty() || instance.chars().any(|ch| ch.is_whitespace() || ch.is_control() || ch == '/') {
        c.error(
            "ha.instance_id",
            format!("the instance id {instance:?} cannot name this healer among the others"),
            "set ha.instance_id to a short name without spaces or slashes (the host name is the default)",
        );
    }
    if ha.username.is_some() && c.cx.env(&ha.password_env).is_none() {
        c.error(
            "ha.password_env",
            format!("`ha.username` is set but the environment variable {} is not", ha.password_env),
            "export the backend user's password in that variable (the unit's EnvironmentFile)",
        );
    }
    let t = &ha.tls;
    if t.cert_file.is_some() != t.key_file.is_some() {
        c.error(
            "ha.tls",
            "`cert_file` and `key_file` go together",
            "give both (PEM client certificate and its key), or neither",
        );
    }
    for (key, file) in [("ca_file", &t.ca_file), ("cert_file", &t.cert_file), ("key_file", &t.key_file)] {
        if let Some(f) = file
            && std::fs::metadata(f).is_err()
        {
            c.error(
                &format!("ha.tls.{key}"),
                format!("cannot read {f}"),
                "give the path of a PEM file the daemon can read",
            );
        }
    }
}
