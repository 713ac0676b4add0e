//! The `jmx` probe: broker MBeans (BrokerState, under-replicated and offline
//! partitions, active controller, request handler idle ratio, and
//! `metrics_to_check`) through JMX/RMI, a Jolokia agent, or a Prometheus JMX
//! exporter (`monitoring.jmx.transport`).
//!
//! Owns: choosing the transport, the JMX credentials, and turning transport
//! failures into causes.
//! Must never: call an MBean operation or write an attribute; count our own
//! trouble (no bridge, refused credentials, a wrong URL) as the node's.

mod bridge;
mod checks;
mod http;

use std::sync::Arc;
use std::time::Duration;

pub use bridge::{Bridge, find_jar};
pub use checks::{Check, parse_check};

use super::{Outcome, Prober};
use crate::config::{JmxConfig, JmxTransport};
use crate::topology::Node;

/// The `jmx` settings a `Prober` keeps: parsed once.
#[derive(Debug, Clone)]
pub struct JmxSettings {
    pub transport: JmxTransport,
    pub url: Option<String>,
    pub credentials: Option<(String, crate::config::Secret)>,
    pub checks: Vec<Check>,
    pub connect_timeout: Duration,
    pub read_timeout: Duration,
    pub bridge: Arc<Bridge>,
}

impl JmxSettings {
    pub fn from_config(jmx: &JmxConfig) -> Self {
        let credentials = match (jmx.authentication, &jmx.username) {
            (true, Some(user)) => {
                Some((user.clone(), jmx.password.clone().unwrap_or_else(|| crate::config::Secret::new(""))))
            }
            _ => None,
        };
        JmxSettings {
            transport: jmx.transport,
            url: jmx.url.clone(),
            credentials,
            // `validate` rejected unreadable entries; none is left out silently here.
            checks: jmx.metrics_to_check.iter().filter_map(|c| parse_check(c).ok()).collect(),
            connect_timeout: jmx.connection_timeout.duration(),
            read_timeout: jmx.read_timeout.duration(),
            bridge: Arc::new(Bridge::new(&jmx.java, find_jar(jmx.bridge_jar.as_deref()))),
        }
    }
}

pub(super) async fn probe(p: &Prober, node: &Node) -> Outcome {
    let j = &p.jmx;
    let mut metrics = checks::builtin_metrics();
    metrics.extend(j.checks.iter().map(|c| c.metric.clone()));
    let credentials = j.credentials.as_ref().map(|(u, pw)| (u.as_str(), pw.expose()));
    let limit = j.connect_timeout + j.read_timeout;
    let readings = match j.transport {
        JmxTransport::Rmi => {
            let Some(port) = node.jmx_port else {
                return Outcome::unknown(super::Cause::ProbeError, "JMX/RMI needs the node's `jmx_port`");
            };
            j.bridge.read(&node.host, port, credentials, &metrics, limit).await.map_err(|e| {
                if e.about_node { Outcome::failed(e.cause, e.detail) } else { Outcome::unknown(e.cause, e.detail) }
            })
        }
        transport @ (JmxTransport::Jolokia | JmxTransport::Prometheus) => {
            let default = if transport == JmxTransport::Jolokia {
                "http://{host}:{jmx_port}/jolokia/"
            } else {
                "http://{host}:{jmx_port}/metrics"
            };
            let template = j.url.as_deref().unwrap_or(default);
            if template.contains("{jmx_port}") && node.jmx_port.is_none() {
                return Outcome::unknown(super::Cause::ProbeError, format!("`{template}` needs the node's `jmx_port`"));
            }
            let url = node.fill(template, false);
            let result = if transport == JmxTransport::Jolokia {
                http::jolokia(&p.http_client, &url, credentials, &metrics, limit).await
            } else {
                http::prometheus(&p.http_client, &url, credentials, &metrics, limit).await
            };
            result.map_err(|e| {
                if e.failed { Outcome::failed(e.cause, e.detail) } else { Outcome::unknown(e.cause, e.detail) }
            })
        }
    };
    match readings {
        Ok(readings) => checks::evaluate(node.role, &readings, &j.checks),
        Err(outcome) => outcome,
    }
}
