//! `http`: an HTTP endpoint answers with the expected status (and body).

use super::{Cause, Outcome, Prober, io_cause};
use crate::topology::Node;

/// At most this much of the body is read to look for `body_contains`.
const MAX_BODY: usize = 256 * 1024;

pub(super) async fn probe(p: &Prober, node: &Node) -> Outcome {
    let Some(template) = &p.http.url else {
        return Outcome::unknown(Cause::ProbeError, "`monitoring.http.url` is not set");
    };
    let url = node.fill(template, false);
    let response = match p.http_client.get(&url).timeout(p.timeout).send().await {
        Ok(r) => r,
        Err(e) => {
            let cause =
                if e.is_timeout() { Cause::Timeout } else { io_source(&e).map_or(Cause::NetworkError, io_cause) };
            return Outcome::failed(cause, format!("GET {url}: {}", error_chain(&e)));
        }
    };
    let status = response.status().as_u16();
    if status != p.http.expected_status {
        return Outcome::failed(
            Cause::CheckCritical,
            format!("GET {url}: HTTP {status}, expected {}", p.http.expected_status),
        );
    }
    if let Some(needle) = &p.http.body_contains {
        let body = match read_bounded(response).await {
            Ok(b) => b,
            Err(e) => {
                return Outcome::failed(
                    Cause::NetworkError,
                    format!("GET {url}: reading the body: {}", error_chain(&e)),
                );
            }
        };
        if !body.contains(needle.as_str()) {
            return Outcome::failed(
                Cause::CheckCritical,
                format!("GET {url}: HTTP {status} but the body lacks `{needle}`"),
            );
        }
    }
    Outcome::healthy(format!("GET {url}: HTTP {status}"))
}

async fn read_bounded(mut response: reqwest::Response) -> Result<String, reqwest::Error> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        body.extend_from_slice(&chunk);
        if body.len() >= MAX_BODY {
            break;
        }
    }
    Ok(String::from_utf8_lossy(&body).into_owned())
}

pub(super) fn io_source<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a std::io::Error> {
    let mut source = e.source();
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            return Some(io);
        }
        source = s.source();
    }
    None
}

/// The error and its causes on one line (reqwest's own message is terse).
pub(super) fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}
