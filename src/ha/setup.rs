//! The `ha` section, checked by the component that runs the election.
//!
//! Owns: what the election needs to start — endpoints that name a scheme,
//! a lease etcd can grant (whole seconds, at least 3), a key prefix, an
//! instance id other healers can tell apart, TLS files that exist, the
//! password's variable set.
//! Must never: connect to the backend (a backend down at start is not a
//! configuration error: the healer waits for it and says so).

use crate::config::validate::Checker;

pub fn check(c: &mut Checker) {
    let ha = &c.config.ha.clone();
    if !ha.enabled {
        return;
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
    let lease = ha.lease_seconds.0;
    if lease.fract() != 0.0 || lease < 3.0 {
        c.error(
            "ha.lease_seconds",
            format!("`ha.lease_seconds` must be whole seconds, at least 3 (etcd grants whole seconds), found {lease}"),
            "10 (the default): a dead leader is replaced about 10 s after it stops",
        );
    }
    if let Some(path) = &ha.election_path
        && (!path.starts_with('/') || path.trim_end_matches('/').is_empty())
    {
        c.error(
            "ha.election_path",
            format!("`{path}` is not a key prefix"),
            "write an absolute path: /kafka-self-healing/prod",
        );
    }
    let instance = crate::ha::etcd::instance_id(c.config);
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
            "export the etcd user's password in that variable (the unit's EnvironmentFile)",
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
